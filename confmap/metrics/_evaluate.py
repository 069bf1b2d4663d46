"""The paper's whole evaluation of a dataset as one xarray.Dataset (Sections 3.1-3.2)."""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_int, progress_bar
from .._warnings import UndefinedMetricWarning
from ._calibration import bin_index, reliability_summary
from ._common import (
    DEFAULT_THRESHOLDS,
    EIGHT_BIT_HALF_STEP,
    as_values,
    bool_mask,
    check_thresholds,
    check_tols,
    nanmean,
    snap_raw,
    warn_undefined,
)
from ._correlation import correlation, linear_fit, psi_stack
from ._joint import confusion_stack, scores_from_counts
from ._roc import RankedScores, agreement_levels, auc_ranks, key_offset, sample_part, sort_pairs
from ._scores import brier_stack, soft_dice_stack


def _stack_with_coords(name, value):
    arr = as_values(name, value)
    if not (hasattr(value, "dims") and "image" in value.dims and arr.ndim == 3):
        return (arr[None] if arr.ndim == 2 else arr), {}
    return arr, {cname: ("image", np.asarray(c.values)) for cname, c in value.coords.items() if c.dims == ("image",)}


def evaluate(
    maps,
    agreement,
    *,
    thresholds=DEFAULT_THRESHOLDS,
    valid=None,
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
    n_bins=10,
    fpr_points=101,
    progress=False,
):
    """The paper's whole evaluation of confidence maps against Agreement maps, as one Dataset.

    Parameters
    ----------
    maps : array_like or xarray.DataArray, (N, H, W) or (H, W), values in [0, 1]
        Confidence maps (e.g. ``ds.confidence`` of :func:`confmap.phantom.make_dataset`).
        Coordinates along ``image`` (such as ``kind``) are carried into the result.
    agreement : array_like or xarray.DataArray, same shape, values in [0, 1]
        Agreement maps (e.g. ``ds.agreement``, or :func:`agreement` of the masks).
    thresholds : sequence of float, default (0.25, 0.5, 0.75, 1.0)
        Levels for the ROC binarisation of the Agreement and for the joint thresholding.
    valid : bool array, (H, W) or (N, H, W), optional
        Pixels that count (e.g. ``ds.sector``, the field of view); default all.
    zero_tol, one_tol : float, default 0.5/255
        Tolerances of "> 0", "is 1" and "reaches a level" (:func:`snap`).
    n_bins : int, default 10
        Bins of the reliability diagram.
    fpr_points : int, default 101
        Points of the common false-positive-rate grid on which ROC curves are sampled.
    progress : bool, default False
        Show a tqdm bar over images (the ROC stage).

    Returns
    -------
    xarray.Dataset
        Dims ``image``, ``threshold``, ``region`` (``"all"``, ``"union"``), ``fpr``, ``bin``;
        variables:

        * per image: ``brier``, ``brier_foreground``, ``soft_dice`` (Eqs. 8-9), ``n_foreground``,
          ``psi_conf``, ``psi_agree`` (Sec. 3.2);
        * ROC (Fig. 3): ``auc`` (image, region, threshold), ``auc_pooled``, ``auc_mean``
          (region, threshold), ``tpr`` (image, region, threshold, fpr) sampled on the grid,
          ``tpr_mean`` and ``tpr_pooled`` (region, threshold, fpr);
        * joint thresholds (Fig. 4): ``tp, fp, fn, tn, precision, recall, f1, accuracy`` (image,
          threshold) and ``*_pooled`` scores (threshold) from the summed counts;
        * margin correlation (Fig. 5): ``pearson_r, pearson_p, spearman_rho, spearman_p,
          fit_slope, fit_intercept, fit_slope_stderr`` and ``fit_y, fit_lower, fit_upper`` on
          coordinate ``fit_x``;
        * reliability (conclusion): ``bin_count, bin_confidence, bin_agreement`` (bin), with
          ``bin_lower``/``bin_upper`` coords, and ``ece``, ``mce``, ``mean_bin_gap``.

        ``attrs`` hold the tolerances and the summaries ``brier_mean``, ``brier_foreground_mean``
        and ``soft_dice_mean``. Undefined values are NaN, reported in one
        :class:`UndefinedMetricWarning`.

    Notes
    -----
    Sections 3.1-3.2 and the conclusion: Eqs. 8-15, Figures 3-5 and the reliability diagram. ROC
    curves are exact (one vertex per distinct snapped score) and sampled on the grid by linear
    interpolation, taking the top of a vertical segment; AUCs are computed from the exact curves.
    Pooled values treat every pixel of every image as one sample; means average per-image values.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:32, :32]
    >>> r = np.hypot(yy - 16, xx - 16)
    >>> m = np.stack([np.clip(1.5 - r / s, 0, 1) for s in (4, 6, 9)])  # three blobs
    >>> a = np.floor(m * 4) / 4  # an Agreement of 4 raters, nested
    >>> ds = evaluate(m, a)
    >>> ds.sizes["image"], float(ds.auc.sel(region="all", threshold=0.5).min())
    (3, 1.0)
    """
    p, coords = _stack_with_coords("maps", maps)
    t, _ = _stack_with_coords("agreement", agreement)
    if p.shape != t.shape:
        raise ValueError(f"`maps` and `agreement` must have the same shape, got {p.shape} and {t.shape}")
    z, o = check_tols(zero_tol, one_tol)
    thr = check_thresholds(thresholds)
    n_bins = check_int("n_bins", n_bins, minimum=1, maximum=10_000)
    fpr_points = check_int("fpr_points", fpr_points, minimum=2, maximum=100_000)
    n = len(p)
    vmask = None if valid is None else bool_mask("valid", valid, p.shape)
    ps, ts = snap_raw(p, z, o), snap_raw(t, z, o)
    union = (ps > 0) | (ts > 0)
    if vmask is not None:
        union &= vmask
    stats = {  # Eqs. 8-9 (unsnapped values) and psi
        "brier": brier_stack(p, t, vmask),
        "brier_foreground": brier_stack(p, t, union),
        "soft_dice": soft_dice_stack(p, t) if vmask is None else soft_dice_stack(p * vmask, t * vmask),
        "n_foreground": union.reshape(n, -1).sum(axis=1),
        "psi_conf": psi_stack(ps if vmask is None else ps * vmask),
        "psi_agree": psi_stack(ts if vmask is None else ts * vmask),
    }
    stats.update(_roc_stats(ps, ts, thr, o, vmask, union, fpr_points, progress))
    stats.update(confusion_stack(ps, ts, thr, o, vmask))  # joint thresholds: tp, fp, fn, tn
    # reliability, pooled over the union
    b = bin_index(ps[union], n_bins)  # (the selections are made where used: kept, they cost cache)
    stats["bin_count"] = np.bincount(b, minlength=n_bins)
    stats["bin_sum_confidence"] = np.bincount(b, weights=ps[union], minlength=n_bins)
    stats["bin_sum_agreement"] = np.bincount(b, weights=ts[union], minlength=n_bins)
    image_coord = coords.pop("image", ("image", np.arange(n)))
    ds = evaluation_dataset(stats, thresholds=thr, image_coords={"image": image_coord, **coords})
    ds.attrs.update(
        zero_tol=z,
        one_tol=o,
        valid_mask=int(vmask is not None),
        reference="Weld et al., Sections 3.1-3.2 and conclusion (Eqs. 8-15, Figs. 3-5)",
    )
    return ds


