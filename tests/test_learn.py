"""Tests of confmap.learn: UNet, losses (formula, built-ins, soft-target minimum, gradients),
k-fold split, determinism, resume and a tiny end-to-end cross-validation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from confmap.learn import (
    LOSSES,
    PRESETS,
    BCELoss,
    BrierLoss,
    CVConfig,
    FuzzyTverskyLoss,
    HuberLoss,
    SoftDiceLoss,
    TverskyLoss,
    UNet,
    cross_validate,
    kfold_split,
    make_loss,
    soft_wins,
    table1,
)
from confmap.metrics import brier, soft_dice

SOFT_CORRECT = ("brier", "dice", "bce", "huber", "tversky_fuzzy")


def test_import_confmap_does_not_import_torch():
    code = "import sys, confmap; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ----------------------------------------------------------------------------------------- UNet
@pytest.mark.parametrize(
    "channels, shape",
    [
        ((8, 16, 32, 64), (2, 1, 32, 48)),
        ((4, 8), (1, 1, 6, 10)),
        ((2, 4, 8, 16, 32), (3, 1, 16, 16)),
    ],
)
def test_unet_shapes_and_range(channels, shape):
    torch.manual_seed(0)
    net = UNet(channels=channels).eval()
    with torch.no_grad():
        out = net(torch.rand(shape))
    assert out.shape == shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert net.levels == len(channels) and net.divisor == 2 ** (len(channels) - 1)


def test_unet_paper_default_and_logits():
    net = UNet()
    assert net.channels == (8, 16, 32, 64) and max(net.channels) == 64 and net.levels == 4
    torch.manual_seed(0)
    logits = UNet(sigmoid=False, norm="none")
    torch.manual_seed(0)
    probs = UNet(sigmoid=True, norm="none")
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(torch.sigmoid(logits(x)), probs(x))
    assert UNet(2, 3, channels=(4, 8))(torch.rand(1, 2, 8, 8)).shape == (1, 3, 8, 8)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"channels": (8,)}, ValueError, "at least 2 levels"),
        ({"channels": (8, 0)}, ValueError, r"channels\[1\]"),
        ({"channels": (8, 2.5)}, TypeError, r"channels\[1\]"),
        ({"channels": 8}, TypeError, "sequence"),
        ({"channels": "ab"}, TypeError, "sequence"),
        ({"norm": "group"}, ValueError, "norm"),
        ({"in_channels": 0}, ValueError, "in_channels"),
        ({"sigmoid": 1}, TypeError, "sigmoid"),
    ],
)
def test_unet_argument_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        UNet(**kwargs)


def test_unet_input_errors():
    net = UNet(channels=(4, 8, 16))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 1, 10, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.rand(1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(np.zeros((1, 1, 8, 8)))


# --------------------------------------------------------------------------------------- losses
def _pair(seed=0, shape=(3, 1, 7, 9), soft=True):
    g = torch.Generator().manual_seed(seed)
    p = torch.sigmoid(3 * torch.randn(shape, generator=g, dtype=torch.float64))
    y = torch.rand(shape, generator=g, dtype=torch.float64)
    if not soft:
        y = (y > 0.6).double()
    return p, y


def _direct(name, p, y):
    """Independent numpy computation of the paper's formulas (per image for the ratios)."""
    p, y = p.numpy()[:, 0], y.numpy()[:, 0]
    d = p - y
    if name == "brier":
        return np.mean(d**2)
    if name == "bce":
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    if name == "huber":
        return np.mean(np.where(np.abs(d) < 1, 0.5 * d**2, np.abs(d) - 0.5))
    out = []
    for pi, yi in zip(p, y, strict=True):
        if name == "dice":
            out.append(1 - 2 * np.sum(pi * yi) / (np.sum(pi**2) + np.sum(yi**2)))
        elif name == "tversky":
            tp, fp, fn = np.sum(pi * yi), np.sum(pi * (1 - yi)), np.sum(yi * (1 - pi))
            out.append(1 - tp / (tp + 0.3 * fp + 0.7 * fn))
        elif name == "tversky_fuzzy":
            tp = np.sum(np.minimum(pi, yi))
            fp, fn = np.sum(np.maximum(pi - yi, 0)), np.sum(np.maximum(yi - pi, 0))
            out.append(1 - tp / (tp + 0.3 * fp + 0.7 * fn))
    return np.mean(out)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("soft", [True, False])
