"""Point annotations in and out of the tools where they are made: 3D Slicer, napari, Label Studio,
CVAT and COCO.

Two entry points, :func:`read_annotations` and :func:`write_annotations`, convert between
:class:`confmap.Annotation` (``(x, y) = (column, row)`` pixels, pixel centres on integers, tiers
high, medium, low and sinks) and each tool's file:

===============  ==========================  ==========================================  ========================
format           file                        stored as                                   round trip
===============  ==========================  ==========================================  ========================
``slicer``       ``*.mrk.json`` (v1.0.3)     one Fiducial list per tier, LPS mm           exact
``napari``       ``*.csv``                   ``index, axis-0 = y, axis-1 = x, tier``      exact
``labelstudio``  ``*.json`` (tasks)          ``value.x = 100 (x + 0.5) / W`` percent      exact
``cvat``         ``*.xml`` (images 1.1)      ``points="x+0.5,y+0.5;..."``                 exact (CVAT: 0.005 px)
``coco``         ``*.json``                  ``keypoints [x + offset, y + offset, 2]``    exact
``confmap``      ``*.json``                  :meth:`confmap.Annotation.save`              exact
===============  ==========================  ==========================================  ========================

Exact means ``read_annotations(write_annotations(a)) == a`` for the points and image size, bit for
bit. napari CSV stores the shortest-repr floats themselves; CVAT adds the half pixel in decimal
arithmetic on ``repr(x)`` and subtracts it the same way. Slicer, Label Studio and COCO keep the pixel
point (``confmap_xy``) beside the tool's own coordinates (mm, percent, offset pixels) and use it only
while it still converts to exactly those coordinates; a point moved in the tool, or a file whose
tool dropped the field, is converted from the tool's coordinates (float rounding, below 1e-9 px; a
point that lands less than 1e-6 px outside the image that way is put on its edge). CVAT's own
exporter rounds to 0.01 px, so a file that went through CVAT comes back within 0.005 px.

Metadata: ``image_id`` is the image name in every multi-image format (Label Studio ``data.image``,
CVAT ``<image name>``, COCO ``file_name``); ``image_sha256``, ``spacing``, ``annotator`` and
``notes`` are kept in a ``confmap`` object where the format has room for one (Slicer: top level,
Label Studio: ``data.confmap``, COCO: ``images[].confmap``), not in napari CSV or CVAT.

This subpackage is optional: the core never imports it, and ``defusedxml`` (``pip install
confmap[interop]``) is imported only when an XML file is read.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._validation import check_choice
from ..annotation import FORMAT_NAME, TIERS, Annotation, as_annotations
from . import _coco, _common, _cvat, _labelstudio, _napari_csv, _slicer
from ._common import TIER_COLOURS

__all__ = ["FORMATS", "TIER_COLOURS", "detect_format", "label_studio_config", "read_annotations", "write_annotations"]

#: Format names accepted by :func:`read_annotations` and :func:`write_annotations`.
FORMATS = ("slicer", "napari", "labelstudio", "cvat", "coco", "confmap")

label_studio_config = _labelstudio.labeling_config


def detect_format(path) -> str:
    """The format of an annotation file, from its extension and, for ``.json``, its content.

    Raises
    ------
    ValueError
        If the file is none of :data:`FORMATS` (naming the file and what was looked for).
    """
    path = Path(os.fspath(path))
    name = path.name.lower()
    if name.endswith(".mrk.json"):
        return "slicer"
    if name.endswith(".csv"):
        return "napari"
    if name.endswith(".xml"):
        return "cvat"
    data = _common.read_json(path)
    if isinstance(data, dict):
        if isinstance(data.get("@schema"), str) and "markups" in data:
            return "slicer"
        if data.get("format") == FORMAT_NAME:
            return "confmap"
        if {"images", "annotations", "categories"} <= set(data):
            return "coco"
        if "data" in data:
            return "labelstudio"
    elif isinstance(data, list) and all(isinstance(t, dict) and "data" in t for t in data):
        return "labelstudio"
    raise _common.fail(
        path,
        "(file)",
        "a Slicer .mrk.json, napari .csv, CVAT .xml, Label Studio task list, COCO or confmap JSON file "
        "(or pass format=...)",
        "none of these",
    )


def read_annotations(
    path,
    *,
    format: str | None = None,
    images=None,
    shape=None,
    geometry=None,
    labels=None,
    source: str | None = None,
    offset: float | None = None,
) -> list[Annotation]:
    """Read point annotations made in another tool.

    Parameters
    ----------
    path : str or os.PathLike, or a sequence of them (Slicer only)
        The file. For Slicer, several ``.mrk.json`` files of one image (Slicer saves one point list
        per file) are merged; the tier of each comes from the markup name, a point's description,
        its label prefix (``high-3``) or else the file name (``high.mrk.json``).
    format : {"slicer", "napari", "labelstudio", "cvat", "coco", "confmap"}, optional
        Default: :func:`detect_format`.
    images : dict of str -> array (H, W[, C]) or (H, W), optional
        The images the file annotates, by name. Each annotation is matched by its image name (or
        its base name, or that name without Label Studio's ``<8 hex digits>-`` upload prefix), else
        by the SHA-256 of the pixels; its size must equal the image's, and
        ``image_id`` and ``image_sha256`` are filled in from the match.
    shape : (int, int), optional
        Image size ``(H, W)`` for formats that do not store one (Slicer files from Slicer itself,
        napari CSV); checked against the file's when it has one.
    geometry : confmap.geometry.ImageGeometry, optional
        Slicer only: the image geometry to turn LPS mm into pixels (default: the one confmap wrote
        into the file; required for files from Slicer itself).
    labels : dict of str -> tier, optional
        More file labels to accept, e.g. ``{"tumour": "high", "normal": "sinks"}`` (matched without
        regard to case). Accepted by default: ``high, medium, low, sinks, sink``.
    source : {"annotations", "predictions"}, optional
        Label Studio only: which results of each task to read. Default: a task's annotations, or
        its predictions (pre-annotations) if it has no annotation. Cancelled annotations are skipped.
    offset : float, optional
        COCO only: the pixel offset of the keypoints (default: ``info["confmap_pixel_offset"]``,
        else 0).

    Returns
    -------
    list of Annotation
        One per image (COCO, CVAT), per task and annotator (Label Studio), or one (Slicer, napari).

    Raises
    ------
    ValueError
        For any malformed, truncated or inconsistent file, naming the file, the field and what was
        expected: bad JSON/XML/CSV, unknown tier labels, points outside the image, an image size
        that differs from ``images``/``shape``, Label Studio results without ``original_width`` /
        ``original_height`` or with ``image_rotation``, an unknown Slicer ``coordinateSystem``
        (absent means LPS, as in Slicer), positions off the image plane, XML with entities.
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> from confmap.formats import read_annotations
    >>> from confmap.geometry import ImageGeometry
    >>> [ann] = read_annotations(["high.mrk.json", "low.mrk.json"], shape=(480, 640),
    ...                          geometry=ImageGeometry(spacing=(0.2, 0.2)))  # doctest: +SKIP
    >>> anns = read_annotations("project-1-export.json", labels={"Tumour": "high"})  # doctest: +SKIP
    """
    table = _common.label_map(labels)
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise ValueError("`path` must be a file or a non-empty sequence of files")
    if format is None:
        formats = {detect_format(p) for p in paths}
        if len(formats) != 1:
            raise ValueError(f"`path` files are of different formats {sorted(formats)}; pass one format")
        format = formats.pop()
    check_choice("format", format, FORMATS)
    if len(paths) > 1 and format != "slicer":
        raise ValueError(f"several files are only merged for format 'slicer', got {len(paths)} files of {format!r}")
    target = paths[0]
    if format == "slicer":
        records = [_slicer.read(paths, table, geometry=geometry)]
        target = paths[0] if len(paths) == 1 else paths
    elif format == "napari":
        records = [_napari_csv.read(target, table)]
    elif format == "labelstudio":
        records = _labelstudio.read(target, table, source=source)
    elif format == "cvat":
        records = _cvat.read(target, table)
    elif format == "coco":
        records = _coco.read(target, table, offset=offset)
    else:
        try:
            ann = Annotation.load(target)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        if images is None and shape is None:
            return [ann]
        points = {t: ann.points(t).tolist() for t in TIERS}
        records = [_common.Record(shape=ann.shape, meta=_common.meta_block(ann), points=points)]
    return _common.build(records, target, images=images, shape=shape)


def write_annotations(
    annotations,
    path,
    *,
    format: str,
    geometry=None,
    mode: str = "predictions",
    image_urls=None,
    offset: float = 0.0,
) -> Path:
    """Write point annotations for another tool, atomically (nothing half-written on error).

    Parameters
    ----------
    annotations : Annotation or sequence of Annotation
        One annotation (Slicer, napari, confmap) or several (Label Studio, CVAT, COCO: one per
        image, named by ``image_id``).
    path : str or os.PathLike
        Destination; its folder is created if needed.
    format : {"slicer", "napari", "labelstudio", "cvat", "coco", "confmap"}
        The target tool.
    geometry : confmap.geometry.ImageGeometry, optional
        Slicer only: where the pixels lie in LPS mm. Default ``ImageGeometry(spacing=ann.spacing)``
        (origin 0, identity direction; spacing 1 mm if the annotation has none). Kept in the file.
    mode : {"predictions", "annotations"}
        Label Studio only: write pre-annotations (``predictions``, editable suggestions) or
        finished ``annotations``.
    image_urls : sequence of str, optional
        Label Studio only: each task's ``data.image`` (default the ``image_id``), e.g.
        ``"/data/local-files/?d=case1.png"``.
    offset : float
        COCO only: pixel offset added to every keypoint (0: pixel index, 0.5: corner), recorded in
        ``info["confmap_pixel_offset"]``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    check_choice("format", format, FORMATS)
    if format == "slicer":
        return _slicer.write(_common.one(annotations, format), path, geometry=geometry)
    if format == "napari":
        return _napari_csv.write(_common.one(annotations, format), path)
    if format == "confmap":
        return _common.one(annotations, format).save(path)
    items = as_annotations(annotations)
    if format == "labelstudio":
        return _labelstudio.write(items, path, mode=mode, image_urls=image_urls)
    if format == "cvat":
        return _cvat.write(items, path)
    return _coco.write(items, path, offset=offset)
