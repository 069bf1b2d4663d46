"""The cross-validation units of :mod:`confmap.learn` (loss x label x fold) as dask tasks."""

from __future__ import annotations

import time
from pathlib import Path

from .._validation import check_type
from .engine import run_tasks

__all__ = ["cross_validate"]


def _unit_task(job: dict):
    import torch

    from ..learn import train_unit

    torch.set_num_threads(job["num_threads"])
    return train_unit(
        job["ds"],
        job["config"],
        job["loss"],
        job["label"],
        job["fold"],
        unit_dir=job["unit_dir"],
        device=job["device"],
        progress=False,
    )


def cross_validate(
    ds,
    config=None,
    *,
    client=None,
    out_dir=None,
    device="cpu",
    keep_predictions=True,
    progress=True,
    num_threads: int = 1,
):
    """:func:`confmap.learn.cross_validate`, one dask task per unit ``(loss, label, fold)``.

    Each unit trains in its own folder ``out_dir/units/<loss>-<label>-fold<k>/`` (checkpoint
    after every epoch, result when done), so a killed worker's unit is retried by dask and
    resumes from its last epoch, and a second call skips finished units. The results are those
    of the serial :func:`confmap.learn.cross_validate` (same seeds, same batches; identical on
    CPU with the same ``num_threads``).

    Parameters
    ----------
    ds : xarray.Dataset
        As in :func:`confmap.learn.cross_validate`; sent to the workers once per unit (small
        for the presets: 10 images of 64^2 or 40 of 256^2).
    config : confmap.learn.CVConfig, optional
    client : distributed.Client, optional
        Default: run the units in this process.
    out_dir : path, optional
        Checkpoints and results; must be reachable by every worker (a shared filesystem on a
        cluster). Default: nothing written.
    device : str, default "cpu"
        Torch device on the workers (``"cuda"`` on GPU workers).
    keep_predictions, progress
        As in :func:`confmap.learn.cross_validate`.
    num_threads : int, default 1
        Torch CPU threads inside each task.

    Returns
    -------
    xarray.Dataset
        As from :func:`confmap.learn.cross_validate`.
    """
    from ..learn import CVConfig, assemble_results, cv_units, prepare_out_dir, unit_name

    config = CVConfig() if config is None else config
    check_type("config", config, CVConfig, "a confmap.learn.CVConfig")
    units_dir = None if out_dir is None else prepare_out_dir(ds, config, out_dir)
    ds = ds[[v for v in ("bmode", "confidence", "masks", "agreement", "truth") if v in ds]].copy()
    jobs = [
        {
            "ds": ds,
            "config": config,
            "loss": lo,
            "label": lab,
            "fold": k,
            "device": device,
            "num_threads": num_threads,
            "unit_dir": None if units_dir is None else str(Path(units_dir) / unit_name(lo, lab, k)),
        }
        for lo, lab, k in cv_units(config)
    ]
    t0 = time.perf_counter()
    if client is not None:
        [ds_future] = client.scatter([ds], broadcast=False)
        for job in jobs:
            job["ds"] = ds_future
    units = run_tasks(_unit_task, jobs, client=client, desc="cross-validation units", progress=progress, batch=1)
    per_unit = {(jobs[i]["loss"], jobs[i]["label"], jobs[i]["fold"]): unit for i, unit in units}
    return assemble_results(
        ds, config, per_unit, keep_predictions=keep_predictions, device=device, seconds=time.perf_counter() - t0
    )
