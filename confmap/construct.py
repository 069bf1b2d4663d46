"""Confidence-map construction (the paper's Section 2.3, Eqs. 5-7), exact and at interactive speed.

The stages, each public so notebooks can show them:

1. :func:`mesh_grid` -- the ``(lam + 1)**2`` grid ``x_k = k W / lam``, ``y_l = l H / lam``.
2. :func:`tier_regions` -- the Delaunay region of each tier (convex, or a carved alpha shape).
3. :func:`grid_weights` -- Eq. 5: ``beta_H`` inside the high region, else ``beta_M`` inside the
   medium one, else ``beta_L`` inside the low one, else 0 (boundaries inclusive); sinks zero the
   weights around them.
4. :func:`kde_covariance` and :func:`weighted_kde` -- the weighted Gaussian KDE with the semantics of
   ``scipy.stats.gaussian_kde(grid, weights=w, bw_method=bandwidth)`` (full 2x2 kernel covariance),
   or the isotropic kernel of Eq. 6, evaluated at every pixel centre.
5. :func:`confidence_map` -- all of the above, then the min-max normalisation of Eq. 7.

How the KDE is evaluated exactly and fast
-----------------------------------------
A direct evaluation costs ``pixels x grid points`` kernel evaluations (about a minute at 512x512
with scipy). Here the correlated Gaussian kernel is written, with ``u = dx / sigma_x`` and
``v = dy / sigma_y``, through Mehler's formula as a sum of separable terms

    exp(-(u^2 - 2 rho u v + v^2) / (2 (1 - rho^2)))
        = sqrt(1 - rho^2) * sum_n rho^n phi_n(u) phi_n(v),   phi_n(u) = exp(-u^2/2) He_n(u)/sqrt(n!)

so the density on the pixel lattice is ``sum_n rho^n Phi_y[n] @ w @ Phi_x[n].T``: a few dense
matrix products over only the pixels and grid points within 9 kernel standard deviations of the
weighted region (the kernel is below ``exp(-40)`` beyond). By Cramer's inequality
``|phi_n(u)| <= 1.0865 exp(-u^2/4)``, so the truncation error after ``N`` terms is below
``4.8 |rho|^N / (1 - |rho|)`` relative to the density, and ``N`` is chosen for ``1e-12``.

A strongly correlated kernel (an elongated region at an angle, or a tier stretched across the
image) needs many terms. An integer shear ``x' = x - c y`` (or ``y' = y - d x``) maps the pixel
lattice onto itself and, when ``c hy / hx`` is an integer, the grid lattice too; it changes the
covariance to ``S cov S^T`` (determinant 1) and usually shrinks ``|rho|`` a lot, so the series is
evaluated in sheared coordinates and gathered back. Each candidate (no shear, x- or y-shears up to
8, and a direct sum over sheared rows) is costed by its multiply-adds and the cheapest is used; all
are exact to the same truncation (tested against a brute-force sum).
"""

from __future__ import annotations

import heapq
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validation import (
    check_choice,
    check_image_shape,
    check_int,
    check_memory,
    check_number,
    check_points,
    describe,
    map_memory_bytes,
)
from .annotation import TIERS, Annotation

__all__ = [
    "ConfmapWarning",
    "NoRegionWarning",
    "RippleWarning",
    "TierRegion",
    "confidence_map",
    "confidence_maps",
    "grid_weights",
    "kde_covariance",
    "lattice_ripple",
    "make_region",
    "mesh_grid",
    "tier_regions",
    "weighted_kde",
]

#: Tiers that carry weights, in the priority order of Eq. 5.
WEIGHTED_TIERS = ("high", "medium", "low")

# Kernel cut-off in standard deviations: the Gaussian is below exp(-40.5) beyond it.
_CUTOFF_SIGMAS = 9.0
# Hermite-function truncation tolerance and Cramer's constant squared (times a margin of 4).
_SERIES_TOL = 1e-12
_CRAMER_K2 = 1.0865**2
# Series terms beyond which a candidate is not considered at all (the direct sum always works).
_MAX_TERMS = 400
# Relative tolerance of "on the region boundary" (boundary points count as inside).
_BOUNDARY_RTOL = 1e-9
# Default ripple above which a RippleWarning is issued (relative peak-to-peak in a flat region).
DEFAULT_RIPPLE_WARN = 0.01


class ConfmapWarning(UserWarning):
    """Base class of confmap's warnings."""


class NoRegionWarning(ConfmapWarning):
    """A tier has too few or collinear points for a region, or no tier has a region."""


class RippleWarning(ConfmapWarning):
    """The KDE kernel is narrower than the grid spacing: the map shows a lattice of bumps."""


