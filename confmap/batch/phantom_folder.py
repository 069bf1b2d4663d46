"""A simulated dataset on disk, one case per task, in the folder layout :func:`confmap.io.load_folder` reads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .._validation import atomic_write_bytes, check_image_shape, check_int
from .engine import claim_folder, remove_temporaries, run_tasks

__all__ = ["PHANTOM_MANIFEST", "make_phantom_folder", "phantom_case"]

#: Name of the settings file at the root of a phantom folder.
PHANTOM_MANIFEST = "confmap-phantom.json"


def phantom_case(job: dict) -> dict:
    """One task: write case ``job["i"]`` of a phantom dataset into ``job["folder"]``.

    Writes ``image.png`` (8-bit B-mode), ``mask_r<k>.png`` per rater (0/255), ``kind.txt`` and,
    last, ``annotation.json`` (the virtual annotator's points, ``image_id`` = the case name,
    ``spacing`` in mm), each atomically. The images are those of
    ``confmap.phantom.make_dataset(n, seed=seed, size=size)``.

    Returns
    -------
    dict
        ``name``, ``kind``, ``seconds``.
    """
    from ..io import png_bytes
    from ..phantom import dataset_phantom

    tic = time.perf_counter()
    folder = Path(job["folder"])
    ph = dataset_phantom(job["i"], seed=job["seed"], size=tuple(job["size"]))
    image = np.rint(np.clip(ph.bmode, 0.0, 1.0) * 255.0).astype(np.uint8)
    atomic_write_bytes(folder / "image.png", png_bytes(image))
    for k, mask in enumerate(ph.masks):
        atomic_write_bytes(folder / f"mask_r{k}.png", png_bytes((mask > 0).astype(np.uint8) * 255))
    atomic_write_bytes(folder / "kind.txt", (ph.kind + "\n").encode())
    ann = ph.annotation.replace(image_id=folder.name)
    ann.save(folder / "annotation.json")
    return {"name": folder.name, "kind": ph.kind, "seconds": time.perf_counter() - tic}


def make_phantom_folder(
    n, out_dir, *, seed: int = 0, size=(256, 256), client=None, overwrite=False, progress=True
) -> dict:
    """Write ``n`` phantom cases ``case_0000``, ``case_0001``, ... into ``out_dir``.

    Parameters
    ----------
    n : int
        Number of cases (>= 1).
    out_dir : path
        Root folder (created); ``confmap-phantom.json`` records ``seed`` and ``size``.
    seed : int, default 0
    size : (int, int), default (256, 256)
        Image shape ``(H, W)``.
    client : distributed.Client, optional
        Make the cases as dask tasks on this cluster. Default: in this process.
    overwrite : bool, default False
        Allow a folder made with another seed or size (its cases are remade).
    progress : bool, default True

    Returns
    -------
    dict
        ``written`` (case names made now), ``skipped`` (already complete), ``seconds``.

    Raises
    ------
    ValueError
        If ``out_dir`` holds a phantom of another seed or size and ``overwrite`` is False.
    """
    tic = time.perf_counter()
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    size = list(check_image_shape("size", size))
    out_dir = Path(os.fspath(out_dir))
    settings = {"seed": seed, "size": size}
    redo = claim_folder(out_dir, PHANTOM_MANIFEST, settings, overwrite=overwrite, what="a phantom made with")
    digits = max(4, len(str(n - 1)))
    jobs, skipped = [], []
    for i in range(n):
        folder = out_dir / f"case_{i:0{digits}d}"
        if not redo and (folder / "annotation.json").exists():
            skipped.append(folder.name)
            continue
        jobs.append({"i": i, "folder": str(folder), "seed": seed, "size": size})
    written = [
        res["name"] for _, res in run_tasks(phantom_case, jobs, client=client, desc="phantom", progress=progress)
    ]
    remove_temporaries(out_dir)
    return {"written": sorted(written), "skipped": skipped, "seconds": time.perf_counter() - tic}
