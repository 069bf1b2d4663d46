"""napari plugin functions (npe2 manifest ``napari.yaml``): a reader and a points-layer writer.

Nothing here imports napari: the reader returns plain layer-data tuples ``(data, kwargs,
layer_type)`` and the writer takes ``(path, data, attributes)``, as npe2 specifies.

- Point annotations (confmap JSON, Slicer ``.mrk.json``, Label Studio, COCO, CVAT ``.xml``) become
  one Points layer per image: ``data`` rows ``(y, x)`` in pixels, ``properties={"tier": ...}``,
  ``face_color`` the tier colours (:data:`confmap.formats.TIER_COLOURS`), ``scale = spacing``.
- Soft maps (``.nc``, ``.nii``, ``.nii.gz`` written by :func:`confmap.io.save_map`) become an Image
  layer with ``colormap="inferno"``, ``contrast_limits=(0, 1)``, ``opacity=0.5`` and ``scale`` the
  pixel spacing ``(dy, dx)`` in mm, so it overlays the points and the image.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..annotation import TIERS, Annotation
from . import detect_format, read_annotations, write_annotations
from ._common import META_TYPES, TIER_RGB, label_map, meta_block, tier_of

_MAP_SUFFIXES = (".nc", ".nii", ".nii.gz")
_WRITE_FORMATS = {".mrk.json": "slicer", ".csv": "napari", ".xml": "cvat", ".json": "confmap"}


def get_reader(path):
    """The reader for ``path`` if it is a confmap annotation or map file, else ``None``."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    name = os.fspath(path).lower()
    if name.endswith(_MAP_SUFFIXES):
        return read_map_layers
    if name.endswith((".json", ".xml")):
        try:
            detect_format(path)
        except (OSError, ValueError):
            return None
        return read_annotation_layers
    return None


def points_layer(ann: Annotation, *, name=None):
    """One annotation as a napari Points layer-data tuple ``(data, kwargs, "points")``."""
    tiers = [t for t in TIERS for _ in range(len(ann.points(t)))]
    xy = np.concatenate([ann.points(t) for t in TIERS]) if tiers else np.empty((0, 2))
    data = xy[:, ::-1].copy()  # napari rows are (axis-0, axis-1) = (y, x)
    colours = np.array([[*TIER_RGB[t], 1.0] for t in tiers]).reshape(-1, 4)
    kwargs = {
        "name": name or ann.image_id or "confmap points",
        "properties": {"tier": np.array(tiers, dtype=object)},
        "face_color": colours,
        "size": 5,
        "scale": tuple(ann.spacing) if ann.spacing else (1.0, 1.0),
        "metadata": {"confmap": {"shape": list(ann.shape), **meta_block(ann)}},
    }
    return (data, kwargs, "points")


def read_annotation_layers(path):
    """Points layers (one per image) from an annotation file (see :func:`get_reader`)."""
    path = os.fspath(path[0] if isinstance(path, (list, tuple)) else path)
    anns = read_annotations(path)
    stem = Path(path).name
    return [
        points_layer(a, name=a.image_id or (stem if len(anns) == 1 else f"{stem} [{i}]")) for i, a in enumerate(anns)
    ]


def read_map_layers(path):
    """An Image layer from a soft map written by :func:`confmap.io.save_map`."""
    from ..io import read_map

    path = os.fspath(path[0] if isinstance(path, (list, tuple)) else path)
    soft = read_map(path)
    sp = soft.attrs.get("spacing_mm")
    scale = (float(np.ravel(sp)[0]), float(np.ravel(sp)[-1])) if sp is not None else (1.0, 1.0)
    values = np.asarray(soft.values, dtype=np.float32)
    kwargs = {
        "name": Path(path).name,
        "colormap": "inferno",
        "contrast_limits": (0.0, 1.0),
        "opacity": 0.5,
        "blending": "translucent",
        "scale": scale,
        "metadata": {"confmap": {"spacing": list(scale)}},
    }
    return [(values, kwargs, "image")]


def _tiers_from(attributes, n, path):
    for key in ("properties", "features"):
        table = attributes.get(key)
        if table is not None and "tier" in table:
            tiers = [str(t) for t in np.asarray(table["tier"], dtype=object)]
            if len(tiers) == n:
                return tiers
    raise ValueError(
        f"{str(path)!r}: field tier: expected a 'tier' property on every point of the layer "
        f"(one of {list(TIERS)}), got none"
    )


def write_points(path, data, attributes):
    """Write a Points layer as tiered annotations; the format from the extension.

    ``.json`` -> confmap annotation, ``.mrk.json`` -> Slicer, ``.csv`` -> napari CSV, ``.xml`` -> CVAT.
    The tiers come from the layer's ``tier`` property; the image size from
    ``metadata["confmap"]["shape"]`` (set by the reader), else the smallest image holding every point;
    the spacing from that metadata, else the layer's ``scale`` when it is not 1.

    Returns
    -------
    list of str
        The path written.
    """
    name = os.fspath(path)
    fmt = next((f for s, f in _WRITE_FORMATS.items() if name.lower().endswith(s)), None)
    if fmt is None:
        raise ValueError(f"{name!r}: expected an extension among {list(_WRITE_FORMATS)}")
    pts = np.asarray(data, dtype=float).reshape(len(data), -1) if len(data) else np.empty((0, 2))
    if pts.shape[1] < 2:
        raise ValueError(f"{name!r}: expected points of 2 or more dimensions, got {pts.shape[1]}")
    y, x = pts[:, -2], pts[:, -1]
    tiers = _tiers_from(attributes, len(pts), name)
    meta = dict((attributes.get("metadata") or {}).get("confmap") or {})
    shape = meta.pop("shape", None)
    if shape is None:  # the smallest image holding every point
        shape = tuple(max(1, math.ceil(float(v.max()) + 0.5)) if len(pts) else 1 for v in (y, x))
    scale = attributes.get("scale")
    if "spacing" not in meta and scale is not None and tuple(np.ravel(scale)[-2:]) != (1.0, 1.0):
        meta["spacing"] = [float(v) for v in np.ravel(scale)[-2:]]
    table = {t: [] for t in TIERS}
    labels = label_map(None)
    for i, t in enumerate(tiers):
        table[tier_of(t, labels, name, f"tier[{i}]")].append((x[i], y[i]))
    known = {k: v for k, v in meta.items() if k in META_TYPES}
    ann = Annotation(tuple(shape), **{t: table[t] or None for t in TIERS}, **known)
    return [str(write_annotations(ann, name, format=fmt))]
