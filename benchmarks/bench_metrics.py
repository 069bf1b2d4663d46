"""Benchmark: ``confmap.metrics.evaluate`` vs the same numbers computed with scikit-learn calls.

Data: N synthetic images (default 30 of 512x512): a smooth elliptical "truth" field per image, four
raters who threshold it at biased levels (the Agreement is their mean), and a KDE-like confidence
map (the truth blurred, with a far Gaussian tail that never reaches 0), so the tolerances matter.

The baseline computes the same per-image quantities with one scikit-learn call each
(``roc_auc_score``/``roc_curve`` per image, region and threshold, pooled ones on all pixels,
``precision_recall_fscore_support``/``accuracy_score`` per image and threshold,
``mean_squared_error`` for Brier) on the same snapped values, and the script checks that both agree.

Run ``python benchmarks/bench_metrics.py`` (``--quick`` for 6 images of 256x256;
``--figures docs/images`` also writes the documentation figures). In the suite
(``python -m benchmarks --only metrics``), :func:`benchmark` gives the figures: CPU seconds of
both (claim: scikit-learn / confmap >= 10x, quick mode >= 3x) and the largest difference
between them (claim: <= 1e-12).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np


def synthetic(n, size, *, seed=0):
    """Maps, Agreement and kind of ``n`` synthetic images of ``size x size`` pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    maps = np.empty((n, size, size))
    agree = np.empty((n, size, size))
    kinds = []
    for i in range(n):
        diffuse = i % 2 == 1
        kinds.append("diffuse" if diffuse else "well_defined")
        cy, cx = rng.uniform(0.35, 0.65, 2)
        a, b = rng.uniform(0.08, 0.22, 2)
        th = rng.uniform(0, np.pi)
        u = ((xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)) / a
        v = (-(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)) / b
        d = np.sqrt(u**2 + v**2)  # 1 on the ellipse
        phi = np.arctan2(v, u)
        width = rng.uniform(0.15, 0.35) if diffuse else rng.uniform(0.04, 0.1)
        # four raters: biased level, own wobble of the outline
        levels = np.clip(0.5 + rng.normal(0, 0.15 if diffuse else 0.06, 4), 0.05, 0.95)
        acc = np.zeros((size, size))
        for lev in levels:
            wob = 1.0 + 0.06 * np.sin(rng.integers(2, 5) * phi + rng.uniform(0, 2 * np.pi))
            acc += 1.0 / (1.0 + np.exp((d * wob - 1.0) / width)) > lev
        agree[i] = acc / 4
        # a KDE-like map: smooth core with its own outline and width, Gaussian far tail
        wob = 1.0 + 0.08 * np.sin(rng.integers(2, 5) * phi + rng.uniform(0, 2 * np.pi))
        w2 = width * rng.uniform(0.7, 1.6)
        core = 1.0 / (1.0 + np.exp((d * wob - rng.uniform(0.9, 1.15)) / w2))
        tail = np.exp(-0.5 * (np.maximum(d - 1.0, 0) / 0.6) ** 2) * 1e-3
        m = np.maximum(core, tail)
        maps[i] = m / m.max()
    return maps, agree, np.array(kinds)


