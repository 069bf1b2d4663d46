"""COCO keypoints JSON as a container: one category per tier, one keypoint per annotation.

A keypoint is ``[x + offset, y + offset, v]`` with ``v = 2`` (labelled and visible). ``offset = 0``
(default) is the pixel-index reading (detectron2's, and confmap's: pixel centres on integers);
``offset = 0.5`` is the corner reading that Label Studio's COCO converter uses. The offset is
recorded in ``info["confmap_pixel_offset"]`` and read back from there.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from .._validation import check_number, describe
from ..annotation import TIERS
from ._common import Record, check_meta, dump_json, exact_xy, fail, meta_block, number, positive_int, read_json, tier_of


def write(annotations, path, *, offset=0.0) -> Path:
    offset = check_number("offset", offset)
    images, anns = [], []
    for k, ann in enumerate(annotations):
        h, w = ann.shape
        meta = meta_block(ann)
        images.append(
            {
                "id": k + 1,
                "file_name": meta.pop("image_id", f"image_{k}"),
                "width": w,
                "height": h,
                **({"confmap": meta} if meta else {}),
            }
        )
        for tier in TIERS:
            for x, y in ann.points(tier):
                kx, ky = float(x) + offset, float(y) + offset
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": k + 1,
                        "category_id": TIERS.index(tier) + 1,
                        "keypoints": [kx, ky, 2],
                        "num_keypoints": 1,
                        "bbox": [kx, ky, 0.0, 0.0],
                        "area": 0.0,
                        "iscrowd": 0,
                        "segmentation": [],
                        "confmap_xy": [float(x), float(y)],
                    }
                )
    coco = {
        "info": {
            "description": "confmap tiered confidence points",
            "version": "1.0",
            "date_created": datetime.date.today().isoformat(),
            "confmap_pixel_offset": offset,
            "confmap_convention": (
                "keypoint = (x, y) + confmap_pixel_offset; (x, y) = (column, row), pixel centres on integers"
            ),
        },
        "licenses": [],
        "images": images,
        "categories": [
            {"id": i + 1, "name": t, "supercategory": "confidence", "keypoints": ["point"], "skeleton": []}
            for i, t in enumerate(TIERS)
        ],
        "annotations": anns,
    }
    return dump_json(path, coco)


def _list(data, key, path):
    value = data.get(key)
    if not isinstance(value, list):
        raise fail(path, key, "a list", describe(value))
    return value


def read(path, table, *, offset=None):
    data = read_json(path)
    if not isinstance(data, dict):
        raise fail(path, "(top level)", "a COCO object with images, categories, annotations", describe(data))
    info = data.get("info") or {}
    if not isinstance(info, dict):
        raise fail(path, "info", "an object", describe(info))
    stored = info.get("confmap_pixel_offset")
    if stored is not None:
        stored = number(stored, path, "info.confmap_pixel_offset")
    if offset is None:
        offset = 0.0 if stored is None else stored
    else:
        offset = check_number("offset", offset)
        if stored is not None and stored != offset:
            raise fail(path, "info.confmap_pixel_offset", f"the offset passed, {offset}", f"{stored}")
    images, records = {}, []
    for i, img in enumerate(_list(data, "images", path)):
        where = f"images[{i}]"
        if not isinstance(img, dict):
            raise fail(path, where, "an image object", describe(img))
        iid = img.get("id")
        if isinstance(iid, bool) or not isinstance(iid, (int, str)) or iid in images:
            raise fail(path, f"{where}.id", "a unique integer or string id", describe(iid))
        name = img.get("file_name")
        if not isinstance(name, str):
            raise fail(path, f"{where}.file_name", "a string", describe(name))
        w = positive_int(img.get("width"), path, f"{where}.width")
        h = positive_int(img.get("height"), path, f"{where}.height")
        meta = check_meta(img.get("confmap"), path, f"{where}.confmap")
        meta.pop("image_id", None)
        rec = Record(name=name, shape=(h, w), meta=meta, where=f"{where} ({name}) ")
        images[iid] = rec
        records.append(rec)
    cats = {}
    for c, cat in enumerate(_list(data, "categories", path)):
        if not isinstance(cat, dict) or isinstance(cat.get("id"), bool) or not isinstance(cat.get("id"), (int, str)):
            raise fail(path, f"categories[{c}]", "an object with an id and a name", describe(cat))
        cats[cat["id"]] = tier_of(cat.get("name"), table, path, f"categories[{c}].name")
    for a, ann in enumerate(_list(data, "annotations", path)):
        where = f"annotations[{a}]"
        if not isinstance(ann, dict):
            raise fail(path, where, "an annotation object", describe(ann))
        iid = ann.get("image_id")
        rec = images.get(iid) if isinstance(iid, (int, str)) else None
        if rec is None:
            raise fail(path, f"{where}.image_id", f"the id of an entry of images ({len(images)} there)", describe(iid))
        cat = ann.get("category_id")
        if isinstance(cat, bool) or not isinstance(cat, (int, str)) or cat not in cats:
            raise fail(path, f"{where}.category_id", "the id of an entry of categories", describe(cat))
        kp = ann.get("keypoints")
        if not (isinstance(kp, list) and len(kp) == 3):
            raise fail(path, f"{where}.keypoints", "[x, y, v]: one keypoint per annotation", describe(kp))
        kx = number(kp[0], path, f"{where}.keypoints[0]")
        ky = number(kp[1], path, f"{where}.keypoints[1]")
        v = kp[2]
        if isinstance(v, bool) or v not in (0, 1, 2):
            raise fail(path, f"{where}.keypoints[2]", "visibility 0, 1 or 2", describe(v))
        if v == 0:
            continue  # not labelled
        xy = exact_xy(ann.get("confmap_xy"), lambda p: p + offset, [kx, ky])
        if xy is None:
            xy = (kx - offset, ky - offset)
        rec.add(cats[cat], float(xy[0]), float(xy[1]))
    return records
