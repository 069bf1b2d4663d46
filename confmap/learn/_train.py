"""Training one UNet: :func:`train_network`, seeds, atomic epoch checkpoints, prediction."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .._validation import atomic_write_bytes
from .._warnings import ConfmapWarning
from ._config import CVConfig
from .losses import make_loss
from .unet import UNet


def pick_device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def unit_seed(seed: int, *parts: int) -> int:
    h = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(h[:6], "little")


def load_or_discard(path: Path, device=None):
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


def save_torch(path: Path, obj) -> None:
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

    device = pick_device(device)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))[:, None]
    n = x.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(unit_seed(config.seed, fold))
        model = UNet(channels=config.channels, norm=config.norm)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = make_loss(loss)
    history: list[float] = []
    start = 0
    checkpoint = None if checkpoint is None else Path(checkpoint)
    state = load_or_discard(checkpoint, device) if checkpoint is not None and checkpoint.exists() else None
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
        gen = torch.Generator().manual_seed(unit_seed(config.seed, fold, epoch + 1))
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
            state = {"epoch": epoch + 1, "model": model.state_dict(), "optim": opt.state_dict(), "history": history}
            save_torch(checkpoint, state)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history[-1])
    bar.close()
    model.eval()
    return model, history


@torch.no_grad()
def predict(model, images, *, batch_size, device) -> np.ndarray:
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    out = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out)[:, 0].numpy().astype(np.float64)