def test_loss_matches_direct_formula(name, soft):
    p, y = _pair(1, soft=soft)
    got = make_loss(name)(p, y).item()
    assert got == pytest.approx(_direct(name, p, y), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    "ours, builtin",
    [
        (BrierLoss(), torch.nn.MSELoss()),
        (BCELoss(), torch.nn.BCELoss()),
        (HuberLoss(), torch.nn.HuberLoss(delta=1.0)),
        (HuberLoss(delta=0.2), torch.nn.HuberLoss(delta=0.2)),  # exercises the linear branch
    ],
)
def test_loss_matches_torch_builtin(ours, builtin):
    p, y = _pair(2)
    p = p.clone()
    p.view(-1)[:3] = torch.tensor([0.0, 1.0, 0.5], dtype=p.dtype)  # clamped logs included
    torch.testing.assert_close(ours(p, y), builtin(p, y))


def test_soft_dice_matches_numpy_metric():
    p, y = _pair(3)
    expected = np.mean(soft_dice(p.numpy()[:, 0], y.numpy()[:, 0]))
    assert SoftDiceLoss()(p, y).item() == pytest.approx(expected, rel=1e-6)
    assert BrierLoss()(p, y).item() == pytest.approx(np.mean(brier(p.numpy()[:, 0], y.numpy()[:, 0])))


def test_huber_is_half_brier_on_unit_interval():
    p, y = _pair(4)
    assert HuberLoss()(p, y).item() == pytest.approx(0.5 * BrierLoss()(p, y).item(), rel=1e-12)


def _scan(loss, target_value, grid):
    y = torch.full((1, 1, 4, 4), target_value, dtype=torch.float64)
    return np.array([loss(torch.full_like(y, v), y).item() for v in grid])


GRID = np.linspace(0.0, 1.0, 201)


@pytest.mark.parametrize("name", SOFT_CORRECT)
@pytest.mark.parametrize("target", [0.1, 0.3, 0.5, 0.8, 1.0])
def test_soft_target_minimum_at_prediction_equal_target(name, target):
    values = _scan(make_loss(name), target, GRID)
    assert GRID[np.argmin(values)] == pytest.approx(target, abs=1e-12)


@pytest.mark.parametrize("name", SOFT_CORRECT)
def test_soft_target_minimum_for_soft_maps(name):
    """A random soft map beats every perturbed prediction of itself."""
    loss = make_loss(name)
    _, y = _pair(5)
    best = loss(y, y).item()
    g = torch.Generator().manual_seed(6)
    for scale in (0.3, 0.05, 0.005):
        for _ in range(10):
            p = (y + scale * torch.randn(y.shape, generator=g, dtype=y.dtype)).clamp(0, 1)
            assert loss(p, y).item() > best
    if name in ("brier", "dice", "huber", "tversky_fuzzy"):
        assert best == pytest.approx(0.0, abs=1e-9)


def test_paper_tversky_is_not_minimal_at_soft_target():
    """Eq. 18 with linear counts: for y = 0.5 the best prediction is 1, not 0.5."""
    values = _scan(TverskyLoss(), 0.5, GRID)
    assert GRID[np.argmin(values)] == 1.0
    # closed form: 1 - 0.5 p / (0.3 p + 0.35)
    expected = 1 - 0.5 * GRID / (0.3 * GRID + 0.35)
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert values[-1] == pytest.approx(1 - 0.5 / 0.65, abs=1e-6)
    assert values[100] == pytest.approx(0.5, abs=1e-6)  # p == y == 0.5
    # and the fuzzy version is minimal (0) at 0.5
    fuzzy = _scan(FuzzyTverskyLoss(), 0.5, GRID)
    assert GRID[np.argmin(fuzzy)] == 0.5 and fuzzy.min() == pytest.approx(0.0, abs=1e-6)


