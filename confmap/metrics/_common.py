"""Input handling shared by every metric: value checks, tolerances, snapping, undefined-value warnings."""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_array, check_choice, check_number, check_unit_interval, describe
from .._warnings import UndefinedMetricWarning

#: The paper's binarisation levels of the Agreement map (Section 3.1.2).
DEFAULT_THRESHOLDS = (0.25, 0.5, 0.75, 1.0)


#: Half a step of an 8-bit image: the default of ``zero_tol`` and ``one_tol``.
EIGHT_BIT_HALF_STEP = 0.5 / 255


def as_values(name, value, *, ndim=(2, 3)):
    """Return a float64 ndarray (from array-like or DataArray) checked for finiteness and range."""
    arr = check_array(name, value.values if hasattr(value, "dims") else value, dtype=np.float64)
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}" for d in ndim)
        raise ValueError(
            f"`{name}` must be an image (H, W) or a stack (N, H, W) ({want} dimensions), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {arr.shape}")
    return check_unit_interval(name, arr)


def check_pair(pred, target, pred_name="pred", target_name="target"):
    p = as_values(pred_name, pred)
    t = as_values(target_name, target)
    if p.shape != t.shape:
        raise ValueError(f"`{pred_name}` and `{target_name}` must have the same shape, got {p.shape} and {t.shape}")
    return p, t


def snapped_pair(pred, target, region, zero_tol, one_tol, names=("pred", "target")):
    """The start of every score on snapped values: check the pair and the tolerances, snap both, and
    the region's mask (None: all pixels). Returns ``(pred_snapped, target_snapped, mask, one_tol)``."""
    p, t = check_pair(pred, target, *names)
    z, o = check_tols(zero_tol, one_tol)
    ps, ts = snap_raw(p, z, o), snap_raw(t, z, o)
    return ps, ts, region_mask(region, ps, ts), o


def check_tols(zero_tol, one_tol):
    z = check_number("zero_tol", zero_tol, minimum=0.0, maximum=0.25)
    o = check_number("one_tol", one_tol, minimum=0.0, maximum=0.25)
    return z, o


def check_thresholds(thresholds):
    try:
        ts = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=float))]
    except (TypeError, ValueError):
        raise TypeError(f"`thresholds` must be numbers in (0, 1], got {describe(thresholds)}") from None
    if not ts:
        raise ValueError("`thresholds` must hold at least one level, got none")
    for t in ts:
        if not (0.0 < t <= 1.0):
            raise ValueError(f"`thresholds` must lie in (0, 1], got {t!r}")
    if len(set(ts)) != len(ts) or ts != sorted(ts):
        raise ValueError(f"`thresholds` must be strictly increasing, got {ts}")
    return np.asarray(ts)


def region_mask(region, p_snap, t_snap):
    """None -> all pixels; "foreground" -> union of snapped values > 0; bool array -> itself."""
    if region is None or (isinstance(region, str) and region == "all"):
        return None
    if isinstance(region, str):
        check_choice("region", region, ("all", "foreground", "union"))
        return (p_snap > 0) | (t_snap > 0)
    return bool_mask("region", region, p_snap.shape, "None, 'all', 'foreground' or a bool array")


def bool_mask(name, value, shape, expected="a bool array"):
    """A bool array (or DataArray) broadcast to the images' ``shape``."""
    arr = np.asarray(getattr(value, "values", value))
    if arr.dtype != bool:
        raise TypeError(f"`{name}` must be {expected}, got {describe(arr)}")
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"`{name}` must broadcast to the images' shape {shape}, got shape {arr.shape}") from None


def warn_undefined(message, stacklevel=3):
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


def per_image(values, single, undefined):
    """Per-image ``values`` (N,), a float for a single image; NaN entries warned as ``undefined``."""
    bad = int(np.isnan(values).sum())
    if bad:
        warn_undefined(f"{undefined} for {bad} image(s): NaN", stacklevel=4)
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
    v = as_values("values", values)
    z, o = check_tols(zero_tol, one_tol)
    return snap_raw(v, z, o)


def snap_raw(v, z, o):
    out = np.where(v <= z, 0.0, v)
    if o > 0:
        np.copyto(out, 1.0, where=out >= 1.0 - o)
    return out


def nanmean(a, axis=None):
    a = np.asarray(a, dtype=float)
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=axis)
    s = np.where(ok, a, 0.0).sum(axis=axis)
    return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
