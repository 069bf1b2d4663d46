"""Per-image scores (Section 3.1.1): agreement, Brier (Eq. 8), soft Dice (Eq. 9), the pairwise Dice of raters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from .._validation import check_int, describe
from ._common import EIGHT_BIT_HALF_STEP, check_pair, check_tols, per_image, region_mask, snap_raw


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
                raise ValueError(f"`axis` {dim!r} is not a dimension of `masks`, got dims {masks.dims}")
            _check_binary(masks.values, masks.sizes[dim])
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
        raise TypeError(f"`axis` may be a dimension name only for an xarray.DataArray, got {axis!r}")
    axis = check_int("axis", axis, minimum=-arr.ndim, maximum=arr.ndim - 1)
    _check_binary(arr, arr.shape[axis])
    return arr.astype(np.float64).mean(axis=axis)


def _check_binary(a, n_raters):
    if n_raters == 0:
        raise ValueError("`masks` must hold at least one rater, got 0")
    if a.dtype == bool:
        return
    bad = ~((a == 0) | (a == 1))
    if bad.any():
        raise ValueError(
            f"`masks` must be binary (0 or 1), got {int(bad.sum())} other value(s), e.g. {a[bad].flat[0]!r}"
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
    p, t = check_pair(pred, target)
    z, o = check_tols(zero_tol, one_tol)
    single = p.ndim == 2
    p3, t3 = (p[None], t[None]) if single else (p, t)
    mask = region_mask(region, snap_raw(p3, z, o), snap_raw(t3, z, o))
    return per_image(brier_stack(p3, t3, mask), single, "Brier score undefined (empty region)")


def brier_stack(p3, t3, mask):
    sq = (p3 - t3) ** 2
    if mask is None:
        return sq.reshape(len(sq), -1).mean(axis=1)
    n = mask.reshape(len(sq), -1).sum(axis=1)
    s = np.where(mask, sq, 0.0).reshape(len(sq), -1).sum(axis=1)
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
    p, t = check_pair(pred, target)
    single = p.ndim == 2
    p3, t3 = (p[None], t[None]) if single else (p, t)
    return per_image(soft_dice_stack(p3, t3), single, "soft Dice undefined (both maps all zero)")


def soft_dice_stack(p3, t3):
    n = len(p3)
    pf, tf = p3.reshape(n, -1), t3.reshape(n, -1)
    num = 2.0 * np.einsum("ij,ij->i", pf, tf)
    den = np.einsum("ij,ij->i", pf, pf) + np.einsum("ij,ij->i", tf, tf)
    return np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1.0), np.nan)


def pairwise_dice(masks) -> float:
    """Mean Dice over all pairs of binary masks (``(R, H, W)``); 1.0 for pairs of empty masks.

    Examples
    --------
    >>> m = np.zeros((2, 4, 4), dtype=bool)
    >>> m[0, :2], m[1, :3] = True, True
    >>> pairwise_dice(m)  # 2 * 8 / (8 + 12)
    0.8
    """
    m = np.asarray(masks).astype(bool)
    if m.ndim != 3:
        raise ValueError(f"`masks` must have shape (R, H, W), got shape {m.shape}")
    if len(m) < 2:
        raise ValueError("`masks` must hold at least 2 raters for a pairwise Dice")
    flat = m.reshape(len(m), -1).astype(np.float64)
    sizes = flat.sum(1)
    iu, ju = np.triu_indices(len(m), k=1)
    tot = sizes[iu] + sizes[ju]
    return float(np.mean(np.where(tot == 0, 1.0, 2 * (flat @ flat.T)[iu, ju] / np.maximum(tot, 1))))


@dataclass(frozen=True)
class Score:
    """One per-image score of a soft map against a target, as used by sweeps, the explorer and cross-validation.

    Calling it, ``score(pred, target)``, gives a float for ``(H, W)`` maps and one value per image
    for ``(N, H, W)`` stacks.
    """

    name: str
    long_name: str
    better: str
    function: Callable

    def __call__(self, pred, target):
        return self.function(pred, target)


#: The per-image scores (all lower is better, as in the paper): name -> :class:`Score`.
SCORES = {
    s.name: s
    for s in (
        Score("brier", "Brier score, whole image (Eq. 8)", "lower", brier),
        Score(
            "brier_fg",
            "Brier score, foreground = union of target > 0 and map > 0 (Eq. 8)",
            "lower",
            partial(brier, region="foreground"),
        ),
        Score("soft_dice", "soft Dice loss, 1 - 2 sum(p y) / (sum p^2 + sum y^2) (Eq. 9)", "lower", soft_dice),
    )
}
