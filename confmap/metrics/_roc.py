"""ROC curves and AUC (Figure 3): exact, on tie groups of unique score values."""

from __future__ import annotations

import numpy as np

from ._common import (
    EIGHT_BIT_HALF_STEP,
    check_thresholds,
    per_image,
    snapped_pair,
    warn_undefined,
)


def key_offset(pos_scores, nbits):
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


def sort_pairs(scores, levels, lo, nbits):
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


class RankedScores:
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


def _totals(part, zero_levels):
    """``z`` (score-0 pixels), ``zpos`` (K,) positives among them, and P, N (K,) of all pixels."""
    K = part.K
    zl = np.asarray(zero_levels, np.int64)
    z = int(zl.sum())
    zpos = np.array([zl[k + 1 :].sum() for k in range(K)], np.int64)
    P = np.array([part.level_counts[k + 1 :].sum() for k in range(K)], np.int64) + zpos
    return z, zpos, P, part.n + z - P


def auc_ranks(part, zero_levels):
    """Exact AUC (K,) from the Mann-Whitney statistic with mid-ranks (ties count one half)."""
    z, zpos, P, N = _totals(part, zero_levels)
    out = np.full(part.K, np.nan)
    for k in range(part.K):
        p, n_ = int(P[k]), int(N[k])
        if p == 0 or n_ == 0:
            continue
        ppos = p - int(zpos[k])
        # doubled rank sum of the positives: score-0 group first (ranks 1..z), then the rest
        s2 = sum(part.mid2[k + 1 :]) + 2 * z * ppos + int(zpos[k]) * (z + 1)
        out[k] = (s2 - p * (p + 1)) / (2.0 * p * n_)
    return out


def _roc_arrays(part, zero_levels):
    """The exact curve as integer arrays: ``fps, tps`` (K, m + 1 [+ 1]) from (0, 0), thresholds."""
    z, zpos, _, _ = _totals(part, zero_levels)
    zeros = np.zeros((part.K, 1), np.int64)
    tps = np.concatenate([zeros, part.tps], axis=1)
    fps = np.concatenate([zeros, part.cum[None, :] - part.tps], axis=1)
    if z == 0:
        return fps, tps, part.thresholds
    tps = np.concatenate([tps, tps[:, -1:] + zpos[:, None]], axis=1)
    fps = np.concatenate([fps, fps[:, -1:] + (z - zpos)[:, None]], axis=1)
    return fps, tps, np.append(part.thresholds, 0.0)


def sample_part(part, zero_levels, grid):
    """TPR of the exact curve at each FPR of ``grid`` (linear between vertices; at a vertical
    segment its top), without building the full curve: a binary search per grid point."""
    _, _, P, N = _totals(part, zero_levels)
    out = np.full((part.K, len(grid)), np.nan)
    for k in range(part.K):
        if P[k] == 0 or N[k] == 0:
            continue
        T = part.tps[k]
        F = part.cum - T
        # vertices: (0, 0), (F_j, T_j) for j < m, and the end (N, P) (the score-0 group, or F[-1]);
        # only the vertices around each grid point are read (the curve has one vertex per pixel value)
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


def roc_of(scores, levels, K):
    """ROC counts of 1-D snapped scores and their levels (the whole pipeline for one sample set)."""
    nbits = max(1, int(K).bit_length())
    pos = scores > 0
    sp = scores[pos]
    s_asc, lv_asc = sort_pairs(sp, levels[pos], key_offset(sp, nbits), nbits)
    zero_levels = np.bincount(levels[~pos], minlength=K + 1)
    return RankedScores(s_asc, lv_asc, K), zero_levels


def agreement_levels(t_snap, thresholds, o):
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
    ss, ts, mask, o = snapped_pair(score, target, region, zero_tol, one_tol, ("score", "target"))
    thr = check_thresholds([threshold])
    if mask is not None:
        ss, ts = ss[mask], ts[mask]
    part, zl = roc_of(ss.ravel(), agreement_levels(ts.ravel(), thr, o), 1)
    fps, tps, u_desc = _roc_arrays(part, zl)
    _, _, P, N = _totals(part, zl)
    if P[0] == 0 or N[0] == 0:
        warn_undefined(f"ROC undefined at threshold {threshold}: only {'negatives' if P[0] == 0 else 'positives'}")
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
    ss, ts, mask, o = snapped_pair(score, target, region, zero_tol, one_tol, ("score", "target"))
    thr = check_thresholds([threshold])
    single = ss.ndim == 2
    if mask is not None:
        mask = np.ascontiguousarray(mask)
    if single or pooled:
        ss, ts = ss.reshape(1, -1), ts.reshape(1, -1)
        mask = None if mask is None else mask.reshape(1, -1)
    out = np.empty(len(ss))
    for i in range(len(ss)):
        si, ti = (ss[i], ts[i]) if mask is None else (ss[i][mask[i]], ts[i][mask[i]])
        part, zl = roc_of(si.ravel(), agreement_levels(ti.ravel(), thr, o), 1)
        out[i] = auc_ranks(part, zl)[0]
    return per_image(out, single or pooled, f"AUC undefined (single class at threshold {threshold})")
