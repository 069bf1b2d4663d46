"""Tests of confmap.widgets._overlay: the overlay blend, the display grid, the ripple indicator."""

import numpy as np
from matplotlib import colormaps

from confmap.widgets._overlay import blend, colour_lut, display_step, levels, ripple_indicator


def test_blend_alpha_rises_with_confidence():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (7, 9, 3)).astype(np.float32)
    v = rng.random((7, 9))
    v[0, 0], v[0, 1] = 0.0, 1.0
    got = blend(base, v, 0.8, colour_lut("viridis")).astype(float)
    # the oracle: matplotlib's colour map and float64 alpha compositing, pixel by pixel
    want = np.empty_like(got)
    for r in range(7):
        for c in range(9):
            colour = np.array(colormaps["viridis"](v[r, c])[:3]) * 255
            a = 0.8 * v[r, c]
            want[r, c] = (1 - a) * base[r, c] + a * colour
    np.testing.assert_allclose(got, want, atol=3)  # the 256-level colour table
    np.testing.assert_array_equal(got[0, 0], np.round(base[0, 0]))  # map 0: the image unchanged
    assert blend(base, v, 0.0, colour_lut("viridis")).tolist() == np.round(base).astype(np.uint8).tolist()


def test_levels_round_clip_and_keep_the_shape():
    v = np.array([[-0.3, 0.0, 0.0019], [0.3333, 0.9981, 1.7]])  # no ties at .5 of a level
    got = levels(v)
    assert got.dtype == np.uint8 and got.shape == v.shape
    want = [[int(np.floor(255 * min(max(x, 0.0), 1.0) + 0.5)) for x in row] for row in v.tolist()]
    np.testing.assert_array_equal(got, want)


def test_display_step():
    assert display_step((256, 256), 800) == 1
    assert display_step((768, 1024), 800) == 2
    assert display_step((1500, 2000), 800) == 3
    assert display_step((1500, 2000), None) == 1


def test_ripple_indicator():
    assert ripple_indicator({"ripple": 0.002, "ripple_warn": 0.01}) is None
    attrs = {"ripple": 0.018, "ripple_warn": 0.01, "suggested_lam": 118}
    assert ripple_indicator(attrs) == "ripple 1.8 % — use λ = 118"
    assert ripple_indicator({"ripple": 0.5, "ripple_warn": 0.01}) == "ripple 50.0 % — use a larger λ"
    assert ripple_indicator({}) is None
