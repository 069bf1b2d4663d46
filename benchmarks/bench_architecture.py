"""The renovated package against the package before the renovation, same run, same inputs.

Issue 10 renovated the package (``construct``, ``metrics``, ``sweep`` and ``phantom`` became
packages, one ``MapParams``, one dataset contract) and promised no slowdown beyond noise. This
benchmark extracts the package as it was at :data:`BASE` (the last commit before the renovation)
with ``git archive`` into a temporary folder and times, in one run, the old and the current
package on the same inputs:

- ``confidence_map`` of the three annotations of ``bench_confidence_map`` at 256² and at 512²
  (λ = 100, all three per timing);
- ``metrics.evaluate`` of 10 synthetic images of 256² (``bench_metrics.synthetic``, phantom-sized);
- ``sweep.sweep`` over 2 λ × 3 β_M × 2 bandwidths = 12 settings on the round 256² annotation;
- ``phantom.make_dataset`` of 3 phantom images of 256².

Both packages are imported as ``confmap``, each in its own long-lived worker process; the timings
interleave (old, new, new, old, old, new, ...) so that a drift of the machine's load falls on both
alike, and each figure is the median CPU time of its repeats (the first call of each case, which
also writes the outputs, is not timed). Claim per figure: new / old <= 1.05. The outputs are
compared as well, every array of every case (the maps; every variable of the ``evaluate``, ``sweep``
and ``make_dataset`` Datasets): claim, largest difference <= 1e-12 (in practice 0).

The issue also asked that the renovation not grow the package's line count. Features of other issues
(interop, the command line, dask, the live annotator) have grown the package since, so the count
*of the renovation* is a ledger: :data:`RENOVATION` lists the commits that did the renovation and
:data:`CONSOLIDATION` the clean-up commits that paid for its growth; :func:`line_ledger` sums each
commit's change to the package's Python lines (``git diff --numstat`` of the commit against its
parent, ``confmap/**.py``). Claim: the renovation and the consolidation together change the package
by at most 0 lines. The largest module is reported too (claim: at most 600 lines, the house rule
``tests/test_hygiene.py`` also checks).

Without the history of :data:`BASE` (a shallow clone, a source archive) the benchmark is
recorded as skipped, with the reason.

    python -m benchmarks --only architecture      # full mode only (about two minutes)
    python benchmarks/bench_architecture.py --worker ROOT OUTDIR   # one worker (used internally)
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (also the worker)
    _REPO = Path(__file__).resolve().parents[1]
else:
    _REPO = None

FULL_ONLY = True
#: The last commit before the renovation of issue 10.
BASE = "c2753fa"
#: Case -> (label, repeats in the full mode).
CASES = {
    "map256": ("confidence_map, three annotations at 256², λ = 100", 41),
    "map512": ("confidence_map, three annotations at 512², λ = 100", 41),
    "evaluate": ("metrics.evaluate, 10 synthetic images of 256²", 25),
    "sweep": ("sweep, 12 settings (λ × β_M × bandwidth) at 256²", 25),
    "make_dataset": ("phantom.make_dataset, 3 images of 256²", 15),
}
SWEEP_GRID = {"lam": [60, 100], "beta_m": [0.3, 0.5, 0.7], "bandwidth": [0.1, 0.2]}
#: The renovation's commits (issue 10, 2026-12-02): packages by paper step, one MapParams, the dataset
#: contract, the annotation session, the tier style, splits of large modules, hygiene. Left out: commits
#: that formatted or fixed other issues' new modules, and speed work on the renovated code.
RENOVATION = (
    "2e85833",  # construct/ and metrics/ as packages, MapParams, normalise, SCORES
    "4c1c25f",  # phantom/ as a package
    "d59f71a",  # style.py: one tier style
    "5796adc",  # dataset.py: the one Dataset contract
    "9b64aa1",  # pre-commit hygiene
    "c1f0aa3",  # ruff: import order
    "3cb0ab2",  # session.py: AnnotationSession
    "e599af0",  # explorer settings as one property factory
    "6b2e2b1",  # sweep/ as a package
    "3ed26e7",  # Annotator map options checked by MapParams
    "61f4290",  # widgets/_events.py
    "334e2f4",  # phantom: shared argument checks in one helper
    "c398100",  # widgets split by concern
    "7ed061c",  # learn/crossval.py split
    "96dffc2",  # one tuple check
    "6a4059b",  # metrics plots: one function per panel
    "73e22ef",  # io: one path check, one suffix rule
    "c192164",  # evaluate laid out by evaluation_dataset
    "3b3a269",  # cli settings derived from MapParams
    "29d5604",  # params= instead of confidence_kwargs
    "96a1725",  # map_from_weights written once
    "fc9c569",  # ruff format of the split widgets modules
    "a99418d",  # ruff format of the split learn modules
    "65bac5c",  # ruff format of the whole tree
    "b47b3b8",  # _validation: blank lines
    "f827f49",  # _validation docstring
)
#: The consolidation of 2026-12-03 (dead code, repeats, helpers reused), same behaviour and public names.
CONSOLIDATION = (
    "ea1fd5e",  # core: construct, sweep, _validation, annotation, dataset, geometry, reference
    "46788a3",  # metrics, phantom, learn
    "2678383",  # io, export, formats, cli, batch
    "486c1dd",  # widgets, session
    "cf3b2c7",  # second pass: check_type/check_keys, kde_map, shared phantom images
    "5e3edc1",  # sample_part reads only the vertices it needs again (the second pass had slowed evaluate)
    "7d79237",  # evaluate's reliability bins select where used again (cache)
    "4a73a90",  # review: check_annotation and kde_map public (no import of construct's private modules)
    "598bd8c",  # review: kde_map's docstring points to map_from_weights
    "0a83f75",  # phantom's seed check is check_int's
    "adadc08",  # annotation.as_annotations, the one "Annotation or a sequence of them" check
    "74ac843",  # cross_validate: one call path with num_threads; crossval's config via check_type
    "eff0c54",  # review: as_annotations names `annotations` for a non-iterable (+2)
)


def extract_old(dest, *, commit: str = BASE, root=None) -> Path:
    """Extract ``confmap/`` as of ``commit`` under ``dest``; :class:`benchmarks.report.Skipped` when
    the repository does not hold that commit (a shallow clone, no git)."""
    from benchmarks.report import ROOT, Skipped

    root = Path(root or ROOT)
    try:
        ok = subprocess.run(
            ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True, check=False
        ).returncode
    except OSError as e:  # no git at all
        raise Skipped(f"git is not available ({e}); the package before the renovation cannot be extracted") from e
    if ok != 0:
        raise Skipped(
            f"commit {commit} (the package before the renovation) is not in this repository's history "
            "(a shallow clone?); fetch the full history to compare"
        )
    archive = ["git", "archive", "--format=tar", commit, "confmap"]
    tar = subprocess.run(archive, cwd=root, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
        tf.extractall(dest, filter="data")
    return Path(dest)


def line_ledger(commits, *, root=None) -> dict[str, tuple[int, int]]:
    """Lines added and deleted by each commit in the package's Python files (``confmap/**.py``).

    :class:`benchmarks.report.Skipped` when a commit is not in the repository's history.
    """
    from benchmarks.report import ROOT, Skipped

    out = {}
    for commit in commits:
        diff = subprocess.run(
            ["git", "diff", "--numstat", f"{commit}~1", commit, "--", "confmap/*.py"],  # git's * crosses folders
            cwd=Path(root or ROOT),
            capture_output=True,
            text=True,
        )
        if diff.returncode != 0:
            raise Skipped(f"commit {commit} of the line ledger is not in this repository's history (a shallow clone?)")
        rows = [line.split("\t") for line in diff.stdout.splitlines()]
        out[commit] = (sum(int(r[0]) for r in rows), sum(int(r[1]) for r in rows))
    return out


def largest_module(root=None) -> tuple[str, int]:
    """The package's longest Python module and its number of lines."""
    from benchmarks.report import ROOT

    package = Path(root or ROOT) / "confmap"
    sizes = {str(p.relative_to(package.parent)): len(p.read_text().splitlines()) for p in package.rglob("*.py")}
    name = max(sizes, key=sizes.get)
    return name, sizes[name]


