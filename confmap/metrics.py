"""The paper's evaluation (Weld et al., Sections 3.1-3.2 and the conclusion), exact and vectorised.

Every metric compares a soft confidence map (the *prediction*, values in [0, 1]) with the raters'
*Agreement* map (the mean of binary masks, Section 3.1.1):

============================  ==========================================  =====================
metric                        function                                    paper
============================  ==========================================  =====================
Agreement                     :func:`agreement`                           Sec. 3.1.1
Brier score                   :func:`brier` (whole image / foreground)    Eq. 8
Soft Dice (1 - ratio)         :func:`soft_dice`                           Eq. 9
ROC curve, AUC                :func:`roc_curve`, :func:`roc_auc`          Fig. 3
Joint thresholding            :func:`joint_threshold_scores`              Eqs. 10-13, Fig. 4
Margin uncertainty psi        :func:`psi`                                 Sec. 3.2
Pearson / Spearman, fit       :func:`correlation`, :func:`linear_fit`     Eqs. 14-15, Fig. 5
Reliability diagram, ECE      :func:`reliability`                         Conclusion
Everything for a dataset      :func:`evaluate`, ``plot_*``                Figs. 3-5
============================  ==========================================  =====================

Tolerances
----------
A KDE map is continuous: it is exactly 1 only at its maximum and stays > 0 far beyond the annotation
until floating point underflows. "map > 0", "is 1" and "reaches level t" therefore take explicit
tolerances, so results do not depend on numerical accident. Before any count-based metric (ROC,
joint thresholds, psi, reliability, the Brier foreground) both maps are *snapped*:

* a value ``<= zero_tol`` counts as 0 ("not > 0"),
* a value ``>= 1 - one_tol`` counts as 1 ("is 1"),
* a value reaches level ``t`` when the snapped value is ``>= t - one_tol``.

The defaults are half an 8-bit step, ``0.5 / 255``: the paper's maps were most likely stored as
8-bit images, in which a value rounds to 0 exactly when it is below half a step, and to 255 (= 1)
exactly when it is within half a step of 1. Brier and soft Dice are continuous in the values and use
them unsnapped (Eqs. 8 and 9 exactly). Pass ``zero_tol=0, one_tol=0`` for exact comparisons.

Undefined values
----------------
A metric whose denominator is empty (AUC with a single class, precision with no predicted positive,
psi with no pixel > 0, soft Dice of two empty maps, a correlation of constant or fewer than 3
values) is ``NaN`` with an :class:`UndefinedMetricWarning`. Bad input (NaN or infinite values,
values outside [0, 1], shapes that do not match) raises ``ValueError``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._validation import check_choice, check_int, check_number, describe
from .construct import ConfmapWarning

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EIGHT_BIT_HALF_STEP",
    "UndefinedMetricWarning",
    "agreement",
    "brier",
    "confusion_counts",
    "correlation",
    "evaluate",
    "joint_threshold_scores",
    "linear_fit",
    "plot_joint_thresholds",
    "plot_margin_correlation",
    "plot_reliability",
    "plot_roc",
    "plot_summary",
    "psi",
    "reliability",
    "roc_auc",
    "roc_curve",
    "snap",
    "soft_dice",
]

#: The paper's binarisation levels of the Agreement map (Section 3.1.2).
DEFAULT_THRESHOLDS = (0.25, 0.5, 0.75, 1.0)
#: Half a step of an 8-bit image: the default of ``zero_tol`` and ``one_tol``.
EIGHT_BIT_HALF_STEP = 0.5 / 255


class UndefinedMetricWarning(ConfmapWarning):
    """A metric is undefined for this input (empty denominator); its value is NaN."""


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------
def _values(name, value, *, ndim=(2, 3), unit=True):
    """Return a float64 ndarray (from array-like or DataArray) checked for finiteness and range."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be an array or xarray.DataArray, got {describe(value)}")
    raw = getattr(value, "values", value) if hasattr(value, "dims") else value
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`{name}` must be a numeric array, got {describe(value)} ({exc})"
        ) from None
    if ndim is not None and arr.ndim not in ndim:
        want = " or ".join(f"{d}" for d in ndim)
        raise ValueError(
            f"`{name}` must be an image (H, W) or a stack (N, H, W) ({want} dimensions), "
            f"got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        raise ValueError(f"`{name}` must be finite, got {bad} NaN or infinite value(s)")
    if unit:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"`{name}` must have values in [0, 1], got values in [{lo:.6g}, {hi:.6g}]"
            )
    return arr


def _pair(pred, target, pred_name="pred", target_name="target"):
    p = _values(pred_name, pred)
    t = _values(target_name, target)
    if p.shape != t.shape:
        raise ValueError(
            f"`{pred_name}` and `{target_name}` must have the same shape, "
            f"got {p.shape} and {t.shape}"
        )
    return p, t


def _tols(zero_tol, one_tol):
    z = check_number("zero_tol", zero_tol, minimum=0.0, maximum=0.25)
    o = check_number("one_tol", one_tol, minimum=0.0, maximum=0.25)
    return z, o


def _thresholds(thresholds, one_tol):
    try:
        ts = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=float))]
    except (TypeError, ValueError):
        raise TypeError(
            f"`thresholds` must be numbers in (0, 1], got {describe(thresholds)}"
        ) from None
    if not ts:
        raise ValueError("`thresholds` must hold at least one level, got none")
    for t in ts:
        if not (0.0 < t <= 1.0):
            raise ValueError(f"`thresholds` must lie in (0, 1], got {t!r}")
    if len(set(ts)) != len(ts) or ts != sorted(ts):
        raise ValueError(f"`thresholds` must be strictly increasing, got {ts}")
    return np.asarray(ts)


def _region_mask(region, p_snap, t_snap, name="region"):
    """None -> all pixels; "foreground" -> union of snapped values > 0; bool array -> itself."""
    if region is None or (isinstance(region, str) and region == "all"):
        return None
    if isinstance(region, str):
        check_choice(name, region, ("all", "foreground", "union"))
        return (p_snap > 0) | (t_snap > 0)
    arr = np.asarray(getattr(region, "values", region))
    if arr.dtype != bool:
        raise TypeError(
            f"`{name}` must be None, 'all', 'foreground' or a bool array, got {describe(arr)}"
        )
    try:
        return np.broadcast_to(arr, p_snap.shape)
    except ValueError:
        raise ValueError(
            f"`{name}` must broadcast to the images' shape {p_snap.shape}, got shape {arr.shape}"
        ) from None


def _warn(message, stacklevel=3):
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


def _scalar_or_array(values, single):
    return float(values[0]) if single else values


