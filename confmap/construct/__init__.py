"""Confidence-map construction (the paper's Section 2.3, Eqs. 5-7), exact and at interactive speed.

One private module per step, all public names here (``_params``: :class:`MapParams`, every parameter
checked once, :func:`check_param` and :func:`check_annotation`). The stages, each public so notebooks can show them:

1. ``_grid``: :func:`mesh_grid` -- the ``(lam + 1)**2`` grid ``x_k = k W / lam``, ``y_l = l H / lam``.
2. ``_regions``: :func:`tier_regions`, :func:`make_region` -- the Delaunay region of each tier
   (convex, or a carved alpha shape).
3. ``_grid``: :func:`grid_tiers` (each grid point's tier) and :func:`grid_weights` -- Eq. 5 as a
   lookup in the tiers: ``beta_H`` inside the high region, else ``beta_M`` inside the medium one,
   else ``beta_L`` inside the low one, else 0 (boundaries inclusive); sinks zero the weights around them.
4. ``_kernel``: :func:`kde_covariance` (and :func:`lattice_ripple`, :func:`lam_for_ripple`), then
   ``_fastkde``: :func:`weighted_kde` (Mehler's series, integer shears, a :class:`Plan`) -- the weighted
   Gaussian KDE with the semantics of ``scipy.stats.gaussian_kde(grid, weights=w, bw_method=bandwidth)``
   (full 2x2 kernel covariance), or the isotropic kernel of Eq. 6, evaluated at every pixel centre.
5. ``_map``: :func:`confidence_map`, :func:`confidence_maps` -- all of the above, then the min-max
   normalisation of Eq. 7 (:func:`normalise`); :func:`map_from_weights` is the KDE and Eq. 7 for
   given weights and kernel; :func:`kde_map` is steps 4-5 for given weights (shared with the sweep).
"""

from .._warnings import ConfmapWarning, NoRegionWarning, RippleWarning
from ._fastkde import Plan, weighted_kde
from ._grid import TIER_CODES, grid_tiers, grid_weights, mesh_grid, sink_suppression, tier_weights
from ._kernel import kde_covariance, lam_for_ripple, lattice_ripple
from ._map import RESOLUTION, confidence_map, confidence_maps, density_floor, kde_map, map_from_weights, normalise
from ._params import DEFAULT_RIPPLE_WARN, WEIGHTED_TIERS, MapParams, check_annotation, check_param
from ._regions import TierRegion, make_region, tier_regions

__all__ = [
    "DEFAULT_RIPPLE_WARN",
    "TIER_CODES",
    "WEIGHTED_TIERS",
    "ConfmapWarning",
    "MapParams",
    "NoRegionWarning",
    "Plan",
    "RippleWarning",
    "TierRegion",
    "check_annotation",
    "check_param",
    "confidence_map",
    "confidence_maps",
    "grid_tiers",
    "grid_weights",
    "kde_covariance",
    "kde_map",
    "lam_for_ripple",
    "lattice_ripple",
    "make_region",
    "map_from_weights",
    "mesh_grid",
    "RESOLUTION",
    "density_floor",
    "normalise",
    "sink_suppression",
    "tier_regions",
    "tier_weights",
    "weighted_kde",
]
