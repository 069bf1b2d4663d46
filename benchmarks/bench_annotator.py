"""Kernel-side speed of a click in the Annotator: ``add_point`` -> map recomputed -> new frame drawn.

Headless (Agg): the time from the ``add_point`` call until the overlay is updated and the canvas
redrawn, the part of a click's latency that the kernel owns (the browser test measures the rest).
The before-path (every image pixel drawn, ``display_max=None``) is measured in the same run as the
default display grid (``display_max=800``), so the ratio is free of the machine's load of the day.

    python benchmarks/bench_annotator.py            # 256x256, 768x1024, 1500x2000
    python benchmarks/bench_annotator.py --quick    # fewer repeats

Prints, per image size: the map alone (``confidence_map``), ``add_point`` with every pixel drawn,
``add_point`` on the display grid, and their ratio (medians, ms), and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from confmap import ConfmapWarning, confidence_map  # noqa: E402
from confmap.widgets import Annotator  # noqa: E402

SIZES = ((256, 256), (768, 1024), (1500, 2000))


def rings(shape, *, seed=0):
    """High, medium and low rings around a tumour of ~1/4 the image, (x, y) pixels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    c = np.array([0.5 * w, 0.47 * h])
    out = {}
    for tier, f, n in (("high", 0.10, 10), ("medium", 0.16, 12), ("low", 0.22, 8)):
        t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.3, n)
        r = f * min(h, w) * (1 + 0.08 * rng.standard_normal(n))
        out[tier] = np.column_stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)])
    return out


def time_add_point(image, pts, *, display_max, repeats):
    """Median seconds of add_point (map + blend + Agg redraw), one medium point added and undone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        a = Annotator(image, display_max=display_max, figsize=(6, 6))
        for tier in ("high", "medium", "low"):
            for x, y in pts[tier]:
                a.add_point(x, y, tier=tier)
        h, w = image.shape
        extra = rings(image.shape, seed=1)["medium"]
        times = []
        for k in range(repeats + 1):
            x, y = extra[k % len(extra)]
            t0 = time.perf_counter()
            a.add_point(x, y, tier="medium")
            dt = time.perf_counter() - t0
            if k:  # the first is a warm-up
                times.append(dt)
            a.undo()
        ann = a.annotation
        a.close()
    return statistics.median(times), ann


def time_map(ann, repeats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        confidence_map(ann)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            confidence_map(ann)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 11
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs; medians of {repeats}")
    print(f"{'image':>11} {'map ms':>8} {'add_point, all px':>18} {'display grid':>13} {'ratio':>6}")
    for shape in SIZES:
        image = np.random.default_rng(0).random(shape).astype(np.float32)
        pts = rings(shape)
        full, ann = time_add_point(image, pts, display_max=None, repeats=repeats)
        grid, _ = time_add_point(image, pts, display_max=800, repeats=repeats)
        m = time_map(ann, repeats)
        label = f"{shape[0]}x{shape[1]}"
        print(f"{label:>11} {1e3 * m:8.1f} {1e3 * full:18.1f} {1e3 * grid:13.1f} {full / grid:6.2f}")


if __name__ == "__main__":
    main()
