"""confmap.metrics.map_agreement against a brute-force loop over pairs and pixels."""

import itertools

import numpy as np
import pytest

from confmap.metrics import map_agreement


def _loop(maps, truth):
    """Brute force: every pair, every pixel, Eqs. 8 and 9 written out."""
    n, a, h, w = maps.shape
    pb, pd = np.zeros((n, a, a)), np.zeros((n, a, a))
    for k in range(n):
        for i, j in itertools.product(range(a), repeat=2):
            sq = num = sp = sq_ = 0.0
            for y in range(h):
                for x in range(w):
                    p, q = maps[k, i, y, x], maps[k, j, y, x]
                    sq += (p - q) ** 2
                    num += p * q
                    sp += p * p
                    sq_ += q * q
            pb[k, i, j] = sq / (h * w)
            pd[k, i, j] = 1 - 2 * num / (sp + sq_)
    mean = maps.sum(axis=1) / a
    mb = np.array([((mean[k] - truth[k]) ** 2).mean() for k in range(n)])
    return pb, pd, mean, mb


def test_matches_brute_force_loop(rng):
    maps = rng.random((2, 3, 5, 6))
    truth = rng.random((2, 5, 6))
    r = map_agreement(maps, truth=truth)
    pb, pd, mean, mb = _loop(maps, truth)
    np.testing.assert_allclose(r["pairwise_brier"], pb, atol=1e-14)
    np.testing.assert_allclose(r["pairwise_soft_dice"], pd, atol=1e-14)
    np.testing.assert_allclose(r["mean_map"], mean, atol=1e-15)
    np.testing.assert_allclose(r["mean_map_brier_vs_truth"], mb, atol=1e-15)
    iu = np.triu_indices(3, 1)
    np.testing.assert_allclose(r["mean_pairwise_brier"], pb[:, iu[0], iu[1]].mean(1))
    np.testing.assert_allclose(r["brier_vs_truth"][1, 2], ((maps[1, 2] - truth[1]) ** 2).mean(), atol=1e-15)


def test_single_image_drops_the_image_axis(rng):
    maps = rng.random((4, 5, 5))
    r = map_agreement(maps, truth=maps[0])
    assert r["pairwise_brier"].shape == (4, 4) and r["mean_map"].shape == (5, 5)
    assert isinstance(r["mean_pairwise_soft_dice"], float)
    assert r["brier_vs_truth"][0] == 0.0 and r["soft_dice_vs_truth"][0] == pytest.approx(0.0)
    np.testing.assert_array_equal(np.diag(r["pairwise_brier"]), 0.0)
    np.testing.assert_allclose(r["pairwise_brier"], r["pairwise_brier"].T)


@pytest.mark.parametrize(
    "maps, truth, match",
    [
        (np.zeros((1, 4, 4)), None, "A >= 2"),
        (np.zeros((4, 4)), None, "dimensions"),
        (np.full((2, 4, 4), 2.0), None, r"\[0, 1\]"),
        (np.zeros((2, 4, 4)), np.zeros((3, 3)), "truth"),
    ],
)
def test_errors(maps, truth, match):
    with pytest.raises(ValueError, match=match):
        map_agreement(maps, truth=truth)
