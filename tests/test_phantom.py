"""Tests of confmap.phantom: contract, determinism, ranges, rater calibration, protocol zones, files."""

import numpy as np
import pytest
import xarray as xr

import confmap
from confmap import phantom as ph

SMALL = (96, 96)


@pytest.fixture(scope="module")
def ds_small():
    return ph.make_dataset(4, seed=11, size=SMALL, progress=False)


@pytest.fixture(scope="module")
def ds_mixed():
    """A mixed dataset big enough for the rater-agreement calibration (2 x 12 images)."""
    return xr.concat([ph.make_dataset(12, seed=s, size=(128, 128), progress=False) for s in (0, 1)], dim="image")


# ---------------------------------------------------------------------------------------------
# The shared contract
# ---------------------------------------------------------------------------------------------
def test_contract_variables_dims_dtypes(ds_small):
    ds = ds_small
    n, r, (h, w) = 4, 4, SMALL
    assert dict(ds.sizes) == {"image": n, "rater": r, "y": h, "x": w, "point": ds.sizes["point"]}
    expect = {
        "bmode": ("image", "y", "x"),
        "truth": ("image", "y", "x"),
        "masks": ("image", "rater", "y", "x"),
        "agreement": ("image", "y", "x"),
        "confidence": ("image", "y", "x"),
        "sector": ("image", "y", "x"),
        "point_x": ("image", "point"),
        "point_y": ("image", "point"),
        "point_tier": ("image", "point"),
    }
    for name, dims in expect.items():
        assert ds[name].dims == dims, name
    assert ds.bmode.dtype == np.float32
    assert ds.masks.dtype == np.uint8
    assert ds.sector.dtype == bool
    assert list(ds.kind.values) == ["well_defined", "diffuse"] * 2
    for c in ("image", "rater", "y", "x"):
        np.testing.assert_array_equal(ds[c].values, np.arange(ds.sizes[c]))
    sp = ds.attrs["spacing_mm"]
    assert sp[0] == sp[1] > 0
    np.testing.assert_allclose(np.diff(ds.y_mm.values), sp[0])
    np.testing.assert_allclose(np.diff(ds.x_mm.values), sp[1])
    assert abs(ds.x_mm.values.mean()) < 1e-9  # the probe axis is x_mm = 0
    assert ds.attrs["reference_rater"] == 0


def test_value_ranges(ds_small):
    ds = ds_small
    sector = ds.sector.values
    for name in ("bmode", "truth", "agreement", "confidence"):
        v = ds[name].values
        assert np.all(np.isfinite(v)), name
        assert v.min() >= 0 and v.max() <= 1, name
    assert set(np.unique(ds.masks.values)) <= {0, 1}
    # labels and image are masked to the field of view
    assert not ds.bmode.values[~sector].any()
    assert not ds.truth.values[~sector].any()
    assert not (ds.masks.values * ~sector[:, None]).any()
    assert ds.truth.values.max() > 0.99 and ds.confidence.values.max() == 1.0
    np.testing.assert_allclose(ds.agreement.values, ds.masks.values.mean(axis=1))
    # points: tiers valid, NaN exactly where padded, inside the image
    tiers = ds.point_tier.values
    assert set(np.unique(tiers)) <= {"high", "medium", "low", "sinks", ""}
    np.testing.assert_array_equal(np.isnan(ds.point_x.values), tiers == "")
    x = ds.point_x.values[tiers != ""]
    assert x.min() >= 0 and x.max() <= SMALL[1] - 1


def test_deterministic_and_independent_of_n():
    a = ph.make_dataset(3, seed=5, size=(64, 64), progress=False)
    b = ph.make_dataset(3, seed=5, size=(64, 64), progress=False)
    xr.testing.assert_identical(a, b)
    c = ph.make_dataset(1, seed=5, size=(64, 64), progress=False)
    for name in ("bmode", "truth", "masks", "confidence"):
        np.testing.assert_array_equal(c[name].values[0], a[name].values[0])
    d = ph.make_dataset(1, seed=6, size=(64, 64), progress=False)
    assert not np.array_equal(d.bmode.values[0], a.bmode.values[0])


