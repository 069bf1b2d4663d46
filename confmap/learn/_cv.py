"""k-fold cross-validation of soft- vs hard-label training (Weld et al., Section 3.3, Table 1).

For every loss, one :class:`~confmap.learn.unet.UNet` is trained on **soft** labels (the phantom's
confidence maps) and one on **hard** labels (the reference rater's binary mask, the paper's
neuroradiologist), on the same folds, from the same initial weights, with the same batch order and
schedule. Every held-out image is scored with the numpy metrics :func:`confmap.metrics.brier` and
:func:`confmap.metrics.soft_dice` against the raters' **agreement** map (as the paper does) and
against the phantom's ground-truth infiltration **truth** (which the paper could not do).

The work is split into units (loss, label, fold), each trained by :func:`train_unit` in its own
folder ``out_dir/units/<loss>-<label>-fold<k>/`` (:func:`confmap.batch.cross_validate` runs them as
dask tasks): an epoch checkpoint and, when done, its scores and predictions. Calling
:func:`cross_validate` again with the same arguments and ``out_dir`` skips finished units and resumes
an interrupted one from its last epoch, with results identical to an uninterrupted run (CPU), also
after the process is killed outright (SIGKILL, tested): the files are written atomically, so a kill
leaves the previous version. A checkpoint or unit file that cannot be read anyway (truncated or
corrupted on disk) is reported with a :class:`~confmap.ConfmapWarning`, deleted, and its unit trained
again from the start.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .._validation import atomic_write_bytes, check_choice, check_image_shape, check_int, check_type, describe
from ..dataset import check_dataset
from ._config import METRICS, PRESETS, REFERENCES, CVConfig, kfold_split
from ._train import load_or_discard, pick_device, predict, save_torch, train_network, unit_seed
from .losses import LOSS_LABELS


def _labels(ds: xr.Dataset, label: str, config: CVConfig) -> np.ndarray:
    if label == "soft":
        return np.asarray(ds["confidence"].values, dtype=np.float32)
    masks = np.asarray(ds["masks"].values)  # (image, rater, y, x)
    if config.hard_label == "majority":
        return (2 * masks.sum(axis=1, dtype=np.int64) > masks.shape[1]).astype(np.float32)
    if config.hard_label == "random":
        pick = np.random.default_rng(unit_seed(config.seed, -1)).integers(0, masks.shape[1], len(masks))
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
            f"image size (H={h}, W={w}) must be a multiple of {div} for a UNet with {len(config.channels)} levels"
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
    check_type("config", config, CVConfig, "a CVConfig")
    _check_dataset(ds, config)
    if progress not in (True, False, "units"):
        raise ValueError(f"`progress` must be True, False or 'units', got {describe(progress)}")
    before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(check_int("num_threads", num_threads, minimum=1))
    try:
        return _cross_validate(ds, config, out_dir, device, progress, keep_predictions, on_epoch_end)
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
            unit = load_or_discard(done)
            if unit is not None:
                return unit
    device = pick_device(device)
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
    pred = predict(model, bmode[test], batch_size=config.batch_size, device=device)
    score = np.empty((len(REFERENCES), len(METRICS), len(test)))
    for r, ref in enumerate(REFERENCES):
        ref_values = np.asarray(ds[ref].values, dtype=np.float64)[test]
        for j, name in enumerate(METRICS):  # the per-image scores of confmap.metrics.SCORES
            score[r, j] = SCORES[name](pred, ref_values)
    unit = {
        "image": torch.as_tensor(test),  # (image,) indices of the held-out images
        "score": torch.as_tensor(score),  # (reference, metric, image)
        "train_loss": torch.as_tensor(np.asarray(history, dtype=np.float64)),  # (epoch,)
        "train_seconds": float(seconds),
        "prediction": torch.as_tensor(pred.astype(np.float32)),  # (image, y, x)
    }
    if done is not None:
        save_torch(done, unit)
        ckpt.unlink(missing_ok=True)
    return unit


def _cross_validate(ds, config, out_dir, device, progress, keep_predictions, on_epoch_end):
    from tqdm.auto import tqdm

    device = pick_device(device)
    units_dir = None if out_dir is None else prepare_out_dir(ds, config, out_dir)
    t0 = time.perf_counter()
    per_unit = {}
    outer = tqdm(cv_units(config), desc="cross-validation (loss, label, fold)", disable=progress is False)
    for lo, lab, k in outer:
        outer.set_postfix_str(f"{lo}/{lab}/fold {k}")
        cb = None if on_epoch_end is None else functools.partial(on_epoch_end, lo, lab, k)
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
    n_images = ds.sizes["image"]
    folds = kfold_split(n_images, n_folds=config.n_folds, seed=config.seed)
    nl, nb, nf = len(config.losses), len(config.labels), config.n_folds
    score = np.full((nl, nb, len(REFERENCES), len(METRICS), n_images), np.nan)
    fold_score = np.full((nl, nb, len(REFERENCES), len(METRICS), nf), np.nan)
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
        "reference": list(REFERENCES),
        "metric": list(METRICS),
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
        config=json.dumps(config.to_dict()),
        device=str(device),
        torch_version=torch.__version__,
        seconds=float(seconds),
        train_seconds_total=float(np.nansum(train_seconds)),
    )
    return res


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
        (``n``, ``size``, ``seed``, ``params`` -- the maps' :class:`~confmap.MapParams` --, ...).
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
    dargs = {**PRESETS[preset]["dataset"], **(dataset or {})}
    dargs["size"] = check_image_shape("dataset['size']", dargs["size"])  # every preset has one
    n = dargs.pop("n")
    config = CVConfig(**{**PRESETS[preset]["config"], **config_overrides})
    ds = make_dataset(n, progress=progress is not False, **dargs)
    results = cross_validate(ds, config, out_dir=out_dir, device=device, progress=progress, num_threads=num_threads)
    return ds, results