def snap(values, *, zero_tol=EIGHT_BIT_HALF_STEP, one_tol=EIGHT_BIT_HALF_STEP):
    """Apply the tolerances: values ``<= zero_tol`` become 0, values ``>= 1 - one_tol`` become 1.

    Parameters
    ----------
    values : array_like, shape (H, W) or (N, H, W), values in [0, 1]
        A confidence or Agreement map, or a stack.
    zero_tol, one_tol : float, default 0.5/255
        Tolerances of "is 0" and "is 1" (half an 8-bit step by default).

    Returns
    -------
    ndarray of float64, same shape
        The snapped values; everything strictly between the tolerances is unchanged.

    Notes
    -----
    This is the rule behind the paper's "0 < conf" and "conf < 1" (Section 3.2) and its binary
    thresholds (Section 3.1.2) for a continuous KDE map (Eq. 7), see the module docstring.

    Examples
    --------
    >>> snap([[0.001, 0.5, 0.999]]).tolist()
    [[0.0, 0.5, 1.0]]
    """
    v = _values("values", values)
    z, o = _tols(zero_tol, one_tol)
    return _snap(v, z, o)


def _snap(v, z, o):
    out = np.where(v <= z, 0.0, v)
    if o > 0:
        np.copyto(out, 1.0, where=out >= 1.0 - o)
    return out


# ---------------------------------------------------------------------------------------------
# Agreement, Brier, soft Dice (Section 3.1.1)
# ---------------------------------------------------------------------------------------------
def agreement(masks, *, axis=None):
    """The raters' Agreement map: the mean of binary masks over the rater axis.

    Parameters
    ----------
    masks : array_like or xarray.DataArray of {0, 1} (or bool)
        Binary masks, e.g. shape (R, H, W) or (N, R, H, W).
    axis : int or str, optional
        The rater axis. A string names a DataArray dimension. Default: the ``"rater"`` dimension
        of a DataArray, or axis 0 of a 3-dimensional array (other arrays must name it).

    Returns
    -------
    ndarray of float64 (or xarray.DataArray for DataArray input)
        The Agreement, values ``k / R`` in [0, 1], with the rater axis removed.

    Raises
    ------
    ValueError
        If a value is not 0 or 1, the axis is ambiguous or missing, or there are no raters.

    Notes
    -----
    Section 3.1.1: ``Agreement = (A1 + A2 + A3 + A4) / 4`` for four raters' binary annotations
    ``A_i``; here any number of raters.

    Examples
    --------
    >>> agreement([[[1, 1]], [[1, 0]], [[0, 0]], [[1, 0]]]).tolist()
    [[0.75, 0.25]]
    """
    is_da = hasattr(masks, "dims") and hasattr(masks, "values")
    if is_da:
        dim = axis if axis is not None else "rater"
        if isinstance(dim, str):
            if dim not in masks.dims:
                raise ValueError(
                    f"`axis` {dim!r} is not a dimension of `masks`, got dims {masks.dims}"
                )
            _check_binary(masks.values)
            if masks.sizes[dim] == 0:
                raise ValueError("`masks` must hold at least one rater, got 0")
            return masks.astype(np.float64).mean(dim)
        arr = masks.values
    else:
        arr = np.asarray(masks)
    if arr.dtype == object:
        raise TypeError(f"`masks` must be a numeric array, got {describe(arr)}")
    if axis is None:
        if arr.ndim != 3:
            raise ValueError(
                "`axis` must be given for masks that are not (R, H, W): got shape "
                f"{arr.shape}; e.g. axis=1 for (N, R, H, W)"
            )
        axis = 0
    if isinstance(axis, str):
        raise TypeError(
            f"`axis` may be a dimension name only for an xarray.DataArray, got {axis!r}"
        )
    axis = check_int("axis", axis, minimum=-arr.ndim, maximum=arr.ndim - 1)
    if arr.shape[axis] == 0:
        raise ValueError("`masks` must hold at least one rater, got 0")
    _check_binary(arr)
    return arr.astype(np.float64).mean(axis=axis)


def _check_binary(arr):
    a = np.asarray(arr)
    if a.dtype == bool:
        return
    bad = ~((a == 0) | (a == 1))
    if bad.any():
        raise ValueError(
            f"`masks` must be binary (0 or 1), got {int(bad.sum())} other value(s), "
            f"e.g. {a[bad].flat[0]!r}"
        )


def brier(pred, target, *, region=None, zero_tol=EIGHT_BIT_HALF_STEP, one_tol=EIGHT_BIT_HALF_STEP):
    """Brier score, the mean squared difference of map and target (Eq. 8), per image.

    Parameters
    ----------
    pred : array_like, (H, W) or (N, H, W), values in [0, 1]
        The confidence map(s) ``p``.
    target : array_like, same shape, values in [0, 1]
        The Agreement map(s) ``y`` (soft targets allowed).
    region : None, "all", "foreground" or bool array, optional
        Pixels to average over. None/"all": the whole image. "foreground": the paper's foreground,
        the union of ``pred > zero_tol`` and ``target > zero_tol``. A bool array (broadcastable,
        e.g. a field of view) selects pixels directly.
    zero_tol, one_tol : float, default 0.5/255
        Tolerances of "> 0" (see :func:`snap`); only the region uses them, the score uses the
        unsnapped values.

    Returns
    -------
    float, or ndarray of shape (N,) for a stack
        ``mean((p - y)**2)`` over the region; lower is better. NaN with an
        :class:`UndefinedMetricWarning` where the region is empty.

    Notes
    -----
    Eq. 8, ``Brier = 1/n sum (p_i - y_i)^2``. The paper reports 0.00762 on the whole image and
    0.0437 on the foreground. Averages over a dataset are the mean of the per-image values.

    Examples
    --------
    >>> brier([[0.0, 0.5]], [[0.0, 1.0]])
    0.125
    >>> brier([[0.0, 0.5]], [[0.0, 1.0]], region="foreground")
    0.25
    """
    p, t = _pair(pred, target)
    z, o = _tols(zero_tol, one_tol)
    single = p.ndim == 2
    p3, t3 = (p[None], t[None]) if single else (p, t)
    mask = _region_mask(region, _snap(p3, z, o), _snap(t3, z, o))
    out = _brier_stack(p3, t3, mask)
    if np.isnan(out).any():
        _warn(f"Brier score undefined (empty region) for {int(np.isnan(out).sum())} image(s): NaN")
    return _scalar_or_array(out, single)


