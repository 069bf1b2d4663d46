"""The live layer: the map over the image drawn by the browser, straight from raw bytes.

Why
---
Through ipympl, a change reaches the screen in four hops: the kernel asks the front end for a
frame (``draw_idle``), the front end asks back, Agg redraws the whole figure (about 30 ms) and a
PNG diff is encoded (about 11 ms), then the browser decodes it. On a 2-core machine a click took
about 275 ms from the mouse-down to the new map on screen that way (measured before the layer; the
README's latency table has the figures with it). The layer is a small ``anywidget`` canvas stacked
over the figure's axes (a CSS grid cell holding both; painted over the figure's image and under
ipympl's top canvas, where the zoom rectangle is drawn; transparent to the mouse, so clicks, the
toolbar and navigation stay ipympl's). After a change the kernel sends it one message: the map on
the display grid as one byte per pixel, only the block that holds its non-zero bytes
(:func:`map_block`: 6-8 kB of the 64 kB at 256 x 256 for notebook 01's phantom), and the points;
the browser blends it over the image's colours (sent once), in the same formula as
:func:`confmap.widgets._overlay.blend`, and draws the points and lines. The opacity
slider is linked to the layer in the browser (``jslink``), so opacity needs no kernel at all.

The figure underneath is still redrawn (``draw_idle``) and stays the truth: saving it, the
toolbar's download, static renderers and headless tests see the same picture. Its artists follow
every committed change (after the layer's message has left); it is redrawn once the hand rests
(:class:`confmap.widgets._figure.DeferredDraw`). During a drag only the layer follows the point.

Geometry
--------
The layer covers the axes box (``Axes.bbox`` in figure fractions, as last drawn: updated after each
draw) of the ipympl canvas it finds in its grid cell, and maps data coordinates with the axes'
limits (updated after each draw too, so pan and zoom follow the figure). The image's display grid
is drawn over ``extent`` with nearest-neighbour scaling, as ``imshow(interpolation="nearest")``.
Map values are rounded to bytes (``round(255 v)``, :func:`map_block`), the same index
:func:`blend` uses for the colour; the alpha uses that byte too (``opacity * round(255 v) / 255``),
at most 0.5 / 255 of opacity away from the figure's.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np

from .._validation import check_type, import_optional
from ._overlay import levels

__all__ = [
    "CONTOUR_DASHES",
    "close_layer",
    "contour_lines",
    "follow_axes",
    "layer_available",
    "line_list",
    "make_layer",
    "marker_list",
    "map_block",
    "points_px",
    "set_map",
    "stack",
    "sync",
    "wanted",
]

_ESM = Path(__file__).with_name("_layer.js")


def wanted(live, canvas) -> bool:
    """Whether a widget makes a layer: ``live`` True, False, or None (when :func:`layer_available`)."""
    check_type("live", live, (bool, np.bool_, type(None)), "True, False or None")
    return layer_available(canvas) if live is None else bool(live)


def layer_available(canvas) -> bool:
    """True when ``canvas`` is an ipympl widget and ``anywidget`` is installed (the layer can show)."""
    try:
        import anywidget  # noqa: F401
        import ipywidgets
    except ImportError:
        return False
    return isinstance(canvas, ipywidgets.DOMWidget)


#: Dash patterns (CSS px) of the 0.25 / 0.5 / 0.75 contours (dotted, dashed, solid), both widgets.
CONTOUR_DASHES = ([1.5, 2.5], [5.0, 3.0], [])


def map_block(values) -> tuple[bytes, list[int]]:
    """Map values in [0, 1] as the layer receives them: the bytes of the block holding every non-zero one.

    Parameters
    ----------
    values : ndarray, shape (h, w)
        The map on the display grid.

    Returns
    -------
    data : bytes
        ``round(255 v)`` (:func:`levels`), one byte per pixel, row-major, of the smallest block of
        rows and columns that holds every non-zero byte (outside it the map shows nothing).
    box : list of int
        ``[row, column, height, width]`` of that block on the display grid; ``[0, 0, 0, 0]`` (and
        no data) when every byte is zero.

    Notes
    -----
    The map is zero (below half a level) away from the annotated regions, so the block is much
    smaller than the grid: a smaller message for the server to relay and the browser to receive.
    """
    u8 = levels(values)
    rows = np.flatnonzero(u8.any(axis=1))
    if rows.size == 0:
        return b"", [0, 0, 0, 0]
    cols = np.flatnonzero(u8.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return np.ascontiguousarray(u8[r0:r1, c0:c1]).tobytes(), [r0, c0, r1 - r0, c1 - c0]


def set_map(layer, values) -> None:
    """Send the map ``values`` (display grid, in [0, 1]; ``None``: no map) to ``layer``, in one message."""
    data, box = (b"", [0, 0, 0, 0]) if values is None else map_block(values)
    with layer.hold_sync():
        layer.values, layer.values_box = data, box


def points_px(figure, size_pt: float) -> float:
    """A size in points as CSS pixels on ``figure``'s canvas (its dpi over the device pixel ratio)."""
    ratio = float(getattr(figure.canvas, "device_pixel_ratio", 1.0) or 1.0)
    return float(size_pt) * figure.dpi / ratio / 72.0


