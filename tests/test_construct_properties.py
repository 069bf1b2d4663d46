"""Property-based tests: thousands of random point sets never crash the construction."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confmap import Annotation, ConfmapWarning, confidence_map, grid_weights

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))


@st.composite
def annotations(draw):
    h, w = draw(shapes)
    xs = st.floats(-0.5, w - 0.5, allow_nan=False, allow_infinity=False)
    ys = st.floats(-0.5, h - 0.5, allow_nan=False, allow_infinity=False)
    point = st.tuples(xs, ys)
    # small point pools make duplicates and collinear sets common
    pool = draw(st.lists(point, min_size=1, max_size=6))
    tier_points = st.lists(st.one_of(st.sampled_from(pool), point), max_size=9)
    tiers = {t: draw(tier_points) for t in ("high", "medium", "low")}
    tiers["sinks"] = draw(st.lists(point, max_size=2))
    return Annotation((h, w), **tiers)


params = st.fixed_dictionaries(
    {
        "lam": st.integers(1, 40),
        "betas": st.tuples(*(st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]) for _ in range(3))),
        "bandwidth": st.one_of(st.sampled_from(["scott", "silverman"]), st.floats(0.01, 3.0)),
        "kernel": st.sampled_from(["full", "isotropic"]),
        "region": st.sampled_from(["convex", "alpha"]),
    }
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ann=annotations(), kw=params)
def test_random_point_sets_never_crash_or_give_nan(ann, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy (overflow, 0/0, ...)
        warnings.simplefilter("ignore", ConfmapWarning)  # degenerate input warns; that is fine
        cm = confidence_map(ann, **kw)
    values = cm.values
    assert values.shape == ann.shape
    assert np.isfinite(values).all()
    assert values.min() >= 0.0 and values.max() <= 1.0
    # either a proper min-max normalised map or all zeros
    assert values.max() == 1.0 or not values.any()


@settings(max_examples=300, deadline=None)
@given(ann=annotations(), lam=st.integers(1, 30))
def test_weights_take_only_beta_values(ann, lam):
    betas = (1.0, 0.5, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        w = grid_weights(ann, lam=lam, betas=betas)
    assert w.shape == (lam + 1, lam + 1)
    assert set(np.unique(w)) <= {0.0, *betas}