def _brier_stack(p3, t3, mask):
    sq = (p3 - t3) ** 2
    if mask is None:
        return sq.reshape(len(sq), -1).mean(axis=1)
    n = mask.reshape(len(sq), -1).sum(axis=1)
    s = np.where(mask, sq, 0.0).reshape(len(sq), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def soft_dice(pred, target):
    """Soft Dice as the paper reports it: ``1 - 2 sum(p y) / (sum p^2 + sum y^2)`` (Eq. 9).

    Parameters
    ----------
    pred : array_like, (H, W) or (N, H, W), values in [0, 1]
        The confidence map(s).
    target : array_like, same shape, values in [0, 1]
        The Agreement map(s).

    Returns
    -------
    float, or ndarray of shape (N,) for a stack
        In [0, 1]; **lower is better** (0 when ``pred == target``), the orientation of the paper,
        which reports an average of 0.076. NaN with an :class:`UndefinedMetricWarning` when both
        images are all zero (0 / 0).

    Notes
    -----
    Eq. 9 over all pixels of each image; averages over a dataset are means of per-image values.

    Examples
    --------
    >>> soft_dice([[1.0, 0.0]], [[1.0, 1.0]])  # 1 - 2*1/(1 + 2)
    0.33333333333333337
    """
    p, t = _pair(pred, target)
    single = p.ndim == 2
    p3, t3 = (p[None], t[None]) if single else (p, t)
    out = _soft_dice_stack(p3, t3)
    if np.isnan(out).any():
        _warn(
            f"soft Dice undefined (both maps all zero) for {int(np.isnan(out).sum())} image(s): NaN"
        )
    return _scalar_or_array(out, single)


def _soft_dice_stack(p3, t3):
    n = len(p3)
    pf, tf = p3.reshape(n, -1), t3.reshape(n, -1)
    num = 2.0 * np.einsum("ij,ij->i", pf, tf)
    den = np.einsum("ij,ij->i", pf, pf) + np.einsum("ij,ij->i", tf, tf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1.0), np.nan)


# ---------------------------------------------------------------------------------------------
# ROC (Figure 3): exact, on tie groups of unique score values
# ---------------------------------------------------------------------------------------------
def _key_offset(pos_scores, nbits):
    """Bit pattern of the smallest score, if all scores' bit patterns fit in 63 - nbits bits.

    Non-negative doubles sort like their IEEE bit patterns, so ``(bits - lo) << nbits | level`` is
    an integer key that sorts by score, then level, with one fast ``np.sort`` instead of an argsort.
    None when the range is too wide (scores spanning hundreds of binary orders of magnitude).
    """
    if pos_scores.size == 0:
        return None
    lo = np.uint64(np.float64(pos_scores.min()).view(np.uint64))
    hi = np.uint64(np.float64(pos_scores.max()).view(np.uint64))
    return lo if int(hi - lo) < (1 << (63 - nbits)) else None


def _sort_pairs(scores, levels, lo, nbits):
    """``scores`` (> 0) ascending with their ``levels``; ties in any order."""
    if lo is None:
        order = np.argsort(scores, kind="stable")
        return scores[order], levels[order].astype(np.int64)
    key = np.ascontiguousarray(scores, dtype=np.float64).view(np.uint64) - lo
    key <<= np.uint64(nbits)
    key |= levels.astype(np.uint64)
    key.sort()
    lv = (key & np.uint64((1 << nbits) - 1)).astype(np.int64)
    key >>= np.uint64(nbits)
    key += lo
    return key.view(np.float64), lv


class _Part:
    """Counts of the positive-score pixels of one sample set, for K nested thresholds.

    Built from the positive scores sorted ascending (``s_asc``) and their levels (``lv_asc``; a
    pixel is a positive for threshold k when its level > k):

    * ``tps`` (K, m): positives with score >= each distinct score, descending order;
    * ``cum`` (m,): pixels with score >= each distinct score;
    * ``thresholds`` (m,): the distinct scores, descending;
    * ``level_counts`` (K + 1,) and ``mid2`` (K + 1,): per level, the pixel count and the sum of
      doubled mid-ranks (ranks ascending among the positive-score pixels) -- the Mann-Whitney
      statistic, from which the AUC follows without building the curve.
    """

    def __init__(self, s_asc, lv_asc, K):
        n = len(s_asc)
        self.n, self.K = n, K
        if n == 0:
            self.tps = np.zeros((K, 0), np.int64)
            self.cum = np.zeros(0, np.int64)
            self.thresholds = np.zeros(0)
            self.level_counts = np.zeros(K + 1, np.int64)
            self.mid2 = [0] * (K + 1)
            return
        first = np.empty(n, bool)
        first[0] = True
        np.not_equal(s_asc[1:], s_asc[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, n))
        idx = np.int32 if n < 2**31 - 1 else np.int64  # halves the memory traffic
        gid = np.cumsum(first, dtype=idx) - 1
        pix_mid2 = (2 * starts + counts + 1)[gid]  # doubled mid-rank, 1-based
        self.level_counts = np.bincount(lv_asc, minlength=K + 1).astype(np.int64)
        if 2.0 * n * n < 2.0**52:  # float sums of integers stay exact
            self.mid2 = [int(v) for v in np.bincount(lv_asc, weights=pix_mid2, minlength=K + 1)]
        else:
            self.mid2 = [int(pix_mid2[lv_asc == lv].sum(dtype=np.int64)) for lv in range(K + 1)]
        tps = np.empty((K, len(starts)), np.int64)
        for k in range(K):
            c = np.cumsum(lv_asc > k, dtype=idx)
            before = c[starts - 1]
            before[0] = 0
            tps[k] = (c[-1] - before)[::-1]
        self.tps = tps
        self.cum = (n - starts)[::-1]
        self.thresholds = s_asc[starts][::-1]


def _zero_split(zero_levels, K):
    zl = np.asarray(zero_levels, np.int64)
    zpos = np.array([zl[k + 1 :].sum() for k in range(K)], np.int64)
    return int(zl.sum()), zpos


def _totals(part, zero_levels):
    """P and N (K,) of the positive part plus the score-0 group."""
    K = part.K
    z, zpos = _zero_split(zero_levels, K)
    ppos = np.array([part.level_counts[k + 1 :].sum() for k in range(K)], np.int64)
    P = ppos + zpos
    return P, part.n + z - P


def _auc_ranks(part, zero_levels):
    """Exact AUC (K,) from the Mann-Whitney statistic with mid-ranks (ties count one half)."""
    K = part.K
    z, zpos = _zero_split(zero_levels, K)
    out = np.full(K, np.nan)
    P, N = _totals(part, zero_levels)
    for k in range(K):
        p, n_ = int(P[k]), int(N[k])
        if p == 0 or n_ == 0:
            continue
        ppos = int(part.level_counts[k + 1 :].sum())
        # doubled rank sum of the positives: score-0 group first (ranks 1..z), then the rest
        s2 = sum(part.mid2[k + 1 :]) + 2 * z * ppos + int(zpos[k]) * (z + 1)
        out[k] = (s2 - p * (p + 1)) / (2.0 * p * n_)
    return out


