"""Results on the phantom: rater agreement and the paper's evaluation (Sections 3.1-3.2).

The figures the README quotes about the phantom dataset of 30 images of 256x256 (seed 0):
mean pairwise Dice of the four simulated raters (all, well defined, diffuse; claim: the
overall value is within 0.03 of the published inter-neurosurgeon Dice of 0.876 the raters were
calibrated to), and ``confmap.metrics.evaluate(ds.confidence, ds.agreement, valid=ds.sector)``:
Brier (whole image, foreground), soft Dice, mean AUC per threshold and region (claim: every
mean AUC > 0.9, the paper's statement), pooled F1 per threshold, ECE, mean bin gap, and the
Figure 5 correlation (Pearson, Spearman) with the default "is 1" tolerance and with
``one_tol=0.02`` and ``0.05``. Deterministic: the quick mode measures the same.

    python -m benchmarks --only results
"""

from __future__ import annotations

import time

import numpy as np

N_IMAGES, SIZE, SEED = 30, (256, 256), 0
PUBLISHED_DICE = 0.876


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring); ``quick`` changes nothing (it takes seconds)."""
    from benchmarks.report import claim, figure
    from confmap import metrics, phantom

    ds = phantom.make_dataset(N_IMAGES, seed=SEED, size=SIZE, progress=False)
    what = f"{N_IMAGES} phantom images of {SIZE[0]}x{SIZE[1]}, seed {SEED}"
    figs = []
    dice = np.array([phantom.pairwise_dice(m) for m in ds.masks.values])
    kinds = ds.kind.values
    for key, sel in (("all", slice(None)), ("well_defined", kinds == "well_defined"), ("diffuse", kinds == "diffuse")):
        label = f"mean pairwise Dice of the 4 raters, {key.replace('_', ' ')} ({what})"
        figs.append(figure(f"results.rater_dice.{key}", dice[sel].mean(), "", label=label))
    figs.append(
        figure(
            "results.rater_dice.gap_to_published",
            abs(dice.mean() - PUBLISHED_DICE),
            "",
            label=f"|mean pairwise Dice - the published inter-neurosurgeon Dice {PUBLISHED_DICE}|",
            baseline=PUBLISHED_DICE,
            claim=claim("<=", 0.03, text="rater agreement within 0.03 of the published 0.876"),
        )
    )
    t0 = time.process_time()
    ev = metrics.evaluate(ds.confidence, ds.agreement, valid=ds.sector)
    cpu = time.process_time() - t0
    figs.append(figure("results.evaluate.cpu_seconds", cpu, "s", label=f"metrics.evaluate CPU time ({what})"))
    for name, value in (
        ("brier", ev.attrs["brier_mean"]),
        ("brier_foreground", ev.attrs["brier_foreground_mean"]),
        ("soft_dice", ev.attrs["soft_dice_mean"]),
        ("ece", float(ev.ece)),
        ("mean_bin_gap", float(ev.mean_bin_gap)),
    ):
        figs.append(figure(f"results.{name}", value, "", label=f"{name} ({what})"))
    for region in ev.region.values:
        for thr in ev.threshold.values:
            figs.append(
                figure(
                    f"results.auc_mean.{region}.{thr:g}",
                    float(ev.auc_mean.sel(region=region, threshold=thr)),
                    "",
                    label=f"mean AUC over images, region {region}, threshold {thr:g}",
                    claim=claim(">", 0.9, text="mean AUC > 0.9 (the paper's statement)"),
                )
            )
    for thr in ev.threshold.values:
        figs.append(
            figure(f"results.f1.{thr:g}", float(ev.f1_pooled.sel(threshold=thr)), "", label=f"pooled F1 at {thr:g}")
        )
    for tol in (None, 0.02, 0.05):
        e = ev if tol is None else metrics.evaluate(ds.confidence, ds.agreement, valid=ds.sector, one_tol=tol)
        key = "default" if tol is None else f"{tol:g}"
        figs.append(
            figure(f"results.pearson.{key}", float(e.pearson_r), "", label=f"Figure 5 Pearson r, one_tol {key}")
        )
        figs.append(
            figure(f"results.spearman.{key}", float(e.spearman_rho), "", label=f"Figure 5 Spearman, one_tol {key}")
        )
    return figs
