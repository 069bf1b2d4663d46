"""CVAT for images 1.1 XML: ``<image>`` elements holding ``<points>`` shapes, one label per tier.

CVAT measures from the image's top-left *corner* (the image spans ``[0, W] x [0, H]``), so a
stored point is ``(x + 0.5, y + 0.5)``. confmap adds the 0.5 in decimal arithmetic to the shortest
repr of ``x`` and subtracts it the same way on reading, so its own files round-trip exactly; **CVAT's
own exporter rounds every coordinate to 0.01 px** (``"%.2f"``), so a file that went through CVAT
comes back within 0.005 px. XML is parsed with ``defusedxml`` (entity expansion and external entities are
refused).
"""

from __future__ import annotations

import decimal
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .._validation import atomic_write_bytes, describe
from ..annotation import TIERS
from ._common import TIER_COLOURS, Record, fail, positive_int, read_text, tier_of

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
OFFSET = decimal.Decimal("0.5")
_EXACT = decimal.Context(prec=1100)  # enough digits for any float's shortest repr plus 0.5


def _fmt(v: float) -> str:
    """``x + 0.5`` in decimal arithmetic on ``repr(x)``: short, and :func:`_coord` recovers ``x`` exactly."""
    return str(_EXACT.add(decimal.Decimal(repr(float(v))), OFFSET))


def write(annotations, path) -> Path:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "name").text = "confmap"
    ET.SubElement(task, "size").text = str(len(annotations))
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    for tier in TIERS:
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = tier
        ET.SubElement(lab, "color").text = TIER_COLOURS[tier]
        ET.SubElement(lab, "type").text = "points"
        ET.SubElement(lab, "attributes")
    for k, ann in enumerate(annotations):
        h, w = ann.shape
        if ann.image_id is not None and _XML_ILLEGAL.search(ann.image_id):
            raise ValueError(
                f"`annotations[{k}].image_id` holds control characters that XML 1.0 cannot store: {ann.image_id!r}"
            )
        img = ET.SubElement(root, "image", id=str(k), name=ann.image_id or f"image_{k}", width=str(w), height=str(h))
        for tier in TIERS:
            pts = ann.points(tier)
            if len(pts):
                ET.SubElement(
                    img,
                    "points",
                    label=tier,
                    source="manual",
                    occluded="0",
                    points=";".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts),
                    z_order="0",
                )
    ET.indent(root)
    xml = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
    return atomic_write_bytes(path, xml)


def _parse(path):
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    text = read_text(path)
    try:
        return DET.fromstring(text.encode("utf-8"))
    except DefusedXmlException as exc:
        raise fail(path, "(file)", "plain XML without DTD entities (refused for safety)", type(exc).__name__) from None
    except ET.ParseError as exc:
        raise fail(path, "(file)", "well-formed XML", f"{exc} (corrupt or truncated?)") from None
    except LookupError as exc:  # an XML declaration naming an encoding Python does not know
        raise fail(path, "(XML declaration)", "a known text encoding such as UTF-8", str(exc)) from None


def _coord(text, path, field):
    try:
        v = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise fail(path, field, "a number", repr(text)) from None
    if not v.is_finite() or v.adjusted() > 400:
        raise fail(path, field, "a finite number of pixels", repr(text))
    return float(_EXACT.subtract(v, OFFSET))


def read(path, table):
    root = _parse(path)
    if root.tag != "annotations":
        raise fail(path, "<annotations>", "a CVAT for images 1.1 XML document", f"root <{root.tag}>")
    records = []
    for n, img in enumerate(root.iter("image")):
        where = f"<image> #{n}"
        name = img.get("name")
        if not name:
            raise fail(path, f"{where} name", "the image file name")
        w = _int(img.get("width"), path, f"{where} ({name}) width")
        h = _int(img.get("height"), path, f"{where} ({name}) height")
        rec = Record(name=name, shape=(h, w), where=f"{where} ({name}) ")
        for s, shape in enumerate(img.iter("points")):
            swhere = f"{where} ({name}) <points> #{s}"
            tier = tier_of(shape.get("label"), table, path, f"{swhere} label")
            text = shape.get("points")
            if not text:
                raise fail(path, f"{swhere} points", "'x0,y0;x1,y1;...' in pixels", describe(text))
            for p, pair in enumerate(text.split(";")):
                parts = pair.split(",")
                if len(parts) != 2:
                    raise fail(path, f"{swhere} points[{p}]", "'x,y'", repr(pair))
                rec.add(
                    tier,
                    _coord(parts[0], path, f"{swhere} points[{p}].x"),
                    _coord(parts[1], path, f"{swhere} points[{p}].y"),
                )
        records.append(rec)
    if not records and root.find("track") is not None:
        raise fail(path, "<track>", "<image> elements (CVAT for images, not for video)", "tracks")
    return records


def _int(text, path, field):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise fail(path, field, "a positive integer", describe(text)) from None
    return positive_int(v, path, field)
