"""Figures of an evaluation (Figures 3-5 and a summary); matplotlib is imported lazily."""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_choice
from ._common import nanmean


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _check_ds(ds, names):
    missing = [n for n in names if n not in getattr(ds, "variables", {})]
    if missing:
        raise ValueError(f"`ds` must be the Dataset of confmap.metrics.evaluate; missing {missing}")


def plot_roc(ds, *, curve="mean"):
    """Figure 3: ROC curves per Agreement threshold, all pixels (left) and union region (right).

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`evaluate`.
    curve : {"mean", "pooled"}, default "mean"
        Mean of per-image curves (as the paper) or the curve of all pixels pooled.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Figure 3. Legends give the mean per-image AUC (and the pooled AUC).

    Examples
    --------
    >>> fig = plot_roc(ds)  # doctest: +SKIP
    """
    _check_ds(ds, ["tpr_mean", "tpr_pooled", "auc_mean", "auc_pooled"])
    check_choice("curve", curve, ("mean", "pooled"))
    import matplotlib as mpl

    fig = _figure((9, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, ds.sizes["threshold"]))
    titles = {"all": "all pixels", "union": "union of map > 0 and Agreement > 0"}
    var = "tpr_mean" if curve == "mean" else "tpr_pooled"
    for ax, region in zip(axes, ["all", "union"], strict=True):
        for c, thr in zip(colors, ds.threshold.values, strict=True):
            y = ds[var].sel(region=region, threshold=thr).values
            a_mean = float(ds.auc_mean.sel(region=region, threshold=thr))
            a_pool = float(ds.auc_pooled.sel(region=region, threshold=thr))
            ax.plot(
                ds.fpr.values,
                y,
                color=c,
                lw=2,
                label=f"Agreement ≥ {thr:g}: AUC {a_mean:.3f} (pooled {a_pool:.3f})",
            )
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", title=titles[region])
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=7.5)
    axes[0].set_ylabel("true positive rate")
    fig.suptitle(f"{curve.capitalize()} ROC of the confidence map against the Agreement ({ds.sizes['image']} images)")
    return fig


