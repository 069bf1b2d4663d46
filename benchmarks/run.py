"""Run every benchmark, check its claims, write benchmarks/report.json; exit 1 when a claim fails.

    python -m benchmarks                    # full mode: the figures the README quotes (~20 min on 2 cores)
    python -m benchmarks --quick            # quick mode: seconds per benchmark, generous margins (CI)
    python -m benchmarks --only phantom sweep
    python benchmarks/readme.py             # then regenerate the README's tables from the report

Each benchmark measures its figures and, in the same run, the baseline it is compared with (scipy,
scikit-learn, a loop of direct calls, a direct 2-D convolution, MONAI's networks). A figure may
carry a claim (a ratio or an exact equality with a bound, see :mod:`benchmarks.report`); the run
fails when a claim does not hold. Absolute times are recorded but only checked against a bar in
the full mode; the quick mode checks ratios and equalities with wider margins, since CI machines
are noisy.

The report (``--output``, default ``benchmarks/report.json`` in the full mode and
``benchmarks/report-quick.json`` in the quick mode) holds, per benchmark: mode, date, machine
(CPU, cores, Python, numpy, scipy, torch, MONAI versions), commit, seconds, status and figures
(id, label, value, unit, baseline, ratio, claim, passed). A run of some benchmarks (``--only``)
replaces their entries and keeps the others, so each entry carries its own date and commit.

Registering a new benchmark is one entry in :data:`BENCHMARKS`: a name and the module that defines
``benchmark(*, quick: bool) -> list[dict]`` (figures made with :func:`benchmarks.report.figure`),
optionally ``FULL_ONLY = True`` (too slow for the quick mode), ``REQUIRES = ("torch",)``
(modules it cannot run without) and ``REQUIRES_PROGRAMS = ("chromium",)`` (programs it needs on
PATH); without them the benchmark is recorded as skipped, not failed. A benchmark that finds out
only when it runs that it cannot run here raises :class:`benchmarks.report.Skipped` (also skipped).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import report  # noqa: E402

#: name -> module defining ``benchmark(*, quick)``; the order is the order of the run.
BENCHMARKS = {
    "confidence_map": "benchmarks.bench_confidence_map",
    "metrics": "benchmarks.bench_metrics",
    "phantom": "benchmarks.bench_phantom",
    "results": "benchmarks.bench_results",
    "sweep": "benchmarks.bench_sweep",
    "learn": "benchmarks.bench_learn",
    "learn_quick": "benchmarks.bench_learn_quick",
    "batch": "benchmarks.bench_batch",
    "interop": "benchmarks.bench_interop",
    "notebook_times": "benchmarks.bench_notebook_times",
    "property_times": "benchmarks.bench_property_times",
    "annotator": "benchmarks.bench_annotator",
    "architecture": "benchmarks.bench_architecture",
}


def run_one(name: str, *, quick: bool) -> dict:
    """Run one registered benchmark; its report entry (status ok, failed, error or skipped)."""
    mod = importlib.import_module(BENCHMARKS[name])
    entry = {"mode": "quick" if quick else "full", "figures": []}
    entry.update(report.commit())  # the code that runs, recorded before it runs
    missing = [m for m in getattr(mod, "REQUIRES", ()) if importlib.util.find_spec(m) is None]
    missing += [p for p in getattr(mod, "REQUIRES_PROGRAMS", ()) if shutil.which(p) is None]
    t0 = time.perf_counter()
    if missing:
        entry.update(status="skipped", reason=f"not installed: {', '.join(missing)}")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figs = mod.benchmark(quick=quick)
        except report.Skipped as e:  # cannot run here (e.g. a commit it compares with is missing)
            entry.update(status="skipped", reason=str(e))
        except Exception:  # a benchmark that crashes is a failed claim, with its traceback
            entry.update(status="error", error=traceback.format_exc(limit=8))
        else:
            for f in figs:
                ok = report.check(f, quick=quick)
                if ok is not None:
                    f["passed"] = ok
            entry["figures"] = figs
            entry["status"] = "failed" if any(f.get("passed") is False for f in figs) else "ok"
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    entry["date"] = report.now()
    entry["machine"] = report.machine()
    return entry


def _print_entry(name, e, out):
    print(f"== {name}: {e['status']} ({e['seconds']:.1f} s)", file=out)
    for f in e["figures"]:
        ratio = f" ratio {f['ratio']:.4g}" if f.get("ratio") is not None else ""
        base = f" baseline {f['baseline']:.4g}" if f.get("baseline") is not None else ""
        mark = {True: "  PASS", False: "  FAIL"}.get(f.get("passed"), "")
        c = f.get("claim")
        claim = f"  [{c['op']} {c['quick'] if e['mode'] == 'quick' else c['bound']}]" if c and mark else ""
        value = "None" if f["value"] is None else f"{f['value']:.6g}"
        print(f"  {f['id']:<44} {value:>12} {f['unit']:<9}{base}{ratio}{claim}{mark}", file=out)
    for key in ("reason", "error"):
        if key in e:
            print(f"  {key}: {e[key]}", file=out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="seconds per benchmark, wide margins (CI)")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help="run these only")
    ap.add_argument("--output", type=Path, default=None, help="report path (see above)")
    args = ap.parse_args(argv)
    out = args.output or report.ROOT / "benchmarks" / ("report-quick.json" if args.quick else "report.json")
    names = args.only or list(BENCHMARKS)
    rep = report.load(out) if args.only else {"schema": report.SCHEMA, "benchmarks": {}}
    failed = []
    for name in names:
        mod = importlib.import_module(BENCHMARKS[name])
        if args.quick and getattr(mod, "FULL_ONLY", False):
            print(f"== {name}: full mode only, not run with --quick")
            continue
        print(f"== {name} ...", flush=True)
        e = run_one(name, quick=args.quick)
        rep["benchmarks"][name] = e
        report.save(rep, out)  # after each benchmark: a long run keeps what it measured
        _print_entry(name, e, sys.stdout)
        if e["status"] in ("failed", "error"):
            failed.append(name)
    print(f"wrote {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
