"""The Annotator's figure: the image and the overlay as one RGBA image, the points, the redraw.

A mixin of :class:`confmap.widgets.Annotator`, which supplies the state (the image, the map, the
display step, the options) and documents the display grid (``display_max``) and the live layer.
"""

from __future__ import annotations

import numpy as np

from ..annotation import TIERS
from ..style import TIER_STYLE, marker_kwargs
from ._figure import DeferredDraw, configure_canvas, toolbar_fraction
from ._layer import CONTOUR_DASHES, contour_lines, make_layer, marker_list, points_px, set_map, wanted
from ._overlay import CONTOUR_LEVELS, CONTOUR_STYLES, blend, colour_lut, image_rgb

#: Marker size of the annotator's points, matplotlib's ``s`` (points²).
MARKER_S = 40

__all__ = ["AnnotatorFigure", "format_cursor_data"]


def format_cursor_data(data) -> str:
    """The toolbar's readout of ``(image value, map value or None)``: ``"[image 0.42, map 0.87]"``."""
    if data is None:
        return ""
    value, conf = data
    shown = ", ".join(f"{float(v):.3g}" for v in np.atleast_1d(value))
    return f"[image {shown}" + ("" if conf is None else f", map {conf:.2f}") + "]"


class AnnotatorFigure:
    """The Annotator's figure: built once, then only ``set_data`` / ``set_offsets`` and a redraw."""

    def data_to_display(self, points) -> np.ndarray:
        """Figure pixel positions (origin bottom-left, as matplotlib events) of ``(N, 2)`` points."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return self.ax.transData.transform(pts)

    def _compose(self, *, figure: bool = True, layer: bool = True) -> None:
        """Blend the map over the image (on the display grid) and show it as one RGBA uint8 image.

        One opaque uint8 RGBA image is the cheapest thing for Agg to draw: about 10 ms for a
        600 x 600 canvas, against about 50 ms for the image plus a masked, colour-mapped overlay
        layer (measured), and the redraw is most of a click's latency. The blend is
        :func:`confmap.widgets._overlay.blend`: alpha ``opacity * v`` of the colour of ``v``.
        ``figure`` updates the figure's image (and contours), ``layer`` the live layer's bytes and lines.
        """
        s = self._step
        values = self._map.values[::s, ::s] if self._show_map and self._map is not None else None
        on = self._contours_on and values is not None and values.max() > CONTOUR_LEVELS[0]
        x, y = (np.arange(values.shape[1]) * s, np.arange(values.shape[0]) * s) if on else (None, None)
        if figure:  # (a drag's frames go to the live layer only; the figure follows at the release)
            self._rgba[..., :3] = (
                self._base_u8 if values is None else blend(self._base_rgb, values, self._opacity, self._map_lut)
            )
            self._display.set_data(self._rgba)
        if layer and self._layer is not None:
            set_map(self._layer, values)
            self._layer.lines = (
                contour_lines(values, CONTOUR_LEVELS, x=x, y=y, colour="white", width=0.9, dashes=CONTOUR_DASHES)
                if on
                else []
            )
        if not figure:
            return
        if self._contour_set is not None:
            self._contour_set.remove()
            self._contour_set = None
        if on:
            self._contour_set = self.ax.contour(
                x, y, values, levels=CONTOUR_LEVELS, colors="white", linewidths=0.9, linestyles=CONTOUR_STYLES, zorder=2
            )

    def _cursor_data(self, event):
        if event.xdata is None or event.ydata is None:
            return None
        col, row = int(round(event.xdata)), int(round(event.ydata))
        if not (0 <= row < self._shape[0] and 0 <= col < self._shape[1]):
            return None
        value = self._image[row, col]
        conf = float(self._map.values[row, col]) if self._show_map and self._map is not None else None
        return value, conf

    @property
    def overlay_values(self) -> np.ndarray:
        """The map values currently blended over the image, ``(H, W)`` (zeros when hidden)."""
        if not self._show_map or self._map is None:
            return np.zeros(self._shape)
        return np.asarray(self._map.values)

    def _canvas_draw(self) -> None:
        if self._layer is not None:  # the layer shows the change; the figure follows when the hand rests
            self._figure_draw.request()
        else:
            self.figure.canvas.draw_idle()

    def _show_points(self, points_by_tier) -> None:
        """Set the scatter artists (and the live layer's markers) to ``{tier: (N, 2) points}``."""
        for tier in TIERS:
            self._scatter[tier].set_offsets(np.asarray(points_by_tier[tier]).reshape(-1, 2))
        if self._layer is not None:
            self._layer.markers = marker_list(
                (points_by_tier[t], TIER_STYLE[t].colour, TIER_STYLE[t].marker, points_px(self.figure, MARKER_S**0.5))
                for t in TIERS
            )

    def _build_figure(self, cmap, map_cmap, figsize, ax=None, live=None) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullLocator

        self._owns_figure = ax is None
        if ax is None:
            with plt.ioff():
                fig = plt.figure(figsize=figsize, dpi=100)
            # a strip on the left for ipympl's toolbar column, which floats over it
            left = toolbar_fraction(figsize[0])
            ax = fig.add_axes((left, 0.0, 1.0 - left, 1.0))
        else:
            fig = ax.figure
        # The image's colours once, with imshow's default scaling (min-max for a scalar image).
        s = self._step
        self._base_u8 = base = image_rgb(self._image, step=s, cmap=cmap)
        self._base_rgb = base.astype(np.float32)
        self._map_lut = colour_lut(map_cmap)
        self._rgba = np.full((*base.shape[:2], 4), 255, dtype=np.uint8)
        self._rgba[..., :3] = self._base_u8
        hd, wd = base.shape[:2]
        # the display grid's pixel j shows image pixel j*s, drawn over [j*s - 0.5, (j+1)*s - 0.5]
        self._display = ax.imshow(self._rgba, interpolation="nearest", extent=(-0.5, wd * s - 0.5, hd * s - 0.5, -0.5))
        ax.set(xlim=(-0.5, self._shape[1] - 0.5), ylim=(self._shape[0] - 0.5, -0.5))
        # The toolbar's readout shows the image's value and the map's, not the blended colour.
        self._display.get_cursor_data = self._cursor_data
        self._display.format_cursor_data = format_cursor_data
        ax.autoscale(False)
        self._scatter = {
            tier: ax.scatter(
                np.empty(0), np.empty(0), s=MARKER_S, edgecolors="k", linewidths=0.6, zorder=3, **marker_kwargs(tier)
            )
            for tier in TIERS
        }
        # No ticks and no legend (the tier colours are in the status line): each costs Agg
        # 15-30% of a redraw, and the redraw is most of a click's latency.
        ax.set_axis_off()
        # ... nor tick positions: matplotlib's pick walk (on every button press, through every
        # artist) would still compute the hidden axes' ticks, about 1 ms of each click (measured)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(NullLocator())
            axis.set_minor_locator(NullLocator())
        ax.apply_aspect()
        self.figure, self.ax = fig, ax
        canvas = fig.canvas
        configure_canvas(canvas)  # the toolbar in a fixed column left of the image, never over it
        self._layer = None
        if wanted(live, canvas):
            extent = (-0.5, wd * s - 0.5, -0.5, hd * s - 0.5)
            self._layer = make_layer(ax, self._base_rgb, extent=extent, lut=self._map_lut, opacity=self._opacity)
            self._figure_draw = DeferredDraw(canvas)
        self._cids = [
            canvas.mpl_connect("button_press_event", self._on_press),
            canvas.mpl_connect("motion_notify_event", self._on_motion),
            canvas.mpl_connect("button_release_event", self._on_release),
            canvas.mpl_connect("key_press_event", self._on_key),
        ]
