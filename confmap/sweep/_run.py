"""The sweep itself: every combination of the swept parameters, scored against the targets."""

from __future__ import annotations

import itertools
import numbers
import warnings

import numpy as np

from .._validation import check_choice, check_unit_interval, describe
from .._warnings import RippleWarning
from ..annotation import Annotation
from ..construct import (
    DEFAULT_RIPPLE_WARN,
    MapParams,
    check_annotation,
    check_param,
    grid_tiers,
    kde_map,
    mesh_grid,
    sink_suppression,
    tier_regions,
    tier_weights,
)
from ..metrics import SCORES

#: Sweepable parameters, in the order of the result's dimensions.
PARAMETERS = ("region", "alpha", "lam", "beta_h", "beta_m", "beta_l", "bandwidth")

#: Metric name -> (long name, which value is better): the per-image scores of :data:`confmap.metrics.SCORES`.
METRICS = {name: (s.long_name, s.better) for name, s in SCORES.items()}

#: Axis labels of the swept parameters.
LABELS = {
    "region": "region",
    "alpha": "alpha (px)",
    "lam": "lambda",
    "beta_h": "beta_H",
    "beta_m": "beta_M",
    "beta_l": "beta_L",
    "bandwidth": "bandwidth sigma",
}


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, range))


def _values(name, value, field):
    """``(values, swept)``: a list/tuple/array is swept (a dimension), a scalar is fixed; each value is
    checked as the :class:`confmap.MapParams` field ``field``."""

    def check(n, v):  # make_region: alpha None carves every removable triangle, the same as 0
        return 0.0 if field == "alpha" and v is None else check_param(field, v, name=n)

    if _is_list(value):
        vals = list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else list(value)
        if not vals:
            raise ValueError(
                f"`{name}` must hold at least one value when given as a list, got an empty {type(value).__name__}"
            )
        out = [check(f"{name}[{i}]", v) for i, v in enumerate(vals)]
        if len(set(map(repr, out))) != len(out):
            raise ValueError(f"`{name}` must not repeat values, got {describe(value)}")
        return out, True
    return [check(name, value)], False


def _check_target(name, value, shape):
    arr = check_unit_interval(name, getattr(value, "values", value), ndim=2)
    if arr.shape != tuple(shape):
        raise ValueError(f"`{name}` must have the annotation's image shape {tuple(shape)}, got {arr.shape}")
    return arr


