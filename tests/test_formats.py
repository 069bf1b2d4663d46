"""Tests of confmap.formats: round trips per format (hypothesis), cross-checks with the tools' own
libraries (jsonschema with a schema written from Slicer's rules, pycocotools, defusedxml), and bad
input (each a ValueError naming the file and the field; nothing written half)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confmap import TIERS, Annotation, image_sha256
from confmap.formats import (
    FORMATS,
    TIER_COLOURS,
    detect_format,
    label_studio_config,
    read_annotations,
    write_annotations,
)
from confmap.geometry import ImageGeometry

EXT = {
    "slicer": ".mrk.json",
    "napari": ".csv",
    "labelstudio": ".json",
    "cvat": ".xml",
    "coco": ".json",
    "confmap": ".json",
}
MULTI = ("labelstudio", "cvat", "coco")
#: Formats that keep every metadata field (the others keep the image name at most).
FULL_META = ("slicer", "labelstudio", "coco", "confmap")


def _ann(shape=(64, 80), **kw):
    pts = {
        "high": [(30.25, 20.5), (50.0, 22.0), (40.125, 40.0)],
        "medium": [(10.0, 12.0), (70.5, 14.0), (45.0, 60.0), (0.1, 0.2)],
        "low": [(-0.5, -0.5), (79.5, 63.5), (5.0, 50.0)],
        "sinks": [(33.3, 33.3)],
    }
    meta = {"image_id": "case 1.png", "spacing": (0.3, 0.7), "annotator": "dr. ü", "notes": "a, b; c"}
    meta.update(kw)
    return Annotation(shape, **pts, **meta)


def _same_points(a, b, atol=0.0):
    assert a.shape == b.shape
    for t in TIERS:
        assert a.points(t).shape == b.points(t).shape, t
        if atol == 0.0:
            assert np.array_equal(a.points(t), b.points(t)), t
        else:
            np.testing.assert_allclose(b.points(t), a.points(t), rtol=0, atol=atol)


def _read(path, fmt, ann, **kw):
    if fmt == "napari":
        kw.setdefault("shape", ann.shape)
    return read_annotations(path, **kw)


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_all_tiers(tmp_path, fmt):
    ann = _ann()
    path = write_annotations(ann, tmp_path / f"a{EXT[fmt]}", format=fmt)
    assert detect_format(path) == fmt
    [back] = _read(path, fmt, ann)
    _same_points(ann, back)
    if fmt in FULL_META:
        assert back == ann
    elif fmt == "cvat":
        assert back.image_id == ann.image_id


@pytest.mark.parametrize("fmt", MULTI)
def test_many_images_per_file_matched_by_name(tmp_path, fmt):
    rng = np.random.default_rng(1)
    imgs = {f"im{i}.png": rng.integers(0, 255, (20 + i, 30 + 2 * i), dtype=np.uint8) for i in range(3)}
    anns = [
        Annotation(im.shape, high=rng.uniform(0, 19, (3, 2)), sinks=[(1.0, 2.0)], image_id=name)
        for name, im in imgs.items()
    ]
    path = write_annotations(anns, tmp_path / f"m{EXT[fmt]}", format=fmt)
    back = read_annotations(path, images=imgs)
    assert [b.image_id for b in back] == list(imgs)
    for a, b, im in zip(anns, back, imgs.values(), strict=True):
        _same_points(a, b)
        assert b.image_sha256 == image_sha256(im)


def test_images_matched_by_sha(tmp_path):
    img = np.arange(12 * 15, dtype=np.uint8).reshape(12, 15)
    ann = Annotation(img.shape, high=[(1, 2)], image_id="old name.png", image_sha256=image_sha256(img))
    path = write_annotations(ann, tmp_path / "a.json", format="coco")
    [back] = read_annotations(path, images={"renamed.png": img})
    assert back.image_sha256 == image_sha256(img) and back.image_id == "old name.png"


# Annotations as hypothesis builds them: any size, points anywhere in the extent (edges included).
def _coord(n):
    edge = st.sampled_from([-0.5, n - 0.5, 0.0, n - 1.0])
    return st.one_of(edge, st.floats(-0.5, n - 0.5, allow_nan=False, allow_subnormal=True))


@st.composite
def annotations(draw, full_meta=True):
    h = draw(st.integers(1, 3000))
    w = draw(st.integers(1, 3000))
    pts = {}
    for t in TIERS:
        n = draw(st.integers(0, 4))
        pts[t] = [(draw(_coord(w)), draw(_coord(h))) for _ in range(n)] or None
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
    meta = {"image_id": draw(text)}
    if full_meta:
        meta["annotator"] = draw(st.none() | text)
        meta["notes"] = draw(st.just("") | text)
        meta["spacing"] = draw(st.none() | st.tuples(st.floats(1e-3, 10), st.floats(1e-3, 10)))
        meta["image_sha256"] = draw(st.none() | st.text("0123456789abcdef", min_size=64, max_size=64))
    return Annotation((h, w), **pts, **meta)


@st.composite
def geometries(draw):
    spacing = (draw(st.floats(1e-3, 5)), draw(st.floats(1e-3, 5)))
    origin = tuple(draw(st.floats(-500, 500)) for _ in range(3))
    a, b = draw(st.floats(-math.pi, math.pi)), draw(st.floats(-math.pi, math.pi))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return ImageGeometry(spacing=spacing, origin=origin, direction=tuple((rz @ rx).ravel()))


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("fmt", ["slicer", "labelstudio", "coco", "confmap"])
@_SETTINGS
@given(ann=annotations())
def test_round_trip_exact_hypothesis(tmp_path, fmt, ann):
    path = write_annotations(ann, tmp_path / f"h{EXT[fmt]}", format=fmt)
    [back] = read_annotations(path)
    assert back == ann


@_SETTINGS
@given(ann=annotations(full_meta=False), geometry=geometries())
def test_slicer_round_trip_exact_with_any_geometry(tmp_path, ann, geometry):
    path = write_annotations(ann, tmp_path / "g.mrk.json", format="slicer", geometry=geometry)
    [back] = read_annotations(path)
    assert back == ann
    # and through the geometry given by hand (as for a file Slicer wrote), no exact field: float error
    data = json.loads(path.read_text())
    for m in data["markups"]:
        for cp in m["controlPoints"]:
            del cp["confmap_xy"]
    del data["confmap"]
    path.write_text(json.dumps(data))
    [back] = read_annotations(path, shape=ann.shape, geometry=geometry)
    _same_points(ann, back, atol=1e-9 * max(ann.shape))


@pytest.mark.parametrize("fmt", ["napari", "cvat"])
@_SETTINGS
@given(ann=annotations(full_meta=False))
def test_round_trip_napari_cvat_hypothesis(tmp_path, fmt, ann):
    path = write_annotations(ann, tmp_path / f"h{EXT[fmt]}", format=fmt)
    [back] = read_annotations(path, shape=ann.shape) if fmt == "napari" else read_annotations(path)
    _same_points(ann, back)  # shortest-repr floats (CVAT: + 0.5 in decimal arithmetic): exact
    if fmt == "cvat":
        assert back.image_id == ann.image_id


def _strip(obj, key="confmap_xy"):
    """What a tool that drops unknown fields writes back: the exact pixel field removed."""
    if isinstance(obj, dict):
        return {k: _strip(v, key) for k, v in obj.items() if k != key}
    if isinstance(obj, list):
        return [_strip(v, key) for v in obj]
    return obj


@pytest.mark.parametrize("fmt", ["labelstudio", "coco"])
@_SETTINGS
@given(ann=annotations(full_meta=False), offset=st.sampled_from([0.0, 0.5]))
def test_round_trip_after_the_tool_drops_the_exact_field(tmp_path, fmt, ann, offset):
    kw = {"offset": offset} if fmt == "coco" else {}
    path = write_annotations(ann, tmp_path / f"s{EXT[fmt]}", format=fmt, **kw)
    path.write_text(json.dumps(_strip(json.loads(path.read_text()))))
    [back] = read_annotations(path)
    _same_points(ann, back, atol=1e-12 * max(ann.shape) + 1e-300)
    if fmt == "coco" and offset == 0.0:
        _same_points(ann, back)  # the pixel-index reading stores the floats themselves


def test_stale_exact_field_is_ignored_when_the_tool_moved_the_point(tmp_path):
    ann = Annotation((100, 200), high=[(10.0, 20.0)])
    path = write_annotations(ann, tmp_path / "t.json", format="labelstudio")
    data = json.loads(path.read_text())
    item = data[0]["predictions"][0]["result"][0]
    item["value"]["x"] = 100 * (50 + 0.5) / 200  # moved in Label Studio to x = 50
    path.write_text(json.dumps(data))
    [back] = read_annotations(path)
    assert back.high.tolist() == [[50.0, 20.0]]


def test_cvat_exporter_rounding_within_half_a_hundredth(tmp_path):
    """CVAT's exporter writes '%.2f': the error of a file that went through CVAT is <= 0.005 px."""
    rng = np.random.default_rng(3)
    ann = Annotation((480, 640), high=rng.uniform(-0.5, 639.5, (200, 2)) * [1, 0.75])
    path = write_annotations(ann, tmp_path / "c.xml", format="cvat")
    text = path.read_text()
    import re

    rounded = re.sub(
        r"points=\"([^\"]*)\"",
        lambda m: (
            'points="'
            + ";".join(",".join(f"{float(v):.2f}" for v in pair.split(",")) for pair in m.group(1).split(";"))
            + '"'
        ),
        text,
    )
    path.write_text(rounded)
    [back] = read_annotations(path)
    err = np.abs(back.high - ann.high).max()
    assert 0 < err <= 0.005 + 1e-9