@functools.cache
def _layer_class():
    """The anywidget class, defined at first use (anywidget is imported only when a layer is made)."""
    anywidget = import_optional("anywidget", "the live layer (live=True)", "anywidget", extra="notebooks")
    import traitlets as t

    class MapLayer(anywidget.AnyWidget):
        """A browser-side canvas: image colours + map bytes blended, points and lines on top."""

        _esm = _ESM
        shape = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
        extent = t.List(t.Float(), default_value=[0.0, 1.0, 0.0, 1.0]).tag(sync=True)
        base = t.Bytes(b"").tag(sync=True)
        values = t.Bytes(b"").tag(sync=True)
        values_box = t.List(t.Int(), default_value=[0, 0, 0, 0]).tag(sync=True)
        lut = t.Bytes(b"").tag(sync=True)
        opacity = t.Float(0.8).tag(sync=True)
        box = t.List(t.Float(), default_value=[0.0, 0.0, 1.0, 1.0]).tag(sync=True)
        view = t.List(t.Float(), default_value=[0.0, 1.0, 0.0, 1.0]).tag(sync=True)
        markers = t.List().tag(sync=True)
        lines = t.List().tag(sync=True)

    return MapLayer


def make_layer(ax, base_rgb, *, extent, lut, opacity: float):
    """A layer for the image ``base_rgb`` drawn over ``extent`` in ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes the layer covers; its box and limits are followed after every draw.
    base_rgb : ndarray, shape (h, w, 3)
        The image's colours on the display grid, in [0, 255].
    extent : (float, float, float, float)
        Data coordinates ``(x0, x1, y0, y1)`` of the grid's left, right, top and bottom edges
        (column ``j`` spans ``x0 + j (x1 - x0) / w`` to the next; row 0 is at ``y0``).
    lut : ndarray, shape (256, 3)
        The map's colours (:func:`confmap.widgets._overlay.colour_lut`).
    opacity : float
        Opacity of the colour where the map is 1.
    """
    base = np.clip(np.asarray(base_rgb, dtype=np.float32) + 0.5, 0, 255).astype(np.uint8)
    layer = _layer_class()(
        shape=[int(base.shape[0]), int(base.shape[1])],
        extent=[float(e) for e in extent],
        base=np.ascontiguousarray(base[..., :3]).tobytes(),
        lut=np.clip(np.asarray(lut) + 0.5, 0, 255).astype(np.uint8).tobytes(),
        opacity=float(opacity),
    )
    layer.add_class("confmap-layer")
    follow_axes(layer, ax)
    layer._confmap_cid = ax.figure.canvas.mpl_connect("draw_event", lambda _event: follow_axes(layer, ax))
    return layer


