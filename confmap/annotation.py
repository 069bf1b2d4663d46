"""The annotation of one image: tiered confidence points, metadata, and versioned JSON files.

Coordinate convention
---------------------
Every point is ``(x, y) = (column, row)`` in **pixels**, with pixel centres on integers: the centre
of the top-left pixel is ``(0, 0)`` and the image covers ``-0.5 <= x <= W - 0.5``,
``-0.5 <= y <= H - 0.5``. This is matplotlib's convention for ``imshow`` (``origin="upper"``), so
a click's ``event.xdata, event.ydata`` is a point as it is, and ``image[round(y), round(x)]`` is
the pixel under it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._validation import (
    atomic_write_bytes,
    check_choice,
    check_image_shape,
    check_keys,
    check_number,
    check_points,
    check_tuple,
    check_type,
    describe,
)

__all__ = ["TIERS", "Annotation", "as_annotations", "image_sha256", "points_table"]

#: The point tiers, in the order of the paper's Eq. 5 (high wins over medium wins over low),
#: followed by the sink points that remove interposed normal tissue.
TIERS = ("high", "medium", "low", "sinks")

FORMAT_NAME = "confmap.annotation"
FORMAT_VERSION = 1

#: The metadata fields and their types in the JSON file.
META_TYPES = {"image_id": str, "image_sha256": str, "spacing": list, "annotator": str, "notes": str}


def image_sha256(image) -> str:
    """SHA-256 of an image's pixels (C order, with dtype and shape), to tie an annotation to it.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        The image as displayed.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    arr = np.ascontiguousarray(np.asarray(image))
    h = hashlib.sha256()
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def points_table(annotations):
    """Pack the points of several annotations into NaN-padded arrays (for Datasets and NetCDF).

    Parameters
    ----------
    annotations : sequence of Annotation or None
        ``None`` stands for an image without annotation (a row of padding).

    Returns
    -------
    x, y : ndarray, shape (n, P)
        Point coordinates in pixels, ``NaN`` where padded; ``P`` is the largest point count (>= 1).
    tier : ndarray of str, shape (n, P)
        Each point's tier (one of :data:`TIERS`), ``""`` where padded. Points are in tier order.
    """
    rows = [[] if a is None else [(x, y, t) for t in TIERS for x, y in a.points(t)] for a in annotations]
    n_pts = max([1, *(len(r) for r in rows)])
    x = np.full((len(rows), n_pts), np.nan)
    y = np.full((len(rows), n_pts), np.nan)
    tier = np.full((len(rows), n_pts), "", dtype="<U6")
    for i, r in enumerate(rows):
        for j, (px, py, t) in enumerate(r):
            x[i, j], y[i, j], tier[i, j] = px, py, t
    return x, y, tier


