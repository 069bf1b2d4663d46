"""The dataset contract: builder, checker, pixel coordinates, points table <-> annotations, NetCDF."""

import numpy as np
import pytest
import xarray as xr

from confmap import Annotation, confidence_map, phantom
from confmap import dataset as D


def _small(spacing=(0.5, 0.25)):
    rng = np.random.default_rng(3)
    n, r, h, w = 2, 3, 20, 24
    masks = rng.random((n, r, h, w)) < 0.3
    anns = [
        Annotation((h, w), high=[(5, 5), (15, 6), (10, 14)], medium=[(2, 2), (20, 3), (21, 18), (3, 17)]),
        None,
    ]
    conf = np.stack([confidence_map(anns[0]).values, np.zeros((h, w))])
    ds = D.build_dataset(
        rng.random((n, h, w)),
        masks,
        annotations=anns,
        confidence=conf,
        truth=masks[:, 0],
        spacing=spacing,
        image_coords={"image_id": np.array(["a", "b"])},
        attrs={"title": "test"},
    )
    return ds, masks, anns


def test_builder_follows_the_contract():
    ds, masks, anns = _small()
    for name, (dims, kinds, _) in D.VARIABLES.items():
        assert ds[name].dims == dims and ds[name].dtype.kind in kinds, name
    assert ds.bmode.dtype == np.float32 and ds.masks.dtype == bool
    np.testing.assert_array_equal(ds.agreement.values, masks.mean(axis=1))  # Agreement: mean over raters
    assert ds.sector.values.all()
    assert ds.attrs["spacing_mm"] == [0.5, 0.25] and "(dy, dx)" in ds.attrs["convention"]
    np.testing.assert_allclose(ds.x_mm.values, np.arange(24) * 0.25)
    np.testing.assert_allclose(ds.y_mm.values, np.arange(20) * 0.5)
    assert list(ds.image_id.values) == ["a", "b"]


def test_points_table_round_trips_to_annotations_without_claiming_an_annotator():
    ds, _, anns = _small()
    back = D.annotations_from_dataset(ds)
    assert back[0].counts() == anns[0].counts() and back[1].n_points == 0
    np.testing.assert_array_equal(back[0].high, anns[0].high)
    assert back[0].annotator == "" and back[0].spacing == (0.5, 0.25) and back[0].image_id == "a"
    assert D.annotations_from_dataset(ds, annotator="Dr A")[0].annotator == "Dr A"


def test_phantom_datasets_name_the_virtual_annotator(tiny_phantoms):
    ds = tiny_phantoms
    D.check_dataset(ds)
    assert D.annotations_from_dataset(ds)[0].annotator == phantom.VIRTUAL_ANNOTATOR
    assert phantom.annotations_from_dataset is D.annotations_from_dataset


def test_checker_names_what_is_wrong():
    ds, _, _ = _small()
    with pytest.raises(TypeError, match="xarray.Dataset"):
        D.check_dataset(ds.bmode)
    with pytest.raises(ValueError, match="no 'sector' variable: it is missing"):
        D.check_dataset(ds.drop_vars("sector"))
    with pytest.raises(ValueError, match=r"`ds\['bmode'\]` must have dims"):
        D.check_dataset(ds.assign(bmode=ds.bmode.transpose("image", "x", "y")))
    with pytest.raises(ValueError, match="dtype of kind 'f'"):
        D.check_dataset(ds.assign(confidence=ds.confidence.astype(int)))
    with pytest.raises(ValueError, match="`require`"):
        D.check_dataset(ds, require=("colour",))


def test_pixel_coords_without_spacing_have_no_mm():
    c = D.pixel_coords((3, 4))
    assert set(c) == {"y", "x"} and c["y"][2]["units"] == "pixel"
    da = xr.DataArray(np.zeros((3, 4)), dims=("y", "x"), coords=D.pixel_coords((3, 4), (1.0, 2.0), origin=(10.0, -3.0)))
    np.testing.assert_allclose(da.x_mm.values, [-3.0, -1.0, 1.0, 3.0])


def test_netcdf_round_trip(tmp_path):
    ds, _, _ = _small()
    back = D.load_dataset(D.save_dataset(ds, tmp_path / "sub" / "ds.nc"))
    D.check_dataset(back)
    xr.testing.assert_identical(back.drop_vars("point_tier"), ds.drop_vars("point_tier"))
    np.testing.assert_array_equal(back.point_tier.values, ds.point_tier.values)
    with pytest.raises(FileNotFoundError):
        D.load_dataset(tmp_path / "missing.nc")
