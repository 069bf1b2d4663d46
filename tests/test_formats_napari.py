"""The napari plugin (npe2 manifest confmap/formats/napari.yaml), tested through npe2's API without
napari or a display: the manifest validates, the entry point names it, and npe2's read/write with
our plugin return the expected layer data."""

import sys
from pathlib import Path

import npe2  # in the test extra (and the napari extra); napari itself is not needed
import numpy as np
import pytest

from confmap import TIERS, Annotation
from confmap.formats import TIER_COLOURS, read_annotations, write_annotations
from confmap.formats import _napari_plugin as plugin

MANIFEST = Path(__file__).resolve().parents[1] / "confmap" / "formats" / "napari.yaml"


@pytest.fixture
def pm():
    """A plugin manager holding only confmap's manifest."""
    manager = npe2.PluginManager()
    manager.register(npe2.PluginManifest.from_file(MANIFEST))
    return manager


def _ann():
    return Annotation(
        (30, 40),
        high=[(1.0, 2.0), (10.5, 3.25), (20.0, 25.0)],
        low=[(5.0, 5.0)],
        sinks=[(39.5, 29.5)],
        image_id="us.png",
        spacing=(0.2, 0.5),
    )


def test_manifest_validates_and_is_the_entry_point():
    import tomllib

    mf = npe2.PluginManifest.from_file(MANIFEST)
    assert mf.name == "confmap"
    assert {c.id for c in mf.contributions.commands} == {"confmap.get_reader", "confmap.write_points"}
    assert mf.contributions.writers[0].layer_types == ["points"]
    pyproject = tomllib.loads((MANIFEST.parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["napari.manifest"] == {"confmap": "confmap.formats:napari.yaml"}
    assert "napari.yaml" in pyproject["tool"]["setuptools"]["package-data"]["confmap.formats"]
    assert pyproject["project"]["optional-dependencies"]["napari"] == ["npe2>=0.7"]
    # every command's python_name resolves to a callable
    for c in mf.contributions.commands:
        module, attr = c.python_name.split(":")
        __import__(module)
        assert callable(getattr(sys.modules[module], attr))


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("confmap", ".json"), ("slicer", ".mrk.json"), ("coco", ".json"), ("cvat", ".xml"), ("labelstudio", ".json")],
)
def test_reader_gives_points_layers_with_tier_colours(tmp_path, pm, fmt, ext):
    ann = _ann()
    path = write_annotations(ann, tmp_path / f"a{ext}", format=fmt)
    readers = list(pm.iter_compatible_readers([str(path)]))
    assert [r.command for r in readers] == ["confmap.get_reader"]
    reader = plugin.get_reader(str(path))
    [(data, kwargs, kind)] = reader(str(path))
    assert kind == "points"
    tiers = [t for t in TIERS for _ in range(len(ann.points(t)))]
    np.testing.assert_array_equal(data, np.concatenate([ann.points(t) for t in TIERS])[:, ::-1])
    assert list(kwargs["properties"]["tier"]) == tiers
    rgb = [[int(TIER_COLOURS[t][i : i + 2], 16) / 255 for i in (1, 3, 5)] + [1.0] for t in tiers]
    np.testing.assert_allclose(kwargs["face_color"], rgb)
    if fmt != "cvat":  # CVAT has no place for the spacing
        assert kwargs["scale"] == (0.2, 0.5)
    assert kwargs["metadata"]["confmap"]["shape"] == [30, 40]
    assert kwargs["name"] == "us.png"


def test_read_and_write_through_npe2(tmp_path, pm, monkeypatch):
    """npe2.read / npe2.write dispatch to our commands by the manifest (no napari needed)."""
    monkeypatch.setattr(npe2.PluginManager, "instance", classmethod(lambda cls: pm))
    path = write_annotations(_ann(), tmp_path / "a.json", format="confmap")
    [(data, kwargs, kind)] = npe2.read([str(path)], plugin_name="confmap", stack=False)
    assert kind == "points" and data.shape == (5, 2)
    for ext in (".json", ".mrk.json", ".csv", ".xml"):
        out = npe2.write(str(tmp_path / f"w{ext}"), [(data, kwargs, "points")], plugin_name="confmap")
        assert out == [str(tmp_path / f"w{ext}")]
        [back] = read_annotations(out[0], shape=(30, 40)) if ext == ".csv" else read_annotations(out[0])
        for t in TIERS:
            np.testing.assert_array_equal(back.points(t), _ann().points(t))
        assert back.shape == (30, 40)
    [back] = read_annotations(tmp_path / "w.json")
    assert back == _ann()


def test_writer_from_a_hand_made_layer(tmp_path):
    """A layer drawn in napari: 3-D points on a stack, tiers as a property, scale but no metadata."""
    data = np.array([[0.0, 2.0, 1.0], [0.0, 4.0, 3.5], [0.0, 9.0, 7.0]])
    attrs = {"properties": {"tier": np.array(["high", "sink", "medium"])}, "scale": [1.0, 0.3, 0.3], "metadata": {}}
    [out] = plugin.write_points(str(tmp_path / "drawn.json"), data, attrs)
    ann = Annotation.load(out)
    assert ann.shape == (10, 8)  # the smallest image holding every point
    assert ann.high.tolist() == [[1.0, 2.0]] and ann.sinks.tolist() == [[3.5, 4.0]] and ann.spacing == (0.3, 0.3)
    with pytest.raises(ValueError, match=r"field tier: expected a 'tier' property"):
        plugin.write_points(str(tmp_path / "x.json"), data, {"properties": {}})
    with pytest.raises(ValueError, match=r"expected a tier label"):
        plugin.write_points(str(tmp_path / "x.json"), data, {"properties": {"tier": ["high", "x", "low"]}})
    with pytest.raises(ValueError, match=r"expected an extension among"):
        plugin.write_points(str(tmp_path / "x.txt"), data, attrs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn.json"]


def test_map_reader_inferno_0_1_with_spacing(tmp_path, pm):
    from confmap import io as cio

    soft = np.linspace(0, 1, 12 * 20).reshape(12, 20)
    path = cio.save_map(soft, tmp_path / "m.nc", spacing=(0.2, 0.5))
    assert [r.command for r in pm.iter_compatible_readers([str(path)])] == ["confmap.get_reader"]
    [(data, kwargs, kind)] = plugin.get_reader(str(path))(str(path))
    assert kind == "image" and data.shape == (12, 20)
    np.testing.assert_allclose(data, soft, atol=1e-7)
    assert kwargs["colormap"] == "inferno" and kwargs["contrast_limits"] == (0.0, 1.0)
    assert kwargs["scale"] == (0.2, 0.5)


def test_reader_declines_other_files(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"x": 1}')
    assert plugin.get_reader(str(other)) is None
    assert plugin.get_reader(str(tmp_path / "image.png")) is None
    assert plugin.get_reader([str(other), str(other)]) is None
