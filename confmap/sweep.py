"""Parameter sweeps of the confidence-map construction, their best setting and their landscape.

The paper's tunable parameters are ``[lambda, beta_H, beta_M, beta_L, sigma]`` (Section 2.3);
here the region mode (convex Delaunay or a carved alpha shape, with alpha) can be swept too.
:func:`sweep` evaluates every combination against an agreement map (the paper's *Agreement*,
Section 3.1.1) and/or a ground-truth field with the Brier score (Eq. 8, whole image and foreground)
and the soft Dice (Eq. 9), and returns an ``xarray.Dataset`` with one dimension per swept
parameter; :func:`best` picks the best setting and :func:`plot_sweep` draws the landscape.

Work is shared between settings where the construction allows: the tier regions depend only on
the region mode (and alpha), the grid's tier membership only on the regions and lambda, the grid
weights (Eq. 5) are a linear combination of that membership and the betas, and only the kernel
covariance and the KDE depend on the bandwidth. Every map equals
:func:`confmap.confidence_map` with the same parameters exactly.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings

import numpy as np

from ._validation import check_choice, check_unit_interval, describe
from ._warnings import NoRegionWarning, RippleWarning
from .annotation import Annotation
from .construct import (
    DEFAULT_RIPPLE_WARN,
    MapParams,
    check_param,
    grid_tiers,
    kde_covariance,
    lattice_ripple,
    mesh_grid,
    normalise,
    sink_suppression,
    tier_regions,
    tier_weights,
    weighted_kde,
)
from .metrics import SCORES

__all__ = ["METRICS", "PARAMETERS", "best", "plot_sweep", "setting_kwargs", "sweep"]

#: Sweepable parameters, in the order of the result's dimensions.
PARAMETERS = ("region", "alpha", "lam", "beta_h", "beta_m", "beta_l", "bandwidth")

#: Metric name -> (long name, which value is better): the per-image scores of :data:`confmap.metrics.SCORES`.
METRICS = {name: (s.long_name, s.better) for name, s in SCORES.items()}

_LABELS = {
    "region": "region",
    "alpha": "alpha (px)",
    "lam": "lambda",
    "beta_h": "beta_H",
    "beta_m": "beta_M",
    "beta_l": "beta_L",
    "bandwidth": "bandwidth sigma",
}


# ---------------------------------------------------------------------------------------------
# Argument handling
# ---------------------------------------------------------------------------------------------
def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, range))


def _values(name, value, check):
    """``(values, swept)``: a list/tuple/array is swept (a dimension), a scalar is fixed."""
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


def _check_lam(name, v):
    return check_param("lam", v, name=name)


def _check_beta(name, v):
    return check_param("beta", v, name=name)


def _check_bandwidth(name, v):
    return check_param("bandwidth", v, name=name)


def _check_region(name, v):
    return check_param("region", v, name=name)


def _check_alpha(name, v):
    # make_region: None carves every removable triangle, the same as alpha = 0
    return 0.0 if v is None else check_param("alpha", v, name=name)


def _check_target(name, value, shape):
    if value is None:
        return None
    arr = check_unit_interval(name, getattr(value, "values", value), ndim=2)
    if arr.shape != tuple(shape):
        raise ValueError(f"`{name}` must have the annotation's image shape {tuple(shape)}, got {arr.shape}")
    return arr


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------
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

    if not isinstance(annotation, Annotation):
        raise TypeError(f"`annotation` must be a confmap.Annotation, got {describe(annotation)}")
    shape = annotation.shape
    targets = {}
    for name, value in (("agreement", agreement), ("truth", truth)):
        arr = _check_target(name, value, shape)
        if arr is not None:
            targets[name] = arr
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
        "region": _values("region", region, _check_region),
        "alpha": ([None], False) if alpha is None else _values("alpha", alpha, _check_alpha),
        "lam": _values("lam", lam, _check_lam),
        "beta_h": _values("beta_h", beta_h, _check_beta),
        "beta_m": _values("beta_m", beta_m, _check_beta),
        "beta_l": _values("beta_l", beta_l, _check_beta),
        "bandwidth": _values("bandwidth", bandwidth, _check_bandwidth),
    }
    swept = [p for p in PARAMETERS if spec[p][1]]
    sizes = [len(spec[p][0]) for p in swept]
    n_settings = int(np.prod([len(spec[p][0]) for p in PARAMETERS]))

    tnames = list(targets)
    values = {m: np.full((len(tnames), n_settings), np.nan) for m in metrics}
    ripple = np.full(n_settings, np.nan)
    index = {}  # parameter tuple -> flat position, in the order of itertools.product
    for flat, combo in enumerate(itertools.product(*(spec[p][0] for p in PARAMETERS))):
        index[combo] = flat

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_settings, desc="sweep", unit="setting")
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for reg in spec["region"][0]:
                # Convex regions do not depend on alpha: compute them once for every alpha.
                alphas = spec["alpha"][0]
                alpha_groups = [alphas] if reg == "convex" else [[a] for a in alphas]
                for agroup in alpha_groups:
                    a0 = agroup[0]
                    regions = tier_regions(annotation, region=reg, alpha=None if a0 is None else a0)
                    for lam_v in spec["lam"][0]:
                        grid = mesh_grid(shape, lam=lam_v)
                        r_sink = MapParams(lam=lam_v, sink_radius=sink_radius).sink_radius_px(shape)
                        # Tier of each grid point, once; the weights of Eq. 5 are a lookup.
                        codes = grid_tiers(annotation, lam=lam_v, sink_radius=r_sink, regions=regions)
                        sink_fac = sink_suppression(annotation.sinks, shape, r_sink) if len(annotation.sinks) else None
                        for bh, bm, bl in itertools.product(spec["beta_h"][0], spec["beta_m"][0], spec["beta_l"][0]):
                            weights = tier_weights(codes, (bh, bm, bl))
                            for bw in spec["bandwidth"][0]:
                                cm, rip = _normalised_map(weights, grid, shape, bw, kernel, sink_fac)
                                scores = {(m, t): float(SCORES[m](cm, targets[t])) for m in metrics for t in tnames}
                                for a in agroup:
                                    flat = index[(reg, a, lam_v, bh, bm, bl, bw)]
                                    ripple[flat] = rip
                                    for (m, t), s in scores.items():
                                        values[m][tnames.index(t), flat] = s
                                    if bar is not None:
                                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    _reemit(caught)

    full_shape = [len(spec[p][0]) for p in PARAMETERS]
    coords = {}
    for p in PARAMETERS:
        vals, is_swept = spec[p]
        if p == "alpha" and vals == [None]:
            continue
        if is_swept:
            coords[p] = (p, _coord_array(vals), {"long_name": _LABELS[p]})
        else:
            coords[p] = ((), vals[0], {"long_name": _LABELS[p]})
    data = {}
    for m in metrics:
        arr = values[m].reshape([len(tnames), *full_shape])
        arr = arr.reshape([len(tnames), *sizes]) if sizes else arr.reshape(len(tnames))
        long_name, better = METRICS[m]
        attrs = {"long_name": long_name, "better": better}
        if len(tnames) > 1:
            data[m] = (("target", *swept), arr, attrs)
        else:
            data[m] = (tuple(swept), arr[0], attrs)
    rip = ripple.reshape(sizes) if sizes else ripple.reshape(())
    data["ripple"] = (
        tuple(swept),
        rip,
        {"long_name": "predicted lattice ripple (relative peak-to-peak)"},
    )
    if len(tnames) > 1:
        coords["target"] = ("target", np.array(tnames, dtype=object))
    else:
        coords["target"] = ((), tnames[0])
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        kernel=kernel,
        sink_radius="default (2 max(H, W) / lam)" if sink_radius is None else sink_radius,
        image_id=annotation.image_id or "",
        n_settings=n_settings,
    )
    if ripple_warn is not None:
        bad = np.asarray(ripple) > ripple_warn
        if bad.any():
            worst = int(np.nanargmax(ripple))
            combo = list(index)[worst]
            where = ", ".join(
                f"{p}={v}" for p, v in zip(PARAMETERS, combo, strict=True) if spec[p][1] or p in ("lam", "bandwidth")
            )
            warnings.warn(
                f"{int(bad.sum())} of {n_settings} settings have a kernel narrow for the grid: "
                f"predicted lattice ripple above {ripple_warn:g} (worst {ripple[worst]:.1%} at "
                f"{where}); see the result's `ripple` "
                "and use a larger lam or bandwidth",
                RippleWarning,
                stacklevel=2,
            )
    return ds


def _normalised_map(weights, grid, shape, bandwidth, kernel, sink_fac):
    """Stages 4-5 of :func:`confmap.confidence_map` for given grid weights: (map, ripple)."""
    h, w = shape
    if not weights.sum() > 0:
        warnings.warn(
            "no grid point lies in any tier region (or betas are all 0): the map is all zeros",
            NoRegionWarning,
            stacklevel=1,
        )
        return np.zeros(shape), 0.0
    cov, _ = kde_covariance(weights, grid, bandwidth=bandwidth, kernel=kernel)
    dens = weighted_kde(weights, grid, shape, cov=cov)
    if sink_fac is not None:
        dens *= sink_fac
    lam = len(grid[0]) - 1
    return normalise(dens), lattice_ripple(cov, (w / lam, h / lam))


def _coord_array(vals):
    if all(isinstance(v, str) for v in vals):
        return np.array(vals, dtype=object)
    if all(isinstance(v, numbers.Integral) for v in vals):
        return np.array(vals, dtype=np.int64)
    if all(isinstance(v, numbers.Real) for v in vals):
        return np.array(vals, dtype=float)
    return np.array(vals, dtype=object)


def _reemit(caught):
    seen = set()
    for rec in caught:
        key = (rec.category, str(rec.message))
        if key in seen:
            continue
        seen.add(key)
        warnings.warn(str(rec.message), rec.category, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# The best setting
# ---------------------------------------------------------------------------------------------
def _metric_array(ds, metric, target):
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"`ds` must be an xarray.Dataset (from sweep), got {describe(ds)}")
    if not isinstance(metric, str) or metric not in ds.data_vars:
        raise ValueError(
            f"`metric` must be one of the Dataset's variables {sorted(map(str, ds.data_vars))}, got {describe(metric)}"
        )
    da = ds[metric]
    if "target" in da.dims:
        names = [str(t) for t in da["target"].values]
        if target is None:
            if len(names) > 1:
                raise ValueError(f"`target` must be given, the sweep has targets {names}")
            target = names[0]
        if target not in names:
            raise ValueError(f"`target` must be one of {names}, got {describe(target)}")
        da = da.sel(target=target)
    elif target is not None:
        have = str(da.coords["target"].values) if "target" in da.coords else None
        if have != target:
            raise ValueError(f"`target` must be {have!r} (the sweep's only target), got {describe(target)}")
    return da


def _better(da, maximize):
    if maximize is not None:
        if not isinstance(maximize, bool):
            raise TypeError(f"`maximize` must be True, False or None, got {describe(maximize)}")
        return maximize
    better = da.attrs.get("better", "lower")
    if better not in ("lower", "higher"):
        raise ValueError(f"the metric's attrs['better'] must be 'lower' or 'higher', got {better!r}")
    return better == "higher"


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    return v


def best(ds, metric: str = "brier", *, target: str | None = None, maximize: bool | None = None) -> dict:
    """The best setting of a sweep.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`sweep` (or any Dataset whose metric variable has one dimension per
        parameter).
    metric : str, default "brier"
        The data variable to optimise.
    target : str, optional
        Which target (``"agreement"`` or ``"truth"``) when the sweep has both; required then.
    maximize : bool, optional
        Whether higher is better. Default: from the variable's ``attrs["better"]`` ("lower" or
        "higher"), else lower (every metric of :func:`sweep` is lower-is-better).

    Returns
    -------
    dict
        The value of every dimension coordinate and scalar coordinate at the optimum (plain
        Python values), and ``metric`` -> the optimal value. NaN settings are ignored; ties go to
        the first setting in the Dataset's order.

    Raises
    ------
    TypeError, ValueError
        For something other than a Dataset, an unknown metric or target, or when every value is NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"brier": (("lam", "bandwidth"), np.array([[3.0, 1.0], [2.0, 4.0]]))},
    ...                 coords={"lam": [50, 100], "bandwidth": [0.1, 0.2]})
    >>> best(ds, "brier")
    {'lam': 50, 'bandwidth': 0.2, 'brier': 1.0}
    """
    da = _metric_array(ds, metric, target)
    hi = _better(da, maximize)
    vals = np.asarray(da.values, dtype=float)
    if vals.size == 0 or np.all(np.isnan(vals)):
        raise ValueError(f"`{metric}` has no finite value to optimise (all NaN or empty)")
    flat = int(np.nanargmax(vals) if hi else np.nanargmin(vals))
    pos = np.unravel_index(flat, vals.shape) if vals.ndim else ()
    out = {}
    for dim, i in zip(da.dims, pos, strict=True):
        out[str(dim)] = _plain(da[dim].values[i]) if dim in da.coords else int(i)
    for name, c in da.coords.items():
        if c.ndim == 0 and name not in out:
            out[str(name)] = _plain(c.values)
    out[metric] = float(vals[pos] if vals.ndim else vals)
    return out


def setting_kwargs(setting: dict) -> dict:
    """Keyword arguments of :func:`confmap.confidence_map` for a setting from :func:`best`.

    Parameters
    ----------
    setting : dict
        As returned by :func:`best` (parameter names of :data:`PARAMETERS`; others are ignored).

    Returns
    -------
    dict
        ``lam``, ``betas``, ``bandwidth``, ``region``, ``alpha`` (those present).

    Examples
    --------
    >>> setting_kwargs({"lam": 80, "beta_h": 1.0, "beta_m": 0.4, "beta_l": 0.1, "brier": 0.01})
    {'lam': 80, 'betas': (1.0, 0.4, 0.1)}
    """
    if not isinstance(setting, dict):
        raise TypeError(f"`setting` must be a dict from best(), got {describe(setting)}")
    kw = {}
    if "lam" in setting:
        kw["lam"] = int(setting["lam"])
    defaults = (1.0, 0.5, 0.1)
    if any(b in setting for b in ("beta_h", "beta_m", "beta_l")):
        kw["betas"] = tuple(
            float(setting.get(b, d)) for b, d in zip(("beta_h", "beta_m", "beta_l"), defaults, strict=True)
        )
    for p in ("bandwidth", "region"):
        if p in setting:
            kw[p] = setting[p]
    if setting.get("region") == "alpha" and "alpha" in setting:
        kw["alpha"] = float(setting["alpha"])
    return kw


# ---------------------------------------------------------------------------------------------
# The landscape
# ---------------------------------------------------------------------------------------------
def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def plot_sweep(
    ds,
    metric: str = "brier",
    *,
    target: str | None = None,
    dims=None,
    maximize=None,
    annotate=None,
    log=None,
    ripple: float | None = DEFAULT_RIPPLE_WARN,
    cmap="viridis",
):
    """Draw the metric landscape of a sweep, with the best setting marked.

    One swept dimension: a line. Two: a heatmap. Three or four: a grid of heatmaps (facets) over
    the extra dimensions, on one colour scale. Dimensions of length 1 are dropped.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`sweep`.
    metric : str, default "brier"
        The variable to draw.
    target : str, optional
        As in :func:`best`.
    dims : sequence of str, optional
        The swept dimensions in drawing order: heatmap x, heatmap y, facet columns, facet rows
        (for a line: its x). Default: the Dataset's order reversed (the last parameter on x).
    maximize : bool, optional
        As in :func:`best`.
    annotate : bool, optional
        Print the value in each heatmap cell (default: when a heatmap has at most 100 cells).
    log : bool, optional
        Logarithmic colour (or y) scale. Default: when all values are > 0 and span more than a
        factor of 10.
    ripple : float or None, default 0.01
        Hatch the heatmap cells (ring the line points) whose predicted lattice ripple (the
        Dataset's ``ripple``, if any) exceeds this; None marks nothing.
    cmap : str, default "viridis"
        Heatmap colour map (reversed for lower-is-better metrics, so better is brighter).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For more than four swept dimensions (select some with ``ds.sel`` first) or ``dims`` that
        are not the swept dimensions.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Rectangle

    da = _metric_array(ds, metric, target)
    hi = _better(da, maximize)
    da = da.squeeze(drop=False)
    swept = [str(d) for d in da.dims]
    if dims is not None:
        dims = [str(d) for d in dims]
        if sorted(dims) != sorted(swept):
            raise ValueError(f"`dims` must name the swept dimensions {swept} (each once), got {dims}")
    else:
        dims = swept[::-1]
    if len(dims) > 4:
        raise ValueError(
            f"can draw at most 4 swept dimensions, got {len(dims)} ({dims}); select some with ds.sel(...) first"
        )
    bst = best(da.to_dataset(name=metric), metric, maximize=hi)
    label = da.attrs.get("long_name", metric)
    title_best = ", ".join(f"{d}={_fmt(bst[d])}" for d in dims) if dims else ""
    if len(dims) == 0:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar([0], [float(da)], color="C0")
        ax.set_xticks([0], ["the only setting"])
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} = {float(da):.4g}")
        return fig
    if len(dims) == 1:
        d = dims[0]
        fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
        xs = da[d].values
        numeric = np.issubdtype(np.asarray(xs).dtype, np.number)
        pos = np.asarray(xs, dtype=float) if numeric else np.arange(len(xs))
        ax.plot(pos, da.values, "o-", color="C0")
        bi = list(xs).index(bst[d])
        ax.plot(
            [pos[bi]],
            [da.values[bi]],
            marker="*",
            ms=16,
            color="C3",
            ls="none",
            label=f"best: {d}={_fmt(bst[d])}",
        )
        yv = np.asarray(da.values, dtype=float)
        if ripple is not None and "ripple" in ds.data_vars and ds["ripple"].squeeze(drop=False).dims == (d,):
            bad = np.asarray(ds["ripple"].squeeze(drop=False).values, dtype=float) > ripple
            if bad.any():
                ax.plot(
                    pos[bad],
                    yv[bad],
                    "o",
                    ms=11,
                    mfc="none",
                    mec="0.5",
                    ls="none",
                    label=f"ripple > {ripple:g}",
                )
        if log if log is not None else bool(np.nanmin(yv) > 0 and np.nanmax(yv) > 10 * np.nanmin(yv)):
            ax.set_yscale("log")
        if numeric and np.all(pos > 0) and pos.max() / pos.min() > 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_xlabel(_LABELS.get(d, d))
        ax.set_ylabel(metric)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8)
        return fig
    xd, yd = dims[0], dims[1]
    cd = dims[2] if len(dims) > 2 else None
    rd = dims[3] if len(dims) > 3 else None
    ncol = len(da[cd]) if cd else 1
    nrow = len(da[rd]) if rd else 1
    nx, ny = len(da[xd]), len(da[yd])
    panel = (max(2.6, 0.45 * nx + 1.2), max(2.2, 0.35 * ny + 1.0))
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(panel[0] * ncol + 1.0, panel[1] * nrow + 0.6),
        squeeze=False,
        layout="constrained",
    )
    vals = np.asarray(da.transpose(*([rd] if rd else []), *([cd] if cd else []), yd, xd).values, dtype=float)
    vals = vals.reshape(nrow, ncol, ny, nx)
    vmin, vmax = np.nanmin(vals), np.nanmax(vals)
    if log is None:
        log = bool(vmin > 0 and vmax > 10 * vmin)
    norm = LogNorm(vmin, vmax) if log else Normalize(vmin, vmax)
    rip = None
    if ripple is not None and "ripple" in ds.data_vars and set(ds["ripple"].dims) <= set(ds[metric].dims):
        r_da = ds["ripple"].squeeze(drop=False)
        if set(r_da.dims) <= set(dims):
            r_da = r_da.broadcast_like(da) if r_da.dims != da.dims else r_da
            rip = np.asarray(
                r_da.transpose(*([rd] if rd else []), *([cd] if cd else []), yd, xd).values,
                dtype=float,
            )
            rip = rip.reshape(nrow, ncol, ny, nx) > ripple
    cmap_used = cmap if hi else (cmap + "_r" if not cmap.endswith("_r") else cmap[:-2])
    if annotate is None:
        annotate = nx * ny <= 100
    im = None
    for r in range(nrow):
        for c in range(ncol):
            ax = axes[r, c]
            v = vals[r, c]
            im = ax.imshow(v, origin="lower", aspect="auto", cmap=cmap_used, norm=norm, interpolation="nearest")
            if rip is not None:
                for j, i in zip(*np.nonzero(rip[r, c]), strict=True):
                    ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, hatch="///", ec="0.5", lw=0))
            ax.set_xticks(
                range(nx),
                [_fmt(x) for x in da[xd].values],
                fontsize=7,
                rotation=45 if nx > 6 else 0,
            )
            ax.set_yticks(range(ny), [_fmt(y) for y in da[yd].values], fontsize=7)
            if r == nrow - 1:
                ax.set_xlabel(_LABELS.get(xd, xd))
            if c == 0:
                ax.set_ylabel(_LABELS.get(yd, yd))
            parts = []
            if cd:
                parts.append(f"{cd}={_fmt(da[cd].values[c])}")
            if rd:
                parts.append(f"{rd}={_fmt(da[rd].values[r])}")
            if parts:
                ax.set_title(", ".join(parts), fontsize=8)
            if annotate:
                mid = math.sqrt(vmin * vmax) if log else (vmin + vmax) / 2
                for j in range(ny):
                    for i in range(nx):
                        if np.isfinite(v[j, i]):
                            bright = (v[j, i] > mid) == hi
                            ax.text(
                                i,
                                j,
                                f"{v[j, i]:.3g}",
                                ha="center",
                                va="center",
                                fontsize=6,
                                color="k" if bright else "w",
                            )
            hit_c = cd is None or _same(da[cd].values[c], bst[cd])
            hit_r = rd is None or _same(da[rd].values[r], bst[rd])
            if hit_c and hit_r:
                bi = _index(da[xd].values, bst[xd])
                bj = _index(da[yd].values, bst[yd])
                ax.plot([bi], [bj], marker="*", ms=18, mfc="none", mec="C3", mew=2, ls="none")
    hatch_note = f"\nhatched: predicted lattice ripple > {ripple:g}" if rip is not None and rip.any() else ""
    fig.colorbar(im, ax=axes, label=f"{metric} ({'higher' if hi else 'lower'} is better)", shrink=0.9)
    fig.suptitle(
        f"{label}\nbest ({'max' if hi else 'min'} {bst[metric]:.4g}): {title_best}{hatch_note}",
        fontsize=9,
    )
    return fig


def _same(a, b):
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return a == b or (np.isnan(a) and np.isnan(b))
    return _plain(a) == b


def _index(values, v):
    for i, x in enumerate(values):
        if _same(x, v):
            return i
    raise AssertionError((values, v))  # pragma: no cover
