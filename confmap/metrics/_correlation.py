"""Margin uncertainty psi and its correlation between maps (Section 3.2, Eqs. 14-15, Figure 5)."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_number
from ._common import EIGHT_BIT_HALF_STEP, per_image, snap, warn_undefined


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
    s = snap(values, zero_tol=zero_tol, one_tol=one_tol)
    single = s.ndim == 2
    return per_image(psi_stack(s[None] if single else s), single, "psi undefined (no value > 0)")


def psi_stack(s3):
    n = len(s3)
    f = s3.reshape(n, -1)
    pos = np.count_nonzero(f > 0, axis=1)
    ones = np.count_nonzero(f >= 1.0, axis=1)
    return np.where(pos > 0, 100.0 * (pos - ones) / np.maximum(pos, 1), np.nan)


def _ranks(x):
    """Average ranks (1-based), ties sharing the mean rank (as ``scipy.stats.rankdata``)."""
    _, group, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[group]  # a group's last rank less half its extent


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
    out = {"n": n, **dict.fromkeys(("pearson_r", "pearson_p", "spearman_rho", "spearman_p"), np.nan)}
    if n < 3:
        warn_undefined(f"correlation undefined with {n} pair(s) (3 needed): NaN")
        return out
    r = _pearson(xv, yv)
    rho = _pearson(_ranks(xv), _ranks(yv))
    if np.isnan(r) or np.isnan(rho):
        warn_undefined("correlation undefined for a constant sample: NaN")
    out.update(pearson_r=r, pearson_p=_t_pvalue(r, n), spearman_rho=rho, spearman_p=_t_pvalue(rho, n))
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

    level = check_number("level", level, minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    xv, yv = _xy(x, y)
    n = len(xv)
    grid = (
        np.linspace(xv.min(), xv.max(), 101)
        if x_grid is None and n
        else np.asarray(x_grid if x_grid is not None else [], float)
    )
    out = {
        "n": n,
        **dict.fromkeys(("slope", "intercept", "slope_stderr", "intercept_stderr"), np.nan),
        "x": grid,
        **dict.fromkeys(("y", "lower", "upper"), np.full(grid.shape, np.nan)),
    }
    xbar = xv.mean() if n else np.nan
    sxx = float(((xv - xbar) ** 2).sum()) if n else 0.0
    if n < 3 or sxx == 0.0:
        warn_undefined(
            f"linear fit undefined ({n} pair(s), {'constant' if sxx == 0 else 'varying'} x; 3 varying needed): NaN"
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
