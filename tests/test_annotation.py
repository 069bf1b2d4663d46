import json
import os

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from confmap import TIERS, Annotation, image_sha256


def _ann(rng=None, **meta):
    rng = rng or np.random.default_rng(0)
    h, w = 48, 64
    pts = {
        t: np.column_stack([rng.uniform(-0.5, w - 0.5, n), rng.uniform(-0.5, h - 0.5, n)])
        for t, n in zip(TIERS, (5, 7, 4, 2), strict=True)
    }
    return Annotation((h, w), **pts, **meta)


def test_points_are_read_only_copies_in_xy_order():
    src = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 1.0]])
    ann = Annotation((10, 20), high=src)
    src[0, 0] = 9.0
    assert ann.high[0].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        ann.high[0, 0] = 3.0
    assert ann.counts() == {"high": 3, "medium": 0, "low": 0, "sinks": 0}
    assert ann.medium.shape == (0, 2)
    assert ann.n_points == 3
    assert ann.points("high") is ann.high


def test_extent_is_pixel_centres_on_integers():
    # the corners of the image extent are allowed, a hair beyond is not
    Annotation((10, 20), high=[(-0.5, -0.5), (19.5, 9.5), (0, 9.5)])
    with pytest.raises(ValueError, match=r"`high` has 1 point\(s\) outside the image.*x=19\.6"):
        Annotation((10, 20), high=[(19.6, 0.0)])
    with pytest.raises(ValueError, match=r"`low` has 1 point\(s\) outside.*y=-0\.6"):
        Annotation((10, 20), low=[(0.0, -0.6)])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"shape": (10,)}, ValueError, r"`shape` must be a pair \(H, W\)"),
        ({"shape": (0, 5)}, ValueError, r"`shape\[0\] \(H\)` must be >= 1, got 0"),
        ({"shape": (5.5, 5)}, TypeError, r"`shape\[0\] \(H\)` must be an integer"),
        ({"shape": (5, 5), "high": [[1, 2, 3]]}, ValueError, r"`high` must have shape \(N, 2\).*got shape \(1, 3\)"),
        ({"shape": (5, 5), "medium": [[np.nan, 1]]}, ValueError, r"`medium` must hold finite.*NaN or inf"),
        ({"shape": (5, 5), "sinks": [[np.inf, 1]]}, ValueError, r"`sinks` must hold finite"),
        ({"shape": (5, 5), "high": "abc"}, TypeError, r"`high` must be array-like"),
        ({"shape": (5, 5), "image_sha256": "xyz"}, ValueError, r"`image_sha256` must be 64 hexadecimal"),
        ({"shape": (5, 5), "spacing": (0.1, -1)}, ValueError, r"`spacing\[1\] \(dx\)` must be > 0"),
        ({"shape": (5, 5), "annotator": 3}, TypeError, r"`annotator` must be a string"),
    ],
)
def test_invalid_input_names_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Annotation(**kwargs)


def test_replace_and_equality():
    ann = _ann(annotator="A")
    same = ann.replace()
    assert same == ann and same is not ann
    other = ann.replace(high=ann.high[:3], notes="edited")
    assert other != ann
    assert other.notes == "edited" and len(other.high) == 3 and other.annotator == "A"
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['colour'\]"):
        ann.replace(colour="red")
    with pytest.raises(ValueError, match="`tier` must be one of"):
        ann.points("very high")


def test_save_load_round_trip_is_exact(tmp_path):
    img = np.arange(48 * 64, dtype=np.uint8).reshape(48, 64)
    ann = _ann(
        np.random.default_rng(3),
        image_id="case-7",
        image_sha256=image_sha256(img),
        spacing=(0.123456789, 0.2),
        annotator="virtual",
        notes="ünïcode ok",
    )
    path = ann.save(tmp_path / "sub" / "a.json")
    back = Annotation.load(path)
    assert back == ann
    for t in TIERS:  # bit-exact floats, not just close
        assert back.points(t).tobytes() == ann.points(t).tobytes()
    data = json.loads(path.read_text())
    assert data["format"] == "confmap.annotation" and data["version"] == 1
    assert os.listdir(tmp_path / "sub") == ["a.json"]  # no temporary files left behind