def sweep(
    annotation: Annotation,
    *,
    agreement=None,
    truth=None,
    lam=100,
    beta_h=1.0,
    beta_m=0.5,
    beta_l=0.1,
    bandwidth=0.1,
    region="convex",
    alpha=None,
    kernel: str = "full",
    sink_radius=None,
    metrics=("brier", "brier_fg", "soft_dice"),
    ripple_warn: float | None = DEFAULT_RIPPLE_WARN,
    progress: bool = True,
):
    """Evaluate the confidence map over a grid of parameter settings.

    Every parameter may be one value (kept fixed) or a list of values (swept: it becomes a
    dimension of the result). All combinations are evaluated.

    Parameters
    ----------
    annotation : Annotation
        The tiered points, image shape ``(H, W)``.
    agreement : array_like, shape (H, W), optional
        The raters' agreement map in [0, 1] (the paper's *Agreement*, Section 3.1.1).
    truth : array_like, shape (H, W), optional
        A ground-truth field in [0, 1] (e.g. the phantom's infiltration ``truth``). At least one
        of ``agreement`` and ``truth`` is required.
    lam : int or list of int, default 100
        Grid subsampling lambda.
    beta_h, beta_m, beta_l : float or list of float, defaults 1.0, 0.5, 0.1
        Tier weights of Eq. 5 (each >= 0), swept independently.
    bandwidth : float, {"scott", "silverman"} or list of these, default 0.1
        KDE bandwidth factor sigma.
    region : {"convex", "alpha"} or list of these, default "convex"
        Tier region mode, see :func:`confmap.make_region`.
    alpha : float, None or list of these, default None
        Alpha-shape circumradius in pixels (``region="alpha"`` only; None means 0, carve every
        removable triangle). Convex settings do not depend on it.
    kernel : {"full", "isotropic"}, default "full"
        Kept fixed, see :func:`confmap.confidence_map`.
    sink_radius : float, optional
        Kept fixed, see :func:`confmap.confidence_map`.
    metrics : sequence of {"brier", "brier_fg", "soft_dice"}
        Which metrics to compute (all lower-is-better), see :data:`METRICS`.
    ripple_warn : float or None, default 0.01
        One :class:`confmap.RippleWarning` summarises the settings whose predicted lattice ripple
        exceeds this (the per-setting values are in the result's ``ripple``); None never warns.
    progress : bool, default True
        Show a tqdm progress bar over the settings.

    Returns
    -------
    xarray.Dataset
        One data variable per metric and ``ripple`` (the predicted lattice ripple, see
        :func:`confmap.lattice_ripple`). Swept parameters are dimensions, in the order
        ``region, alpha, lam, beta_h, beta_m, beta_l, bandwidth`` (those swept); fixed ones are
        scalar coordinates. The metric variables also have a dimension ``target``
        (``"agreement"``, ``"truth"``) when both targets are given, else a scalar coordinate
        ``target``. ``attrs`` hold ``kernel``, ``sink_radius`` and the annotation's ``image_id``.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or value (named in the message), a target of the wrong
        shape or outside [0, 1], no target, an unknown metric, or a repeated value in a list.

    Warns
    -----
    NoRegionWarning
        Once per distinct message (a tier without a region, a setting whose map is all zeros).
    RippleWarning
        Once, summarising the settings with a visible grid lattice.

    Notes
    -----
    Each map is the paper's Eqs. 5-7 exactly as :func:`confmap.confidence_map` computes it; the
    metrics are :func:`confmap.metrics.brier` (Eq. 8; ``brier_fg`` on the union of
    ``target > 0`` and ``map > 0``) and :func:`confmap.metrics.soft_dice` (Eq. 9, reported as
    ``1 - ratio`` like the paper). A setting whose weights are all 0 (all betas 0, or no grid point
    in any region) gives the all-zero map, as :func:`confmap.confidence_map` does.

    Examples
    --------
    >>> import numpy as np
    >>> from confmap import Annotation
    >>> from confmap.sweep import sweep, best
    >>> ann = Annotation((64, 64), high=[(24, 24), (40, 24), (32, 40)],
    ...                  medium=[(16, 16), (48, 16), (48, 48), (16, 48)])
    >>> yy, xx = np.mgrid[:64, :64]
    >>> agreement = ((xx - 32) ** 2 + (yy - 30) ** 2 < 15 ** 2).astype(float)
    >>> ds = sweep(ann, agreement=agreement, lam=[50, 100], bandwidth=[0.1, 0.2],
    ...            progress=False)
    >>> ds.brier.dims
    ('lam', 'bandwidth')
    >>> sorted(best(ds, "brier"))[:3]
    ['bandwidth', 'beta_h', 'beta_l']
    """
    import xarray as xr
    from tqdm.auto import tqdm

    shape = check_annotation(annotation).shape
    given = {"agreement": agreement, "truth": truth}
    targets = {name: _check_target(name, value, shape) for name, value in given.items() if value is not None}
    if not targets:
        raise ValueError(
            "give at least one target to compare with: `agreement` or `truth` (arrays of shape (H, W) in [0, 1])"
        )
    if isinstance(metrics, str) or not _is_list(metrics) or not metrics:
        raise TypeError(
            f"`metrics` must be a non-empty sequence of names from {sorted(METRICS)}, got {describe(metrics)}"
        )
    metrics = tuple(metrics)
    for m in metrics:
        check_choice("metrics", m, tuple(METRICS))
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"`metrics` must not repeat names, got {metrics}")
    kernel = check_param("kernel", kernel)
    sink_radius = check_param("sink_radius", sink_radius)
    ripple_warn = check_param("ripple_warn", ripple_warn)

    spec = {
        "region": _values("region", region, "region"),
        "alpha": ([None], False) if alpha is None else _values("alpha", alpha, "alpha"),
        "lam": _values("lam", lam, "lam"),
        "beta_h": _values("beta_h", beta_h, "beta"),
        "beta_m": _values("beta_m", beta_m, "beta"),
        "beta_l": _values("beta_l", beta_l, "beta"),
        "bandwidth": _values("bandwidth", bandwidth, "bandwidth"),
    }
    swept = [p for p in PARAMETERS if spec[p][1]]
    sizes = [len(spec[p][0]) for p in swept]
    n_settings = int(np.prod([len(spec[p][0]) for p in PARAMETERS]))

    tnames = list(targets)
    values = np.full((len(metrics), len(tnames), n_settings), np.nan)
    ripple = np.full(n_settings, np.nan)
    # parameter tuple -> flat position, in the order of itertools.product
    index = {combo: flat for flat, combo in enumerate(itertools.product(*(spec[p][0] for p in PARAMETERS)))}

    bar = tqdm(total=n_settings, desc="sweep", unit="setting", disable=not progress)
    with bar, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for reg in spec["region"][0]:
            # Convex regions do not depend on alpha: compute them once for every alpha.
            alphas = spec["alpha"][0]
            alpha_groups = [alphas] if reg == "convex" else [[a] for a in alphas]
            for agroup in alpha_groups:
                regions = tier_regions(annotation, region=reg, alpha=agroup[0])
                for lam_v in spec["lam"][0]:
                    grid = mesh_grid(shape, lam=lam_v)
                    r_sink = MapParams(lam=lam_v, sink_radius=sink_radius).sink_radius_px(shape)
                    # Tier of each grid point, once; the weights of Eq. 5 are a lookup.
                    codes = grid_tiers(annotation, lam=lam_v, sink_radius=r_sink, regions=regions)
                    sink_fac = sink_suppression(annotation.sinks, shape, r_sink) if len(annotation.sinks) else None
                    for bh, bm, bl in itertools.product(spec["beta_h"][0], spec["beta_m"][0], spec["beta_l"][0]):
                        weights = tier_weights(codes, (bh, bm, bl))
                        for bw in spec["bandwidth"][0]:
                            cm, _, _, rip = kde_map(weights, grid, shape, bw, kernel, sink_fac)
                            scores = [[float(SCORES[m](cm, targets[t])) for t in tnames] for m in metrics]
                            for a in agroup:
                                flat = index[(reg, a, lam_v, bh, bm, bl, bw)]
                                ripple[flat] = rip
                                values[:, :, flat] = scores
                                bar.update(1)
    _reemit(caught)

    coords = {}
    for p in PARAMETERS:
        vals, is_swept = spec[p]
        if p != "alpha" or vals != [None]:
            attrs = {"long_name": LABELS[p]}
            coords[p] = (p, _coord_array(vals), attrs) if is_swept else ((), vals[0], attrs)
    data = {}
    for i, m in enumerate(metrics):  # every fixed parameter has one value: the swept sizes hold all settings
        arr = values[i].reshape([len(tnames), *sizes])
        attrs = {"long_name": METRICS[m][0], "better": METRICS[m][1]}
        data[m] = (("target", *swept), arr, attrs) if len(tnames) > 1 else (tuple(swept), arr[0], attrs)
    ripple_attrs = {"long_name": "predicted lattice ripple (relative peak-to-peak)"}
    data["ripple"] = (tuple(swept), ripple.reshape(sizes), ripple_attrs)
    coords["target"] = ("target", np.array(tnames, dtype=object)) if len(tnames) > 1 else ((), tnames[0])
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        kernel=kernel,
        sink_radius="default (2 max(H, W) / lam)" if sink_radius is None else sink_radius,
        image_id=annotation.image_id or "",
        n_settings=n_settings,
    )
    if ripple_warn is not None:
        bad = ripple > ripple_warn
        if bad.any():
            worst = int(np.nanargmax(ripple))
            combo = list(index)[worst]
            where = ", ".join(
                f"{p}={v}" for p, v in zip(PARAMETERS, combo, strict=True) if spec[p][1] or p in ("lam", "bandwidth")
            )
            warnings.warn(
                f"{int(bad.sum())} of {n_settings} settings have a kernel narrow for the grid: "
                f"predicted lattice ripple above {ripple_warn:g} (worst {ripple[worst]:.1%} at "
                f"{where}); see the result's `ripple` and use a larger lam or bandwidth",
                RippleWarning,
                stacklevel=2,
            )
    return ds


def _coord_array(vals):  # strings (and mixtures) as objects
    if all(isinstance(v, numbers.Integral) for v in vals):
        return np.array(vals, dtype=np.int64)
    if all(isinstance(v, numbers.Real) for v in vals):
        return np.array(vals, dtype=float)
    return np.array(vals, dtype=object)


def _reemit(caught):
    for category, message in dict.fromkeys((rec.category, str(rec.message)) for rec in caught):  # once each
        warnings.warn(message, category, stacklevel=3)