def _roc_arrays(part, zero_levels):
    """The exact curve as integer arrays: ``fps, tps`` (K, m + 1 [+ 1]) from (0, 0), thresholds."""
    K = part.K
    z, zpos = _zero_split(zero_levels, K)
    tps, fps, thr = part.tps, part.cum[None, :] - part.tps, part.thresholds
    if z > 0:
        last_t = tps[:, -1] if tps.shape[1] else np.zeros(K, np.int64)
        last_f = fps[:, -1] if fps.shape[1] else np.zeros(K, np.int64)
        tps = np.concatenate([tps, (last_t + zpos)[:, None]], axis=1)
        fps = np.concatenate([fps, (last_f + z - zpos)[:, None]], axis=1)
        thr = np.append(thr, 0.0)
    zeros = np.zeros((K, 1), np.int64)
    return np.concatenate([zeros, fps], axis=1), np.concatenate([zeros, tps], axis=1), thr


def _sample_part(part, zero_levels, grid):
    """TPR of the exact curve at each FPR of ``grid`` (linear between vertices; at a vertical
    segment its top), without building the full curve: a binary search per grid point."""
    K = part.K
    z, zpos = _zero_split(zero_levels, K)
    P, N = _totals(part, zero_levels)
    out = np.full((K, len(grid)), np.nan)
    for k in range(K):
        if P[k] == 0 or N[k] == 0:
            continue
        T = part.tps[k]
        F = part.cum - T
        # vertices: (0, 0), (F_j, T_j) for j < m, and the end (N, P) (the score-0 group, or F[-1])
        x = grid * N[k]
        j = np.searchsorted(F, x, side="right")  # F[j-1] <= x < F[j]
        m = len(F)
        f_prev = np.where(j > 0, F[np.maximum(j - 1, 0)] if m else 0, 0).astype(float)
        t_prev = np.where(j > 0, T[np.maximum(j - 1, 0)] if m else 0, 0).astype(float)
        f_next = np.where(j < m, F[np.minimum(j, m - 1)] if m else N[k], N[k]).astype(float)
        t_next = np.where(j < m, T[np.minimum(j, m - 1)] if m else P[k], P[k]).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(f_next > f_prev, (x - f_prev) / (f_next - f_prev), 1.0)
        out[k] = (t_prev + np.clip(frac, 0.0, 1.0) * (t_next - t_prev)) / P[k]
    return out


def _roc_of(scores, levels, K):
    """ROC counts of 1-D snapped scores and their levels (the whole pipeline for one sample set)."""
    nbits = max(1, int(K).bit_length())
    pos = scores > 0
    sp = scores[pos]
    s_asc, lv_asc = _sort_pairs(sp, levels[pos], _key_offset(sp, nbits), nbits)
    zero_levels = np.bincount(levels[~pos], minlength=K + 1)
    return _Part(s_asc, lv_asc, K), zero_levels


def _levels(t_snap, thresholds, o):
    if len(thresholds) > 255:
        raise ValueError(f"`thresholds` may hold at most 255 levels, got {len(thresholds)}")
    lv = np.zeros(t_snap.shape, np.uint8)
    for thr in thresholds:
        lv += t_snap >= thr - o
    return lv