def test_fuzzy_tversky_equals_paper_tversky_on_hard_targets():
    p, y = _pair(7, soft=False)
    p1, p2 = p.clone().requires_grad_(), p.clone().requires_grad_()
    a, b = TverskyLoss()(p1, y), FuzzyTverskyLoss()(p2, y)
    a.backward()
    b.backward()
    assert a.item() == b.item()
    assert torch.equal(p1.grad, p2.grad)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients_finite(name):
    p, y = _pair(8, soft=True)
    p = p.float()
    p.view(-1)[:4] = torch.tensor([0.0, 1.0, 0.0, 1.0])  # saturated predictions
    y = y.float()
    y.view(-1)[:4] = torch.tensor([1.0, 0.0, 0.0, 1.0])
    p.requires_grad_()
    value = make_loss(name)(p, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(p.grad).all()
    assert p.grad.abs().sum() > 0


def test_ratio_losses_empty_target_and_prediction():
    z = torch.zeros(2, 1, 4, 4)
    for loss in (SoftDiceLoss(), TverskyLoss(), FuzzyTverskyLoss()):
        assert loss(z, z).item() == 0.0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (
            lambda: BrierLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5)),
            ValueError,
            "same shape",
        ),
        (
            lambda: BrierLoss()(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)),
            ValueError,
            r"\(B, 1, H, W\)",
        ),
        (
            lambda: BrierLoss()(np.zeros((1, 1, 2, 2)), torch.zeros(1, 1, 2, 2)),
            TypeError,
            "torch.Tensor",
        ),
        (lambda: HuberLoss(delta=0), ValueError, "delta"),
        (lambda: TverskyLoss(alpha=-1), ValueError, "alpha"),
        (lambda: SoftDiceLoss(smooth="x"), TypeError, "smooth"),
        (lambda: make_loss("focal"), ValueError, "name"),
    ],
)
def test_loss_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------------------------------- folds, config
@pytest.mark.parametrize("n, k", [(10, 5), (7, 3), (5, 5), (33, 5)])
def test_kfold_split_partitions_images(n, k):
    fold = kfold_split(n, n_folds=k, seed=3)
    assert fold.shape == (n,)
    assert set(fold.tolist()) == set(range(k))  # every fold has a test image
    sizes = np.bincount(fold, minlength=k)
    assert sizes.sum() == n and sizes.max() - sizes.min() <= 1  # each image in exactly one fold
    test_sets = [set(np.flatnonzero(fold == f)) for f in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            assert not test_sets[i] & test_sets[j]
    np.testing.assert_array_equal(fold, kfold_split(n, n_folds=k, seed=3))


def test_kfold_split_seed_and_errors():
    assert not np.array_equal(kfold_split(30, seed=0), kfold_split(30, seed=1))
    with pytest.raises(ValueError, match="n_images"):
        kfold_split(3, n_folds=5)
    with pytest.raises(ValueError, match="n_folds"):
        kfold_split(3, n_folds=1)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"losses": ("brier", "focal")}, ValueError, r"losses\[1\]"),
        ({"losses": ()}, TypeError, "losses"),
        ({"losses": ("bce", "bce")}, ValueError, "repeat"),
        ({"labels": ("soft", "medium")}, ValueError, "labels"),
        ({"n_folds": 1}, ValueError, "n_folds"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"channels": (8,)}, ValueError, "channels"),
        ({"hard_label": "staple"}, ValueError, "hard_label"),
    ],
)
def test_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CVConfig(**kwargs)