def test_confidence_is_the_core_map_of_the_points(ds_small):
    anns = ph.annotations_from_dataset(ds_small)
    assert len(anns) == 4
    for i, ann in enumerate(anns):
        assert ann.shape == SMALL and ann.spacing == tuple(ds_small.attrs["spacing_mm"])
        assert min(ann.counts()[t] for t in ("high", "medium", "low")) >= 3
        cm = confmap.confidence_map(ann, ripple_warn=None)
        np.testing.assert_array_equal(cm.values, ds_small.confidence.values[i])


def test_map_params_reach_the_confidence_maps():
    p = confmap.MapParams(lam=40, betas=(1.0, 0.3, 0.1), ripple_warn=None)
    ds = ph.make_dataset(2, seed=5, size=(48, 48), params=p)
    for i, ann in enumerate(ph.annotations_from_dataset(ds)):  # oracle: the core map of the points
        np.testing.assert_array_equal(confmap.confidence_map(ann, params=p).values, ds.confidence.values[i])
    as_dict = ph.make_dataset(2, seed=5, size=(48, 48), params={"lam": 40, "betas": (1.0, 0.3, 0.1)})
    np.testing.assert_array_equal(as_dict.confidence.values, ds.confidence.values)
    np.testing.assert_array_equal(ph.dataset_phantom(1, seed=5, size=(48, 48), params=p).confidence, ds.confidence[1])
    with pytest.raises(TypeError, match="`params` must be a confmap.MapParams"):
        ph.make_dataset(1, seed=0, params=[40])


# ---------------------------------------------------------------------------------------------
# Raters
# ---------------------------------------------------------------------------------------------
def test_rater_agreement_calibration(ds_mixed):
    dice = np.array([ph.pairwise_dice(m) for m in ds_mixed.masks.values])
    kind = ds_mixed.kind.values
    well, diffuse = dice[kind == "well_defined"].mean(), dice[kind == "diffuse"].mean()
    # Published inter-neurosurgeon Dice 0.876; the issue asks for about 0.85-0.9 over a mix.
    assert 0.85 <= dice.mean() <= 0.90
    assert diffuse < well - 0.05
    assert 0.88 <= well <= 0.95 and 0.75 <= diffuse <= 0.87


def test_reference_rater_is_closest_to_truth(ds_mixed):
    ref = ds_mixed.attrs["reference_rater"]
    truth = ds_mixed.truth.values > 0.5
    m = ds_mixed.masks.values.astype(bool)
    inter = (m & truth[:, None]).sum((2, 3))
    dice = 2 * inter / (m.sum((2, 3)) + truth.sum((1, 2))[:, None])
    per_rater = dice.mean(0)
    assert np.argmax(per_rater) == ref
    assert abs(ds_mixed.attrs["rater_biases"][ref]) == 0


def test_rater_masks_are_clean_filled_single_blobs(ds_small):
    from scipy import ndimage

    for m in ds_small.masks.values.reshape(-1, *SMALL):
        assert ndimage.label(m)[1] == 1
        np.testing.assert_array_equal(ndimage.binary_fill_holes(m), m.astype(bool))


def test_pairwise_dice_oracle():
    a = np.zeros((3, 5, 5), np.uint8)
    a[0, :2] = 1  # 10 px
    a[1, :3] = 1  # 15 px, overlap 10 with 0
    a[2, 4] = 1  # 5 px, disjoint
    expect = np.mean([2 * 10 / 25, 0.0, 0.0])
    assert ph.pairwise_dice(a) == pytest.approx(expect)
    with pytest.raises(ValueError, match="at least 2 raters"):
        ph.pairwise_dice(a[:1])


