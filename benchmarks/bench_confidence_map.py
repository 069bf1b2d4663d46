"""Speed of confmap.confidence_map against the straightforward scipy computation, same run.

The baseline is what the paper's construction does literally: ``scipy.stats.gaussian_kde`` over
all (lam + 1)**2 weighted grid points, evaluated at every pixel. Its cost is linear in the number of
pixels, so it is timed on a random subset of pixels and scaled (``--baseline-pixels``).

    python benchmarks/bench_confidence_map.py            # 512x512, lam = 100 (the issue's bar)
    python benchmarks/bench_confidence_map.py --quick    # fewer repeats

Prints the median time of confidence_map, the scaled scipy time, and their ratio, then how the
cost scales with image size and lam (it follows the annotated area, not pixels x grid points).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
from scipy.stats import gaussian_kde

import confmap
from confmap import Annotation, RippleWarning, confidence_map, grid_weights, mesh_grid


def ring(rng, centre, r, n, *, aspect=1.0, angle=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.3, n)
    rr = r * (1 + 0.1 * rng.standard_normal(n))
    x, y = rr * np.cos(t), aspect * rr * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.column_stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y])


def tumour(size, *, seed=0, aspect=1.0, angle=0.0):
    """A typical annotation: high, medium and low rings around a tumour of ~1/4 the image."""
    rng = np.random.default_rng(seed)
    h = w = size
    c = (0.5 * w, 0.47 * h)
    tiers = {
        t: np.clip(ring(rng, c, f * size, n, aspect=aspect, angle=angle), 0, size - 1)
        for t, f, n in (("high", 0.12, 12), ("medium", 0.18, 14), ("low", 0.24, 8))
    }
    return Annotation((h, w), **tiers)


def median_time(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def scipy_baseline(ann, *, lam, n_pixels, rng):
    """Seconds for the straightforward scipy map at every pixel, timed on a subset and scaled."""
    h, w = ann.shape
    gx, gy = mesh_grid(ann.shape, lam=lam)
    weights = grid_weights(ann, lam=lam)
    gxx, gyy = np.meshgrid(gx, gy)
    kde = gaussian_kde(np.vstack([gxx.ravel(), gyy.ravel()]), weights=weights.ravel(), bw_method=0.1)
    idx = rng.choice(h * w, size=min(n_pixels, h * w), replace=False)
    pts = np.vstack([idx % w, idx // w]).astype(float)
    t0 = time.perf_counter()
    kde(pts)
    return (time.perf_counter() - t0) * (h * w) / pts.shape[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--lam", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--baseline-pixels", type=int, default=8192)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and baseline pixels")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.baseline_pixels = 11, 2048
    warnings.simplefilter("ignore", RippleWarning)
    rng = np.random.default_rng(0)
    print(f"confmap {confmap.__version__}: confidence_map vs scipy.stats.gaussian_kde, same run")
    print(f"image {args.size}x{args.size}, lam = {args.lam} ({(args.lam + 1) ** 2} grid points)\n")
    header = f"{'annotation':<28}{'rho':>7}{'confmap (ms)':>14}{'scipy (s)':>11}{'ratio':>10}"
    print(header)
    print("-" * len(header))
    cases = [
        ("round tumour", tumour(args.size)),
        ("elongated, 30 deg", tumour(args.size, seed=1, aspect=0.45, angle=math.radians(30))),
        ("elongated, 45 deg (|rho| high)", tumour(args.size, seed=2, aspect=0.2, angle=math.radians(45))),
    ]
    for name, ann in cases:
        cm = confidence_map(ann, lam=args.lam)
        s_xx, s_xy, s_yy = cm.attrs["kernel_cov"]
        rho = s_xy / math.sqrt(s_xx * s_yy)
        t_fast = median_time(lambda a=ann: confidence_map(a, lam=args.lam), args.repeats)
        t_ref = scipy_baseline(ann, lam=args.lam, n_pixels=args.baseline_pixels, rng=rng)
        print(f"{name:<28}{rho:>7.2f}{1e3 * t_fast:>14.2f}{t_ref:>11.1f}{t_ref / t_fast:>9.0f}x")

    print("\nscaling (round tumour of the same relative size; median ms):")
    print(f"{'size':>6}" + "".join(f"{'lam=' + str(lam):>10}" for lam in (50, 100, 200)))
    for size in (256, 512, 1024):
        ann = tumour(size)
        row = [
            median_time(lambda a=ann, lam=lam: confidence_map(a, lam=lam), max(5, args.repeats // 4))
            for lam in (50, 100, 200)
        ]
        print(f"{size:>6}" + "".join(f"{1e3 * t:>10.2f}" for t in row))


if __name__ == "__main__":
    main()
