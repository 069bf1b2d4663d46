"""An annotation session without a view: checked edits, undo/redo, the effort log, autosave, replay.

:class:`AnnotationSession` is everything the interactive :class:`confmap.widgets.Annotator` does
to the points, with no matplotlib or ipywidgets: a script, a test or another front end (a web app,
a command line) edits through the same methods and gets the same effort log and files. Every
change is also kept as a replayable event (:attr:`AnnotationSession.events`,
:meth:`AnnotationSession.replay`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._validation import atomic_write_bytes, check_choice, check_int, check_number, check_type
from .annotation import TIERS, Annotation

__all__ = ["EFFORT_FORMAT", "EFFORT_VERSION", "AnnotationSession", "effort_path"]

EFFORT_FORMAT = "confmap.effort"
EFFORT_VERSION = 1
#: The effort-log counter of each change, in the log's order (clicks and tier switches are counted where they happen).
_COUNTERS = {"add": "added", "move": "moved", "remove": "removed", "clear": "cleared", "undo": "undos", "redo": "redos"}


def effort_path(path) -> Path:
    """The effort-log sidecar of an annotation file: ``case.json`` -> ``case.effort.json``."""
    path = Path(os.fspath(path))
    return path.with_name(path.stem + ".effort.json")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _new_effort() -> dict:
    zeros = dict.fromkeys(("clicks", "ignored_clicks", *_COUNTERS.values(), "tier_switches"), 0)
    return {"active_s": 0.0, **zeros, "sessions": 1, "started": None, "last_change": None, "events": []}


class AnnotationSession:
    """Editing one image's :class:`confmap.Annotation`: edits, undo/redo, effort log, autosave.

    Parameters
    ----------
    shape : (int, int)
        The image shape ``(H, W)``; points must lie in ``-0.5 <= x <= W - 0.5``, ``-0.5 <= y <= H - 0.5``.
    annotation : Annotation, optional
        Points to start from. Default: the file at ``path`` when it exists (resuming, with its
        effort log), else no points.
    path : str or os.PathLike, optional
        The annotation file; with ``autosave`` the annotation and its effort log
        (:func:`effort_path`) are written atomically after every change.
    autosave : bool, default True
        Save to ``path`` after every change (ignored without ``path``).
    image_sha256 : str, optional
        The image's SHA-256: an annotation made on another image is refused, one without is stamped.
    image_id, annotator, spacing
        Metadata of a new annotation (see :class:`confmap.Annotation`; spacing ``(dy, dx)`` mm).
    idle_cap_s : float, default 60
        In the effort log, a pause between two actions counts at most this many seconds.
    clock : callable, default time.monotonic
        Seconds, for the effort log (tests inject a fake clock).
    on_edit : callable, optional
        ``on_edit(session)`` right after each change, before the autosave (a view redraws here).

    Examples
    --------
    >>> s = AnnotationSession((64, 64))
    >>> for x, y in [(20, 20), (40, 22), (30, 40)]:
    ...     _ = s.add_point(x, y, tier="high")
    >>> s.undo(), s.annotation.counts()["high"], s.effort["added"]
    (True, 2, 3)
    >>> t = AnnotationSession((64, 64))
    >>> t.replay(s.events)
    >>> t.annotation == s.annotation
    True
    """

    def __init__(
        self,
        shape,
        *,
        annotation: Annotation | None = None,
        path=None,
        autosave: bool = True,
        image_sha256: str | None = None,
        image_id: str | None = None,
        annotator: str | None = None,
        spacing=None,
        idle_cap_s: float = 60.0,
        clock=time.monotonic,
        on_edit=None,
    ):
        self._shape = (int(shape[0]), int(shape[1]))
        self._sha = image_sha256
        self._path = None if path is None else Path(os.fspath(path))
        self._autosave = bool(autosave)
        self._idle_cap = check_number("idle_cap_s", idle_cap_s, minimum=0.0)
        self._clock = check_type("clock", clock, (Callable, type(None)), "callable")
        self._on_edit = check_type("on_edit", on_edit, (Callable, type(None)), "callable")
        self._callbacks = []
        self._undo: list[Annotation] = []
        self._redo: list[Annotation] = []
        self._tier = "high"
        self._effort = _new_effort()
        self._last_action = None
        self._events: list[dict] = []
        if annotation is None and self._path is not None and self._path.exists():
            annotation = Annotation.load(self._path)
            self._load_effort(effort_path(self._path))
        if annotation is None:
            annotation = Annotation(
                self._shape, image_id=image_id, image_sha256=image_sha256, spacing=spacing, annotator=annotator
            )
        self._ann = self.check_annotation(annotation, "annotation")

    # ------------------------------------------------------------------------------------------
    @property
    def annotation(self) -> Annotation:
        """The current annotation (immutable; a new object after each change)."""
        return self._ann

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def path(self) -> Path | None:
        """The autosave / default save path, or None."""
        return self._path

    @property
    def tier(self) -> str:
        """The tier new points get."""
        return self._tier

    @property
    def effort(self) -> dict:
        """A copy of the effort log (counts, ``active_s`` seconds, timestamps, event list)."""
        return json.loads(json.dumps(self._effort))

    @property
    def events(self) -> list[dict]:
        """Every change so far as replayable events (``{"action": ..., ...}``), see :meth:`replay`."""
        return [dict(e) for e in self._events]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # ------------------------------------------------------------------------------------------
    # edits
    # ------------------------------------------------------------------------------------------
    def set_tier(self, tier: str) -> bool:
        """Choose the tier of the next points; returns whether it changed."""
        check_choice("tier", tier, TIERS)
        if tier == self._tier:
            return False
        self._tier = tier
        self._tick("tier", tier)
        self._effort["tier_switches"] += 1
        self._events.append({"action": "tier", "tier": tier})
        return True

    def add_point(self, x, y, *, tier: str | None = None) -> int:
        """Add the point ``(x, y)`` (pixels) to ``tier`` (default: the current tier); returns its index."""
        tier = self._tier if tier is None else check_choice("tier", tier, TIERS)
        p = self.check_xy(x, y)
        pts = self._ann.points(tier)
        new = self._ann.replace(**{tier: np.vstack([pts, p[None]])})
        self._commit(new, {"action": "add", "tier": tier, "x": float(p[0]), "y": float(p[1])})
        return len(pts)

    def move_point(self, tier: str, index: int, x, y) -> None:
        """Move point ``index`` of ``tier`` to ``(x, y)`` (pixels)."""
        pts, index = self._tier_index(tier, index)
        p = self.check_xy(x, y)
        moved = pts.copy()
        moved[index] = p
        new = self._ann.replace(**{tier: moved})
        self._commit(new, {"action": "move", "tier": tier, "index": index, "x": float(p[0]), "y": float(p[1])})

    def remove_point(self, tier: str, index: int) -> np.ndarray:
        """Delete point ``index`` of ``tier``; returns the removed ``(x, y)``."""
        pts, index = self._tier_index(tier, index)
        removed = pts[index].copy()
        new = self._ann.replace(**{tier: np.delete(pts, index, axis=0)})
        self._commit(new, {"action": "remove", "tier": tier, "index": index})
        return removed

    def nearest_point(self, x, y, *, tiers=TIERS) -> tuple[str, int, float] | None:
        """The point nearest to ``(x, y)``: ``(tier, index, distance_px)``, or None if no points."""
        x = check_number("x", x)
        y = check_number("y", y)
        best = None
        for tier in tiers:
            pts = self._ann.points(tier)
            if len(pts):
                d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
                i = int(np.argmin(d))
                if best is None or d[i] < best[2]:
                    best = (tier, i, float(d[i]))
        return best

    def remove_nearest(self, x, y, *, max_distance=None) -> tuple[str, int] | None:
        """Delete the point nearest to ``(x, y)`` (any tier) within ``max_distance`` px: ``(tier, index)`` or None."""
        hit = self.nearest_point(x, y)
        if hit is None:
            return None
        tier, index, dist = hit
        if max_distance is not None and dist > check_number("max_distance", max_distance, minimum=0.0):
            return None
        self.remove_point(tier, index)
        return tier, index

    def clear_tier(self, tier: str | None = None) -> int:
        """Delete every point of ``tier`` (default: the current tier); returns how many."""
        tier = self._tier if tier is None else check_choice("tier", tier, TIERS)
        n = len(self._ann.points(tier))
        if n == 0:
            return 0
        self._commit(self._ann.replace(**{tier: None}), {"action": "clear", "tier": tier})
        return n

    def replace_annotation(self, annotation: Annotation) -> bool:
        """Replace every point at once (one undo step); returns False when nothing changed."""
        new = self.check_annotation(annotation, "annotation")
        if new == self._ann:
            return False
        self._commit(new, {"action": "replace", "annotation": new.to_dict()})
        return True

    def undo(self) -> bool:
        """Undo the last change; returns False when there is nothing to undo."""
        return self._step("undo", self._undo, self._redo)

    def redo(self) -> bool:
        """Redo the last undone change; returns False when there is nothing to redo."""
        return self._step("redo", self._redo, self._undo)

    def _step(self, action: str, source: list, target: list) -> bool:
        """Undo or redo: the annotation on top of ``source`` becomes current, the current one goes to ``target``."""
        if not source:
            return False
        target.append(self._ann)
        self._ann = source.pop()
        self._changed({"action": action})
        return True

    def note_click(self, *, ignored: bool = False) -> None:
        """Count a click in the effort log (``ignored``: off the image)."""
        self._effort["ignored_clicks" if ignored else "clicks"] += 1

    def replay(self, events) -> None:
        """Apply events recorded by :attr:`events` (of this or another session) in order."""
        apply = {
            "tier": lambda e: self.set_tier(e["tier"]),
            "add": lambda e: self.add_point(e["x"], e["y"], tier=e["tier"]),
            "move": lambda e: self.move_point(e["tier"], e["index"], e["x"], e["y"]),
            "remove": lambda e: self.remove_point(e["tier"], e["index"]),
            "clear": lambda e: self.clear_tier(e["tier"]),
            "replace": lambda e: self.replace_annotation(Annotation.from_dict(e["annotation"])),
            "undo": lambda e: self.undo(),
            "redo": lambda e: self.redo(),
        }
        for e in events:
            action = e["action"]
            if not isinstance(action, str) or action not in apply:
                raise ValueError(f"unknown event action {action!r} in {e}")
            apply[action](e)

    def on_change(self, callback) -> None:
        """Call ``callback(session)`` after every change of the points (after the autosave)."""
        self._callbacks.append(check_type("callback", callback, Callable, "callable"))

    # ------------------------------------------------------------------------------------------
    # files
    # ------------------------------------------------------------------------------------------
    def save(self, path=None) -> Path:
        """Write the annotation (core JSON) and effort log (:func:`effort_path`) atomically (default :attr:`path`)."""
        if path is None:
            if self._path is None:
                raise ValueError("`path` is required: this session was created without a `path`")
            path = self._path
        path = Path(os.fspath(path))
        self._ann.save(path)
        doc = {
            "format": EFFORT_FORMAT,
            "version": EFFORT_VERSION,
            "annotation": path.name,
            "counts": self._ann.counts(),
            **self._effort,
        }
        atomic_write_bytes(effort_path(path), (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        return path

    def load(self, path) -> Annotation:
        """Replace the points with those of an annotation file and continue its effort log.

        The undo history is cleared. The file must be for an image of this shape and, when both
        record one, the same image SHA-256.
        """
        path = Path(os.fspath(path))
        ann = self.check_annotation(Annotation.load(path), f"the annotation in {str(path)!r}")
        self._ann = ann
        self._undo.clear()
        self._redo.clear()
        self._load_effort(effort_path(path))
        return ann

    # ------------------------------------------------------------------------------------------
    # checks
    # ------------------------------------------------------------------------------------------
    def check_xy(self, x, y) -> np.ndarray:
        """``(x, y)`` as an array if it lies on the image, else ValueError."""
        x = check_number("x", x)
        y = check_number("y", y)
        h, w = self._shape
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            raise ValueError(
                f"point (x={x:.6g}, y={y:.6g}) is outside the image: allowed is -0.5 <= x <= {w - 0.5} "
                f"and -0.5 <= y <= {h - 0.5} for an image of shape (H={h}, W={w})"
            )
        return np.array([x, y])

    def check_annotation(self, ann, name) -> Annotation:
        """``ann`` if it fits this image (shape, SHA-256), stamped with the image's SHA-256."""
        check_type(name, ann, Annotation, "a confmap.Annotation")
        if ann.shape != self._shape:
            raise ValueError(f"{name} has shape {ann.shape}, but the image has shape {self._shape}")
        if self._sha is not None and ann.image_sha256 is not None and ann.image_sha256 != self._sha:
            raise ValueError(
                f"{name} was made on another image (image_sha256 {ann.image_sha256[:12]}..., this image "
                f"{self._sha[:12]}...)"
            )
        if ann.image_sha256 is None and self._sha is not None:
            ann = ann.replace(image_sha256=self._sha)
        return ann

    def _tier_index(self, tier, index) -> tuple[np.ndarray, int]:
        """The points of ``tier`` and ``index`` among them, checked (negative: from the end)."""
        check_choice("tier", tier, TIERS)
        pts = self._ann.points(tier)
        n = len(pts)
        index = check_int("index", index)
        if not -n <= index < n:
            raise ValueError(f"`index` must be in [{-n}, {n - 1}] for the {n} {tier} point(s), got {index}")
        return pts, index % n

    # ------------------------------------------------------------------------------------------
    def _tick(self, action, tier) -> None:
        now = self._clock()
        if self._last_action is not None:
            self._effort["active_s"] += min(max(now - self._last_action, 0.0), self._idle_cap)
        self._last_action = now
        if self._effort["started"] is None:
            self._effort["started"] = _now_iso()
        self._effort["events"].append([round(self._effort["active_s"], 3), action, tier])

    def _commit(self, new: Annotation, event: dict) -> None:
        self._undo.append(self._ann)
        self._redo.clear()
        self._ann = new
        self._changed(event)

    def _changed(self, event: dict) -> None:
        """Log the change ``event`` (effort, events), redraw the view, autosave, call back."""
        self._tick(event["action"], event.get("tier"))
        if event["action"] in _COUNTERS:
            self._effort[_COUNTERS[event["action"]]] += 1
        self._events.append(event)
        self._effort["last_change"] = _now_iso()
        if self._on_edit is not None:
            self._on_edit(self)
        if self._autosave and self._path is not None:
            self.save(self._path)
        for cb in list(self._callbacks):
            cb(self)

    def _load_effort(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable effort log ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != EFFORT_FORMAT:
            raise ValueError(f"{str(path)!r} is not a confmap effort log (format {EFFORT_FORMAT!r})")
        effort = _new_effort()
        effort.update({key: doc[key] for key in effort if key in doc})
        effort["sessions"] = int(doc.get("sessions", 1)) + 1
        self._effort = effort
        self._last_action = None