class Annotation:
    """Tiered confidence points on one image (the paper's Section 2.2 protocol).

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(H, W)`` in pixels.
    high, medium, low : array_like, shape (N, 2), optional
        Points of each confidence tier as ``(x, y) = (column, row)`` pixel coordinates, pixel
        centres on integers (matplotlib's ``imshow`` convention). Points must lie inside the image
        extent ``-0.5 <= x <= W - 0.5``, ``-0.5 <= y <= H - 0.5``. A tier needs at least 3
        non-collinear points to have a region; fewer are kept (the annotation is in progress) but
        give no region.
    sinks : array_like, shape (N, 2), optional
        Sink points: interposed normal tissue that the confidence map must not cover (see
        :func:`confmap.confidence_map`). Any number.
    image_id : str, optional
        A name for the image (file name, case id).
    image_sha256 : str, optional
        SHA-256 of the image pixels (see :func:`image_sha256`), 64 hex digits.
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in millimetres.
    annotator : str, optional
        Who annotated.
    notes : str, optional
        Free text.

    Notes
    -----
    An ``Annotation`` is immutable: its point arrays are read-only, and :meth:`replace` returns a
    changed copy. Duplicate points are allowed. Equality compares shape, every point and the
    metadata exactly.

    Examples
    --------
    >>> from confmap import Annotation
    >>> ann = Annotation(shape=(64, 80), high=[(30, 20), (50, 22), (40, 40)])
    >>> ann.counts()
    {'high': 3, 'medium': 0, 'low': 0, 'sinks': 0}
    """

    __slots__ = ("_shape", "_points", "_meta")

    def __init__(
        self,
        shape,
        high=None,
        medium=None,
        low=None,
        sinks=None,
        *,
        image_id: str | None = None,
        image_sha256: str | None = None,
        spacing=None,
        annotator: str | None = None,
        notes: str = "",
    ):
        self._shape = check_image_shape("shape", shape)
        points = {}
        for tier, value in zip(TIERS, (high, medium, low, sinks), strict=True):
            arr = check_points(tier, value, self._shape).copy()
            arr.flags.writeable = False
            points[tier] = arr
        self._points = points
        self._meta = {
            "image_id": _check_optional_str("image_id", image_id),
            "image_sha256": _check_sha(image_sha256),
            "spacing": _check_spacing(spacing),
            "annotator": _check_optional_str("annotator", annotator),
            "notes": _check_optional_str("notes", notes) or "",
        }

    # -- read-only views -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(H, W)`` in pixels."""
        return self._shape

    @property
    def high(self) -> np.ndarray:
        """High-confidence points, ``(N, 2)`` of ``(x, y)``."""
        return self._points["high"]

    @property
    def medium(self) -> np.ndarray:
        """Medium-confidence points, ``(N, 2)`` of ``(x, y)``."""
        return self._points["medium"]

    @property
    def low(self) -> np.ndarray:
        """Low-confidence points, ``(N, 2)`` of ``(x, y)``."""
        return self._points["low"]

    @property
    def sinks(self) -> np.ndarray:
        """Sink points, ``(N, 2)`` of ``(x, y)``."""
        return self._points["sinks"]

    @property
    def image_id(self) -> str | None:
        """The image's name (file name, case id), or None."""
        return self._meta["image_id"]

    @property
    def image_sha256(self) -> str | None:
        """SHA-256 of the image pixels (see :func:`image_sha256`), or None."""
        return self._meta["image_sha256"]

    @property
    def spacing(self) -> tuple[float, float] | None:
        """Pixel spacing ``(dy, dx)`` in mm, or None."""
        return self._meta["spacing"]

    @property
    def annotator(self) -> str | None:
        """Who annotated, or None."""
        return self._meta["annotator"]

    @property
    def notes(self) -> str:
        """Free text (empty if none)."""
        return self._meta["notes"]

    @property
    def metadata(self) -> dict:
        """A copy of the metadata (image_id, image_sha256, spacing, annotator, notes)."""
        return dict(self._meta)

    def points(self, tier: str) -> np.ndarray:
        """The ``(N, 2)`` points of ``tier`` (one of :data:`TIERS`)."""
        return self._points[check_choice("tier", tier, TIERS)]

    def counts(self) -> dict[str, int]:
        """Number of points per tier."""
        return {t: len(p) for t, p in self._points.items()}

    @property
    def n_points(self) -> int:
        """Total number of points, sinks included."""
        return sum(len(p) for p in self._points.values())

    # -- copies ------------------------------------------------------------------------------
    def replace(self, **changes) -> Annotation:
        """A copy with some fields replaced, e.g. ``ann.replace(high=new_points, notes="...")``."""
        check_keys("field(s)", changes, ("shape", *TIERS, *META_TYPES), where=" for replace()", error=TypeError)
        return Annotation(**{"shape": self._shape, **self._points, **self._meta, **changes})

    # -- equality and display ----------------------------------------------------------------
    def __eq__(self, other):
        if not isinstance(other, Annotation):
            return NotImplemented
        return (
            self._shape == other._shape
            and self._meta == other._meta
            and all(np.array_equal(self._points[t], other._points[t]) for t in TIERS)
        )

    __hash__ = None  # mutable-looking container of arrays: not hashable

    def __repr__(self):
        counts = ", ".join(f"{t}={n}" for t, n in self.counts().items())
        ident = f", image_id={self.image_id!r}" if self.image_id else ""
        return f"Annotation(shape={self._shape}, {counts}{ident})"

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict of the versioned file format (see :meth:`save`)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "convention": "(x, y) = (column, row) pixels, pixel centres on integers",
            "shape": list(self._shape),
            "points": {t: self._points[t].tolist() for t in TIERS},
            "metadata": {
                **self._meta,
                "spacing": None if self.spacing is None else list(self.spacing),
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> Annotation:
        """Build an annotation from :meth:`to_dict` output, checking the format and version."""
        if not isinstance(data, dict):
            raise ValueError(f"an annotation must be a JSON object, got {describe(data)}")
        if data.get("format") != FORMAT_NAME:
            raise ValueError(
                f"not a confmap annotation: `format` must be {FORMAT_NAME!r}, got {describe(data.get('format'))}"
            )
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"unsupported annotation file version {version!r}; this confmap reads version {FORMAT_VERSION}"
            )
        for key in ("shape", "points"):
            if key not in data:
                raise ValueError(f"annotation data is missing the {key!r} field")
        points = data["points"]
        if not isinstance(points, dict):
            raise ValueError(f"`points` must be a mapping of tier to point lists, got {describe(points)}")
        check_keys("tier(s)", points, TIERS, where=" in `points`")
        meta = data.get("metadata") or {}
        check_keys("metadata field(s)", meta, META_TYPES)
        return cls(data["shape"], **{t: points.get(t) for t in TIERS}, **meta)

    def save(self, path) -> Path:
        """Write the annotation as versioned JSON, atomically (temp file + rename).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, conventionally ``*.json``. Its folder is created if needed.

        Returns
        -------
        pathlib.Path
            The path written.

        Notes
        -----
        Floats are written with ``repr`` precision, so ``Annotation.load(path) == ann`` exactly.
        """
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        return atomic_write_bytes(path, (text + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path) -> Annotation:
        """Read an annotation written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not valid JSON (corrupt, truncated, not UTF-8, nested too deeply), not a
            confmap annotation, of an unsupported version, or holds invalid points or metadata. The
            message names the file. This is the only error for any content (fuzz-tested); the
            file is only read, never written.
        """
        path = Path(os.fspath(path))
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            deep = isinstance(exc, RecursionError)
            why = "JSON nested too deeply to parse" if deep else f"corrupt or truncated JSON: {exc}"
            raise ValueError(f"{str(path)!r} is not a readable confmap annotation ({why})") from None
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise ValueError(f"{str(path)!r} is not a valid confmap annotation: {why}") from None


def as_annotations(annotations) -> list[Annotation]:
    """One Annotation or a sequence of them, as a non-empty list whose items are all checked."""
    if isinstance(annotations, Annotation):
        return [annotations]
    items = list(check_type("annotations", annotations, Iterable, "an Annotation or a sequence of them"))
    if not items:
        raise ValueError("`annotations` must hold at least one Annotation, got an empty sequence")
    for i, a in enumerate(items):
        check_type(f"annotations[{i}]", a, Annotation, "a confmap.Annotation")
    return items


def _check_optional_str(name, value):
    return check_type(name, value, (str, type(None)), "a string or None")


def _check_sha(value):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise ValueError(f"`image_sha256` must be 64 hexadecimal digits or None, got {describe(value)}")
    return value.lower()


def _check_spacing(value):
    if value is None:
        return None
    pair = check_tuple("spacing", value, 2, "a pair (dy, dx) of positive mm or None")
    dy = check_number("spacing[0] (dy)", pair[0], minimum=0.0, strict_min=True)
    dx = check_number("spacing[1] (dx)", pair[1], minimum=0.0, strict_min=True)
    return (dy, dx)