# ---------------------------------------------------------------------------------------------
# 1. The mesh grid
# ---------------------------------------------------------------------------------------------
def mesh_grid(shape, *, lam: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The paper's mesh grid: ``x_k = k W / lam`` and ``y_l = l H / lam`` for ``k, l = 0..lam``.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(H, W)`` in pixels.
    lam : int, default 100
        The paper's subsampling factor lambda (>= 1); the grid has ``(lam + 1)**2`` points.

    Returns
    -------
    gx : ndarray, shape (lam + 1,)
        Grid x positions in pixels (columns).
    gy : ndarray, shape (lam + 1,)
        Grid y positions in pixels (rows).

    Notes
    -----
    The grid points are the product ``{(gx[k], gy[l])}``; arrays indexed ``[l, k]`` (row, column)
    line up with it. Following the paper literally, the grid spans ``[0, W] x [0, H]``, which is
    half a pixel beyond the image extent ``[-0.5, W - 0.5]`` on the far sides.

    Examples
    --------
    >>> gx, gy = mesh_grid((4, 8), lam=4)
    >>> gx.tolist(), gy.tolist()
    ([0.0, 2.0, 4.0, 6.0, 8.0], [0.0, 1.0, 2.0, 3.0, 4.0])
    """
    h, w = check_image_shape("shape", shape)
    lam = check_int("lam", lam, minimum=1)
    k = np.arange(lam + 1, dtype=float)
    return k * (w / lam), k * (h / lam)


# ---------------------------------------------------------------------------------------------
# 2. Tier regions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TierRegion:
    """The region of one tier: the union of kept Delaunay triangles of its points.

    Attributes
    ----------
    tier : str
        The tier's name.
    triangles : ndarray, shape (M, 3, 2)
        The kept triangles' vertices as ``(x, y)`` pixels (empty if there is no region).
    reason : str
        Empty when the region exists, else why not (e.g. ``"medium: 2 points, 3 needed"``).
    kind : str
        ``"convex"`` or ``"alpha"``.
    """

    tier: str
    triangles: np.ndarray
    reason: str = ""
    kind: str = "convex"
    _halfplanes: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the tier has a region."""
        return not self.reason

    @property
    def area(self) -> float:
        """Area of the region in square pixels."""
        if not self.ok:
            return 0.0
        t = self.triangles
        cross = (t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1]) - (t[:, 2, 0] - t[:, 0, 0]) * (
            t[:, 1, 1] - t[:, 0, 1]
        )
        return float(np.abs(cross).sum() / 2)

    def _grid_mask(self, gx, gy) -> np.ndarray:
        """``contains`` on the product grid ``gx x gy`` (evenly spaced), testing only the bbox."""
        mask = np.zeros((len(gy), len(gx)), dtype=bool)
        if not self.ok:
            return mask
        flat = self.triangles.reshape(-1, 2)
        tol = _BOUNDARY_RTOL * max(1.0, float(np.abs(flat).max()))
        lo, hi = flat.min(axis=0) - tol, flat.max(axis=0) + tol
        k0, k1 = np.searchsorted(gx, lo[0], "left"), np.searchsorted(gx, hi[0], "right")
        l0, l1 = np.searchsorted(gy, lo[1], "left"), np.searchsorted(gy, hi[1], "right")
        if k1 <= k0 or l1 <= l0:
            return mask
        sx, sy = np.meshgrid(gx[k0:k1], gy[l0:l1])
        inside = self.contains(np.column_stack([sx.ravel(), sy.ravel()]))
        mask[l0:l1, k0:k1] = inside.reshape(sx.shape)
        return mask

    def contains(self, points) -> np.ndarray:
        """Which ``(N, 2)`` points ``(x, y)`` lie in the region, boundary included.

        Returns
        -------
        ndarray of bool, shape (N,)
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        inside = np.zeros(len(pts), dtype=bool)
        if not self.ok or len(pts) == 0:
            return inside
        lo = self.triangles.reshape(-1, 2).min(axis=0)
        hi = self.triangles.reshape(-1, 2).max(axis=0)
        scale = max(1.0, float(np.abs(self.triangles).max()))
        tol = _BOUNDARY_RTOL * scale
        cand = np.flatnonzero(np.all((pts >= lo - tol) & (pts <= hi + tol), axis=1))
        if cand.size == 0:
            return inside
        p = pts[cand]
        if self._halfplanes is not None:
            # Convex: inside every half-plane n . p + c <= tol (unit normals, pixels).
            eq = self._halfplanes
            inside[cand] = np.all(p @ eq[:, :2].T + eq[:, 2] <= tol, axis=1)
            return inside
        # Union of triangles: barycentric coordinates, all >= -tol (relative to the triangle size).
        t = self.triangles
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        v0, v1 = b - a, c - a
        det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
        d = p[:, None, :] - a[None, :, :]
        l1 = (d[..., 0] * v1[:, 1] - d[..., 1] * v1[:, 0]) / det
        l2 = (v0[:, 0] * d[..., 1] - v0[:, 1] * d[..., 0]) / det
        btol = 1e-9
        hit = (l1 >= -btol) & (l2 >= -btol) & (l1 + l2 <= 1 + btol)
        inside[cand] = hit.any(axis=1)
        return inside


def _no_region(tier, reason, kind):
    return TierRegion(tier, np.empty((0, 3, 2)), reason=reason, kind=kind)


def make_region(points, *, tier: str = "points", region: str = "convex", alpha=None) -> TierRegion:
    """The region of one tier's points.

    Parameters
    ----------
    points : array_like, shape (N, 2)
        ``(x, y)`` pixel points. Duplicates are ignored.
    tier : str, default "points"
        Name used in the region's ``reason`` and warnings.
    region : {"convex", "alpha"}, default "convex"
        ``"convex"``: the paper's Delaunay triangulation, whose union is the convex hull.
        ``"alpha"``: a carved alpha shape for concave tiers, see Notes.
    alpha : float, optional
        For ``region="alpha"``: circumradius in pixels below which a Delaunay triangle is never
        carved. ``None`` (default) carves every removable triangle. Ignored for ``"convex"``.

    Returns
    -------
    TierRegion
        With ``reason`` set (and no triangles) when there are fewer than 3 distinct points or they
        are collinear.

    Notes
    -----
    The alpha shape is carved from the same Delaunay triangulation, from the outside in (the
    chi-shape rule of Duckham et al., 2008, with the circumradius as the size): repeatedly remove
    the largest boundary triangle whose circumradius exceeds ``alpha``, provided it has exactly one
    edge on the region's boundary and its third vertex is not yet on the boundary. The region thus
    stays one simple polygon through *every* annotated point: concavities between clicked points
    are carved out, but an outline of boundary clicks never hollows out (a plain alpha shape would
    drop the interior of an outline). ``alpha = inf`` gives back the convex region.
    """
    check_choice("region", region, ("convex", "alpha"))
    if alpha is not None:
        alpha = (
            check_number("alpha", alpha, minimum=0.0)
            if not (isinstance(alpha, float) and math.isinf(alpha) and alpha > 0)
            else math.inf
        )
    pts = check_points(tier, points)
    if len(pts):
        _, first = np.unique(pts[:, 0] + 1j * pts[:, 1], return_index=True)
        uniq = pts[np.sort(first)]
    else:
        uniq = pts
    if len(uniq) < 3:
        return _no_region(tier, f"{tier}: {len(uniq)} distinct point{'s' if len(uniq) != 1 else ''}, 3 needed", region)
    centred = uniq - uniq.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[1] <= 1e-9 * max(sv[0], 1.0):
        return _no_region(tier, f"{tier}: points are collinear, no area", region)
    from scipy.spatial import Delaunay, QhullError

    try:
        tri = Delaunay(uniq)
    except QhullError:  # pragma: no cover - guarded by the collinearity test above
        return _no_region(tier, f"{tier}: points are degenerate (Qhull failed)", region)
    simplices = tri.simplices
    if region == "convex" or (alpha is not None and math.isinf(alpha)):
        return TierRegion(tier, uniq[simplices], kind=region, _halfplanes=_hull_halfplanes(uniq, tri.convex_hull))
    keep = _carve(uniq, simplices, tri.neighbors, 0.0 if alpha is None else alpha)
    return TierRegion(tier, uniq[simplices[keep]], kind="alpha")


def _hull_halfplanes(pts, edges):
    """Half-planes ``n . p + c <= 0`` (unit outward normals, pixels) of the hull's edges."""
    a, b = pts[edges[:, 0]], pts[edges[:, 1]]
    d = b - a
    n = np.column_stack([d[:, 1], -d[:, 0]])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    c = -np.sum(n * a, axis=1)
    inner = pts.mean(axis=0)
    flip = n @ inner + c > 0  # the centroid is inside: orient every normal away from it
    n[flip] *= -1
    c[flip] *= -1
    return np.column_stack([n, c])


