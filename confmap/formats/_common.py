"""Shared pieces of the format readers and writers: errors, tier labels, image matching, JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from .._validation import atomic_write_bytes, check_image_shape, check_type, describe
from ..annotation import META_TYPES, TIERS, Annotation, as_annotations, image_sha256

#: One colour per tier, the annotator widget's (``confmap.widgets.annotator.TIER_STYLE``), for the
#: tools that show colours (napari, CVAT, Label Studio, Slicer). Hex RGB.
TIER_COLOURS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#e6d800", "sinks": "#17becf"}
#: The same colours as ``(r, g, b)`` in [0, 1].
TIER_RGB = {t: tuple(int(c[i : i + 2], 16) / 255.0 for i in (1, 3, 5)) for t, c in TIER_COLOURS.items()}

#: Labels accepted for each tier when a file is read (case-insensitive); ``labels=`` adds more.
DEFAULT_LABELS = {"high": "high", "medium": "medium", "low": "low", "sinks": "sinks", "sink": "sinks"}


def fail(path, field, expected, got=None) -> ValueError:
    """The one error of every reader: file, field, what was expected (and what arrived)."""
    where = f"{str(path)!r}" if path is not None else "input"
    tail = "" if got is None else f", got {got}"
    return ValueError(f"{where}: field {field}: expected {expected}{tail}")


def label_map(labels) -> dict:
    """Merge ``labels`` (file label -> tier) into the default table, checking the tiers."""
    table = dict(DEFAULT_LABELS)
    if labels is None:
        return table
    check_type("labels", labels, dict, "a dict of file label -> tier")
    for key, tier in labels.items():
        if not isinstance(key, str) or tier not in TIERS:
            raise ValueError(
                f"`labels` must map strings to one of {list(TIERS)}, got {describe(key)} -> {describe(tier)}"
            )
        table[key.strip().lower()] = tier
    return table


def tier_of(label, table, path, field, *, strict=True):
    """The tier a file label stands for; ``None`` (strict=False) or ValueError if it is unknown."""
    tier = table.get(label.strip().lower()) if isinstance(label, str) else None
    if tier is None and strict:
        allowed = sorted(table)
        raise fail(path, field, f"a tier label, one of {allowed} (map others with labels={{...}})", describe(label))
    return tier


def number(value, path, field) -> float:
    """A finite real number from a parsed file (bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, field, "a number", describe(value))
    value = float(value)
    if not math.isfinite(value):
        raise fail(path, field, "a finite number", repr(value))
    return value


def positive_int(value, path, field) -> int:
    """A positive integer from a parsed file (integral floats such as 640.0 accepted)."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (isinstance(value, float) and not value.is_integer()) or value < 1:
        raise fail(path, field, "a positive integer", describe(value))
    return int(value)


def read_text(path) -> str:
    """A file's text as UTF-8 (BOM allowed); ValueError naming the file if it is not text."""
    raw = Path(os.fspath(path)).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(path, "(file)", "UTF-8 text", f"undecodable bytes ({exc.reason} at byte {exc.start})") from None


def read_json(path):
    """Parse a JSON file; ValueError naming the file and the position for corrupt or truncated JSON."""
    text = read_text(path)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise fail(
            path, "(file)", "valid JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno} (corrupt or truncated?)"
        ) from None
    except RecursionError:
        raise fail(path, "(file)", "JSON nested less deeply", "too deep nesting") from None


def _reject_constant(name):
    raise json.JSONDecodeError(f"non-standard constant {name}", name, 0)


def dump_json(path, data) -> Path:
    """Write ``data`` as UTF-8 JSON atomically (floats as shortest round-trip repr, no NaN)."""
    text = json.dumps(data, indent=1, allow_nan=False, ensure_ascii=False)
    return atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def one(annotations, fmt) -> Annotation:
    """The single annotation of a one-image format."""
    items = as_annotations(annotations)
    if len(items) != 1:
        raise ValueError(f"format {fmt!r} holds one image per file; got {len(items)} annotations (write one file each)")
    return items[0]


def meta_block(ann: Annotation) -> dict:
    """The metadata of ``ann`` as a JSON object (only the fields that are set)."""
    return {k: (list(v) if k == "spacing" else v) for k, v in ann.metadata.items() if v is not None and v != ""}


def check_meta(block, path, field) -> dict:
    """Metadata read back from a file: only known keys, of the right JSON types."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise fail(path, field, "an object of confmap metadata", describe(block))
    out = {}
    for key, value in block.items():
        if key not in META_TYPES:
            continue
        if not isinstance(value, META_TYPES[key]):
            raise fail(path, f"{field}.{key}", f"a {META_TYPES[key].__name__}", describe(value))
        out[key] = value
    return out


@dataclasses.dataclass(slots=True)
class Record:
    """One image's worth of points read from a file, before it becomes an :class:`Annotation`."""

    name: str | None = None
    shape: tuple | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    where: str = ""
    points: dict = dataclasses.field(default_factory=lambda: {t: [] for t in TIERS})

    def add(self, tier, x, y):
        self.points[tier].append((x, y))


