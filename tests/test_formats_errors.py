"""Bad input to confmap.formats: each a ValueError naming the file, the field and what was expected;
nothing written half; hypothesis-built broken files give only that ValueError."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confmap import Annotation
from confmap.formats import read_annotations, write_annotations
from confmap.geometry import ImageGeometry

EXT = {
    "slicer": ".mrk.json",
    "napari": ".csv",
    "labelstudio": ".json",
    "cvat": ".xml",
    "coco": ".json",
    "confmap": ".json",
}


def _ann():
    return Annotation(
        (40, 50),
        high=[(1.0, 2.0), (30.5, 10.25), (20.0, 35.0)],
        medium=[(5.0, 5.0)],
        low=[(10.0, 11.0)],
        sinks=[(12.0, 13.0)],
        image_id="us.png",
        spacing=(0.2, 0.3),
        annotator="rater",
    )


def _write(tmp_path, fmt, **kw):
    return write_annotations(_ann(), tmp_path / f"f{EXT[fmt]}", format=fmt, **kw)


def _read(path, fmt, **kw):
    if fmt == "napari":
        kw.setdefault("shape", (40, 50))
    return read_annotations(path, format=fmt, **kw)


# ---------------------------------------------------------------------------------------------
# Malformed, truncated
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["slicer", "labelstudio", "coco", "confmap"])
def test_truncated_json(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=rf"{path.name}.*(JSON|truncated)"):
        _read(path, fmt)


def test_truncated_xml(tmp_path):
    path = _write(tmp_path, "cvat")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"f\.xml'.*field \(file\): expected well-formed XML"):
        read_annotations(path)


def test_xml_with_an_unknown_encoding(tmp_path):
    # found by test_fuzz_bytes: expat raised LookupError for an unknown encoding name
    path = _write(tmp_path, "cvat")
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml")
    path.write_bytes(b'<?xml version="1.0" encoding="no-such-codec"?>' + raw[raw.index(b"?>") + 2 :])
    with pytest.raises(ValueError, match=r"XML declaration.*known text encoding"):
        read_annotations(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("index,axis-0,axis-1,tier\n0,1.0,2.0\n", r"line 2: expected 4 values"),
        ("index,axis-0,axis-1,tier\n0,1.0,abc,high\n", r"line 2 axis-1: expected a number, got 'abc'"),
        ("index,axis-0,axis-1,tier\n0,nan,1,high\n", r"line 2 axis-0: expected a finite number"),
        ("index,axis-0,axis-1\n0,1.0,2.0\n", r"\(header\): expected a 'tier' column"),
        ("index,x,y,tier\n0,1.0,2.0,high\n", r"\(header\): expected columns axis-0, axis-1"),
        ("", r"\(header\).*empty file"),
        ("index,axis-0,axis-1,axis-2,tier\n0,0,1,1,high\n1,1,2,2,low\n", r"line 3 leading axes: expected the same"),
        ('index,axis-0,axis-1,tier\n0,1,1,"high\n', r"expected valid CSV"),
    ],
)
def test_malformed_csv(tmp_path, text, match):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"p\.csv'.*" + match):
        read_annotations(path, shape=(10, 10))


def test_csv_with_leading_constant_axes(tmp_path):
    """A points layer of a 3-D stack saved by napari: the last two axes are (y, x)."""
    path = tmp_path / "stack.csv"
    path.write_text("index,axis-0,axis-1,axis-2,tier,size\n0.0,3.0,4.0,5.0,high,10\n1.0,3.0,6.5,7.25,sink,10\n")
    [ann] = read_annotations(path, shape=(10, 10))
    assert ann.high.tolist() == [[5.0, 4.0]] and ann.sinks.tolist() == [[7.25, 6.5]]


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"images": "\xff\xfe"}')
    with pytest.raises(ValueError, match=r"bad\.json'.*expected UTF-8 text"):
        read_annotations(path, format="coco")


def test_undetectable(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match=r"x\.json'.*Slicer \.mrk\.json, napari \.csv.*format="):
        read_annotations(path)


# ---------------------------------------------------------------------------------------------
# Unknown labels, outside points, sizes
# ---------------------------------------------------------------------------------------------
def _relabel(path, fmt, old, new):
    text = path.read_text()
    if fmt == "cvat":
        return path.write_text(text.replace(f'label="{old}"', f'label="{new}"'))
    if fmt == "napari":
        return path.write_text(text.replace(f",{old}\n", f",{new}\n"))
    data = json.loads(text)
    if fmt == "coco":
        for c in data["categories"]:
            c["name"] = new if c["name"] == old else c["name"]
    elif fmt == "labelstudio":
        for r in data[0]["predictions"][0]["result"]:
            r["value"]["keypointlabels"] = [new if v == old else v for v in r["value"]["keypointlabels"]]
    elif fmt == "slicer":
        for m in data["markups"]:
            if m["name"] == old:
                m["name"] = new
                for cp in m["controlPoints"]:
                    cp["description"] = cp["label"] = new
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("fmt", ["slicer", "napari", "labelstudio", "cvat", "coco"])
def test_unknown_tier_label_and_labels_option(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    _relabel(path, fmt, "medium", "Tumour?")
    with pytest.raises(
        ValueError,
        match=r"expected a tier label, one of \['high', 'low', 'medium', 'sink', 'sinks'\].*labels=.*'Tumour\?'",
    ):
        _read(path, fmt)
    [ann] = _read(path, fmt, labels={"tumour?": "medium"})
    assert ann.medium.tolist() == [[5.0, 5.0]]
    with pytest.raises(ValueError, match=r"`labels` must map strings to one of"):
        _read(path, fmt, labels={"Tumour?": "certain"})


@pytest.mark.parametrize("fmt", ["slicer", "napari", "labelstudio", "cvat", "coco"])
def test_point_outside_the_image(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    if fmt == "napari":
        path.write_text(path.read_text().replace("0,2.0,1.0,high", "0,2.0,60.0,high"))
    elif fmt == "cvat":
        path.write_text(path.read_text().replace('points="1.5,2.5;', 'points="60.5,2.5;'))
    else:
        data = json.loads(path.read_text())
        if fmt == "slicer":
            data["markups"][0]["controlPoints"][0]["position"][0] = 60 * 0.3  # x = 60 px at dx = 0.3 mm
        elif fmt == "coco":
            data["annotations"][0]["keypoints"][0] = 60.0
        else:
            data[0]["predictions"][0]["result"][0]["value"]["x"] = 121.0
        path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"field .*points: expected points inside the image.*outside the image"):
        _read(path, fmt)


@pytest.mark.parametrize("fmt", ["labelstudio", "cvat", "coco", "slicer", "confmap"])
def test_image_size_mismatch(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    with pytest.raises(ValueError, match=r"image size: expected \(H, W\) = \(41, 50\).*got \(40, 50\)"):
        read_annotations(path, images={"us.png": np.zeros((41, 50))})
    with pytest.raises(ValueError, match=r"image size: expected \(H, W\) = \(40, 51\)"):
        read_annotations(path, shape=(40, 51))
    with pytest.raises(ValueError, match=r"image name: expected an image named in `images` \(\['other.png'\]\)"):
        read_annotations(path, images={"other.png": np.zeros((40, 50))})


def test_shape_needed_when_the_file_has_none(tmp_path):
    path = _write(tmp_path, "napari")
    with pytest.raises(ValueError, match=r"f\.csv'.*image size: expected an image size.*shape=\(H, W\)"):
        read_annotations(path)


# ---------------------------------------------------------------------------------------------
# Label Studio and Slicer specifics
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r.pop("original_width"), r"result\[0\]\.original_width: expected the image size"),
        (lambda r: r.pop("original_height"), r"result\[0\]\.original_height: expected the image size"),
        (lambda r: r.update(image_rotation=90), r"result\[0\]\.image_rotation: expected 0.*got 90"),
        (lambda r: r.update(original_width=64), r"result\[0\]\.original_width/height: expected the task's image size"),
        (lambda r: r["value"].pop("x"), r"result\[0\]\.value\.x: expected a number, got None"),
        (
            lambda r: r["value"].update(keypointlabels=["high", "low"]),
            r"result\[0\]\.value\.keypointlabels: expected a list of exactly one",
        ),
    ],
)
def test_label_studio_bad_results(tmp_path, change, match):
    path = _write(tmp_path, "labelstudio")
    data = json.loads(path.read_text())
    change(data[0]["predictions"][0]["result"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"f\.json'.*\[0\]\.predictions\[0\]\." + match):
        read_annotations(path)


def test_slicer_bad_fields(tmp_path):
    path = _write(tmp_path, "slicer")
    data = json.loads(path.read_text())
    data["markups"][1]["coordinateSystem"] = "IJK"
    path.write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=r"markups\[1\]\.coordinateSystem: expected 'LPS' or 'RAS' \(absent means LPS\), got 'IJK'"
    ):
        read_annotations(path)
    data["markups"][1]["coordinateSystem"] = "LPS"
    for units in ([], {"a": 1}, [["mm"], "mm", "mm"]):  # unhashable: once a raw TypeError (hypothesis found it)
        data["markups"][1]["coordinateUnits"] = units
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=r"markups\[1\]\.coordinateUnits: expected 'mm' or 'um'"):
            read_annotations(path)
    del data["markups"][1]["coordinateUnits"]
    data["@schema"] = "https://example.org/other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"field @schema: expected a Slicer markups schema URL"):
        read_annotations(path, format="slicer")
    data["@schema"] = "markups-schema-v1.0.3.json#"
    del data["confmap"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"\(geometry\): expected the image geometry.*geometry=ImageGeometry"):
        read_annotations(path)
    with pytest.raises(ValueError, match=r"image size: expected an image size"):
        read_annotations(path, geometry=ImageGeometry(spacing=(0.2, 0.3)))
    [ann] = read_annotations(path, geometry=ImageGeometry(spacing=(0.2, 0.3)), shape=(40, 50))
    np.testing.assert_allclose(ann.high, _ann().high, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# XML attacks
# ---------------------------------------------------------------------------------------------
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotations><image id="0" name="&lol3;" width="10" height="10"/></annotations>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotations><image id="0" name="&xxe;" width="10" height="10"/></annotations>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL])
def test_xml_entity_attacks_refused(tmp_path, text):
    path = tmp_path / "evil.xml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"evil\.xml'.*expected plain XML without DTD entities"):
        read_annotations(path)


# ---------------------------------------------------------------------------------------------
# Nothing written half
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["slicer", "napari", "confmap"])
def test_one_image_formats_refuse_several_and_keep_the_old_file(tmp_path, fmt):
    path = tmp_path / f"keep{EXT[fmt]}"
    path.write_text("old")
    with pytest.raises(ValueError, match=rf"format '{fmt}' holds one image per file; got 2"):
        write_annotations([_ann(), _ann()], path, format=fmt)
    with pytest.raises(TypeError, match=r"annotations\[1\]` must be a confmap.Annotation"):
        write_annotations([_ann(), "x"], tmp_path / "c.xml", format="cvat")
    with pytest.raises(ValueError, match=r"`format` must be one of"):
        write_annotations(_ann(), path, format="vgg")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# ---------------------------------------------------------------------------------------------
# Fuzz: broken files give the documented ValueError and nothing else
# ---------------------------------------------------------------------------------------------
def _check_only_valueerror(path, fmt):
    try:
        anns = _read(path, fmt)
    except ValueError as exc:
        assert type(exc) is ValueError, f"{type(exc).__name__}: {exc}"
        assert path.name in str(exc), str(exc)
    else:
        assert all(isinstance(a, Annotation) for a in anns)


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("fmt", list(EXT))
@_FUZZ
@given(data=st.data())
def test_fuzz_bytes(tmp_path, fmt, data):
    """Truncate, delete, insert and replace bytes of a valid file."""
    path = _write(tmp_path, fmt)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["cut", "del", "ins", "rep"]))
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "cut":
            raw = raw[:i]
        elif op == "del":
            del raw[i : i + data.draw(st.integers(1, 20))]
        elif op == "ins":
            raw[i:i] = data.draw(
                st.binary(min_size=1, max_size=8)
                | st.sampled_from([b",", b";", b"{", b"]", b'"', b"<", b"e9", b"-", b"NaN"])
            )
        elif raw:
            raw[i] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(raw))
    _check_only_valueerror(path, fmt)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("fmt", ["slicer", "labelstudio", "coco", "confmap"])
@_FUZZ
@given(data=st.data())
def test_fuzz_json_structure(tmp_path, fmt, data):
    """Replace any value of a valid JSON file by any JSON value (wrong types, missing parts)."""
    path = _write(tmp_path, fmt)
    doc = json.loads(path.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        node, key = None, None
        cur = doc
        while isinstance(cur, (dict, list)) and cur and data.draw(st.booleans()):
            keys = list(cur) if isinstance(cur, dict) else list(range(len(cur)))
            node, key = cur, data.draw(st.sampled_from(keys))
            cur = cur[key]
        if node is None:
            continue
        if data.draw(st.booleans()) and isinstance(node, dict):
            del node[key]
        else:
            node[key] = data.draw(_JSON)
    path.write_text(json.dumps(doc))
    _check_only_valueerror(path, fmt)