def _roc_stats(ps, ts, thr, o, vmask, union, fpr_points, progress) -> dict:
    """Per image, one sort of the positive scores (packed with their levels); score-0 pixels form
    one tie group, counted by level inside and outside the union. Pooled: every pixel of every
    image one sample; the sorted runs are merged by one more sort."""
    n, K = len(ps), len(thr)
    grid = np.linspace(0.0, 1.0, fpr_points)
    auc = np.full((n, 2, K), np.nan)
    tpr = np.full((n, 2, K, fpr_points), np.nan)
    nbits = max(1, K.bit_length())
    levels = agreement_levels(ts, thr, o)
    pos = ps > 0
    if vmask is not None:
        pos &= vmask
    lo = key_offset(ps[pos], nbits)
    sorted_runs, zero_levels = [], np.zeros((2, K + 1), np.int64)  # score-0 pixels per level: all, union
    for i in progress_bar(range(n), progress, desc="ROC"):
        s_asc, lv_asc = sort_pairs(ps[i][pos[i]], levels[i][pos[i]], lo, nbits)
        sorted_runs.append((s_asc, lv_asc))
        zero = ~pos[i] if vmask is None else (vmask[i] & ~pos[i])
        zl = [np.bincount(levels[i][region], minlength=K + 1) for region in (zero, zero & union[i])]
        zero_levels += zl
        auc[i], tpr[i] = _curves(RankedScores(s_asc, lv_asc, K), zl, grid)
    s_all = np.concatenate([r[0] for r in sorted_runs])
    lv_all = np.concatenate([r[1] for r in sorted_runs])
    del sorted_runs
    part = RankedScores(*sort_pairs(s_all, lv_all, lo, nbits), K)
    auc_pooled, tpr_pooled = _curves(part, zero_levels, grid)
    return {"auc": auc, "tpr": tpr, "auc_pooled": auc_pooled, "tpr_pooled": tpr_pooled}


