"""Step 5 of the construction: Eq. 7 (:func:`normalise`), sink suppression, and :func:`confidence_map`."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .._validation import check_finite_array, check_memory, map_memory_bytes, progress_bar
from .._warnings import ConfmapWarning, NoRegionWarning, RippleWarning
from ..annotation import Annotation, as_annotations
from ..dataset import pixel_coords
from ._fastkde import density_crop
from ._grid import label_grid, mesh_grid, sink_suppression, tier_weights, warn_missing_regions
from ._kernel import kde_covariance, lam_for_ripple, lattice_ripple
from ._params import WEIGHTED_TIERS, MapParams, check_annotation
from ._regions import tier_regions

__all__ = [
    "RESOLUTION",
    "confidence_map",
    "confidence_maps",
    "density_floor",
    "kde_map",
    "map_from_weights",
    "normalise",
]

#: A density below this fraction of one kernel's peak at every pixel centre counts as 0 (the map is all
#: zeros, with a warning): the fast KDE is exact to about 1e-12 of the peak, so such a map would be
#: normalised rounding noise (and could differ between a map and its transpose).
RESOLUTION = 1e-12


def density_floor(cov) -> float:
    """The density below which a map is numerically zero: ``RESOLUTION`` x one kernel's peak.

    ``cov`` is the kernel covariance (2, 2) in square pixels; the peak is ``1 / (2 pi sqrt(det cov))``,
    the largest value a KDE with weights summing to 1 can take.
    """
    det = float(np.linalg.det(np.asarray(cov, dtype=float)))
    return RESOLUTION / (2.0 * math.pi * math.sqrt(det)) if det > 0 else 0.0


def normalise(density, *, background: float | None = None, floor: float = 0.0) -> np.ndarray:
    """The paper's Eq. 7: min-max normalisation of a density to [0, 1].

    Parameters
    ----------
    density : array_like, shape (H, W)
        The (suppressed) KDE on the image's pixels, or on a crop of them.
    background : float, optional
        When ``density`` is a crop: the value the density has on the rest of the image (0 for
        :func:`weighted_kde` beyond the kernel's reach), so the minimum is taken over the whole image.
    floor : float, optional
        A density whose maximum is not above ``floor`` counts as all zeros (see :func:`density_floor`:
        below the KDE's numerical resolution, Eq. 7 would only blow rounding noise up to 1).

    Returns
    -------
    ndarray, shape (H, W)
        ``(density - min) / (max - min)``; all zeros when the density is flat (never NaN).

    Examples
    --------
    >>> normalise([[1.0, 2.0], [3.0, 5.0]]).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    >>> normalise([[2.0, 2.0]]).tolist()
    [[0.0, 0.0]]
    """
    d = check_finite_array("density", density, ndim=2)
    out = np.zeros(d.shape)
    _normalise_into(out, d, background, floor)
    return out


def _normalise_into(out, d, background, floor) -> None:
    """Eq. 7 of the density ``d`` written into ``out`` (left as it is when flat or below ``floor``)."""
    lo = float(d.min())
    if background is not None:
        lo = min(lo, float(background))
    hi = float(d.max())
    if hi > lo and hi > floor:
        np.subtract(d, lo, out=out)
        out /= hi - lo


def confidence_map(annotation: Annotation, *, params: MapParams | None = None, max_memory=None, **overrides):
    """The soft confidence map of an annotation (the paper's Eqs. 5-7).

    Parameters
    ----------
    annotation : Annotation
        Tiered points on an image of shape ``(H, W)``.
    params : MapParams, optional
        All parameters at once (default: ``MapParams()``); the keywords below override its fields.
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
        the tiers that had a region (``tiers_with_region``); ``no_region`` gives the reasons a
        tier with points has no region (when one has none), and ``suggested_lam`` the lam that
        removes a predicted ripple above ``ripple_warn`` (see :func:`lam_for_ripple`; when one is
        found, after a :class:`RippleWarning`). ``MapParams.from_attrs(map.attrs)`` gives back the
        parameters.

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
    normalises. So the map is 0 at a sink on a pixel centre, and small at the pixels next to a sink
    between pixels, even inside a high-confidence region.

    Examples
    --------
    >>> from confmap import Annotation, MapParams, confidence_map
    >>> ann = Annotation(shape=(60, 80), high=[(30, 20), (50, 22), (40, 40)],
    ...                  medium=[(20, 10), (60, 12), (62, 50), (18, 48)])
    >>> cm = confidence_map(ann)
    >>> cm.dims, float(cm.max()), float(cm.min())
    (('y', 'x'), 1.0, 0.0)
    >>> confidence_map(ann, params=MapParams(lam=50)).attrs["lam"]
    50
    """
    check_annotation(annotation)
    p = MapParams.make(params, **overrides)
    check_memory(
        "the confidence map",
        map_memory_bytes(annotation.shape, p.lam),
        {"annotation.shape": annotation.shape, "lam": p.lam},
        max_memory=max_memory,
    )
    h, w = annotation.shape
    r_sink = p.sink_radius_px(annotation.shape)
    grid = mesh_grid(annotation.shape, lam=p.lam)
    regions = tier_regions(annotation, region=p.region, alpha=p.alpha)
    no_region = warn_missing_regions(annotation, regions, stacklevel=3)
    weights = tier_weights(label_grid(grid, regions, annotation.sinks, r_sink), p.betas)
    attrs = {"long_name": "confidence", **p.to_attrs(), "sink_radius": r_sink}
    attrs["tiers_with_region"] = [t for t in WEIGHTED_TIERS if regions[t].ok]
    if no_region:
        attrs["no_region"] = "; ".join(no_region)
    if annotation.image_id:
        attrs["image_id"] = annotation.image_id
    sink_factor = sink_suppression(annotation.sinks, annotation.shape, r_sink) if len(annotation.sinks) else None
    cm, cov, factor, ripple = kde_map(weights, grid, annotation.shape, p.bandwidth, p.kernel, sink_factor)
    kernel_cov = [0.0, 0.0, 0.0] if cov is None else [float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])]
    attrs.update(bandwidth_factor=factor, kernel_cov=kernel_cov, ripple=ripple)
    if cov is None:
        return as_dataarray(cm, annotation, attrs)
    if not cm.any():
        warnings.warn(
            f"the map is all zeros although tier(s) {attrs['tiers_with_region']} have regions: the kernel "
            f"(sigma_x={math.sqrt(cov[0, 0]):.3g} px, sigma_y={math.sqrt(cov[1, 1]):.3g} px, bandwidth "
            f"{p.bandwidth!r}) is so narrow that the density is below {RESOLUTION:g} of its peak "
            "(numerically 0) at every pixel centre; use a larger bandwidth",
            ConfmapWarning,
            stacklevel=2,
        )
    if p.ripple_warn is not None and ripple > p.ripple_warn:
        # half the threshold: the kernel itself changes a little with lam
        need = lam_for_ripple(cov, annotation.shape, p.ripple_warn / 2)
        if need is not None:
            attrs["suggested_lam"] = need
        hint = f"use lam >= {need}" if need is not None else "use a larger lam"
        warnings.warn(
            f"the kernel (sigma_x={math.sqrt(cov[0, 0]):.3g} px, sigma_y={math.sqrt(cov[1, 1]):.3g} px) "
            f"is narrow for the grid spacing ({w / p.lam:.3g} x {h / p.lam:.3g} px): the map shows a "
            f"lattice ripple of about {ripple:.1%} of its local level; {hint} or a larger bandwidth",
            RippleWarning,
            stacklevel=2,
        )
    return as_dataarray(cm, annotation, attrs)


def kde_map(weights, grid, shape, bandwidth, kernel, sink_factor=None):
    """Steps 4 and 5 for given grid weights: the kernel, the KDE, Eq. 7 and the predicted ripple.

    :func:`confidence_map` and :func:`confmap.sweep.sweep` both build their maps with it.

    Parameters
    ----------
    weights, grid, shape, sink_factor
        As in :func:`map_from_weights`.
    bandwidth, kernel
        As in :func:`confidence_map` (checked by the caller, e.g. through :class:`MapParams`).

    Returns
    -------
    (ndarray, ndarray or None, float, float)
        The map (H, W) in [0, 1]; the kernel covariance (2, 2) in square pixels; the numeric bandwidth
        factor; the predicted lattice ripple. Weights all 0 give the all-zero map, ``cov`` None and
        ripple 0, after a :class:`NoRegionWarning`.
    """
    if not weights.sum() > 0:
        msg = "no grid point lies in any tier region (or betas are all 0): the map is all zeros"
        warnings.warn(msg, NoRegionWarning, stacklevel=3)
        return np.zeros(shape), None, float("nan") if isinstance(bandwidth, str) else bandwidth, 0.0
    cov, factor = kde_covariance(weights, grid, bandwidth=bandwidth, kernel=kernel)
    (h, w), lam = shape, len(grid[0]) - 1
    cm = map_from_weights(weights, grid, shape, cov, sink_factor)
    return cm, cov, factor, lattice_ripple(cov, (w / lam, h / lam))


def map_from_weights(weights, grid, shape, cov, sink_factor=None) -> np.ndarray:
    """Steps 4b and 5 for given grid weights and kernel: the KDE, the sinks' factor, Eq. 7.

    Parameters
    ----------
    weights : ndarray, shape (len(gy), len(gx))
        Grid weights of Eq. 5 (:func:`tier_weights`), >= 0.
    grid : (ndarray, ndarray)
        ``(gx, gy)`` of :func:`mesh_grid`.
    shape : (int, int)
        ``(H, W)`` of the image.
    cov : ndarray, shape (2, 2)
        Kernel covariance in square pixels (:func:`kde_covariance`).
    sink_factor : ndarray, shape (H, W), optional
        :func:`sink_suppression` of the image's sinks (None: no sinks).

    Returns
    -------
    ndarray, shape (H, W)
        The map in [0, 1]; all zeros when the density is numerically 0 (:func:`density_floor`).
        The KDE is evaluated only within the kernel's reach of the weighted grid points (exactly 0
        beyond), and Eq. 7 takes the minimum over the whole image.
    """
    h, w = shape
    cm = np.zeros((h, w))
    crop = density_crop(weights, grid[0], grid[1], shape, cov)
    if crop is not None:
        dens, (y0, y1, x0, x1) = crop
        if sink_factor is not None:
            dens *= sink_factor[y0:y1, x0:x1]
        covers_all = (y1 - y0, x1 - x0) == (h, w)  # the KDE is finite: no input check, no copy
        _normalise_into(cm[y0:y1, x0:x1], dens, None if covers_all else 0.0, density_floor(cov))
    return cm


def as_dataarray(values, annotation, attrs):
    """``values`` (H, W) as the map's DataArray, with the dataset contract's pixel (and mm) coordinates.

    The coordinates are copied from a cached template per image shape and spacing (building their
    indexes anew costs more than a whole map); ``values`` itself is not copied.
    """
    spacing = None if annotation.spacing is None else tuple(float(s) for s in annotation.spacing)
    out = _map_template(tuple(annotation.shape), spacing).copy(deep=True, data=values)
    out.attrs = attrs
    return out


@functools.lru_cache(maxsize=16)  # one template per image shape and spacing
def _map_template(shape, spacing):
    import xarray as xr

    return xr.DataArray(np.zeros(shape), dims=("y", "x"), coords=pixel_coords(shape, spacing), name="confidence")


def confidence_maps(annotations, *, progress: bool = False, params: MapParams | None = None, max_memory=None, **kwargs):
    """Confidence maps of many annotations at once, as one ``xarray.Dataset``.

    Parameters
    ----------
    annotations : sequence of Annotation
        All of the same image shape ``(H, W)``.
    progress : bool, default False
        Show a tqdm progress bar.
    params : MapParams, optional
        The parameters, the same for every image (checked once).
    max_memory : float, optional
        As in :func:`confidence_map`, for the whole batch (checked before any map is made).
    **kwargs
        Parameters of :func:`confidence_map` overriding ``params`` (fields of :class:`MapParams`).

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

    anns = as_annotations(annotations)
    shapes = {a.shape for a in anns}
    if len(shapes) != 1:
        raise ValueError(f"all annotations must have the same image shape, got {sorted(shapes)}")
    params = MapParams.make(params, **kwargs)
    (h, w), n = shapes.pop(), len(anns)
    parts = map_memory_bytes((h, w), params.lam)
    check_memory(  # one map at a time, plus the n maps kept and their stacked copy
        f"a batch of {n} confidence maps",
        {"annotations": parts["annotation.shape"] + 8.0 * 2 * n * h * w, "lam": parts["lam"]},
        {"annotations": f"{n} annotations of shape {(h, w)}", "lam": params.lam},
        max_memory=max_memory,
    )
    it = progress_bar(anns, bool(progress), desc="confidence maps")
    maps = [confidence_map(a, params=params, max_memory=max_memory) for a in it]
    stacked = xr.concat(maps, dim="image", coords="minimal", compat="override", combine_attrs="drop")
    ds = xr.Dataset({"confidence": stacked})
    ds = ds.assign_coords(image=np.arange(n), image_id=("image", [a.image_id or "" for a in anns]))
    ds["ripple"] = ("image", [m.attrs["ripple"] for m in maps])
    ds["bandwidth_factor"] = ("image", [m.attrs["bandwidth_factor"] for m in maps])
    ds.attrs.update(params.to_attrs(), sink_radius=params.sink_radius_px((h, w)))  # the maps' shared attrs
    return ds
