"""Sliders for the construction's parameters; the confidence map and its metrics follow live.

:class:`ParameterExplorer` owns a matplotlib figure (built under ``plt.ioff()``; an ipympl widget with
``%matplotlib widget``) and one ipywidgets control per parameter. Every widget callback only calls a
public method (:meth:`ParameterExplorer.set`), so a test or a script drives the explorer exactly as a
user does, without a browser.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from .._validation import check_finite_array, check_keys, check_number, check_type, check_unit_interval, describe
from ..annotation import Annotation
from ..construct import MapParams, check_annotation, check_param, confidence_map
from ..metrics import SCORES
from ..style import TIER_STYLE, marker_kwargs
from ._figure import DeferredDraw, configure_canvas, toolbar_fraction
from ._layer import (
    CONTOUR_DASHES,
    close_layer,
    contour_lines,
    make_layer,
    marker_list,
    points_px,
    set_map,
    stack,
    sync,
    wanted,
)
from ._overlay import CONTOUR_LEVELS, CONTOUR_STYLES, blend, colour_lut, image_rgb, ripple_indicator
from ._sliders import control_panel, fmt_bandwidth, make_controls, metrics_html, status_html

__all__ = ["ParameterExplorer"]


#: Marker size (points) of the explorer's annotation points.
_MARKER_MS = 4
_PARAMS = ("lam", "beta_h", "beta_m", "beta_l", "bandwidth", "region", "alpha", "opacity")


def _setting(name: str, doc: str) -> property:
    """A property reading the explorer's setting ``name`` and setting it through ``set`` (one redraw)."""
    return property(lambda self: self._state[name], lambda self, value: self.set(**{name: value}), doc=doc)


