"""STAPLE soft reference: against an independent numpy EM (Warfield et al. 2004) and SimpleITK itself."""

import numpy as np
import pytest
import SimpleITK as sitk
import xarray as xr

from confmap import metrics
from confmap.reference import staple


def _em(masks, prior, *, tol=1e-13, max_iter=10_000):
    """Binary STAPLE by brute force: EM over (sensitivity p, specificity q) with a fixed prior."""
    d = masks.reshape(len(masks), -1).astype(float)
    p = np.full(len(d), 0.99999)
    q = np.full(len(d), 0.99999)
    for _ in range(max_iter):
        a = prior * np.prod(np.where(d == 1, p[:, None], 1 - p[:, None]), axis=0)
        b = (1 - prior) * np.prod(np.where(d == 1, 1 - q[:, None], q[:, None]), axis=0)
        w = a / (a + b)
        p_new = (d * w).sum(1) / w.sum()
        q_new = ((1 - d) * (1 - w)).sum(1) / (1 - w).sum()
        done = np.abs(p_new - p).sum() + np.abs(q_new - q).sum() < tol
        p, q = p_new, q_new
        if done:
            break
    return w.reshape(masks.shape[1:]), p, q


def _raters(h=30, w=40, flips=(0.02, 0.05, 0.15), seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), bool)
    truth[8:20, 10:30] = True
    return np.stack([truth ^ (rng.random(truth.shape) < e) for e in flips]).astype(np.uint8), truth


def test_staple_matches_an_independent_em_and_simpleitk():
    masks, _ = _raters()
    res = staple(masks, full=True)
    w, p, q = _em(masks, masks.mean())
    np.testing.assert_allclose(res.staple.values, w, atol=5e-6)  # ITK stops at its own tolerance
    np.testing.assert_allclose(res.sensitivity.values, p, atol=5e-6)
    np.testing.assert_allclose(res.specificity.values, q, atol=5e-6)
    f = sitk.STAPLEImageFilter()
    f.SetForegroundValue(1)
    direct = sitk.GetArrayFromImage(f.Execute([sitk.GetImageFromArray(m) for m in masks]))
    np.testing.assert_allclose(res.staple.values, direct, atol=1e-12)
    np.testing.assert_allclose(res.sensitivity.values, f.GetSensitivity(), atol=1e-12)
    np.testing.assert_allclose(res.specificity.values, f.GetSpecificity(), atol=1e-12)
    assert res.prior.item() == pytest.approx(masks.mean())
    assert sitk.GetArrayFromImage(sitk.STAPLE([sitk.GetImageFromArray(m) for m in masks], 1.0)) == pytest.approx(direct)


def test_staple_on_the_field_of_view_only():
    masks, _ = _raters()
    valid = np.zeros(masks.shape[1:], bool)
    valid[4:26, 5:38] = True  # a "sector"; outside, every rater says background
    masks = masks * valid
    res = staple(masks, valid=valid, full=True)
    w, p, q = _em(masks[:, valid], masks[:, valid].mean())
    np.testing.assert_allclose(res.staple.values[valid], w, atol=5e-6)
    np.testing.assert_allclose(res.sensitivity.values, p, atol=5e-6)
    assert (res.staple.values[~valid] == 0).all()
    assert res.prior.item() == pytest.approx(masks[:, valid].mean())
    # the whole frame gives another prior and other specificities: the reason for `valid`
    whole = staple(masks, full=True)
    assert whole.prior.item() < res.prior.item()
    assert (whole.specificity.values > res.specificity.values).all()


def test_identical_raters_give_their_mask():
    _, truth = _raters()
    out = staple(np.stack([truth] * 3))
    np.testing.assert_allclose(out.values, truth.astype(float), atol=1e-9)
    assert out.dims == ("y", "x") and out.name == "staple"


def test_degenerate_fields_of_view():
    zeros = np.zeros((3, 5, 6), np.uint8)
    res = staple(zeros, full=True)
    assert (res.staple.values == 0).all() and np.isnan(res.sensitivity.values).all()
    valid = np.zeros((5, 6), bool)
    valid[1:3, 1:4] = True
    res = staple(valid[None].repeat(3, 0), valid=valid, full=True)
    np.testing.assert_array_equal(res.staple.values, valid.astype(float))
    assert not np.isnan(res.staple.values).any()
    res = staple(zeros, valid=np.zeros((5, 6), bool), full=True)
    assert (res.staple.values == 0).all() and np.isnan(res.prior.values).all()


def test_stack_of_images_is_a_target_for_evaluate():
    stack = np.stack([_raters(seed=s)[0] for s in range(3)])  # (N, R, H, W)
    masks = xr.DataArray(
        stack, dims=("image", "rater", "y", "x"), coords={"image": np.arange(3), "kind": ("image", list("abc"))}
    )
    valid = np.ones((3, 30, 40), bool)
    valid[:, :, :3] = False
    ref = staple(masks, valid=valid)
    assert ref.dims == ("image", "y", "x") and list(ref.kind.values) == list("abc")
    for i in range(3):
        np.testing.assert_allclose(ref.values[i], staple(stack[i], valid=valid[i]).values)
    mean = metrics.agreement(masks)  # the raters' mean, the paper's Agreement map
    both = [metrics.evaluate(mean.values, target, valid=valid, thresholds=(0.5,)) for target in (mean, ref)]
    assert both[0].brier.values == pytest.approx(0.0)  # the mean scored against itself
    assert np.isfinite(both[1].brier.values).all() and (both[1].brier.values > 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"masks": np.zeros((5, 6))}, ValueError, "`masks` must have 3 or 4 dimensions"),
        ({"masks": np.full((2, 5, 6), 2)}, ValueError, "`masks` must be binary"),
        (
            {"masks": np.zeros((2, 5, 6)), "valid": np.ones((5, 5), bool)},
            ValueError,
            r"`valid` must have shape \(5, 6\)",
        ),
        ({"masks": np.zeros((2, 5, 6)), "valid": np.full((5, 6), 0.5)}, ValueError, "`valid` must be a boolean"),
        ({"masks": np.zeros((2, 5, 6)), "max_iterations": 0}, ValueError, "`max_iterations` must be >= 1"),
    ],
)
def test_staple_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        staple(**kwargs)
