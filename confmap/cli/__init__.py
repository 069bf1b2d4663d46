"""The ``confmap`` command line: ``confmap <command> ...`` or ``python -m confmap <command> ...``.

Commands: ``phantom`` (a simulated dataset on disk), ``maps`` (annotations -> confidence maps),
``evaluate`` (the paper's evaluation of a folder of maps), ``convert`` (between annotation
formats), ``validate`` (check annotation and map files). ``confmap <command> --help`` shows
examples. Batch commands run in this process by default, on a local dask cluster with
``--workers N``, or on a running cluster with ``--scheduler ADDRESS``.

Exit codes: 0 success; 1 finished, but some inputs were bad or some cases failed (reported), or
``validate`` found problems; 2 wrong usage (arguments, settings file); 3 the output folder holds
results made with other parameters (``--overwrite`` to replace them); 4 the dask scheduler is
unreachable; 130 interrupted (Ctrl-C; finished cases are kept, a rerun resumes).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .settings import MapSettings, add_map_options

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_SCHEDULER",
    "EXIT_USAGE",
    "MapSettings",
    "build_parser",
    "main",
    "main_exit",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_SCHEDULER = 4
EXIT_INTERRUPTED = 130

_EXAMPLES = {
    "phantom": """examples:
  confmap phantom -n 4 -o demo/                  4 simulated cases of 256x256 in demo/case_0000 ...
  confmap phantom -n 1000 -o big/ --workers 2    1,000 cases made by 2 worker processes
  confmap phantom -n 8 -o small/ --size 96 128   smaller images (H W)""",
    "maps": """examples:
  confmap maps demo/ -o demo-maps/                       every annotation under demo/ -> demo-maps/<case>.nc
  confmap maps demo/ -o maps-png/ --format png16 --lam 60 --bandwidth 0.2
  confmap maps demo/ -o maps/ --settings params.toml     parameters from a file ([maps] table)
  confmap maps demo/ -o maps/ --workers 2                2 local worker processes
  confmap maps demo/ -o maps/ --scheduler tcp://10.0.0.5:8786   an existing dask cluster
A rerun with the same parameters skips finished cases; other parameters need --overwrite.""",
    "evaluate": """examples:
  confmap evaluate demo-maps/ demo/ -o report/           per-image and pooled scores, figures
  confmap evaluate demo-maps/ demo/ -o report/ --workers 2 --thresholds 0.5 1.0
Writes report/evaluation.nc, per_image.csv, summary.csv, roc.png, joint_thresholds.png,
margin_correlation.png, reliability.png and cases/<case>.npz.""",
    "convert": """examples:
  confmap convert demo/case_0000/annotation.json case0.mrk.json --to slicer   one file for 3D Slicer
  confmap convert demo/ demo-cvat.xml --to cvat          every case of a folder into one CVAT XML
  confmap convert export.json cases/ --to confmap        a Label Studio/COCO export -> one JSON per image
  confmap convert points.csv case.json --to confmap --shape 256 256   napari CSV has no image size""",
    "validate": """examples:
  confmap validate demo/                          every annotation and map file under demo/
  confmap validate demo/case_0000/annotation.json demo-maps/case_0000.nc
Exit code 1 when any file has a problem.""",
}


def _common(p, *, batch=True):
    g = p.add_argument_group("output")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars, only errors")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv: dask's logs too)")
    if batch:
        d = p.add_argument_group("where to run (default: in this process)")
        m = d.add_mutually_exclusive_group()
        m.add_argument("--workers", type=int, metavar="N", help="start a local dask cluster of N processes")
        m.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="use a running dask scheduler (tcp://host:8786 or a scheduler-file .json)",
        )
        d.add_argument(
            "--connect-timeout",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="how long to wait for --scheduler (default 10)",
        )
        p.add_argument(
            "--overwrite", action="store_true", help="replace results made with other parameters in the output folder"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``confmap`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="confmap",
        description="Confidence-based annotation: maps, evaluation and data from the command line.",
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"confmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help):
        return sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = add("phantom", "write a simulated dataset (images, rater masks, annotations) in confmap.io's folder layout")
    p.add_argument("-n", type=int, required=True, help="number of cases")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"), help="image shape")
    _common(p)

    p = add("maps", "annotation files -> confidence maps (NetCDF, 16-bit PNG, NIfTI, NRRD, DICOM-SEG), one per case")
    p.add_argument("inputs", nargs="+", metavar="IN", help="annotation files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument(
        "--format",
        choices=("netcdf", "png16", "nifti", "nrrd", "dicom-seg"),
        default="netcdf",
        help="map file format (dicom-seg needs the source image.dcm beside each annotation)",
    )
    p.add_argument("--settings", metavar="FILE", help="map parameters from a TOML or JSON file (flags win)")
    add_map_options(p.add_argument_group("map parameters (default: the paper's; the fields of confmap.MapParams)"))
    p.add_argument("--strict", action="store_true", help="refuse to start if any input is unreadable or mixed")
    _common(p)

    p = add("evaluate", "the paper's evaluation of a folder of maps against a multi-rater folder")
    p.add_argument("maps", metavar="MAPS", help="folder of maps named <case>.nc/.png/.nii.gz")
    p.add_argument("refs", metavar="REFS", help="multi-rater folder with <case>/mask_*.png")
    p.add_argument("-o", "--out", required=True, help="report folder")
    p.add_argument("--thresholds", type=float, nargs="+", help="Agreement levels (0.25 0.5 0.75 1.0)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--strict", action="store_true", help="refuse to start if a map or a case has no partner")
    _common(p)

    p = add("convert", "convert annotation files between formats")
    p.add_argument("input", metavar="IN", help="annotation file or folder")
    p.add_argument("output", metavar="OUT", help="output file (or folder for a folder)")
    p.add_argument(
        "--to",
        required=True,
        metavar="FORMAT",
        help="target format: slicer, napari, labelstudio, cvat, coco or confmap",
    )
    p.add_argument("--shape", type=int, nargs=2, metavar=("H", "W"), help="image size for files without one")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    _common(p, batch=False)

    p = add("validate", "check annotation and map files; exit 1 if any has a problem")
    p.add_argument("paths", nargs="+", metavar="FILE", help="files or folders")
    _common(p, batch=False)
    return parser


def _logging(args):
    level = logging.ERROR if args.quiet else (logging.INFO if args.verbose >= 2 else logging.WARNING)
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(level if args.verbose >= 2 else max(level, logging.ERROR))


def main(argv=None) -> int:
    """Run the ``confmap`` command; returns the exit code (see the module docstring)."""
    from ..batch.engine import BadInput, FolderConflict, SchedulerUnreachable

    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args)
    from . import commands

    try:
        return getattr(commands, args.command)(args)
    except SchedulerUnreachable as exc:
        print(f"confmap {args.command}: {exc}", file=sys.stderr)
        return EXIT_SCHEDULER
    except FolderConflict as exc:
        print(f"confmap {args.command}: {exc} (--overwrite)", file=sys.stderr)
        return EXIT_CONFLICT
    except BadInput as exc:
        commands.report_problems(map(str, exc.problems))
        print(f"confmap {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"confmap {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"confmap {args.command}: interrupted; finished cases are kept, rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def main_exit() -> None:
    """Entry point of the ``confmap`` console script: :func:`main`, then exit with its code."""
    sys.exit(main())
