import math
import re
import warnings

import numpy as np
import pytest
from scipy.spatial import Delaunay
from scipy.stats import gaussian_kde

import confmap
from confmap import (
    Annotation,
    NoRegionWarning,
    RippleWarning,
    confidence_map,
    confidence_maps,
    construct,  # noqa: F401
    grid_weights,
    kde_covariance,
    lattice_ripple,
    make_region,
    mesh_grid,
    tier_regions,
    weighted_kde,
)
from confmap.construct import _fastkde


def ring(rng, centre, r, n, *, aspect=1.0, angle=0.0, jitter=0.15):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    rr = r * (1 + jitter * rng.standard_normal(n))
    x, y = rr * np.cos(t), aspect * rr * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.column_stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y])


def random_annotation(rng, shape, *, aspect=1.0, angle=0.0, sinks=0):
    h, w = shape
    centre = (w * rng.uniform(0.4, 0.6), h * rng.uniform(0.4, 0.6))
    size = min(h, w)
    tiers = {}
    for tier, frac, n in (("high", 0.12, 8), ("medium", 0.22, 10), ("low", 0.32, 7)):
        pts = ring(rng, centre, frac * size, n, aspect=aspect, angle=angle)
        tiers[tier] = np.clip(pts, -0.5, [w - 0.5, h - 0.5])
    if sinks:
        tiers["sinks"] = np.array([centre]) + rng.normal(0, 0.03 * size, (sinks, 2))
    return Annotation(shape, **tiers)


def scipy_map(ann, *, lam=100, betas=(1.0, 0.5, 0.1), bandwidth=0.1):
    """The straightforward reference: scipy's weighted gaussian_kde at every pixel, then Eq. 7."""
    h, w = ann.shape
    gx, gy = mesh_grid(ann.shape, lam=lam)
    weights = scipy_weights(ann, lam=lam, betas=betas)
    gxx, gyy = np.meshgrid(gx, gy)
    keep = weights.ravel() > 0  # zero weights contribute nothing (FACTS: same map to 1e-14)
    kde = gaussian_kde(
        np.vstack([gxx.ravel()[keep], gyy.ravel()[keep]]), weights=weights.ravel()[keep], bw_method=bandwidth
    )
    px, py = np.meshgrid(np.arange(w), np.arange(h))
    f = kde(np.vstack([px.ravel(), py.ravel()])).reshape(h, w)
    return (f - f.min()) / (f.max() - f.min()), weights


def scipy_weights(ann, *, lam, betas):
    """Eq. 5 with scipy's Delaunay.find_simplex as the independent membership test."""
    gx, gy = mesh_grid(ann.shape, lam=lam)
    gxx, gyy = np.meshgrid(gx, gy)
    pts = np.column_stack([gxx.ravel(), gyy.ravel()])
    w = np.zeros(len(pts))
    done = np.zeros(len(pts), bool)
    for tier, beta in zip(("high", "medium", "low"), betas, strict=True):
        inside = Delaunay(ann.points(tier)).find_simplex(pts) >= 0
        w[inside & ~done] = beta
        done |= inside
    return w.reshape(gxx.shape)


# ------------------------------------------------------------------------------------------
def test_mesh_grid_is_the_papers_formula():
    gx, gy = mesh_grid((30, 50), lam=7)
    assert np.allclose(gx, [k * 50 / 7 for k in range(8)], rtol=0, atol=1e-12)
    assert np.allclose(gy, [k * 30 / 7 for k in range(8)], rtol=0, atol=1e-12)
    assert gx[-1] == 50 and gy[-1] == 30


@pytest.mark.parametrize("seed, shape, lam", [(0, (64, 96), 100), (1, (120, 80), 60), (2, (50, 50), 33)])
def test_grid_weights_match_scipy_delaunay(seed, shape, lam):
    ann = random_annotation(np.random.default_rng(seed), shape)
    betas = (1.0, 0.4, 0.15)
    assert np.array_equal(grid_weights(ann, lam=lam, betas=betas), scipy_weights(ann, lam=lam, betas=betas))


def test_region_boundary_is_inclusive():
    # a grid point on a hull vertex and on a hull edge both count as inside
    ann = Annotation((10, 10), high=[(0.0, 0.0), (4.0, 0.0), (0.0, 4.0)])
    w = grid_weights(ann, lam=10)  # grid spacing 1 px
    assert w[0, 0] == 1.0 and w[0, 4] == 1.0 and w[4, 0] == 1.0  # vertices
    assert w[2, 2] == 1.0  # on the hypotenuse x + y = 4
    assert w[3, 2] == 0.0 and w[0, 5] == 0.0


@pytest.mark.parametrize(
    "seed, shape, lam, bandwidth",
    [
        (10, (48, 64), 100, 0.1),
        (11, (70, 45), 100, 0.1),
        (12, (33, 81), 40, 0.25),
        (13, (64, 64), 100, "scott"),
        (14, (56, 40), 80, "silverman"),
        (15, (90, 60), 25, 0.6),
    ],
)
def test_confidence_map_equals_scipy_gaussian_kde(seed, shape, lam, bandwidth):
    ann = random_annotation(np.random.default_rng(seed), shape)
    ref, _ = scipy_map(ann, lam=lam, bandwidth=bandwidth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)
        got = confidence_map(ann, lam=lam, bandwidth=bandwidth)
    assert got.shape == shape
    assert np.max(np.abs(got.values - ref)) <= 1e-9