def test_hard_label_choices(tiny_phantoms):
    from confmap.learn._cv import _labels

    masks = tiny_phantoms["masks"].values  # (image, rater, y, x)
    ref = _labels(tiny_phantoms, "hard", CVConfig())
    np.testing.assert_array_equal(ref, masks[:, 0])
    maj = _labels(tiny_phantoms, "hard", CVConfig(hard_label="majority"))
    votes = masks.sum(axis=1)
    expect = np.zeros_like(maj)
    for idx in np.ndindex(votes.shape):  # strict majority of 4 raters: 3 or 4 votes
        expect[idx] = 1.0 if votes[idx] > masks.shape[1] / 2 else 0.0
    np.testing.assert_array_equal(maj, expect)
    rnd = _labels(tiny_phantoms, "hard", CVConfig(hard_label="random", seed=3))
    for i in range(len(rnd)):
        assert any(np.array_equal(rnd[i], m) for m in masks[i])
    np.testing.assert_array_equal(rnd, _labels(tiny_phantoms, "hard", CVConfig(hard_label="random", seed=3)))
    # the default is left out of the stored settings, so older run folders still resume
    assert "hard_label" not in CVConfig().to_dict()
    assert CVConfig(hard_label="majority").to_dict()["hard_label"] == "majority"


def test_medium_preset_is_a_valid_config():
    p = PRESETS["medium"]
    cfg = CVConfig(**p["config"])
    assert p["dataset"]["n"] == 40 and p["dataset"]["size"] == (128, 128)
    assert len(cfg.losses) == 6 and cfg.n_folds == 5


# ------------------------------------------------------------------------ cross-validation runs
TINY = CVConfig(
    losses=("brier", "tversky", "tversky_fuzzy"),
    n_folds=3,
    epochs=2,
    batch_size=2,
    lr=1e-2,
    channels=(4, 8),
    seed=0,
)


@pytest.fixture(scope="module")
def tiny_ds():
    from confmap.phantom import make_dataset

    return make_dataset(6, seed=1, size=(32, 32), progress=False)


@pytest.fixture(scope="module")
def tiny_run(tiny_ds):
    return cross_validate(tiny_ds, TINY, progress=False, num_threads=1)


def test_end_to_end_layout_and_scores(tiny_ds, tiny_run):
    res = tiny_run
    assert res["score"].dims == ("loss", "label", "reference", "metric", "image")
    assert res.sizes == {**res.sizes, "loss": 3, "label": 2, "fold": 3, "image": 6, "epoch": 2}
    for v in ("score", "fold_score", "train_loss", "train_seconds", "prediction"):
        assert np.isfinite(res[v].values).all(), v
    pred = res["prediction"].values
    assert pred.min() >= 0 and pred.max() <= 1
    # every image held out exactly once, fold coordinate matches the split
    np.testing.assert_array_equal(res["fold_of_image"].values, kfold_split(6, n_folds=3, seed=0))
    # the stored scores are the numpy metrics of the stored held-out predictions
    for lo in res["loss"].values:
        for lab in res["label"].values:
            p = res["prediction"].sel(loss=lo, label=lab).values.astype(np.float64)
            for ref in ("agreement", "truth"):
                t = tiny_ds[ref].values
                s = res["score"].sel(loss=lo, label=lab, reference=ref)
                np.testing.assert_allclose(s.sel(metric="brier"), brier(p, t), rtol=1e-6)
                np.testing.assert_allclose(s.sel(metric="soft_dice"), soft_dice(p, t), rtol=1e-6)
    # fold scores are the means of their images
    fs = res["score"].groupby("fold_of_image").mean().rename(fold_of_image="fold")
    np.testing.assert_allclose(res["fold_score"].values, fs.transpose(*res["fold_score"].dims).values)
    # hard labels: the fuzzy Tversky is the paper's, and both start from the same weights
    hard = res["train_loss"].sel(label="hard")
    np.testing.assert_array_equal(hard.sel(loss="tversky").values, hard.sel(loss="tversky_fuzzy").values)
    assert json.loads(res.attrs["config"])["epochs"] == 2