def close_layer(layer, canvas) -> None:
    """Stop following the figure's draws and close the layer's widget (no-op for ``None``)."""
    if layer is not None:
        canvas.mpl_disconnect(layer._confmap_cid)
        layer.close()


def follow_axes(layer, ax) -> None:
    """Set the layer's box (figure fractions) and view (the axes' limits) from ``ax`` as drawn."""
    # ax.bbox: the axes as last placed, read only (get_position(original=False) would re-apply the
    # aspect, mark the figure stale and so ask for another draw: a redraw loop)
    fw, fh = ax.figure.bbox.width, ax.figure.bbox.height
    x0, y0, x1, y1 = ax.bbox.extents
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    box = [float(x0 / fw), float(y0 / fh), float(x1 / fw), float(y1 / fh)]
    view = [float(xlim[0]), float(xlim[1]), float(ylim[0]), float(ylim[1])]
    if list(layer.box) != box or list(layer.view) != view:
        with layer.hold_sync():
            layer.box, layer.view = box, view


def marker_list(points_by_style) -> list:
    """The layer's markers: ``[{"xy": [x0, y0, x1, ...], "colour", "marker", "size"}, ...]``.

    ``points_by_style`` is an iterable of ``(points (N, 2), colour, marker, size_px)``; markers
    are ``"o"``, ``"s"``, ``"^"`` or ``"X"`` (the tier style's), drawn with a black edge.
    """
    out = []
    for pts, colour, marker, size in points_by_style:
        xy = np.asarray(pts, dtype=float).reshape(-1, 2)
        if len(xy):
            out.append(
                {"xy": [round(v, 3) for v in xy.ravel().tolist()], "colour": colour, "marker": marker, "size": size}
            )
    return out


def line_list(segments, *, colour: str, width: float, dashes) -> list:
    """The layer's lines: one ``{"xy", "colour", "width", "dash"}`` per ``(N, 2)`` polyline in data coordinates.

    ``dashes`` gives one dash pattern (list of px, ``[]`` solid) per polyline.
    """
    out = []
    for seg, dash in zip(segments, dashes, strict=True):
        xy = np.asarray(seg, dtype=float).reshape(-1, 2)
        if len(xy) > 1:
            out.append(
                {"xy": [round(v, 2) for v in xy.ravel().tolist()], "colour": colour, "width": width, "dash": list(dash)}
            )
    return out


def contour_lines(values, heights, *, x, y, colour: str, width: float, dashes) -> list:
    """Iso-lines of ``values`` at ``heights`` (rows ``y``, columns ``x`` in data coordinates) as layer lines.

    ``dashes`` gives the dash pattern of each height. Computed with ``contourpy`` (matplotlib's own
    contouring library), so the lines are those ``ax.contour`` draws.
    """
    import contourpy

    gen = contourpy.contour_generator(np.asarray(x, float), np.asarray(y, float), np.asarray(values, float))
    lines = [(seg, dash) for height, dash in zip(heights, dashes, strict=True) for seg in gen.lines(height)]
    return line_list([seg for seg, _ in lines], colour=colour, width=width, dashes=[dash for _, dash in lines])


def stack(canvas, layer):
    """A grid cell holding the figure's canvas with the layer over it (``None``: the canvas alone)."""
    if layer is None:
        return canvas
    import ipywidgets as w

    canvas.layout.grid_area = "1 / 1 / 2 / 2"
    layer.layout = w.Layout(grid_area="1 / 1 / 2 / 2", width="0px", height="0px", align_self="flex-start")
    box = w.GridBox([canvas, layer], layout=w.Layout(grid_template_columns="auto", grid_template_rows="auto"))
    box.add_class("confmap-figure-stack")
    return box


def sync(layer):
    """A context bundling the layer's changes into one message (a null context without a layer)."""
    return contextlib.nullcontext() if layer is None else layer.hold_sync()