def _circumradius(p):
    a = np.linalg.norm(p[:, 1] - p[:, 2], axis=1)
    b = np.linalg.norm(p[:, 0] - p[:, 2], axis=1)
    c = np.linalg.norm(p[:, 0] - p[:, 1], axis=1)
    v0, v1 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area2 = np.abs(v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0])
    with np.errstate(divide="ignore"):
        return np.where(area2 > 0, a * b * c / (2 * np.maximum(area2, 1e-300)), np.inf)


def _carve(pts, simplices, neighbors, alpha):
    """Chi-shape carving of a Delaunay triangulation; returns a boolean mask of kept triangles."""
    m = len(simplices)
    alive = np.ones(m, dtype=bool)
    radius = _circumradius(pts[simplices])
    nb = neighbors.copy()
    on_boundary = np.zeros(len(pts), dtype=bool)
    for t in range(m):
        for j in range(3):
            if nb[t, j] == -1:
                on_boundary[simplices[t, (j + 1) % 3]] = True
                on_boundary[simplices[t, (j + 2) % 3]] = True
    heap = [(-radius[t], t) for t in range(m) if (nb[t] == -1).any()]
    heapq.heapify(heap)
    while heap:
        neg_r, t = heapq.heappop(heap)
        if not alive[t] or -neg_r <= alpha:
            continue
        open_edges = [j for j in range(3) if nb[t, j] == -1 or not alive[nb[t, j]]]
        if len(open_edges) != 1:
            continue
        opposite = simplices[t, open_edges[0]]
        if on_boundary[opposite]:
            continue
        alive[t] = False
        on_boundary[opposite] = True
        for j in range(3):
            n = nb[t, j]
            if n != -1 and alive[n]:
                heapq.heappush(heap, (-radius[n], n))
    return alive


def tier_regions(annotation: Annotation, *, region: str = "convex", alpha=None) -> dict[str, TierRegion]:
    """The region of each weighted tier (high, medium, low) of an annotation.

    Parameters
    ----------
    annotation : Annotation
    region : {"convex", "alpha"}, default "convex"
        See :func:`make_region`.
    alpha : float, optional
        See :func:`make_region`.

    Returns
    -------
    dict of str to TierRegion
        Keys ``"high"``, ``"medium"``, ``"low"``; a region's ``reason`` says why it is missing.
    """
    _check_annotation(annotation)
    return {t: make_region(annotation.points(t), tier=t, region=region, alpha=alpha) for t in WEIGHTED_TIERS}


# ---------------------------------------------------------------------------------------------
# 3. Grid weights (Eq. 5)
# ---------------------------------------------------------------------------------------------
def grid_weights(
    annotation: Annotation,
    *,
    lam: int = 100,
    betas=(1.0, 0.5, 0.1),
    region: str = "convex",
    alpha=None,
    sink_radius=None,
    regions: dict[str, TierRegion] | None = None,
    warn: bool = True,
) -> np.ndarray:
    """Weights of the mesh grid points, the paper's Eq. 5, plus sinks.

    Parameters
    ----------
    annotation : Annotation
    lam : int, default 100
        Grid subsampling factor lambda.
    betas : (float, float, float), default (1.0, 0.5, 0.1)
        ``(beta_H, beta_M, beta_L)``, each >= 0.
    region, alpha
        Tier region mode, see :func:`make_region`.
    sink_radius : float, optional
        Radius in pixels around each sink point inside which grid weights are set to 0. Default:
        two grid spacings, ``2 * max(H, W) / lam``.
    regions : dict, optional
        Precomputed :func:`tier_regions` (saves recomputing them while only betas or lam change).
    warn : bool, default True
        Issue a :class:`NoRegionWarning` for each tier that has points but no region.

    Returns
    -------
    ndarray, shape (lam + 1, lam + 1)
        ``w[l, k]`` is the weight of grid point ``(gx[k], gy[l])`` (see :func:`mesh_grid`).

    Notes
    -----
    A grid point gets ``beta_H`` if it lies in the high region, else ``beta_M`` if in the medium
    region, else ``beta_L`` if in the low region, else 0; points on a region's boundary count as
    inside (relative tolerance 1e-9).
    """
    _check_annotation(annotation)
    bh, bm, bl = _check_betas(betas)
    gx, gy = mesh_grid(annotation.shape, lam=lam)
    if regions is None:
        regions = tier_regions(annotation, region=region, alpha=alpha)
    if warn:
        _warn_missing_regions(annotation, regions)
    w = np.zeros((len(gy), len(gx)))
    unassigned = np.ones(w.shape, dtype=bool)
    for tier, beta in zip(WEIGHTED_TIERS, (bh, bm, bl), strict=True):
        reg = regions[tier]
        if not reg.ok:
            continue
        hit = reg._grid_mask(gx, gy) & unassigned
        w[hit] = beta
        unassigned &= ~hit
    if len(annotation.sinks):
        r = _sink_radius(sink_radius, annotation.shape, lam)
        px, py = np.meshgrid(gx, gy)
        near = _near_sinks(np.column_stack([px.ravel(), py.ravel()]), annotation.sinks, r)
        w[near.reshape(w.shape)] = 0.0
    return w


def _near_sinks(pts, sinks, r):
    near = np.zeros(len(pts), dtype=bool)
    for s in sinks:
        near |= np.sum((pts - s) ** 2, axis=1) <= r * r
    return near


def _sink_radius(sink_radius, shape, lam):
    if sink_radius is None:
        return 2.0 * max(shape) / lam
    return check_number("sink_radius", sink_radius, minimum=0.0, strict_min=True)


def _warn_missing_regions(annotation, regions):
    for tier in WEIGHTED_TIERS:
        if len(annotation.points(tier)) and not regions[tier].ok:
            warnings.warn(
                f"tier has no region ({regions[tier].reason}); its points are ignored", NoRegionWarning, stacklevel=3
            )


