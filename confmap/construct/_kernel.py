"""Step 4a of the construction: the kernel's covariance, and the lattice ripple it leaves on the grid."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._warnings import NoRegionWarning
from ._params import check_param

__all__ = ["kde_covariance", "lam_for_ripple", "lattice_ripple"]


def kde_covariance(
    weights,
    grid,
    *,
    bandwidth=0.1,
    kernel: str = "full",
) -> tuple[np.ndarray, float]:
    """The Gaussian kernel's covariance for weighted grid points.

    Parameters
    ----------
    weights : ndarray, shape (len(gy), len(gx))
        Grid weights from :func:`grid_weights` (>= 0, not all 0).
    grid : (ndarray, ndarray)
        ``(gx, gy)`` from :func:`mesh_grid`.
    bandwidth : float or {"scott", "silverman"}, default 0.1
        The bandwidth factor, with ``scipy.stats.gaussian_kde``'s meaning: the kernel covariance is
        ``factor**2`` times the weighted covariance of the grid points. Strings use scipy's rules
        with the effective sample size ``1 / sum(w_normalised**2)`` (identical in 2-D).
    kernel : {"full", "isotropic"}, default "full"
        ``"full"``: scipy's full 2x2 covariance. ``"isotropic"``: the paper's Eq. 6, one scalar
        ``sigma = factor * s`` in pixels for both axes, with ``s**2`` the mean of the two weighted
        variances (the trace of the weighted covariance over 2). So sigma's unit is the spread of
        the weighted grid, like scipy's factor, and the same ``bandwidth`` works for both kernels.

    Returns
    -------
    cov : ndarray, shape (2, 2)
        Kernel covariance in square pixels, ``[[s_xx, s_xy], [s_xy, s_yy]]``.
    factor : float
        The numeric bandwidth factor used.

    Notes
    -----
    The weighted covariance is numpy's ``np.cov(points, aweights=w)`` (unbiased, factor
    ``1 / (1 - sum(w_normalised**2))``), exactly as scipy computes it. When the weighted points are
    collinear (smallest eigenvalue below 1e-9 of the largest: a sliver region one grid row wide) or
    a single point, the covariance is singular and scipy returns NaN; here the eigenvalues are then
    floored at ``h**2 / 12``, the variance of a uniform spread over one grid spacing ``h``, so the
    map stays finite; a :class:`NoRegionWarning` says so. Any other covariance is used as it is.
    """
    bandwidth = check_param("bandwidth", bandwidth)
    check_param("kernel", kernel)
    gx, gy = grid
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not total > 0:
        raise ValueError("`weights` must have a positive sum (no grid point lies in any region)")
    wn = w / total
    wx, wy = wn.sum(axis=0), wn.sum(axis=1)  # the weights of the grid columns and rows
    dx, dy = gx - (wx * gx).sum(), gy - (wy * gy).sum()
    sxx, syy = (wx * dx * dx).sum(), (wy * dy * dy).sum()
    sxy = dy @ wn @ dx
    sum_w2 = float((wn * wn).sum())
    unbias = 1.0 - sum_w2
    # Scott and Silverman agree in two dimensions: the effective sample size ** (-1/6)
    factor = (1.0 / sum_w2) ** (-1.0 / 6.0) if isinstance(bandwidth, str) else bandwidth
    h = min(gx[1] - gx[0], gy[1] - gy[0]) if len(gx) > 1 else 1.0
    floor = h * h / 12.0
    if unbias <= 1e-12:
        cov = np.eye(2) * floor
        warnings.warn(
            "the weighted grid is a single point; the kernel covariance is set to one grid cell",
            NoRegionWarning,
            stacklevel=2,
        )
    else:
        cov = np.array([[sxx, sxy], [sxy, syy]]) / unbias
        evals, evecs = np.linalg.eigh(cov)
        if evals.min() < 1e-9 * max(evals.max(), floor):  # singular: scipy would give NaN
            warnings.warn(
                "the weighted grid points are collinear (a region thinner than one grid "
                "spacing); the kernel covariance is floored at one grid cell",
                NoRegionWarning,
                stacklevel=2,
            )
            cov = (evecs * np.maximum(evals, floor)) @ evecs.T
    if kernel == "isotropic":
        cov = np.eye(2) * (np.trace(cov) / 2.0)
    return cov * factor * factor, float(factor)


def lattice_ripple(cov, spacing) -> float:
    """Relative ripple of a Gaussian KDE over a uniformly weighted lattice.

    Parameters
    ----------
    cov : ndarray, shape (2, 2)
        Kernel covariance in square pixels.
    spacing : (float, float)
        Grid spacing ``(hx, hy)`` in pixels (``W / lam``, ``H / lam``).

    Returns
    -------
    float
        ``(max - min) / max`` of the density inside a large, uniformly weighted region, in [0, 1]:
        0 is flat, 1 is isolated bumps.

    Notes
    -----
    By Poisson summation the lattice sum of the kernel is periodic,
    ``mean * sum_k exp(-2 pi^2 k^T cov k) cos(2 pi k . p)`` over the reciprocal lattice
    ``k = (i / hx, j / hy)``; it is evaluated on 13 x 13 points of one cell (harmonics until the
    factor is below ``exp(-40)``, at most 12 per axis: a kernel narrower than that gives isolated
    bumps, ripple near 1, whose exact value matters little). When a correlated kernel puts the
    minimum between those samples the value can be slightly low (0.45 % relative, tested, for
    rho = 0.4 on a 16 x 10 px cell). For an isotropic kernel of standard
    deviation sigma the ripple is about ``4 exp(-2 pi^2 sigma^2 / h^2)`` when small.

    With the paper's bandwidth factor 0.1 the kernel's sigma is a few pixels while the grid
    spacing is ``W / lam`` (10 px for a 1024 px image at lam = 100): the map then shows a lattice
    of bumps. Remedies: a larger ``lam`` (finer grid) or a larger ``bandwidth``.
    """
    cov = np.asarray(cov, dtype=float)
    hx, hy = (float(s) for s in spacing)
    lam_min = max(float(np.linalg.eigvalsh(cov)[0]), 1e-300)
    kmax = math.sqrt(40.0 / (2 * math.pi**2 * lam_min))
    nx, ny = (min(12, math.ceil(kmax * h)) for h in (hx, hy))
    ix, iy = np.arange(-nx, nx + 1), np.arange(-ny, ny + 1)
    ki, kj = np.meshgrid(ix / hx, iy / hy)  # [j, i]
    q = cov[0, 0] * ki * ki + 2 * cov[0, 1] * ki * kj + cov[1, 1] * kj * kj
    amp = np.exp(-2 * math.pi**2 * q)
    t = np.linspace(0.0, 1.0, 13)
    ex = np.exp(2j * math.pi * np.outer(ix, t))  # (I, 13): phase along x in cell units
    ey = np.exp(2j * math.pi * np.outer(iy, t))  # (J, 13)
    field = (ey.T @ amp @ ex).real  # (13, 13) periodic density / mean
    top = field.max()
    if not top > 0:
        return 1.0
    return float(np.clip((top - field.min()) / top, 0.0, 1.0))


def lam_for_ripple(cov, shape, target, *, lam_max: int = 10_000) -> int | None:
    """Smallest lam (within 3 %) whose lattice ripple under kernel ``cov`` is <= ``target``.

    ``shape`` is the image ``(H, W)`` in pixels, ``cov`` the kernel covariance (2x2, px**2).

    Starts from the dominant first-shell harmonic, ``4 exp(-2 pi^2 lam^2 min_k k^T cov k) = target``
    with ``k`` in ``{(1/W, 0), (0, 1/H), (1/W, +-1/H)}``, then steps up by 3 % until
    :func:`lattice_ripple` agrees. None if more than ``lam_max`` would be needed.
    """
    h, w = shape
    ks = np.array([[1 / w, 0.0], [0.0, 1 / h], [1 / w, 1 / h], [1 / w, -1 / h]])
    m = float(np.min(np.einsum("ki,ij,kj->k", ks, cov, ks)))
    lam = max(1, math.ceil(math.sqrt(math.log(4.0 / target) / (2 * math.pi**2 * m)))) if m > 0 else lam_max
    while lam <= lam_max:
        if lattice_ripple(cov, (w / lam, h / lam)) <= target:
            return lam
        lam = max(lam + 1, math.ceil(lam * 1.03))
    return None