@pytest.mark.parametrize("angle", [0.6, 0.785, 2.3])
def test_strongly_correlated_kernel_equals_scipy(angle):
    # an elongated tumour at an angle: |rho| is large, the sheared direct sum is used
    ann = random_annotation(np.random.default_rng(5), (60, 70), aspect=0.25, angle=angle)
    gx, gy = mesh_grid(ann.shape, lam=100)
    cov, _ = kde_covariance(grid_weights(ann), (gx, gy))
    rho = cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])
    assert abs(rho) > 0.6
    ref, _ = scipy_map(ann)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)
        got = confidence_map(ann)
    assert np.max(np.abs(got.values - ref)) <= 1e-9


@pytest.mark.parametrize("rho", [0.0, 0.3, -0.55, 0.7, -0.9])
def test_series_and_direct_sum_agree_with_brute_force(rho):
    rng = np.random.default_rng(int(abs(rho) * 100))
    gx, gy = mesh_grid((40, 50), lam=20)
    w = np.zeros((21, 21))
    w[4:15, 6:18] = rng.uniform(0.1, 1.0, (11, 12))
    sx, sy = 3.0, 2.2
    cov = np.array([[sx * sx, rho * sx * sy], [rho * sx * sy, sy * sy]])
    # brute force: every grid point, every pixel
    gxx, gyy = np.meshgrid(gx, gy)
    px, py = np.meshgrid(np.arange(50.0), np.arange(40.0))
    d = np.stack([px.ravel()[:, None] - gxx.ravel()[None], py.ravel()[:, None] - gyy.ravel()[None]], -1)
    inv = np.linalg.inv(cov)
    q = np.einsum("pgi,ij,pgj->pg", d, inv, d)
    brute = (np.exp(-0.5 * q) @ (w.ravel() / w.sum())).reshape(40, 50) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))
    u = _fastkde.mehler(w / w.sum(), gx, gy, np.arange(50.0), np.arange(40.0), sx, sy, rho, 200 if rho else 1)
    v = _fastkde.sheared_sum(w / w.sum(), gx, gy, np.arange(50.0), np.arange(40.0), cov)
    assert np.max(np.abs(v - brute)) <= 1e-12 * brute.max()
    if abs(rho) <= 0.7:
        assert np.max(np.abs(u - brute)) <= 1e-12 * brute.max()
    fast = weighted_kde(w, (gx, gy), (40, 50), cov=cov)
    assert np.max(np.abs(fast - brute)) <= 1e-12 * brute.max()


def brute_density(w, gx, gy, shape, cov):
    gxx, gyy = np.meshgrid(gx, gy)
    h, wd = shape
    px, py = np.meshgrid(np.arange(float(wd)), np.arange(float(h)))
    d = np.stack([px.ravel()[:, None] - gxx.ravel()[None], py.ravel()[:, None] - gyy.ravel()[None]], -1)
    q = np.einsum("pgi,ij,pgj->pg", d, np.linalg.inv(cov), d)
    dens = np.exp(-0.5 * q) @ (w.ravel() / w.sum())
    return dens.reshape(h, wd) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))


@pytest.mark.parametrize("shape, lam", [((40, 40), 20), ((30, 60), 20), ((60, 30), 15), ((36, 48), 12)])
@pytest.mark.parametrize("rho", [0.85, -0.8, 0.4])
@pytest.mark.parametrize("plan", ["auto", "mehler", "mehler_y", "direct"])
def test_every_evaluation_plan_equals_brute_force(shape, lam, rho, plan, monkeypatch):
    rng = np.random.default_rng(7)
    gx, gy = mesh_grid(shape, lam=lam)
    w = np.zeros((lam + 1, lam + 1))
    w[3 : lam - 3, 2 : lam - 4] = rng.uniform(0.1, 1.0, (lam - 6, lam - 6))
    sx, sy = 3.5, 2.5
    cov = np.array([[sx * sx, rho * sx * sy], [rho * sx * sy, sy * sy]])
    if plan != "auto":
        h_ratio = (gy[1] - gy[0]) / (gx[1] - gx[0]) if plan == "mehler" else (gx[1] - gx[0]) / (gy[1] - gy[0])
        shears = [c for c in range(-4, 5) if abs(c * h_ratio - round(c * h_ratio)) < 1e-9 and (c or plan == "mehler")]
        if plan == "direct":
            choice = _fastkde.Plan("direct")
        else:
            c = shears[-1]
            choice = _fastkde.Plan(plan, c, int(round(c * h_ratio)))
        monkeypatch.setattr(_fastkde, "choose_plan", lambda *a, **k: choice)
    fast = weighted_kde(w, (gx, gy), shape, cov=cov)
    ref = brute_density(w, gx, gy, shape, cov)
    assert np.max(np.abs(fast - ref)) <= 1e-11 * ref.max()