# ---------------------------------------------------------------------------------------------
# 4. The weighted KDE
# ---------------------------------------------------------------------------------------------
def _check_bandwidth(bandwidth):
    if isinstance(bandwidth, str):
        return check_choice("bandwidth", bandwidth, ("scott", "silverman"))
    return check_number("bandwidth", bandwidth, minimum=0.0, strict_min=True)


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
    bandwidth = _check_bandwidth(bandwidth)
    check_choice("kernel", kernel, ("full", "isotropic"))
    gx, gy = grid
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not total > 0:
        raise ValueError("`weights` must have a positive sum (no grid point lies in any region)")
    wn = w / total
    mx = (wn.sum(axis=0) * gx).sum()
    my = (wn.sum(axis=1) * gy).sum()
    dx = gx - mx
    dy = gy - my
    sxx = (wn.sum(axis=0) * dx * dx).sum()
    syy = (wn.sum(axis=1) * dy * dy).sum()
    sxy = dy @ wn @ dx
    sum_w2 = float((wn * wn).sum())
    unbias = 1.0 - sum_w2
    n_eff = 1.0 / sum_w2
    if isinstance(bandwidth, str):
        factor = n_eff ** (-1.0 / 6.0)  # Scott and Silverman agree in two dimensions
    else:
        factor = bandwidth
    cov = np.array([[sxx, sxy], [sxy, syy]])
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
        cov = cov / unbias
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


def weighted_kde(weights, grid, shape, *, cov) -> np.ndarray:
    """Evaluate the weighted Gaussian KDE of the grid at every pixel centre, exactly and fast.

    Parameters
    ----------
    weights : ndarray, shape (len(gy), len(gx))
        Grid weights (>= 0, positive sum); normalised internally as scipy does.
    grid : (ndarray, ndarray)
        ``(gx, gy)`` grid positions in pixels (evenly spaced, see :func:`mesh_grid`).
    shape : (int, int)
        ``(H, W)``: the density is evaluated at pixel centres ``x = 0..W-1``, ``y = 0..H-1``.
    cov : ndarray, shape (2, 2)
        Kernel covariance in square pixels (see :func:`kde_covariance`).

    Returns
    -------
    ndarray, shape (H, W)
        The density ``sum_i w_i N(p - g_i; cov) / sum_i w_i`` in 1 / pixel**2; identical to
        ``scipy.stats.gaussian_kde`` with the same weights and covariance up to about 1e-12
        relative to its maximum. Exactly 0 beyond 9 kernel standard deviations of every weighted
        grid point.

    Notes
    -----
    See the module docstring for the method (Mehler's expansion over the cropped lattice, or a
    sheared direct sum for strongly correlated kernels). Cost grows with the *annotated* area, not
    with pixels x grid points.
    """
    h, wd = check_image_shape("shape", shape)
    gx, gy = (np.asarray(g, dtype=float) for g in grid)
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(gy), len(gx)):
        raise ValueError(f"`weights` must have shape (len(gy), len(gx)) = {(len(gy), len(gx))}, got {w.shape}")
    cov = np.asarray(cov, dtype=float)
    if (
        cov.shape != (2, 2)
        or not np.all(np.isfinite(cov))
        or cov[0, 0] <= 0
        or cov[1, 1] <= 0
        or np.linalg.det(cov) <= 0
    ):
        raise ValueError(f"`cov` must be a finite positive-definite 2x2 matrix, got {cov.tolist()}")
    out = np.zeros((h, wd))
    crop = _density_crop(w, gx, gy, (h, wd), cov)
    if crop is not None:
        dens, (y0, y1, x0, x1) = crop
        out[y0:y1, x0:x1] = dens
    return out


