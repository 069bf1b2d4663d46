"""Figure pieces shared by the widgets: ipympl's canvas settings, the toolbar strip, the redraw.

ipympl draws its toolbar as an absolutely positioned box over the figure (``z-index`` 100). In its
default "fade-in-fade-out" mode the toolbar appears on hover over the figure's top-left corner,
where it covers the image (the annotator) or the axis labels and title (the explorer). The widgets
instead keep the toolbar always visible as a column at the figure's left and leave that strip of
the figure empty (:data:`TOOLBAR_PX` pixels), so the toolbar never covers anything drawn.
"""

from __future__ import annotations

__all__ = ["TOOLBAR_PX", "configure_canvas", "draw_now", "toolbar_fraction"]

#: Width in pixels kept free at the figure's left for ipympl's toolbar column (it floats over the figure).
TOOLBAR_PX = 44


def toolbar_fraction(width_in: float, dpi: float = 100.0) -> float:
    """The share of a figure ``width_in`` inches wide taken by the toolbar column (at most 0.2)."""
    return min(0.2, TOOLBAR_PX / (float(width_in) * float(dpi)))


def configure_canvas(canvas, *, resizable: bool = False) -> None:
    """ipympl's canvas settings of the widgets (no-ops on other canvases).

    No header (the figure label) or footer, no resize handle, no scroll capture, and the toolbar
    always visible as a column on the left (over the strip that :func:`toolbar_fraction` keeps
    free), never fading in over the figure.
    """
    for attr, value in (
        ("header_visible", False),
        ("footer_visible", False),
        ("resizable", bool(resizable)),
        ("capture_scroll", False),
        ("toolbar_visible", "visible"),
        ("toolbar_position", "left"),
    ):
        if hasattr(canvas, attr):
            setattr(canvas, attr, value)


def draw_now(canvas) -> None:
    """Redraw the canvas: at once when an ipympl front end is live, else ``draw_idle()``.

    With a live front end, ``draw_idle`` asks the browser to ask back for a frame (one more
    websocket round trip per change); drawing now sends the frame straight away.
    """
    if getattr(canvas, "syncing_data_url", True) is False:
        canvas.draw()
    else:
        canvas.draw_idle()