def test_correlated_wide_region_uses_a_shear_not_a_slow_sum():
    # a tier stretched across the image (a misclick far away): strongly correlated kernel
    gx, gy = mesh_grid((256, 256), lam=100)
    cov = np.array([[10.8, 7.5], [7.5, 8.5]])  # rho = 0.78
    plan = _fastkde.choose_plan((101, 101), gx, gy, np.arange(256.0), np.arange(256.0), cov)
    assert plan.kind.startswith("mehler") and plan.shear != 0


def test_isotropic_kernel_is_eq6_brute_force():
    ann = random_annotation(np.random.default_rng(21), (45, 60))
    lam, bw = 50, 0.15
    got = confidence_map(ann, lam=lam, bandwidth=bw, kernel="isotropic")
    gx, gy = mesh_grid(ann.shape, lam=lam)
    w = grid_weights(ann, lam=lam)
    # sigma = bw * s, s^2 = mean of the weighted (unbiased) variances -- written out by hand
    gxx, gyy = np.meshgrid(gx, gy)
    wn = w.ravel() / w.sum()
    xs, ys = gxx.ravel(), gyy.ravel()
    var_x = np.sum(wn * (xs - np.sum(wn * xs)) ** 2) / (1 - np.sum(wn**2))
    var_y = np.sum(wn * (ys - np.sum(wn * ys)) ** 2) / (1 - np.sum(wn**2))
    sigma = bw * math.sqrt((var_x + var_y) / 2)
    f = np.zeros(ann.shape)
    for i in np.flatnonzero(wn):  # Eq. 6, one grid point at a time
        f += wn[i] * np.exp(
            -0.5 * ((np.arange(60)[None, :] - xs[i]) ** 2 + (np.arange(45)[:, None] - ys[i]) ** 2) / sigma**2
        )
    f /= 2 * np.pi * sigma**2
    ref = (f - f.min()) / (f.max() - f.min())
    assert np.max(np.abs(got.values - ref)) <= 1e-9
    assert got.attrs["kernel_cov"][1] == 0.0
    assert math.isclose(math.sqrt(got.attrs["kernel_cov"][0]), sigma, rel_tol=1e-12)


def test_dataarray_layout_and_attrs():
    ann = random_annotation(np.random.default_rng(3), (40, 52)).replace(image_id="c1", spacing=(0.2, 0.25))
    cm = confidence_map(ann, lam=60, betas=(1, 0.6, 0.2), bandwidth=0.2)
    assert cm.dims == ("y", "x") and cm.shape == (40, 52)
    assert cm.x.values.tolist() == list(range(52)) and cm.y.values.tolist() == list(range(40))
    assert np.allclose(cm.x_mm.values, np.arange(52) * 0.25)
    assert float(cm.min()) == 0.0 and float(cm.max()) == 1.0
    assert cm.attrs["lam"] == 60 and cm.attrs["betas"] == [1.0, 0.6, 0.2] and cm.attrs["bandwidth"] == 0.2
    assert cm.attrs["tiers_with_region"] == ["high", "medium", "low"] and cm.attrs["image_id"] == "c1"
    sxx, sxy, syy = cm.attrs["kernel_cov"]
    assert cm.attrs["ripple"] == lattice_ripple(np.array([[sxx, sxy], [sxy, syy]]), (52 / 60, 40 / 60))


def test_weighted_kde_is_zero_far_from_the_region_and_cost_follows_the_annotation(monkeypatch):
    """Work = kernel evaluations (evaluated pixels x weighted-crop grid points), counted, not timed:
    the same annotation at the same grid spacing costs the same on a 16x larger image."""
    work = []
    kde_crop = _fastkde._kde_crop

    def counting(wc, gxc, gyc, px, py, cov):
        work.append(wc.size * px.size * py.size)
        return kde_crop(wc, gxc, gyc, px, py, cov)

    monkeypatch.setattr(_fastkde, "_kde_crop", counting)
    high = [(10, 10), (30, 12), (20, 30)]
    small = confidence_map(Annotation((400, 400), high=high), lam=100, ripple_warn=None)
    big = confidence_map(Annotation((1600, 1600), high=high), lam=400, ripple_warn=None)  # same 4 px spacing
    assert len(work) == 2 and work[0] == work[1] > 0
    # ... and a tiny fraction of the straightforward pixels x grid points
    assert work[1] < 1e-5 * 1600**2 * 401**2
    np.testing.assert_array_equal(big.values[:400, :400], small.values)
    sigma = math.sqrt(max(small.attrs["kernel_cov"][0], small.attrs["kernel_cov"][2]))
    assert np.all(small.values[:, int(31 + 9 * sigma) + 2 :] == 0.0)
    assert not big.values[400:].any() and not big.values[:, 400:].any()