def _density_crop(w, gx, gy, shape, cov):
    """The density on the pixels within the kernel's reach of the weighted grid points.

    Returns ``(dens, (y0, y1, x0, x1))`` with ``dens`` for pixel rows ``y0:y1`` and columns
    ``x0:x1`` (exactly 0 elsewhere), or None when nothing is weighted or in reach.
    """
    h, wd = shape
    total = w.sum()
    if not total > 0:
        return None
    rows = np.flatnonzero(w.any(axis=1))
    cols = np.flatnonzero(w.any(axis=0))
    wc = w[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / total
    gxc = gx[cols[0] : cols[-1] + 1]
    gyc = gy[rows[0] : rows[-1] + 1]
    sx, sy = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    x0 = max(0, math.ceil(gxc[0] - _CUTOFF_SIGMAS * sx))
    x1 = min(wd - 1, math.floor(gxc[-1] + _CUTOFF_SIGMAS * sx))
    y0 = max(0, math.ceil(gyc[0] - _CUTOFF_SIGMAS * sy))
    y1 = min(h - 1, math.floor(gyc[-1] + _CUTOFF_SIGMAS * sy))
    if x1 < x0 or y1 < y0:
        return None
    px = np.arange(x0, x1 + 1, dtype=float)
    py = np.arange(y0, y1 + 1, dtype=float)
    with _one_blas_thread():
        dens = _kde_crop(wc, gxc, gyc, px, py, cov)
    return dens, (y0, y1 + 1, x0, x1 + 1)


def _kde_crop(wc, gxc, gyc, px, py, cov):
    """The density on the pixel crop ``py x px`` by the cheapest exact method (see module doc)."""
    plan = _plan(wc.shape, gxc, gyc, px, py, cov)
    kind = plan[0]
    if kind == "mehler":
        return _mehler_xshear(wc, gxc, gyc, px, py, cov, plan[1], plan[2])
    if kind == "mehler_y":  # shear along y: the same computation on the transposed problem
        return _mehler_xshear(wc.T, gyc, gxc, py, px, cov[::-1, ::-1], plan[1], plan[2]).T
    return _sheared_sum(wc, gxc, gyc, px, py, cov)


def _spacing(g):
    return float(g[1] - g[0]) if len(g) > 1 else 1.0


def _plan(wshape, gxc, gyc, px, py, cov, max_shear=8):
    """Choose the evaluation: Mehler's series after an integer shear that maps both lattices onto
    themselves (fewer terms when the kernel is correlated), or the direct sheared-row sum.

    An x-shear ``x' = x - c y`` keeps pixel centres on integers for integer ``c``, and keeps grid
    points on the grid when ``r = c hy / hx`` is an integer; it turns the covariance into
    ``S cov S^T`` with ``S = [[1, -c], [0, 1]]`` (determinant 1, so the density is unchanged).
    Each candidate is costed by its multiply-adds and the cheapest is used.
    """
    n_l, n_k = wshape
    n_y, n_x = len(py), len(px)
    hx, hy = _spacing(gxc), _spacing(gyc)
    sxy = cov[0, 1]
    # (plan, variance along the shear, the other variance, lattice ratio, grid rows, grid columns,
    #  pixel rows, pixel columns); a y-shear is the x-shear of the transposed problem
    axes = [
        ("mehler", cov[0, 0], cov[1, 1], hy / hx, n_l, n_k, n_y, n_x),
        ("mehler_y", cov[1, 1], cov[0, 0], hx / hy, n_k, n_l, n_x, n_y),
    ]
    best = None
    for kind, sxx, syy, h_ratio, rows, cols, n_rows_px, n_cols_px in axes:
        for c in range(-max_shear, max_shear + 1):
            r = c * h_ratio
            if (c == 0 and kind == "mehler_y") or abs(r - round(r)) > 1e-9:
                continue
            var = sxx - 2 * c * sxy + c * c * syy
            n_terms = _n_terms((sxy - c * syy) / math.sqrt(var * syy))
            width = n_cols_px + abs(c) * (n_rows_px - 1)  # sheared pixel columns
            sheared_cols = cols + abs(round(r)) * (rows - 1)  # sheared grid columns
            # matrix products, plus ~40 operations per Hermite-function value
            cost = n_terms * width * (n_rows_px * rows + rows * sheared_cols + 40 * cols)
            if best is None or cost < best[0]:
                best = (cost, kind, c, int(round(r)))
    # the direct sum: one exp per (grid row, pixel row, pixel, nearby grid column)
    det = cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2
    s = math.sqrt(det / cov[1, 1])
    near_rows = min(n_y, 2 * _CUTOFF_SIGMAS * math.sqrt(cov[1, 1]) + 1)
    direct = 25.0 * n_l * near_rows * n_x * (2 * math.ceil(_CUTOFF_SIGMAS * s / hx) + 3)
    if best is None or direct < best[0]:
        return ("direct", 0, 0)
    return best[1:]


def _mehler_xshear(wc, gxc, gyc, px, py, cov, c, r):
    """Mehler's series in the coordinates ``x' = x - c y`` (``c = 0``: no shear); ``r = c hy / hx``."""
    sxx, sxy, syy = cov[0, 0], cov[0, 1], cov[1, 1]
    sy = math.sqrt(syy)
    if c == 0:
        sx = math.sqrt(sxx)
        rho = float(np.clip(sxy / (sx * sy), -1.0, 1.0))
        return _mehler(wc, gxc, gyc, px, py, sx, sy, rho, _n_terms(rho))
    n_l, n_k = wc.shape
    hx = _spacing(gxc)
    var = sxx - 2 * c * sxy + c * c * syy
    sx = math.sqrt(var)
    rho = float(np.clip((sxy - c * syy) / (sx * sy), -1.0, 1.0))
    # grid row l moves by -r * l columns: x'_k = gx0 - c gy0 + (k - r l) hx
    shifts = -r * np.arange(n_l)
    smin = int(shifts.min())
    n_k2 = n_k + int(shifts.max()) - smin
    w2 = np.zeros((n_l, n_k2))
    rows = np.repeat(np.arange(n_l), n_k)
    cols = (np.arange(n_k)[None, :] + (shifts - smin)[:, None]).ravel()
    w2[rows, cols] = wc.ravel()
    used = np.flatnonzero(w2.any(axis=0))
    w2 = w2[:, used[0] : used[-1] + 1]
    gx2 = gxc[0] - c * gyc[0] + (np.arange(used[0], used[-1] + 1) + smin) * hx
    # sheared pixel columns that can matter: within the cut-off of the weighted columns
    xs_all = px[None, :] - c * py[:, None]
    lo = max(xs_all.min(), math.ceil(gx2[0] - _CUTOFF_SIGMAS * sx))
    hi = min(xs_all.max(), math.floor(gx2[-1] + _CUTOFF_SIGMAS * sx))
    out = np.zeros((len(py), len(px)))
    if hi < lo:
        return out
    px2 = np.arange(lo, hi + 1, dtype=float)
    dens2 = _mehler(w2, gx2, gyc, px2, py, sx, sy, rho, _n_terms(rho))
    idx = (xs_all - lo).astype(np.int64)
    valid = (idx >= 0) & (idx < len(px2))
    out[valid] = np.take_along_axis(dens2, np.where(valid, idx, 0), axis=1)[valid]
    return out


_BLAS_CONTROLLER = None


def _one_blas_thread():
    """Limit BLAS to one thread: the products here are small, and waking a second thread costs
    more than it gains (measured 2-8x slower with two threads on a busy 2-core machine)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _n_terms(rho):
    r = abs(rho)
    if r < 1e-15:
        return 1
    if r >= 1:
        return _MAX_TERMS + 1
    n = math.log(_SERIES_TOL * (1 - r) / (4 * _CRAMER_K2)) / math.log(r)
    return max(1, math.ceil(n))


_HERMITE_REACH = _CUTOFF_SIGMAS + 3  # phi_n is set to 0 beyond: below 1.09 exp(-36), keeps He_n finite


def _hermite_functions(u, n_terms):
    """phi_n(u) = exp(-u^2/2) He_n(u) / sqrt(n!) for n < n_terms, shape (*u.shape, n_terms).

    ``u`` is 2-D ``(A, B)``; the result is laid out ``(A, B, N)`` so that ``(B, N)`` flattens for
    one matrix product over grid points and terms together.
    """
    out = np.empty((n_terms, *u.shape))
    e = np.exp(-0.5 * u * u)
    e[np.abs(u) > _HERMITE_REACH] = 0.0
    out[0] = e
    if n_terms > 1:
        np.multiply(u, e, out=out[1])
    for n in range(1, n_terms - 1):
        # phi_{n+1} = (u phi_n - sqrt(n) phi_{n-1}) / sqrt(n + 1)
        np.multiply(u, out[n], out=out[n + 1])
        out[n + 1] -= math.sqrt(n) * out[n - 1]
        out[n + 1] *= 1.0 / math.sqrt(n + 1)
    return np.moveaxis(out, 0, -1)


def _mehler(wc, gxc, gyc, px, py, sx, sy, rho, n_terms, block=32):
    """Mehler's series on the pixel crop: ``sum_n rho^n Phi_y[n] @ wc @ Phi_x[n].T``.

    The products run over pixel-row blocks, each with only the grid rows within the Hermite
    functions' reach (the kernel is banded), as one matrix product over (grid row, term) pairs.
    """
    u = (px[:, None] - gxc[None, :]) / sx  # (X, K)
    v = (py[:, None] - gyc[None, :]) / sy  # (Y, L)
    phx = _hermite_functions(u, n_terms)  # (X, K, N)
    phy = _hermite_functions(v, n_terms)  # (Y, L, N)
    if n_terms > 1:
        phy = phy * (rho ** np.arange(n_terms))
    n_x, n_k, _ = phx.shape
    n_y, n_l, _ = phy.shape
    # t[l, n, x] = sum_k wc[l, k] phx[x, k, n]
    t = (wc @ np.ascontiguousarray(phx.transpose(1, 2, 0)).reshape(n_k, n_terms * n_x)).reshape(n_l, n_terms, n_x)
    phy = np.ascontiguousarray(phy)
    dens = np.empty((n_y, n_x))
    hy = _spacing(gyc)
    reach = _HERMITE_REACH * sy
    for y0 in range(0, n_y, block):
        y1 = min(n_y, y0 + block)
        l0 = max(0, math.floor((py[y0] - reach - gyc[0]) / hy))
        l1 = min(n_l, math.ceil((py[y1 - 1] + reach - gyc[0]) / hy) + 1)
        if l1 <= l0:
            dens[y0:y1] = 0.0
            continue
        a = phy[y0:y1, l0:l1].reshape(y1 - y0, (l1 - l0) * n_terms)
        np.matmul(a, t[l0:l1].reshape((l1 - l0) * n_terms, n_x), out=dens[y0:y1])
    dens *= 1.0 / (2.0 * math.pi * sx * sy)
    return dens


def _sheared_sum(wc, gxc, gyc, px, py, cov):
    """Direct truncated sum, one grid row at a time, the kernel completed in x (sheared rows)."""
    sxx, sxy, syy = cov[0, 0], cov[0, 1], cov[1, 1]
    det = sxx * syy - sxy * sxy
    s2 = det / syy  # conditional variance of x given y
    shear = sxy / syy
    sy = math.sqrt(syy)
    s = math.sqrt(s2)
    hx = gxc[1] - gxc[0] if len(gxc) > 1 else 1.0
    half = math.ceil(_CUTOFF_SIGMAS * s / hx) + 1
    offsets = np.arange(-half, half + 1)
    k_count = len(gxc)
    dens = np.zeros((len(py), len(px)))
    norm = 1.0 / (2.0 * math.pi * math.sqrt(det))
    for l_idx, yl in enumerate(gyc):
        wrow = wc[l_idx]
        if not wrow.any():
            continue
        sel = np.flatnonzero(np.abs(py - yl) <= _CUTOFF_SIGMAS * sy)
        if sel.size == 0:
            continue
        dy = py[sel] - yl
        gy_fac = np.exp(-0.5 * dy * dy / syy)
        t = px[None, :] - shear * dy[:, None]  # (Ys, X): x - x_k must be near t for kernel mass
        k0 = np.rint((t - gxc[0]) / hx).astype(np.int64)
        k = k0[..., None] + offsets  # (Ys, X, J)
        valid = (k >= 0) & (k < k_count)
        kc = np.clip(k, 0, k_count - 1)
        wk = np.where(valid, wrow[kc], 0.0)
        d = t[..., None] - gxc[kc]
        contrib = (wk * np.exp(-0.5 * d * d / s2)).sum(axis=-1)
        dens[sel] += gy_fac[:, None] * contrib
    return dens * norm


# ---------------------------------------------------------------------------------------------
# Ripple of a kernel narrower than the grid spacing
# ---------------------------------------------------------------------------------------------
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
    ix = np.arange(-min(12, math.ceil(kmax * hx)), min(12, math.ceil(kmax * hx)) + 1)
    iy = np.arange(-min(12, math.ceil(kmax * hy)), min(12, math.ceil(kmax * hy)) + 1)
    ki, kj = np.meshgrid(ix / hx, iy / hy)  # [j, i]
    q = cov[0, 0] * ki * ki + 2 * cov[0, 1] * ki * kj + cov[1, 1] * kj * kj
    amp = np.exp(-2 * math.pi**2 * q)
    t = np.linspace(0.0, 1.0, 13)
    ex = np.exp(2j * math.pi * np.outer(ix, t))  # (I, 17): phase along x in cell units
    ey = np.exp(2j * math.pi * np.outer(iy, t))  # (J, 17)
    field = (ey.T @ amp @ ex).real  # (17, 17) periodic density / mean
    top = field.max()
    if not top > 0:
        return 1.0
    return float(np.clip((top - field.min()) / top, 0.0, 1.0))


def _lam_for_ripple(cov, shape, target, lam_max=10_000):
    """Smallest lam (within 3 %) whose lattice ripple under kernel ``cov`` is <= ``target``.

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


# ---------------------------------------------------------------------------------------------
# 5. The confidence map
# ---------------------------------------------------------------------------------------------
def confidence_map(
    annotation: Annotation,
    *,
    lam: int = 100,
    betas=(1.0, 0.5, 0.1),
    bandwidth=0.1,
    kernel: str = "full",
    region: str = "convex",
    alpha=None,
    sink_radius=None,
    ripple_warn: float | None = DEFAULT_RIPPLE_WARN,
    max_memory=None,
):
    """The soft confidence map of an annotation (the paper's Eqs. 5-7).

    Parameters
    ----------
    annotation : Annotation
        Tiered points on an image of shape ``(H, W)``.
    lam : int, default 100
        Grid subsampling lambda: the grid has ``(lam + 1)**2`` points (Section 2.3).
    betas : (float, float, float), default (1.0, 0.5, 0.1)
        Tier weights ``(beta_H, beta_M, beta_L)`` of Eq. 5, each >= 0.
    bandwidth : float or {"scott", "silverman"}, default 0.1
        KDE bandwidth factor sigma (> 0), as ``scipy.stats.gaussian_kde``'s ``bw_method``.
    kernel : {"full", "isotropic"}, default "full"
        ``"full"``: scipy's semantics, kernel covariance = bandwidth**2 x the weighted covariance of
        the grid points. ``"isotropic"``: Eq. 6 with one sigma in pixels for both axes, equal to
        ``bandwidth`` times the RMS standard deviation of the weighted grid (see
        :func:`kde_covariance`).
    region : {"convex", "alpha"}, default "convex"
        Tier regions: the paper's Delaunay triangulation (convex), or a carved alpha shape for
        concave tiers (see :func:`make_region`).
    alpha : float, optional
        Circumradius in pixels below which triangles are never carved (``region="alpha"`` only).
    sink_radius : float, optional
        Radius in pixels of the tissue each sink point removes. Default ``2 * max(H, W) / lam``
        (two grid spacings). See Notes.
    ripple_warn : float or None, default 0.01
        Issue a :class:`RippleWarning` when the predicted lattice ripple (see
        :func:`lattice_ripple`) exceeds this; None never warns.
    max_memory : float, optional
        Refuse (``ValueError``) a map whose estimated memory exceeds this many bytes. Default: the
        ``CONFMAP_MAX_MEMORY`` environment variable, else half the machine's physical memory. The
        estimate is ``8 x (3 H W + 6 (lam + 1)**2)`` bytes, checked before anything is allocated.

    Returns
    -------
    xarray.DataArray, shape (H, W)
        Dims ``("y", "x")`` with pixel-centre coordinates ``y = 0..H-1``, ``x = 0..W-1`` (and
        ``y_mm``, ``x_mm`` when the annotation has a pixel spacing); values in [0, 1], never NaN.
        ``attrs`` hold every parameter, the kernel covariance (``kernel_cov``, px**2, as
        ``[s_xx, s_xy, s_yy]``), the numeric ``bandwidth_factor``, the predicted ``ripple``, and
        the tiers that had a region (``tiers_with_region``).

    Warns
    -----
    NoRegionWarning
        For each tier with points but no region (fewer than 3 points, collinear), and when no tier
        has a region (the map is then all zeros).
    RippleWarning
        When the kernel is narrow enough for the grid lattice to show (see ``ripple_warn``).
    ConfmapWarning
        When tiers have regions but the map is still all zeros: the kernel is so narrow (e.g.
        ``bandwidth=1e-12``) that the density underflows to 0 at every pixel centre.

    Raises
    ------
    ValueError
        For invalid arguments, and when the estimated memory exceeds the limit (see ``max_memory``);
        the message names the argument that drives the estimate, the estimate and the limit.

    Notes
    -----
    Eq. 7 min-max normalises the density over the image's pixels. The map is exact to about 1e-12
    relative to ``scipy.stats.gaussian_kde`` evaluated at every pixel and then normalised.

    **Sinks** (the paper's future work: removing interposed normal tissue). For sink points
    ``s_j`` with radius ``r``: (1) grid points within ``r`` of a sink get weight 0 before the
    KDE; (2) the density is multiplied by ``prod_j (1 - exp(-|p - s_j|**2 / (2 (r/3)**2)))``,
    which is exactly 0 at each sink and at least ``1 - exp(-4.5) = 0.98889`` beyond ``r``; (3) Eq. 7
    normalises. So the map is 0 at a sink on a pixel centre, and small at the pixels next to a sink between pixels, even
    inside a high-confidence region.

    Examples
    --------
    >>> from confmap import Annotation, confidence_map
    >>> ann = Annotation(shape=(60, 80), high=[(30, 20), (50, 22), (40, 40)],
    ...                  medium=[(20, 10), (60, 12), (62, 50), (18, 48)])
    >>> cm = confidence_map(ann)
    >>> cm.dims, float(cm.max()), float(cm.min())
    (('y', 'x'), 1.0, 0.0)
    """
    _check_annotation(annotation)
    lam = check_int("lam", lam, minimum=1)
    betas = _check_betas(betas)
    bandwidth = _check_bandwidth(bandwidth)
    check_choice("kernel", kernel, ("full", "isotropic"))
    check_choice("region", region, ("convex", "alpha"))
    if ripple_warn is not None:
        ripple_warn = check_number("ripple_warn", ripple_warn, minimum=0.0)
    check_memory(
        "the confidence map",
        map_memory_bytes(annotation.shape, lam),
        {"annotation.shape": annotation.shape, "lam": lam},
        max_memory=max_memory,
    )
    h, w = annotation.shape
    r_sink = _sink_radius(sink_radius, annotation.shape, lam)
    grid = mesh_grid(annotation.shape, lam=lam)
    regions = tier_regions(annotation, region=region, alpha=alpha)
    weights = grid_weights(
        annotation, lam=lam, betas=betas, region=region, alpha=alpha, sink_radius=r_sink, regions=regions
    )
    attrs = {
        "long_name": "confidence",
        "lam": lam,
        "betas": list(betas),
        "bandwidth": bandwidth,
        "kernel": kernel,
        "region": region,
        "sink_radius": r_sink,
        "tiers_with_region": [t for t in WEIGHTED_TIERS if regions[t].ok],
    }
    if region == "alpha":
        attrs["alpha"] = 0.0 if alpha is None else float(alpha)
    if annotation.image_id:
        attrs["image_id"] = annotation.image_id
    if not weights.sum() > 0:
        warnings.warn(
            "no grid point lies in any tier region (or betas are all 0): the map is all zeros",
            NoRegionWarning,
            stacklevel=2,
        )
        cm = np.zeros((h, w))
        attrs.update(
            bandwidth_factor=float("nan") if isinstance(bandwidth, str) else bandwidth,
            kernel_cov=[0.0, 0.0, 0.0],
            ripple=0.0,
        )
        return _as_dataarray(cm, annotation, attrs)
    cov, factor = kde_covariance(weights, grid, bandwidth=bandwidth, kernel=kernel)
    cm = np.zeros((h, w))
    crop = _density_crop(weights, grid[0], grid[1], annotation.shape, cov)
    if crop is not None:
        dens, (y0, y1, x0, x1) = crop
        if len(annotation.sinks):
            dens *= _sink_suppression(annotation.sinks, annotation.shape, r_sink)[y0:y1, x0:x1]
        # Eq. 7 over the whole image: outside the crop the density is exactly 0
        covers_all = (y1 - y0, x1 - x0) == (h, w)
        lo = float(dens.min()) if covers_all else min(0.0, float(dens.min()))
        hi = float(dens.max())
        if hi > lo:
            cm[y0:y1, x0:x1] = dens
            cm[y0:y1, x0:x1] -= lo
            cm[y0:y1, x0:x1] /= hi - lo
    if not cm.any():
        warnings.warn(
            f"the map is all zeros although tier(s) {attrs['tiers_with_region']} have regions: the kernel "
            f"(sigma_x={math.sqrt(cov[0, 0]):.3g} px, sigma_y={math.sqrt(cov[1, 1]):.3g} px, bandwidth "
            f"{bandwidth!r}) is so narrow that the density underflows to 0 at every pixel centre; "
            "use a larger bandwidth",
            ConfmapWarning,
            stacklevel=2,
        )
    ripple = lattice_ripple(cov, (w / lam, h / lam))
    attrs.update(
        bandwidth_factor=factor, kernel_cov=[float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])], ripple=ripple
    )
    if ripple_warn is not None and ripple > ripple_warn:
        # half the threshold: the kernel itself changes a little with lam
        need = _lam_for_ripple(cov, annotation.shape, ripple_warn / 2)
        hint = f"use lam >= {need}" if need is not None else "use a larger lam"
        warnings.warn(
            f"the kernel (sigma_x={math.sqrt(cov[0, 0]):.3g} px, sigma_y={math.sqrt(cov[1, 1]):.3g} px) "
            f"is narrow for the grid spacing ({w / lam:.3g} x {h / lam:.3g} px): the map shows a "
            f"lattice ripple of about {ripple:.1%} of its local level; {hint} or a larger bandwidth",
            RippleWarning,
            stacklevel=2,
        )
    return _as_dataarray(cm, annotation, attrs)