def sklearn_evaluation(maps, agree, thresholds, zero_tol, one_tol):
    """The same per-image and pooled numbers with scikit-learn calls (the baseline)."""
    from sklearn.metrics import (
        accuracy_score,
        mean_squared_error,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    from confmap.metrics import snap

    n = len(maps)
    ps = snap(maps, zero_tol=zero_tol, one_tol=one_tol)
    ts = snap(agree, zero_tol=zero_tol, one_tol=one_tol)
    out = {
        "auc": np.full((n, 2, len(thresholds)), np.nan),
        "f1": np.empty((n, len(thresholds))),
        "accuracy": np.empty((n, len(thresholds))),
        "brier": np.empty(n),
        "auc_pooled": np.empty((2, len(thresholds))),
    }
    for i in range(n):
        p, t = ps[i].ravel(), ts[i].ravel()
        union = (p > 0) | (t > 0)
        out["brier"][i] = mean_squared_error(agree[i].ravel(), maps[i].ravel())
        for k, thr in enumerate(thresholds):
            y = t >= thr - one_tol
            for r, sel in enumerate((slice(None), union)):
                yy = y[sel]
                if yy.any() and not yy.all():
                    out["auc"][i, r, k] = roc_auc_score(yy, p[sel])
                    roc_curve(yy, p[sel])  # the curve of Figure 3, as the baseline would draw it
            pb = p >= thr - one_tol
            _, _, f1, _ = precision_recall_fscore_support(y, pb, average="binary", zero_division=np.nan)
            out["f1"][i, k] = f1
            out["accuracy"][i, k] = accuracy_score(y, pb)
    pa, ta = ps.ravel(), ts.ravel()
    union = (pa > 0) | (ta > 0)
    for k, thr in enumerate(thresholds):
        y = ta >= thr - one_tol
        out["auc_pooled"][0, k] = roc_auc_score(y, pa)
        out["auc_pooled"][1, k] = roc_auc_score(y[union], pa[union])
    return out


def measure(n, size, repeat=3):
    """Seconds (wall, CPU) of confmap and of the scikit-learn baseline, and their max difference."""
    from confmap.metrics import EIGHT_BIT_HALF_STEP, evaluate

    maps, agree, _ = synthetic(n, size)
    thresholds = (0.25, 0.5, 0.75, 1.0)
    times, cpus = [], []
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = evaluate(maps, agree, thresholds=thresholds)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklearn_evaluation(maps, agree, thresholds, EIGHT_BIT_HALF_STEP, EIGHT_BIT_HALF_STEP)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    worst = max(
        np.nanmax(np.abs(ds.auc.values - ref["auc"])),
        np.max(np.abs(ds.auc_pooled.values - ref["auc_pooled"])),
        np.nanmax(np.abs(ds.f1.values - ref["f1"])),
        np.max(np.abs(ds.accuracy.values - ref["accuracy"])),
        np.max(np.abs(ds.brier.values - ref["brier"])),
    )
    return min(times), min(cpus), t_ref, c_ref, float(worst)


def benchmark(*, quick: bool) -> list[dict]:
    """The suite's figures (see the module docstring)."""
    from benchmarks.report import claim, figure

    n, size = (6, 256) if quick else (30, 512)
    t, c, t_ref, c_ref, worst = measure(n, size)
    what = f"{n} images of {size}x{size}"
    return [
        figure(
            "metrics.evaluate.cpu_seconds",
            c,
            "s",
            label=f"confmap.metrics.evaluate vs the same numbers with scikit-learn calls, {what} (CPU time)",
            baseline=c_ref,
            ratio=c_ref / c,
            claim=claim(">=", 10, quick=3, text="metrics >= 10x faster than scikit-learn calls"),
            wall_seconds=t,
            baseline_wall_seconds=t_ref,
            n_images=n,
            size=size,
        ),
        figure(
            "metrics.evaluate.max_abs_diff",
            worst,
            "",
            label=f"max |confmap - scikit-learn| over AUC, pooled AUC, F1, accuracy, Brier ({what})",
            claim=claim("<=", 1e-12, text="metrics identical to scikit-learn"),
        ),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 images of 256x256 (CI smoke run)")
    parser.add_argument("--n", type=int, default=None, help="number of images (default 30)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default 512)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the confmap timing (best of)")
    parser.add_argument("--figures", default=None, help="folder to write the documentation figures")
    args = parser.parse_args(argv)
    n = args.n or (6 if args.quick else 30)
    size = args.size or (256 if args.quick else 512)

    from confmap.metrics import EIGHT_BIT_HALF_STEP, evaluate

    maps, agree, kinds = synthetic(n, size)
    thresholds = (0.25, 0.5, 0.75, 1.0)
    print(f"{n} images of {size}x{size} ({n * size * size / 1e6:.1f} M pixels), thresholds {thresholds}")

    times, cpus = [], []
    for _ in range(max(1, args.repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = evaluate(maps, agree, thresholds=thresholds)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t_ours, c_ours = min(times), min(cpus)
    print(
        f"confmap.metrics.evaluate (everything, incl. ROC curves, psi, reliability): "
        f"{t_ours:.3f} s wall, {c_ours:.3f} s CPU (best of {len(times)})"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklearn_evaluation(maps, agree, thresholds, EIGHT_BIT_HALF_STEP, EIGHT_BIT_HALF_STEP)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"scikit-learn calls (AUC + ROC curves, F1, accuracy, Brier only):        {t_ref:.3f} s wall, {c_ref:.3f} s CPU"
    )
    print(f"ratio: scikit-learn / confmap = {t_ref / t_ours:.1f}x wall, {c_ref / c_ours:.1f}x CPU")

    checks = {
        "auc per image": np.nanmax(np.abs(ds.auc.values - ref["auc"])),
        "auc pooled": np.max(np.abs(ds.auc_pooled.values - ref["auc_pooled"])),
        "f1": np.nanmax(np.abs(ds.f1.values - ref["f1"])),
        "accuracy": np.max(np.abs(ds.accuracy.values - ref["accuracy"])),
        "brier": np.max(np.abs(ds.brier.values - ref["brier"])),
    }
    worst = max(checks.values())
    print("max |confmap - scikit-learn|: " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    print(
        f"summary: AUC mean (all pixels) "
        f"{np.round(ds.auc_mean.sel(region='all').values, 4).tolist()}, "
        f"Brier {ds.attrs['brier_mean']:.5f} / foreground {ds.attrs['brier_foreground_mean']:.4f}, "
        f"soft Dice {ds.attrs['soft_dice_mean']:.4f}, Pearson {float(ds.pearson_r):.3f}, "
        f"Spearman {float(ds.spearman_rho):.3f}, ECE {float(ds.ece):.4f}"
    )
    if args.figures:
        write_figures(maps, agree, kinds, args.figures)
    if worst > 1e-12:
        print("MISMATCH against scikit-learn", file=sys.stderr)
        return 1
    return 0


def write_figures(maps, agree, kinds, folder):
    """The documentation figures: from the phantom dataset if it exists, else the synthetic one."""
    import xarray as xr

    from confmap import metrics

    source = "synthetic"
    try:
        from confmap import phantom

        ds_in = phantom.make_dataset(30, seed=0)
        m, a = ds_in.confidence, ds_in.agreement
        valid = ds_in.sector if "sector" in ds_in else None
        source = "phantom"
    except Exception as exc:  # the phantom module is optional here
        print(f"phantom dataset not used ({type(exc).__name__}: {exc}); synthetic data instead")
        m = xr.DataArray(maps, dims=("image", "y", "x"), coords={"kind": ("image", kinds)})
        a = xr.DataArray(agree, dims=("image", "y", "x"))
        valid = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        ds = metrics.evaluate(m, a, valid=valid)
    os.makedirs(folder, exist_ok=True)
    figs = {
        "metrics_roc.png": metrics.plot_roc(ds),
        "metrics_joint_thresholds.png": metrics.plot_joint_thresholds(ds),
        "metrics_margin_correlation.png": metrics.plot_margin_correlation(ds),
        "metrics_reliability.png": metrics.plot_reliability(ds),
    }
    for name, fig in figs.items():
        path = os.path.join(folder, name)
        tmp = path + ".tmp.png"
        fig.savefig(tmp, dpi=90)
        os.replace(tmp, path)
        print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB, {source} data)")


if __name__ == "__main__":
    sys.exit(main())
