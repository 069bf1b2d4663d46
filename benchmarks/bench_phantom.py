"""Speed of the phantom: seconds per 256x256 image, against a baseline measured in the same run.

The baseline is the same simulation with the speckle made the straightforward way: the scatterer
field convolved with the 2-D point-spread function directly (``scipy.ndimage.convolve`` with the
outer-product kernel) instead of two separable 1-D passes. Both give the same image (checked
below). The PSF is only ~9x9 samples, so the whole-image ratio is modest; the step alone is
also timed. Run: ``python benchmarks/bench_phantom.py [n_images]``.

In the suite (``python -m benchmarks --only phantom``), :func:`benchmark` gives the figures:
CPU seconds per image (claim, full mode only: <= 0.3 s, the project's bar), the baseline's and the
ratio (claim: the separable PSF is not slower, >= 1x; quick >= 0.7x), the largest difference
between the two B-mode images (claim: <= 1e-4, float32 sums in another order).
"""

import sys
import time

import numpy as np
from scipy import ndimage

from confmap import phantom
from confmap.phantom import _bmode  # the simulation step whose convolution is swapped


def _gauss(sigma, truncate=3.0):
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def direct_psf_convolve(fld, s_ax, s_lat):
    """Baseline: one non-separable 2-D direct convolution per real/imaginary field."""
    kern = np.outer(_gauss(s_ax), _gauss(s_lat)).astype(fld.dtype)
    return np.stack([ndimage.convolve(f, kern, mode="constant") for f in fld])


def per_image(n, size, *, clock=time.perf_counter, **kw):
    t = clock()
    ds = phantom.make_dataset(n, seed=0, size=size, progress=False, **kw)
    return (clock() - t) / n, ds


def benchmark(*, quick: bool) -> list[dict]:
    """The suite's figures (see the module docstring)."""
    from benchmarks.report import claim, figure

    n = 3 if quick else 10
    size = (256, 256)
    phantom.make_dataset(1, seed=0, size=size, progress=False)  # warm up imports and caches
    fast, ds_fast = per_image(n, size, clock=time.process_time)  # CPU time: robust to busy neighbours
    separable = _bmode._psf_convolve
    _bmode._psf_convolve = direct_psf_convolve
    try:
        slow, ds_slow = per_image(n, size, clock=time.process_time)
    finally:
        _bmode._psf_convolve = separable
    err = float(np.abs(ds_fast.bmode.values - ds_slow.bmode.values).max())
    return [
        figure(
            "phantom.seconds_per_image",
            fast,
            "s",
            label=f"phantom 256x256 (curvilinear, 4 raters, annotator + confidence map), {n} images",
            baseline=slow,
            ratio=slow / fast,
            claim=claim(">=", 1.0, quick=0.7, text="separable PSF not slower than the direct 2-D PSF"),
        ),
        figure(
            "phantom.bar",
            fast,
            "s",
            label="seconds per 256x256 phantom image against the bar of 0.3 s",
            claim=claim("<=", 0.3, quick=None, text="<= 0.3 s per 256x256 image (full mode only)"),
        ),
        figure(
            "phantom.bmode_max_abs_diff",
            err,
            "",
            label="max |B-mode (separable PSF) - B-mode (direct 2-D PSF)|",
            claim=claim("<=", 1e-4, text="both PSFs give the same image"),
        ),
    ]


def main(n=10):
    size = (256, 256)
    phantom.make_dataset(1, seed=0, size=size, progress=False)  # warm up imports and caches
    fast, ds_fast = per_image(n, size)
    separable = _bmode._psf_convolve
    _bmode._psf_convolve = direct_psf_convolve
    try:
        slow, ds_slow = per_image(n, size)
    finally:
        _bmode._psf_convolve = separable
    err = float(np.abs(ds_fast.bmode.values - ds_slow.bmode.values).max())
    # The convolution step alone, on a beam-grid field of the size simulate_bmode uses.
    rng = np.random.default_rng(0)
    fld = rng.standard_normal((2, 430, 220)).astype(np.float32)
    s_ax, s_lat = 1.27, 1.27  # PSF sigma in samples: FWHM sampled at FWHM / 3
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        a = separable(fld, s_ax, s_lat)
    t_sep = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        b = direct_psf_convolve(fld, s_ax, s_lat)
    t_dir = (time.perf_counter() - t) / reps
    step_err = float(np.abs(a - b).max())
    # 30 images, the size the notebooks use
    t = time.perf_counter()
    phantom.make_dataset(30, seed=1, size=size, progress=False)
    t30 = time.perf_counter() - t
    print(f"phantom 256x256, {n} images (curvilinear, 4 raters, annotator + confidence map)")
    print(f"  separable PSF (confmap)      : {fast:.3f} s/image   (target <= 0.3 s)")
    print(f"  direct 2-D PSF (baseline)    : {slow:.3f} s/image")
    print(f"  ratio baseline / confmap     : {slow / fast:.1f}x   (max |bmode difference| {err:.1e})")
    print(
        f"  PSF step alone: separable {t_sep * 1e3:.2f} ms, direct 2-D {t_dir * 1e3:.2f} ms, "
        f"ratio {t_dir / t_sep:.1f}x (max difference {step_err:.1e})"
    )
    print(f"  make_dataset(30, 256x256)    : {t30:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