def _image_entry(value, key):
    """(shape, sha-or-None) of an ``images`` value: an array (H, W[, C]) or a shape (H, W)."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return (int(value[0]), int(value[1])), None
    arr = np.asarray(value)
    if arr.ndim not in (2, 3):
        raise ValueError(f"`images[{key!r}]` must be an image (H, W[, C]) or a shape (H, W), got {describe(value)}")
    return (int(arr.shape[0]), int(arr.shape[1])), image_sha256(arr)


def build(records, path, *, images=None, shape=None) -> list:
    """Records -> Annotations: match images by name or SHA-256, check sizes, check points."""
    if shape is not None:
        shape = check_image_shape("shape", shape)
    table = {}
    if images is not None:
        check_type("images", images, dict, "a dict of image name -> image or (H, W)")
        table = {str(k): _image_entry(v, k) for k, v in images.items()}
    out = []
    for rec in records:
        rshape = rec.shape
        meta = dict(rec.meta)
        if rec.name is not None and "image_id" not in meta:
            meta["image_id"] = rec.name
        if table:
            key = _match(rec, meta, table)
            if key is None:
                raise fail(
                    path,
                    f"{rec.where}image name",
                    f"an image named in `images` ({sorted(table)}) or one with the same SHA-256",
                    describe(meta.get("image_id")),
                )
            ishape, sha = table[key]
            if rshape is not None and rshape != ishape:
                raise fail(path, f"{rec.where}image size", f"(H, W) = {ishape} of image {key!r}", f"{rshape}")
            if sha is not None and meta.get("image_sha256") not in (None, sha):
                raise fail(path, f"{rec.where}image_sha256", f"{sha} (of image {key!r})", meta["image_sha256"])
            rshape = ishape
            meta.setdefault("image_id", key)
            if sha is not None:
                meta["image_sha256"] = sha
        if shape is not None:
            if rshape is not None and rshape != shape:
                raise fail(path, f"{rec.where}image size", f"(H, W) = {shape} (the `shape` given)", f"{rshape}")
            rshape = shape
        if rshape is None:
            raise fail(
                path,
                f"{rec.where}image size",
                "an image size; this file has none, so pass shape=(H, W) or images={...}",
            )
        pts = {t: _snap(rec.points[t], rshape) for t in TIERS}
        try:
            out.append(Annotation(rshape, **pts, **meta))
        except (TypeError, ValueError) as exc:
            raise fail(path, f"{rec.where}points", "points inside the image and valid metadata", str(exc)) from None
    return out


#: Points this close outside the image extent (pixels) are put on its edge: float rounding of a
#: point on the edge through mm or percent. Farther out is an error.
EDGE_TOLERANCE = 1e-6


def _snap(points, shape):
    if not points:
        return None
    arr = np.array(points, dtype=float)
    h, w = shape
    for col, hi in ((0, w - 0.5), (1, h - 0.5)):
        v = arr[:, col]
        near = ((v < -0.5) & (v >= -0.5 - EDGE_TOLERANCE)) | ((v > hi) & (v <= hi + EDGE_TOLERANCE))
        arr[near, col] = np.clip(v[near], -0.5, hi)
    return arr


_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


def _match(rec, meta, table):
    name = meta.get("image_id")
    if name is not None:
        if name in table:
            return name
        base = os.path.basename(str(name))
        if base in table:
            return base
        upload = _UPLOAD_PREFIX.match(base)  # Label Studio renames uploads to "<8 hex>-<name>"
        if upload and upload.group(1) in table:
            return upload.group(1)
    sha = meta.get("image_sha256")
    if sha is not None:
        for key, (_, s) in table.items():
            if s == sha:
                return key
    if len(table) == 1 and name is None and sha is None:
        return next(iter(table))
    return None


def exact_xy(stored, encode, value):
    """The exact pixel point kept beside a tool's own coordinates, if it still encodes to them.

    Writers keep ``(x, y)`` next to the converted coordinates (mm, percent) so that a round trip is
    exact; a tool that moves the point changes the coordinates but may keep the stale field, so it is
    used only when ``encode(stored)`` equals ``value`` bit for bit. Otherwise ``None`` (decode).
    """
    if not (isinstance(stored, list) and len(stored) == 2):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in stored):
        return None
    xy = np.array(stored, dtype=float)
    again = np.asarray(encode(xy), dtype=float)
    return xy if np.array_equal(again, np.asarray(value, dtype=float)) else None