def _curves(part, zero_levels, grid):
    """AUC (R, K) and TPR on the grid (R, K, F) of one ranked sample set, one row per region's score-0 counts."""
    auc = [auc_ranks(part, zl) for zl in zero_levels]
    return np.array(auc), np.array([sample_part(part, zl, grid) for zl in zero_levels])


def evaluation_dataset(stats, *, thresholds, image_coords=None, warn=True, stacklevel=2):
    """The Dataset of :func:`evaluate` from its statistics, one block per paper section.

    :func:`evaluate` computes the statistics of its maps; :mod:`confmap.batch` computes them one
    image at a time and sums the pooled ones. Both lay them out here.

    Parameters
    ----------
    stats : dict of ndarray
        Per image (first axis ``image``, N): ``brier``, ``brier_foreground``, ``soft_dice``,
        ``n_foreground``, ``psi_conf``, ``psi_agree`` (N,); ``auc`` (N, 2, K) and ``tpr``
        (N, 2, K, F) for regions ("all", "union") on an FPR grid of F points; confusion counts
        ``tp``, ``fp``, ``fn``, ``tn`` (N, K). Pooled over all images: ``bin_count``,
        ``bin_sum_confidence``, ``bin_sum_agreement`` (n_bins,); optionally ``auc_pooled``
        (2, K) and ``tpr_pooled`` (2, K, F) (default NaN).
    thresholds : array_like, shape (K,)
    image_coords : dict, optional
        Coordinates along ``image``; default ``image = 0..N-1``.
    warn : bool, default True
        Issue one :class:`UndefinedMetricWarning` naming the values that are NaN.
    stacklevel : int, default 2
        Of that warning, counted from here (2: the caller).

    Returns
    -------
    xarray.Dataset
        As from :func:`evaluate` (without its tolerance attributes).
    """
    import xarray as xr

    problems, data, coords, attrs = [], {}, {}, {}
    for section in (_scores_part, _roc_part, _joint_part, _correlation_part, _reliability_part):
        d, c, a = section(stats, problems)
        data.update(d)
        coords.update(c)
        attrs.update(a)
    if warn and problems:
        warn_undefined("undefined metrics are NaN: " + "; ".join(problems), stacklevel=stacklevel + 1)
    image_coords = dict(image_coords or {"image": np.arange(len(stats["brier"]))})
    coords = {"image": image_coords.pop("image"), **image_coords, "threshold": np.asarray(thresholds), **coords}
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(attrs)
    return ds


