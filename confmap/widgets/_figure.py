"""Figure pieces shared by the widgets: ipympl's canvas settings, the toolbar strip, the redraw.

ipympl draws its toolbar as an absolutely positioned box over the figure (``z-index`` 100). In its
default "fade-in-fade-out" mode the toolbar appears on hover over the figure's top-left corner,
where it covers the image (the annotator) or the axis labels and title (the explorer). The widgets
instead keep the toolbar always visible as a column at the figure's left and leave that strip of
the figure empty (:data:`TOOLBAR_PX` pixels), so the toolbar never covers anything drawn.

Redraws always go through ``canvas.draw_idle()``, never ``canvas.draw()``. With ipympl,
``draw_idle`` asks the front end to ask back for a frame, and the front end keeps at most one
frame in flight (later requests are merged into the next frame), so frames are coalesced and
arrive in order. A direct ``draw()`` pushes a PNG at once: two in quick succession make the
front end revoke the first image's blob URL while it loads, which leaves its image "broken" for a
moment. A resize message landing then throws in ipympl's front end (``drawImage``) before the
view is sized, and the figure stays blank for good (seen in CI's browser test); a dropped
frame in matplotlib's "diff" image mode would also leave stale pixels. The round trip costs far
less than that risk.

With the live layer (:mod:`confmap.widgets._layer`) the map and the points reach the screen
without the figure, which the layer covers over the axes. The figure is then redrawn once the
hand rests (:class:`DeferredDraw`, 0.5 s after the last change): an Agg redraw and its PNG take the
kernel 30-50 ms, and a click arriving meanwhile would wait for them. (In IPython that also means
keeping pyplot's post-execute hook from redrawing the changed figure after every widget message:
see :meth:`DeferredDraw.request`.) Where the layer cannot show (no ``anywidget`` front end), the
figure still follows, 0.5 s late.
"""

from __future__ import annotations

__all__ = ["TOOLBAR_PX", "DeferredDraw", "configure_canvas", "toolbar_fraction"]

#: Width in pixels kept free at the figure's left for ipympl's toolbar column (it floats over the figure).
TOOLBAR_PX = 44


def toolbar_fraction(width_in: float, dpi: float = 100.0) -> float:
    """The share of a figure ``width_in`` inches wide taken by the toolbar column (at most 0.2)."""
    return min(0.2, TOOLBAR_PX / (float(width_in) * float(dpi)))


def configure_canvas(canvas) -> None:
    """ipympl's canvas settings of the widgets (no-ops on other canvases), and its size in pixels.

    No header (the figure label) or footer, no resize handle, no scroll capture, and the toolbar
    always visible as a column on the left (over the strip that :func:`toolbar_fraction` keeps
    free), never fading in over the figure.
    """
    if hasattr(canvas, "_size"):
        # The front end's view sizes its canvas from ``_size`` when it renders; ipympl sets it only
        # when the front end's "initialized" message comes back (after the cell), and if that
        # resize message then throws in the front end (ipympl draws its last image first, which
        # can be momentarily "broken" between two quick frames) the figure stays 0 x 0 for good.
        # So the size goes out with the widget, as ipympl's own static fallback does.
        w, h = canvas.figure.bbox.size / float(getattr(canvas, "device_pixel_ratio", 1.0) or 1.0)
        canvas._size = (float(w), float(h))
    for attr, value in (
        ("header_visible", False),
        ("footer_visible", False),
        ("resizable", False),
        ("capture_scroll", False),
        ("toolbar_visible", "visible"),
        ("toolbar_position", "left"),
    ):
        if hasattr(canvas, attr):
            setattr(canvas, attr, value)


class DeferredDraw:
    """Ask for a redraw (``draw_idle``) once, ``delay_s`` seconds after the last :meth:`request`.

    A single-shot timer of the canvas (``canvas.new_timer``: ipympl's runs on the kernel's event
    loop), restarted by every request, so a burst of changes costs one redraw. On a canvas whose
    timers never fire (Agg, headless) call :meth:`flush` to draw now. Only the redraw waits: the
    widgets keep the figure's artists current after every committed change, so ``savefig`` or a
    static renderer shows the last change even before the redraw.
    """

    def __init__(self, canvas, delay_s: float = 0.5):
        self._canvas = canvas
        self._timer = canvas.new_timer(interval=max(1, int(round(1000 * float(delay_s)))))
        self._timer.single_shot = True
        self._timer.add_callback(self.flush)
        self.pending = False

    def request(self) -> None:
        """(Re)start the timer: the figure is redrawn ``delay_s`` after the last request.

        Call it after the figure's artists changed. It also marks the figure as not stale: in
        IPython, ``comm`` runs the ``post_execute`` hooks after every widget message, and pyplot's
        hook redraws every stale figure (``draw_all``) at once, which would redraw the figure after
        every click and every drag step, the very work this class defers (the browser test's log
        showed ipympl's redraw request after every click: an Agg redraw and a PNG in the kernel and
        a decode in the browser while the next change is on its way; the test now counts them).
        The pending redraw here draws everything anyway.
        """
        self.pending = True
        self._timer.stop()
        self._timer.start()
        self._canvas.figure.stale = False

    def flush(self) -> None:
        """Redraw now (``draw_idle``) if a request is pending."""
        self._timer.stop()
        if self.pending:
            self.pending = False
            self._canvas.draw_idle()