# ------------------------------------------------------------------------------------------
# Ripple of a narrow kernel
def test_lattice_ripple_prediction_matches_measurement():
    # a large uniformly weighted region, a kernel narrower than the grid spacing
    h = w = 200
    ann = Annotation((h, w), high=[(20, 20), (180, 20), (180, 180), (20, 180)])
    lam = 20  # spacing 10 px
    gx, gy = mesh_grid((h, w), lam=lam)
    weights = grid_weights(ann, lam=lam)
    for sigma in (3.0, 4.0, 5.0):
        cov = np.eye(2) * sigma**2
        dens = weighted_kde(weights, (gx, gy), (h, w), cov=cov)
        inner = dens[80:121, 80:121]
        measured = (inner.max() - inner.min()) / inner.max()
        predicted = lattice_ripple(cov, (w / lam, h / lam))
        assert measured == pytest.approx(predicted, rel=1e-6)
        assert 0 < predicted < 1


@pytest.mark.parametrize("rho", [0.0, 0.4, -0.6])
@pytest.mark.parametrize("sigma", [3.0, 4.5, 6.0])
def test_lattice_ripple_prediction_matches_measurement_correlated_non_square(rho, sigma):
    """A correlated kernel on a non-square grid (16 x 10 px cells): prediction = measurement."""
    h, w, lam = 200, 320, 20
    ann = Annotation((h, w), high=[(10, 10), (w - 10, 10), (w - 10, h - 10), (10, h - 10)])
    gx, gy = mesh_grid((h, w), lam=lam)
    weights = grid_weights(ann, lam=lam)
    sx, sy = sigma * 1.3, sigma
    cov = np.array([[sx * sx, rho * sx * sy], [rho * sx * sy, sy * sy]])
    dens = weighted_kde(weights, (gx, gy), (h, w), cov=cov)
    inner = dens[80:121, 128:193]  # >= 9 sigma from the region's edge: the infinite-lattice sum
    measured = (inner.max() - inner.min()) / inner.max()
    predicted = lattice_ripple(cov, (w / lam, h / lam))
    # The prediction samples 13 x 13 points of a cell, the pixels 16 x 10: equal to rounding when the
    # extremes lie on the cell's symmetry points, within 1 % (measured 0.45 % at rho = 0.4) otherwise.
    assert measured == pytest.approx(predicted, rel=1e-6 if rho != 0.4 or sigma > 5 else 1e-2)
    assert 1e-4 < predicted < 1


def test_ripple_warning_names_the_remedy_and_the_remedy_works():
    ann = Annotation((600, 600), high=[(200, 200), (420, 210), (400, 420), (210, 400)])
    with pytest.warns(RippleWarning, match=r"use lam >= (\d+)") as rec:
        cm = confidence_map(ann, lam=30)
    assert cm.attrs["ripple"] > 0.01
    need = int(__import__("re").search(r"lam >= (\d+)", str(rec[0].message)).group(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        better = confidence_map(ann, lam=need)
    assert better.attrs["ripple"] <= 0.01
    assert confidence_map(ann, lam=30, ripple_warn=None).attrs["ripple"] == cm.attrs["ripple"]


# ------------------------------------------------------------------------------------------
# Degenerate and invalid input
def test_tier_with_too_few_points_warns_and_is_ignored():
    high = [(20, 20), (40, 22), (30, 40)]
    ann = Annotation((60, 60), high=high, medium=[(5, 5), (55, 5)])
    with pytest.warns(NoRegionWarning, match=r"medium: 2 distinct points, 3 needed"):
        cm = confidence_map(ann)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = confidence_map(Annotation((60, 60), high=high))
    assert np.array_equal(cm.values, ref.values)
    assert cm.attrs["tiers_with_region"] == ["high"]


def test_collinear_and_duplicate_points():
    with pytest.warns(NoRegionWarning, match="low: points are collinear"):
        confidence_map(Annotation((50, 50), high=[(10, 10), (30, 12), (20, 30)], low=[(1, 1), (2, 2), (3, 3), (4, 4)]))
    dup = Annotation((50, 50), high=[(10, 10), (10, 10), (30, 12), (30, 12), (20, 30)])
    assert make_region(dup.high).ok
    assert np.array_equal(
        confidence_map(dup).values, confidence_map(dup.replace(high=[(10, 10), (30, 12), (20, 30)])).values
    )


def test_no_region_gives_all_zero_map_with_warning():
    with pytest.warns(NoRegionWarning, match="all zeros"):
        cm = confidence_map(Annotation((30, 40)))
    assert cm.shape == (30, 40) and not np.any(cm.values) and not np.isnan(cm.values).any()
    with pytest.warns(NoRegionWarning):
        cm = confidence_map(Annotation((30, 40), high=[(1, 1), (5, 1), (3, 4)]), betas=(0, 0, 0))
    assert not np.any(cm.values)


def test_tiny_region_with_one_grid_point_is_finite():
    # the triangle holds exactly one grid point: the weighted covariance is singular
    ann = Annotation((100, 100), high=[(9.0, 9.0), (11.5, 9.2), (10.2, 11.4)])
    with pytest.warns(NoRegionWarning, match="single point"):
        cm = confidence_map(ann, lam=10, ripple_warn=None)
    assert np.isfinite(cm.values).all() and cm.values.max() == 1.0
    assert np.unravel_index(np.argmax(cm.values), cm.shape) == (10, 10)


def test_sliver_region_on_one_grid_row_is_finite():
    ann = Annotation((100, 100), high=[(5.0, 19.5), (80.0, 19.6), (40.0, 20.4)])
    with pytest.warns(NoRegionWarning, match="collinear"):
        cm = confidence_map(ann, lam=10, ripple_warn=None)
    assert np.isfinite(cm.values).all() and cm.values.max() == 1.0


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"lam": 0}, ValueError, r"`lam` must be >= 1, got 0"),
        ({"lam": 2.5}, TypeError, r"`lam` must be an integer, got 2.5"),
        ({"betas": (1, 0.5)}, ValueError, r"`betas` must be three numbers"),
        ({"betas": (1, -0.5, 0)}, ValueError, r"`betas\[1\] \(beta_M\)` must be >= 0.0, got -0.5"),
        ({"betas": (1, np.nan, 0)}, ValueError, r"`betas\[1\] \(beta_M\)` must be finite"),
        ({"bandwidth": 0}, ValueError, r"`bandwidth` must be > 0.0, got 0.0"),
        ({"bandwidth": "wide"}, ValueError, r"`bandwidth` must be one of 'scott', 'silverman', got 'wide'"),
        ({"kernel": "box"}, ValueError, r"`kernel` must be one of 'full', 'isotropic'"),
        ({"region": "concave"}, ValueError, r"`region` must be one of 'convex', 'alpha'"),
        ({"region": "alpha", "alpha": -1}, ValueError, r"`alpha` must be >= 0.0, got -1.0"),
        ({"sink_radius": 0}, ValueError, r"`sink_radius` must be > 0.0"),
    ],
)
def test_invalid_parameters(kwargs, exc, match):
    ann = Annotation((20, 20), high=[(2, 2), (10, 3), (6, 12)])
    with pytest.raises(exc, match=match):
        confidence_map(ann, **kwargs)


