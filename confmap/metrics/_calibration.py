"""The reliability diagram and calibration errors (the conclusion's "average bin accuracy")."""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from ._common import EIGHT_BIT_HALF_STEP, snapped_pair, warn_undefined


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
    ps, ts, mask, _ = snapped_pair(pred, target, region, zero_tol, one_tol)
    n_bins = check_int("n_bins", n_bins, minimum=1, maximum=10_000)
    if mask is not None:
        ps, ts = ps[mask], ts[mask]
    out = reliability_summary(*bin_sums(ps.ravel(), ts.ravel(), n_bins), n_bins)
    if not out["count"].any():
        warn_undefined("reliability undefined (empty region): NaN")
    return out


def bin_index(c, n_bins):
    """The confidence bin of each value of ``c`` (the last bin holds 1)."""
    return np.minimum((c * n_bins).astype(np.int64), n_bins - 1)


def bin_sums(c, a, n_bins):
    """Per confidence bin: the pixel count and the sums of confidence ``c`` and Agreement ``a``."""
    b = bin_index(c, n_bins)
    return tuple(np.bincount(b, weights=w, minlength=n_bins) for w in (None, c, a))


def reliability_summary(count, sc, sa, n_bins):
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
