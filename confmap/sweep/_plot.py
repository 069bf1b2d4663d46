"""The metric landscape of a sweep: a line, a heatmap or facets of heatmaps."""

from __future__ import annotations

import math

import numpy as np

from ..construct import DEFAULT_RIPPLE_WARN
from ._best import best, better_is_higher, metric_array, plain_value
from ._run import LABELS


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)


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

    da = metric_array(ds, metric, target)
    hi = better_is_higher(da, maximize)
    da = da.squeeze(drop=False)
    swept = [str(d) for d in da.dims]
    dims = swept[::-1] if dims is None else [str(d) for d in dims]
    if sorted(dims) != sorted(swept):
        raise ValueError(f"`dims` must name the swept dimensions {swept} (each once), got {dims}")
    if len(dims) > 4:
        raise ValueError(
            f"can draw at most 4 swept dimensions, got {len(dims)} ({dims}); select some with ds.sel(...) first"
        )
    bst = best(da.to_dataset(name=metric), metric, maximize=hi)
    label = da.attrs.get("long_name", metric)
    title_best = ", ".join(f"{d}={_fmt(bst[d])}" for d in dims)
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
        ax.plot([pos[bi]], [da.values[bi]], marker="*", ms=16, color="C3", ls="none", label=f"best: {d}={_fmt(bst[d])}")
        yv = np.asarray(da.values, dtype=float)
        if ripple is not None and "ripple" in ds.data_vars and ds["ripple"].squeeze(drop=False).dims == (d,):
            bad = np.asarray(ds["ripple"].squeeze(drop=False).values, dtype=float) > ripple
            if bad.any():
                ax.plot(pos[bad], yv[bad], "o", ms=11, mfc="none", mec="0.5", ls="none", label=f"ripple > {ripple:g}")
        if log if log is not None else bool(np.nanmin(yv) > 0 and np.nanmax(yv) > 10 * np.nanmin(yv)):
            ax.set_yscale("log")
        if numeric and np.all(pos > 0) and pos.max() / pos.min() > 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_xlabel(LABELS.get(d, d))
        ax.set_ylabel(metric)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8)
        return fig
    xd, yd, cd, rd = [*dims, None, None][:4]  # heatmap x and y, facet columns and rows (or None)
    order = [d for d in (rd, cd, yd, xd) if d]  # the (row, column, y, x) axes of the values below
    ncol = len(da[cd]) if cd else 1
    nrow = len(da[rd]) if rd else 1
    nx, ny = len(da[xd]), len(da[yd])
    panel = (max(2.6, 0.45 * nx + 1.2), max(2.2, 0.35 * ny + 1.0))
    figsize = (panel[0] * ncol + 1.0, panel[1] * nrow + 0.6)
    fig, axes = plt.subplots(nrow, ncol, figsize=figsize, squeeze=False, layout="constrained")
    vals = np.asarray(da.transpose(*order).values, dtype=float).reshape(nrow, ncol, ny, nx)
    vmin, vmax = np.nanmin(vals), np.nanmax(vals)
    if log is None:
        log = bool(vmin > 0 and vmax > 10 * vmin)
    norm = LogNorm(vmin, vmax) if log else Normalize(vmin, vmax)
    rip = None
    if ripple is not None and "ripple" in ds.data_vars and set(ds["ripple"].dims) <= set(ds[metric].dims):
        r_da = ds["ripple"].squeeze(drop=False)
        if set(r_da.dims) <= set(dims):
            r_da = r_da.broadcast_like(da) if r_da.dims != da.dims else r_da
            rip = np.asarray(r_da.transpose(*order).values, dtype=float).reshape(nrow, ncol, ny, nx) > ripple
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
            ax.set_xticks(range(nx), [_fmt(x) for x in da[xd].values], fontsize=7, rotation=45 if nx > 6 else 0)
            ax.set_yticks(range(ny), [_fmt(y) for y in da[yd].values], fontsize=7)
            if r == nrow - 1:
                ax.set_xlabel(LABELS.get(xd, xd))
            if c == 0:
                ax.set_ylabel(LABELS.get(yd, yd))
            parts = [f"{d}={_fmt(da[d].values[i])}" for d, i in ((cd, c), (rd, r)) if d]
            if parts:
                ax.set_title(", ".join(parts), fontsize=8)
            if annotate:
                mid = math.sqrt(vmin * vmax) if log else (vmin + vmax) / 2
                for j, i in zip(*np.nonzero(np.isfinite(v)), strict=True):
                    colour = "k" if (v[j, i] > mid) == hi else "w"  # dark text on bright cells
                    ax.text(i, j, f"{v[j, i]:.3g}", ha="center", va="center", fontsize=8.5, color=colour)
            if all(d is None or _same(da[d].values[i], bst[d]) for d, i in ((cd, c), (rd, r))):
                bi = _index(da[xd].values, bst[xd])
                bj = _index(da[yd].values, bst[yd])
                # the best cell: a red frame round it and a small star in its corner, so that
                # neither covers the cell's value
                ax.add_patch(Rectangle((bi - 0.5, bj - 0.5), 1, 1, fill=False, ec="C3", lw=2.2, zorder=3))
                ax.plot([bi + 0.36], [bj + 0.33], marker="*", ms=7, color="C3", mec="w", mew=0.5, ls="none", zorder=4)
    hatch_note = f"\nhatched: predicted lattice ripple > {ripple:g}" if rip is not None and rip.any() else ""
    fig.colorbar(im, ax=axes, label=f"{metric} ({'higher' if hi else 'lower'} is better)", shrink=0.9)
    fig.suptitle(f"{label}\nbest ({'max' if hi else 'min'} {bst[metric]:.4g}): {title_best}{hatch_note}", fontsize=9)
    return fig


def _same(a, b):
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return a == b or (np.isnan(a) and np.isnan(b))
    return plain_value(a) == b


def _index(values, v):
    return next(i for i, x in enumerate(values) if _same(x, v))