# ---------------------------------------------------------------------------------------------
# The virtual annotator follows the protocol's zones of p
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["well_defined", "diffuse"])
def test_annotator_points_in_protocol_zones(kind):
    geom = ph.Geometry(size=(128, 128))
    sp = geom.spacing_mm
    for seed in range(6):
        truth = ph.tumour_truth(geom, seed, kind=kind)
        ann = ph.virtual_annotator(truth, seed + 100, spacing_mm=sp)
        p, s = truth["p"], truth["s"]

        def at(field, pts):
            from scipy import ndimage

            return ndimage.map_coordinates(field, [pts[:, 1], pts[:, 0]], order=1)

        assert len(ann.high) >= 3 and len(ann.medium) >= 3 and len(ann.low) >= 3
        # high: on the clear core boundary -- inside, p high, within ~1 px of the p=0.9 edge
        assert at(p, ann.high).min() >= 0.85
        # medium: outside the p = 0.5 boundary, along the outer edge of the fuzzy margin
        s_med = at(s, ann.medium)
        assert s_med.min() >= 0.4 and s_med.max() <= truth["margin_mm"] + 1.5
        if kind == "diffuse":
            assert 0.05 <= np.median(at(p, ann.medium)) <= 0.35
        # low: sparse, clearly outside the fuzzy margin
        assert at(p, ann.low).max() < 0.05
        assert at(s, ann.low).min() > s_med.min()
        assert len(ann.low) < len(ann.medium)


def test_annotator_demotes_shadowed_high_points():
    geom = ph.Geometry(size=(96, 96))
    truth = ph.tumour_truth(geom, 3, kind="well_defined")
    clear = ph.virtual_annotator(truth, 7, spacing_mm=geom.spacing_mm, loss_db=np.zeros(geom.size))
    shadow = ph.virtual_annotator(truth, 7, spacing_mm=geom.spacing_mm, loss_db=np.full(geom.size, 20.0))
    assert len(shadow.high) == 0
    assert len(shadow.medium) == len(clear.medium) + len(clear.high)


# ---------------------------------------------------------------------------------------------
# Image physics
# ---------------------------------------------------------------------------------------------
def test_tumour_is_hyperechoic_and_calcification_casts_a_shadow():
    geom = ph.Geometry(size=(128, 128))
    truth = ph.tumour_truth(geom, 2, kind="well_defined", necrosis=False, cyst=False, calcification=True)
    sim = ph.simulate_bmode(geom, truth, 4, tumour_db=10.0)
    b, p = sim["bmode"], truth["p"]
    inside = (p > 0.95) & ~truth["calc_map"] & (sim["loss_db"] < 1)
    outside = (p < 0.01) & truth["sector"] & ~truth["csf_map"] & ~truth["pia_map"] & (sim["loss_db"] < 1)
    assert b[inside].mean() > b[outside].mean() + 0.08  # 10 dB on a 55 dB display is 0.18
    assert sim["loss_db"].max() > 10  # the beams behind the calcification lose > 10 dB
    shadowed = (sim["loss_db"] > 10) & (p < 0.01) & truth["sector"]
    assert b[shadowed].mean() < b[outside].mean() - 0.1


def test_speckle_is_fully_developed_in_normal_brain():
    # The envelope of a complex Gaussian field is Rayleigh: in dB its std is about 5.6 dB.
    geom = ph.Geometry(size=(128, 128))
    truth = ph.tumour_truth(geom, 1, necrosis=False, cyst=False, calcification=False)
    sim = ph.simulate_bmode(geom, truth, 1, dynamic_range_db=200.0, noise_db=-200.0)
    bg = (truth["p"] < 1e-3) & truth["sector"] & ~truth["csf_map"] & ~truth["pia_map"]
    db = sim["bmode"][bg] * 200.0
    assert 4.0 < db.std() < 7.5


