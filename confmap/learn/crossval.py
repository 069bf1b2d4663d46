"""k-fold cross-validation of soft- vs hard-label training (Weld et al., Section 3.3, Table 1).

For every loss, one :class:`~confmap.learn.unet.UNet` is trained on **soft** labels (the phantom's
confidence maps) and one on **hard** labels (the reference rater's binary mask, the paper's
neuroradiologist), on the same folds, from the same initial weights, with the same batch order and
schedule. Every held-out image is scored with the numpy metrics :func:`confmap.metrics.brier` and
:func:`confmap.metrics.soft_dice` against the raters' **agreement** map (as the paper does) and
against the phantom's ground-truth infiltration **truth** (which the paper could not do).

The work is split into units (loss, label, fold), each trained by :func:`train_unit` in its own
folder ``out_dir/units/<loss>-<label>-fold<k>/``: an epoch checkpoint and, when done, its scores
and predictions, written atomically (:func:`confmap.batch.cross_validate` runs the units as
dask tasks); calling :func:`cross_validate`
again with the same arguments and ``out_dir`` skips finished units and resumes an interrupted one
from its last epoch, with results identical to an uninterrupted run (CPU). This holds after the
process is killed outright (SIGKILL, tested): the files are written atomically, so a kill leaves the
previous version. A checkpoint or unit file that cannot be read anyway (truncated or corrupted on disk)
is reported with a :class:`~confmap.ConfmapWarning`, deleted, and its unit trained again from the start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .. import ConfmapWarning
from .._validation import (
    atomic_write_bytes,
    check_choice,
    check_image_shape,
    check_int,
    check_number,
    describe,
)
from ..dataset import check_dataset
from .losses import LOSS_LABELS, LOSSES, PAPER_LOSSES, make_loss
from .unet import UNet

__all__ = [
    "LABELS",
    "PRESETS",
    "CVConfig",
    "assemble_results",
    "cross_validate",
    "cv_units",
    "kfold_split",
    "plot_folds",
    "plot_predictions",
    "prepare_out_dir",
    "run_experiment",
    "soft_wins",
    "table1",
    "train_network",
    "train_unit",
    "unit_name",
]

#: Label types: soft = the confidence map, hard = the reference rater's mask.
LABELS = ("soft", "hard")
_METRICS = ("brier", "soft_dice")
#: How a hard label is chosen (:class:`CVConfig` ``hard_label``).
HARD_LABELS = ("reference", "random", "majority")
_REFERENCES = ("agreement", "truth")


@dataclass(frozen=True)
class CVConfig:
    """Settings of one cross-validation experiment (everything that changes the numbers).

    Parameters
    ----------
    losses : tuple of str
        Loss names (keys of :data:`confmap.learn.losses.LOSSES`). Default: the paper's five and
        the soft-target-correct ``"tversky_fuzzy"``.
    labels : tuple of str
        Any of ``("soft", "hard")``. Default both.
    n_folds : int
        Number of folds (>= 2), split by image. Default 5 (the paper's).
    epochs : int
        Training epochs per unit. Default 40.
    batch_size : int
        Images per optimiser step. Default 4.
    lr : float
        Adam learning rate, constant. Default 1e-3.
    channels : tuple of int
        UNet widths per level. Default ``(8, 16, 32, 64)`` (paper: 4 levels, widest 64).
    norm : str
        UNet normalisation, ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
    seed : int
        Seed of the fold split, the initial weights and the batch order. Default 0.
    hard_label : {"reference", "random", "majority"}
        How the hard label is chosen: the reference rater's mask (the paper's neuroradiologist;
        default), the mask of one rater drawn at random per image (seeded by ``seed``; any rater,
        the reference included), or the strict majority vote (pixels marked by more than half
        of the raters; a tie counts as background).
    """

    losses: tuple = (*PAPER_LOSSES, "tversky_fuzzy")
    labels: tuple = LABELS
    n_folds: int = 5
    epochs: int = 40
    batch_size: int = 4
    lr: float = 1e-3
    channels: tuple = (8, 16, 32, 64)
    norm: str = "batch"
    seed: int = 0
    hard_label: str = "reference"

    def __post_init__(self):
        losses = _check_names("losses", self.losses, tuple(LOSSES))
        labels = _check_names("labels", self.labels, LABELS)
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "n_folds", check_int("n_folds", self.n_folds, minimum=2))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, minimum=1))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        object.__setattr__(self, "lr", check_number("lr", self.lr, minimum=0.0, strict_min=True))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))
        check_choice("hard_label", self.hard_label, HARD_LABELS)
        # UNet checks channels and norm
        net = UNet(channels=self.channels, norm=self.norm)
        object.__setattr__(self, "channels", net.channels)

    def to_dict(self) -> dict:
        """The settings as a JSON-serialisable dict.

        ``hard_label`` is left out at its default ("reference"), so that run folders written
        before it existed still resume.
        """
        out = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }
        if out["hard_label"] == "reference":
            del out["hard_label"]
        return out


def _check_names(name, value, allowed):
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"`{name}` must be a non-empty sequence of names, got {describe(value)}")
    out = tuple(check_choice(f"{name}[{i}]", v, allowed) for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` must not repeat a name, got {describe(value)}")
    return out


#: Ready-made experiments: ``dataset`` goes to :func:`confmap.phantom.make_dataset`, ``config``
#: to :class:`CVConfig`. "quick" runs in minutes on a 2-core CPU (notebook, CI); "medium" (40
#: images of 128x128, all six losses, 40 epochs) is sized for about an hour on one CPU thread,
#: in the background with ``out_dir`` so that it resumes; "full" is the paper-sized experiment
#: (meant for a GPU).
PRESETS = {
    "quick": {
        "dataset": {"n": 10, "size": (64, 64), "seed": 0},
        "config": {
            "losses": ("bce", "tversky", "tversky_fuzzy"),
            "n_folds": 5,
            "epochs": 15,
            "batch_size": 2,
            "lr": 1e-2,
        },
    },
    "medium": {
        "dataset": {"n": 40, "size": (128, 128), "seed": 0},
        "config": {"n_folds": 5, "epochs": 40, "batch_size": 4, "lr": 3e-3},
    },
    "full": {
        "dataset": {"n": 40, "size": (256, 256), "seed": 0},
        "config": {"n_folds": 5, "epochs": 60, "batch_size": 4, "lr": 3e-3},
    },
}


def kfold_split(n_images: int, *, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign every image to one test fold.

    Parameters
    ----------
    n_images : int
        Number of images (>= ``n_folds``).
    n_folds : int, optional
        Number of folds (>= 2). Default 5.
    seed : int, optional
        Seed of the random permutation. Default 0.

    Returns
    -------
    fold : ndarray of int, shape (n_images,)
        ``fold[i]`` is the fold in which image ``i`` is held out; fold sizes differ by at most 1.

    Raises
    ------
    ValueError
        If ``n_images < n_folds`` or ``n_folds < 2``.

    Examples
    --------
    >>> kfold_split(7, n_folds=3, seed=0).tolist()  # doctest: +SKIP
    [2, 0, 1, 0, 2, 1, 0]
    """
    n_folds = check_int("n_folds", n_folds, minimum=2)
    n_images = check_int("n_images", n_images, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if n_images < n_folds:
        raise ValueError(
            f"`n_images` must be >= `n_folds` ({n_folds}) so that every fold has a test image, "
            f"got {n_images}"
        )
    order = np.random.default_rng(seed).permutation(n_images)
    fold = np.empty(n_images, dtype=np.int64)
    for k, idx in enumerate(np.array_split(order, n_folds)):
        fold[idx] = k
    return fold


def _pick_device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _unit_seed(seed: int, *parts: int) -> int:
    h = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(h[:6], "little")


def _load_or_discard(path: Path, device=None):
    """``torch.load(path)``, or None (with a warning, the file deleted) when it is unreadable."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        warnings.warn(
            f"unreadable checkpoint {str(path)!r} ({type(exc).__name__}: {str(exc)[:120]}); deleted, "
            "its unit is trained again from the start",
            ConfmapWarning,
            stacklevel=3,
        )
        path.unlink(missing_ok=True)
        return None


def _save_torch(path: Path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def train_network(
    images,
    targets,
    *,
    loss: str,
    config: CVConfig,
    fold: int = 0,
    device=None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str = "",
    on_epoch_end=None,
):
    """Train one UNet on images and (soft or hard) targets.

    Parameters
    ----------
    images, targets : ndarray, shape (N, H, W)
        Inputs in [0, 1] and targets in [0, 1].
    loss : str
        Loss name (a key of :data:`~confmap.learn.losses.LOSSES`).
    config : CVConfig
        Widths, epochs, batch size, learning rate and seed.
    fold : int, optional
        Fold number; the initial weights depend on ``(config.seed, fold)`` only, so soft and hard
        training (and every loss) of a fold start from the same weights, and the batch order of
        epoch ``e`` depends on ``(config.seed, fold, e)`` only.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    checkpoint : path, optional
        Epoch checkpoint (model, optimiser, history), written atomically after every epoch and
        resumed from if it exists.
    progress : bool, optional
        Show a tqdm bar over epochs. Default True.
    desc : str, optional
        Label of the progress bar.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, mean_loss)`` after each epoch's checkpoint is written
        (``epoch`` counts from 1). An exception raised there stops training (used to test
        resuming).

    Returns
    -------
    model : UNet
        Trained network in eval mode, on ``device``.
    history : list of float
        Mean training loss per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((4, 16, 16))
    >>> cfg = CVConfig(losses=("brier",), epochs=2, channels=(4, 8))
    >>> model, history = train_network(x, (x > 0.5) * 1.0, loss="brier", config=cfg, progress=False)
    >>> len(history)
    2
    """
    from tqdm.auto import tqdm

    device = _pick_device(device)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))[:, None]
    n = x.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_unit_seed(config.seed, fold))
        model = UNet(channels=config.channels, norm=config.norm)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = make_loss(loss)
    history: list[float] = []
    start = 0
    state = None
    if checkpoint is not None and Path(checkpoint).exists():
        state = _load_or_discard(Path(checkpoint), device)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        history = [float(v) for v in state["history"]]
        start = int(state["epoch"])
    bar = tqdm(
        range(start, config.epochs),
        desc=desc or f"{loss} epochs",
        leave=False,
        disable=not progress,
        initial=start,
        total=config.epochs,
    )
    for epoch in bar:
        model.train()
        gen = torch.Generator().manual_seed(_unit_seed(config.seed, fold, epoch + 1))
        order = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) == 1 and n > 1 and config.norm == "batch":
                idx = order[i - 1 : i + 1]  # BatchNorm needs two samples; reuse the previous one
            xb, yb = x[idx].to(device), y[idx].to(device)
            opt.zero_grad(set_to_none=True)
            value = criterion(model(xb), yb)
            value.backward()
            opt.step()
            total += float(value.detach()) * len(idx)
            count += len(idx)
        history.append(total / count)
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        if checkpoint is not None:
            _save_torch(
                Path(checkpoint),
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optim": opt.state_dict(),
                    "history": history,
                },
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history[-1])
    bar.close()
    model.eval()
    return model, history


@torch.no_grad()
def _predict(model, images, *, batch_size, device) -> np.ndarray:
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    out = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out)[:, 0].numpy().astype(np.float64)


def _labels(ds: xr.Dataset, label: str, config: CVConfig | None = None) -> np.ndarray:
    if label == "soft":
        return np.asarray(ds["confidence"].values, dtype=np.float32)
    how = "reference" if config is None else config.hard_label
    masks = np.asarray(ds["masks"].values)  # (image, rater, y, x)
    if how == "majority":
        return (2 * masks.sum(axis=1, dtype=np.int64) > masks.shape[1]).astype(np.float32)
    if how == "random":
        pick = np.random.default_rng(_unit_seed(config.seed, -1)).integers(0, masks.shape[1], len(masks))
        return masks[np.arange(len(masks)), pick].astype(np.float32)
    ref = ds.attrs.get("reference_rater")
    if ref is None:
        raise ValueError("dataset needs the attribute `reference_rater` for hard labels")
    return np.asarray(ds["masks"].sel(rater=ref).values, dtype=np.float32)


def _check_dataset(ds, config: CVConfig):
    need = ["bmode", "agreement", "truth"]
    need += ["confidence"] if "soft" in config.labels else []
    need += ["masks"] if "hard" in config.labels else []
    check_dataset(ds, require=need)  # the dataset contract (confmap.dataset)
    n, h, w = ds["bmode"].shape
    div = 2 ** (len(config.channels) - 1)
    if h % div or w % div:
        raise ValueError(
            f"image size (H={h}, W={w}) must be a multiple of {div} for a UNet with "
            f"{len(config.channels)} levels"
        )
    if n < config.n_folds:
        raise ValueError(f"`ds` has {n} images, fewer than `n_folds` = {config.n_folds}")


def _fingerprint(ds: xr.Dataset) -> str:
    h = hashlib.sha256()
    for v in ("bmode", "confidence", "masks", "agreement", "truth"):
        if v in ds:
            h.update(np.ascontiguousarray(ds[v].values).tobytes())
    return h.hexdigest()[:16]


def cross_validate(
    ds: xr.Dataset,
    config: CVConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    device=None,
    progress: bool = True,
    keep_predictions: bool = True,
    on_epoch_end=None,
    num_threads: int | None = None,
) -> xr.Dataset:
    """Train soft- and hard-label UNets for every loss under k-fold CV and score them.

    Parameters
    ----------
    ds : xarray.Dataset
        A phantom dataset from :func:`confmap.phantom.make_dataset` (variables ``bmode``,
        ``confidence``, ``masks``, ``agreement``, ``truth``; attribute ``reference_rater``).
    config : CVConfig, optional
        Experiment settings. Default ``CVConfig()``.
    out_dir : path, optional
        Folder for checkpoints and per-unit results. With it, an interrupted run resumes where it
        stopped; a folder written with other settings or another dataset is refused.
        Default: nothing written, nothing resumed.
    device : str or torch.device, optional
        Default CUDA when available, else CPU. Results are deterministic on CPU for a seed.
    progress : bool or "units", optional
        tqdm bars over units (loss, label, fold) and epochs (True), over units only
        ("units", few messages: suits a notebook run headless, e.g. under nbval), or none (False).
        Default True.
    keep_predictions : bool, optional
        Keep the held-out predictions in the result (variable ``prediction``). Default True.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(loss, label, fold, epoch, mean_loss)``; an exception raised
        there interrupts the run (checkpoints so far are kept).
    num_threads : int, optional
        CPU threads for torch during the run (restored afterwards). Default: leave torch's
        setting. On a small shared machine 1 thread is often fastest.

    Returns
    -------
    results : xarray.Dataset
        ``score`` (loss, label, reference, metric, image): each image scored when held out;
        ``fold_score`` (loss, label, reference, metric, fold): mean over the fold's test images;
        ``train_loss`` (loss, label, fold, epoch); ``train_seconds`` (loss, label, fold);
        ``prediction`` (loss, label, image, y, x) if kept; coordinate ``fold_of_image`` (image).
        Metrics are in the paper's orientation (lower is better for both). ``attrs`` hold the
        settings, device and total time.

    Raises
    ------
    TypeError, ValueError
        For a wrong dataset, settings, or an ``out_dir`` written with other settings.

    Notes
    -----
    Weld et al., Section 3.3 and Table 1; metrics Eqs. 8 and 9 from :mod:`confmap.metrics`.

    Examples
    --------
    >>> from confmap.phantom import make_dataset
    >>> ds = make_dataset(6, seed=0, size=(32, 32), progress=False)
    >>> cfg = CVConfig(losses=("bce",), n_folds=3, epochs=1, channels=(4, 8))
    >>> res = cross_validate(ds, cfg, progress=False)
    >>> res["fold_score"].dims
    ('loss', 'label', 'reference', 'metric', 'fold')
    """
    config = CVConfig() if config is None else config
    if not isinstance(config, CVConfig):
        raise TypeError(f"`config` must be a CVConfig, got {describe(config)}")
    _check_dataset(ds, config)
    if progress not in (True, False, "units"):
        raise ValueError(f"`progress` must be True, False or 'units', got {describe(progress)}")
    if num_threads is None:
        return _cross_validate(
            ds, config, out_dir, device, progress, keep_predictions, on_epoch_end
        )
    num_threads = check_int("num_threads", num_threads, minimum=1)
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _cross_validate(
            ds, config, out_dir, device, progress, keep_predictions, on_epoch_end
        )
    finally:
        torch.set_num_threads(before)


def cv_units(config: CVConfig) -> list[tuple[str, str, int]]:
    """The independent units of an experiment: every ``(loss, label, fold)``, in run order."""
    return [(lo, lab, k) for lo in config.losses for lab in config.labels for k in range(config.n_folds)]


def unit_name(loss: str, label: str, fold: int) -> str:
    """Folder name of a unit under ``out_dir/units``, e.g. ``"bce-soft-fold0"``."""
    return f"{loss}-{label}-fold{int(fold)}"


def prepare_out_dir(ds: xr.Dataset, config: CVConfig, out_dir) -> Path:
    """Create ``out_dir/units`` and record the settings; refuse a folder of another experiment.

    Returns
    -------
    pathlib.Path
        ``out_dir/units``, holding one folder per unit (see :func:`train_unit`).

    Raises
    ------
    ValueError
        If ``out_dir`` holds a run with other settings or another dataset.
    """
    out_dir = Path(out_dir)
    units_dir = out_dir / "units"
    units_dir.mkdir(parents=True, exist_ok=True)
    meta = {"config": config.to_dict(), "dataset": _fingerprint(ds)}
    meta_path = out_dir / "experiment.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != meta:
            raise ValueError(
                f"`out_dir` {str(out_dir)!r} holds a run with other settings or data "
                f"({old}); use a new folder to start afresh"
            )
    else:
        atomic_write_bytes(meta_path, json.dumps(meta, indent=1).encode())
    return units_dir


def train_unit(
    ds: xr.Dataset,
    config: CVConfig,
    loss: str,
    label: str,
    fold: int,
    *,
    unit_dir: str | os.PathLike | None = None,
    device=None,
    progress: bool = False,
    on_epoch_end=None,
) -> dict:
    """Train and score one unit ``(loss, label, fold)`` of :func:`cross_validate`.

    Units are independent (they share only the dataset), so they can run in any order, in
    other processes or on other machines (:func:`confmap.batch.cross_validate`), and give the
    same numbers as the serial loop.

    Parameters
    ----------
    ds : xarray.Dataset
        As in :func:`cross_validate` (checked there).
    config : CVConfig
    loss, label : str
        One of ``config.losses`` and one of ``config.labels``.
    fold : int
        Held-out fold, ``0 <= fold < config.n_folds``.
    unit_dir : path, optional
        The unit's own folder: ``checkpoint.pt`` (after every epoch) and ``result.pt`` (when
        done), both written atomically. A finished unit is loaded, not retrained; an interrupted
        one resumes from its checkpoint. Default: nothing written.
    device, progress, on_epoch_end
        As in :func:`train_network` (``on_epoch_end(epoch, mean_loss)``).

    Returns
    -------
    dict
        ``image`` (held-out indices), ``score`` (reference, metric, image), ``train_loss``
        (epoch,), ``train_seconds``, ``prediction`` (image, y, x): torch tensors and a float.
    """
    from ..metrics import SCORES

    check_choice("loss", loss, config.losses)
    check_choice("label", label, config.labels)
    fold = check_int("fold", fold, minimum=0, maximum=config.n_folds - 1)
    done = ckpt = None
    if unit_dir is not None:
        unit_dir = Path(unit_dir)
        unit_dir.mkdir(parents=True, exist_ok=True)
        done, ckpt = unit_dir / "result.pt", unit_dir / "checkpoint.pt"
        if done.exists():
            unit = _load_or_discard(done)
            if unit is not None:
                return unit
    device = _pick_device(device)
    folds = kfold_split(ds.sizes["image"], n_folds=config.n_folds, seed=config.seed)
    train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
    bmode = np.asarray(ds["bmode"].values, dtype=np.float32)
    target = _labels(ds, label, config)
    tic = time.perf_counter()
    model, history = train_network(
        bmode[train],
        target[train],
        loss=loss,
        config=config,
        fold=fold,
        device=device,
        checkpoint=ckpt,
        progress=progress,
        desc=f"{loss}/{label}/fold {fold}",
        on_epoch_end=on_epoch_end,
    )
    seconds = time.perf_counter() - tic
    pred = _predict(model, bmode[test], batch_size=config.batch_size, device=device)
    score = np.empty((len(_REFERENCES), len(_METRICS), len(test)))
    for r, ref in enumerate(_REFERENCES):
        ref_values = np.asarray(ds[ref].values, dtype=np.float64)[test]
        for j, name in enumerate(_METRICS):  # the per-image scores of confmap.metrics.SCORES
            score[r, j] = SCORES[name](pred, ref_values)
    unit = {
        "image": torch.as_tensor(test),  # (image,) indices of the held-out images
        "score": torch.as_tensor(score),  # (reference, metric, image)
        "train_loss": torch.as_tensor(np.asarray(history, dtype=np.float64)),  # (epoch,)
        "train_seconds": float(seconds),
        "prediction": torch.as_tensor(pred.astype(np.float32)),  # (image, y, x)
    }
    if done is not None:
        _save_torch(done, unit)
        ckpt.unlink(missing_ok=True)
    return unit


def _cross_validate(ds, config, out_dir, device, progress, keep_predictions, on_epoch_end):
    from tqdm.auto import tqdm

    device = _pick_device(device)
    units_dir = None if out_dir is None else prepare_out_dir(ds, config, out_dir)
    t0 = time.perf_counter()
    per_unit = {}
    outer = tqdm(cv_units(config), desc="cross-validation (loss, label, fold)", disable=progress is False)
    for lo, lab, k in outer:
        outer.set_postfix_str(f"{lo}/{lab}/fold {k}")
        cb = None
        if on_epoch_end is not None:

            def cb(epoch, value, _u=(lo, lab, k)):
                on_epoch_end(*_u, epoch, value)

        per_unit[lo, lab, k] = train_unit(
            ds,
            config,
            lo,
            lab,
            k,
            unit_dir=None if units_dir is None else units_dir / unit_name(lo, lab, k),
            device=device,
            progress=progress is True,
            on_epoch_end=cb,
        )
    outer.close()
    return assemble_results(
        ds, config, per_unit, keep_predictions=keep_predictions, device=device, seconds=time.perf_counter() - t0
    )


def assemble_results(ds, config, per_unit, *, keep_predictions=True, device="cpu", seconds=float("nan")):
    """Put the units of :func:`train_unit` together into :func:`cross_validate`'s result.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset the units were trained on.
    config : CVConfig
    per_unit : dict
        ``{(loss, label, fold): unit}`` for every unit of :func:`cv_units`.
    keep_predictions : bool, default True
    device : str or torch.device, default "cpu"
        Recorded in ``attrs``.
    seconds : float, optional
        Wall time of the run, recorded in ``attrs``.

    Returns
    -------
    xarray.Dataset
        As from :func:`cross_validate`.
    """
    folds = kfold_split(ds.sizes["image"], n_folds=config.n_folds, seed=config.seed)
    return _assemble(ds, config, folds, per_unit, keep_predictions, device, seconds)


def _assemble(ds, config, folds, per_unit, keep_predictions, device, seconds) -> xr.Dataset:
    n_images = ds.sizes["image"]
    nl, nb, nf = len(config.losses), len(config.labels), config.n_folds
    score = np.full((nl, nb, len(_REFERENCES), len(_METRICS), n_images), np.nan)
    fold_score = np.full((nl, nb, len(_REFERENCES), len(_METRICS), nf), np.nan)
    train_loss = np.full((nl, nb, nf, config.epochs), np.nan)
    train_seconds = np.full((nl, nb, nf), np.nan)
    h, w = ds.sizes["y"], ds.sizes["x"]
    pred = np.full((nl, nb, n_images, h, w), np.nan, dtype=np.float32) if keep_predictions else None
    for (lo, lab, k), u in per_unit.items():
        a, b = config.losses.index(lo), config.labels.index(lab)
        idx = u["image"].numpy().astype(int)
        sc = u["score"].numpy()
        score[a, b][..., idx] = sc
        fold_score[a, b, ..., k] = sc.mean(axis=-1)
        train_loss[a, b, k] = u["train_loss"].numpy()
        train_seconds[a, b, k] = float(u["train_seconds"])
        if pred is not None:
            pred[a, b, idx] = u["prediction"].numpy()
    coords = {
        "loss": list(config.losses),
        "label": list(config.labels),
        "reference": list(_REFERENCES),
        "metric": list(_METRICS),
        "image": ds["image"].values,
        "fold": np.arange(nf),
        "epoch": np.arange(1, config.epochs + 1),
        "fold_of_image": ("image", folds),
        "loss_name": ("loss", [LOSS_LABELS[lo] for lo in config.losses]),
    }
    if "kind" in ds.coords:
        coords["kind"] = ("image", ds["kind"].values)
    data = {
        "score": (("loss", "label", "reference", "metric", "image"), score),
        "fold_score": (("loss", "label", "reference", "metric", "fold"), fold_score),
        "train_loss": (("loss", "label", "fold", "epoch"), train_loss),
        "train_seconds": (("loss", "label", "fold"), train_seconds),
    }
    if pred is not None:
        coords["y"], coords["x"] = ds["y"].values, ds["x"].values
        data["prediction"] = (("loss", "label", "image", "y", "x"), pred)
    res = xr.Dataset(data, coords=coords)
    res["score"].attrs["description"] = "held-out score per image (lower is better)"
    res["fold_score"].attrs["description"] = "mean held-out score per fold (lower is better)"
    res.attrs.update(
        {
            "config": json.dumps(config.to_dict()),
            "device": str(device),
            "torch_version": torch.__version__,
            "seconds": float(seconds),
            "train_seconds_total": float(np.nansum(train_seconds)),
        }
    )
    return res


def table1(
    results: xr.Dataset,
    *,
    reference: str = "agreement",
    intervals: bool = False,
    level: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
):
    """The paper's Table 1 layout: mean over folds, rows = losses, columns = metric x label.

    Parameters
    ----------
    results : xarray.Dataset
        Output of :func:`cross_validate`.
    reference : {"agreement", "truth"}, optional
        Score against the raters' agreement (the paper's) or the phantom's truth.
    intervals : bool, optional
        Add, per metric, the mean per-image difference soft - hard with its bootstrap interval,
        the paired Wilcoxon p-value over held-out images and the fold win count
        (:func:`confmap.learn.stats.paired_differences`). Default False (the paper's columns).
    level, n_resamples, seed
        Of the bootstrap interval (only with ``intervals=True``).

    Returns
    -------
    pandas.DataFrame
        Index: loss display names; columns: MultiIndex ``(metric, label)`` with metrics
        "Brier" and "Soft Dice" and labels "Soft" and "Hard"; with ``intervals`` also
        "Soft − Hard", "CI low", "CI high", "p (Wilcoxon)" and "folds soft better".
    """
    import pandas as pd

    from .stats import paired_differences

    reference = check_choice("reference", reference, _REFERENCES)
    mean = results["fold_score"].sel(reference=reference).mean("fold")
    cols, data = [], []
    for m, mname in zip(_METRICS, ("Brier", "Soft Dice"), strict=True):
        for lab in results["label"].values:
            cols.append((mname, str(lab).capitalize()))
            data.append(mean.sel(metric=m, label=lab).values)
        if intervals:
            pdiff = paired_differences(
                results, reference=reference, metric=m, level=level, n_resamples=n_resamples, seed=seed
            )
            for src, name in (
                ("mean_diff", "Soft − Hard"),
                ("ci_low", "CI low"),
                ("ci_high", "CI high"),
                ("p_value", "p (Wilcoxon)"),
                ("folds_soft_better", "folds soft better"),
            ):
                cols.append((mname, name))
                data.append(pdiff[src].to_numpy())
    return pd.DataFrame(
        np.column_stack(data),
        index=pd.Index([str(v) for v in results["loss_name"].values], name="Loss Function"),
        columns=pd.MultiIndex.from_tuples(cols, names=["metric", "label"]),
    )


def soft_wins(results: xr.Dataset):
    """In how many folds the soft-trained network scores better (lower) than the hard one.

    Returns
    -------
    pandas.DataFrame
        Index: loss display names; columns: MultiIndex ``(reference, metric)``; values: the
        number of folds (out of ``results.sizes["fold"]``) where soft < hard.

    Raises
    ------
    ValueError
        If the results lack either label.
    """
    import pandas as pd

    labels = list(results["label"].values)
    if "soft" not in labels or "hard" not in labels:
        raise ValueError(f"`results` must hold both labels 'soft' and 'hard', got {labels}")
    fs = results["fold_score"]
    wins = (fs.sel(label="soft") < fs.sel(label="hard")).sum("fold")
    cols, data = [], []
    for ref in _REFERENCES:
        for m in _METRICS:
            cols.append((ref, m))
            data.append(wins.sel(reference=ref, metric=m).values.astype(int))
    return pd.DataFrame(
        np.column_stack(data),
        index=pd.Index([str(v) for v in results["loss_name"].values], name="Loss Function"),
        columns=pd.MultiIndex.from_tuples(cols, names=["reference", "metric"]),
    )


def run_experiment(
    preset: str = "quick",
    *,
    out_dir: str | os.PathLike | None = None,
    device=None,
    progress: bool = True,
    dataset: dict | None = None,
    num_threads: int | None = None,
    **config_overrides,
):
    """Build the phantom dataset of a preset and cross-validate on it.

    Parameters
    ----------
    preset : {"quick", "medium", "full"}, optional
        ``"quick"``: 10 images of 64x64, three losses (BCE and both Tverskys), 15 epochs
        (minutes on a 2-core CPU). ``"medium"``: 40 images of 128x128, all six losses, 40 epochs
        (estimated about an hour on one CPU thread; run it with ``out_dir``).
        ``"full"``: 40 images of 256x256, all six losses, 60 epochs
        (meant for a GPU).
    out_dir, device, progress, num_threads
        As in :func:`cross_validate`.
    dataset : dict, optional
        Overrides of the preset's :func:`confmap.phantom.make_dataset` arguments
        (``n``, ``size``, ``seed``, ...).
    **config_overrides
        Overrides of the preset's :class:`CVConfig` fields (``epochs=5``, ``losses=("bce",)``).

    Returns
    -------
    ds : xarray.Dataset
        The phantom dataset.
    results : xarray.Dataset
        As from :func:`cross_validate`.

    Examples
    --------
    >>> ds, res = run_experiment("quick", epochs=2, losses=("bce",))  # doctest: +SKIP
    >>> table1(res)  # doctest: +SKIP
    """
    from ..phantom import make_dataset

    preset = check_choice("preset", preset, tuple(PRESETS))
    dargs = dict(PRESETS[preset]["dataset"])
    dargs.update(dataset or {})
    if "size" in dargs:
        dargs["size"] = check_image_shape("dataset['size']", dargs["size"])
    n = dargs.pop("n")
    cargs = dict(PRESETS[preset]["config"])
    cargs.update(config_overrides)
    config = CVConfig(**cargs)
    ds = make_dataset(n, progress=progress is not False, **dargs)
    results = cross_validate(
        ds, config, out_dir=out_dir, device=device, progress=progress, num_threads=num_threads
    )
    return ds, results


def plot_folds(results: xr.Dataset, *, reference: str = "agreement", ax=None):
    """Per-fold held-out scores, soft vs hard, one panel per metric.

    Each loss is a group on the x axis; each fold is a dot (soft filled, hard open), joined soft
    to hard by a line so that a fold's pair can be read.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    reference = check_choice("reference", reference, _REFERENCES)
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    else:
        fig = np.atleast_1d(ax)[0].figure
    axes = np.atleast_1d(ax)
    fs = results["fold_score"].sel(reference=reference)
    losses = list(results["loss"].values)
    for a, m, mname in zip(axes, _METRICS, ("Brier", "Soft Dice"), strict=True):
        for i, lo in enumerate(losses):
            s = fs.sel(loss=lo, metric=m, label="soft").values
            h = fs.sel(loss=lo, metric=m, label="hard").values
            xs, xh = np.full_like(s, i - 0.15), np.full_like(h, i + 0.15)
            for f in range(len(s)):
                a.plot([xs[f], xh[f]], [s[f], h[f]], color="0.7", lw=0.8, zorder=1)
            a.scatter(xs, s, color="C0", label="soft" if i == 0 else None, zorder=2)
            a.scatter(
                xh, h, facecolor="none", edgecolor="C3", label="hard" if i == 0 else None, zorder=2
            )
        a.set_xticks(
            range(len(losses)),
            [str(v) for v in results["loss_name"].values],
            rotation=20,
            ha="right",
        )
        a.set_ylabel(f"{mname} vs {reference} (lower is better)")
    # one legend, right of the panels (constrained layout makes room): none covers a fold's dot
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(f"Held-out score per fold ({results.sizes['fold']} folds)")
    return fig


def plot_predictions(
    ds: xr.Dataset, results: xr.Dataset, *, loss: str = "bce", images=None, reference: str = "truth"
):
    """Figure 6: held-out predictions of the soft- and hard-trained networks next to references.

    Columns: B-mode, ``reference`` (truth or agreement), soft label, soft-trained output, hard
    label, hard-trained output; one row per image.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset that was cross-validated.
    results : xarray.Dataset
        Output of :func:`cross_validate` with ``prediction``.
    loss : str, optional
        Which loss's networks to show. Default "bce" (the paper's Figure 6).
    images : sequence of int, optional
        Image coordinates to show. Default: the first three.
    reference : {"truth", "agreement"}, optional
        Reference shown in the second column. Default "truth".

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if "prediction" not in results:
        raise ValueError(
            "`results` has no `prediction`; run cross_validate with keep_predictions=True"
        )
    losses = [str(v) for v in results["loss"].values]
    loss = check_choice("loss", loss, losses)
    reference = check_choice("reference", reference, _REFERENCES)
    if images is None:
        images = results["image"].values[:3]
    images = list(images)
    cols = ["B-mode", reference, "soft label", "soft-trained", "hard label", "hard-trained"]
    fig, axes = plt.subplots(
        len(images),
        len(cols),
        figsize=(2.0 * len(cols), 2.1 * len(images)),
        squeeze=False,
        layout="constrained",
    )
    ref_rater = ds.attrs.get("reference_rater")
    for r, im in enumerate(images):
        panels = [
            ds["bmode"].sel(image=im).values,
            ds[reference].sel(image=im).values,
            ds["confidence"].sel(image=im).values,
            results["prediction"].sel(loss=loss, label="soft", image=im).values,
            ds["masks"].sel(image=im, rater=ref_rater).values,
            results["prediction"].sel(loss=loss, label="hard", image=im).values,
        ]
        for c, (a, p) in enumerate(zip(axes[r], panels, strict=True)):
            a.imshow(p, cmap="gray" if c == 0 else "magma", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(cols[c], fontsize=9)
        axes[r, 0].set_ylabel(
            f"image {im} (fold {int(results['fold_of_image'].sel(image=im))})", fontsize=8
        )
    fig.suptitle(f"Held-out outputs, loss = {LOSS_LABELS[loss]}")
    return fig
