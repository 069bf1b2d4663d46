"""Confidence maps for many annotation files, as independent tasks that each write their own map.

Inputs are annotation files (or folders searched for them); each case becomes one task that
reads its annotation, computes :func:`confmap.confidence_map` with the same parameters, writes
the map with :func:`confmap.io.save_map` (atomically) and returns a small summary. Image sizes
may differ between cases. The output folder holds a manifest, ``confmap-maps.json``, with the
parameters and, per case, the source file's SHA-256: a second run with the same parameters
skips the cases already done (resumable), and a folder made with other parameters is refused
unless ``overwrite=True``.

Same-size stacks can instead go through :func:`maps_to_zarr` (into Zarr, chunk by chunk).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import atomic_write_bytes, check_choice, check_int, check_keys, check_type, describe
from .engine import BadInput, FolderConflict, remove_temporaries, run_tasks

__all__ = [
    "MANIFEST",
    "MAP_FORMATS",
    "MapsReport",
    "find_annotations",
    "make_maps",
    "map_file",
    "maps_to_zarr",
    "read_annotation",
    "sniff_format",
    "source_image",
]

#: Name of the manifest file in an output folder.
MANIFEST = "confmap-maps.json"
#: Map file formats (:func:`confmap.io.save_map`, and DICOM-SEG through
#: :func:`confmap.export.write_dicom_seg`), by the suffix written.
MAP_FORMATS = {"netcdf": ".nc", "png16": ".png", "nifti": ".nii.gz", "nrrd": ".nrrd", "dicom-seg": ".dcm"}
#: Annotation suffixes looked for in folders.
ANNOTATION_SUFFIXES = (".json", ".csv", ".xml")
#: Formats that hold the annotations of several images in one file.
MULTI_IMAGE = ("labelstudio", "cvat", "coco")
#: Image files looked for next to an annotation (its shape and geometry; DICOM-SEG's source).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".nii", ".nii.gz", ".nrrd")


def sniff_format(path) -> str:
    """Tell an annotation file's format (:func:`confmap.formats.detect_format`), or ``"unknown"``.

    Returns
    -------
    str
        One of :data:`confmap.formats.FORMATS` (``"confmap"`` is the core JSON format), or
        ``"unknown"`` for a file of no known annotation format.

    Raises
    ------
    ValueError
        If a JSON file cannot be parsed (corrupt or truncated).
    """
    from ..formats import detect_format

    path = Path(os.fspath(path))
    if path.name.lower().endswith(".json"):
        try:
            json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not readable JSON (corrupt or truncated: {exc})") from None
    try:
        return detect_format(path)
    except ValueError:
        return "unknown"


def source_image(path) -> Path | None:
    """The image an annotation file belongs to, if it lies beside it: ``image.*`` for
    ``annotation.json`` (the :func:`confmap.io.load_folder` layout), else ``<stem>.<image suffix>``
    for ``<stem>.json`` / ``.mrk.json`` / ``.csv`` / ``.xml``."""
    path = Path(os.fspath(path))
    stem = "image" if path.name == "annotation.json" else _case_name(path)
    for suffix in IMAGE_SUFFIXES:
        cand = path.parent / f"{stem}{suffix}"
        if cand.is_file():
            return cand
    return None


def read_annotation(path, *, index: int = 0, shape=None):
    """Read annotation ``index`` of a file of any format of :mod:`confmap.formats`.

    Formats without an image size (napari CSV, Slicer files from Slicer itself) take it from
    ``shape``, else from the image beside the file (:func:`source_image`).
    """
    from ..formats import read_annotations

    path = Path(os.fspath(path))
    fmt = sniff_format(path)
    if fmt == "unknown":
        raise ValueError(f"{str(path)!r} is not an annotation file of a known format")
    if shape is None and fmt in ("napari", "slicer"):
        img = source_image(path)
        if img is not None:
            from ..io import load_image

            shape = load_image(img).shape
    anns = read_annotations(path, format=fmt, shape=shape)
    if not 0 <= index < len(anns):
        raise ValueError(f"{str(path)!r} holds {len(anns)} annotation(s), not one numbered {index}")
    return anns[index]


def _strip_suffix(name: str, suffixes) -> str:
    """``name`` without the first of ``suffixes`` it ends with (case-insensitive)."""
    return next((name[: -len(s)] for s in suffixes if name.lower().endswith(s)), name)


def _case_name(path: Path) -> str:
    name = _strip_suffix(path.name, (".mrk.json", *ANNOTATION_SUFFIXES))
    # the multi-rater folder layout (confmap.io): case_001/annotation.json -> "case_001"
    return path.parent.name if name == "annotation" and path.parent.name else name


def _safe(name: str) -> str:
    stem = _strip_suffix(Path(str(name)).name, IMAGE_SUFFIXES)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "image"


@dataclass
class Problem:
    """A bad input: the path and what is wrong with it."""

    path: str
    reason: str

    def __str__(self):
        return f"{self.path}: {self.reason}"


def find_annotations(inputs):
    """Annotations among files and folders, with their format; bad inputs reported.

    Folders are searched recursively for ``.json``, ``.csv`` and ``.xml`` files (hidden files
    and confmap's own manifests excluded). A folder holding more than one annotation format is a
    problem: the files of its most common format are kept, the others reported. A file of a
    multi-image format (Label Studio, CVAT, COCO) gives one case per image.

    Returns
    -------
    cases : dict
        ``{case name: (Path, index)}``: the name is the file name without its suffix, the
        folder's name for ``<case>/annotation.json``, or the image name inside a multi-image
        file; ``index`` numbers the annotations of that file.
    problems : list of Problem
        Unreadable files, unreadable formats, mixed formats, duplicate case names, missing paths.
    """
    problems: list[Problem] = []
    found: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(os.fspath(item))
        if not p.exists():
            problems.append(Problem(str(p), "no such file or folder"))
            continue
        files = (
            [p]
            if p.is_file()
            else sorted(
                Path(folder) / name
                for folder, _, names in os.walk(p, followlinks=True)  # case folders may be symlinks
                for name in names
                if name.lower().endswith(ANNOTATION_SUFFIXES)
                and not name.startswith(".")
                and not name.startswith("confmap-")
            )
        )
        by_folder: dict[Path, list[tuple[Path, str]]] = {}
        for f in files:
            try:
                fmt = sniff_format(f)
            except (OSError, ValueError) as exc:
                problems.append(Problem(str(f), str(exc)))
                continue
            if fmt == "unknown":
                problems.append(Problem(str(f), "not an annotation file of a known format"))
                continue
            by_folder.setdefault(f.parent, []).append((f, fmt))
        for folder, entries in by_folder.items():
            formats = sorted({fmt for _, fmt in entries})
            if len(formats) > 1:
                counts = {fmt: sum(f == fmt for _, f in entries) for fmt in formats}
                keep = max(formats, key=lambda f: (counts[f], f == "confmap"))
                for f, fmt in entries:
                    if fmt != keep:
                        problems.append(Problem(str(f), f"mixed formats in {str(folder)!r} ({counts}); kept {keep!r}"))
                entries = [(f, fmt) for f, fmt in entries if fmt == keep]
            found += entries
    cases: dict[str, tuple[Path, int]] = {}
    for f, fmt in found:
        names = [_case_name(f)]
        if fmt in MULTI_IMAGE:
            from ..formats import read_annotations

            try:
                anns = read_annotations(f, format=fmt)
            except (OSError, ValueError) as exc:
                problems.append(Problem(str(f), str(exc)))
                continue
            names = [_safe(a.image_id) if a.image_id else f"{names[0]}-{i}" for i, a in enumerate(anns)]
        for i, name in enumerate(names):
            if name in cases:
                problems.append(Problem(f"{f}[{i}]", f"case name {name!r} also used by {str(cases[name][0])!r}"))
                continue
            cases[name] = (f, i)
    return cases, problems


def map_file(job: dict) -> dict:
    """One task: read an annotation, compute its map, write it atomically, return a summary.

    Parameters
    ----------
    job : dict
        ``name``, ``source`` (annotation path), ``index`` (annotation number in that file,
        default 0), ``target`` (map path), ``params`` (keyword arguments of
        :func:`confmap.confidence_map`), ``format`` (a key of :data:`MAP_FORMATS`). The image
        beside the annotation (:func:`source_image`), if any, gives NIfTI/NRRD/NetCDF maps its
        geometry and is DICOM-SEG's source instance (required for it).

    Returns
    -------
    dict
        ``name``, ``ok``, ``error`` (message or None), ``target``, ``shape``, ``max``, ``mean``,
        ``ripple``, ``warnings`` (messages), ``seconds``. Errors of the input are returned, not
        raised, so one bad case does not stop a run.
    """
    from ..construct import confidence_map
    from ..io import load_image, save_map

    tic = time.perf_counter()
    out = {"name": job["name"], "target": job["target"], "ok": False, "error": None, "warnings": []}
    try:
        fmt = job["format"]
        ann = read_annotation(job["source"], index=job.get("index", 0))
        image = source_image(job["source"]) if job.get("index", 0) == 0 else None
        if fmt == "dicom-seg" and (image is None or image.suffix.lower() != ".dcm"):
            raise ValueError(f"DICOM-SEG needs the source DICOM image beside {job['source']!r} (image.dcm)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cm = confidence_map(ann, **job["params"])
        out["warnings"] = sorted({str(w.message) for w in caught})
        if fmt == "dicom-seg":
            from ..export import write_dicom_seg

            write_dicom_seg(cm, job["target"], source=image)
        elif fmt == "png16" or image is None or image.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
            save_map(cm, job["target"], format=fmt)  # geometry from the annotation's spacing
        else:
            save_map(cm, job["target"], format=fmt, geometry=load_image(image))
        v = np.asarray(cm.values)
        out.update(
            ok=True,
            shape=list(v.shape),
            max=float(v.max()),
            mean=float(v.mean()),
            ripple=float(cm.attrs.get("ripple", np.nan)),
        )
    except (OSError, ValueError, TypeError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - tic
    return out


@dataclass
class MapsReport:
    """What :func:`make_maps` did."""

    out_dir: Path
    done: list = field(default_factory=list)  # summaries of the cases computed in this run
    skipped: list = field(default_factory=list)  # case names already done with these parameters
    failed: list = field(default_factory=list)  # summaries with an error
    problems: list = field(default_factory=list)  # Problem: bad inputs found while scanning
    removed_temporaries: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed and no input was bad."""
        return not self.failed and not self.problems


def _full_params(params: dict) -> dict:
    """``params`` completed with MapParams' defaults (checked), JSON-ready (equal maps compare equal)."""
    from ..construct import MapParams

    check_keys("keyword(s)", params, MapParams.fields(), where=" in `params` for confidence_map")
    return json.loads(json.dumps(MapParams(**params).kwargs(), default=list))


def _load_manifest(out_dir: Path):
    p = out_dir / MANIFEST
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise FolderConflict(f"{str(p)!r} is not a readable manifest ({exc}); use --overwrite") from None


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    atomic_write_bytes(out_dir / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def make_maps(
    inputs,
    out_dir,
    *,
    params: dict | None = None,
    format: str = "netcdf",
    client=None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    task=None,
) -> MapsReport:
    """Confidence maps for every annotation file among ``inputs``, written into ``out_dir``.

    Parameters
    ----------
    inputs : sequence of path
        Annotation files and folders (searched recursively, see :func:`find_annotations`).
    out_dir : path
        Output folder: ``<case>.nc`` (or ``.png``, ``.nii.gz``) per case and the manifest.
    params : dict, optional
        Keyword arguments of :func:`confmap.confidence_map` (``lam``, ``betas``, ``bandwidth``,
        ``kernel``, ``region``, ``alpha``, ``sink_radius``, ``ripple_warn``); JSON-serialisable.
        Default: the paper's parameters.
    format : {"netcdf", "png16", "nifti", "nrrd", "dicom-seg"}, default "netcdf"
        Map file format (NetCDF keeps the values and attributes exactly; 16-bit PNG; NIfTI and
        NRRD float32 with the source image's geometry; DICOM-SEG FRACTIONAL referencing the
        source DICOM, which must lie beside the annotation).
    client : distributed.Client, optional
        Run the cases as dask tasks on this cluster. Default: in this process.
    overwrite : bool, default False
        Recompute everything in a folder made with other parameters (its old maps are deleted).
    strict : bool, default False
        Refuse to start when an input is unreadable, of an unreadable format or of a second
        format in one folder (default: skip those cases and report them).
    progress : bool, default True
        tqdm bar over cases.
    task : callable, optional
        The per-case function (default :func:`map_file`); a replacement takes and returns the
        same dicts (used to add steps, or to inject failures in tests).

    Returns
    -------
    MapsReport

    Raises
    ------
    FolderConflict
        If ``out_dir`` holds maps made with other parameters or format (or without a manifest)
        and ``overwrite`` is False.
    BadInput
        With ``strict``, if any input is bad (nothing is written).
    """
    tic = time.perf_counter()
    check_type("params", params, (dict, type(None)), "a dict of confidence_map keyword arguments")
    check_choice("format", format, tuple(MAP_FORMATS))
    try:
        params = _full_params(dict(params or {}))
    except TypeError:
        raise TypeError(f"`params` must be JSON-serialisable keyword arguments, got {describe(params)}") from None
    out_dir = Path(os.fspath(out_dir))
    cases, problems = find_annotations(inputs)
    if strict and problems:
        listed = "; ".join(map(str, problems[:5]))
        raise BadInput(f"{len(problems)} bad input(s), nothing computed: {listed}", problems)
    settings = {"params": params, "format": format}
    manifest = _load_manifest(out_dir)
    if manifest is not None and {k: manifest.get(k) for k in settings} != settings:
        if not overwrite:
            old = {**(manifest.get("params") or {}), "format": manifest.get("format")}
            new = {**params, "format": format}
            diff = ", ".join(
                f"{k}: {old.get(k)!r} there, {new.get(k)!r} now"
                for k in sorted(set(old) | set(new))
                if old.get(k) != new.get(k)
            )
            raise FolderConflict(
                f"{str(out_dir)!r} holds maps made with other parameters ({diff}); use another folder or overwrite"
            )
        for entry in manifest.get("cases", {}).values():
            (out_dir / entry["file"]).unlink(missing_ok=True)
        manifest = None
    if manifest is None and out_dir.exists() and not overwrite:
        stray = [p.name for p in out_dir.iterdir() if p.suffix in (".nc", ".png", ".gz", ".nii", ".nrrd", ".dcm")]
        if stray:
            raise FolderConflict(
                f"{str(out_dir)!r} holds map files ({stray[:3]}...) but no {MANIFEST}: parameters unknown; "
                "use another folder or overwrite"
            )
    manifest = manifest or {**settings, "cases": {}}
    out_dir.mkdir(parents=True, exist_ok=True)
    report = MapsReport(out_dir=out_dir)
    report.removed_temporaries += remove_temporaries(out_dir)
    report.problems = problems
    jobs = []
    for name, (src, index) in cases.items():
        sha = hashlib.sha256(src.read_bytes()).hexdigest()
        target = out_dir / f"{name}{MAP_FORMATS[format]}"
        old = manifest["cases"].get(name)
        if old is not None and old.get("sha256") == sha and target.exists():
            report.skipped.append(name)
            continue
        manifest["cases"].pop(name, None)
        jobs.append(
            {
                "name": name,
                "source": str(src),
                "index": index,
                "target": str(target),
                "params": params,
                "format": format,
                "sha256": sha,
            }
        )
    _write_manifest(out_dir, manifest)
    task = map_file if task is None else task
    last = time.monotonic()
    try:
        for i, summary in run_tasks(task, jobs, client=client, desc="maps", progress=progress):
            if summary["ok"]:
                report.done.append(summary)
                manifest["cases"][summary["name"]] = {
                    "file": Path(summary["target"]).name,
                    "source": jobs[i]["source"],
                    "sha256": jobs[i]["sha256"],
                }
            else:
                report.failed.append(summary)
            if time.monotonic() - last > 5.0:
                _write_manifest(out_dir, manifest)
                last = time.monotonic()
    finally:
        _write_manifest(out_dir, manifest)
        report.removed_temporaries += remove_temporaries(out_dir)
    report.seconds = time.perf_counter() - tic
    return report


def _map_block(px, py, tier, *, shape, params):
    """One image's map from its padded point arrays (NaN / -1 padding) for apply_ufunc."""
    from ..annotation import TIERS, Annotation
    from ..construct import confidence_map

    ok = np.isfinite(px) & np.isfinite(py) & (tier >= 0)
    pts = {t: np.column_stack([px[ok & (tier == k)], py[ok & (tier == k)]]) for k, t in enumerate(TIERS)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(confidence_map(Annotation(shape, **pts), **params).values, dtype=np.float32)


def maps_to_zarr(annotations, path, *, params: dict | None = None, chunk: int = 16, client=None):
    """Maps of a same-size stack of annotations into a Zarr store, chunk by chunk.

    The points go into an ``image``-chunked Dataset of dask arrays and the maps come out of
    ``xarray.apply_ufunc(..., dask="parallelized", vectorize=True)``; ``to_zarr`` computes and
    writes one chunk of ``chunk`` maps at a time, so memory holds a few chunks, not the stack.

    Parameters
    ----------
    annotations : sequence of Annotation
        All of the same image shape ``(H, W)``.
    path : path
        Zarr store to create (replaced if it exists).
    params : dict, optional
        Keyword arguments of :func:`confmap.confidence_map`.
    chunk : int, default 16
        Images per chunk (and per task).
    client : distributed.Client, optional
        Compute on this cluster; default dask's local scheduler.

    Returns
    -------
    xarray.Dataset
        The store opened lazily (``confidence``: image, y, x, float32, dask-backed).
    """
    import dask.array as da
    import xarray as xr

    from ..annotation import TIERS, points_table

    annotations = list(annotations)
    if not annotations:
        raise ValueError("`annotations` must hold at least one Annotation, got none")
    shapes = {a.shape for a in annotations}
    if len(shapes) != 1:
        raise ValueError(
            f"`annotations` must share one image shape for a stack, got {sorted(shapes)}; use make_maps for mixed sizes"
        )
    chunk = check_int("chunk", chunk, minimum=1)
    shape = shapes.pop()
    px, py, pt = points_table(annotations)
    codes = np.full(pt.shape, -1, dtype=np.int8)
    for k, t in enumerate(TIERS):
        codes[pt == t] = k
    ds = xr.Dataset(
        {
            name: (("image", "point"), da.from_array(v, chunks=(chunk, -1)))
            for name, v in (("point_x", px), ("point_y", py), ("point_tier", codes))
        },
        coords={"image": np.arange(len(annotations))},
    )
    maps = xr.apply_ufunc(
        _map_block,
        ds.point_x,
        ds.point_y,
        ds.point_tier,
        input_core_dims=[["point"]] * 3,
        output_core_dims=[["y", "x"]],
        kwargs={"shape": shape, "params": dict(params or {})},
        dask="parallelized",
        vectorize=True,
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"y": shape[0], "x": shape[1]}},
    )
    out = maps.to_dataset(name="confidence").assign_coords(y=np.arange(shape[0]), x=np.arange(shape[1]))
    out.attrs["params"] = json.dumps(dict(params or {}))
    import dask

    store = out.to_zarr(path, mode="w", compute=False, consolidated=False)
    dask.compute(store, scheduler="threads" if client is None else client)
    return xr.open_zarr(path, consolidated=False)
