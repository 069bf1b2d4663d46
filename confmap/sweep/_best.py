"""The best setting of a sweep, and the keyword arguments of confidence_map for it."""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_type, describe


def metric_array(ds, metric, target):
    import xarray as xr

    check_type("ds", ds, xr.Dataset, "an xarray.Dataset (from sweep)")
    da = ds[check_choice("metric", metric, sorted(map(str, ds.data_vars)))]
    if "target" in da.dims:
        names = [str(t) for t in da["target"].values]
        if target is None:
            if len(names) > 1:
                raise ValueError(f"`target` must be given, the sweep has targets {names}")
            target = names[0]
        da = da.sel(target=check_choice("target", target, names))
    elif target is not None:
        have = str(da.coords["target"].values) if "target" in da.coords else None
        if have != target:
            raise ValueError(f"`target` must be {have!r} (the sweep's only target), got {describe(target)}")
    return da


def better_is_higher(da, maximize):
    if maximize is not None:
        return check_type("maximize", maximize, bool, "True, False or None")
    better = da.attrs.get("better", "lower")
    if better not in ("lower", "higher"):
        raise ValueError(f"the metric's attrs['better'] must be 'lower' or 'higher', got {better!r}")
    return better == "higher"


def plain_value(v):
    return v.item() if hasattr(v, "item") else v


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
    da = metric_array(ds, metric, target)
    hi = better_is_higher(da, maximize)
    vals = np.asarray(da.values, dtype=float)
    if vals.size == 0 or np.all(np.isnan(vals)):
        raise ValueError(f"`{metric}` has no finite value to optimise (all NaN or empty)")
    flat = int(np.nanargmax(vals) if hi else np.nanargmin(vals))
    pos = np.unravel_index(flat, vals.shape)
    out = {}
    for dim, i in zip(da.dims, pos, strict=True):
        out[str(dim)] = plain_value(da[dim].values[i]) if dim in da.coords else int(i)
    for name, c in da.coords.items():
        if c.ndim == 0 and name not in out:
            out[str(name)] = plain_value(c.values)
    out[metric] = float(vals[pos])
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
    check_type("setting", setting, dict, "a dict from best()")
    kw = {}
    if "lam" in setting:
        kw["lam"] = int(setting["lam"])
    defaults = {"beta_h": 1.0, "beta_m": 0.5, "beta_l": 0.1}
    if any(b in setting for b in defaults):
        kw["betas"] = tuple(float(setting.get(b, d)) for b, d in defaults.items())
    kw.update({p: setting[p] for p in ("bandwidth", "region") if p in setting})
    if setting.get("region") == "alpha" and "alpha" in setting:
        kw["alpha"] = float(setting["alpha"])
    return kw