def test_geometry_beam_roundtrip_and_linear_probe():
    for probe in ("curvilinear", "linear"):
        g = ph.Geometry(size=(50, 60), probe=probe)
        d, lat = g.to_beam(np.array([1.5, -3.0]), np.array([10.0, 20.0]))
        x, y = g.from_beam(d, lat)
        np.testing.assert_allclose([x, y], [[1.5, -3.0], [10.0, 20.0]])
    lin = ph.Geometry(size=(50, 60), probe="linear", width_mm=40, depth_mm=30)
    sec = lin.sector()
    assert sec[0].any()  # a rectangle from the top row
    cols = np.flatnonzero(sec.any(0))
    assert np.all(sec[: int(30 / lin.spacing_mm), cols[0] : cols[-1] + 1])
    ds = ph.make_dataset(1, seed=0, size=(64, 64), probe="linear", progress=False)
    assert ds.attrs["probe"] == "linear" and ds.masks.values.any()


# ---------------------------------------------------------------------------------------------
# Files, demo, progress, errors
# ---------------------------------------------------------------------------------------------
def test_netcdf_roundtrip_atomic(tmp_path, ds_small):
    path = ph.save_dataset(ds_small, tmp_path / "a" / "ds.nc")
    assert [p.name for p in path.parent.iterdir()] == ["ds.nc"]
    back = ph.load_dataset(path)
    xr.testing.assert_identical(back, ds_small)
    assert back.sector.dtype == bool and back.masks.dtype == np.uint8
    assert all(
        a == b for a, b in zip(ph.annotations_from_dataset(back), ph.annotations_from_dataset(ds_small), strict=True)
    )
    with pytest.raises(FileNotFoundError):
        ph.load_dataset(tmp_path / "missing.nc")


