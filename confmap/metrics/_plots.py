"""Figures of an evaluation (Figures 3-5 and a summary); matplotlib is imported lazily."""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_choice
from ._common import nanmean


def _figure(ds, names, figsize):
    """A new figure for ``ds``, after checking that it holds the variables ``names``."""
    missing = [n for n in names if n not in getattr(ds, "variables", {})]
    if missing:
        raise ValueError(f"`ds` must be the Dataset of confmap.metrics.evaluate; missing {missing}")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


_ROC_TITLES = {"all": "all pixels", "union": "union of map > 0 and Agreement > 0"}
_ROC = ["tpr_mean", "tpr_pooled", "auc_mean", "auc_pooled"]
_JOINT = ["precision", "recall", "f1", "accuracy"]
_JOINT_VARS = _JOINT + [f"{n}_pooled" for n in _JOINT]
_MARGIN = ["psi_conf", "psi_agree", "fit_x", "fit_y", "fit_lower", "fit_upper", "pearson_r", "spearman_rho"]
_RELIABILITY = ["bin_count", "bin_lower", "bin_upper", "bin_confidence", "bin_agreement", "ece", "mean_bin_gap"]


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
    fig = _figure(ds, _ROC, (9, 4.2))
    check_choice("curve", curve, ("mean", "pooled"))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, region in zip(axes, ["all", "union"], strict=True):
        _roc_panel(ax, ds, region, curve)
    axes[0].set_ylabel("true positive rate")
    fig.suptitle(f"{curve.capitalize()} ROC of the confidence map against the Agreement ({ds.sizes['image']} images)")
    return fig


def _roc_panel(ax, ds, region, curve):
    import matplotlib as mpl

    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, ds.sizes["threshold"]))
    var = "tpr_mean" if curve == "mean" else "tpr_pooled"
    for c, thr in zip(colors, ds.threshold.values, strict=True):
        a_mean = float(ds.auc_mean.sel(region=region, threshold=thr))
        a_pool = float(ds.auc_pooled.sel(region=region, threshold=thr))
        label = f"Agreement ≥ {thr:g}: AUC {a_mean:.3f} (pooled {a_pool:.3f})"
        ax.plot(ds.fpr.values, ds[var].sel(region=region, threshold=thr).values, color=c, lw=2, label=label)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", title=_ROC_TITLES[region])
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=7.5)


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
    fig = _figure(ds, _JOINT_VARS, (6.4, 4.2))
    _joint_panel(fig.subplots(), ds)
    return fig


def _joint_panel(ax, ds):
    x = ds.threshold.values
    for name, c in zip(_JOINT, ["C0", "C1", "C2", "C3"], strict=True):
        v = ds[name].values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q1, q3 = np.nanpercentile(v, 25, axis=0), np.nanpercentile(v, 75, axis=0)
        ax.plot(x, nanmean(v, axis=0), "o-", color=c, label=f"{name} (mean)")
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
    fig = _figure(ds, _MARGIN, (5.6, 4.6))
    _margin_panel(fig.subplots(), ds)
    return fig


def _margin_panel(ax, ds):
    xa, yc = ds.psi_agree.values, ds.psi_conf.values
    if "kind" in ds.coords and ds.kind.dims == ("image",):
        for j, kind in enumerate(np.unique(ds.kind.values.astype(str))):
            sel = ds.kind.values.astype(str) == kind
            ax.scatter(xa[sel], yc[sel], s=22, color=f"C{j}", label=kind, zorder=3)
    else:
        ax.scatter(xa, yc, s=22, color="C0", label="images", zorder=3)
    fx = ds.fit_x.values
    band = {"color": "0.5", "alpha": 0.25, "lw": 0, "label": "95% confidence band"}
    ax.fill_between(fx, ds.fit_lower.values, ds.fit_upper.values, **band)
    fit = f"fit: y = {float(ds.fit_slope):.2f} x + {float(ds.fit_intercept):.1f}"
    ax.plot(fx, ds.fit_y.values, color="k", lw=1.5, label=fit)
    ax.set(
        xlabel="ψ_agree: % non-1 among non-0 Agreement",
        ylabel="ψ_conf: % non-1 among non-0 map",
        title=f"Pearson r = {float(ds.pearson_r):.2f}, Spearman ρ = {float(ds.spearman_rho):.2f}"
        f" (n = {ds.attrs.get('n_correlation_images', ds.sizes['image'])})",
    )
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)


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
    fig = _figure(ds, _RELIABILITY, (5.2, 5.6))
    ax, axc = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _reliability_panel(ax, ds)
    lo, hi = ds.bin_lower.values, ds.bin_upper.values
    axc.bar(lo, np.maximum(ds.bin_count.values, 0), width=hi - lo, align="edge", color="0.5")
    if ds.bin_count.values.max() > 0:
        from matplotlib.ticker import NullFormatter

        axc.set_yscale("log")
        axc.yaxis.set_minor_formatter(NullFormatter())
    axc.set(xlabel="map confidence (bin)", ylabel="pixels", xlim=(0, 1))
    return fig


def _reliability_panel(ax, ds):
    lo, hi = ds.bin_lower.values, ds.bin_upper.values
    agree = ds.bin_agreement.values
    bars = {"align": "edge", "color": "C0", "alpha": 0.7, "edgecolor": "k", "lw": 0.5, "label": "mean Agreement in bin"}
    ax.bar(lo, agree, width=hi - lo, **bars)
    ax.plot(ds.bin_confidence.values, agree, "o", color="C1", ms=4, label="(mean confidence, mean Agreement)")
    ax.plot([0, 1], [0, 1], "--", color="0.4", lw=1, label="perfect calibration")
    ax.set(
        ylim=(0, 1),
        ylabel="mean Agreement",
        title=f"ECE = {float(ds.ece):.3f}, mean bin gap = {float(ds.mean_bin_gap):.3f}",
    )
    ax.legend(fontsize=8, loc="upper left")


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
    The panels of :func:`plot_roc` (mean curves, all pixels), :func:`plot_joint_thresholds`,
    :func:`plot_margin_correlation` and :func:`plot_reliability` (without the pixel counts) side by side.

    Examples
    --------
    >>> fig = plot_summary(ds)  # doctest: +SKIP
    """
    fig = _figure(ds, _ROC + _JOINT_VARS + _MARGIN + _RELIABILITY, (20, 5))
    a1, a2, a3, a4 = fig.subplots(1, 4)
    _roc_panel(a1, ds, "all", "mean")
    a1.set_ylabel("true positive rate")
    _joint_panel(a2, ds)
    _margin_panel(a3, ds)
    _reliability_panel(a4, ds)
    a4.set_xlabel("map confidence (bin)")
    return fig
