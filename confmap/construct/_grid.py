"""Steps 1 and 3 of the construction: the mesh grid, each grid point's tier, the weights of Eq. 5, sinks."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._validation import check_image_shape, check_int
from .._warnings import NoRegionWarning
from ..annotation import Annotation
from ._params import WEIGHTED_TIERS, MapParams, check_annotation
from ._regions import TierRegion, tier_regions

__all__ = [
    "TIER_CODES",
    "grid_tiers",
    "grid_weights",
    "label_grid",
    "mesh_grid",
    "sink_suppression",
    "tier_weights",
    "warn_missing_regions",
]

#: The codes of :func:`grid_tiers`: 0 for no tier (or near a sink), then the weighted tiers.
TIER_CODES = {"none": 0, "high": 1, "medium": 2, "low": 3}


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


def label_grid(grid, regions: dict[str, TierRegion], sinks, sink_radius: float) -> np.ndarray:
    """Tier codes (:data:`TIER_CODES`) of the grid ``(gx, gy)``, for checked inputs (no warnings).

    The first tier of Eq. 5's order (high, medium, low) whose region holds a grid point labels it;
    grid points within ``sink_radius`` pixels of a sink get 0.
    """
    gx, gy = grid
    codes = np.zeros((len(gy), len(gx)), dtype=np.int8)
    for tier in WEIGHTED_TIERS:
        if regions[tier].ok:
            codes[regions[tier].grid_mask(gx, gy) & (codes == 0)] = TIER_CODES[tier]
    for sx, sy in sinks:
        codes[(gx[None, :] - sx) ** 2 + (gy[:, None] - sy) ** 2 <= sink_radius * sink_radius] = 0
    return codes


def tier_weights(codes, betas) -> np.ndarray:
    """Eq. 5 as a lookup: ``(0, beta_H, beta_M, beta_L)[codes]`` for tier codes from :func:`grid_tiers`."""
    bh, bm, bl = betas
    return np.array([0.0, bh, bm, bl])[codes]


def warn_missing_regions(annotation: Annotation, regions, *, stacklevel: int = 3) -> list[str]:
    """Warn (:class:`confmap.NoRegionWarning`) for each tier with points but no region; return the reasons."""
    reasons = []
    for tier in WEIGHTED_TIERS:
        if len(annotation.points(tier)) and not regions[tier].ok:
            reasons.append(regions[tier].reason)
            warnings.warn(
                f"tier has no region ({regions[tier].reason}); its points are ignored",
                NoRegionWarning,
                stacklevel=stacklevel,
            )
    return reasons


def grid_tiers(
    annotation: Annotation,
    *,
    lam: int = 100,
    region: str = "convex",
    alpha=None,
    sink_radius=None,
    regions: dict[str, TierRegion] | None = None,
    warn: bool = True,
) -> np.ndarray:
    """Which tier each mesh grid point belongs to (Eq. 5's order), as codes.

    Parameters
    ----------
    annotation : Annotation
    lam, region, alpha, sink_radius
        As in :func:`grid_weights`.
    regions : dict, optional
        Precomputed :func:`tier_regions`.
    warn : bool, default True
        Issue a :class:`NoRegionWarning` for each tier that has points but no region.

    Returns
    -------
    ndarray of int8, shape (lam + 1, lam + 1)
        ``codes[l, k]`` for grid point ``(gx[k], gy[l])``: 1 high, 2 medium, 3 low, 0 none or
        near a sink (:data:`TIER_CODES`). The weights of Eq. 5 are ``(0, beta_H, beta_M, beta_L)[codes]``.

    Examples
    --------
    >>> from confmap import Annotation
    >>> ann = Annotation((40, 40), high=[(10, 10), (30, 10), (20, 30)])
    >>> codes = grid_tiers(ann, lam=4)
    >>> codes[2].tolist()  # the grid row y = 20
    [0, 0, 1, 0, 0]
    """
    p = MapParams.make(lam=lam, region=region, alpha=alpha, sink_radius=sink_radius)
    return _tier_codes(annotation, p, regions, warn)


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
    inside (relative tolerance 1e-9). This is a lookup in :func:`grid_tiers`.
    """
    p = MapParams.make(lam=lam, betas=betas, region=region, alpha=alpha, sink_radius=sink_radius)
    return tier_weights(_tier_codes(annotation, p, regions, warn), p.betas)


def _tier_codes(annotation, p: MapParams, regions, warn) -> np.ndarray:
    """:func:`grid_tiers` with checked parameters; a warning names the caller of the public function."""
    check_annotation(annotation)
    if regions is None:
        regions = tier_regions(annotation, region=p.region, alpha=p.alpha)
    if warn:
        warn_missing_regions(annotation, regions, stacklevel=4)
    grid = mesh_grid(annotation.shape, lam=p.lam)
    return label_grid(grid, regions, annotation.sinks, p.sink_radius_px(annotation.shape))


def sink_suppression(sinks, shape, r) -> np.ndarray:
    """The factor ``prod_j (1 - exp(-|p - s_j|**2 / (2 (r/3)**2)))`` at every pixel, shape ``(H, W)``."""
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