def test_annotation_type_is_checked():
    with pytest.raises(TypeError, match=r"`annotation` must be a confmap.Annotation, got array"):
        confidence_map(np.zeros((3, 2)))


# ------------------------------------------------------------------------------------------
# Beyond the paper: sinks and alpha regions
def test_sink_inside_high_region_drops_map_to_zero():
    ann = Annotation((120, 120), high=[(30, 30), (90, 32), (92, 90), (28, 88)])
    plain = confidence_map(ann)
    assert plain.values[60, 60] > 0.9
    sunk = confidence_map(ann.replace(sinks=[(60, 60)]))
    assert sunk.values[60, 60] == 0.0
    r = sunk.attrs["sink_radius"]
    assert r == pytest.approx(2 * 120 / 100)
    # off-pixel sink: the nearest pixel is near zero
    off = confidence_map(ann.replace(sinks=[(60.4, 59.7)]))
    assert off.values[60, 60] < 0.1
    # far from the sink the map is (nearly) unchanged
    far = np.hypot(*np.meshgrid(np.arange(120) - 60, np.arange(120) - 60)) > 6 * r
    assert np.max(np.abs(sunk.values - plain.values)[far]) < 0.05
    # the sink removes grid weight around it
    w = grid_weights(ann.replace(sinks=[(60, 60)]))
    gx, gy = mesh_grid(ann.shape)
    d = np.hypot(*np.meshgrid(gx - 60, gy - 60))
    assert np.all(w[d <= r] == 0) and np.all(w[(d > r) & (d < 20)] == 1)


def c_shape(n=40):
    # points along the outline of a "C" opening to the right
    t = np.linspace(0.35 * np.pi, 1.65 * np.pi, n)
    outer = np.column_stack([50 + 35 * np.cos(t), 50 + 35 * np.sin(t)])
    inner = np.column_stack([50 + 18 * np.cos(t[::-1]), 50 + 18 * np.sin(t[::-1])])
    return np.vstack([outer, inner])


def test_alpha_region_carves_concavity_but_keeps_outline_interior():
    pts = c_shape()
    convex = make_region(pts, region="convex")
    carved = make_region(pts, region="alpha", alpha=5.0)
    mouth = np.array([[62.0, 50.0], [50.0, 50.0]])  # inside the opening / the C's centre
    body = np.array([[50.0 - 26.0, 50.0]])  # in the C's wall
    assert convex.contains(mouth).all()
    assert not carved.contains(mouth).any()
    assert carved.contains(body).all()
    assert carved.area < 0.8 * convex.area
    # an outline of a convex blob never hollows out: alpha == convex
    t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    circle = np.column_stack([50 + 30 * np.cos(t), 50 + 30 * np.sin(t)])
    assert make_region(circle, region="alpha").area == pytest.approx(make_region(circle).area)
    assert make_region(pts, region="alpha", alpha=math.inf).area == pytest.approx(convex.area)
    # every annotated point stays on the region
    assert carved.contains(pts).all()


def test_alpha_region_in_confidence_map():
    ann = Annotation((100, 100), high=c_shape())
    convex = confidence_map(ann)
    carved = confidence_map(ann, region="alpha", alpha=5.0)
    assert carved.values[50, 62] < 0.2 < convex.values[50, 62]
    assert carved.attrs["region"] == "alpha" and carved.attrs["alpha"] == 5.0


