"""confmap.learn.stats: paired differences, bootstrap intervals, Wilcoxon (oracles: a plain loop, scipy)."""

import numpy as np
import pytest
import torch  # noqa: F401  (confmap.learn needs it; a missing torch is an error)
import xarray as xr
from scipy import stats

from confmap.learn import paired_differences, paired_test, table1  # noqa: E402


def _plain_bootstrap(soft, hard, *, n_resamples, seed, level=0.95):
    """Percentile bootstrap of the mean difference by a loop, with scipy's resample indices."""
    rng = np.random.default_rng(seed)
    n = len(soft)
    idx = rng.integers(0, n, (n_resamples, n))  # the draw scipy makes for paired data
    means = []
    for row in idx:
        total = 0.0
        for i in row:
            total += soft[i] - hard[i]
        means.append(total / n)
    a = (1 - level) / 2
    return np.percentile(means, [100 * a, 100 * (1 - a)])


def _results(soft, hard, *, n_folds=5, losses=("brier", "bce")):
    """A hand-built cross-validation result with the layout of confmap.learn.cross_validate."""
    soft, hard = np.asarray(soft, float), np.asarray(hard, float)
    n = soft.shape[-1]
    fold = np.arange(n) % n_folds
    score = np.empty((len(losses), 2, 2, 2, n))
    for a in range(len(losses)):
        score[a, 0] = soft[a] if soft.ndim == 2 else soft
        score[a, 1] = hard[a] if hard.ndim == 2 else hard
    fold_score = np.stack([score[..., fold == k].mean(-1) for k in range(n_folds)], axis=-1)
    return xr.Dataset(
        {
            "score": (("loss", "label", "reference", "metric", "image"), score),
            "fold_score": (("loss", "label", "reference", "metric", "fold"), fold_score),
        },
        coords={
            "loss": list(losses),
            "label": ["soft", "hard"],
            "reference": ["agreement", "truth"],
            "metric": ["brier", "soft_dice"],
            "image": np.arange(n),
            "fold": np.arange(n_folds),
            "fold_of_image": ("image", fold),
            "loss_name": ("loss", [f"L{lo}" for lo in losses]),
        },
    )


@pytest.mark.parametrize("seed", [0, 7])
def test_interval_matches_plain_loop_bootstrap(seed):
    rng = np.random.default_rng(3)
    soft, hard = rng.random(12), rng.random(12)
    r = paired_test(soft, hard, n_resamples=500, seed=seed)
    lo, hi = _plain_bootstrap(soft, hard, n_resamples=500, seed=seed)
    assert r["ci_low"] == pytest.approx(lo, abs=1e-12)
    assert r["ci_high"] == pytest.approx(hi, abs=1e-12)
    assert r["mean_diff"] == pytest.approx(np.mean(soft - hard))
    assert r["n_soft_better"] == int(np.sum(soft < hard))


def test_wilcoxon_matches_scipy_on_hand_built_arrays():
    soft = np.array([0.11, 0.25, 0.30, 0.08, 0.41, 0.19, 0.22, 0.35])
    hard = np.array([0.15, 0.21, 0.38, 0.16, 0.40, 0.30, 0.29, 0.33])
    w = stats.wilcoxon(soft, hard)
    r = paired_test(soft, hard, n_resamples=200)
    assert r["p_value"] == pytest.approx(w.pvalue, rel=1e-12)
    assert r["wilcoxon_stat"] == pytest.approx(w.statistic)


def test_soft_always_better_is_significant_and_below_zero():
    rng = np.random.default_rng(1)
    hard = rng.uniform(0.02, 0.05, 20)
    soft = hard - rng.uniform(0.001, 0.01, 20)
    r = paired_test(soft, hard)
    assert r["p_value"] < 0.05
    assert r["ci_high"] < 0
    assert r["n_soft_better"] == 20


def test_equal_scores_give_p_one_and_zero_interval():
    x = np.linspace(0.1, 0.2, 6)
    r = paired_test(x, x)
    assert r["p_value"] == 1.0 and np.isnan(r["wilcoxon_stat"])
    assert r["ci_low"] == r["ci_high"] == 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: paired_test([1, 2], [1, 2, 3]), "same length"),
        (lambda: paired_test([1], [2]), "at least 2"),
        (lambda: paired_test([1, np.nan], [1, 2]), "finite"),
        (lambda: paired_test([1, 2], [2, 3], level=1.0), "level"),
        (lambda: paired_test([1, 2], [2, 3], n_resamples=10), "n_resamples"),
    ],
)
def test_paired_test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_paired_differences_table_and_table1_columns():
    rng = np.random.default_rng(2)
    hard = rng.uniform(0.02, 0.05, (2, 10))
    soft = hard.copy()
    soft[0] -= 0.01  # loss "brier": soft always better
    soft[1] += rng.normal(0, 0.01, 10)  # loss "bce": mixed
    res = _results(soft, hard)
    t = paired_differences(res, reference="truth", metric="brier", n_resamples=300, seed=4)
    assert list(t.index) == ["Lbrier", "Lbce"]
    assert t.loc["Lbrier", "ci_high"] < 0 and t.loc["Lbrier", "p_value"] < 0.05
    assert t.loc["Lbrier", "folds_soft_better"] == 5 and t.loc["Lbrier", "n_folds"] == 5
    one = paired_test(soft[1], hard[1], n_resamples=300, seed=4)
    for k in ("mean_diff", "ci_low", "ci_high", "p_value"):
        assert t.loc["Lbce", k] == pytest.approx(one[k])
    assert t.attrs["reference"] == "truth"
    wide = table1(res, intervals=True, n_resamples=300, seed=4)
    assert ("Brier", "CI low") in wide.columns and ("Soft Dice", "p (Wilcoxon)") in wide.columns
    pa = paired_differences(res, metric="soft_dice", n_resamples=300, seed=4)
    np.testing.assert_allclose(wide[("Soft Dice", "CI high")], pa["ci_high"])
    assert table1(res).shape == (2, 4)  # the paper's columns by default


def test_paired_differences_errors():
    res = _results(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="metric"):
        paired_differences(res, metric="auc")
    with pytest.raises(ValueError, match="both labels"):
        paired_differences(res.sel(label=["soft"]))
