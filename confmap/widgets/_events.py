"""The Annotator's mouse and key events and its key map, a mixin of :class:`confmap.widgets.Annotator`.

The callbacks only translate matplotlib (and ipyevents) events into the annotator's public methods
(``add_point``, ``move_point``, ``remove_point``, ``handle_key``, ``preview_move``): no other state changes.
"""

from __future__ import annotations

import time

import numpy as np

from ..annotation import TIERS
from ._layer import sync

__all__ = ["EventTranslation"]

KEY_TIERS = {"1": "high", "2": "medium", "3": "low", "4": "sinks"}
UNDO_KEYS = ("z", "ctrl+z", "cmd+z")
REDO_KEYS = ("y", "ctrl+y", "cmd+y", "ctrl+Z", "ctrl+shift+z", "cmd+Z")
DELETE_MODIFIERS = ("shift",)
DOM_MODIFIERS = (("ctrlKey", "ctrl"), ("metaKey", "cmd"), ("altKey", "alt"))


class EventTranslation:
    """Mouse and key callbacks of the Annotator (which supplies the state and the public methods)."""

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
        try:
            return tuple(self.session.check_xy(event.xdata, event.ydata).tolist())
        except ValueError:  # off the image
            return None

    def _pick(self, event):
        """(tier, index) of the point within pick_radius screen pixels of the event, or None."""
        best = None
        for tier in TIERS:
            pts = self.annotation.points(tier)
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
        if button not in (1, 3):
            return
        self.session.note_click()
        hit = self._pick(event)
        if button == 3 or self._modifiers(event) & set(DELETE_MODIFIERS):
            if hit is not None:
                self.remove_point(*hit)
        elif hit is not None:
            self._drag = {"tier": hit[0], "index": hit[1], "start": xy, "xy": xy}
        else:
            self.add_point(*xy)

    def _on_motion(self, event):
        if self._drag is None:
            return
        xy = self._event_xy(event)
        if xy is None:
            return
        self._drag["xy"] = xy
        now = time.perf_counter()
        if now - self._drag_last < self.drag_interval_s:
            return  # coalesced: the next frame shows the newest position
        self._drag_last = now
        self.preview_move(self._drag["tier"], self._drag["index"], *xy)

    def preview_move(self, tier: str, index: int, x, y) -> None:
        """Show point ``index`` of ``tier`` at ``(x, y)`` with its map, without changing the annotation.

        What a drag shows while the mouse moves (the map of the moved point is the exact one, not an
        approximation); :meth:`move_point` commits the move. With the live layer only the layer
        is updated (the figure is redrawn once the hand rests); otherwise the figure is redrawn.
        """
        p = self.session.check_xy(x, y)
        pts = self.annotation.points(tier).copy()
        if not (isinstance(index, (int, np.integer)) and 0 <= index < len(pts)):
            raise IndexError(f"`index` must be an int in [0, {len(pts)}) for tier {tier!r}, got {index!r}")
        pts[index] = p
        with sync(self._layer):
            self._show_points({t: pts if t == tier else self.annotation.points(t) for t in TIERS})
            if self._show_map:
                self._compute_map(self.annotation.replace(**{tier: pts}))
                self._map_stale = True  # the committed annotation's map is not this one
                self._compose(figure=self._layer is None)
        self.drag_redraws += 1
        self._canvas_draw()  # with the live layer: deferred, the figure is redrawn when the hand rests

    def _on_release(self, event):
        drag, self._drag = self._drag, None
        if drag is None:
            return
        self._t_event = time.perf_counter()
        self._drag_last = 0.0
        xy = self._event_xy(event) or drag["xy"]
        if np.hypot(xy[0] - drag["start"][0], xy[1] - drag["start"][1]) == 0:
            self._refresh(record=False)  # back to the committed points and their map
            return
        self.move_point(drag["tier"], drag["index"], *xy)

    def handle_key(self, key: str) -> bool:
        """Act on a key as matplotlib names it (``"1"``..``"4"``, ``"z"``, ``"ctrl+z"``, ``"y"``, ...).

        Returns True when the key meant something. Both key paths (the figure's and the controls')
        call this, so a test drives the keyboard through it.
        """
        if key in KEY_TIERS:
            self.set_tier(KEY_TIERS[key])
        elif key in UNDO_KEYS:
            self.undo()
        elif key in REDO_KEYS:
            self.redo()
        else:
            return False
        return True

    def _on_key(self, event):
        if event.key is not None:
            self._t_event = time.perf_counter()
            self.handle_key(event.key)

    def _on_dom_key(self, event: dict) -> None:
        """An ipyevents ``keydown`` of the controls, named as matplotlib names keys."""
        key = str(event.get("key", ""))
        if not key or key in ("Control", "Shift", "Alt", "Meta"):
            return
        mods = [name for flag, name in DOM_MODIFIERS if event.get(flag)]
        if event.get("shiftKey") and len(key) == 1 and mods:
            mods.append("shift")
        self._t_event = time.perf_counter()
        self.handle_key("+".join([*mods, key.lower() if "shift" in mods else key]))
