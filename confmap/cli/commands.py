"""The subcommands of ``confmap``: each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from . import EXIT_OK, EXIT_PROBLEMS
from .settings import settings_from_args

__all__ = ["convert", "evaluate", "maps", "phantom", "report_problems", "say", "settings_from_args", "validate"]


def say(args, *lines):
    """Print to stdout unless --quiet."""
    if not args.quiet:
        for line in lines:
            print(line)


def report_problems(lines):
    """Print each problem line to stderr."""
    for line in lines:
        print(f"problem: {line}", file=sys.stderr)


def _run(args, func, *positional, **kwargs):
    """``func(...)`` on the cluster of ``--workers``/``--scheduler``, with ``--overwrite`` and a bar unless ``-q``."""
    from ..batch import open_client

    with open_client(workers=args.workers, scheduler=args.scheduler, timeout=args.connect_timeout) as client:
        return func(*positional, client=client, overwrite=args.overwrite, progress=not args.quiet, **kwargs)


def phantom(args) -> int:
    """``confmap phantom -n N -o DIR``."""
    from ..batch import make_phantom_folder

    res = _run(args, make_phantom_folder, args.n, args.out, seed=args.seed, size=tuple(args.size))
    say(
        args,
        f"{len(res['written'])} case(s) written, {len(res['skipped'])} already there, in {args.out} "
        f"({res['seconds']:.1f} s)",
    )
    return EXIT_OK


def maps(args) -> int:
    """``confmap maps IN... -o OUT``."""
    from ..batch import make_maps

    params = settings_from_args(args).to_kwargs()
    rep = _run(args, make_maps, args.inputs, args.out, params=params, format=args.format, strict=args.strict)
    report_problems(map(str, rep.problems))
    report_problems(f"{s['name']}: {s['error']}" for s in rep.failed)
    if args.verbose:
        for s in rep.done:
            say(
                args,
                f"{s['name']}: {s['target']} ({s['seconds'] * 1e3:.0f} ms)"
                + "".join(f"\n  warning: {w}" for w in s["warnings"]),
            )
    n_images = len(rep.done)
    rate = f", {n_images / rep.seconds:.1f} maps/s" if rep.seconds > 0 and n_images else ""
    say(
        args,
        f"{n_images} map(s) written, {len(rep.skipped)} already done, {len(rep.failed)} failed, "
        f"{len(rep.problems)} bad input(s), in {args.out} ({rep.seconds:.1f} s{rate})",
    )
    return EXIT_OK if rep.ok else EXIT_PROBLEMS


def evaluate(args) -> int:
    """``confmap evaluate MAPS REFS -o REPORT``."""
    from ..batch import evaluate_folder

    options = {"strict": args.strict, "figures": not args.no_figures}
    if args.thresholds is not None:
        options["thresholds"] = args.thresholds
    ds, rep = _run(args, evaluate_folder, args.maps, args.refs, args.out, **options)
    report_problems(rep["problems"])
    report_problems(f"{s['name']}: {s['error']}" for s in rep["failed"])
    say(
        args,
        f"{ds.sizes['image']} image(s) evaluated ({len(rep['done'])} now, {len(rep['skipped'])} earlier) "
        f"in {rep['seconds']:.1f} s: Brier {ds.attrs['brier_mean']:.5f}, "
        f"foreground {ds.attrs['brier_foreground_mean']:.5f}, soft Dice {ds.attrs['soft_dice_mean']:.4f}, "
        f"ECE {float(ds.ece):.4f}; report in {args.out}",
    )
    return EXIT_OK if not rep["problems"] and not rep["failed"] else EXIT_PROBLEMS


_SUFFIX = {"slicer": ".mrk.json", "napari": ".csv", "confmap": ".json"}


def convert(args) -> int:
    """``confmap convert IN OUT --to FORMAT``."""
    from ..batch.maps import MULTI_IMAGE, find_annotations, read_annotation
    from ..formats import FORMATS, write_annotations

    if args.to not in FORMATS:  # main() reports a ValueError as wrong usage
        raise ValueError(f"cannot write {args.to!r}; formats are {list(FORMATS)}")
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise ValueError(f"no such file or folder {str(src)!r}")
    cases, problems = find_annotations([src])
    if args.strict and problems:
        report_problems(map(str, problems))
        return EXIT_PROBLEMS
    anns, failed = [], []
    for name, (path, index) in cases.items():
        try:
            ann = read_annotation(path, index=index, shape=None if args.shape is None else tuple(args.shape))
            anns.append((name, ann if ann.image_id else ann.replace(image_id=name)))
        except (OSError, ValueError) as exc:
            failed.append(f"{path}[{index}]: {exc}")
            if args.strict:
                break
    written = 0
    if anns and not (args.strict and failed):
        if args.to in MULTI_IMAGE:
            write_annotations([a for _, a in anns], dst, format=args.to)
        elif src.is_file() and len(anns) == 1 and dst.suffix:
            write_annotations(anns[0][1], dst, format=args.to)
        else:
            for name, ann in anns:
                write_annotations(ann, dst / f"{name}{_SUFFIX[args.to]}", format=args.to)
        written = len(anns)
    report_problems(map(str, problems))
    report_problems(failed)
    say(args, f"{written} annotation(s) written as {args.to} to {dst}")
    if not cases and not problems:
        print(f"confmap convert: error: no annotation file in {str(src)!r}", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK if not failed and not problems else EXIT_PROBLEMS


_MAP_SUFFIXES = (".nc", ".nii", ".nii.gz", ".nrrd")


def _check_annotation(path: Path) -> list[str]:
    from ..batch.maps import MULTI_IMAGE, read_annotation, sniff_format
    from ..formats import read_annotations

    fmt = sniff_format(path)
    if fmt == "unknown":
        return ["not an annotation file of a known format"]
    if fmt in MULTI_IMAGE:
        anns = enumerate(read_annotations(path, format=fmt))
        return [f"[{i}] {ann.image_id or ''}: {m}" for i, ann in anns for m in _annotation_issues(ann)]
    return _annotation_issues(read_annotation(path))


def _annotation_issues(ann) -> list[str]:
    from ..construct import tier_regions

    out = []
    if ann.n_points == 0:
        out.append("no points")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regions = tier_regions(ann)
    for tier, reg in regions.items():
        if len(ann.points(tier)) and not reg.ok:
            out.append(f"tier {tier} has no region: {reg.reason}")
    if ann.n_points and not any(r.ok for r in regions.values()):
        out.append("no tier has a region: the map would be all zeros")
    return out


def _check_map(path: Path) -> list[str]:
    import numpy as np

    from ..io import read_map

    v = np.asarray(read_map(path).values, dtype=np.float64)
    out = []
    if v.ndim != 2:
        out.append(f"not a 2-D map: shape {v.shape}")
    if not np.isfinite(v).all():
        out.append(f"{int((~np.isfinite(v)).sum())} NaN or infinite value(s)")
    elif v.size and (v.min() < 0 or v.max() > 1):
        out.append(f"values outside [0, 1]: min {v.min():.6g}, max {v.max():.6g}")
    elif v.size and v.max() == 0:
        out.append("all zeros")
    return out


def validate(args) -> int:
    """``confmap validate FILE...``."""
    from ..batch.maps import ANNOTATION_SUFFIXES

    files = []
    for item in args.paths:
        p = Path(os.fspath(item))
        if p.is_dir():
            files += sorted(
                q
                for q in p.rglob("*")
                if q.is_file()
                and not q.name.startswith(".")
                and q.name.lower().endswith(ANNOTATION_SUFFIXES + _MAP_SUFFIXES)
                and not q.name.startswith("confmap-")
            )
        else:
            files.append(p)
    n_bad = 0
    for f in files:
        name = f.name.lower()
        try:
            if not f.exists():
                issues = ["no such file"]
            elif name.endswith(_MAP_SUFFIXES) or name.endswith(".png"):
                issues = _check_map(f)
            elif name.endswith(ANNOTATION_SUFFIXES):
                issues = _check_annotation(f)
            else:
                issues = ["unknown file type (expected an annotation .json or a map .nc/.png/.nii.gz)"]
        except (OSError, ValueError, TypeError) as exc:
            issues = [str(exc)]
        if issues:
            n_bad += 1
            report_problems(f"{f}: {i}" for i in issues)
        elif args.verbose:
            say(args, f"ok: {f}")
    say(args, f"{len(files)} file(s) checked, {n_bad} with problems")
    return EXIT_PROBLEMS if n_bad or not files else EXIT_OK
