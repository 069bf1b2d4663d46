"""Figures of a cross-validation: per-fold scores (:func:`plot_folds`), held-out outputs (Figure 6)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import check_choice
from ._config import METRICS, REFERENCES
from .losses import LOSS_LABELS


def plot_folds(results: xr.Dataset, *, reference: str = "agreement", ax=None):
    """Per-fold held-out scores, soft vs hard, one panel per metric.

    Each loss is a group on the x axis; each fold is a dot (soft filled, hard open), joined soft
    to hard by a line so that a fold's pair can be read.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    reference = check_choice("reference", reference, REFERENCES)
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    else:
        fig = np.atleast_1d(ax)[0].figure
    axes = np.atleast_1d(ax)
    fs = results["fold_score"].sel(reference=reference)
    losses = list(results["loss"].values)
    for a, m, mname in zip(axes, METRICS, ("Brier", "Soft Dice"), strict=True):
        for i, lo in enumerate(losses):
            s = fs.sel(loss=lo, metric=m, label="soft").values
            h = fs.sel(loss=lo, metric=m, label="hard").values
            xs, xh = np.full_like(s, i - 0.15), np.full_like(h, i + 0.15)
            a.plot(np.stack([xs, xh]), np.stack([s, h]), color="0.7", lw=0.8, zorder=1)  # one line per fold
            a.scatter(xs, s, color="C0", label="soft" if i == 0 else None, zorder=2)
            a.scatter(xh, h, facecolor="none", edgecolor="C3", label="hard" if i == 0 else None, zorder=2)
        a.set_xticks(
            range(len(losses)),
            [str(v) for v in results["loss_name"].values],
            rotation=20,
            ha="right",
        )
        a.set_ylabel(f"{mname} vs {reference} (lower is better)")
    # one legend, right of the panels (constrained layout makes room): none covers a fold's dot
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(f"Held-out score per fold ({results.sizes['fold']} folds)")
    return fig


def plot_predictions(ds: xr.Dataset, results: xr.Dataset, *, loss: str = "bce", images=None, reference: str = "truth"):
    """Figure 6: held-out predictions of the soft- and hard-trained networks next to references.

    Columns: B-mode, ``reference`` (truth or agreement), soft label, soft-trained output, hard
    label, hard-trained output; one row per image.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset that was cross-validated.
    results : xarray.Dataset
        Output of :func:`cross_validate` with ``prediction``.
    loss : str, optional
        Which loss's networks to show. Default "bce" (the paper's Figure 6).
    images : sequence of int, optional
        Image coordinates to show. Default: the first three.
    reference : {"truth", "agreement"}, optional
        Reference shown in the second column. Default "truth".

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if "prediction" not in results:
        raise ValueError("`results` has no `prediction`; run cross_validate with keep_predictions=True")
    losses = [str(v) for v in results["loss"].values]
    loss = check_choice("loss", loss, losses)
    reference = check_choice("reference", reference, REFERENCES)
    if images is None:
        images = results["image"].values[:3]
    images = list(images)
    cols = ["B-mode", reference, "soft label", "soft-trained", "hard label", "hard-trained"]
    fig, axes = plt.subplots(
        len(images),
        len(cols),
        figsize=(2.0 * len(cols), 2.1 * len(images)),
        squeeze=False,
        layout="constrained",
    )
    ref_rater = ds.attrs.get("reference_rater")
    for r, im in enumerate(images):
        panels = [
            ds["bmode"].sel(image=im).values,
            ds[reference].sel(image=im).values,
            ds["confidence"].sel(image=im).values,
            results["prediction"].sel(loss=loss, label="soft", image=im).values,
            ds["masks"].sel(image=im, rater=ref_rater).values,
            results["prediction"].sel(loss=loss, label="hard", image=im).values,
        ]
        for c, (a, p) in enumerate(zip(axes[r], panels, strict=True)):
            a.imshow(p, cmap="gray" if c == 0 else "magma", vmin=0, vmax=1)
            a.set(xticks=[], yticks=[])
            if r == 0:
                a.set_title(cols[c], fontsize=9)
        axes[r, 0].set_ylabel(f"image {im} (fold {int(results['fold_of_image'].sel(image=im))})", fontsize=8)
    fig.suptitle(f"Held-out outputs, loss = {LOSS_LABELS[loss]}")
    return fig