def _sink_suppression(sinks, shape, r):
    h, w = shape
    tau2 = (r / 3.0) ** 2
    fac = np.ones(shape)
    reach = 3.0 * r  # beyond 9 tau the factor is 1 - exp(-40.5)
    for sx, sy in sinks:
        x0, x1 = max(0, math.ceil(sx - reach)), min(w - 1, math.floor(sx + reach))
        y0, y1 = max(0, math.ceil(sy - reach)), min(h - 1, math.floor(sy + reach))
        if x1 < x0 or y1 < y0:
            continue
        xs = np.arange(x0, x1 + 1) - sx
        ys = np.arange(y0, y1 + 1) - sy
        d2 = ys[:, None] ** 2 + xs[None, :] ** 2
        fac[y0 : y1 + 1, x0 : x1 + 1] *= -np.expm1(-d2 / (2 * tau2))
    return fac


_PIXEL_ATTRS = {
    "y": {"units": "pixel", "long_name": "row (pixel centre)"},
    "x": {"units": "pixel", "long_name": "column (pixel centre)"},
}


def _as_dataarray(values, annotation, attrs):
    import xarray as xr

    h, w = annotation.shape
    coords = {
        "y": xr.Variable("y", np.arange(h), _PIXEL_ATTRS["y"]),
        "x": xr.Variable("x", np.arange(w), _PIXEL_ATTRS["x"]),
    }
    if annotation.spacing is not None:
        dy, dx = annotation.spacing
        coords["y_mm"] = xr.Variable("y", np.arange(h) * dy, {"units": "mm"})
        coords["x_mm"] = xr.Variable("x", np.arange(w) * dx, {"units": "mm"})
    return xr.DataArray(values, dims=("y", "x"), coords=coords, name="confidence", attrs=attrs)