def plot_joint_thresholds(ds):
    """Figure 4: precision, recall, F1 and accuracy with map and Agreement thresholded jointly.

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`evaluate`.

    Returns
    -------
    matplotlib.figure.Figure
        Lines: mean over images with the interquartile range shaded; crosses: pooled counts.

    Notes
    -----
    Figure 4, Eqs. 10-13.

    Examples
    --------
    >>> fig = plot_joint_thresholds(ds)  # doctest: +SKIP
    """
    names = ["precision", "recall", "f1", "accuracy"]
    _check_ds(ds, names + [f"{n}_pooled" for n in names])
    fig = _figure((6.4, 4.2))
    ax = fig.subplots()
    x = ds.threshold.values
    for name, c in zip(names, ["C0", "C1", "C2", "C3"], strict=True):
        v = ds[name].values
        mean = nanmean(v, axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q1, q3 = np.nanpercentile(v, 25, axis=0), np.nanpercentile(v, 75, axis=0)
        ax.plot(x, mean, "o-", color=c, label=f"{name} (mean)")
        ax.fill_between(x, q1, q3, color=c, alpha=0.15, lw=0)
        ax.plot(x, ds[f"{name}_pooled"].values, "x", color=c, ms=8)
    ax.plot([], [], "x", color="0.3", label="pooled")
    ax.set(
        xticks=x,
        xlabel="threshold (map and Agreement)",
        ylabel="score",
        ylim=(0, 1.02),
        title=f"Joint thresholding ({ds.sizes['image']} images; band: interquartile range)",
    )
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_margin_correlation(ds):
    """Figure 5: psi_agree against psi_conf with the linear fit and its 95% confidence band.

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`evaluate`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Figure 5, Section 3.2 (Eqs. 14-15). Points are coloured by the ``kind`` coordinate if present.

    Examples
    --------
    >>> fig = plot_margin_correlation(ds)  # doctest: +SKIP
    """
    _check_ds(ds, ["psi_conf", "psi_agree", "fit_y", "fit_lower", "fit_upper", "pearson_r"])
    fig = _figure((5.6, 4.6))
    ax = fig.subplots()
    xa, yc = ds.psi_agree.values, ds.psi_conf.values
    if "kind" in ds.coords and ds.kind.dims == ("image",):
        for j, kind in enumerate(np.unique(ds.kind.values.astype(str))):
            sel = ds.kind.values.astype(str) == kind
            ax.scatter(xa[sel], yc[sel], s=22, color=f"C{j}", label=kind, zorder=3)
    else:
        ax.scatter(xa, yc, s=22, color="C0", label="images", zorder=3)
    ax.fill_between(
        ds.fit_x.values,
        ds.fit_lower.values,
        ds.fit_upper.values,
        color="0.5",
        alpha=0.25,
        lw=0,
        label="95% confidence band",
    )
    ax.plot(
        ds.fit_x.values,
        ds.fit_y.values,
        color="k",
        lw=1.5,
        label=f"fit: y = {float(ds.fit_slope):.2f} x + {float(ds.fit_intercept):.1f}",
    )
    ax.set(
        xlabel="ψ_agree: % non-1 among non-0 Agreement",
        ylabel="ψ_conf: % non-1 among non-0 map",
        title=f"Pearson r = {float(ds.pearson_r):.2f}, Spearman ρ = {float(ds.spearman_rho):.2f}"
        f" (n = {ds.attrs.get('n_correlation_images', ds.sizes['image'])})",
    )
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def plot_reliability(ds):
    """Reliability diagram: mean Agreement per bin of map confidence, with pixel counts.

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`evaluate`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The paper's conclusion (reliability diagram, "average bin accuracy"); the title reports
    ``ece`` and ``mean_bin_gap``.

    Examples
    --------
    >>> fig = plot_reliability(ds)  # doctest: +SKIP
    """
    _check_ds(ds, ["bin_count", "bin_confidence", "bin_agreement", "ece", "mean_bin_gap"])
    fig = _figure((5.2, 5.6))
    ax, axc = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    lo, hi = ds.bin_lower.values, ds.bin_upper.values
    width = hi - lo
    ax.bar(
        lo,
        ds.bin_agreement.values,
        width=width,
        align="edge",
        color="C0",
        alpha=0.7,
        edgecolor="k",
        lw=0.5,
        label="mean Agreement in bin",
    )
    ax.plot(
        ds.bin_confidence.values,
        ds.bin_agreement.values,
        "o",
        color="C1",
        ms=4,
        label="(mean confidence, mean Agreement)",
    )
    ax.plot([0, 1], [0, 1], "--", color="0.4", lw=1, label="perfect calibration")
    ax.set(
        ylim=(0, 1),
        ylabel="mean Agreement",
        title=f"ECE = {float(ds.ece):.3f}, mean bin gap = {float(ds.mean_bin_gap):.3f}",
    )
    ax.legend(fontsize=8, loc="upper left")
    axc.bar(lo, np.maximum(ds.bin_count.values, 0), width=width, align="edge", color="0.5")
    if ds.bin_count.values.max() > 0:
        from matplotlib.ticker import NullFormatter

        axc.set_yscale("log")
        axc.yaxis.set_minor_formatter(NullFormatter())
    axc.set(xlabel="map confidence (bin)", ylabel="pixels", xlim=(0, 1))
    return fig


def plot_summary(ds):
    """Figures 3, 4, 5 and the reliability diagram in one figure.

    Parameters
    ----------
    ds : xarray.Dataset
        The result of :func:`evaluate`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    A compact overview: mean ROC (all pixels), joint-threshold F1, margin scatter, reliability.

    Examples
    --------
    >>> fig = plot_summary(ds)  # doctest: +SKIP
    """
    _check_ds(ds, ["tpr_mean", "f1", "psi_conf", "bin_agreement"])
    fig = _figure((12, 3.4))
    a1, a2, a3, a4 = fig.subplots(1, 4)
    for thr in ds.threshold.values:
        a1.plot(
            ds.fpr.values,
            ds.tpr_mean.sel(region="all", threshold=thr).values,
            label=f"≥{thr:g}: {float(ds.auc_mean.sel(region='all', threshold=thr)):.3f}",
        )
    a1.set(title="ROC (all pixels)", xlabel="FPR", ylabel="TPR")
    a1.legend(fontsize=7)
    for name in ["precision", "recall", "f1", "accuracy"]:
        a2.plot(ds.threshold.values, nanmean(ds[name].values, axis=0), "o-", label=name)
    a2.set(title="joint thresholds", xlabel="threshold", ylim=(0, 1.02))
    a2.legend(fontsize=7)
    a3.scatter(ds.psi_agree.values, ds.psi_conf.values, s=12)
    a3.plot(ds.fit_x.values, ds.fit_y.values, "k")
    a3.fill_between(ds.fit_x.values, ds.fit_lower.values, ds.fit_upper.values, color="0.5", alpha=0.3)
    a3.set(title=f"ψ: r={float(ds.pearson_r):.2f}", xlabel="ψ_agree", ylabel="ψ_conf")
    a4.bar(
        ds.bin_lower.values,
        ds.bin_agreement.values,
        width=ds.bin_upper.values - ds.bin_lower.values,
        align="edge",
        alpha=0.7,
    )
    a4.plot([0, 1], [0, 1], "--", color="0.4")
    a4.set(title=f"reliability: ECE={float(ds.ece):.3f}", xlabel="confidence", ylabel="Agreement")
    return fig