def line_figures() -> list[dict]:
    """The renovation's line ledger and the largest module (see the module docstring)."""
    from benchmarks.report import claim, figure

    renovation, consolidation = line_ledger(RENOVATION), line_ledger(CONSOLIDATION)
    grown = sum(a - d for a, d in renovation.values())
    paid = sum(a - d for a, d in consolidation.values())
    name, size = largest_module()
    return [
        figure(
            "architecture.lines.renovation",
            grown + paid,
            "lines",
            label="the renovation's commits and the consolidation's, net change of the package's Python lines",
            claim=claim("<=", 0, text="the renovation did not grow the package's line count"),
            renovation=grown,
            consolidation=paid,
            commits={c: list(v) for c, v in {**renovation, **consolidation}.items()},
        ),
        figure(
            "architecture.lines.largest_module",
            size,
            "lines",
            label=f"the package's longest module ({name})",
            claim=claim("<=", 600, text="no module over 600 lines"),
            module=name,
        ),
    ]


# ---------------------------------------------------------------- the worker (one per package)


def _inputs():
    """The cases' inputs and calls, built with whichever ``confmap`` is imported."""
    import numpy as np

    import confmap
    from benchmarks.bench_confidence_map import CASES as ANNOTATIONS
    from benchmarks.bench_confidence_map import tumour
    from benchmarks.bench_metrics import synthetic
    from confmap import metrics
    from confmap.phantom import make_dataset
    from confmap.sweep import sweep

    anns = {s: [tumour(s, **kw) for _, kw in ANNOTATIONS.values()] for s in (256, 512)}
    maps, agree, _ = synthetic(10, 256, seed=0)
    sweep_agree = synthetic(1, 256, seed=1)[1][0]

    def cmaps(size):
        return {f"map{i}": confmap.confidence_map(a, lam=100).values for i, a in enumerate(anns[size])}

    def variables(ds):
        return {k: np.asarray(ds[k].values) for k in ds.data_vars if ds[k].dtype.kind in "fiub"}

    return {
        "map256": lambda: cmaps(256),
        "map512": lambda: cmaps(512),
        "evaluate": lambda: variables(metrics.evaluate(maps, agree)),
        "sweep": lambda: variables(sweep(anns[256][0], agreement=sweep_agree, progress=False, **SWEEP_GRID)),
        "make_dataset": lambda: variables(make_dataset(3, seed=0, progress=False)),
    }