def confidence_maps(annotations, *, progress: bool = False, **kwargs):
    """Confidence maps of many annotations at once, as one ``xarray.Dataset``.

    Parameters
    ----------
    annotations : sequence of Annotation
        All of the same image shape ``(H, W)``.
    progress : bool, default False
        Show a tqdm progress bar.
    **kwargs
        Keyword arguments of :func:`confidence_map` (the same for every image).

    Returns
    -------
    xarray.Dataset
        Variable ``confidence`` with dims ``("image", "y", "x")``; coordinate ``image`` is
        ``0..n-1`` and ``image_id`` holds each annotation's id (``""`` if none). Parameters are in
        ``attrs``.

    Examples
    --------
    >>> from confmap import Annotation, confidence_maps
    >>> anns = [Annotation((40, 50), high=[(10, 10), (30, 12), (20, 30)]) for _ in range(3)]
    >>> confidence_maps(anns).confidence.shape
    (3, 40, 50)
    """
    import xarray as xr

    anns = list(annotations) if not isinstance(annotations, Annotation) else [annotations]
    if not anns:
        raise ValueError("`annotations` must hold at least one Annotation, got an empty sequence")
    for i, a in enumerate(anns):
        if not isinstance(a, Annotation):
            raise TypeError(f"`annotations[{i}]` must be an Annotation, got {describe(a)}")
    shapes = {a.shape for a in anns}
    if len(shapes) != 1:
        raise ValueError(f"all annotations must have the same image shape, got {sorted(shapes)}")
    (h, w), n = shapes.pop(), len(anns)
    lam = kwargs.get("lam", 100)
    parts = map_memory_bytes((h, w), check_int("lam", lam, minimum=1))
    check_memory(  # one map at a time, plus the n maps kept and their stacked copy
        f"a batch of {n} confidence maps",
        {"annotations": parts["annotation.shape"] + 8.0 * 2 * n * h * w, "lam": parts["lam"]},
        {"annotations": f"{n} annotations of shape {(h, w)}", "lam": lam},
        max_memory=kwargs.get("max_memory"),
    )
    it = anns
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(anns, desc="confidence maps", unit="image")
    maps = [confidence_map(a, **kwargs) for a in it]
    attrs = {
        k: v
        for k, v in maps[0].attrs.items()
        if k not in ("long_name", "image_id", "kernel_cov", "ripple", "tiers_with_region", "bandwidth_factor")
    }
    stacked = xr.concat(maps, dim="image", coords="minimal", compat="override", combine_attrs="drop")
    ds = xr.Dataset({"confidence": stacked})
    ds = ds.assign_coords(image=np.arange(len(anns)), image_id=("image", [a.image_id or "" for a in anns]))
    ds["ripple"] = ("image", [m.attrs["ripple"] for m in maps])
    ds["bandwidth_factor"] = ("image", [m.attrs["bandwidth_factor"] for m in maps])
    ds.attrs.update(attrs)
    return ds


# ---------------------------------------------------------------------------------------------
def _check_annotation(annotation):
    if not isinstance(annotation, Annotation):
        raise TypeError(f"`annotation` must be a confmap.Annotation, got {describe(annotation)}")


def _check_betas(betas):
    try:
        seq = tuple(betas)
    except TypeError:
        raise TypeError(f"`betas` must be three numbers (beta_H, beta_M, beta_L), got {describe(betas)}") from None
    if len(seq) != 3:
        raise ValueError(f"`betas` must be three numbers (beta_H, beta_M, beta_L), got {describe(betas)}")
    names = ("betas[0] (beta_H)", "betas[1] (beta_M)", "betas[2] (beta_L)")
    return tuple(check_number(n, b, minimum=0.0) for n, b in zip(names, seq, strict=True))


_ = TIERS  # re-exported through confmap.annotation
