"""MapParams, the one set of parameter checks, Eq. 7's normalise, grid tiers, and the suggested lam."""

import re
import warnings

import numpy as np
import pytest
from sklearn.preprocessing import minmax_scale

from confmap import (
    Annotation,
    MapParams,
    RippleWarning,
    confidence_map,
    confidence_maps,
    grid_tiers,
    grid_weights,
    lam_for_ripple,
    lattice_ripple,
    normalise,
)
from confmap.construct import check_param


def test_defaults_are_the_papers():
    p = MapParams()
    assert (p.lam, p.betas, p.bandwidth, p.kernel, p.region) == (100, (1.0, 0.5, 0.1), 0.1, "full", "convex")
    assert p.alpha is None and p.sink_radius is None and p.ripple_warn == 0.01


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"lam": 0}, ValueError, r"`lam` must be >= 1, got 0"),
        ({"lam": 2.5}, TypeError, r"`lam` must be an integer"),
        ({"betas": (1, 2)}, ValueError, r"`betas` must be three numbers"),
        ({"betas": (1, -1, 0)}, ValueError, r"beta_M"),
        ({"bandwidth": "wide"}, ValueError, r"`bandwidth`"),
        ({"bandwidth": 0}, ValueError, r"`bandwidth` must be > 0"),
        ({"kernel": "box"}, ValueError, r"`kernel`"),
        ({"region": "concave"}, ValueError, r"`region`"),
        ({"alpha": -1}, ValueError, r"`alpha`"),
        ({"sink_radius": 0}, ValueError, r"`sink_radius`"),
        ({"ripple_warn": -0.1}, ValueError, r"`ripple_warn`"),
    ],
)
def test_bad_parameters_are_rejected_once_with_the_same_message_everywhere(kw, exc, match, tiered_annotation):
    with pytest.raises(exc, match=match):
        MapParams(**kw)
    with pytest.raises(exc, match=match):
        confidence_map(tiered_annotation, **kw)


def test_check_param_names_the_argument_and_accepts_the_bandwidth_rules():
    assert check_param("bandwidth", "silverman") == "silverman"
    with pytest.raises(ValueError, match=r"`lam\[3\]` must be >= 1"):
        check_param("lam", 0, name="lam[3]")
    with pytest.raises(ValueError, match="`field`"):
        check_param("colour", 1)


def test_replace_attrs_round_trip_and_unknown_names(tiered_annotation):
    p = MapParams(lam=50, betas=(1, 0.4, 0), bandwidth="scott", region="alpha", alpha=3.0, sink_radius=2.5)
    assert p.betas == (1.0, 0.4, 0.0)
    kw = dict(betas=(1, 0.4, 0), bandwidth="scott", region="alpha", alpha=3.0, sink_radius=2.5)
    assert p.replace(lam=70) == MapParams(lam=70, **kw)
    assert MapParams.from_attrs(p.to_attrs()) == p
    assert MapParams.from_attrs(MapParams(ripple_warn=None).to_attrs()).ripple_warn is None
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['colour'\]"):
        p.replace(colour=1)
    with pytest.raises(TypeError, match="unknown parameter"):
        confidence_map(tiered_annotation, colour=1)
    with pytest.raises(TypeError, match="`params`"):
        confidence_map(tiered_annotation, params={"lam": 50})


def test_coerce_takes_params_a_mapping_or_none():
    p = MapParams(lam=50, bandwidth="scott")
    assert MapParams.coerce(p) is p
    assert MapParams.coerce(None) == MapParams()
    assert MapParams.coerce({"lam": 50, "bandwidth": "scott"}) == p
    with pytest.raises(TypeError, match=r"`map_params` must be a confmap.MapParams or a mapping .*got 3"):
        MapParams.coerce(3, name="map_params")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['lamb'\]"):
        MapParams.coerce({"lamb": 50})
    with pytest.raises(ValueError, match="`lam`"):
        MapParams.coerce({"lam": 0})


def test_params_and_keywords_give_the_same_map_and_keywords_override(tiered_annotation):
    p = MapParams(lam=60, betas=(1.0, 0.3, 0.1), bandwidth=0.15)
    a = confidence_map(tiered_annotation, params=p)
    b = confidence_map(tiered_annotation, lam=60, betas=(1.0, 0.3, 0.1), bandwidth=0.15)
    np.testing.assert_array_equal(a.values, b.values)
    c = confidence_map(tiered_annotation, params=p, lam=80)
    np.testing.assert_array_equal(c.values, confidence_map(tiered_annotation, params=p.replace(lam=80)).values)
    assert MapParams.from_attrs(a.attrs) == p.replace(sink_radius=a.attrs["sink_radius"])
    ds = confidence_maps([tiered_annotation, tiered_annotation], params=p)
    np.testing.assert_array_equal(ds.confidence.values[1], a.values)


@pytest.mark.parametrize("seed", range(3))
def test_normalise_is_min_max_scaling(seed):
    d = np.random.default_rng(seed).gamma(2.0, size=(7, 9))
    ref = minmax_scale(d.ravel()).reshape(d.shape)
    np.testing.assert_allclose(normalise(d), ref, rtol=0, atol=1e-15)
    crop = normalise(d + 1.0, background=0.0)  # a crop of an image that is 0 elsewhere
    np.testing.assert_allclose(crop, (d + 1.0) / (d.max() + 1.0), rtol=1e-15)
    assert np.array_equal(normalise(np.full((3, 4), 2.5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="`density`"):
        normalise(np.array([[np.nan, 1.0]]))


def test_grid_weights_are_a_lookup_in_the_grid_tiers(tiered_annotation):
    codes = grid_tiers(tiered_annotation, lam=40)
    assert codes.dtype == np.int8 and set(np.unique(codes)) <= {0, 1, 2, 3}
    w = grid_weights(tiered_annotation, lam=40, betas=(0.9, 0.4, 0.2))
    np.testing.assert_array_equal(w, np.array([0.0, 0.9, 0.4, 0.2])[codes])
    # by hand (grid spacing 2 x 1.5 px): (36, 24) is high, (24, 15) medium, (12, 9) low, the
    # corners none, and (42, 27) lies within the sink radius 2 * 80 / 40 = 4 px of the sink
    assert [codes[16, 18], codes[10, 12], codes[6, 6], codes[0, 0], codes[-1, -1], codes[18, 21]] == [1, 2, 3, 0, 0, 0]


def test_suggested_lam_leaves_as_data_and_matches_the_warning():
    ann = Annotation((600, 600), high=[(200, 200), (420, 210), (400, 420), (210, 400)])
    with pytest.warns(RippleWarning) as rec:
        cm = confidence_map(ann, lam=30)
    need = int(re.search(r"lam >= (\d+)", str(rec[0].message)).group(1))
    assert cm.attrs["suggested_lam"] == need
    s_xx, s_xy, s_yy = cm.attrs["kernel_cov"]
    cov = np.array([[s_xx, s_xy], [s_xy, s_yy]])
    assert lam_for_ripple(cov, ann.shape, 0.005) == need
    assert lattice_ripple(cov, (600 / need, 600 / need)) <= 0.005
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = confidence_map(ann, lam=need)
    assert "suggested_lam" not in quiet.attrs


def test_no_region_reasons_are_in_the_attrs():
    ann = Annotation((60, 60), high=[(20, 20), (40, 22), (30, 40)], medium=[(5, 5), (55, 5)])
    with pytest.warns(Warning):
        cm = confidence_map(ann)
    assert cm.attrs["no_region"] == "medium: 2 distinct points, 3 needed"
    assert cm.attrs["tiers_with_region"] == ["high"]