# ---------------------------------------------------------------------------------------------
# Slicer: coordinate systems, files Slicer writes, schema
# ---------------------------------------------------------------------------------------------
# Written from Slicer's markups-schema-v1.0.3 rules (Slicer/Slicer, Modules/Loadable/Markups/
# Resources/Schema): required @schema + markups; markup type from a fixed list; coordinateSystem
# LPS|RAS; coordinateUnits mm|um or a 3-string code; control point position exactly 3 numbers,
# positionStatus one of undefined|preview|defined, orientation 9 numbers; extra fields allowed.
SLICER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["@schema", "markups"],
    "properties": {
        "@schema": {"type": "string", "pattern": r"markups-schema-v1\.[0-9]+\.[0-9]+\.json#?$"},
        "markups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["Fiducial", "Line", "Angle", "Curve", "ClosedCurve", "Plane", "ROI"]},
                    "name": {"type": "string"},
                    "coordinateSystem": {"enum": ["LPS", "RAS"]},
                    "coordinateUnits": {
                        "anyOf": [
                            {"enum": ["mm", "um"]},
                            {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3},
                        ]
                    },
                    "locked": {"type": "boolean"},
                    "labelFormat": {"type": "string"},
                    "controlPoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "label": {"type": "string"},
                                "description": {"type": "string"},
                                "associatedNodeID": {"type": "string"},
                                "position": {
                                    "type": "array",
                                    "items": {"type": "number"},
                                    "minItems": 3,
                                    "maxItems": 3,
                                },
                                "orientation": {
                                    "type": "array",
                                    "items": {"type": "number"},
                                    "minItems": 9,
                                    "maxItems": 9,
                                },
                                "selected": {"type": "boolean"},
                                "locked": {"type": "boolean"},
                                "visibility": {"type": "boolean"},
                                "positionStatus": {"enum": ["undefined", "preview", "defined"]},
                            },
                        },
                    },
                    "display": {
                        "type": "object",
                        "properties": {
                            "visibility": {"type": "boolean"},
                            "color": {
                                "type": "array",
                                "items": {"type": "number", "minimum": 0, "maximum": 1},
                                "minItems": 3,
                                "maxItems": 3,
                            },
                            "selectedColor": {
                                "type": "array",
                                "items": {"type": "number", "minimum": 0, "maximum": 1},
                                "minItems": 3,
                                "maxItems": 3,
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_slicer_output_validates_against_the_schema(tmp_path):
    import jsonschema

    jsonschema.Draft7Validator.check_schema(SLICER_SCHEMA)
    path = write_annotations(_ann(), tmp_path / "a.mrk.json", format="slicer")
    data = json.loads(path.read_text())
    jsonschema.validate(data, SLICER_SCHEMA)
    assert [m["name"] for m in data["markups"]] == list(TIERS)
    assert all(m["coordinateSystem"] == "LPS" and m["type"] == "Fiducial" for m in data["markups"])
    # the validator does reject what Slicer rejects
    bad = json.loads(path.read_text())
    bad["markups"][0]["controlPoints"][0]["position"] = [1.0, 2.0]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SLICER_SCHEMA)


def test_slicer_positions_are_lps_mm_of_the_geometry(tmp_path):
    g = ImageGeometry(spacing=(0.5, 0.25), origin=(10.0, -20.0, 5.0))
    ann = Annotation((40, 60), high=[(4.0, 6.0)])
    path = write_annotations(ann, tmp_path / "a.mrk.json", format="slicer", geometry=g)
    pos = json.loads(path.read_text())["markups"][0]["controlPoints"][0]["position"]
    assert pos == [10.0 + 4 * 0.25, -20.0 + 6 * 0.5, 5.0]
    # default geometry: the annotation's spacing, origin 0
    path = write_annotations(ann.replace(spacing=(0.5, 0.25)), tmp_path / "b.mrk.json", format="slicer")
    assert json.loads(path.read_text())["markups"][0]["controlPoints"][0]["position"] == [1.0, 3.0, 0.0]


def _slicer_own_file(path, positions, *, system="LPS", statuses=None, with_system=True):
    """A point list as Slicer itself saves it: no name, labels F-1..., one node per file."""
    markup = {
        "type": "Fiducial",
        "coordinateUnits": "mm",
        "locked": False,
        "labelFormat": "%N-%d",
        "controlPoints": [
            {
                "id": str(i + 1),
                "label": f"F-{i + 1}",
                "description": "",
                "position": list(p),
                "positionStatus": (statuses or ["defined"] * len(positions))[i],
            }
            for i, p in enumerate(positions)
        ],
    }
    if with_system:
        markup["coordinateSystem"] = system
    path.write_text(
        json.dumps(
            {
                "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/"
                "Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
                "markups": [markup],
            }
        )
    )
    return path


def test_slicer_files_from_slicer_one_per_tier_from_the_file_stem(tmp_path):
    g = ImageGeometry(spacing=(0.5, 0.5))
    hi = _slicer_own_file(
        tmp_path / "high.mrk.json",
        [(1.0, 2.0, 0.0), (3.0, 4.0, 0.0), (9.0, 9.0, 0.0)],
        statuses=["defined", "defined", "undefined"],
    )
    # RAS: the same physical point (1, 2) LPS is (-1, -2) RAS
    lo = _slicer_own_file(tmp_path / "Low.mrk.json", [(-1.0, -2.0, 0.0)], system="RAS")
    sk = _slicer_own_file(tmp_path / "sink.mrk.json", [(5.0, 5.0, 0.0)], with_system=False)  # absent = LPS
    [ann] = read_annotations([hi, lo, sk], shape=(20, 30), geometry=g)
    assert ann.high.tolist() == [[2.0, 4.0], [6.0, 8.0]]  # the undefined point skipped
    assert ann.low.tolist() == [[2.0, 4.0]]
    assert ann.sinks.tolist() == [[10.0, 10.0]]
    assert ann.counts()["medium"] == 0


def test_slicer_tier_from_label_prefix_or_description(tmp_path):
    p = _slicer_own_file(tmp_path / "points.mrk.json", [(1.0, 1.0, 0.0), (2.0, 2.0, 0.0)])
    data = json.loads(p.read_text())
    data["markups"][0]["controlPoints"][0]["label"] = "medium-1"
    data["markups"][0]["controlPoints"][1]["description"] = "Sinks"
    p.write_text(json.dumps(data))
    [ann] = read_annotations(p, shape=(10, 10), geometry=ImageGeometry())
    assert ann.medium.tolist() == [[1.0, 1.0]] and ann.sinks.tolist() == [[2.0, 2.0]]


def test_slicer_ras_file_read_as_lps_would_be_off_the_image(tmp_path):
    """A RAS position read as LPS lands mirrored: off the plane of a tilted image -> clear error."""
    # coronal plane 10 mm posterior: pixel (2, 4) is LPS (2, 10, -4), RAS (-2, -10, -4)
    g = ImageGeometry(spacing=(1.0, 1.0), origin=(0.0, 10.0, 0.0), direction=(1, 0, 0, 0, 0, 1, 0, -1, 0))
    p = _slicer_own_file(tmp_path / "high.mrk.json", [(-2.0, -10.0, -4.0)], with_system=False)
    with pytest.raises(ValueError, match=r"high\.mrk\.json.*controlPoints\[0\]\.position.*RAS instead of LPS"):
        read_annotations(p, shape=(10, 10), geometry=g)
    p = _slicer_own_file(tmp_path / "high.mrk.json", [(-2.0, -10.0, -4.0)], system="RAS")
    [ann] = read_annotations(p, shape=(10, 10), geometry=g)
    assert ann.high.tolist() == [[2.0, 4.0]]


# ---------------------------------------------------------------------------------------------
# Label Studio, COCO, CVAT cross-checks
# ---------------------------------------------------------------------------------------------
def test_label_studio_percent_with_half_pixel_and_config(tmp_path):
    import defusedxml.ElementTree as DET

    ann = Annotation((200, 400), high=[(-0.5, -0.5), (399.5, 199.5), (0.0, 0.0)])
    path = write_annotations(ann, tmp_path / "ls.json", format="labelstudio", mode="annotations")
    [task] = json.loads(path.read_text())
    vals = [(r["value"]["x"], r["value"]["y"]) for r in task["annotations"][0]["result"]]
    assert vals == [(0.0, 0.0), (100.0, 100.0), (0.125, 0.25)]
    assert {r["from_name"] for r in task["annotations"][0]["result"]} == {"tier"}
    root = DET.fromstring(label_studio_config())
    kp = root.find("KeyPointLabels")
    assert kp.get("toName") == root.find("Image").get("name") == "image" and kp.get("name") == "tier"
    assert [lab.get("value") for lab in kp.iter("Label")] == list(TIERS)
    assert [lab.get("background") for lab in kp.iter("Label")] == [TIER_COLOURS[t] for t in TIERS]


def test_label_studio_export_of_several_annotators(tmp_path):
    """An export as Label Studio writes it: annotations with completed_by, one cancelled, other tags."""

    def kp(x, y, label, w=640, h=480):
        return {
            "type": "keypointlabels",
            "from_name": "kp",
            "to_name": "img",
            "original_width": w,
            "original_height": h,
            "image_rotation": 0,
            "value": {"x": x, "y": y, "width": 0.5, "keypointlabels": [label]},
        }

    task = {
        "id": 7,
        "data": {"image": "/data/upload/3/ab12cd34-us_001.png"},
        "annotations": [
            {
                "id": 1,
                "completed_by": {"id": 2, "email": "a@x.org"},
                "was_cancelled": False,
                "result": [
                    kp(50.0, 50.0, "high"),
                    kp(25.0, 75.0, "Tumour core"),
                    {"type": "choices", "value": {"choices": ["ok"]}, "from_name": "q", "to_name": "img"},
                ],
            },
            {"id": 2, "completed_by": 3, "was_cancelled": True, "result": []},
            {"id": 3, "completed_by": 4, "result": [kp(10.0, 10.0, "sink")]},
        ],
        "predictions": [],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]))
    anns = read_annotations(path, labels={"Tumour core": "medium"})
    assert [a.annotator for a in anns] == ["a@x.org", "4"]
    assert anns[0].image_id == "ab12cd34-us_001.png" and anns[0].shape == (480, 640)
    assert anns[0].high.tolist() == [[319.5, 239.5]] and anns[0].medium.tolist() == [[159.5, 359.5]]
    assert anns[1].sinks.tolist() == [[63.5, 47.5]]
    # matched to the original file name despite Label Studio's upload prefix
    img = np.zeros((480, 640), np.uint8)
    anns = read_annotations(path, labels={"Tumour core": "medium"}, images={"us_001.png": img})
    assert [a.image_sha256 for a in anns] == [image_sha256(img)] * 2