class ParameterExplorer:
    """Explore lambda, the betas, the bandwidth and the region mode with live map and metrics.

    Parameters
    ----------
    annotation : Annotation
        The tiered points (image shape ``(H, W)``).
    image : array_like, shape (H, W) or (H, W, 3), optional
        The image under the map (e.g. the B-mode); grey if 2-D.
    agreement : array_like, shape (H, W), optional
        Agreement map in [0, 1] (the paper's *Agreement*). When given, the Brier score (whole
        image and foreground, Eq. 8) and soft Dice (Eq. 9) against it are shown live, and its
        0.25 / 0.5 / 0.75 contours are drawn.
    lam : int, default 100
        Grid subsampling lambda (slider 10-300; larger values widen the slider).
    betas : (float, float, float), default (1.0, 0.5, 0.1)
        ``(beta_H, beta_M, beta_L)`` (sliders 0-1; larger values widen the slider).
    bandwidth : float or {"scott", "silverman"}, default 0.1
        KDE bandwidth factor sigma (log slider 0.01-1), or a rule as in :func:`confmap.confidence_map`.
    region : {"convex", "alpha"}, default "convex"
    alpha : float, optional
        Alpha-shape circumradius in pixels (None: 0, carve every removable triangle).
    kernel : {"full", "isotropic"}, default "full"
        Fixed, passed to :func:`confmap.confidence_map`.
    opacity : float, default 0.8
        Opacity of the map's colour where the map is 1, in [0, 1]: a pixel of value ``v`` is
        covered ``opacity * v`` (alpha rising with confidence, as in the annotator), so the
        map's meaning does not depend on the image's brightness.
    cmap : str, default "viridis"
        Colour map of the confidence map.
    figsize : (float, float), default (5.0, 4.4)
        Figure size in inches; ignored with ``ax``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (of a figure you own) instead of a new figure.
    live : bool or None, default None
        Also draw the map, the agreement contours and the points in the browser's live layer
        (:mod:`confmap.widgets._layer`): a new map shows without ipympl's round trip and Agg's
        redraw, and the opacity slider acts in the browser alone. None: when the canvas is an
        ipympl widget and ``anywidget`` is installed.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    widget : ipywidgets.Widget
        The whole explorer (controls and canvas); displaying the explorer displays it.
    controls : dict of str to ipywidgets.Widget
        The controls by parameter name (``"lam"``, ``"beta_h"``, ..., ``"opacity"``).

    Notes
    -----
    Each change recomputes the map with :func:`confmap.confidence_map` (the paper's Eqs. 5-7) and
    reuses the figure's image artist (``set_data``, then ``draw_idle()``; with the live layer the
    map shows on the layer first and the figure, with its title, follows once the sliders rest).
    Warnings of the construction (a tier without a region, a visible grid lattice) are shown in the status line,
    not raised.

    Examples
    --------
    >>> from confmap import Annotation
    >>> from confmap.widgets import ParameterExplorer
    >>> ann = Annotation((64, 64), high=[(24, 24), (40, 24), (32, 40)])
    >>> ex = ParameterExplorer(ann, lam=60, bandwidth=0.3)
    >>> ex.set(lam=80, beta_h=0.9)
    >>> ex.lam, ex.betas
    (80, (0.9, 0.5, 0.1))
    """

    def __init__(
        self,
        annotation: Annotation,
        *,
        image=None,
        agreement=None,
        lam: int = 100,
        betas=(1.0, 0.5, 0.1),
        bandwidth: float = 0.1,
        region: str = "convex",
        alpha=None,
        kernel: str = "full",
        opacity: float = 0.8,
        cmap: str = "viridis",
        figsize=(5.0, 4.4),
        ax=None,
        live: bool | None = None,
    ):
        self._annotation = check_annotation(annotation)
        h, w = annotation.shape
        self._image = self._check_image(image, (h, w))
        self._agreement = self._check_agreement(agreement, (h, w))
        self._kernel = check_param("kernel", kernel)
        state = dict(
            lam=lam, **self._split_betas(betas), bandwidth=bandwidth, region=region, alpha=alpha, opacity=opacity
        )
        self._state = self._validated({}, state)
        self._map = None
        self._metrics = None
        self._messages: list[str] = []
        self.n_updates = 0
        self._syncing = False
        self._callbacks = []

        self._build_figure(cmap, figsize, ax, live)
        self._build_controls()
        self.update()

    def _build_figure(self, cmap, figsize, ax, live=None) -> None:
        """The figure: the image, the map layer, the agreement contours, the points."""
        import matplotlib.pyplot as plt

        annotation = self._annotation
        h, w = annotation.shape
        if ax is None:
            with plt.ioff():
                self.figure, self._ax = plt.subplots(figsize=figsize, layout="constrained")
            # a strip on the left for ipympl's toolbar column: it never covers the title or the axes
            left = toolbar_fraction(figsize[0], self.figure.dpi)
            self.figure.get_layout_engine().set(rect=(left, 0.0, 1.0 - left, 1.0))
        else:
            self.figure, self._ax = ax.figure, ax
        ax = self._ax
        configure_canvas(self.figure.canvas)
        # One RGB image, the map blended over the image's colours in numpy (as in the annotator):
        # an opacity change re-blends and swaps the data of one artist, instead of Agg compositing
        # a second layer with a per-pixel alpha (about 5x slower to draw).
        if self._image is None:
            self._base_rgb = np.zeros((h, w, 3), np.float32)
        else:
            top = 1.0 if self._image.ndim == 3 or self._image.max() <= 1 else None
            self._base_rgb = image_rgb(self._image, vmin=0.0, vmax=top).astype(np.float32)
        self._lut = colour_lut(cmap)
        self._im = ax.imshow(  # no map yet: update() follows
            blend(self._base_rgb, np.zeros((h, w)), self._state["opacity"], self._lut), interpolation="nearest"
        )
        # The colour bar of the colour map itself (the blended image has no colour scale).
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        scale = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap)
        self._colorbar = self.figure.colorbar(scale, ax=ax, shrink=0.8, label="confidence")
        handles = []
        if self._agreement is not None:
            ax.contour(self._agreement, levels=CONTOUR_LEVELS, colors="cyan", linewidths=0.8, linestyles=CONTOUR_STYLES)
            from matplotlib.lines import Line2D

            handles = [
                Line2D([], [], color="cyan", lw=0.8, ls=ls, label=f"agreement {lev:g}")
                for lev, ls in zip(CONTOUR_LEVELS, CONTOUR_STYLES, strict=True)
            ]
        self._scatter = {}
        for tier in TIER_STYLE:
            pts = annotation.points(tier)
            style = marker_kwargs(tier)
            st = dict(style, label=style["label"] if len(pts) else "_" + style["label"])
            (self._scatter[tier],) = ax.plot(pts[:, 0], pts[:, 1], ls="none", ms=_MARKER_MS, mec="k", mew=0.5, **st)
        ax.set(xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), xticks=[], yticks=[])
        ax.autoscale(False)
        self._layer = None
        if wanted(live, self.figure.canvas):
            self._make_layer()
        tiers = [self._scatter[t] for t in TIER_STYLE if len(annotation.points(t))]
        if tiers or handles:  # under the image, so that it covers neither the map nor the points
            ax.legend(
                handles=tiers + handles,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.01),
                ncols=3,
                fontsize=7,
                frameon=False,
            )

    def _make_layer(self) -> None:
        """The live layer over the axes: the image's colours once, the agreement contours, the points."""
        h, w = self._annotation.shape
        self._layer = make_layer(
            self._ax,
            self._base_rgb,
            extent=(-0.5, w - 0.5, -0.5, h - 0.5),
            lut=self._lut,
            opacity=self._state["opacity"],
        )
        if self._agreement is not None:
            self._layer.lines = contour_lines(
                self._agreement,
                CONTOUR_LEVELS,
                x=np.arange(w),
                y=np.arange(h),
                colour="cyan",
                width=0.8,
                dashes=CONTOUR_DASHES,
            )
        self._layer_points()
        self._figure_draw = DeferredDraw(self.figure.canvas)
        # constrained layout places the axes at the first draw; the layer follows every draw after
        self.figure.draw_without_rendering()

    def _layer_points(self) -> None:
        if self._layer is not None:
            ms = points_px(self.figure, _MARKER_MS)
            self._layer.markers = marker_list(
                (self._annotation.points(t), TIER_STYLE[t].colour, TIER_STYLE[t].marker, ms) for t in TIER_STYLE
            )

    def _build_controls(self) -> None:
        """The sliders, the metrics and status lines, and the widget box."""
        import ipywidgets as widgets

        canvas = self.figure.canvas
        self.controls = c = make_controls(self._state, self._annotation.shape)
        for ctl in c.values():
            ctl.observe(self._on_control, names="value")
        self._metrics_label = widgets.HTML(value="")
        self._status = widgets.HTML(value="")
        if isinstance(canvas, widgets.DOMWidget):
            self._out = None
            view = stack(canvas, self._layer)
        else:  # a static backend (inline, Agg): redisplay the figure in an Output widget
            self._out = widgets.Output()
            view = self._out
        self.widget = widgets.HBox([control_panel(c, self._metrics_label, self._status), view])
        if self._layer is not None:  # opacity changes in the browser alone, no kernel round trip
            self._opacity_link = widgets.jslink((c["opacity"], "value"), (self._layer, "opacity"))
        self.widget.add_class("confmap-explorer")

    # ----------------------------------------------------------------------------------------
    # validation
    # ----------------------------------------------------------------------------------------
    @staticmethod
    def _check_image(image, shape):
        if image is None:
            return None
        arr = check_finite_array("image", getattr(image, "values", image), ndim=(2, 3))
        if arr.shape[:2] != shape or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise ValueError(
                f"`image` must have shape {shape} or {shape + (3,)}, the annotation's image shape, got {arr.shape}"
            )
        return arr

    @staticmethod
    def _check_agreement(agreement, shape):
        if agreement is None:
            return None
        arr = check_unit_interval("agreement", getattr(agreement, "values", agreement), ndim=2)
        if arr.shape != shape:
            raise ValueError(f"`agreement` must have the annotation's image shape {shape}, got {arr.shape}")
        return arr

    @staticmethod
    def _split_betas(value) -> dict:
        try:
            bh, bm, bl = value
        except (TypeError, ValueError):
            raise ValueError(f"`betas` must be three numbers (beta_H, beta_M, beta_L), got {describe(value)}") from None
        return {"beta_h": bh, "beta_m": bm, "beta_l": bl}

    @staticmethod
    def _validated(current, changes):
        check_keys("parameter(s)", changes, _PARAMS, error=TypeError)
        new = dict(current)
        for name, value in changes.items():
            if name == "opacity":
                new[name] = check_number("opacity", value, minimum=0.0, maximum=1.0)
            elif name == "alpha":
                new[name] = 0.0 if value is None else check_param("alpha", value)
            else:  # the construction's own checks (a bandwidth may be "scott" or "silverman")
                new[name] = check_param("beta" if name.startswith("beta_") else name, value, name=name)
        return new

    # ----------------------------------------------------------------------------------------
    # public state
    # ----------------------------------------------------------------------------------------
    def set(self, **changes) -> None:
        """Change one or more parameters at once and redraw once.

        Parameters
        ----------
        **changes
            Any of ``lam``, ``beta_h``, ``beta_m``, ``beta_l``, ``bandwidth``, ``region``,
            ``alpha``, ``opacity``.

        Raises
        ------
        TypeError, ValueError
            For an unknown parameter or a bad value (nothing is changed then).
        """
        new = self._validated(self._state, changes)
        if new == self._state:
            return
        old, self._state = self._state, new
        self._sync_controls()
        changed = {k for k in _PARAMS if new[k] != old[k]}
        if changed <= {"opacity"} or (changed <= {"opacity", "alpha"} and new["region"] == "convex"):
            self._apply_alpha()
            self._draw()
            return
        self.update()

    def _sync_controls(self):
        self._syncing = True
        try:
            for name, ctl in self.controls.items():
                value = self._state[name]
                if name == "bandwidth":
                    if isinstance(value, str):  # "scott"/"silverman": the slider keeps its place
                        continue
                    ctl.min, ctl.max = min(ctl.min, math.log10(value)), max(ctl.max, math.log10(value))
                elif hasattr(ctl, "max") and value > ctl.max:
                    ctl.max = value
                if ctl.value != value:
                    ctl.value = value
            self.controls["alpha"].disabled = self._state["region"] != "alpha"
        finally:
            self._syncing = False

    def _on_control(self, change):
        if self._syncing:
            return
        name = next(k for k, v in self.controls.items() if v is change["owner"])
        self.set(**{name: change["new"]})

    @property
    def annotation(self) -> Annotation:
        """The annotation (settable: the map and points follow)."""
        return self._annotation

    @annotation.setter
    def annotation(self, value):
        value = check_annotation(value)
        if value.shape != self._annotation.shape:
            raise ValueError(f"`annotation` must keep the image shape {self._annotation.shape}, got {value.shape}")
        self._annotation = value
        for tier, line in self._scatter.items():
            pts = value.points(tier)
            line.set_data(pts[:, 0], pts[:, 1])
        with sync(self._layer):
            self._layer_points()
            self.update()

    lam = _setting("lam", "Grid subsampling lambda.")
    beta_h = _setting("beta_h", "Weight of the high tier, beta_H.")
    beta_m = _setting("beta_m", "Weight of the medium tier, beta_M.")
    beta_l = _setting("beta_l", "Weight of the low tier, beta_L.")

    @property
    def betas(self) -> tuple[float, float, float]:
        """``(beta_H, beta_M, beta_L)`` (settable as a triple)."""
        s = self._state
        return (s["beta_h"], s["beta_m"], s["beta_l"])

    @betas.setter
    def betas(self, value):
        self.set(**self._split_betas(value))

    bandwidth = _setting("bandwidth", "KDE bandwidth factor sigma.")
    region = _setting("region", 'Region mode, ``"convex"`` or ``"alpha"``.')
    alpha = _setting("alpha", 'Alpha-shape circumradius in pixels (used when ``region == "alpha"``).')
    opacity = _setting("opacity", "Opacity of the map overlay.")

    @property
    def params(self) -> dict:
        """Keyword arguments of :func:`confmap.confidence_map` for the current setting."""
        s = self._state
        kw = dict(
            lam=s["lam"],
            betas=self.betas,
            bandwidth=s["bandwidth"],
            kernel=self._kernel,
            region=s["region"],
        )
        if s["region"] == "alpha":
            kw["alpha"] = s["alpha"]
        return kw

    @property
    def map_params(self) -> MapParams:
        """The current setting as a :class:`confmap.MapParams`."""
        return MapParams.make(**self.params)

    @property
    def map(self):
        """The current confidence map (``xarray.DataArray``, dims ``("y", "x")``)."""
        return self._map

    @property
    def metrics(self) -> dict | None:
        """``{"brier", "brier_fg", "soft_dice"}`` against the agreement map, or None without one."""
        return None if self._metrics is None else dict(self._metrics)

    @property
    def messages(self) -> list[str]:
        """Warnings of the last map computation (no region, lattice ripple), as text."""
        return list(self._messages)

    # ----------------------------------------------------------------------------------------
    # drawing
    # ----------------------------------------------------------------------------------------
    def update(self) -> None:
        """Recompute the map (and metrics) for the current parameters and redraw."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cm = confidence_map(self._annotation, **self.params)
            values = cm.values
            if self._layer is not None:  # first: the browser blends and shows it meanwhile
                set_map(self._layer, values)
            if self._agreement is not None:
                self._metrics = {name: float(score(values, self._agreement)) for name, score in SCORES.items()}
        self._messages = list(dict.fromkeys(f"{r.category.__name__}: {r.message}" for r in caught))
        self._map = cm
        self._apply_alpha()
        if self._metrics is not None:
            self._metrics_label.value = metrics_html(self._metrics)
        others = [m for m in self._messages if not m.startswith("RippleWarning")]
        self._status.value = status_html(self._annotation.counts(), ripple_indicator(cm.attrs), others)
        self._ax.set_title(
            f"λ={self.lam}, β=({self.beta_h:g}, {self.beta_m:g}, {self.beta_l:g}), "
            f"σ={fmt_bandwidth(self.bandwidth)}, "
            f"{self.region}" + (f" α={self.alpha:g}" if self.region == "alpha" else ""),
            fontsize=8,
        )
        self.n_updates += 1
        self._draw()
        for callback in list(self._callbacks):
            callback(self)

    def _apply_alpha(self) -> None:
        """Alpha rising with confidence: ``opacity * v`` per pixel, blended into the one image (``_overlay.blend``)."""
        opacity = self._state["opacity"]
        if self._layer is not None and self._layer.opacity != opacity:
            self._layer.opacity = opacity
        self._im.set_data(blend(self._base_rgb, self._map.values, opacity, self._lut))

    def on_change(self, callback) -> None:
        """Call ``callback(explorer)`` after every recomputation of the map.

        Parameters
        ----------
        callback : callable
            Receives this explorer (read ``.map``, ``.metrics``, ``.params``).

        Raises
        ------
        TypeError
            If ``callback`` is not callable.
        """
        self._callbacks.append(check_type("callback", callback, Callable, "callable"))

    def _draw(self):
        if self._layer is not None:  # the layer shows the map; the title and figure follow when the hand rests
            self._figure_draw.request()
        else:
            self.figure.canvas.draw_idle()
        if self._out is not None:
            try:
                from IPython import get_ipython
                from IPython.display import display
            except ImportError:  # pragma: no cover - IPython comes with ipywidgets
                return
            if get_ipython() is None:
                return
            with self._out:
                self._out.clear_output(wait=True)
                display(self.figure)

    def display(self):
        """Display the explorer (in a notebook)."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close the figure and the widgets."""
        import matplotlib.pyplot as plt

        close_layer(self._layer, self.figure.canvas)
        plt.close(self.figure)
        for w in (self.widget, *self.controls.values(), self._metrics_label, self._status):
            w.close()

    def __repr__(self):
        return f"ParameterExplorer({self._annotation!r}, {self.params})"