def roc_curve(
    score,
    target,
    *,
    threshold=0.5,
    region=None,
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
):
    """Exact ROC curve of the map against the target binarised at one level.

    Every pixel of the input (an image, or a whole stack pooled) is one sample; ties in the score
    give one diagonal segment, as in scikit-learn.

    Parameters
    ----------
    score : array_like, (H, W) or (N, H, W), values in [0, 1]
        The confidence map(s): the score.
    target : array_like, same shape, values in [0, 1]
        The Agreement map(s); a pixel is positive when it reaches ``threshold``.
    threshold : float in (0, 1], default 0.5
        Binarisation level of the target (the paper uses 0.25, 0.5, 0.75, 1.0).
    region : None, "all", "foreground" or bool array, optional
        Pixels included: all, the union of snapped map > 0 and target > 0 (Figure 3, right), or a
        mask.
    zero_tol, one_tol : float, default 0.5/255
        Tolerances (:func:`snap`): the score is snapped before ranking, so values below
        ``zero_tol`` tie at 0 and the far tail of a KDE map cannot change the curve.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
        Like ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``: the first point is
        ``(0, 0)`` with threshold ``inf``, then one point per distinct score, descending. With a
        single class ``fpr`` or ``tpr`` is NaN and an :class:`UndefinedMetricWarning` is issued.

    Notes
    -----
    Figure 3 of the paper (ROC of the map against the Agreement thresholded at four levels).

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([[0.1, 0.4, 0.35, 0.8]], [[0, 0, 1, 1]], zero_tol=0, one_tol=0)
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s, t = _pair(score, target, "score", "target")
    z, o = _tols(zero_tol, one_tol)
    thr = _thresholds([threshold], o)
    ss, ts = _snap(s, z, o), _snap(t, z, o)
    mask = _region_mask(region, ss, ts)
    if mask is not None:
        ss, ts = ss[mask], ts[mask]
    part, zl = _roc_of(ss.ravel(), _levels(ts.ravel(), thr, o), 1)
    fps, tps, u_desc = _roc_arrays(part, zl)
    P, N = _totals(part, zl)
    if P[0] == 0 or N[0] == 0:
        _warn(
            f"ROC undefined at threshold {threshold}: "
            f"only {'negatives' if P[0] == 0 else 'positives'}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps[0] / N[0] if N[0] > 0 else np.full(fps.shape[1], np.nan)
        tpr = tps[0] / P[0] if P[0] > 0 else np.full(tps.shape[1], np.nan)
    return fpr, tpr, np.concatenate([[np.inf], u_desc])


def roc_auc(
    score,
    target,
    *,
    threshold=0.5,
    region=None,
    pooled=False,
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
):
    """Exact area under the ROC curve, per image or pooled over a stack.

    Parameters
    ----------
    score, target, threshold, region, zero_tol, one_tol
        As in :func:`roc_curve`.
    pooled : bool, default False
        For a stack, one AUC over all pixels of all images instead of one per image.

    Returns
    -------
    float, or ndarray (N,) for a stack with ``pooled=False``
        The AUC (ties count one half, equal to ``sklearn.metrics.roc_auc_score`` on the snapped
        score). NaN with an :class:`UndefinedMetricWarning` where the binarised target has a single
        class.

    Notes
    -----
    Figure 3. The area is the Mann-Whitney statistic with mid-ranks for ties, summed in integers
    and divided once, so it is exact up to the final rounding.

    Examples
    --------
    >>> roc_auc([[0.1, 0.4, 0.35, 0.8]], [[0, 0, 1, 1]], zero_tol=0, one_tol=0)
    0.75
    """
    s, t = _pair(score, target, "score", "target")
    z, o = _tols(zero_tol, one_tol)
    thr = _thresholds([threshold], o)
    single = s.ndim == 2
    ss, ts = _snap(s, z, o), _snap(t, z, o)
    mask = _region_mask(region, ss, ts)
    if mask is not None:
        mask = np.ascontiguousarray(mask)
    if single or pooled:
        ss, ts = ss.reshape(1, -1), ts.reshape(1, -1)
        mask = None if mask is None else mask.reshape(1, -1)
    out = np.empty(len(ss))
    for i in range(len(ss)):
        si, ti = (ss[i], ts[i]) if mask is None else (ss[i][mask[i]], ts[i][mask[i]])
        part, zl = _roc_of(si.ravel(), _levels(ti.ravel(), thr, o), 1)
        out[i] = _auc_ranks(part, zl)[0]
    if np.isnan(out).any():
        _warn(
            f"AUC undefined (single class at threshold {threshold}) "
            f"for {int(np.isnan(out).sum())} image(s): NaN"
        )
    return _scalar_or_array(out, single or pooled)


# ---------------------------------------------------------------------------------------------
# Joint thresholding (Figure 4, Eqs. 10-13)
# ---------------------------------------------------------------------------------------------
def confusion_counts(
    pred,
    target,
    *,
    thresholds=DEFAULT_THRESHOLDS,
    region=None,
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
):
    """TP, FP, FN, TN of map and target both binarised at each level.

    Parameters
    ----------
    pred, target : array_like, (H, W) or (N, H, W), values in [0, 1]
        Confidence map(s) and Agreement map(s).
    thresholds : sequence of float in (0, 1], strictly increasing, default (0.25, 0.5, 0.75, 1.0)
        The levels; a pixel is positive when its snapped value is ``>= level - one_tol``.
    region : None, "all", "foreground" or bool array, optional
        Pixels counted (see :func:`brier`).
    zero_tol, one_tol : float, default 0.5/255
        Tolerances (:func:`snap`).

    Returns
    -------
    dict of ndarray of int64
        ``"tp", "fp", "fn", "tn"``, each of shape (K,) for an image or (N, K) for a stack.

    Notes
    -----
    The counts behind Eqs. 10-13 (Figure 4).

    Examples
    --------
    >>> c = confusion_counts([[0.9, 0.3]], [[1.0, 0.5]], thresholds=[0.5])
    >>> [int(c[k][0]) for k in ("tp", "fp", "fn", "tn")]
    [1, 0, 1, 0]
    """
    p, t = _pair(pred, target)
    z, o = _tols(zero_tol, one_tol)
    thr = _thresholds(thresholds, o)
    single = p.ndim == 2
    p3, t3 = (p[None], t[None]) if single else (p, t)
    ps, ts = _snap(p3, z, o), _snap(t3, z, o)
    mask = _region_mask(region, ps, ts)
    counts = _confusion_stack(ps, ts, thr, o, mask)
    return {k: (v[0] if single else v) for k, v in counts.items()}


def _confusion_stack(ps, ts, thr, o, mask):
    n = len(ps)
    flat_mask = None if mask is None else np.ascontiguousarray(mask).reshape(n, -1)
    pf, tf = ps.reshape(n, -1), ts.reshape(n, -1)
    total = pf.shape[1] if flat_mask is None else flat_mask.sum(axis=1)
    out = {k: np.empty((n, len(thr)), np.int64) for k in ("tp", "fp", "fn", "tn")}
    for j, level in enumerate(thr):
        pb = pf >= level - o
        tb = tf >= level - o
        if flat_mask is not None:
            pb &= flat_mask
            tb &= flat_mask
        tp = np.count_nonzero(pb & tb, axis=1)
        npred = np.count_nonzero(pb, axis=1)
        ntrue = np.count_nonzero(tb, axis=1)
        out["tp"][:, j] = tp
        out["fp"][:, j] = npred - tp
        out["fn"][:, j] = ntrue - tp
        out["tn"][:, j] = total - npred - ntrue + tp
    return out


def _scores_from_counts(tp, fp, fn, tn):
    tp, fp, fn, tn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, tn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        total = tp + fp + fn + tn
        accuracy = np.where(total > 0, (tp + tn) / total, np.nan)
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}


def joint_threshold_scores(
    pred,
    target,
    *,
    thresholds=DEFAULT_THRESHOLDS,
    region=None,
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
):
    """Precision, recall, F1 and accuracy of map and Agreement both binarised at each level.

    Parameters
    ----------
    pred, target, thresholds, region, zero_tol, one_tol
        As in :func:`confusion_counts`.

    Returns
    -------
    dict of ndarray
        ``"precision", "recall", "f1", "accuracy"`` (float) and the counts ``"tp", "fp", "fn",
        "tn"``, each (K,) for an image or (N, K) for a stack. A score with an empty denominator
        (e.g. precision with no predicted positive) is NaN with an :class:`UndefinedMetricWarning`.

    Notes
    -----
    Eqs. 10-13 and Figure 4. F1 is computed as ``2 TP / (2 TP + FP + FN)``, equal to Eq. 12
    wherever Eq. 12 is defined, and 0 (not NaN) when TP = 0 but FP + FN > 0, as in scikit-learn.

    Examples
    --------
    >>> s = joint_threshold_scores([[0.9, 0.3, 0.6]], [[1.0, 0.5, 0.75]], thresholds=[0.5])
    >>> float(s["precision"][0]), float(s["recall"][0])
    (1.0, 0.6666666666666666)
    """
    counts = confusion_counts(
        pred, target, thresholds=thresholds, region=region, zero_tol=zero_tol, one_tol=one_tol
    )
    scores = _scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    bad = [k for k, v in scores.items() if np.isnan(v).any()]
    if bad:
        _warn(f"undefined (empty denominator, NaN): {', '.join(bad)}")
    return {**scores, **counts}


# ---------------------------------------------------------------------------------------------
# Margin uncertainty (Section 3.2, Figure 5)
# ---------------------------------------------------------------------------------------------
def psi(values, *, zero_tol=EIGHT_BIT_HALF_STEP, one_tol=EIGHT_BIT_HALF_STEP):
    """Margin uncertainty: the percentage of non-1 values among the non-0 values.

    Parameters
    ----------
    values : array_like, (H, W) or (N, H, W), values in [0, 1]
        A confidence map (gives psi_conf) or an Agreement map (gives psi_agree), or a stack.
    zero_tol, one_tol : float, default 0.5/255
        "0 <" means ``> zero_tol``, "< 1" means ``< 1 - one_tol`` (:func:`snap`).

    Returns
    -------
    float, or ndarray (N,) for a stack
        ``100 * #{0 < v < 1} / #{0 < v}``, in [0, 100]. NaN with an
        :class:`UndefinedMetricWarning` when no value is > 0.

    Notes
    -----
    Section 3.2, psi_conf and psi_agree.

    Examples
    --------
    >>> psi([[0.0, 0.25, 0.5, 1.0]])
    66.66666666666667
    """
    v = _values("values", values)
    z, o = _tols(zero_tol, one_tol)
    single = v.ndim == 2
    v3 = v[None] if single else v
    out = _psi_stack(_snap(v3, z, o))
    if np.isnan(out).any():
        _warn(f"psi undefined (no value > 0) for {int(np.isnan(out).sum())} image(s): NaN")
    return _scalar_or_array(out, single)


def _psi_stack(s3):
    n = len(s3)
    f = s3.reshape(n, -1)
    pos = np.count_nonzero(f > 0, axis=1)
    ones = np.count_nonzero(f >= 1.0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pos > 0, 100.0 * (pos - ones) / np.maximum(pos, 1), np.nan)


def _ranks(x):
    """Average ranks (1-based), ties sharing the mean rank (as ``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.concatenate([[True], xs[1:] != xs[:-1]])
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [len(x)]]) - 1
    avg = (first + last) / 2.0 + 1.0
    r = np.empty(len(x))
    r[order] = avg[group]
    return r


