"""Property-based tests of the construction: random point sets (duplicates, collinear sets, tiny and
thin images) never crash it, give maps in [0, 1] with max 1 or all zero, weights equal scipy's Delaunay
oracle, and maps are invariant under a permutation of the points within a tier and equivariant under
a transpose of image and points.

The number of examples of each property comes from the hypothesis profile (tests/conftest.py):
``ci`` (the default, 2,000 each), ``thorough`` (10,000 each) or ``dev`` (300); the weights oracle
runs a quarter of that.
"""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull, Delaunay, QhullError

from confmap import Annotation, ConfmapWarning, confidence_map, grid_weights, mesh_grid

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))


@st.composite
def annotations(draw, sinks=True):
    h, w = draw(shapes)
    xs = st.floats(-0.5, w - 0.5, allow_nan=False, allow_infinity=False)
    ys = st.floats(-0.5, h - 0.5, allow_nan=False, allow_infinity=False)
    point = st.tuples(xs, ys)
    # small point pools make duplicates and collinear sets common
    pool = draw(st.lists(point, min_size=1, max_size=6))
    tier_points = st.lists(st.one_of(st.sampled_from(pool), point), max_size=9)
    tiers = {t: draw(tier_points) for t in ("high", "medium", "low")}
    tiers["sinks"] = draw(st.lists(point, max_size=2)) if sinks else []
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


def _map(ann, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy (overflow, 0/0, ...)
        warnings.simplefilter("ignore", ConfmapWarning)  # degenerate input warns; that is fine
        return confidence_map(ann, **kw).values


@given(ann=annotations(), kw=params)
def test_random_point_sets_never_crash_or_give_nan(ann, kw):
    values = _map(ann, **kw)
    assert values.shape == ann.shape
    assert np.isfinite(values).all()
    assert values.min() >= 0.0 and values.max() <= 1.0
    # either a proper min-max normalised map or all zeros
    assert values.max() == 1.0 or not values.any()


@given(ann=annotations(), kw=params, data=st.data())
def test_map_is_invariant_under_a_permutation_within_each_tier(ann, kw, data):
    tiers = ("high", "medium", "low", "sinks")
    perm = {t: data.draw(st.permutations(range(len(ann.points(t)))), label=t) for t in tiers}
    shuffled = ann.replace(**{t: ann.points(t)[list(p)] if len(p) else None for t, p in perm.items()})
    np.testing.assert_allclose(_map(shuffled, **kw), _map(ann, **kw), rtol=0, atol=1e-9)


@given(ann=annotations(), kw=params)
def test_map_is_equivariant_under_a_transpose_of_image_and_points(ann, kw):
    h, w = ann.shape
    swapped = {t: ann.points(t)[:, ::-1] if len(ann.points(t)) else None for t in ("high", "medium", "low", "sinks")}
    transposed = Annotation((w, h), **swapped)
    np.testing.assert_allclose(_map(transposed, **kw), _map(ann, **kw).T, rtol=0, atol=1e-9)


def _inside(points, gx, gy):
    """Oracle: (inside, ambiguous) per grid point from scipy's Delaunay.find_simplex,
    with points within 1e-7 px of the hull boundary marked ambiguous (the implementation counts the
    boundary as inside with a relative tolerance; float rounding decides those either way)."""
    px, py = np.meshgrid(gx, gy)
    q = np.column_stack([px.ravel(), py.ravel()])
    uniq = np.unique(np.asarray(points, dtype=float).reshape(-1, 2), axis=0)
    if len(uniq) < 3:
        return np.zeros(px.shape, bool), np.zeros(px.shape, bool), False
    try:
        tri = Delaunay(uniq)
        hull = ConvexHull(uniq)
    except QhullError:
        return np.zeros(px.shape, bool), np.zeros(px.shape, bool), False
    inside = (tri.find_simplex(q, bruteforce=True) >= 0).reshape(px.shape)
    signed = (q @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1).reshape(px.shape)
    scale = max(1.0, float(np.abs(uniq).max()))
    return inside, np.abs(signed) <= 1e-7 * scale, True


@settings(max_examples=max(50, settings.default.max_examples // 4))  # the oracle is slow
@given(ann=annotations(sinks=False), lam=st.integers(1, 30))
def test_weights_equal_delaunay_find_simplex(ann, lam):
    """Eq. 5 against the oracle on the same inputs: beta of the first tier whose Delaunay
    triangulation (scipy) contains the grid point, else 0."""
    betas = (1.0, 0.5, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        w = grid_weights(ann, lam=lam, betas=betas)
    gx, gy = mesh_grid(ann.shape, lam=lam)
    assert w.shape == (lam + 1, lam + 1)
    expected = np.zeros(w.shape)
    unassigned = np.ones(w.shape, bool)
    ambiguous = np.zeros(w.shape, bool)
    for tier, beta in zip(("high", "medium", "low"), betas, strict=True):
        inside, near, ok = _inside(ann.points(tier), gx, gy)
        if not ok:
            continue
        # nearly-collinear sets: Qhull triangulates, confmap calls them collinear (no region); both
        # contain no grid point except within rounding of the line
        ambiguous |= near & unassigned
        expected[inside & unassigned] = beta
        unassigned &= ~inside
    sure = ~ambiguous
    np.testing.assert_array_equal(w[sure], expected[sure])
    assert set(np.unique(w)) <= {0.0, *betas}