def test_table1_and_soft_wins(tiny_run):
    t = table1(tiny_run)
    assert list(t.columns) == [
        ("Brier", "Soft"),
        ("Brier", "Hard"),
        ("Soft Dice", "Soft"),
        ("Soft Dice", "Hard"),
    ]
    assert list(t.index) == ["Brier", "Tversky", "Tversky (fuzzy, soft-correct)"]
    assert np.isfinite(t.values).all()
    expected = tiny_run["fold_score"].sel(reference="truth", metric="brier", label="soft").mean("fold")
    np.testing.assert_allclose(table1(tiny_run, reference="truth")[("Brier", "Soft")], expected)
    w = soft_wins(tiny_run)
    assert w.shape == (3, 4) and ((w.values >= 0) & (w.values <= 3)).all()
    fs = tiny_run["fold_score"].sel(loss="brier", reference="agreement", metric="brier")
    assert w.iloc[0, 0] == int((fs.sel(label="soft") < fs.sel(label="hard")).sum())
    with pytest.raises(ValueError, match="reference"):
        table1(tiny_run, reference="rater")


def test_deterministic_for_a_seed(tiny_ds, tiny_run):
    again = cross_validate(tiny_ds, TINY, progress=False, num_threads=1)
    np.testing.assert_array_equal(again["prediction"].values, tiny_run["prediction"].values)
    np.testing.assert_array_equal(again["score"].values, tiny_run["score"].values)


