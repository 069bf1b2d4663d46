"""Tests of confmap.metrics: independent oracles (scikit-learn, scipy.stats), hand-worked answers,
edge cases, tolerance semantics (truncating the map's far tail changes nothing) and the plots."""

from __future__ import annotations

import hypothesis as hyp
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.stats as stats
import sklearn.metrics as sk
import xarray as xr

from confmap import ConfmapWarning
from confmap import metrics as M
from confmap.metrics import UndefinedMetricWarning

TOL = M.EIGHT_BIT_HALF_STEP


def blobs(n=5, size=40, seed=0, ties=False):
    """Small stacks: KDE-like maps with a far tail and a 4-rater Agreement."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    maps = np.empty((n, size, size))
    agree = np.empty((n, size, size))
    for i in range(n):
        cy, cx = rng.uniform(0.4, 0.6, 2) * size
        r = rng.uniform(0.15, 0.3) * size
        d = np.hypot(yy - cy, xx - cx) / r
        acc = np.zeros((size, size))
        for _ in range(4):
            acc += d * (1 + 0.1 * np.sin(3 * np.arctan2(yy - cy, xx - cx) + rng.uniform(0, 6))) < rng.uniform(0.8, 1.2)
        agree[i] = acc / 4
        m = np.exp(-0.5 * (d / rng.uniform(0.7, 1.1)) ** 2) * (1 + 0.05 * rng.random((size, size)))
        m = m / m.max()
        maps[i] = np.round(m * 20) / 20 if ties else m
    return maps, agree


# --------------------------------------------------------------------------------- agreement
def test_agreement_is_mean_of_masks_any_number_of_raters():
    rng = np.random.default_rng(1)
    masks = rng.integers(0, 2, (3, 5, 6, 7))
    np.testing.assert_array_equal(M.agreement(masks, axis=1), masks.mean(axis=1))
    np.testing.assert_array_equal(M.agreement(masks[0]), masks[0].mean(axis=0))
    da = xr.DataArray(masks.astype(np.uint8), dims=("image", "rater", "y", "x"))
    out = M.agreement(da)
    assert out.dims == ("image", "y", "x")
    np.testing.assert_array_equal(out.values, masks.mean(axis=1))


def test_agreement_paper_four_raters_known_answer():
    a = [[[1, 1, 0]], [[1, 0, 0]], [[1, 1, 0]], [[1, 0, 0]]]
    np.testing.assert_array_equal(M.agreement(a), [[1.0, 0.5, 0.0]])


@pytest.mark.parametrize(
    "masks, kwargs, match",
    [
        (np.full((2, 3, 3), 0.5), {}, "binary"),
        (np.zeros((2, 2, 3, 3)), {}, "axis"),
        (np.zeros((0, 3, 3)), {}, "at least one rater"),
        (np.zeros((2, 3, 3)), {"axis": 5}, "axis"),
    ],
)
def test_agreement_errors(masks, kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.agreement(masks, **kwargs)


# --------------------------------------------------------------------------------- Brier, Dice
def test_brier_against_sklearn_binary_and_mse_soft():
    rng = np.random.default_rng(2)
    p = rng.random((3, 20, 30))
    y = (rng.random((3, 20, 30)) > 0.6).astype(float)
    got = M.brier(p, y)
    for i in range(3):
        assert got[i] == pytest.approx(sk.brier_score_loss(y[i].ravel(), p[i].ravel()), abs=1e-14)
    soft = rng.random((20, 30))
    assert M.brier(p[0], soft) == pytest.approx(sk.mean_squared_error(soft.ravel(), p[0].ravel()), abs=1e-14)


def test_brier_foreground_is_union_region_known_answer():
    p = np.array([[0.0, 0.5, 0.0, 1e-6]])
    y = np.array([[0.0, 1.0, 0.25, 0.0]])
    # union of p > tol and y > tol: pixels 1 and 2 (pixel 3's 1e-6 is below the tolerance)
    assert M.brier(p, y, region="foreground") == pytest.approx((0.25 + 0.0625) / 2, abs=1e-15)
    assert M.brier(p, y) == pytest.approx((0.25 + 0.0625 + 1e-12) / 4, abs=1e-15)
    # exact comparison counts the tail pixel into the foreground
    assert M.brier(p, y, region="foreground", zero_tol=0) == pytest.approx((0.3125 + 1e-12) / 3, abs=1e-15)
    # a boolean region
    assert M.brier(p, y, region=np.array([[False, True, False, False]])) == pytest.approx(0.25)


def test_brier_empty_foreground_is_nan_with_warning():
    z = np.zeros((2, 4, 4))
    z[1, 0, 0] = 1.0
    with pytest.warns(UndefinedMetricWarning, match="1 image"):
        out = M.brier(z, z, region="foreground")
    assert np.isnan(out[0]) and out[1] == 0.0


def test_soft_dice_equation_9_and_orientation():
    rng = np.random.default_rng(3)
    p, y = rng.random((4, 10, 10)), rng.random((4, 10, 10))
    ref = [1 - 2 * (a * b).sum() / ((a * a).sum() + (b * b).sum()) for a, b in zip(p, y, strict=True)]
    np.testing.assert_allclose(M.soft_dice(p, y), ref, rtol=1e-14)
    assert M.soft_dice(p[0], p[0]) == pytest.approx(0.0, abs=1e-15)  # lower is better
    assert M.soft_dice([[1.0, 0.0]], [[0.0, 1.0]]) == 1.0
    assert M.soft_dice([[1.0, 0.0]], [[1.0, 1.0]]) == pytest.approx(1 - 2 / 3)


def test_soft_dice_both_empty_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="all zero"):
        assert np.isnan(M.soft_dice(np.zeros((3, 3)), np.zeros((3, 3))))
    # one empty, one not: defined and worst
    assert M.soft_dice(np.zeros((3, 3)), np.ones((3, 3))) == 1.0


# --------------------------------------------------------------------------------- input checks
@pytest.mark.parametrize(
    "pred, target, exc, match",
    [
        (np.zeros((3, 3)), np.zeros((3, 4)), ValueError, "same shape"),
        (np.full((3, 3), np.nan), np.zeros((3, 3)), ValueError, "finite"),
        (np.full((3, 3), 1.5), np.zeros((3, 3)), ValueError, r"\[0, 1\]"),
        (np.zeros((3, 3)), np.full((3, 3), -0.1), ValueError, r"\[0, 1\]"),
        (np.zeros(5), np.zeros(5), ValueError, "image"),
        (np.zeros((0, 3)), np.zeros((0, 3)), ValueError, "empty"),
        ("abc", np.zeros((3, 3)), TypeError, "array"),
    ],
)
@pytest.mark.parametrize(
    "func",
    [
        M.brier,
        M.soft_dice,
        M.roc_auc,
        M.roc_curve,
        M.joint_threshold_scores,
        M.reliability,
        M.evaluate,
    ],
)
def test_bad_input_raises(func, pred, target, exc, match):
    with pytest.raises(exc, match=match):
        func(pred, target)


def test_bad_options_raise():
    p = np.zeros((3, 3))
    with pytest.raises(ValueError, match="thresholds"):
        M.joint_threshold_scores(p, p, thresholds=[0.5, 0.25])
    with pytest.raises(ValueError, match="thresholds"):
        M.joint_threshold_scores(p, p, thresholds=[0.0, 0.5])
    with pytest.raises(ValueError, match="zero_tol"):
        M.psi(p, zero_tol=-1)
    with pytest.raises(ValueError, match="region"):
        M.brier(p, p, region="inside")
    with pytest.raises(TypeError, match="valid"):
        M.evaluate(p, p, valid=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_bins"):
        M.reliability(p, p, n_bins=0)


def test_undefined_metric_warning_is_a_confmap_warning():
    assert issubclass(UndefinedMetricWarning, ConfmapWarning)


# --------------------------------------------------------------------------------- ROC / AUC
def test_roc_auc_hand_worked():
    # scores 0.8(+) 0.4(-) 0.35(+) 0.1(-): 3 of 4 positive-negative pairs ordered -> 0.75
    assert M.roc_auc([[0.1, 0.4, 0.35, 0.8]], [[0, 0, 1, 1]], zero_tol=0, one_tol=0) == 0.75
    # a tie between a positive and a negative counts one half: pairs (0.5+,0.5-)=0.5, (0.5+,0.2-)=1
    assert M.roc_auc([[0.5, 0.5, 0.2]], [[1, 0, 0]], zero_tol=0, one_tol=0) == 0.75


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("threshold", M.DEFAULT_THRESHOLDS)
@pytest.mark.parametrize("region", [None, "foreground"])
def test_roc_matches_sklearn(ties, threshold, region):
    maps, agree = blobs(n=3, seed=4, ties=ties)
    s = M.snap(maps)
    y = M.snap(agree) >= threshold - TOL
    mask = np.ones_like(y) if region is None else (s > 0) | (M.snap(agree) > 0)
    aucs = M.roc_auc(maps, agree, threshold=threshold, region=region)
    for i in range(3):
        ref = sk.roc_auc_score(y[i][mask[i]], s[i][mask[i]])
        assert abs(aucs[i] - ref) < 1e-12
    pooled = M.roc_auc(maps, agree, threshold=threshold, region=region, pooled=True)
    assert abs(pooled - sk.roc_auc_score(y[mask], s[mask])) < 1e-12
    fpr, tpr, thr = M.roc_curve(maps[0], agree[0], threshold=threshold, region=region)
    rf, rt, rthr = sk.roc_curve(y[0][mask[0]], s[0][mask[0]], drop_intermediate=False)
    np.testing.assert_allclose(fpr, rf, atol=1e-15)
    np.testing.assert_allclose(tpr, rt, atol=1e-15)
    np.testing.assert_array_equal(thr[1:], rthr[1:])


def test_roc_random_scores_exact_tolerances_zero():
    rng = np.random.default_rng(5)
    s = rng.random((1, 5000)) ** 3
    y = (rng.random((1, 5000)) < 0.3).astype(float)
    got = M.roc_auc(s, y, zero_tol=0, one_tol=0)
    assert abs(got - sk.roc_auc_score(y.ravel(), s.ravel())) < 1e-12


def test_roc_wide_score_range_uses_fallback_sort_and_stays_exact():
    # with zero_tol=0 tiny tail values span hundreds of binary orders: the argsort path
    s = np.array([[1e-300, 1e-200, 0.3, 0.3, 0.9, 5e-324, 0.0, 1.0]])
    y = np.array([[0, 1, 0, 1, 1, 0, 1, 1]], float)
    got = M.roc_auc(s, y, zero_tol=0, one_tol=0)
    assert abs(got - sk.roc_auc_score(y.ravel(), s.ravel())) < 1e-12


def test_roc_single_class_is_nan_with_warning():
    p = np.linspace(0, 1, 16).reshape(4, 4)
    with pytest.warns(UndefinedMetricWarning, match="single class"):
        assert np.isnan(M.roc_auc(p, np.zeros((4, 4))))
    with pytest.warns(UndefinedMetricWarning, match="only negatives"):
        fpr, tpr, _ = M.roc_curve(p, np.zeros((4, 4)))
    assert np.isnan(tpr).all() and not np.isnan(fpr).any()
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(M.roc_auc(p, np.ones((4, 4))))


def test_roc_constant_map_gives_half():
    y = np.zeros((4, 4))
    y[:2] = 1
    assert M.roc_auc(np.full((4, 4), 0.5), y) == 0.5


# --------------------------------------------------------------------------------- joint thresholds
def test_joint_threshold_scores_match_sklearn():
    maps, agree = blobs(n=4, seed=6)
    out = M.joint_threshold_scores(maps, agree)
    s, t = M.snap(maps), M.snap(agree)
    for i in range(4):
        for k, thr in enumerate(M.DEFAULT_THRESHOLDS):
            yt, yp = (t[i] >= thr - TOL).ravel(), (s[i] >= thr - TOL).ravel()
            p, r, f, _ = sk.precision_recall_fscore_support(yt, yp, average="binary", zero_division=np.nan)
            np.testing.assert_allclose(
                [out["precision"][i, k], out["recall"][i, k], out["f1"][i, k]],
                [p, r, f],
                rtol=1e-14,
            )
            assert out["accuracy"][i, k] == pytest.approx(sk.accuracy_score(yt, yp), abs=1e-15)
            tn, fp, fn, tp = sk.confusion_matrix(yt, yp, labels=[False, True]).ravel()
            assert (out["tp"][i, k], out["fp"][i, k], out["fn"][i, k], out["tn"][i, k]) == (
                tp,
                fp,
                fn,
                tn,
            )


def test_joint_threshold_hand_worked_and_level_one_tolerance():
    pred = np.array([[0.9995, 0.6, 0.3, 0.0]])
    target = np.array([[1.0, 1.0, 0.5, 0.0]])
    c = M.confusion_counts(pred, target, thresholds=[0.5, 1.0])
    # level 0.5: pred {0,1}, target {0,1,2} -> tp 2, fp 0, fn 1, tn 1
    assert [int(c[k][0]) for k in ("tp", "fp", "fn", "tn")] == [2, 0, 1, 1]
    # level 1.0: 0.9995 is "1" within half an 8-bit step -> tp 1, fn 1
    assert [int(c[k][1]) for k in ("tp", "fp", "fn", "tn")] == [1, 0, 1, 2]
    exact = M.confusion_counts(pred, target, thresholds=[1.0], zero_tol=0, one_tol=0)
    assert int(exact["tp"][0]) == 0 and int(exact["fn"][0]) == 2


def test_joint_threshold_empty_masks_nan_precision_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="precision"):
        out = M.joint_threshold_scores(np.zeros((3, 3)), np.ones((3, 3)), thresholds=[0.5])
    assert np.isnan(out["precision"][0]) and out["recall"][0] == 0 and out["f1"][0] == 0
    assert out["accuracy"][0] == 0.0


# --------------------------------------------------------------------------------- psi
def test_psi_known_answer_and_tolerances():
    assert M.psi([[0.0, 0.25, 0.5, 1.0]]) == pytest.approx(200 / 3)
    # a KDE map: 1 only at the max (0.9999 counts as 1), tail 1e-9 counts as 0
    v = np.array([[1.0, 0.9999, 0.5, 1e-9, 0.0]])
    assert M.psi(v) == pytest.approx(100 / 3)
    assert M.psi(v, zero_tol=0, one_tol=0) == pytest.approx(300 / 4)
    stack = np.stack([v[0], [1, 1, 0, 0, 0]])
    np.testing.assert_allclose(M.psi(stack[:, None, :]), [100 / 3, 0.0])


def test_psi_empty_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="no value > 0"):
        assert np.isnan(M.psi(np.zeros((4, 4))))
    assert M.psi(np.ones((4, 4))) == 0.0  # all-ones mask: no margin


# --------------------------------------------------------------------------------- correlation
def test_correlation_and_fit_match_scipy():
    rng = np.random.default_rng(7)
    x = rng.uniform(10, 80, 25)
    y = 0.8 * x + rng.normal(0, 8, 25)
    y[3] = y[4]  # a tie for Spearman
    c = M.correlation(x, y)
    r, p = stats.pearsonr(x, y)
    rho, ps = stats.spearmanr(x, y)
    assert c["pearson_r"] == pytest.approx(r, abs=1e-12)
    assert c["pearson_p"] == pytest.approx(p, rel=1e-9)
    assert c["spearman_rho"] == pytest.approx(rho, abs=1e-12)
    assert c["spearman_p"] == pytest.approx(ps, rel=1e-9)
    f = M.linear_fit(x, y, x_grid=np.array([10.0, 45.0, 80.0]))
    lr = stats.linregress(x, y)
    assert f["slope"] == pytest.approx(lr.slope, rel=1e-12)
    assert f["intercept"] == pytest.approx(lr.intercept, rel=1e-12)
    assert f["slope_stderr"] == pytest.approx(lr.stderr, rel=1e-10)
    assert f["intercept_stderr"] == pytest.approx(lr.intercept_stderr, rel=1e-10)
    # band: OLS covariance route, t quantile from scipy.stats
    X = np.column_stack([np.ones_like(x), x])
    beta, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = res[0] / (len(x) - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    X0 = np.column_stack([np.ones(3), f["x"]])
    half = stats.t.ppf(0.975, len(x) - 2) * np.sqrt(np.einsum("ij,jk,ik->i", X0, cov, X0))
    np.testing.assert_allclose(f["upper"] - f["y"], half, rtol=1e-9)
    np.testing.assert_allclose(f["y"] - f["lower"], half, rtol=1e-9)


def test_spearman_equation_15_without_ties():
    x = np.array([1.0, 2, 3, 4, 5])
    y = np.array([2.0, 1, 4, 3, 5])
    d = np.array([1, -1, 1, -1, 0])
    assert M.correlation(x, y)["spearman_rho"] == pytest.approx(1 - 6 * (d**2).sum() / (5 * 24))


def test_correlation_undefined_cases():
    with pytest.warns(UndefinedMetricWarning, match="3 needed"):
        assert np.isnan(M.correlation([1, 2], [1, 2])["pearson_r"])
    with pytest.warns(UndefinedMetricWarning, match="constant"):
        assert np.isnan(M.correlation([1, 1, 1, 1], [1, 2, 3, 4])["pearson_r"])
    with pytest.warns(UndefinedMetricWarning, match="linear fit"):
        assert np.isnan(M.linear_fit([2, 2, 2], [1, 2, 3])["slope"])
    # NaN pairs (images with undefined psi) are dropped
    c = M.correlation([1, 2, np.nan, 3, 4], [1, 3, 5, 2, 5])
    assert c["n"] == 4
    with pytest.raises(ValueError, match="same length"):
        M.correlation([1, 2, 3], [1, 2])


# --------------------------------------------------------------------------------- reliability
def test_reliability_hand_worked_and_ece():
    c = np.array([[0.05, 0.15, 0.95, 0.0]])
    a = np.array([[0.0, 0.25, 1.0, 0.0]])
    r = M.reliability(c, a, n_bins=2)  # foreground: the first three pixels
    assert r["count"].tolist() == [2, 1]
    np.testing.assert_allclose(r["confidence"], [0.1, 0.95])
    np.testing.assert_allclose(r["agreement"], [0.125, 1.0])
    gaps = np.array([0.025, 0.05])
    assert r["ece"] == pytest.approx((2 * gaps[0] + gaps[1]) / 3)
    assert r["mean_gap"] == pytest.approx(gaps.mean())
    assert r["mce"] == pytest.approx(0.05)
    r_all = M.reliability(c, a, n_bins=2, region="all")
    assert r_all["count"].tolist() == [3, 1]
    # a value exactly 1 falls in the last bin; a value on an edge goes up
    r3 = M.reliability([[1.0, 0.5]], [[1.0, 1.0]], n_bins=2)
    assert r3["count"].tolist() == [0, 2]
    assert np.isnan(r3["confidence"][0])


def test_reliability_empty_region_warns():
    with pytest.warns(UndefinedMetricWarning, match="empty"):
        r = M.reliability(np.zeros((3, 3)), np.zeros((3, 3)))
    assert np.isnan(r["ece"]) and r["count"].sum() == 0


def test_reliability_ece_matches_independent_loop():
    maps, agree = blobs(n=3, seed=8)
    r = M.reliability(maps, agree, n_bins=7)
    s, t = M.snap(maps), M.snap(agree)
    fg = (s > 0) | (t > 0)
    cs, ts = s[fg], t[fg]
    edges = np.linspace(0, 1, 8)
    ece = 0.0
    for b in range(7):
        sel = (cs >= edges[b]) & ((cs < edges[b + 1]) | (b == 6))
        if sel.any():
            ece += sel.sum() / len(cs) * abs(ts[sel].mean() - cs[sel].mean())
    assert r["ece"] == pytest.approx(ece, abs=1e-13)


# --------------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def evaluated():
    maps, agree = blobs(n=6, size=48, seed=9)
    da = xr.DataArray(
        maps,
        dims=("image", "y", "x"),
        coords={"image": np.arange(10, 16), "kind": ("image", ["a", "b"] * 3)},
    )
    return maps, agree, M.evaluate(da, agree, fpr_points=51)


def test_evaluate_matches_the_single_functions(evaluated):
    maps, agree, ds = evaluated
    assert ds.image.values.tolist() == list(range(10, 16))
    assert "kind" in ds.coords
    np.testing.assert_allclose(ds.brier.values, M.brier(maps, agree), rtol=1e-14)
    np.testing.assert_allclose(ds.brier_foreground.values, M.brier(maps, agree, region="foreground"), rtol=1e-14)
    np.testing.assert_allclose(ds.soft_dice.values, M.soft_dice(maps, agree), rtol=1e-14)
    np.testing.assert_array_equal(ds.psi_conf.values, M.psi(maps))
    np.testing.assert_array_equal(ds.psi_agree.values, M.psi(agree))
    s, t = M.snap(maps), M.snap(agree)
    union = (s > 0) | (t > 0)
    for k, thr in enumerate(ds.threshold.values):
        y = t >= thr - TOL
        for i in range(len(maps)):
            assert abs(ds.auc.values[i, 0, k] - sk.roc_auc_score(y[i].ravel(), s[i].ravel())) < 1e-12
            assert abs(ds.auc.values[i, 1, k] - sk.roc_auc_score(y[i][union[i]], s[i][union[i]])) < 1e-12
        assert abs(ds.auc_pooled.values[0, k] - sk.roc_auc_score(y.ravel(), s.ravel())) < 1e-12
        assert abs(ds.auc_pooled.values[1, k] - sk.roc_auc_score(y[union], s[union])) < 1e-12
    js = M.joint_threshold_scores(maps, agree)
    for name in ("precision", "recall", "f1", "accuracy", "tp", "fn"):
        np.testing.assert_array_equal(ds[name].values, js[name])
    c = M.correlation(ds.psi_agree.values, ds.psi_conf.values)
    assert float(ds.pearson_r) == c["pearson_r"] and float(ds.spearman_rho) == c["spearman_rho"]
    rel = M.reliability(maps, agree)
    np.testing.assert_array_equal(ds.bin_count.values, rel["count"])
    assert float(ds.ece) == pytest.approx(rel["ece"], abs=1e-14)


def test_evaluate_curves_sample_the_exact_roc(evaluated):
    maps, agree, ds = evaluated
    s, t = M.snap(maps), M.snap(agree)
    for i in (0, 3):
        for k, thr in enumerate(ds.threshold.values):
            fpr, tpr, _ = sk.roc_curve(t[i].ravel() >= thr - TOL, s[i].ravel(), drop_intermediate=False)
            np.testing.assert_allclose(ds.tpr.values[i, 0, k], np.interp(ds.fpr.values, fpr, tpr), atol=1e-12)
    np.testing.assert_allclose(ds.tpr_mean.values, ds.tpr.values.mean(axis=0), atol=1e-15)
    # the curves' area agrees with the exact AUC up to the grid's trapezoid error
    area = np.trapezoid(ds.tpr_pooled.values, ds.fpr.values, axis=-1)
    assert np.all(np.abs(area - ds.auc_pooled.values) < 0.02)


def test_evaluate_valid_mask_restricts_everything(evaluated):
    maps, agree, _ = evaluated
    valid = np.zeros(maps.shape[1:], bool)
    valid[:, :30] = True
    ds = M.evaluate(maps, agree, valid=valid)
    ref = M.evaluate(maps[:, :, :30], agree[:, :, :30])
    for name in (
        "brier",
        "brier_foreground",
        "soft_dice",
        "psi_conf",
        "psi_agree",
        "auc",
        "auc_pooled",
        "tpr_pooled",
        "f1",
        "bin_count",
        "ece",
        "pearson_r",
    ):
        np.testing.assert_allclose(ds[name].values, ref[name].values, rtol=1e-13, err_msg=name)


def test_evaluate_truncating_the_far_tail_changes_nothing(evaluated):
    maps, agree, ds = evaluated
    cut = np.where(maps < 1e-3, 0.0, maps)  # below the default zero_tol of 1.96e-3
    assert (cut != maps).sum() > 100
    ds2 = M.evaluate(cut, agree, fpr_points=51)
    counted = [
        "n_foreground",
        "psi_conf",
        "psi_agree",
        "auc",
        "auc_pooled",
        "tpr",
        "tpr_pooled",
        "tp",
        "fp",
        "fn",
        "tn",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "pearson_r",
        "spearman_rho",
        "fit_y",
        "bin_count",
        "bin_confidence",
        "bin_agreement",
        "ece",
    ]
    for name in counted:
        np.testing.assert_array_equal(ds2[name].values, ds[name].values, err_msg=name)
    # Brier and soft Dice use the unsnapped values: they move by at most the squared tail
    np.testing.assert_allclose(ds2.brier.values, ds.brier.values, atol=1e-6)
    np.testing.assert_allclose(ds2.brier_foreground.values, ds.brier_foreground.values, atol=1e-6)
    np.testing.assert_allclose(ds2.soft_dice.values, ds.soft_dice.values, atol=1e-4)
    # ... whereas exact comparisons (no tolerance) depend on the tail
    with pytest.warns(UndefinedMetricWarning, match="constant"):  # psi_conf ~ 100 everywhere
        e1 = M.evaluate(maps, agree, zero_tol=0, one_tol=0, fpr_points=51)
    e2 = M.evaluate(cut, agree, zero_tol=0, one_tol=0, fpr_points=51)
    assert not np.array_equal(e1.psi_conf.values, e2.psi_conf.values)
    assert not np.array_equal(e1.auc.values, e2.auc.values)


def test_evaluate_edge_cases_nan_with_one_warning():
    maps, agree = blobs(n=3, size=24, seed=10)
    maps[1] = 0.0  # an empty map
    agree[2] = 0.0  # an empty Agreement (no tumour)
    with pytest.warns(UndefinedMetricWarning, match="auc") as rec:
        ds = M.evaluate(maps, agree)
    assert len(rec) == 1
    assert np.isnan(ds.auc.values[2]).all()
    assert np.isnan(ds.psi_conf.values[1]) and np.isnan(ds.psi_agree.values[2])
    assert np.isnan(ds.precision.values[1]).all()
    assert ds.attrs["n_correlation_images"] == 1
    assert np.isnan(float(ds.pearson_r))
    assert np.isfinite(ds.brier.values).all()


def test_evaluate_single_image_and_all_ones():
    ones = np.ones((8, 8))
    with pytest.warns(UndefinedMetricWarning):
        ds = M.evaluate(ones, ones)
    assert ds.sizes["image"] == 1
    assert float(ds.brier[0]) == 0.0 and float(ds.soft_dice[0]) == 0.0
    assert float(ds.psi_conf[0]) == 0.0
    assert np.isnan(ds.auc.values).all()  # only positives
    assert ds.f1.values.tolist() == [[1.0, 1.0, 1.0, 1.0]]


# --------------------------------------------------------------------------------- plots
@pytest.mark.parametrize(
    "plot",
    [
        M.plot_roc,
        M.plot_joint_thresholds,
        M.plot_margin_correlation,
        M.plot_reliability,
        M.plot_summary,
    ],
)
def test_plots_return_figures(evaluated, plot):
    from matplotlib.figure import Figure

    fig = plot(evaluated[2])
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 1
    assert any(ax.has_data() for ax in fig.axes)
    fig.canvas.draw()  # renders without error


def test_plot_roc_draws_the_mean_curves(evaluated):
    ds = evaluated[2]
    fig = M.plot_roc(ds)
    line = fig.axes[1].lines[0]
    np.testing.assert_allclose(line.get_ydata(), ds.tpr_mean.sel(region="union").values[0])


def test_plot_rejects_other_datasets():
    with pytest.raises(ValueError, match="evaluate"):
        M.plot_roc(xr.Dataset())


# --------------------------------------------------------------------------------- properties


@hyp.settings(max_examples=60, deadline=None)
@hyp.given(
    levels=hnp.arrays(np.int64, st.integers(2, 60), elements=st.integers(0, 8)),
    data=st.data(),
)
def test_auc_equals_sklearn_on_tied_scores(levels, data):
    """Heavily tied scores (9 distinct values, 0 and 1 included) and random binary labels."""
    labels = data.draw(hnp.arrays(np.int64, levels.shape, elements=st.integers(0, 1)))
    hyp.assume(0 < labels.sum() < labels.size)
    s = levels[None, :] / 8.0
    y = labels[None, :].astype(float)
    got = M.roc_auc(s, y, zero_tol=0, one_tol=0)
    assert abs(got - sk.roc_auc_score(labels, levels)) < 1e-12
    fpr, tpr, _ = M.roc_curve(s, y, zero_tol=0, one_tol=0)
    rf, rt, _ = sk.roc_curve(labels, levels, drop_intermediate=False)
    np.testing.assert_allclose(fpr, rf, atol=1e-15)
    np.testing.assert_allclose(tpr, rt, atol=1e-15)


def test_score_registry_is_the_brier_foreground_brier_soft_dice_trio(rng):
    from confmap import phantom
    from confmap.metrics import SCORES, pairwise_dice

    p, t = rng.random((3, 20, 30)), rng.random((3, 20, 30))
    assert list(SCORES) == ["brier", "brier_fg", "soft_dice"]
    assert all(s.better == "lower" for s in SCORES.values())
    np.testing.assert_array_equal(SCORES["brier"](p, t), M.brier(p, t))
    np.testing.assert_array_equal(SCORES["brier_fg"](p, t), M.brier(p, t, region="foreground"))
    np.testing.assert_array_equal(SCORES["soft_dice"](p[0], t[0]), M.soft_dice(p[0], t[0]))
    # Eq. 8 written out: the mean squared difference
    assert SCORES["brier"](p[0], t[0]) == pytest.approx(np.mean((p[0] - t[0]) ** 2), rel=1e-12)
    assert phantom.pairwise_dice is pairwise_dice  # moved, still reachable from phantom


# --------------------------------------------------------------------------------- independent oracles
def test_soft_dice_equals_scipy_distance_identity():
    """Eq. 9 rewritten: 1 - 2 p.y / (|p|^2 + |y|^2) = |p - y|^2 / (|p|^2 + |y|^2), with scipy's
    squared Euclidean distance (a different formula, computed by a different library)."""
    from scipy.spatial import distance

    maps, agree = blobs(n=4, seed=21)
    got = M.soft_dice(maps, agree)
    zero = np.zeros(maps[0].size)
    for i in range(4):
        p, y = maps[i].ravel(), agree[i].ravel()
        ref = distance.sqeuclidean(p, y) / (distance.sqeuclidean(p, zero) + distance.sqeuclidean(y, zero))
        assert got[i] == pytest.approx(ref, rel=1e-12)


def test_psi_equals_scipy_percentileofscore():
    """psi = the percentage of the positive values (> zero_tol) strictly below 1 - one_tol."""
    maps, agree = blobs(n=3, seed=22, ties=True)
    for values in (maps, agree):
        for tol in (M.EIGHT_BIT_HALF_STEP, 0.0, 0.05):
            got = M.psi(values, zero_tol=tol, one_tol=tol)
            for i in range(len(values)):
                pos = values[i][values[i] > tol]
                ref = stats.percentileofscore(pos, 1.0 - tol, kind="strict")
                assert got[i] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("n_bins", [5, 10, 13])
def test_reliability_and_ece_equal_sklearn_calibration_curve(n_bins):
    """Each pixel of an R-rater Agreement k/R becomes R binary labels (k ones); scikit-learn's
    calibration_curve then gives each non-empty bin's mean Agreement and mean confidence, and
    np.histogram the bin counts (values on bin edges have probability 0 here)."""
    from sklearn.calibration import calibration_curve

    maps, agree = blobs(n=4, seed=23)
    r = M.reliability(maps, agree, n_bins=n_bins, region="all")
    c = M.snap(maps).ravel()
    a = M.snap(agree).ravel()
    raters = 4
    k = np.rint(a * raters).astype(int)
    assert np.allclose(k / raters, a)
    labels = (np.arange(raters)[None, :] < k[:, None]).astype(int).ravel()
    prob_true, prob_pred = calibration_curve(labels, np.repeat(c, raters), n_bins=n_bins, strategy="uniform")
    count = np.histogram(c, bins=np.linspace(0, 1, n_bins + 1))[0]
    nz = count > 0
    np.testing.assert_array_equal(r["count"], count)
    np.testing.assert_allclose(r["agreement"][nz], prob_true, rtol=1e-12)
    np.testing.assert_allclose(r["confidence"][nz], prob_pred, rtol=1e-12)
    gap = np.abs(prob_true - prob_pred)
    assert r["ece"] == pytest.approx((count[nz] * gap).sum() / count.sum(), rel=1e-12)
    assert r["mce"] == pytest.approx(gap.max(), rel=1e-12)
    assert r["mean_gap"] == pytest.approx(gap.mean(), rel=1e-12)


def test_agreement_equals_sum_of_mask_files_read_back_separately(tmp_path):
    """Each rater's mask written to its own PNG, read back one by one, summed with np.add.reduce."""
    import imageio.v3 as iio

    rng = np.random.default_rng(24)
    masks = rng.integers(0, 2, (5, 9, 11)).astype(np.uint8)
    for i, m in enumerate(masks):
        iio.imwrite(tmp_path / f"rater{i}.png", m * 255)
    read = [iio.imread(tmp_path / f"rater{i}.png") // 255 for i in range(5)]
    ref = np.add.reduce([r.astype(np.int64) for r in read]) / 5
    np.testing.assert_array_equal(M.agreement(masks), ref)
    assert set(np.unique(ref * 5)) <= set(range(6))
