"""Parameter sweep against a loop of direct calls, same run.

``confmap.sweep.sweep`` over lam x beta_M x bandwidth (3 x 3 x 4 = 36 settings, the grid of
docs/make_sweep_figure.py) on one diffuse 256x256 phantom image against a loop of direct
``confidence_map`` + ``metrics.brier`` (whole image, foreground) + ``metrics.soft_dice`` calls.
Figures: both CPU times (claim: the sweep is faster, ratio >= 1.2; quick mode >= 0.8), the largest
difference between the sweep's Brier scores and the loop's (claim: <= 1e-12), and the best
setting's Brier next to the paper's setting on this tuning image.

    python -m benchmarks --only sweep
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np

GRID = {"lam": [60, 100, 160], "beta_m": [0.3, 0.5, 0.7], "bandwidth": [0.05, 0.1, 0.2, 0.4]}


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.report import claim, figure
    from confmap import RippleWarning, confidence_map, metrics
    from confmap.phantom import annotations_from_dataset, make_dataset
    from confmap.sweep import best, sweep

    ds = make_dataset(1, seed=0, kinds=("diffuse",), progress=False)
    ann, agreement = annotations_from_dataset(ds)[0], ds.agreement.values[0]
    repeats = 1 if quick else 3
    t_sweep, t_loop = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)
        for _ in range(repeats):  # interleaved, best of `repeats`
            t0 = time.process_time()
            res = sweep(ann, agreement=agreement, progress=False, **GRID)
            t_sweep.append(time.process_time() - t0)
            t0 = time.process_time()
            loop = {}
            for lam, bm, bw in itertools.product(*GRID.values()):
                cm = confidence_map(ann, lam=lam, betas=(1.0, bm, 0.1), bandwidth=bw).values
                loop[lam, bm, bw] = metrics.brier(cm, agreement)
                metrics.brier(cm, agreement, region="foreground")
                metrics.soft_dice(cm, agreement)
            t_loop.append(time.process_time() - t0)
    diff = max(abs(float(res.brier.sel(lam=k[0], beta_m=k[1], bandwidth=k[2])) - v) for k, v in loop.items())
    n = int(np.prod([len(v) for v in GRID.values()]))
    b = best(res, "brier")
    paper = float(res.brier.sel(lam=100, beta_m=0.5, bandwidth=0.1))
    ts, tl = min(t_sweep), min(t_loop)
    return [
        figure(
            "sweep.seconds",
            ts,
            "s",
            label=f"sweep of {n} settings on a 256x256 diffuse phantom vs a loop of direct calls",
            baseline=tl,
            ratio=tl / ts,
            claim=claim(">=", 1.2, quick=0.8, text="the sweep is faster than a loop of direct calls"),
            n_settings=n,
        ),
        figure(
            "sweep.max_abs_diff",
            diff,
            "",
            label="max |Brier from the sweep - Brier from a direct call| over the settings",
            claim=claim("<=", 1e-12, text="the sweep gives the direct calls' values"),
        ),
        figure(
            "sweep.best_brier",
            b["brier"],
            "",
            label="best Brier on the tuning image",
            baseline=paper,
            setting={k: (v if isinstance(v, str) else float(v)) for k, v in b.items() if k != "brier"},
        ),
    ]