def test_resume_after_interruption(tiny_ds, tiny_run, tmp_path):
    calls = []

    def stop(loss, label, fold, epoch, value):
        calls.append((loss, label, fold, epoch))
        if (loss, label, fold, epoch) == ("tversky", "soft", 1, 1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cross_validate(tiny_ds, TINY, out_dir=tmp_path, progress=False, on_epoch_end=stop, num_threads=1)
    units = tmp_path / "units"
    finished = sorted(p.parent.name for p in units.glob("*/result.pt"))
    assert len(finished) == 7  # brier: 2 labels x 3 folds, tversky soft fold 0
    assert (units / "tversky-soft-fold1" / "checkpoint.pt").exists()  # mid-unit, after epoch 1
    mtimes = {p.parent.name: p.stat().st_mtime_ns for p in units.glob("*/result.pt")}
    calls.clear()
    resumed = cross_validate(
        tiny_ds,
        TINY,
        out_dir=tmp_path,
        progress=False,
        on_epoch_end=lambda *a: calls.append(a[:4]),
        num_threads=1,
    )
    # finished units were not retrained; the interrupted one resumed at epoch 2
    assert not any(c[0] == "brier" for c in calls)
    assert not any(c[:3] == ("tversky", "soft", 0) for c in calls)
    assert ("tversky", "soft", 1, 1) not in calls and ("tversky", "soft", 1, 2) in calls
    assert {p.parent.name: p.stat().st_mtime_ns for p in units.glob("*/result.pt") if p.parent.name in mtimes} == mtimes
    assert not list(units.glob("*/checkpoint.pt"))
    np.testing.assert_array_equal(resumed["score"].values, tiny_run["score"].values)
    np.testing.assert_array_equal(resumed["prediction"].values, tiny_run["prediction"].values)
    np.testing.assert_array_equal(resumed["train_loss"].values, tiny_run["train_loss"].values)
    # a folder from other settings is refused
    with pytest.raises(ValueError, match="other settings"):
        cross_validate(tiny_ds, CVConfig(**{**TINY.to_dict(), "epochs": 3}), out_dir=tmp_path, progress=False)


def test_cross_validate_errors(tiny_ds):
    with pytest.raises(TypeError, match="xarray.Dataset"):
        cross_validate({"bmode": 1}, TINY)
    with pytest.raises(ValueError, match="missing"):
        cross_validate(tiny_ds.drop_vars("confidence"), TINY)
    with pytest.raises(ValueError, match="multiple of 8"):
        cross_validate(tiny_ds.isel(y=slice(0, 28)), CVConfig(channels=(4, 8, 16, 32)))
    with pytest.raises(ValueError, match="fewer than"):
        cross_validate(tiny_ds.isel(image=slice(0, 2)), TINY)
    with pytest.raises(TypeError, match="CVConfig"):
        cross_validate(tiny_ds, {"epochs": 1})
    with pytest.raises(ValueError, match="progress"):
        cross_validate(tiny_ds, TINY, progress="epochs")


# ------------------------------------------------------------------------------ killed processes
_KILLED_CHILD = r"""
import pathlib, sys, time
import confmap.learn._train as train
from confmap.learn import CVConfig, cross_validate
from confmap.phantom import make_dataset

out = pathlib.Path(sys.argv[1])
config = CVConfig(**__import__("json").loads(sys.argv[2]))
ds = make_dataset(6, seed=1, size=(32, 32), progress=False)
armed = []
make_loss = train.make_loss


def hanging_make_loss(name):
    loss = make_loss(name)
    forward = loss.forward

    def hang_when_armed(inp, target):
        if armed:  # inside an epoch's batch loop: say so, then wait to be killed
            (out / "mid-epoch").write_text("now")
            time.sleep(600)
        return forward(inp, target)

    loss.forward = hang_when_armed
    return loss


train.make_loss = hanging_make_loss


def on_epoch_end(loss, label, fold, epoch, value):
    if (loss, label, fold, epoch) == ("tversky", "soft", 1, 1):
        armed.append(True)


cross_validate(ds, config, out_dir=out / "run", progress=False, on_epoch_end=on_epoch_end, num_threads=1)
"""


def test_sigkill_mid_epoch_and_truncated_files_resume_bit_identical(tiny_ds, tiny_run, tmp_path):
    """A training process killed with SIGKILL in the middle of an epoch, its latest checkpoint and
    its latest finished unit then truncated: the rerun warns, redoes what it cannot read, resumes the
    rest, and ends bit-identical to an uninterrupted run."""
    import os
    import signal
    import time

    from confmap import ConfmapWarning

    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(tmp_path), json.dumps(TINY.to_dict())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as child:
        try:
            deadline = time.monotonic() + 300
            while not (tmp_path / "mid-epoch").exists():
                assert child.poll() is None, child.stdout.read().decode()
                assert time.monotonic() < deadline, "the child never reached epoch 2 of tversky/soft/fold 1"
                time.sleep(0.05)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=60) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    units = tmp_path / "run" / "units"
    assert len(list(units.glob("*/result.pt"))) == 7  # one folder per unit
    ckpt = units / "tversky-soft-fold1" / "checkpoint.pt"  # the latest checkpoint (after epoch 1)
    last_done = units / "tversky-soft-fold0" / "result.pt"  # the latest finished unit
    for path in (ckpt, last_done):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    calls = []
    with pytest.warns(ConfmapWarning, match="unreadable checkpoint") as rec:
        resumed = cross_validate(
            tiny_ds,
            TINY,
            out_dir=tmp_path / "run",
            progress=False,
            on_epoch_end=lambda *a: calls.append(a[:4]),
            num_threads=1,
        )
    warned = sorted(str(w.message).split("'")[1].rsplit("/", 1)[-1] for w in rec)
    assert warned == sorted([ckpt.name, last_done.name])
    # the two damaged units were trained from epoch 1; the six brier units were not retrained
    assert ("tversky", "soft", 0, 1) in calls and ("tversky", "soft", 1, 1) in calls
    assert not any(c[0] == "brier" for c in calls)
    for name in ("score", "prediction", "train_loss", "fold_score"):
        np.testing.assert_array_equal(resumed[name].values, tiny_run[name].values, err_msg=name)