def test_load_demo_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFMAP_CACHE", str(tmp_path))
    a = ph.load_demo(2, size=(48, 48))
    files = list(tmp_path.glob("*.nc"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = ph.load_demo(2, size=(48, 48))
    assert files[0].stat().st_mtime_ns == mtime  # read, not made again
    xr.testing.assert_identical(a, b)
    c = ph.load_demo(2, size=(48, 48), cache=False)
    xr.testing.assert_identical(a, c)


def test_progress_bar(capsys):
    ph.make_dataset(2, seed=0, size=(32, 32), progress=True)
    assert "phantoms" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n": 0, "seed": 0}, ValueError, "`n` must be >= 1"),
        ({"n": 1, "seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"n": 1, "seed": 1.5}, TypeError, "`seed` must be an integer"),
        (
            {"n": 1, "seed": 0, "kinds": ("wavy",)},
            ValueError,
            "must be one of 'well_defined', 'diffuse'",
        ),
        ({"n": 1, "seed": 0, "kinds": ()}, ValueError, "at least one kind"),
        ({"n": 1, "seed": 0, "size": (0, 5)}, ValueError, r"`size\[0\] \(H\)` must be >= 1"),
        ({"n": 1, "seed": 0, "probe": "phased"}, ValueError, "`probe` must be one of"),
        (
            {"n": 1, "seed": 0, "n_raters": 2, "reference_rater": 2},
            ValueError,
            "`reference_rater` must be <= 1",
        ),
    ],
)
def test_make_dataset_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ph.make_dataset(**kwargs)


def test_annotations_from_dataset_needs_points():
    with pytest.raises(ValueError, match="no 'point_x' variable"):
        ph.annotations_from_dataset(xr.Dataset())


# ------------------------------------------------------------------ several confidence annotators
make_dataset, pairwise_dice = ph.make_dataset, ph.pairwise_dice


def test_more_annotators_and_rater_knobs_leave_the_default_dataset_unchanged():
    base = make_dataset(3, seed=5, size=(48, 48), progress=False)
    more = make_dataset(3, seed=5, size=(48, 48), n_annotators=3, annotator_sd_mm=0.7, progress=False)
    for v in base.data_vars:
        np.testing.assert_array_equal(more[v].values, base[v].values, err_msg=v)
    assert "annotator_confidence" not in base and "n_annotators" not in base.attrs
    assert more.attrs["n_annotators"] == 3 and more.attrs["annotator_sd_mm"] == 0.7
    maps = more["annotator_confidence"].transpose("image", "annotator", "y", "x").values
    assert maps.shape == (3, 3, 48, 48)
    np.testing.assert_array_equal(maps[:, 0], base["confidence"].values)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert not np.array_equal(maps[:, 1], maps[:, 2])  # each annotator places its own points
    # explicit default rater knobs are the defaults, bit for bit, with the same attrs
    same = make_dataset(3, seed=5, size=(48, 48), rater_bias_sd=1.2, rater_boundary_factor=1.0, progress=False)
    np.testing.assert_array_equal(same["masks"].values, base["masks"].values)
    assert same.attrs == base.attrs


def test_rater_noise_knobs():
    calm = make_dataset(4, seed=2, size=(64, 64), rater_bias_sd=0.0, rater_boundary_factor=0.0, progress=False)
    assert calm.attrs["rater_biases"] == [0.0] * 4
    assert calm.attrs["rater_bias_sd"] == 0.0 and calm.attrs["rater_boundary_factor"] == 0.0
    noisy = make_dataset(4, seed=2, size=(64, 64), rater_bias_sd=2.4, rater_boundary_factor=2.0, progress=False)
    d_calm = np.mean([pairwise_dice(m) for m in calm["masks"].values])
    d_noisy = np.mean([pairwise_dice(m) for m in noisy["masks"].values])
    assert d_calm > d_noisy
    with pytest.raises(ValueError, match="rater_bias_sd"):
        make_dataset(1, seed=0, size=(32, 32), rater_bias_sd=-1.0)
    with pytest.raises(ValueError, match="n_annotators"):
        make_dataset(1, seed=0, size=(32, 32), n_annotators=0)


def test_jitter_annotation_moves_points_by_the_stated_error():
    from confmap import Annotation
    from confmap.phantom import jitter_annotation

    pts = np.full((4000, 2), 50.0)
    ann = Annotation((100, 100), high=pts[:3] + [[0, 0], [5, 0], [0, 5]], medium=pts, low=pts[:3] * 0.5)
    moved = jitter_annotation(ann, 0, sd_mm=1.0, spacing_mm=0.5)  # 2 px per axis
    d = moved.medium - ann.medium
    assert abs(d.std() - 2.0) < 0.1 and abs(d.mean()) < 0.1
    assert moved.annotator == ann.annotator and moved.shape == ann.shape
    assert jitter_annotation(ann, 0, sd_mm=0.0) == ann
    edge = jitter_annotation(ann.replace(medium=[(0, 0)] * 50), 1, sd_mm=5.0)
    assert edge.medium.min() >= -0.5


def test_dataset_phantom_is_one_image_of_make_dataset(ds_small):
    # the oracle: image i of the whole dataset, made independently by make_dataset
    for i in (0, 3):
        one = ph.dataset_phantom(i, seed=11, size=SMALL)
        np.testing.assert_array_equal(one.bmode, ds_small.bmode.values[i])
        np.testing.assert_array_equal(one.masks, ds_small.masks.values[i])
        np.testing.assert_array_equal(one.confidence, ds_small.confidence.values[i])
        assert one.kind == str(ds_small.kind.values[i])
        back = ph.annotations_from_dataset(ds_small)[i]  # the same points (the dataset adds an image_id)
        for tier in ("high", "medium", "low"):
            np.testing.assert_array_equal(getattr(one.annotation, tier), getattr(back, tier))
    with pytest.raises(ValueError, match="`i`"):
        ph.dataset_phantom(-1, seed=11)


def test_the_documented_geometry_and_figure_margins():
    """docs/phantom.md: square pixels of 0.279 mm at 256 x 256 for the default sector (the 70 degree
    sector's width at its far edge, 2 (12 + 50) sin 35 degrees mm over 255 pixels), and the margins
    of the two tumours of its figure (docs/make_phantom_figure.py: seed 4), 0.3 and 1.8 mm."""
    assert ph.Geometry().spacing_mm == pytest.approx(2 * 62 * np.sin(np.radians(35)) / 255)
    assert round(ph.Geometry().spacing_mm, 3) == 0.279
    ds = ph.make_dataset(2, seed=4, kinds=("well_defined", "diffuse"), progress=False)
    assert [round(float(m), 1) for m in ds.margin_mm.values] == [0.3, 1.8]