def test_tier_regions_report_reasons():
    ann = Annotation((50, 50), high=[(10, 10), (30, 12), (20, 30)], medium=[(5, 5)])
    regions = tier_regions(ann)
    assert regions["high"].ok and regions["high"].reason == ""
    assert regions["medium"].reason == "medium: 1 distinct point, 3 needed"
    assert regions["low"].reason == "low: 0 distinct points, 3 needed"
    assert regions["high"].triangles.shape == (1, 3, 2)
    assert regions["high"].area == pytest.approx(0.5 * abs(20 * 20 - 2 * 10))


# ------------------------------------------------------------------------------------------
def test_confidence_maps_builds_a_dataset():
    rng = np.random.default_rng(8)
    anns = [random_annotation(rng, (40, 48)).replace(image_id=f"c{i}") for i in range(3)]
    ds = confidence_maps(anns, lam=50, ripple_warn=None)
    assert ds.confidence.dims == ("image", "y", "x") and ds.confidence.shape == (3, 40, 48)
    assert ds.image_id.values.tolist() == ["c0", "c1", "c2"]
    for i, a in enumerate(anns):
        assert np.array_equal(ds.confidence[i].values, confidence_map(a, lam=50, ripple_warn=None).values)
    assert ds.attrs["lam"] == 50
    with pytest.raises(ValueError, match="same image shape"):
        confidence_maps([anns[0], Annotation((10, 10))])
    with pytest.raises(ValueError, match="at least one"):
        confidence_maps([])
    with pytest.raises(TypeError, match=r"`annotations\[1\]` must be a confmap.Annotation"):
        confidence_maps([anns[0], "x"])


def test_import_confmap_stays_light():
    import subprocess
    import sys

    heavy = "('torch', 'ipywidgets', 'ipympl', 'matplotlib.pyplot')"
    code = f"import sys, confmap; bad = [m for m in {heavy} if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert confmap.__version__


# ---------------------------------------------------------------------------------------------
# limits: memory estimated before allocating; an all-zero map says why
# ---------------------------------------------------------------------------------------------
TRI = [(30, 20), (50, 22), (40, 40)]


@pytest.mark.parametrize(
    ("shape", "kwargs", "name"),
    [
        ((200_000, 200_000), {}, "annotation.shape"),  # 298 GiB in numpy before
        ((60, 80), {"lam": 1_000_000}, "lam"),  # 7.28 TiB in numpy before
    ],
)
def test_map_beyond_the_memory_limit_is_refused_before_allocating(shape, kwargs, name, monkeypatch):
    monkeypatch.delenv("CONFMAP_MAX_MEMORY", raising=False)
    ann = Annotation(shape, high=TRI)
    need = 8.0 * (3 * shape[0] * shape[1] + 6 * (kwargs.get("lam", 100) + 1) ** 2)
    with pytest.raises(ValueError, match=rf"`{re.escape(name)}` = .*Reduce `{re.escape(name)}`") as info:
        confidence_map(ann, **kwargs)
    msg = str(info.value)
    assert confmap._validation.format_bytes(need) in msg  # the estimate
    assert "half the physical memory" in msg  # where the limit came from
    assert confmap._validation.format_bytes(confmap._validation.physical_memory() / 2) in msg  # the limit


