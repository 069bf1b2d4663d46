"""Label Studio JSON tasks with ``keypointlabels`` results (import of its export; pre-annotations out).

Label Studio stores a key point as a percentage of the image size, measured from the image's
top-left *corner*: ``x% = 100 (x + 0.5) / W`` for confmap's pixel-centre ``x`` (and the same for
``y`` with ``H``). Every result item carries ``original_width`` and ``original_height``; rotated
images (``image_rotation != 0``) are refused, since the percentages are then of the rotated view.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._validation import check_choice, describe
from ..annotation import TIERS
from ._common import (
    TIER_COLOURS,
    Record,
    check_meta,
    dump_json,
    exact_xy,
    fail,
    meta_block,
    number,
    positive_int,
    read_json,
    tier_of,
)

FROM_NAME = "tier"
TO_NAME = "image"
POINT_WIDTH = 0.75  # marker size in percent of the image width (display only)


def labeling_config(*, from_name=FROM_NAME, to_name=TO_NAME) -> str:
    """The Label Studio labelling configuration (XML) for the four tiers.

    Paste it into a project's *Labeling Interface* (code view); tasks written by
    :func:`confmap.formats.write_annotations` (``format="labelstudio"``) then load as editable points.
    """
    labels = "\n".join(f'    <Label value="{t}" background="{TIER_COLOURS[t]}"/>' for t in TIERS)
    return (
        "<View>\n"
        f'  <Image name="{to_name}" value="$image" zoom="true"/>\n'
        f'  <KeyPointLabels name="{from_name}" toName="{to_name}" strokeWidth="2" smart="false">\n'
        f"{labels}\n"
        "  </KeyPointLabels>\n"
        "</View>\n"
    )


def _percent(v, n):
    return 100.0 * (v + 0.5) / n


def write(annotations, path, *, mode="predictions", image_urls=None) -> Path:
    if image_urls is not None and len(image_urls) != len(annotations):
        raise ValueError(f"`image_urls` must have one URL per annotation ({len(annotations)}), got {len(image_urls)}")
    check_choice("mode", mode, ("predictions", "annotations"))
    tasks = []
    for k, ann in enumerate(annotations):
        h, w = ann.shape
        result = []
        for tier in TIERS:
            for i, (x, y) in enumerate(ann.points(tier)):
                result.append(
                    {
                        "id": f"{tier}-{i + 1}",
                        "type": "keypointlabels",
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "original_width": w,
                        "original_height": h,
                        "image_rotation": 0,
                        "value": {
                            "x": _percent(float(x), w),
                            "y": _percent(float(y), h),
                            "width": POINT_WIDTH,
                            "keypointlabels": [tier],
                        },
                        "confmap_xy": [float(x), float(y)],
                    }
                )
        url = (None if image_urls is None else image_urls[k]) or ann.image_id or f"image_{k}"
        block = {"shape": [h, w], **meta_block(ann)}
        entry = {"result": result}
        if mode == "predictions":
            entry["model_version"] = "confmap"
        tasks.append({"data": {"image": url, "confmap": block}, mode: [entry]})
    return dump_json(path, tasks)


def read(path, table, *, source=None):
    """Records from a Label Studio JSON export (a list of tasks, or one task).

    ``source=None`` reads a task's ``annotations``, or its ``predictions`` if it has no annotation.
    """
    if source is not None:
        check_choice("source", source, ("annotations", "predictions"))
    data = read_json(path)
    tasks = [data] if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise fail(path, "(top level)", "a list of Label Studio tasks", describe(data))
    records = []
    for t, task in enumerate(tasks):
        where = f"[{t}]"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise fail(path, f"{where}.data", "a task object with a 'data' object", describe(task))
        tdata = task["data"]
        block = tdata.get("confmap")
        if block is not None and not isinstance(block, dict):
            raise fail(path, f"{where}.data.confmap", "an object", describe(block))
        block = block or {}
        meta = check_meta(block, path, f"{where}.data.confmap")  # ignores "shape"
        url = tdata.get("image")
        name = meta.pop("image_id", None)
        if name is None and isinstance(url, str) and url:
            name = os.path.basename(url.split("?", 1)[0])
        shape = None
        if "shape" in block:
            s = block["shape"]
            if not (isinstance(s, list) and len(s) == 2):
                raise fail(path, f"{where}.data.confmap.shape", "[H, W]", describe(s))
            shape = tuple(positive_int(v, path, f"{where}.data.confmap.shape") for v in s)
        key = source
        if key is None:
            done = task.get("annotations")
            has = isinstance(done, list) and any(
                isinstance(e, dict) and e.get("was_cancelled") is not True for e in done
            )
            key = "annotations" if has or "predictions" not in task else "predictions"
        entries = task.get(key, [])
        if not isinstance(entries, list):
            raise fail(path, f"{where}.{key}", "a list", describe(entries))
        for a, entry in enumerate(entries):
            ewhere = f"{where}.{key}[{a}]"
            if not isinstance(entry, dict):
                raise fail(path, ewhere, "an object with 'result'", describe(entry))
            if entry.get("was_cancelled") is True:
                continue
            emeta = dict(meta)
            who = entry.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            if who is not None and "annotator" not in emeta and not isinstance(who, bool):
                emeta["annotator"] = str(who)
            rec = Record(name=name, shape=shape, meta=emeta, where=f"{ewhere} ")
            result = entry.get("result", [])
            if not isinstance(result, list):
                raise fail(path, f"{ewhere}.result", "a list of result items", describe(result))
            for r, item in enumerate(result):
                _read_item(item, f"{ewhere}.result[{r}]", path, table, rec)
            if rec.shape is not None or any(rec.points.values()):
                records.append(rec)  # an empty result without a size says nothing: skipped
    return records


def _read_item(item, where, path, table, rec):
    if not isinstance(item, dict):
        raise fail(path, where, "a result item object", describe(item))
    if item.get("type") != "keypointlabels":
        return  # rectangles, choices, text: not point annotations
    for key in ("original_width", "original_height"):
        if key not in item:
            raise fail(path, f"{where}.{key}", "the image size in pixels (percentages cannot be converted without it)")
    w = positive_int(item["original_width"], path, f"{where}.original_width")
    h = positive_int(item["original_height"], path, f"{where}.original_height")
    rotation = item.get("image_rotation", 0)
    if isinstance(rotation, bool) or not isinstance(rotation, (int, float)) or rotation != 0:
        raise fail(path, f"{where}.image_rotation", "0 (rotated images are not supported)", describe(rotation))
    if rec.shape is None:
        rec.shape = (h, w)
    elif rec.shape != (h, w):
        raise fail(path, f"{where}.original_width/height", f"the task's image size (H, W) = {rec.shape}", f"{(h, w)}")
    value = item.get("value")
    if not isinstance(value, dict):
        raise fail(path, f"{where}.value", "an object with x, y, keypointlabels", describe(value))
    px = number(value.get("x"), path, f"{where}.value.x")
    py = number(value.get("y"), path, f"{where}.value.y")
    labels = value.get("keypointlabels")
    if not (isinstance(labels, list) and len(labels) == 1):
        raise fail(path, f"{where}.value.keypointlabels", "a list of exactly one tier label", describe(labels))
    tier = tier_of(labels[0], table, path, f"{where}.value.keypointlabels[0]")
    xy = exact_xy(item.get("confmap_xy"), lambda v: (_percent(v[0], w), _percent(v[1], h)), [px, py])
    if xy is None:
        xy = (px * w / 100.0 - 0.5, py * h / 100.0 - 0.5)
    rec.add(tier, float(xy[0]), float(xy[1]))