def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    old = _ann(image_id="old")
    old.save(path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _ann(image_id="new").save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("cut", [0, 1, 10, -5, -2])
def test_truncated_or_corrupt_file_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "a.json"
    _ann().save(path)
    raw = path.read_bytes()
    bad = raw[:cut] if cut else b"\x00\xff garbage"
    path.write_bytes(bad)
    with pytest.raises(ValueError, match="not a readable confmap annotation"):
        Annotation.load(path)
    assert path.read_bytes() == bad  # loading never writes


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update(format="something"), "`format` must be 'confmap.annotation'"),
        (lambda d: d.update(version=99), "unsupported annotation file version 99"),
        (lambda d: d.pop("shape"), "missing the 'shape' field"),
        (lambda d: d["points"].update(extreme=[[1, 1]]), r"unknown tier\(s\) \['extreme'\]"),
        (lambda d: d["points"].update(high=[[1e6, 1]]), "outside the image"),
        (lambda d: d["metadata"].update(colour="red"), r"unknown metadata field\(s\)"),
    ],
)
def test_invalid_file_content(tmp_path, mutate, match):
    data = _ann().to_dict()
    mutate(data)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        Annotation.load(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        Annotation.load("/nonexistent/a.json")


def test_image_sha256_depends_on_pixels_dtype_and_shape():
    a = np.zeros((4, 6), dtype=np.uint8)
    assert image_sha256(a) == image_sha256(a.copy())
    assert image_sha256(a) != image_sha256(a.astype(np.uint16))
    assert image_sha256(a) != image_sha256(a.reshape(6, 4))
    b = a.copy()
    b[0, 0] = 1
    assert image_sha256(a) != image_sha256(b)
    assert len(image_sha256(a)) == 64


def test_repr_mentions_counts():
    assert "high=5" in repr(_ann(image_id="x")) and "image_id='x'" in repr(_ann(image_id="x"))


def test_points_table_pads_with_nan_and_empty_tiers():
    from confmap import points_table

    a = Annotation((10, 10), high=[(1, 2), (3, 4), (5, 6)], sinks=[(7, 8)])
    b = Annotation((10, 10), low=[(0.5, 0.25)])
    x, y, tier = points_table([a, None, b])
    assert x.shape == y.shape == tier.shape == (3, 4)
    assert x[0].tolist() == [1, 3, 5, 7] and y[0].tolist() == [2, 4, 6, 8]
    assert tier[0].tolist() == ["high", "high", "high", "sinks"]
    assert np.isnan(x[1]).all() and tier[1].tolist() == [""] * 4
    assert x[2, 0] == 0.5 and tier[2].tolist() == ["low", "", "", ""]
    assert points_table([None])[0].shape == (1, 1)


# ---------------------------------------------------------------------------------------------
# hostile input: any content gives only the documented ValueError naming the file, and the file
# is left untouched
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_a_value_error_naming_the_file(tmp_path, depth):
    p = tmp_path / "deep.json"
    p.write_text("[" * depth + "]" * depth)
    with pytest.raises(ValueError, match=r"deep\.json.*nested too deeply"):
        Annotation.load(p)
    # nested inside a valid document, where from_dict walks into it
    doc = _ann().to_dict()
    doc["metadata"] = {"notes": None}
    text = json.dumps(doc).replace('"notes": null', '"notes": ' + "[" * depth + "]" * depth)
    p.write_text(text)
    with pytest.raises(ValueError, match=r"deep\.json"):
        Annotation.load(p)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_documents(draw):
    """A valid annotation document with some fields replaced by arbitrary JSON values."""
    doc = _ann().to_dict()
    keys = ["format", "version", "shape", "points", "metadata", "extra"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        doc[key] = draw(json_values)
    if isinstance(doc.get("points"), dict):
        for tier in draw(st.lists(st.sampled_from([*TIERS, "other"]), max_size=2, unique=True)):
            doc["points"][tier] = draw(json_values)
    if isinstance(doc.get("metadata"), dict):
        fields = st.sampled_from(["spacing", "image_id", "notes", "annotator", "image_sha256"])
        for key in draw(st.lists(fields, max_size=2, unique=True)):
            doc["metadata"][key] = draw(json_values)
    return doc


def _load_only_value_error(path, data):
    path.write_bytes(data)
    try:
        Annotation.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)  # names the file
    assert path.read_bytes() == data  # read only, never written
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_fuzz_load_with_arbitrary_bytes(tmp_path, data):
    _load_only_value_error(tmp_path / "fuzz.json", data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(json_values, mutated_documents()))
def test_fuzz_load_with_arbitrary_json_documents(tmp_path, doc):
    data = json.dumps(doc).encode()
    _load_only_value_error(tmp_path / "fuzz.json", data)


def test_as_annotations_gives_a_checked_non_empty_list():
    from confmap.annotation import as_annotations

    a, b = _ann(), _ann(np.random.default_rng(1))
    assert as_annotations(a) == [a]
    assert as_annotations((a, b)) == [a, b]
    with pytest.raises(ValueError, match="`annotations` must hold at least one Annotation"):
        as_annotations([])
    with pytest.raises(TypeError, match="`annotations` must be an Annotation or a sequence of them, got None"):
        as_annotations(None)
    with pytest.raises(TypeError, match=r"`annotations\[1\]` must be a confmap.Annotation, got"):
        as_annotations([a, {"high": []}])
