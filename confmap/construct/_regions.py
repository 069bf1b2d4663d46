"""Step 2 of the construction: the region of each tier (Delaunay triangles, or a carved alpha shape)."""

from __future__ import annotations

import functools
import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_points
from ..annotation import Annotation
from ._params import WEIGHTED_TIERS, check_annotation, check_param

__all__ = ["TierRegion", "make_region", "tier_regions"]

# Relative tolerance of "on the region boundary" (boundary points count as inside).
_BOUNDARY_RTOL = 1e-9
# Regions kept for reuse (an annotator redraws after every click, and most tiers did not change), and
# grid masks kept per region (one per grid: lam and image shape).
# Masks of larger grids are not kept (memory: at most 32 x 2 x 256 kB).
_REGION_CACHE_SIZE = 32
_MASKS_PER_REGION = 2
_MASK_CACHE_MAX_POINTS = 2**18


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
    _masks: dict = field(default_factory=dict, repr=False, compare=False)

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
        v0, v1 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        return float(np.abs(v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]).sum() / 2)

    def grid_mask(self, gx, gy) -> np.ndarray:
        """``contains`` on the product grid ``gx x gy`` (evenly spaced), testing only the bbox.

        Returns a new boolean array ``(len(gy), len(gx))``; the result is also kept on the region
        (a few grids), so that an unchanged tier costs nothing when the map is redrawn.
        """
        gx, gy = np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)
        key = (gx.tobytes(), gy.tobytes())
        mask = self._masks.get(key)
        if mask is None:
            mask = self._grid_mask(gx, gy)
            if mask.size <= _MASK_CACHE_MAX_POINTS:
                if len(self._masks) >= _MASKS_PER_REGION:
                    self._masks.clear()
                self._masks[key] = mask.copy()
        return mask.copy()

    def _grid_mask(self, gx, gy):
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
        if self._halfplanes is not None:
            # convex: every half-plane n . p + c <= tol, evaluated on the sub-grid as an outer sum
            eq = self._halfplanes
            row = eq[:, 1, None] * gy[None, l0:l1] + eq[:, 2, None]  # (E, rows)
            vals = eq[:, 0, None, None] * gx[None, None, k0:k1] + row[:, :, None]  # (E, rows, cols)
            mask[l0:l1, k0:k1] = np.all(vals <= tol, axis=0)
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
        flat = self.triangles.reshape(-1, 2)
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        tol = _BOUNDARY_RTOL * max(1.0, float(np.abs(flat).max()))
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
    check_param("region", region)
    alpha = check_param("alpha", alpha)
    pts = check_points(tier, points)
    return _region_of(tier, region, alpha, pts.shape, pts.tobytes())


@functools.lru_cache(maxsize=_REGION_CACHE_SIZE)
def _region_of(tier, region, alpha, shape, data) -> TierRegion:
    """:func:`make_region` for checked points (given as bytes, so that the result can be cached).

    The cached region is shared: its arrays are read-only.
    """
    reg = _build_region(tier, region, alpha, np.frombuffer(data).reshape(shape))
    for arr in (reg.triangles, reg._halfplanes):
        if arr is not None:
            arr.setflags(write=False)
    return reg


def _build_region(tier, region, alpha, pts) -> TierRegion:
    _, first = np.unique(pts[:, 0] + 1j * pts[:, 1], return_index=True)
    uniq = pts[np.sort(first)]
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
    keep = _carve(uniq, simplices, tri.neighbors, tri.convex_hull, 0.0 if alpha is None else alpha)
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


def _carve(pts, simplices, nb, hull, alpha):
    """Chi-shape carving of a Delaunay triangulation (``nb``: its neighbours, ``hull``: its boundary
    edges); returns a boolean mask of kept triangles."""
    m = len(simplices)
    alive = np.ones(m, dtype=bool)
    radius = _circumradius(pts[simplices])
    on_boundary = np.zeros(len(pts), dtype=bool)
    on_boundary[hull] = True
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
    check_annotation(annotation)
    return {t: make_region(annotation.points(t), tier=t, region=region, alpha=alpha) for t in WEIGHTED_TIERS}