def _pearson(x, y):
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc)) * math.sqrt(float(yc @ yc))
    if den == 0.0:
        return np.nan
    return float(np.clip((xc @ yc) / den, -1.0, 1.0))


def _t_pvalue(r, n):
    from scipy.special import stdtr

    if not np.isfinite(r) or n < 3:
        return np.nan
    if abs(r) == 1.0:
        return 0.0
    tstat = r * math.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * stdtr(n - 2, -abs(tstat)))


def correlation(x, y):
    """Pearson and Spearman correlation of two samples, with two-sided p-values.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Paired values, e.g. psi_agree and psi_conf of n images. Pairs with a NaN are dropped.

    Returns
    -------
    dict
        ``pearson_r, pearson_p, spearman_rho, spearman_p`` (floats) and ``n`` (pairs used). NaN
        with an :class:`UndefinedMetricWarning` with fewer than 3 pairs or a constant sample.

    Notes
    -----
    Eq. 14 (Pearson) and Eq. 15 (Spearman: Pearson's r of the average ranks, which equals Eq. 15
    when there are no ties). p-values from Student's t with n - 2 degrees of freedom, as
    ``scipy.stats.pearsonr`` / ``spearmanr``. The paper measures r = 0.80 and rho = 0.75.

    Examples
    --------
    >>> c = correlation([1, 2, 3, 4], [1, 3, 2, 5])
    >>> round(c["pearson_r"], 4), round(c["spearman_rho"], 4)
    (0.8315, 0.8)
    """
    xv, yv = _xy(x, y)
    n = len(xv)
    out = {
        "n": n,
        "pearson_r": np.nan,
        "pearson_p": np.nan,
        "spearman_rho": np.nan,
        "spearman_p": np.nan,
    }
    if n < 3:
        _warn(f"correlation undefined with {n} pair(s) (3 needed): NaN")
        return out
    r = _pearson(xv, yv)
    rho = _pearson(_ranks(xv), _ranks(yv))
    if np.isnan(r) or np.isnan(rho):
        _warn("correlation undefined for a constant sample: NaN")
    out.update(
        pearson_r=r, pearson_p=_t_pvalue(r, n), spearman_rho=rho, spearman_p=_t_pvalue(rho, n)
    )
    return out


def _xy(x, y):
    xv = np.asarray(getattr(x, "values", x), dtype=np.float64).ravel()
    yv = np.asarray(getattr(y, "values", y), dtype=np.float64).ravel()
    if xv.shape != yv.shape:
        raise ValueError(f"`x` and `y` must have the same length, got {xv.size} and {yv.size}")
    if np.isinf(xv).any() or np.isinf(yv).any():
        raise ValueError("`x` and `y` must not hold infinite values")
    keep = ~(np.isnan(xv) | np.isnan(yv))
    return xv[keep], yv[keep]


def linear_fit(x, y, *, x_grid=None, level=0.95):
    """Least-squares line ``y = slope x + intercept`` with the confidence band of the mean.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Paired values (NaN pairs dropped), e.g. psi_agree (x) and psi_conf (y).
    x_grid : array_like, optional
        Where to evaluate the line and band; default 101 points over ``[min x, max x]``.
    level : float in (0, 1), default 0.95
        Confidence level of the band.

    Returns
    -------
    dict
        ``slope, intercept, slope_stderr, intercept_stderr, n`` and arrays ``x, y, lower, upper``
        (the band ``yhat +- t_{(1+level)/2, n-2} s sqrt(1/n + (x - xbar)^2 / Sxx)``). NaN with an
        :class:`UndefinedMetricWarning` with fewer than 3 pairs or constant ``x``.

    Notes
    -----
    The linear regression with 95% confidence interval of Figure 5.

    Examples
    --------
    >>> f = linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
    >>> float(f["slope"]), float(f["intercept"])
    (2.0, 1.0)
    """
    from scipy.special import stdtrit

    level = check_number("level", level, minimum=0.0, maximum=1.0, strict_min=True)
    if level >= 1.0:
        raise ValueError(f"`level` must be < 1, got {level}")
    xv, yv = _xy(x, y)
    n = len(xv)
    grid = (
        np.linspace(xv.min(), xv.max(), 101)
        if x_grid is None and n
        else np.asarray(x_grid if x_grid is not None else [], float)
    )
    nan = np.full(grid.shape, np.nan)
    out = {
        "n": n,
        "slope": np.nan,
        "intercept": np.nan,
        "slope_stderr": np.nan,
        "intercept_stderr": np.nan,
        "x": grid,
        "y": nan,
        "lower": nan,
        "upper": nan,
    }
    xbar = xv.mean() if n else np.nan
    sxx = float(((xv - xbar) ** 2).sum()) if n else 0.0
    if n < 3 or sxx == 0.0:
        _warn(
            f"linear fit undefined ({n} pair(s), {'constant' if sxx == 0 else 'varying'} x; "
            "3 varying needed): NaN"
        )
        return out
    ybar = yv.mean()
    slope = float(((xv - xbar) * (yv - ybar)).sum() / sxx)
    intercept = float(ybar - slope * xbar)
    resid = yv - (intercept + slope * xv)
    s2 = float(resid @ resid) / (n - 2)
    se_slope = math.sqrt(s2 / sxx)
    se_int = math.sqrt(s2 * (1.0 / n + xbar**2 / sxx))
    yhat = intercept + slope * grid
    tq = float(stdtrit(n - 2, 0.5 + level / 2.0))
    half = tq * np.sqrt(s2 * (1.0 / n + (grid - xbar) ** 2 / sxx))
    out.update(
        slope=slope,
        intercept=intercept,
        slope_stderr=se_slope,
        intercept_stderr=se_int,
        y=yhat,
        lower=yhat - half,
        upper=yhat + half,
    )
    return out