def _nan_problems(problems, values, cases="image(s)"):
    for name, arr in values.items():
        if np.isnan(arr).any():
            problems.append(f"{name} in {int(np.isnan(arr).sum())} {cases}")


def _scores_part(s, problems):
    """Eqs. 8-9 and the margin uncertainty psi (Sec. 3.2), per image."""
    names = ("brier", "brier_foreground", "soft_dice", "n_foreground", "psi_conf", "psi_agree")
    _nan_problems(problems, {k: s[k] for k in names if k != "n_foreground"})
    attrs = {f"{k}_mean": float(nanmean(s[k])) for k in ("brier", "brier_foreground", "soft_dice")}
    return {k: ("image", s[k]) for k in names}, {}, attrs


def _roc_part(s, problems):
    """ROC curves and AUC (Fig. 3): per image, their mean, and pooled over every pixel."""
    auc, tpr = s["auc"], s["tpr"]
    if np.isnan(auc).any():
        problems.append(f"auc in {int(np.isnan(auc).sum())} (image, region, threshold) case(s) with a single class")
    rt, rtf = ("region", "threshold"), ("region", "threshold", "fpr")
    data = {
        "auc": (("image", *rt), auc),
        "auc_pooled": (rt, s.get("auc_pooled", np.full(auc.shape[1:], np.nan))),
        "auc_mean": (rt, nanmean(auc, axis=0)),
        "tpr": (("image", *rtf), tpr),
        "tpr_mean": (rtf, nanmean(tpr, axis=0)),
        "tpr_pooled": (rtf, s.get("tpr_pooled", np.full(tpr.shape[1:], np.nan))),
    }
    return data, {"region": ["all", "union"], "fpr": np.linspace(0.0, 1.0, tpr.shape[-1])}, {}


def _joint_part(s, problems):
    """Joint thresholds (Eqs. 10-13, Fig. 4): counts and scores per image; scores of the summed counts."""
    counts = {k: s[k] for k in ("tp", "fp", "fn", "tn")}
    scores = scores_from_counts(*counts.values())
    pooled = scores_from_counts(*(v.sum(axis=0) for v in counts.values()))
    _nan_problems(problems, scores, "(image, threshold) case(s)")
    data = {k: (("image", "threshold"), v) for k, v in {**counts, **scores}.items()}
    return {**data, **{f"{k}_pooled": ("threshold", v) for k, v in pooled.items()}}, {}, {}


def _correlation_part(s, problems):
    """Margin correlation (Eqs. 14-15, Fig. 5) of psi_conf against psi_agree over the images."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        corr = correlation(s["psi_agree"], s["psi_conf"])
        fit = linear_fit(s["psi_agree"], s["psi_conf"])
    problems += [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    data = {k: corr[k] for k in ("pearson_r", "pearson_p", "spearman_rho", "spearman_p")}
    data.update({f"fit_{k}": fit[k] for k in ("slope", "intercept", "slope_stderr")})
    data.update({f"fit_{k}": ("fit_x", fit[k]) for k in ("y", "lower", "upper")})
    return data, {"fit_x": fit["x"]}, {"n_correlation_images": int(corr["n"])}


def _reliability_part(s, problems):
    """Reliability diagram and calibration errors (conclusion), pooled over the union."""
    count = s["bin_count"]
    rel = reliability_summary(count, s["bin_sum_confidence"], s["bin_sum_agreement"], len(count))
    if not rel["count"].any():
        problems.append("reliability (empty foreground)")
    data = {f"bin_{k}": ("bin", rel[k]) for k in ("count", "confidence", "agreement")}
    data.update(ece=rel["ece"], mce=rel["mce"], mean_bin_gap=rel["mean_gap"])
    edges = rel["edges"]
    return data, {"bin": np.arange(len(count)), "bin_lower": ("bin", edges[:-1]), "bin_upper": ("bin", edges[1:])}, {}