@pytest.mark.filterwarnings("ignore::confmap.RippleWarning")
def test_memory_limit_is_overridable_by_argument_and_environment(monkeypatch):
    ann = Annotation((60, 80), high=TRI)
    need = 8.0 * (3 * 60 * 80 + 6 * 101**2)
    assert confidence_map(ann, max_memory=need).max() == 1.0  # at the limit: allowed
    with pytest.raises(ValueError, match=r"more than the limit of .*\(`max_memory`\)"):
        confidence_map(ann, max_memory=need - 1)
    monkeypatch.setenv("CONFMAP_MAX_MEMORY", str(need - 1))
    with pytest.raises(ValueError, match=r"\(CONFMAP_MAX_MEMORY\)"):
        confidence_map(ann)
    assert confidence_map(ann, max_memory=need).max() == 1.0  # the argument wins over the environment
    monkeypatch.setenv("CONFMAP_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="CONFMAP_MAX_MEMORY must be a number of bytes, got 'lots'"):
        confidence_map(ann)
    with pytest.raises(ValueError, match="`max_memory` must be > 0"):
        confidence_map(ann, max_memory=0)


@pytest.mark.filterwarnings("ignore::confmap.RippleWarning")
def test_batch_beyond_the_memory_limit_is_refused_before_any_map():
    anns = [Annotation((60, 80), high=TRI)] * 1000
    one = 8.0 * (3 * 60 * 80 + 6 * 101**2)
    with pytest.raises(ValueError, match=r"a batch of 1000 confidence maps .*`annotations` = '1000 annotations"):
        confidence_maps(anns, max_memory=one * 2)  # each map alone would fit
    assert confidence_maps(anns[:2], max_memory=one * 2).confidence.shape == (2, 60, 80)


def test_estimate_is_not_below_the_measured_peak_by_much():
    """The estimate is within a factor 3 of tracemalloc's peak (numpy reports its allocations)."""
    import tracemalloc

    ann = random_annotation(np.random.default_rng(1), (300, 400), sinks=2)
    est = sum(confmap._validation.map_memory_bytes((300, 400), 200).values())
    with warnings.catch_warnings():  # warm up: the first map imports modules lazily (traced as peak),
        warnings.simplefilter("ignore", confmap.ConfmapWarning)  # other points, so no cache is reused
        confidence_map(random_annotation(np.random.default_rng(2), (30, 40), sinks=2), lam=20)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", confmap.ConfmapWarning)
        confidence_map(ann, lam=200)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak / 3 < est < peak * 3


@pytest.mark.parametrize("shape", [(61, 83), (512, 512)])
def test_vanishing_bandwidth_says_the_map_is_all_zero_and_why(shape):
    ann = Annotation(shape, high=TRI, medium=[(20, 10), (60, 12), (62, 50), (18, 48)])
    with pytest.warns(confmap.ConfmapWarning, match=r"the map is all zeros .*numerically 0.*larger bandwidth"):
        cm = confidence_map(ann, bandwidth=1e-12, ripple_warn=None)
    assert not cm.values.any()


def test_density_below_the_resolution_is_all_zero_in_both_orientations():
    # found by the transpose property: a sub-pixel kernel between pixel centres left e^-98-sized values in
    # one orientation (a direct sum) and exact zeros in the other (Hermite reach), and Eq. 7 blew the
    # first up to 1; below RESOLUTION x the kernel's peak the density is rounding noise
    low = [(0.55, -0.14), (1.46, 1.79), (-0.49, 2.59)]  # one orientation gave all 0, the other a 1
    ann = Annotation((4, 2), low=low)
    kw = {"lam": 7, "betas": (0.0, 0.0, 0.1), "bandwidth": 0.015625, "ripple_warn": None}
    t = Annotation((2, 4), low=[(y, x) for x, y in low])
    with pytest.warns(confmap.ConfmapWarning, match="numerically 0"):
        a = confidence_map(ann, **kw).values
    with pytest.warns(confmap.ConfmapWarning, match="numerically 0"):
        b = confidence_map(t, **kw).values
    assert not a.any() and not b.any()


def test_normalise_floor():
    cov = np.array([[4.0, 1.0], [1.0, 3.0]])
    floor = confmap.construct.density_floor(cov)
    assert floor == pytest.approx(confmap.construct.RESOLUTION / (2 * np.pi * np.sqrt(11.0)), rel=1e-12)
    d = np.array([[0.0, floor / 2], [floor / 4, 0.0]])
    assert not confmap.normalise(d, floor=floor).any()
    np.testing.assert_allclose(confmap.normalise(d * 4, floor=floor), d * 4 / (2 * floor))


# ---------------------------------------------------------------------------------------------
# sinks against a brute force; the covariance floor against np.cov
# ---------------------------------------------------------------------------------------------
def _sink_factor(shape, sinks, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    fac = np.ones(shape)
    for sx, sy in sinks:
        fac *= 1.0 - np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * (r / 3) ** 2))
    return fac


def test_sinks_equal_brute_force_density_times_suppression():
    ann = Annotation(
        (120, 120), high=[(30, 30), (90, 32), (92, 90), (28, 88)], medium=[(10, 12), (110, 8), (112, 110), (8, 108)]
    )
    ann = ann.replace(sinks=[(60, 60), (45.3, 70.6), (95.5, 40.2)])
    cm = confidence_map(ann, bandwidth=0.15)
    r = cm.attrs["sink_radius"]
    gx, gy = mesh_grid(ann.shape)
    w = grid_weights(ann)
    px, py = np.meshgrid(gx, gy)
    keep = w > 0
    kde = gaussian_kde(np.vstack([px[keep], py[keep]]), weights=w[keep], bw_method=0.15)
    sxx, sxy, syy = cm.attrs["kernel_cov"]
    np.testing.assert_allclose(kde.covariance, [[sxx, sxy], [sxy, syy]], rtol=1e-12)
    yy, xx = np.mgrid[:120, :120]
    dens = kde(np.vstack([xx.ravel(), yy.ravel()])).reshape(120, 120) * _sink_factor(ann.shape, ann.sinks, r)
    ref = (dens - dens.min()) / (dens.max() - dens.min())
    assert np.max(np.abs(cm.values - ref)) <= 1e-9


