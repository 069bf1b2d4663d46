"""Point annotator: click tiered confidence points on an image and watch the map follow.

The :class:`Annotator` is a view over a :class:`confmap.session.AnnotationSession` (the points,
undo/redo, the effort log and the autosave, with no matplotlib): it owns one matplotlib figure (an
ipympl canvas in JupyterLab, or the given ``ax``) and a row of ipywidgets controls. Its event
callbacks only translate mouse and key events into the public methods
(:meth:`Annotator.add_point`, :meth:`Annotator.move_point`, :meth:`Annotator.remove_point`,
:meth:`Annotator.undo`, ...), so everything a user can do with the mouse can also be done, and
tested, from Python.

Mouse and keys
--------------
========================  ======================================================================
left click                add a point of the current tier
left drag on a point      move that point (one undo step)
right click, shift+click  delete the nearest point (of any tier) within ``pick_radius`` pixels
1, 2, 3, 4                current tier: high, medium, low, sinks
z / ctrl+z                undo
y / ctrl+y / ctrl+shift+z redo
toolbar pan / zoom        navigate; no point is added while a toolbar mode is active
========================  ======================================================================

Keys work whenever the figure or one of the annotator's controls has the keyboard focus (after a
click on a tier button, say): the figure's keys come through matplotlib, the controls' through
``ipyevents`` (installed with the ``notebooks`` extra; it listens while the mouse is over the
annotator); both call :meth:`Annotator.handle_key`.

Clicks outside the image are ignored. Coordinates follow the package convention:
``(x, y) = (column, row)`` pixels, pixel centres on integers (matplotlib's ``imshow``).
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable

import numpy as np

from .. import construct as _construct
from .._validation import check_finite_array, check_keys, check_number, check_type
from ..annotation import TIERS, Annotation, image_sha256
from ..construct import MapParams
from ..session import EFFORT_FORMAT, EFFORT_VERSION, AnnotationSession, effort_path
from ..style import TIER_STYLE  # noqa: F401 - the one tier style, importable from here too
from ._controls import AnnotatorControls
from ._display import AnnotatorFigure
from ._events import EventTranslation
from ._layer import close_layer, sync
from ._overlay import display_step

__all__ = ["EFFORT_FORMAT", "EFFORT_VERSION", "Annotator", "effort_path"]

_MAP_KEYS = MapParams.fields()


def _from_session(name: str):
    """The session's property or method ``name`` as the Annotator's own (same docstring and signature)."""
    attr = getattr(AnnotationSession, name)
    if isinstance(attr, property):
        return property(lambda self: getattr(self.session, name), doc=attr.__doc__)

    @functools.wraps(attr)
    def forward(self, *args, **kwargs):
        return attr(self.session, *args, **kwargs)

    return forward


class Annotator(EventTranslation, AnnotatorFigure, AnnotatorControls):
    """An interactive point annotator with a live confidence-map overlay (the paper's Section 2.2).

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3|4)
        The image to annotate (grey levels are shown with ``cmap``; RGB(A) as is). Finite values.
    annotation : Annotation, optional
        Points to start from; its shape must be ``(H, W)``. Default: the file at ``path`` when it
        exists (resuming an earlier session), else no points.
    path : str or os.PathLike, optional
        The annotation file. With ``autosave=True`` (default) the annotation and its effort log
        (:func:`effort_path`) are written atomically after every change, so a kernel restart
        loses nothing: ``Annotator(image, path=path)`` resumes from it.
    autosave : bool, default True
        Save to ``path`` after every change (ignored without ``path``).
    image_id, annotator : str, optional
        Metadata for a new annotation (see :class:`confmap.Annotation`).
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in mm for a new annotation.
    map_options : dict, optional
        Keyword arguments of :func:`confmap.confidence_map` (``lam``, ``betas``, ``bandwidth``,
        ``kernel``, ``region``, ``alpha``, ``sink_radius``, ``ripple_warn``).
    opacity : float, default 0.8
        Opacity of the overlay's colour where the map is 1, in [0, 1]; a pixel of map value ``v``
        is covered ``opacity * v`` (alpha rises with confidence, so the meaning does not depend on
        the image's brightness; 0 shows the image unchanged).
    show_map : bool, default True
        Show (and compute) the overlay.
    cmap, map_cmap : str, default "gray", "viridis"
        Colour maps of the image and of the overlay (a perceptual map whose top is bright).
    contours : bool, default False
        Also draw the map's iso-contours at 0.25, 0.5 and 0.75 (dotted, dashed, solid white).
    display_max : int or None, default 800
        The image and the overlay are drawn on a display grid of every ``s``-th pixel, ``s`` the
        smallest integer making the longer side <= ``display_max`` (None: every pixel), so a click's
        redraw does not grow with the image. Coordinates stay exact: the axes are in image pixels,
        and the map itself (:attr:`confidence`) is computed at every pixel.
    figsize : (float, float), default (6, 6)
        Figure size in inches (100 dpi); ignored with ``ax``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (of a figure you own, e.g. next to other panels) instead of a new figure.
    live : bool or None, default None
        Also draw the map and the points in the browser's live layer (:mod:`confmap.widgets._layer`),
        which shows a change without waiting for ipympl's round trip and Agg's redraw. None: when
        the canvas is an ipympl widget and ``anywidget`` is installed.
    pick_radius : float, default 8
        How close, in screen pixels, a click must be to a point to drag or delete it.
    idle_cap_s : float, default 60
        In the effort log, a pause between two actions counts at most this many seconds.
    clock : callable, default time.monotonic
        Seconds, for the effort log (tests inject a fake clock).

    Attributes
    ----------
    figure, ax : matplotlib Figure and Axes
        The owned figure (built under ``plt.ioff()``), or the given ``ax`` and its figure.
    session : AnnotationSession
        The model: points, undo/redo, effort log, autosave, replayable events.
    timings : list of dict
        For each change: ``map_ms`` (computing the map) and ``update_ms`` (from the event, or the
        method call, to the overlay's data updated and a redraw requested).

    Raises
    ------
    ValueError
        If the image is not 2-D (or 3-D with 3/4 channels), holds NaN/inf, or ``annotation`` (or
        the file at ``path``) has another shape or another image's SHA-256.

    Notes
    -----
    The overlay is :func:`confmap.confidence_map` (Eqs. 5-7) of the current points, recomputed
    after each change (4-13 ms at 512 x 512, README), blended over the image in numpy on the display
    grid (see ``display_max``) and pushed into the one existing image artist with ``set_data``; the
    canvas is then redrawn with ``draw_idle()`` (see :mod:`confmap.widgets._figure` for why never
    ``draw()``). In Jupyter the map and the points first go, in one message, to the live layer over
    the axes (:mod:`confmap.widgets._layer`), and the figure is redrawn once the hand rests.
    While a point is dragged the map follows it: motion events are coalesced (a map is computed
    for the newest position only, at most every ``drag_interval_s`` seconds: 0.04 s with the live
    layer, which alone follows the drag, 0.08 s without, when the figure is redrawn each time) and
    the exact map of the final position is shown at release.

    The effort log (the paper's claim that points are quicker than masks, Section 4) counts
    clicks, additions, moves, deletions, clears, undos and redos, and the active time: the sum
    of the pauses between consecutive actions, each capped at ``idle_cap_s``.

    Examples
    --------
    >>> import numpy as np
    >>> from confmap.widgets import Annotator
    >>> ann = Annotator(np.random.default_rng(0).random((64, 64)))
    >>> for x, y in [(20, 20), (40, 22), (30, 40)]:
    ...     _ = ann.add_point(x, y, tier="high")
    >>> ann.annotation.counts()["high"]
    3
    >>> ann.close()
    """

    def __init__(
        self,
        image,
        *,
        annotation: Annotation | None = None,
        path=None,
        autosave: bool = True,
        image_id: str | None = None,
        annotator: str | None = None,
        spacing=None,
        map_options: dict | None = None,
        opacity: float = 0.8,
        show_map: bool = True,
        cmap: str = "gray",
        map_cmap: str = "viridis",
        contours: bool = False,
        display_max: int | None = 800,
        figsize=(6.0, 6.0),
        pick_radius: float = 8.0,
        idle_cap_s: float = 60.0,
        clock=time.monotonic,
        ax=None,
        live: bool | None = None,
    ):
        img = check_finite_array("image", image, ndim=(2, 3))
        if img.ndim == 3 and img.shape[2] not in (3, 4):
            raise ValueError(f"`image` must have shape (H, W) or (H, W, 3|4), got shape {img.shape}")
        self._image = np.asarray(image)
        self._shape = (int(img.shape[0]), int(img.shape[1]))
        self._map_options = self._check_map_options(map_options)
        self._opacity = check_number("opacity", opacity, minimum=0.0, maximum=1.0)
        self._show_map = bool(show_map)
        self._pick_radius = check_number("pick_radius", pick_radius, minimum=0.0, strict_min=True)
        if display_max is not None:
            display_max = int(check_number("display_max", display_max, minimum=1))
        self._step = display_step(self._shape, display_max)
        self._contours_on = bool(contours)
        self._contour_set = None
        self._drag_last = 0.0
        self.drag_redraws = 0
        self._callbacks = []
        self._t_event = None
        self._drag = None
        self._map = None
        self._map_stale = True
        self._messages: list[str] = []
        self.timings: list[dict] = []
        self.session = AnnotationSession(
            self._shape,
            annotation=annotation,
            path=path,
            autosave=autosave,
            image_sha256=image_sha256(self._image),
            image_id=image_id,
            annotator=annotator,
            spacing=spacing,
            idle_cap_s=idle_cap_s,
            clock=clock,
            on_edit=self._on_edit,
        )
        self.session.on_change(lambda _: self._notify())

        self._build_figure(cmap, map_cmap, figsize, ax, live)
        # a drag's frame costs the kernel ~10 ms with the live layer, ~50 ms through the figure
        self.drag_interval_s = 0.04 if self._layer is not None else 0.08
        self._build_controls()
        self._refresh(record=False)

    # ------------------------------------------------------------------------------------------
    # checked state
    # ------------------------------------------------------------------------------------------
    @property
    def annotation(self) -> Annotation:
        """The current :class:`confmap.Annotation` (immutable; a new object after each change)."""
        return self.session.annotation

    @annotation.setter
    def annotation(self, value):
        """Replace every point at once (one undo step), e.g. with points computed elsewhere."""
        self.session.replace_annotation(value)

    @property
    def image(self) -> np.ndarray:
        """The image being annotated."""
        return self._image

    path = _from_session("path")

    @property
    def tier(self) -> str:
        """The tier new points get: one of ``"high"``, ``"medium"``, ``"low"``, ``"sinks"``."""
        return self.session.tier

    @tier.setter
    def tier(self, value):
        self.set_tier(value)

    @property
    def opacity(self) -> float:
        """Opacity of the map overlay, in [0, 1]."""
        return self._opacity

    @opacity.setter
    def opacity(self, value):
        self._opacity = check_number("opacity", value, minimum=0.0, maximum=1.0)
        if self._opacity_slider.value != self._opacity:
            self._opacity_slider.value = self._opacity
        with sync(self._layer):
            if self._layer is not None and self._layer.opacity != self._opacity:
                self._layer.opacity = self._opacity
            self._compose(layer=False)  # the layer has its own opacity (linked to the slider in the browser)
        self._canvas_draw()

    @property
    def show_map(self) -> bool:
        """Whether the map overlay is shown (and recomputed after changes)."""
        return self._show_map

    @show_map.setter
    def show_map(self, value):
        self._show_map = bool(check_type("show_map", value, (bool, np.bool_), "True or False"))
        if self._map_toggle.value != self._show_map:
            self._map_toggle.value = self._show_map
        self._refresh(record=False)

    @property
    def map_options(self) -> dict:
        """A copy of the keyword arguments passed to :func:`confmap.confidence_map`."""
        return dict(self._map_options)

    @map_options.setter
    def map_options(self, value):
        self._map_options = self._check_map_options(value)
        self._map_stale = True
        self._refresh(record=False)

    @property
    def confidence(self):
        """The confidence map of the current points (``xarray.DataArray``, dims ``("y", "x")``)."""
        if self._map is None or self._map_stale:
            self._compute_map()
        return self._map

    @property
    def status(self) -> str:
        """The status line: current tier, point counts, why tiers have no region, warnings, ripple."""
        return self._status_text

    @property
    def ripple(self) -> str | None:
        """The compact ripple indicator (``"ripple 1.8 % — use λ = 118"``), or None when the map has none."""
        return self._ripple_text

    def use_suggested_lam(self) -> int | None:
        """Apply the map's suggested lam (the ripple indicator's remedy button); returns it, or None."""
        need = None if self._map is None else self._map.attrs.get("suggested_lam")
        if need is None:
            return None
        self.map_options = {**self._map_options, "lam": int(need)}
        return int(need)

    effort = _from_session("effort")
    can_undo = _from_session("can_undo")
    can_redo = _from_session("can_redo")

    # ------------------------------------------------------------------------------------------
    # public editing methods (the event callbacks call only these); the session does the edit
    # and calls back _on_edit, which redraws, before it autosaves
    # ------------------------------------------------------------------------------------------
    def set_tier(self, tier: str) -> None:
        """Choose the tier of the next points (``"high"``, ``"medium"``, ``"low"``, ``"sinks"``)."""
        self.session.set_tier(tier)
        if self._tier_buttons.value != tier:
            self._tier_buttons.value = tier
        self._tier_badge.value = self._badge_html()
        self._update_status()
        self._canvas_draw()

    add_point = _from_session("add_point")
    move_point = _from_session("move_point")
    remove_point = _from_session("remove_point")
    remove_nearest = _from_session("remove_nearest")
    nearest_point = _from_session("nearest_point")
    clear_tier = _from_session("clear_tier")
    undo = _from_session("undo")
    redo = _from_session("redo")
    save = _from_session("save")

    def load(self, path) -> Annotation:
        """Replace the points with those of an annotation file (and continue its effort log).

        The undo history is cleared. The file must be for an image of this shape and, when both
        record one, the same image SHA-256.
        """
        ann = self.session.load(path)
        self._map_stale = True
        self._refresh(record=False)
        self._notify()
        return ann

    def on_change(self, callback) -> None:
        """Call ``callback(annotator)`` after every change of the points (after the autosave)."""
        self._callbacks.append(check_type("callback", callback, Callable, "callable"))

    def close(self) -> None:
        """Close the figure (and release it from pyplot); with a given ``ax``, only disconnect from it."""
        import matplotlib.pyplot as plt

        for cid in self._cids:
            self.figure.canvas.mpl_disconnect(cid)
        close_layer(self._layer, self.figure.canvas)
        if self._owns_figure:
            plt.close(self.figure)

    # ------------------------------------------------------------------------------------------
    # display
    # ------------------------------------------------------------------------------------------
    @property
    def widget(self):
        """The ipywidgets box: tier buttons, actions, the canvas, the status line."""
        return self._box

    def _repr_mimebundle_(self, **kwargs):
        return self._box._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_map_options(options) -> dict:
        if options is None:
            return {}
        check_type("map_options", options, dict, "a dict")
        check_keys("`map_options` key(s)", options, _MAP_KEYS)
        MapParams.make(**options)  # the construction's own checks, now rather than at the first map
        return dict(options)

    def _on_edit(self, _session) -> None:
        self._map_stale = True
        self._refresh(record=True)

    def _notify(self) -> None:
        for cb in list(self._callbacks):
            cb(self)

    def _compute_map(self, annotation: Annotation | None = None) -> None:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            annotation = self.annotation if annotation is None else annotation
            self._map = _construct.confidence_map(annotation, **self._map_options)
        self._messages = []
        for w in caught:
            if issubclass(w.category, (_construct.NoRegionWarning, _construct.RippleWarning)):
                continue  # the status line explains missing regions; the ripple has its indicator
            if issubclass(w.category, _construct.ConfmapWarning):
                self._messages.append(f"{w.category.__name__}: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._map_stale = False
        self._map_ms = (time.perf_counter() - t0) * 1e3

    def _refresh(self, *, record: bool) -> None:
        t_start = self._t_event if self._t_event is not None else time.perf_counter()
        self._t_event = None
        self._map_ms = 0.0
        with sync(self._layer):  # the layer's points and map leave in one message
            self._show_points({t: self.annotation.points(t) for t in TIERS})
            if self._show_map and (self._map_stale or self._map is None):
                self._compute_map()
            self._compose(figure=self._layer is None)
        if self._layer is not None:  # the layer's message has left: now the figure's own image
            self._compose(layer=False)
        self._update_status()
        self._undo_button.disabled = not self.session.can_undo
        self._redo_button.disabled = not self.session.can_redo
        self._canvas_draw()
        if record:
            self.timings.append({"map_ms": self._map_ms, "update_ms": (time.perf_counter() - t_start) * 1e3})

    def __repr__(self):
        path = None if self.path is None else str(self.path)
        return f"Annotator({self.annotation!r}, tier={self.tier!r}, path={path!r})"