def worker(root: str, outdir: str) -> None:
    """Answer ``{"case": name}`` lines on stdin with ``{"seconds": cpu}``; ``confmap`` from ``root``.

    The first call of a case is not timed; its outputs go to ``outdir/<case>.npz``.
    """
    import warnings

    import numpy as np

    sys.path.insert(0, root)  # before the repository (on the path for ``benchmarks``)
    warnings.simplefilter("ignore")
    proto, sys.stdout = sys.stdout, sys.stderr  # nothing but answers on the protocol stream
    import confmap

    where = Path(confmap.__file__).resolve().parent
    if where != Path(root).resolve() / "confmap":
        raise RuntimeError(f"worker for {root} imported confmap from {where}")
    calls = _inputs()
    seen = set()
    for line in sys.stdin:
        case = json.loads(line)["case"]
        if case not in seen:
            np.savez(Path(outdir) / f"{case}.npz", **calls[case]())
            seen.add(case)
        t0 = time.process_time()
        calls[case]()
        print(json.dumps({"seconds": time.process_time() - t0}), file=proto, flush=True)


class _Worker:
    def __init__(self, root: Path, outdir: Path):
        outdir.mkdir(parents=True, exist_ok=True)
        self.outdir = outdir
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(root), str(outdir)],
            cwd=outdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def time(self, case: str) -> float:
        self.proc.stdin.write(json.dumps({"case": case}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker in {self.outdir} ended (exit {self.proc.wait()}) on {case!r}")
        return json.loads(line)["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _largest_difference(a_path: Path, b_path: Path):
    """Largest absolute difference over the arrays of two ``.npz`` files; names only in one of them."""
    import numpy as np

    with np.load(a_path) as a, np.load(b_path) as b:
        worst = 0.0
        for k in sorted(set(a.files) & set(b.files)):
            x, y = a[k].astype(float), b[k].astype(float)
            if x.shape != y.shape:
                return float("inf"), [f"{k}: shape {x.shape} vs {y.shape}"]
            same_nan = np.isnan(x) == np.isnan(y)
            if not same_nan.all():
                return float("inf"), [f"{k}: NaN at different places"]
            d = np.abs(np.where(np.isnan(x), 0.0, x - y))
            worst = max(worst, float(d.max(initial=0.0)))
        return worst, sorted(set(a.files) ^ set(b.files))


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.report import ROOT, claim, figure

    with tempfile.TemporaryDirectory(prefix="confmap-arch-") as tmp:
        tmp = Path(tmp)
        old_root = extract_old(tmp / "old")
        workers = {"old": _Worker(old_root, tmp / "out-old"), "new": _Worker(ROOT, tmp / "out-new")}
        times = {case: {"old": [], "new": []} for case in CASES}
        try:
            for case, (_, repeats) in CASES.items():
                for tag in ("old", "new"):  # untimed first call: outputs, warm-up
                    workers[tag].time(case)
                for r in range(3 if quick else repeats):
                    order = ("old", "new") if r % 2 == 0 else ("new", "old")  # ABBA: drift falls on both
                    for tag in order:
                        times[case][tag].append(workers[tag].time(case))
        finally:
            for w in workers.values():
                w.close()
        figs = []
        for case, (label, _) in CASES.items():
            t_old, t_new = (statistics.median(times[case][t]) for t in ("old", "new"))
            diff, only_one = _largest_difference(tmp / "out-old" / f"{case}.npz", tmp / "out-new" / f"{case}.npz")
            figs.append(
                figure(
                    f"architecture.{case}.seconds",
                    t_new,
                    "s",
                    label=f"{label}: current package vs the package at {BASE} (median CPU time)",
                    baseline=t_old,
                    ratio=t_new / t_old,
                    claim=claim("<=", 1.05, text="no slowdown beyond noise: new / old <= 1.05"),
                    repeats=len(times[case]["new"]),
                    spread_new=[min(times[case]["new"]), max(times[case]["new"])],
                    spread_old=[min(times[case]["old"]), max(times[case]["old"])],
                )
            )
            figs.append(
                figure(
                    f"architecture.{case}.max_abs_diff",
                    diff,
                    "",
                    label=f"{label}: largest difference between the outputs of the two packages",
                    claim=claim("<=", 1e-12, text="same outputs as before the renovation"),
                    only_in_one=only_one,
                )
            )
    return figs + line_figures()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(_REPO))  # for ``benchmarks``; the worker puts its confmap before it
        worker(sys.argv[2], sys.argv[3])
    else:
        sys.path.insert(0, str(_REPO))
        from benchmarks.run import main

        sys.exit(main(["--only", "architecture", *sys.argv[1:]]))