def test_coco_loads_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    anns = [_ann(), Annotation((30, 90), high=[(1.5, 2.5)], image_id="b.png")]
    path = write_annotations(anns, tmp_path / "c.json", format="coco", offset=0.5)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(TIERS)
    img = coco.loadImgs(coco.getImgIds(imgIds=[2]))[0]
    assert (img["file_name"], img["width"], img["height"]) == ("b.png", 90, 30)
    [a] = coco.loadAnns(coco.getAnnIds(imgIds=[2]))
    assert a["keypoints"] == [2.0, 3.0, 2] and coco.loadCats(a["category_id"])[0]["name"] == "high"
    assert len(coco.getAnnIds(imgIds=[1], catIds=[coco.getCatIds(catNms=["medium"])[0]])) == 4
    assert json.loads(path.read_text())["info"]["confmap_pixel_offset"] == 0.5
    back = read_annotations(path)
    assert back == anns
    with pytest.raises(ValueError, match=r"info\.confmap_pixel_offset.*offset passed, 0\.0"):
        read_annotations(path, offset=0.0)


def test_cvat_output_parses_with_defusedxml(tmp_path):
    import defusedxml.ElementTree as DET

    path = write_annotations([_ann(), _ann(image_id="b.png")], tmp_path / "c.xml", format="cvat")
    root = DET.parse(str(path)).getroot()
    assert root.findtext("version") == "1.1"
    assert [lab.findtext("name") for lab in root.iter("label")] == list(TIERS)
    images = root.findall("image")
    assert [(i.get("name"), i.get("width"), i.get("height")) for i in images] == [
        ("case 1.png", "80", "64"),
        ("b.png", "80", "64"),
    ]
    first = images[0].find("points")
    assert first.get("label") == "high" and first.get("points").split(";")[0] == "30.75,21.0"


def test_import_confmap_stays_light():
    code = "import sys, confmap; print([m for m in ('defusedxml', 'confmap.formats', 'npe2') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, confmap.formats; print('defusedxml' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_tier_colours_are_the_annotators():
    from confmap.widgets.annotator import TIER_STYLE

    assert {t: s[0] for t, s in TIER_STYLE.items()} == TIER_COLOURS


def test_cvat_refuses_names_xml_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"image_id.*control characters"):
        write_annotations(Annotation((4, 4), image_id="a\x1fb"), tmp_path / "c.xml", format="cvat")
    assert not list(tmp_path.iterdir())