# ---------------------------------------------------------------------------------------------
# Reliability diagram (the conclusion's "average bin accuracy")
# ---------------------------------------------------------------------------------------------
def reliability(
    pred,
    target,
    *,
    n_bins=10,
    region="foreground",
    zero_tol=EIGHT_BIT_HALF_STEP,
    one_tol=EIGHT_BIT_HALF_STEP,
):
    """Reliability diagram of map confidence against mean Agreement, pooled over all pixels given.

    Parameters
    ----------
    pred, target : array_like, (H, W) or (N, H, W), values in [0, 1]
        Confidence map(s) and Agreement map(s) (all images are pooled).
    n_bins : int, default 10
        Equal-width bins on [0, 1]; bin ``b`` holds ``b/n <= c < (b+1)/n``, the last also ``c = 1``.
    region : None, "all", "foreground" or bool array, default "foreground"
        Pixels used. The default, the union of map > 0 and Agreement > 0, keeps the many
        background pixels (both 0) from dominating the summary.
    zero_tol, one_tol : float, default 0.5/255
        Tolerances (:func:`snap`), applied to both maps before binning.

    Returns
    -------
    dict
        ``edges`` (n_bins + 1,), ``count`` (n_bins,) int, ``confidence`` and ``agreement``
        (n_bins,) mean snapped map and mean Agreement per bin (NaN in empty bins), and the
        summaries ``ece`` (count-weighted mean of ``|agreement - confidence|``), ``mce`` (its
        maximum over non-empty bins) and ``mean_gap`` (its unweighted mean over non-empty bins).
        NaN summaries with an :class:`UndefinedMetricWarning` when the region is empty.

    Notes
    -----
    The paper's conclusion reports "a reliability diagram ... and an average bin accuracy of 0.1".
    The paper does not define it; read as an error (lower is better), it is most plausibly the
    unweighted mean gap ``mean_gap`` over bins. ``ece`` is the usual expected calibration error,
    which weights each bin by its pixel count.

    Examples
    --------
    >>> r = reliability([[0.05, 0.15, 0.95]], [[0.0, 0.25, 1.0]], n_bins=2)
    >>> r["count"].tolist(), r["agreement"].tolist()
    ([2, 1], [0.125, 1.0])
    """
    p, t = _pair(pred, target)
    z, o = _tols(zero_tol, one_tol)
    n_bins = check_int("n_bins", n_bins, minimum=1, maximum=10_000)
    ps, ts = _snap(p, z, o), _snap(t, z, o)
    mask = _region_mask(region, ps, ts)
    if mask is not None:
        ps, ts = ps[mask], ts[mask]
    out = _reliability_core(ps.ravel(), ts.ravel(), n_bins)
    if not out["count"].any():
        _warn("reliability undefined (empty region): NaN")
    return out


def _bin_index(c, n_bins):
    return np.minimum((c * n_bins).astype(np.int64), n_bins - 1)


def _reliability_core(c, a, n_bins):
    b = _bin_index(c, n_bins)
    count = np.bincount(b, minlength=n_bins)
    sc = np.bincount(b, weights=c, minlength=n_bins)
    sa = np.bincount(b, weights=a, minlength=n_bins)
    return _reliability_summary(count, sc, sa, n_bins)


def _reliability_summary(count, sc, sa, n_bins):
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(count > 0, sc / np.maximum(count, 1), np.nan)
        agr = np.where(count > 0, sa / np.maximum(count, 1), np.nan)
    gap = np.abs(agr - conf)
    total = count.sum()
    nz = count > 0
    return {
        "edges": np.linspace(0.0, 1.0, n_bins + 1),
        "count": count.astype(np.int64),
        "confidence": conf,
        "agreement": agr,
        "ece": float((count[nz] * gap[nz]).sum() / total) if total else np.nan,
        "mce": float(gap[nz].max()) if total else np.nan,
        "mean_gap": float(gap[nz].mean()) if total else np.nan,
    }


