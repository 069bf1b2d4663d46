"""The paper's evaluation of a folder of maps, one task per image, combined from small summaries.

Each task reads one map and its case's rater masks, runs :func:`confmap.metrics.evaluate` on that
image alone, writes its per-image numbers (``cases/<case>.npz``, atomically; a rerun reuses them)
and returns them. The driver then combines them into the Dataset of :func:`confmap.metrics.evaluate`:
per-image values are identical; the pooled joint-threshold scores come from the summed
confusion counts and the pooled reliability diagram from summed bin counts and sums (both exact);
the margin correlation and fit from the per-image ψ values. Memory holds one image per worker,
whatever the number of images. **Not computed**: the pooled ROC over all pixels of all images
(``auc_pooled``, ``tpr_pooled`` are NaN; it needs every pixel at once) -- the paper's Figure 3 uses
the mean of per-image curves, which is here.
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from .._validation import atomic_write, atomic_write_bytes, describe
from .engine import BadInput, claim_folder, remove_temporaries, run_tasks

__all__ = [
    "EVAL_MANIFEST",
    "PER_IMAGE",
    "combine_evaluations",
    "evaluate_case",
    "evaluate_folder",
    "evaluate_stack",
    "sweep_case",
    "sweep_folder",
]

#: Name of the settings file of a report folder.
EVAL_MANIFEST = "confmap-evaluate.json"
#: Per-image variables of :func:`confmap.metrics.evaluate` kept from each task.
PER_IMAGE = (
    "brier",
    "brier_foreground",
    "soft_dice",
    "n_foreground",
    "psi_conf",
    "psi_agree",
    "auc",
    "tpr",
    "tp",
    "fp",
    "fn",
    "tn",
    "precision",
    "recall",
    "f1",
    "accuracy",
)
_MAP_SUFFIXES = (".nc", ".png", ".nii", ".nii.gz", ".nrrd")


def _read_agreement(case: Path):
    from ..io import load_image

    masks = sorted(p for p in case.iterdir() if p.is_file() and p.name.lower().startswith("mask_"))
    if not masks:
        raise ValueError(f"case {case.name!r} has no mask files (expected mask_<rater>.<ext>)")
    stack = np.stack([np.asarray(load_image(p).values) > 0 for p in masks])
    return stack.mean(axis=0, dtype=np.float64)


def evaluate_case(job: dict) -> dict:
    """One task: evaluate one map against its case's Agreement, write ``job["target"]``.

    Parameters
    ----------
    job : dict
        ``name``, ``map`` (map file), ``case`` (case folder with ``mask_*`` files), ``target``
        (``.npz`` to write: the returned values), ``options`` (keyword arguments of :func:`confmap.metrics.evaluate`).

    Returns
    -------
    dict
        ``name``, ``ok``, ``error``, ``warnings``, ``seconds`` and, when ok, ``values``: the
        per-image arrays (:data:`PER_IMAGE`) and the image's reliability sums ``bin_count``,
        ``bin_sum_confidence``, ``bin_sum_agreement``.
    """
    from ..io import read_map
    from ..metrics import evaluate

    tic = time.perf_counter()
    out = {"name": job["name"], "ok": False, "error": None, "warnings": []}
    try:
        soft = np.asarray(read_map(job["map"]).values, dtype=np.float64)
        agr = _read_agreement(Path(job["case"]))
        if soft.shape != agr.shape:
            raise ValueError(f"map shape {soft.shape} differs from the masks' shape {agr.shape}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev = evaluate(soft[None], agr[None], **job["options"])
        out["warnings"] = sorted({str(w.message) for w in caught})
        out["values"] = _summary(ev)
        buf = io.BytesIO()
        np.savez(buf, **out["values"])  # small and fast (a NetCDF of ~50 variables takes ~0.5 s)
        atomic_write_bytes(job["target"], buf.getvalue())
        out["ok"] = True
    except (OSError, ValueError, TypeError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - tic
    return out


def _summary(ev) -> dict:
    values = {k: np.asarray(ev[k].values[0]) for k in PER_IMAGE}
    count = np.asarray(ev["bin_count"].values)
    values["bin_count"] = count
    values["bin_sum_confidence"] = np.nan_to_num(ev["bin_confidence"].values) * count
    values["bin_sum_agreement"] = np.nan_to_num(ev["bin_agreement"].values) * count
    return values


def combine_evaluations(summaries, *, names, kinds=None, options=None):
    """Per-image summaries of :func:`evaluate_case` -> the Dataset of :func:`confmap.metrics.evaluate`.

    Parameters
    ----------
    summaries : sequence of dict
        The ``values`` of each image, in order.
    names : sequence of str
        Case names (coordinate ``image_id``).
    kinds : sequence of str, optional
        Coordinate ``kind``.
    options : dict, optional
        The options passed to :func:`confmap.metrics.evaluate` (thresholds, tolerances, bins).

    Returns
    -------
    xarray.Dataset
        The variables of :func:`confmap.metrics.evaluate`; ``auc_pooled`` and ``tpr_pooled``
        are NaN (see the module docstring).
    """
    from ..metrics import DEFAULT_THRESHOLDS, evaluation_dataset

    options = dict(options or {})
    if not summaries:
        raise ValueError("`summaries` must hold at least one image, got none")
    stats = {k: np.stack([s[k] for s in summaries]) for k in summaries[0]}
    for k in ("bin_count", "bin_sum_confidence", "bin_sum_agreement"):  # pooled: summed over images
        stats[k] = stats[k].sum(axis=0)
    image_coords = {"image": np.arange(len(summaries)), "image_id": ("image", np.asarray(names, dtype=str))}
    if kinds is not None:
        image_coords["kind"] = ("image", np.asarray(kinds, dtype=str))
    thr = np.asarray(options.get("thresholds", DEFAULT_THRESHOLDS), dtype=float)
    ds = evaluation_dataset(stats, thresholds=thr, image_coords=image_coords, warn=False)
    ds.attrs.update(
        options=json.dumps({k: np.asarray(v).tolist() for k, v in options.items()}),
        pooled_roc="not computed by the per-image (distributed) evaluation: auc_pooled/tpr_pooled are NaN",
    )
    return ds


def _match_cases(maps_dir: Path, refs_dir: Path):
    maps = {}
    for p in sorted(maps_dir.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(_MAP_SUFFIXES):
            name = p.name[: -len(".nii.gz")] if p.name.lower().endswith(".nii.gz") else p.stem
            maps[name] = p
    cases = {p.name: p for p in sorted(refs_dir.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    problems = [f"{str(maps[k])}: no case folder {k!r} in {str(refs_dir)!r}" for k in maps if k not in cases]
    problems += [f"{str(cases[k])}: no map for this case in {str(maps_dir)!r}" for k in cases if k not in maps]
    return {k: (maps[k], cases[k]) for k in maps if k in cases}, problems


def evaluate_folder(
    maps_dir, refs_dir, out_dir, *, client=None, overwrite=False, strict=False, progress=True, figures=True, **options
):
    """Evaluate a folder of maps against a multi-rater folder, writing a report folder.

    Parameters
    ----------
    maps_dir : path
        Maps named ``<case>.nc`` / ``.png`` / ``.nii.gz`` (e.g. from :func:`make_maps`).
    refs_dir : path
        The multi-rater folder (:func:`confmap.io.load_folder` layout) with ``<case>/mask_*``.
    out_dir : path
        Report folder: ``cases/<case>.npz`` per image, ``evaluation.nc`` (the combined Dataset),
        ``per_image.csv``, ``summary.csv`` and, with ``figures``, ``roc.png``,
        ``joint_thresholds.png``, ``margin_correlation.png``, ``reliability.png``.
    client : distributed.Client, optional
        One dask task per image on this cluster. Default: in this process.
    overwrite : bool, default False
        Allow a report folder made with other options (its per-case results are redone).
    strict : bool, default False
        Refuse to start when a map has no case folder or a case no map (default: report them).
    progress : bool, default True
    figures : bool, default True
    **options
        Keyword arguments of :func:`confmap.metrics.evaluate` (``thresholds``, ``zero_tol``,
        ``one_tol``, ``n_bins``, ``fpr_points``).

    Returns
    -------
    dataset : xarray.Dataset
        From :func:`combine_evaluations`.
    report : dict
        ``done``, ``skipped`` (case names), ``failed`` (summaries with errors), ``problems``
        (unmatched maps or cases), ``seconds``.
    """
    tic = time.perf_counter()
    maps_dir, refs_dir, out_dir = (Path(os.fspath(p)) for p in (maps_dir, refs_dir, out_dir))
    for name, p in (("maps_dir", maps_dir), ("refs_dir", refs_dir)):
        if not p.is_dir():
            raise ValueError(f"`{name}` must be a folder, got {describe(str(p))}")
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    pairs, problems = _match_cases(maps_dir, refs_dir)
    if strict and problems:
        raise BadInput(
            f"{len(problems)} unmatched map(s) or case(s), nothing computed: " + "; ".join(problems[:5]), problems
        )
    redo = claim_folder(out_dir, EVAL_MANIFEST, {"options": options}, overwrite=overwrite, what="an evaluation with")
    jobs, by_name, skipped = [], {}, []
    for name, (mp, case) in pairs.items():
        target = out_dir / "cases" / f"{name}.npz"
        if not redo and target.exists() and target.stat().st_mtime_ns >= mp.stat().st_mtime_ns:
            with np.load(target) as data:
                by_name[name] = {k: data[k] for k in data.files}
            skipped.append(name)
            continue
        jobs.append({"name": name, "map": str(mp), "case": str(case), "target": str(target), "options": options})
    failed, done = [], []
    for _, res in run_tasks(evaluate_case, jobs, client=client, desc="evaluate", progress=progress):
        if res["ok"]:
            by_name[res["name"]] = res["values"]
            done.append(res["name"])
        else:
            failed.append(res)
    remove_temporaries(out_dir)
    names = sorted(by_name)
    if not names:
        raise ValueError(
            f"no map in {str(maps_dir)!r} could be evaluated against {str(refs_dir)!r}: {problems + failed}"
        )
    kinds = [
        (pairs[k][1] / "kind.txt").read_text().strip() if (pairs[k][1] / "kind.txt").exists() else "unknown"
        for k in names
    ]
    ds = combine_evaluations([by_name[k] for k in names], names=names, kinds=kinds, options=options)
    _write_report(ds, out_dir, figures=figures)
    return ds, {
        "done": done,
        "skipped": skipped,
        "failed": failed,
        "problems": problems,
        "seconds": time.perf_counter() - tic,
    }


def _write_report(ds, out_dir: Path, *, figures: bool):
    from ..phantom import save_dataset

    save_dataset(ds, out_dir / "evaluation.nc")
    cols = ["brier", "brier_foreground", "soft_dice", "psi_conf", "psi_agree"]
    header = ["image_id", "kind", *cols]
    header += [f"auc_{r}_{t:g}" for r in ds.region.values for t in ds.threshold.values]
    header += [f"f1_{t:g}" for t in ds.threshold.values]
    lines = [",".join(header)]
    for i in range(ds.sizes["image"]):
        row = [str(ds.image_id.values[i]), str(ds.kind.values[i]) if "kind" in ds.coords else ""]
        row += [repr(float(ds[c].values[i])) for c in cols]
        row += [repr(float(v)) for v in ds.auc.values[i].ravel()]
        row += [repr(float(v)) for v in ds.f1.values[i]]
        lines.append(",".join(row))
    atomic_write_bytes(out_dir / "per_image.csv", ("\n".join(lines) + "\n").encode())
    summary = [("images", ds.sizes["image"])]
    summary += [(k, ds.attrs[k]) for k in ("brier_mean", "brier_foreground_mean", "soft_dice_mean")]
    summary += [(k, float(ds[k])) for k in ("ece", "mean_bin_gap", "pearson_r")]
    summary += [
        (f"auc_mean_{r}_{t:g}", float(ds.auc_mean.sel(region=r, threshold=t)))
        for r in ds.region.values
        for t in ds.threshold.values
    ]
    summary += [(f"f1_pooled_{t:g}", float(ds.f1_pooled.sel(threshold=t))) for t in ds.threshold.values]
    text = "metric,value\n" + "".join(f"{k},{v!r}\n" for k, v in summary)
    atomic_write_bytes(out_dir / "summary.csv", text.encode())
    if figures:
        from ..metrics import plot_joint_thresholds, plot_margin_correlation, plot_reliability, plot_roc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, fig in (
                ("roc", plot_roc(ds, curve="mean")),
                ("joint_thresholds", plot_joint_thresholds(ds)),
                ("margin_correlation", plot_margin_correlation(ds)),
                ("reliability", plot_reliability(ds)),
            ):
                atomic_write(
                    out_dir / f"{name}.png", lambda tmp, f=fig: f.savefig(tmp, dpi=100, format="png"), suffix=".png"
                )


def sweep_case(job: dict):
    """One task: :func:`confmap.sweep.sweep` of one case folder's annotation against its Agreement.

    Returns the (small) sweep Dataset with a length-1 ``image`` dimension (coordinate
    ``image_id``), or a dict with ``name`` and ``error``.
    """
    from ..annotation import Annotation
    from ..sweep import sweep

    case = Path(job["case"])
    try:
        ann = Annotation.load(case / "annotation.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sweep(ann, agreement=_read_agreement(case), progress=False, **job["grid"])
    except (OSError, ValueError, TypeError) as exc:
        return {"name": case.name, "error": f"{type(exc).__name__}: {exc}"}
    return res.expand_dims(image=[0]).assign_coords(image_id=("image", [case.name]))


def sweep_folder(refs_dir, *, client=None, progress=True, **grid):
    """A parameter sweep over every annotated case of a multi-rater folder, one task per case.

    Parameters
    ----------
    refs_dir : path
        The :func:`confmap.io.load_folder` layout with ``<case>/annotation.json`` and
        ``<case>/mask_*``.
    client : distributed.Client, optional
        Default: in this process.
    progress : bool, default True
    **grid
        Arguments of :func:`confmap.sweep.sweep` (``lam=[60, 100]``, ``bandwidth=[0.1, 0.2]``,
        ``metrics=...``); lists are swept.

    Returns
    -------
    results : xarray.Dataset
        The per-case sweeps concatenated along ``image`` (coordinate ``image_id``); one image is
        in memory per worker, and only the small metric grids come back. ``results.mean("image")``
        and :func:`confmap.sweep.best` pick a setting for the whole dataset.
    failed : list of dict
        Cases that could not be swept (``name``, ``error``).
    """
    import xarray as xr

    refs_dir = Path(os.fspath(refs_dir))
    cases = sorted(p for p in refs_dir.iterdir() if p.is_dir() and (p / "annotation.json").exists())
    if not cases:
        raise ValueError(f"{str(refs_dir)!r} holds no case folder with an annotation.json")
    jobs = [{"case": str(c), "grid": grid} for c in cases]
    parts, failed = {}, []
    for i, res in run_tasks(sweep_case, jobs, client=client, desc="sweep", progress=progress):
        if isinstance(res, dict):
            failed.append(res)
        else:
            parts[i] = res
    if not parts:
        raise ValueError(f"no case of {str(refs_dir)!r} could be swept: {failed}")
    out = xr.concat([parts[i] for i in sorted(parts)], dim="image")
    return out.assign_coords(image=np.arange(out.sizes["image"])), failed


def _evaluate_block(maps, agreement, options):
    from ..metrics import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_summary(evaluate(m[None], a[None], **options)) for m, a in zip(maps, agreement, strict=True)]


def evaluate_stack(maps, agreement, *, client=None, **options):
    """The paper's evaluation of a large (N, H, W) stack, one image chunk at a time.

    Parameters
    ----------
    maps, agreement : xarray.DataArray, dims ``("image", "y", "x")``
        Best dask-backed and chunked along ``image`` only, e.g. ``xr.open_zarr(...)["confidence"]``
        from :func:`maps_to_zarr` or ``xr.open_dataset(path, chunks={"image": 16})``: each task
        loads one chunk of each, evaluates its images and returns per-image summaries, so memory
        holds a few chunks whatever N is. NumPy-backed arrays are evaluated in chunks of 16.
    client : distributed.Client, optional
        Default: dask's threaded scheduler in this process.
    **options
        Keyword arguments of :func:`confmap.metrics.evaluate`.

    Returns
    -------
    xarray.Dataset
        As :func:`combine_evaluations` (identical per-image values to
        :func:`confmap.metrics.evaluate`; no pooled ROC).
    """
    import dask
    import dask.array as da

    for name, v in (("maps", maps), ("agreement", agreement)):
        if getattr(v, "dims", None) != ("image", "y", "x"):
            raise ValueError(f"`{name}` must be a DataArray with dims ('image', 'y', 'x'), got {describe(v)}")
    if maps.shape != agreement.shape:
        raise ValueError(f"`maps` and `agreement` must have the same shape, got {maps.shape} and {agreement.shape}")
    m = maps.data if isinstance(maps.data, da.Array) else da.from_array(maps.values, chunks=(16, -1, -1))
    a = agreement.data if isinstance(agreement.data, da.Array) else da.from_array(agreement.values, chunks=(16, -1, -1))
    m = m.rechunk({1: -1, 2: -1})
    a = a.rechunk(m.chunks)
    blocks = [
        dask.delayed(_evaluate_block)(mb, ab, options)
        for mb, ab in zip(m.to_delayed().ravel(), a.to_delayed().ravel(), strict=True)
    ]
    parts = dask.compute(*blocks, scheduler="threads" if client is None else client)
    summaries = [s for part in parts for s in part]
    names = [str(v) for v in (maps["image_id"].values if "image_id" in maps.coords else maps["image"].values)]
    kinds = maps["kind"].values if "kind" in maps.coords else None
    return combine_evaluations(summaries, names=names, kinds=kinds, options=options)
