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

Clicks outside the image are ignored. Coordinates follow the package convention:
``(x, y) = (column, row)`` pixels, pixel centres on integers (matplotlib's ``imshow``).
"""

from __future__ import annotations

import html
import time
import warnings
from pathlib import Path

import numpy as np

from .. import construct as _construct
from .._validation import check_finite_array, check_number, describe
from ..annotation import TIERS, Annotation, image_sha256
from ..construct import MapParams
from ..session import EFFORT_FORMAT, EFFORT_VERSION, AnnotationSession, effort_path
from ..style import TIER_STYLE  # the one tier style: (colour, marker, label)

__all__ = ["EFFORT_FORMAT", "EFFORT_VERSION", "Annotator", "effort_path"]

_SYMBOLS = {"o": "&#9679;", "s": "&#9632;", "^": "&#9650;", "X": "&#10006;"}
_LEGEND_HTML = " ".join(
    f'<span style="color:{c}">{_SYMBOLS[m]}</span>&nbsp;{label}' for c, m, label in TIER_STYLE.values()
)
_KEY_TIERS = {"1": "high", "2": "medium", "3": "low", "4": "sinks"}
_UNDO_KEYS = ("z", "ctrl+z", "cmd+z")
_REDO_KEYS = ("y", "ctrl+y", "cmd+y", "ctrl+Z", "ctrl+shift+z", "cmd+Z")
_DELETE_MODIFIERS = ("shift",)
_MAP_KEYS = MapParams.fields()



def _format_cursor_data(data):
    if data is None:
        return ""
    value, conf = data
    value = np.asarray(value)
    shown = f"{float(value):.3g}" if value.ndim == 0 else ", ".join(f"{float(v):.3g}" for v in value)
    return f"[image {shown}" + ("" if conf is None else f", map {conf:.2f}") + "]"


class Annotator:
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
    opacity : float, default 0.5
        Opacity of the map overlay, in [0, 1]. Pixels where the map is below 0.005 are
        transparent.
    show_map : bool, default True
        Show (and compute) the overlay.
    cmap, map_cmap : str, default "gray", "inferno"
        Colour maps of the image and of the overlay.
    figsize : (float, float), default (6, 6)
        Figure size in inches (100 dpi); ignored with ``ax``.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (of a figure you own, e.g. next to other panels) instead of a new figure.
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
    after each change (about 10 ms at 512 x 512), blended over the image in numpy and pushed into
    the one existing image artist with ``set_data``; the canvas is then redrawn (at once when an
    ipympl front end is live, else ``draw_idle()``).

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
        opacity: float = 0.5,
        show_map: bool = True,
        cmap: str = "gray",
        map_cmap: str = "inferno",
        figsize=(6.0, 6.0),
        pick_radius: float = 8.0,
        idle_cap_s: float = 60.0,
        clock=time.monotonic,
        ax=None,
    ):
        img = check_finite_array("image", image, ndim=(2, 3))
        if img.ndim == 3 and img.shape[2] not in (3, 4):
            raise ValueError(f"`image` must have shape (H, W) or (H, W, 3|4), got shape {img.shape}")
        self._image = np.asarray(image)
        self._shape = (int(img.shape[0]), int(img.shape[1]))
        self._sha = image_sha256(self._image)
        self._map_options = self._check_map_options(map_options)
        self._opacity = check_number("opacity", opacity, minimum=0.0, maximum=1.0)
        self._show_map = bool(show_map)
        self._pick_radius = check_number("pick_radius", pick_radius, minimum=0.0, strict_min=True)
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
            image_sha256=self._sha,
            image_id=image_id,
            annotator=annotator,
            spacing=spacing,
            idle_cap_s=idle_cap_s,
            clock=clock,
            on_edit=self._on_edit,
        )
        self.session.on_change(lambda _: self._notify())

        self._build_figure(cmap, map_cmap, figsize, ax)
        self._build_controls()
        self._refresh(record=False)

    # ------------------------------------------------------------------------------------------
    # checked state
    # ------------------------------------------------------------------------------------------
    @property
    def _ann(self) -> Annotation:
        return self.session.annotation

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

    @property
    def path(self) -> Path | None:
        """The autosave / default save path, or None."""
        return self.session.path

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
        self._update_overlay_alpha()
        self._canvas_draw()

    @property
    def show_map(self) -> bool:
        """Whether the map overlay is shown (and recomputed after changes)."""
        return self._show_map

    @show_map.setter
    def show_map(self, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"`show_map` must be True or False, got {describe(value)}")
        self._show_map = bool(value)
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
        """The status line: current tier, point counts, why tiers have no region, warnings."""
        return self._status_text

    @property
    def effort(self) -> dict:
        """A copy of the effort log (counts, ``active_s`` seconds, timestamps, event list)."""
        return self.session.effort

    @property
    def can_undo(self) -> bool:
        return self.session.can_undo

    @property
    def can_redo(self) -> bool:
        return self.session.can_redo

    # ------------------------------------------------------------------------------------------
    # public editing methods (the event callbacks call only these); the session does the edit
    # and calls back _on_edit, which redraws, before it autosaves
    # ------------------------------------------------------------------------------------------
    def set_tier(self, tier: str) -> None:
        """Choose the tier of the next points (``"high"``, ``"medium"``, ``"low"``, ``"sinks"``)."""
        self.session.set_tier(tier)
        if self._tier_buttons.value != tier:
            self._tier_buttons.value = tier
        self._update_status()
        self._canvas_draw()

    def add_point(self, x, y, *, tier: str | None = None) -> int:
        """Add the point ``(x, y)`` (pixels) to ``tier`` (default: the current); returns its index in the tier."""
        return self.session.add_point(x, y, tier=tier)

    def move_point(self, tier: str, index: int, x, y) -> None:
        """Move point ``index`` of ``tier`` to ``(x, y)`` (pixels)."""
        self.session.move_point(tier, index, x, y)

    def remove_point(self, tier: str, index: int) -> np.ndarray:
        """Delete point ``index`` of ``tier``; returns the removed ``(x, y)``."""
        return self.session.remove_point(tier, index)

    def remove_nearest(self, x, y, *, max_distance=None) -> tuple[str, int] | None:
        """Delete the point nearest to ``(x, y)`` (any tier) within ``max_distance`` px: ``(tier, index)`` or None."""
        return self.session.remove_nearest(x, y, max_distance=max_distance)

    def nearest_point(self, x, y, *, tiers=TIERS) -> tuple[str, int, float] | None:
        """The point nearest to ``(x, y)``: ``(tier, index, distance_px)``, or None if no points."""
        return self.session.nearest_point(x, y, tiers=tiers)

    def clear_tier(self, tier: str | None = None) -> int:
        """Delete every point of ``tier`` (default: the current tier); returns how many."""
        return self.session.clear_tier(tier)

    def undo(self) -> bool:
        """Undo the last change; returns False when there is nothing to undo."""
        return self.session.undo()

    def redo(self) -> bool:
        """Redo the last undone change; returns False when there is nothing to redo."""
        return self.session.redo()

    def save(self, path=None) -> Path:
        """Write the annotation and its effort log (:func:`effort_path`) atomically (default: ``self.path``)."""
        return self.session.save(path)

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
        if not callable(callback):
            raise TypeError(f"`callback` must be callable, got {describe(callback)}")
        self._callbacks.append(callback)

    def close(self) -> None:
        """Close the figure (and release it from pyplot); with a given ``ax``, only disconnect from it."""
        import matplotlib.pyplot as plt

        for cid in self._cids:
            self.figure.canvas.mpl_disconnect(cid)
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

    def data_to_display(self, points) -> np.ndarray:
        """Figure pixel positions (origin bottom-left, as matplotlib events) of ``(N, 2)`` points."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return self.ax.transData.transform(pts)

    # ------------------------------------------------------------------------------------------
    # event translation (no state changes except through the public methods above)
    # ------------------------------------------------------------------------------------------
    def _navigating(self) -> bool:
        if self.ax.get_navigate_mode() is not None:
            return True
        toolbar = getattr(self.figure.canvas, "toolbar", None)
        if toolbar is not None and str(getattr(toolbar, "mode", "")):
            return True
        lock = getattr(self.figure.canvas, "widgetlock", None)
        return bool(lock is not None and lock.locked())

    def _event_xy(self, event):
        """The event's image point, or None when it is off the image (or not on our axes)."""
        if event.inaxes is not self.ax or event.xdata is None or event.ydata is None:
            return None
        x, y = float(event.xdata), float(event.ydata)
        h, w = self._shape
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            return None
        return x, y

    def _pick(self, event):
        """(tier, index) of the point within pick_radius screen pixels of the event, or None."""
        best = None
        for tier in TIERS:
            pts = self._ann.points(tier)
            if len(pts):
                d = np.hypot(*(self.ax.transData.transform(pts) - (event.x, event.y)).T)
                i = int(np.argmin(d))
                if d[i] <= self._pick_radius and (best is None or d[i] < best[2]):
                    best = (tier, i, float(d[i]))
        return None if best is None else best[:2]

    @staticmethod
    def _modifiers(event) -> set:
        mods = set(getattr(event, "modifiers", None) or ())
        if event.key:
            mods.update(event.key.split("+"))
        return mods

    def _on_press(self, event):
        self._t_event = time.perf_counter()
        if self._navigating():
            return
        xy = self._event_xy(event)
        if xy is None:
            if event.inaxes is self.ax:
                self.session.note_click(ignored=True)
            return
        button = int(event.button) if event.button is not None else 0
        delete = button == 3 or (button == 1 and self._modifiers(event) & set(_DELETE_MODIFIERS))
        if delete:
            self.session.note_click()
            hit = self._pick(event)
            if hit is not None:
                self.remove_point(*hit)
            return
        if button != 1:
            return
        self.session.note_click()
        hit = self._pick(event)
        if hit is not None:
            self._drag = {"tier": hit[0], "index": hit[1], "start": xy, "xy": xy}
            return
        self.add_point(*xy)

    def _on_motion(self, event):
        if self._drag is None:
            return
        xy = self._event_xy(event)
        if xy is None:
            return
        self._drag["xy"] = xy
        tier, i = self._drag["tier"], self._drag["index"]
        pts = self._ann.points(tier).copy()
        pts[i] = xy
        self._scatter[tier].set_offsets(pts)
        self._canvas_draw()

    def _on_release(self, event):
        drag, self._drag = self._drag, None
        if drag is None:
            return
        self._t_event = time.perf_counter()
        xy = self._event_xy(event) or drag["xy"]
        if np.hypot(xy[0] - drag["start"][0], xy[1] - drag["start"][1]) == 0:
            self._scatter[drag["tier"]].set_offsets(self._ann.points(drag["tier"]))
            return
        self.move_point(drag["tier"], drag["index"], *xy)

    def _on_key(self, event):
        key = event.key
        if key is None:
            return
        self._t_event = time.perf_counter()
        if key in _KEY_TIERS:
            self.set_tier(_KEY_TIERS[key])
        elif key in _UNDO_KEYS:
            self.undo()
        elif key in _REDO_KEYS:
            self.redo()

    # ------------------------------------------------------------------------------------------
    # internals
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_map_options(options) -> dict:
        if options is None:
            return {}
        if not isinstance(options, dict):
            raise TypeError(f"`map_options` must be a dict, got {describe(options)}")
        unknown = sorted(set(options) - set(_MAP_KEYS))
        if unknown:
            raise ValueError(f"unknown `map_options` key(s) {unknown}; allowed are {list(_MAP_KEYS)}")
        MapParams.make(**options)  # the construction's own checks, now rather than at the first map
        return dict(options)

    def _on_edit(self, _session) -> None:
        self._map_stale = True
        self._refresh(record=True)

    def _notify(self) -> None:
        for cb in list(self._callbacks):
            cb(self)

    def _compute_map(self) -> None:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._map = _construct.confidence_map(self._ann, **self._map_options)
        self._messages = []
        for w in caught:
            if issubclass(w.category, _construct.NoRegionWarning):
                continue  # the status line already explains missing regions
            if issubclass(w.category, _construct.ConfmapWarning):
                self._messages.append(f"{w.category.__name__}: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._map_stale = False
        self._map_ms = (time.perf_counter() - t0) * 1e3

    def _refresh(self, *, record: bool) -> None:
        t_start = self._t_event if self._t_event is not None else time.perf_counter()
        self._t_event = None
        for tier in TIERS:
            self._scatter[tier].set_offsets(self._ann.points(tier).reshape(-1, 2))
        self._map_ms = 0.0
        if self._show_map and (self._map_stale or self._map is None):
            self._compute_map()
        self._compose()
        self._update_status()
        self._undo_button.disabled = not self.session.can_undo
        self._redo_button.disabled = not self.session.can_redo
        self._canvas_draw()
        if record:
            self.timings.append(
                {"map_ms": self._map_ms, "update_ms": (time.perf_counter() - t_start) * 1e3}
            )

    def _update_overlay_alpha(self) -> None:
        self._compose()

    def _compose(self) -> None:
        """Blend the map over the image in numpy and show the result as one RGBA uint8 image.

        One opaque uint8 RGBA image is the cheapest thing for Agg to draw: about 10 ms for a
        600 x 600 canvas, against about 50 ms for the image plus a masked, colour-mapped overlay
        layer (measured), and the redraw is most of a click's latency. Pixels where the map is
        below 0.005 show the image alone.
        """
        if self._show_map and self._map is not None:
            values = self._map.values
            idx = np.clip((values * 255.0 + 0.5).astype(np.intp), 0, 255)
            a = np.where(values > 0.005, np.float32(self._opacity), np.float32(0.0))[..., None]
            rgb = self._base_rgb + a * (self._map_lut[idx] - self._base_rgb)
        else:
            rgb = self._base_rgb
        self._rgba[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        self._display.set_data(self._rgba)

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

    def _update_status(self) -> None:
        counts = self._ann.counts()
        parts = [f"tier: {self.session.tier}", " · ".join(f"{t} {counts[t]}" for t in TIERS)]
        if self._map is not None and not self._map_stale:  # the map's attrs already say it
            missing = [r for r in self._map.attrs.get("no_region", "").split("; ") if r]
            any_region = bool(self._map.attrs["tiers_with_region"])
        else:
            regions = _construct.tier_regions(
                self._ann,
                region=self._map_options.get("region", "convex"),
                alpha=self._map_options.get("alpha"),
            )
            missing = [regions[t].reason for t in regions if not regions[t].ok and counts[t] > 0]
            any_region = any(r.ok for r in regions.values())
        if not any_region:
            missing.append("no map yet: a tier needs 3 points that are not on one line")
        parts.extend(missing)
        parts.extend(self._messages if self._show_map else [])
        self._status_text = " | ".join(parts)
        self._status.value = f"{_LEGEND_HTML} <code>{html.escape(self._status_text)}</code>"

    def _canvas_draw(self) -> None:
        canvas = self.figure.canvas
        if getattr(canvas, "syncing_data_url", True) is False:
            # ipympl with a live front end: ``draw_idle`` would ask the browser to ask back for a
            # frame (one more websocket round trip per click); drawing now sends it straight away.
            canvas.draw()
        else:
            canvas.draw_idle()

    def _build_figure(self, cmap, map_cmap, figsize, ax=None) -> None:
        import matplotlib.pyplot as plt

        self._owns_figure = ax is None
        if ax is None:
            with plt.ioff():
                fig = plt.figure(figsize=figsize, dpi=100)
            ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        else:
            fig = ax.figure
        # The image's colours once, with imshow's default scaling (min-max for a scalar image).
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable

        if self._image.ndim == 2:
            base = ScalarMappable(cmap=colormaps[cmap]).to_rgba(self._image.astype(float), bytes=True)
        else:
            img = self._image.astype(float)
            base = (np.clip(img / (255.0 if img.max() > 1 else 1.0), 0, 1) * 255 + 0.5).astype(np.uint8)
        self._base_rgb = base[..., :3].astype(np.float32)
        self._map_lut = (colormaps[map_cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)
        self._rgba = np.full((*self._shape, 4), 255, dtype=np.uint8)
        self._rgba[..., :3] = base[..., :3]
        self._display = ax.imshow(self._rgba, interpolation="nearest")
        # The toolbar's readout shows the image's value and the map's, not the blended colour.
        self._display.get_cursor_data = self._cursor_data
        self._display.format_cursor_data = _format_cursor_data
        ax.autoscale(False)
        self._scatter = {}
        for tier in TIERS:
            colour, marker, label = TIER_STYLE[tier]
            self._scatter[tier] = ax.scatter(
                np.empty(0), np.empty(0), s=40, c=colour, marker=marker, edgecolors="k",
                linewidths=0.6, label=label, zorder=3,
            )
        # No ticks and no legend (the tier colours are in the status line): each costs Agg
        # 15-30% of a redraw, and the redraw is most of a click's latency.
        ax.set_axis_off()
        ax.apply_aspect()
        self.figure, self.ax = fig, ax
        canvas = fig.canvas
        for attr, value in (("header_visible", False), ("resizable", False), ("capture_scroll", False)):
            if hasattr(canvas, attr):
                setattr(canvas, attr, value)
        self._cids = [
            canvas.mpl_connect("button_press_event", self._on_press),
            canvas.mpl_connect("motion_notify_event", self._on_motion),
            canvas.mpl_connect("button_release_event", self._on_release),
            canvas.mpl_connect("key_press_event", self._on_key),
        ]

    def _build_controls(self) -> None:
        import ipywidgets as w

        self._tier_buttons = w.ToggleButtons(
            options=[("1 high", "high"), ("2 medium", "medium"), ("3 low", "low"), ("4 sink", "sinks")],
            value=self.session.tier,
            description="tier",
            style={"button_width": "96px"},
        )
        self._tier_buttons.observe(lambda ch: self.set_tier(ch["new"]), names="value")
        self._undo_button = w.Button(description="undo", icon="undo", layout=w.Layout(width="80px"))
        self._redo_button = w.Button(description="redo", icon="repeat", layout=w.Layout(width="80px"))
        self._clear_button = w.Button(description="clear tier", icon="trash", layout=w.Layout(width="100px"))
        self._save_button = w.Button(
            description="save", icon="save", layout=w.Layout(width="80px"), disabled=self.session.path is None
        )
        self._undo_button.on_click(lambda _: self.undo())
        self._redo_button.on_click(lambda _: self.redo())
        self._clear_button.on_click(lambda _: self.clear_tier())
        self._save_button.on_click(lambda _: self.save())
        self._map_toggle = w.Checkbox(
            value=self._show_map, description="map", indent=False, layout=w.Layout(width="60px")
        )
        self._map_toggle.observe(lambda ch: setattr(self, "show_map", bool(ch["new"])), names="value")
        self._opacity_slider = w.FloatSlider(
            value=self._opacity, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=True
        )
        self._opacity_slider.observe(lambda ch: setattr(self, "opacity", ch["new"]), names="value")
        self._status = w.HTML()
        children = [
            self._tier_buttons,
            w.HBox([self._undo_button, self._redo_button, self._clear_button, self._save_button,
                    self._map_toggle, self._opacity_slider]),
        ]
        if isinstance(self.figure.canvas, w.DOMWidget):
            children.append(self.figure.canvas)
        children.append(self._status)
        self._box = w.VBox(children)
        self._box.add_class("confmap-annotator")  # a handle for CSS and for the browser test

    def __repr__(self):
        path = None if self.path is None else str(self.path)
        return f"Annotator({self._ann!r}, tier={self.tier!r}, path={path!r})"
