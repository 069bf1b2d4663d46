"""Joint thresholding (Figure 4, Eqs. 10-13): confusion counts and their scores."""

from __future__ import annotations

import numpy as np

from ._common import (
    DEFAULT_THRESHOLDS,
    EIGHT_BIT_HALF_STEP,
    check_thresholds,
    snapped_pair,
    warn_undefined,
)


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
    ps, ts, mask, o = snapped_pair(pred, target, region, zero_tol, one_tol)
    thr = check_thresholds(thresholds)
    single = ps.ndim == 2
    if single:
        ps, ts, mask = ps[None], ts[None], (None if mask is None else mask[None])
    counts = confusion_stack(ps, ts, thr, o, mask)
    return {k: (v[0] if single else v) for k, v in counts.items()}


def confusion_stack(ps, ts, thr, o, mask):
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


def scores_from_counts(tp, fp, fn, tn):
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
    counts = confusion_counts(pred, target, thresholds=thresholds, region=region, zero_tol=zero_tol, one_tol=one_tol)
    scores = scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    bad = [k for k, v in scores.items() if np.isnan(v).any()]
    if bad:
        warn_undefined(f"undefined (empty denominator, NaN): {', '.join(bad)}")
    return {**scores, **counts}
