"""docs/fidelity.md: every generated number matches the committed result files; the study helpers."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "fidelity" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _block(text, name):
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    return text[text.index(begin) + len(begin) : text.index(end)].strip("\n")


@pytest.mark.parametrize("name", ["psi_study", "soft_wins_study", "medium_study"])
def test_doc_block_matches_committed_result(name):
    mod = _load(name)
    data = json.loads(mod.RESULT.read_text())
    assert _block(DOC.read_text(), mod.BLOCK) == mod.render_table(data)
    assert mod.FIGURE.exists()


def test_medium_result_file_is_consistent():
    """The stored summary agrees with itself: fold sizes are equal (40 images, 5 folds), so the mean
    of the fold means equals the mean over images, and the mean difference lies in its interval."""
    mod = _load("medium_study")
    data = json.loads(mod.RESULT.read_text())
    assert data["config"]["epochs"] == len(next(iter(data["losses"].values()))["train_loss"]["soft"])
    assert len(data["losses"]) == 6
    for entry in data["losses"].values():
        for r in entry["scores"].values():
            assert r["n_images"] == 40 and r["n_folds"] == 5
            assert r["mean_soft"] - r["mean_hard"] == pytest.approx(r["mean_diff"], abs=1e-12)
            assert r["ci_low"] <= r["mean_diff"] <= r["ci_high"]
            assert 0 <= r["folds_soft_better"] <= r["n_folds"]


def test_medium_tail_share():
    mod = _load("medium_study")
    curve = [1.0] + [0.5] * 10 + [0.4, 0.3, 0.2, 0.1, 0.0]
    assert mod.tail_share(curve) == pytest.approx(0.5)  # the last 5 epochs gave half of the decrease
    assert mod.tail_share([1.0] * 8) == float("inf")  # no decrease at all: not converged


def test_readme_links_the_fidelity_doc():
    assert "docs/fidelity.md" in (ROOT / "README.md").read_text()


def test_psi_result_file_is_consistent():
    mod = _load("psi_study")
    data = json.loads(mod.RESULT.read_text())
    names = [c[0] for c in mod.CONDITIONS]
    assert [r["name"] for r in data["conditions"]] == names
    for r in data["conditions"]:
        if r["pearson_r"] is not None:  # the stored r is the correlation of the stored psi values
            assert r["pearson_r"] == pytest.approx(stats.pearsonr(r["psi_agree"], r["psi_conf"])[0], abs=1e-9)
            assert r["pearson_r_ci"][0] <= r["pearson_r"] <= r["pearson_r_ci"][1]
    # an 8-bit round trip read back exactly is the float map at half an 8-bit step (the point)
    by = {r["name"]: r for r in data["conditions"]}
    np.testing.assert_allclose(
        by["8-bit grey PNG"]["psi_conf"], by["float map, tolerance 0.5/255 (default)"]["psi_conf"], atol=1e-9
    )


def test_psi_storage_round_trips():
    mod = _load("psi_study")
    m = np.random.default_rng(0).random((16, 20))
    np.testing.assert_array_equal(mod.store(m, "png"), np.rint(m * 255) / 255)
    q = np.rint(m * 255)
    lut = mod._lut("viridis")
    dup = [i for i in range(1, 256) if (lut[i] == lut[i - 1]).all()]  # entries 8-bit rounding merged
    back = mod.store(m, "png:viridis")
    keep = ~np.isin(q, dup)
    np.testing.assert_array_equal(back[keep], q[keep] / 255)
    np.testing.assert_allclose(back[~keep], (q[~keep] - 1) / 255)  # a merged entry reads as the lower one
    # nearest colour, checked by brute force on a few off-table colours
    rgb = np.array([[[0, 0, 0], [250, 250, 10], [40, 90, 140]]], np.uint8)
    brute = [int(np.argmin(((lut.astype(int) - c.astype(int)) ** 2).sum(1))) for c in rgb[0]]
    assert mod.invert_colours(rgb, lut)[0].tolist() == brute
    assert np.abs(mod.store(m, "jpeg:95") - m).max() < 0.1
    with pytest.raises(ValueError, match="storage"):
        mod.store(m, "tiff")


def test_psi_correlation_interval_matches_scipy():
    mod = _load("psi_study")
    rng = np.random.default_rng(2)
    x = rng.random(15)
    y = x + rng.normal(0, 0.3, 15)
    c = mod.correlation_ci(x, y, n_resamples=500)
    assert c["pearson_r"] == pytest.approx(stats.pearsonr(x, y)[0])
    assert c["spearman_rho"] == pytest.approx(stats.spearmanr(x, y)[0])
    b = stats.bootstrap(
        (x, y),
        lambda a, b: stats.pearsonr(a, b)[0],
        paired=True,
        vectorized=False,
        n_resamples=500,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    assert c["pearson_r_ci"] == pytest.approx([b.confidence_interval.low, b.confidence_interval.high], abs=1e-9)
