"""Make docs/images/sweep_landscape.png: a lambda x beta_M x sigma sweep on a diffuse phantom.

Run from the repository root: ``python docs/make_sweep_figure.py``. Prints the best setting, the
paper's setting for comparison, and the speed of the sweep against a loop of direct
``confidence_map`` + metrics calls measured in the same run.
"""

import itertools
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from confmap import RippleWarning, confidence_map, metrics  # noqa: E402
from confmap.phantom import annotations_from_dataset, make_dataset  # noqa: E402
from confmap.sweep import best, plot_sweep, sweep  # noqa: E402

OUT = Path(__file__).parent / "images" / "sweep_landscape.png"
GRID = dict(lam=[60, 100, 160], beta_m=[0.3, 0.5, 0.7], bandwidth=[0.05, 0.1, 0.2, 0.4])


def main():
    ds = make_dataset(1, seed=0, kinds=("diffuse",), progress=False)
    ann, agreement = annotations_from_dataset(ds)[0], ds.agreement.values[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)  # the figure hatches the rippled settings
        t0 = time.perf_counter()
        res = sweep(ann, agreement=agreement, progress=False, **GRID)
        t_sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        for lam, bm, bw in itertools.product(*GRID.values()):
            cm = confidence_map(ann, lam=lam, betas=(1.0, bm, 0.1), bandwidth=bw).values
            metrics.brier(cm, agreement)
            metrics.brier(cm, agreement, region="foreground")
            metrics.soft_dice(cm, agreement)
        t_direct = time.perf_counter() - t0
    b = best(res, "brier")
    paper = float(res.brier.sel(lam=100, beta_m=0.5, bandwidth=0.1))
    print(f"best: {b}")
    print(f"paper's setting (lam=100, beta_M=0.5, sigma=0.1): Brier {paper:.5f}")
    n = res.attrs["n_settings"]
    print(f"{n} settings: sweep {t_sweep:.2f} s, direct loop {t_direct:.2f} s, ratio {t_direct / t_sweep:.2f}")
    fig = plot_sweep(res, "brier")
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
