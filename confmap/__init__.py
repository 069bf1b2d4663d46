"""confmap: confidence-based annotation of brain tumours in ultrasound.

Sparse points at three confidence tiers (high, medium, low) become a soft confidence map through
Delaunay tier regions, a weighted mesh grid and a Gaussian KDE (Weld et al., Section 2.3).

Coordinate convention: points are ``(x, y) = (column, row)`` in pixels, pixel centres on integers
(matplotlib's ``imshow`` convention); maps are ``xarray.DataArray`` with dims ``("y", "x")``.

``import confmap`` is light: torch (``confmap.learn``) and widgets (``confmap.widgets``) are only
imported when those subpackages are.
"""

from ._warnings import ConfmapWarning, NoRegionWarning, RippleWarning
from .annotation import TIERS, Annotation, image_sha256, points_table
from .construct import (
    MapParams,
    TierRegion,
    confidence_map,
    confidence_maps,
    grid_tiers,
    grid_weights,
    kde_covariance,
    lam_for_ripple,
    lattice_ripple,
    make_region,
    mesh_grid,
    normalise,
    tier_regions,
    weighted_kde,
)

__version__ = "0.1.0"

__all__ = [
    "TIERS",
    "Annotation",
    "ConfmapWarning",
    "MapParams",
    "NoRegionWarning",
    "RippleWarning",
    "TierRegion",
    "__version__",
    "confidence_map",
    "confidence_maps",
    "grid_tiers",
    "grid_weights",
    "image_sha256",
    "points_table",
    "kde_covariance",
    "lam_for_ripple",
    "lattice_ripple",
    "make_region",
    "mesh_grid",
    "normalise",
    "tier_regions",
    "weighted_kde",
]