def test_sink_factor_beyond_r_is_at_least_0_9889():
    """A sink outside every region removes no grid weight: the map changes by the factor alone."""
    ann = Annotation((200, 200), high=[(60, 60), (140, 60), (140, 140), (60, 140)])
    plain = confidence_map(ann, ripple_warn=None)
    sunk = confidence_map(ann.replace(sinks=[(150.0, 100.0)]), ripple_warn=None)
    r = sunk.attrs["sink_radius"]
    np.testing.assert_array_equal(grid_weights(ann), grid_weights(ann.replace(sinks=[(150.0, 100.0)])))
    fac = _sink_factor(ann.shape, [(150.0, 100.0)], r)
    seen = plain.values > 1e-6
    np.testing.assert_allclose(sunk.values[seen], (plain.values * fac)[seen], rtol=1e-9, atol=1e-15)
    yy, xx = np.mgrid[:200, :200]
    beyond = np.hypot(xx - 150.0, yy - 100.0) >= r
    ratio = sunk.values[seen & beyond] / plain.values[seen & beyond]
    assert ratio.min() >= 1 - math.exp(-4.5) - 1e-12
    assert ratio.min() < 0.99  # pixels just beyond r are suppressed by about 1 %
    assert sunk.values[100, 150] == 0.0


def test_covariance_floor_is_one_grid_cell_h2_over_12():
    shape, lam = (100, 150), 10  # grid spacing 15 px along x, 10 px along y: h = 10
    gx, gy = mesh_grid(shape, lam=lam)
    floor = 10.0**2 / 12
    single = np.zeros((lam + 1, lam + 1))
    single[4, 6] = 1.0
    with pytest.warns(NoRegionWarning, match="single point"):
        cov, factor = kde_covariance(single, (gx, gy), bandwidth=0.5)
    np.testing.assert_allclose(cov, 0.25 * floor * np.eye(2), rtol=1e-15)
    for cells in ([(3, k) for k in range(2, 8)], [(k, k) for k in range(1, 9)]):  # a row, a diagonal
        w = np.zeros((lam + 1, lam + 1))
        for lv, kv in cells:
            w[lv, kv] = 1.0 + 0.1 * kv
        with pytest.warns(NoRegionWarning, match="collinear"):
            cov, _ = kde_covariance(w, (gx, gy), bandwidth=0.5)
        pts = np.array([[gx[kv], gy[lv]] for lv, kv in cells]).T
        data_cov = np.cov(pts, aweights=[w[lv, kv] for lv, kv in cells])  # the oracle, singular
        evals, evecs = np.linalg.eigh(data_cov)
        assert evals[0] < 1e-9 * evals[1]
        expected = 0.25 * (evecs * np.maximum(evals, floor)) @ evecs.T
        np.testing.assert_allclose(cov, expected, rtol=1e-12, atol=1e-12)
        assert np.linalg.eigvalsh(cov)[0] == pytest.approx(0.25 * floor, rel=1e-12)


def test_regions_are_reused_for_the_same_points_and_never_shared_mutably():
    # an annotator redraws after every click: unchanged tiers reuse their region and grid mask
    ann = random_annotation(np.random.default_rng(11), (80, 90))
    first, again = tier_regions(ann), tier_regions(ann.replace(low=ann.points("low")[::-1]))
    assert first["high"] is again["high"] and first["medium"] is again["medium"]
    assert first["low"] is not again["low"]  # other points (order matters to the triangulation)
    assert not first["high"].triangles.flags.writeable
    gx, gy = mesh_grid(ann.shape, lam=40)
    mask = first["high"].grid_mask(gx, gy)
    mask[:] = False  # the caller's copy: the region's own is untouched
    assert first["high"].grid_mask(gx, gy).any()
    np.testing.assert_array_equal(grid_weights(ann, lam=40), scipy_weights(ann, lam=40, betas=(1.0, 0.5, 0.1)))


def test_map_coordinates_are_not_shared_between_maps():
    ann = random_annotation(np.random.default_rng(12), (30, 40)).replace(spacing=(0.5, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)
        a = confidence_map(ann, lam=30)
        a.x_mm.values[0] = 99.0
        a.x.attrs["units"] = "changed"
        b = confidence_map(ann, lam=30)
    assert b.x_mm.values[0] == 0.0 and b.x.attrs["units"] == "pixel" and not np.shares_memory(a.values, b.values)


def test_reused_scratch_buffers_never_leak_between_maps():
    """mehler keeps its intermediates in per-thread buffers: maps of other sizes, computed in
    between or at the same time in other threads, must not change a map by a single bit."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)

    def annotation(size, r):
        c = size / 2
        ring = lambda f, n: c + f * r * np.column_stack([np.cos(t := rng.uniform(0, 6.3, n)), np.sin(t)])  # noqa: E731
        return Annotation((size, size), high=ring(0.4, 8), medium=ring(0.7, 9), low=ring(1.0, 7))

    anns = [annotation(96, 30), annotation(200, 80), annotation(64, 12), annotation(160, 40)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", confmap.RippleWarning)
        first = []
        for a in anns:  # the reference: each map with new buffers
            _fastkde._SCRATCH.__dict__.clear()
            first.append(confidence_map(a, lam=60).values)
        again = [confidence_map(a, lam=60).values for a in anns[::-1]][::-1]
        with ThreadPoolExecutor(4) as pool:
            threaded = list(pool.map(lambda a: confidence_map(a, lam=60).values, anns * 3))
    for i, ref in enumerate(first):
        assert np.array_equal(again[i], ref)
        for j in range(3):
            assert np.array_equal(threaded[i + 4 * j], ref)