# ---------------------------------------------------------------------------------------------
# The whole evaluation of a dataset
# ---------------------------------------------------------------------------------------------
def _stack_with_coords(name, value):
    arr = _values(name, value)
    coords = {}
    if hasattr(value, "dims") and "image" in value.dims and arr.ndim == 3:
        for cname, c in value.coords.items():
            if c.dims == ("image",):
                coords[cname] = ("image", np.asarray(c.values))
    return (arr[None] if arr.ndim == 2 else arr), coords


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
    import xarray as xr

    p, coords = _stack_with_coords("maps", maps)
    t, _ = _stack_with_coords("agreement", agreement)
    if p.shape != t.shape:
        raise ValueError(
            f"`maps` and `agreement` must have the same shape, got {p.shape} and {t.shape}"
        )
    z, o = _tols(zero_tol, one_tol)
    thr = _thresholds(thresholds, o)
    n_bins = check_int("n_bins", n_bins, minimum=1, maximum=10_000)
    fpr_points = check_int("fpr_points", fpr_points, minimum=2, maximum=100_000)
    n, K = len(p), len(thr)
    if valid is None:
        vmask = None
    else:
        varr = np.asarray(getattr(valid, "values", valid))
        if varr.dtype != bool:
            raise TypeError(f"`valid` must be a bool array, got {describe(varr)}")
        try:
            vmask = np.broadcast_to(varr, p.shape)
        except ValueError:
            raise ValueError(
                f"`valid` must broadcast to the maps' shape {p.shape}, got shape {varr.shape}"
            ) from None

    problems = []
    ps, ts = _snap(p, z, o), _snap(t, z, o)
    union = (ps > 0) | (ts > 0)
    if vmask is not None:
        union &= vmask

    # Eqs. 8-9 (unsnapped values) and psi
    brier_all = _brier_stack(p, t, vmask)
    brier_fg = _brier_stack(p, t, union)
    dice = _soft_dice_stack(p, t) if vmask is None else _soft_dice_stack(p * vmask, t * vmask)
    psv = ps if vmask is None else ps * vmask
    tsv = ts if vmask is None else ts * vmask
    psi_c, psi_a = _psi_stack(psv), _psi_stack(tsv)
    for name, arr in (
        ("brier", brier_all),
        ("brier_foreground", brier_fg),
        ("soft_dice", dice),
        ("psi_conf", psi_c),
        ("psi_agree", psi_a),
    ):
        if np.isnan(arr).any():
            problems.append(f"{name} in {int(np.isnan(arr).sum())} image(s)")

    # ROC: per image, one sort of the positive scores (packed with their levels); score-0 pixels
    # form one tie group, counted by level inside and outside the union
    grid = np.linspace(0.0, 1.0, fpr_points)
    auc = np.full((n, 2, K), np.nan)
    tpr = np.full((n, 2, K, fpr_points), np.nan)
    nbits = max(1, K.bit_length())
    levels = _levels(ts, thr, o)
    pos = ps > 0
    if vmask is not None:
        pos &= vmask
    lo = _key_offset(ps[pos], nbits)
    sorted_runs, zero_all, zero_union = [], np.zeros(K + 1, np.int64), np.zeros(K + 1, np.int64)
    it = range(n)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="ROC", unit="image")
    for i in it:
        s_asc, lv_asc = _sort_pairs(ps[i][pos[i]], levels[i][pos[i]], lo, nbits)
        sorted_runs.append((s_asc, lv_asc))
        zero = ~pos[i] if vmask is None else (vmask[i] & ~pos[i])
        z_all = np.bincount(levels[i][zero], minlength=K + 1)
        z_union = np.bincount(levels[i][zero & union[i]], minlength=K + 1)
        zero_all += z_all
        zero_union += z_union
        part = _Part(s_asc, lv_asc, K)
        for r, zl in enumerate((z_all, z_union)):
            auc[i, r] = _auc_ranks(part, zl)
            tpr[i, r] = _sample_part(part, zl, grid)
    # pooled: every pixel of every image one sample; the sorted runs are merged by one more sort
    s_all = np.concatenate([r[0] for r in sorted_runs])
    lv_all = np.concatenate([r[1] for r in sorted_runs])
    del sorted_runs
    s_asc, lv_asc = _sort_pairs(s_all, lv_all, lo, nbits)
    auc_pooled = np.full((2, K), np.nan)
    tpr_pooled = np.full((2, K, fpr_points), np.nan)
    part = _Part(s_asc, lv_asc, K)
    for r, zl in enumerate((zero_all, zero_union)):
        auc_pooled[r] = _auc_ranks(part, zl)
        tpr_pooled[r] = _sample_part(part, zl, grid)
    if np.isnan(auc).any():
        problems.append(
            f"auc in {int(np.isnan(auc).sum())} (image, region, threshold) case(s) "
            "with a single class"
        )

    # joint thresholds (Fig. 4)
    counts = _confusion_stack(ps, ts, thr, o, vmask)
    scores = _scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    pooled_scores = _scores_from_counts(*(counts[k].sum(axis=0) for k in ("tp", "fp", "fn", "tn")))
    for k, v in scores.items():
        if np.isnan(v).any():
            problems.append(f"{k} in {int(np.isnan(v).sum())} (image, threshold) case(s)")

    # margin correlation (Fig. 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        corr = correlation(psi_a, psi_c)
        fit = linear_fit(psi_a, psi_c)
    problems += [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]

    # reliability, pooled over the union
    b = _bin_index(ps[union], n_bins)
    rel = _reliability_summary(
        np.bincount(b, minlength=n_bins),
        np.bincount(b, weights=ps[union], minlength=n_bins),
        np.bincount(b, weights=ts[union], minlength=n_bins),
        n_bins,
    )
    if not rel["count"].any():
        problems.append("reliability (empty foreground)")

    if problems:
        _warn("undefined metrics are NaN: " + "; ".join(problems), stacklevel=2)

    edges = rel["edges"]
    image_coord = coords.pop("image", ("image", np.arange(n)))
    ds = xr.Dataset(
        {
            "brier": ("image", brier_all),
            "brier_foreground": ("image", brier_fg),
            "soft_dice": ("image", dice),
            "n_foreground": ("image", union.reshape(n, -1).sum(axis=1)),
            "psi_conf": ("image", psi_c),
            "psi_agree": ("image", psi_a),
            "auc": (("image", "region", "threshold"), auc),
            "auc_pooled": (("region", "threshold"), auc_pooled),
            "auc_mean": (("region", "threshold"), _nanmean(auc, axis=0)),
            "tpr": (("image", "region", "threshold", "fpr"), tpr),
            "tpr_mean": (("region", "threshold", "fpr"), _nanmean(tpr, axis=0)),
            "tpr_pooled": (("region", "threshold", "fpr"), tpr_pooled),
            **{k: (("image", "threshold"), v) for k, v in counts.items()},
            **{k: (("image", "threshold"), v) for k, v in scores.items()},
            **{f"{k}_pooled": ("threshold", v) for k, v in pooled_scores.items()},
            "pearson_r": corr["pearson_r"],
            "pearson_p": corr["pearson_p"],
            "spearman_rho": corr["spearman_rho"],
            "spearman_p": corr["spearman_p"],
            "fit_slope": fit["slope"],
            "fit_intercept": fit["intercept"],
            "fit_slope_stderr": fit["slope_stderr"],
            "fit_y": ("fit_x", fit["y"]),
            "fit_lower": ("fit_x", fit["lower"]),
            "fit_upper": ("fit_x", fit["upper"]),
            "bin_count": ("bin", rel["count"]),
            "bin_confidence": ("bin", rel["confidence"]),
            "bin_agreement": ("bin", rel["agreement"]),
            "ece": rel["ece"],
            "mce": rel["mce"],
            "mean_bin_gap": rel["mean_gap"],
        },
        coords={
            "image": image_coord,
            **coords,
            "region": ["all", "union"],
            "threshold": thr,
            "fpr": grid,
            "fit_x": fit["x"],
            "bin": np.arange(n_bins),
            "bin_lower": ("bin", edges[:-1]),
            "bin_upper": ("bin", edges[1:]),
        },
    )
    ds.attrs.update(
        zero_tol=z,
        one_tol=o,
        n_correlation_images=int(corr["n"]),
        brier_mean=float(_nanmean(brier_all)),
        brier_foreground_mean=float(_nanmean(brier_fg)),
        soft_dice_mean=float(_nanmean(dice)),
        valid_mask=int(vmask is not None),
        reference="Weld et al., Sections 3.1-3.2 and conclusion (Eqs. 8-15, Figs. 3-5)",
    )
    return ds


def _nanmean(a, axis=None):
    a = np.asarray(a, dtype=float)
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=axis)
    s = np.where(ok, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


# ---------------------------------------------------------------------------------------------
# Plots (matplotlib imported lazily)
# ---------------------------------------------------------------------------------------------
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
    fig.suptitle(
        f"{curve.capitalize()} ROC of the confidence map against the Agreement "
        f"({ds.sizes['image']} images)"
    )
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
        mean = _nanmean(v, axis=0)
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
        a2.plot(ds.threshold.values, _nanmean(ds[name].values, axis=0), "o-", label=name)
    a2.set(title="joint thresholds", xlabel="threshold", ylim=(0, 1.02))
    a2.legend(fontsize=7)
    a3.scatter(ds.psi_agree.values, ds.psi_conf.values, s=12)
    a3.plot(ds.fit_x.values, ds.fit_y.values, "k")
    a3.fill_between(
        ds.fit_x.values, ds.fit_lower.values, ds.fit_upper.values, color="0.5", alpha=0.3
    )
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
