"""3D Slicer markups JSON (``.mrk.json``, schema v1.0.3): one Fiducial point list per tier.

Positions are LPS millimetres through :class:`confmap.geometry.ImageGeometry`
(``p = origin + direction @ [x dx, y dy, 0]``, no half-pixel term: Slicer puts pixel centres on
integer indices). Written files say ``"coordinateSystem": "LPS"`` explicitly; read files may say
``"RAS"`` (the first two components are negated) or nothing, which Slicer's schema defines as LPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validation import check_type, describe
from ..annotation import TIERS
from ..geometry import ImageGeometry
from ._common import TIER_RGB, Record, check_meta, dump_json, exact_xy, fail, meta_block, number, read_json, tier_of

SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)
_UNITS = {"mm": 1.0, "um": 1e-3}


def geometry_for(ann, geometry):
    if geometry is None:
        return ImageGeometry(spacing=ann.spacing or (1.0, 1.0))
    return check_type("geometry", geometry, ImageGeometry, "a confmap.geometry.ImageGeometry or None")


def _geometry_dict(g: ImageGeometry) -> dict:
    return {
        "spacing": list(g.spacing),
        "origin": list(g.origin),
        "direction": list(g.direction),
        "slice_thickness": g.slice_thickness,
    }


def write(ann, path, *, geometry=None) -> Path:
    g = geometry_for(ann, geometry)
    markups = []
    for tier in TIERS:
        pts = ann.points(tier)
        # one point per call, as the reader re-encodes it (a matmul of N rows may round differently)
        lps = [g.index_to_physical(xy[None, :])[0] for xy in pts]
        control = [
            {
                "id": str(i + 1),
                "label": f"{tier}-{i + 1}",
                "description": tier,
                "associatedNodeID": "",
                "position": [float(v) for v in p],
                "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                "selected": True,
                "locked": False,
                "visibility": True,
                "positionStatus": "defined",
                "confmap_xy": [float(v) for v in xy],
            }
            for i, (p, xy) in enumerate(zip(lps, pts, strict=True))
        ]
        markups.append(
            {
                "type": "Fiducial",
                "name": tier,
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": False,
                "fixedNumberOfControlPoints": False,
                "labelFormat": "%N-%d",
                "lastUsedControlPointNumber": len(control),
                "controlPoints": control,
                "measurements": [],
                "display": {
                    "visibility": True,
                    "color": list(TIER_RGB[tier]),
                    "selectedColor": list(TIER_RGB[tier]),
                },
            }
        )
    confmap = {"shape": list(ann.shape), "geometry": _geometry_dict(g), **meta_block(ann)}
    return dump_json(path, {"@schema": SCHEMA_URL, "markups": markups, "confmap": confmap})


def _stem(path) -> str:
    name = os.path.basename(os.fspath(path))
    for ext in (".mrk.json", ".json"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _geometry_from(block, path):
    try:
        return ImageGeometry(
            spacing=tuple(block["spacing"]),
            origin=tuple(block.get("origin", (0.0, 0.0, 0.0))),
            direction=tuple(block.get("direction", np.eye(3).ravel())),
            slice_thickness=block.get("slice_thickness", 1.0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(
            path, "confmap.geometry", "spacing, origin, direction, slice_thickness of an ImageGeometry", str(exc)
        ) from None


def read(paths, table, *, geometry=None):
    """One Record from one or several markups files (Slicer writes one point list per file)."""
    rec = None
    geo = geometry
    for path in paths:
        data = read_json(path)
        if not isinstance(data, dict):
            raise fail(path, "(top level)", "a JSON object with '@schema' and 'markups'", describe(data))
        schema = data.get("@schema")
        if not isinstance(schema, str) or "markups-schema-v1." not in schema:
            raise fail(
                path, "@schema", "a Slicer markups schema URL ending markups-schema-v1.x.y.json#", describe(schema)
            )
        markups = data.get("markups")
        if not isinstance(markups, list):
            raise fail(path, "markups", "a list of markups", describe(markups))
        block = data.get("confmap")
        if block is not None and not isinstance(block, dict):
            raise fail(path, "confmap", "an object", describe(block))
        block = block or {}
        if geo is None and "geometry" in block:
            if not isinstance(block["geometry"], dict):
                raise fail(path, "confmap.geometry", "an object", describe(block["geometry"]))
            geo = _geometry_from(block["geometry"], path)
        if geo is None:
            raise fail(
                path,
                "(geometry)",
                "the image geometry to turn mm into pixels: pass geometry=ImageGeometry(spacing=(dy, dx), ...)",
                "a file without confmap's geometry block",
            )
        shape = None
        if "shape" in block:
            s = block["shape"]
            if not (
                isinstance(s, list)
                and len(s) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in s)
            ):
                raise fail(path, "confmap.shape", "[H, W] positive integers", describe(s))
            shape = (s[0], s[1])
        meta = check_meta(block, path, "confmap")  # ignores "shape" and "geometry"
        if rec is None:
            rec = Record(shape=shape, meta=meta)
        else:
            if shape is not None and rec.shape not in (None, shape):
                raise fail(path, "confmap.shape", f"the same image size as the other files, {rec.shape}", f"{shape}")
            rec.shape = rec.shape or shape
            for k, v in meta.items():
                rec.meta.setdefault(k, v)
        for m, markup in enumerate(markups):
            _read_markup(markup, f"markups[{m}]", path, table, geo, rec)
    return rec


def _read_markup(markup, field, path, table, geo, rec):
    if not isinstance(markup, dict):
        raise fail(path, field, "a markup object", describe(markup))
    kind = markup.get("type")
    if kind != "Fiducial":
        if isinstance(kind, str):
            return  # lines, curves, planes, ROIs: not point annotations
        raise fail(path, f"{field}.type", "a markup type such as 'Fiducial'", describe(kind))
    system = markup.get("coordinateSystem", "LPS")  # absent means LPS (Slicer's schema default)
    if system not in ("LPS", "RAS"):
        raise fail(path, f"{field}.coordinateSystem", "'LPS' or 'RAS' (absent means LPS)", describe(system))
    units = markup.get("coordinateUnits", "mm")
    if isinstance(units, list) and len(units) == 3:
        units = units[0]
    if not isinstance(units, str) or units not in _UNITS:
        raise fail(path, f"{field}.coordinateUnits", "'mm' or 'um'", describe(units))
    name = markup.get("name")
    if name is not None and not isinstance(name, str):
        raise fail(path, f"{field}.name", "a string", describe(name))
    points = markup.get("controlPoints", [])
    if not isinstance(points, list):
        raise fail(path, f"{field}.controlPoints", "a list of control points", describe(points))
    stem_tier = tier_of(_stem(path), table, path, "", strict=False)
    name_tier = tier_of(name, table, path, "", strict=False) if name else None
    for i, cp in enumerate(points):
        where = f"{field}.controlPoints[{i}]"
        if not isinstance(cp, dict):
            raise fail(path, where, "a control point object", describe(cp))
        status = cp.get("positionStatus", "defined")
        if status not in ("defined", "preview", "undefined"):
            raise fail(path, f"{where}.positionStatus", "'defined', 'preview' or 'undefined'", describe(status))
        if status != "defined":
            continue
        pos = cp.get("position")
        if not isinstance(pos, list) or len(pos) != 3:
            raise fail(path, f"{where}.position", "3 numbers (mm)", describe(pos))
        p = np.array([number(v, path, f"{where}.position[{j}]") for j, v in enumerate(pos)]) * _UNITS[units]
        if system == "RAS":
            p[:2] = -p[:2]
        desc, label = cp.get("description"), cp.get("label")
        tier = name_tier
        if tier is None and isinstance(desc, str) and desc:
            tier = tier_of(desc, table, path, "", strict=False)
        if tier is None and isinstance(label, str) and label:  # "high-3"
            tier = tier_of(label.rsplit("-", 1)[0], table, path, "", strict=False)
        tier = tier or stem_tier
        if tier is None:
            tier_of(name if name else _stem(path), table, path, f"{field}.name (or the file name)")
        xy = exact_xy(cp.get("confmap_xy"), lambda v: geo.index_to_physical(v[None, :])[0], p)
        if xy is None:
            try:
                xy = geo.physical_to_index(p[None, :])[0]
            except ValueError as exc:
                raise fail(path, f"{where}.position", "a point on the image plane", str(exc)) from None
        rec.add(tier, float(xy[0]), float(xy[1]))
