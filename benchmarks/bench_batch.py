"""Batch throughput and memory: ``confmap maps`` / ``confmap evaluate`` with 1 and 2 dask workers.

For ``n`` phantom cases of 256x256 (made once with ``confmap phantom``), measured in the same run:

- maps: a plain Python loop in this process (``Annotation.load`` -> ``confidence_map`` ->
  ``io.save_map``, the same work as each task) against ``confmap maps`` with ``--workers 1`` and
  ``--workers 2`` (each run as a subprocess, a fresh output folder, process and cluster start-up
  included; the same command on one case gives that fixed cost, reported beside);
- evaluate: a plain loop of per-image ``metrics.evaluate`` (read map + masks, evaluate) against
  ``confmap evaluate --workers 1`` and ``--workers 2`` (figures off);
- the peak resident memory of the whole process tree (this process + every command, the
  scheduler and every dask worker), sampled every 0.1 s with psutil;
- full mode only: the quick cross-validation (``run_experiment("quick", num_threads=1)``: the
  same phantom dataset, ``learn.cross_validate``) serially in this process against
  ``confmap.batch.cross_validate`` on a 2-worker LocalCluster (one unit per task, 1 torch thread),
  every number of the two result Datasets compared exactly.

Run: ``python benchmarks/bench_batch.py [n] [folder]`` (default n = 1000, a temporary folder; a kept
folder's phantom cases are reused: set ``CONFMAP_BENCH_BATCH_DIR`` for ``python -m benchmarks``, and
``CONFMAP_BENCH_BATCH_N`` for another n in its full mode).
Images/s include file I/O; the ratio is against the loop. The machine is shared and noisy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class PeakMemory:
    """Peak of the summed RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval=0.1):
        import psutil

        self._proc = psutil.Process()
        self._psutil = psutil
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                pass
        self.peak = max(self.peak, total)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def cli(*args):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "confmap", *map(str, args), "-q"], env=env, capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(f"confmap {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr[-2000:]}")
    return time.perf_counter() - t


def loop_maps(src: Path, out: Path):
    from confmap import Annotation, RippleWarning, confidence_map
    from confmap.io import save_map

    out.mkdir(parents=True, exist_ok=True)
    cases = sorted(p for p in src.iterdir() if p.is_dir())
    t = time.perf_counter()
    for case in cases:
        ann = Annotation.load(case / "annotation.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RippleWarning)
            cm = confidence_map(ann)
        save_map(cm, out / f"{case.name}.nc")
    return time.perf_counter() - t


def loop_evaluate(maps: Path, src: Path):
    from confmap.io import load_image, read_map
    from confmap.metrics import evaluate

    cases = sorted(p for p in src.iterdir() if p.is_dir())
    t = time.perf_counter()
    briers = []
    for case in cases:
        m = np.asarray(read_map(maps / f"{case.name}.nc").values)
        masks = np.stack([np.asarray(load_image(p).values) > 0 for p in sorted(case.glob("mask_*"))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate(m[None], masks.mean(axis=0)[None])
        briers.append(float(ev.brier[0]))
    return time.perf_counter() - t, float(np.mean(briers))


def main(n=1000, folder=None):
    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_batch_")
        folder = tmp.name
    root = Path(folder)
    rows = []
    with PeakMemory() as mem:
        t = cli("phantom", "-n", n, "-o", root / "data", "--workers", 2)  # resumes: a kept folder is reused
        print(f"phantom: {n} cases of 256x256 with 2 workers in {t:.1f} s ({n / t:.1f} cases/s)", flush=True)
        for old in root.glob("*"):
            if old.name not in ("data", "one"):
                shutil.rmtree(old)
        cases = root / "cases"  # the first n cases of data/ (a kept folder may hold more), as links
        cases.mkdir()
        for case in sorted(p for p in (root / "data").iterdir() if p.is_dir())[:n]:
            (cases / case.name).symlink_to(case.resolve(), target_is_directory=True)
        one = root / "one"
        if not one.exists():
            shutil.copytree(root / "data" / "case_0000", one / "case_0000")
        fixed = {}  # start-up: the same command on one case (process start, imports, cluster)
        for w in (1, 2):
            fixed["maps", w] = cli("maps", one, "-o", root / f"one-maps-{w}", "--workers", w)
            fixed["evaluate", w] = cli(
                "evaluate", root / f"one-maps-{w}", one, "-o", root / f"one-report-{w}", "--workers", w, "--no-figures"
            )
        t_loop = loop_maps(cases, root / "maps-loop")
        rows.append(("maps", "plain loop (this process)", t_loop))
        print(rows[-1], flush=True)
        for w in (1, 2):
            rows.append(
                (
                    "maps",
                    f"confmap maps --workers {w}",
                    cli("maps", cases, "-o", root / f"maps-{w}", "--workers", w),
                )
            )
            print(rows[-1], flush=True)
        t_eval, brier = loop_evaluate(root / "maps-loop", cases)
        rows.append(("evaluate", "plain loop (this process)", t_eval))
        print(rows[-1], flush=True)
        for w in (1, 2):
            rows.append(
                (
                    "evaluate",
                    f"confmap evaluate --workers {w}",
                    cli(
                        "evaluate",
                        root / f"maps-{w}",
                        cases,
                        "-o",
                        root / f"report-{w}",
                        "--workers",
                        w,
                        "--no-figures",
                    ),
                )
            )
            print(rows[-1], flush=True)
    print(f"\n{n} images of 256x256 (2-core machine, shared; cluster start-up included; load {os.getloadavg()})")
    print(
        f"{'step':<10}{'how':<34}{'seconds':>9}{'images/s':>10}{'vs loop':>9}"
        f"{'start-up s':>12}{'images/s after start-up':>25}"
    )
    base = {}
    for step, how, sec in rows:
        base.setdefault(step, sec)
        w = int(how[-1]) if how[-1].isdigit() else None
        extra = ""
        if w is not None:
            f = fixed[step, w]
            extra = f"{f:>12.1f}{(n - 1) / max(sec - f, 1e-9):>25.1f}"
        print(f"{step:<10}{how:<34}{sec:>9.1f}{n / sec:>10.1f}{base[step] / sec:>8.2f}x{extra}")
    print(f"peak memory of the whole process tree: {mem.peak / 2**30:.2f} GiB (bar: < 2 GiB)")
    print(f"mean Brier of the loop's evaluation: {brier:.5f}")
    if tmp is not None:
        tmp.cleanup()
    return {"rows": rows, "fixed": fixed, "peak": mem.peak, "brier": brier}


def _flat(ds):
    """Every number of a Dataset (data variables and coordinates), by name."""
    out = {}
    for name, v in {**ds.coords, **ds.data_vars}.items():
        a = np.asarray(v.values)
        if a.dtype.kind in "fciub":
            out[name] = a
    return out


def compare_cv(**overrides):
    """The quick cross-validation serially and as dask tasks on 2 workers; every number compared.

    ``overrides`` change :class:`confmap.learn.CVConfig` fields of the preset (a smoke test:
    ``epochs=1, losses=("bce",)``).

    Returns
    -------
    dict
        ``serial_s``, ``dask_s`` (wall time of the cross-validation alone; the dataset is made
        once, before), ``cluster_s`` (LocalCluster start-up), ``numbers`` (values compared),
        ``different`` (values not bit-identical; NaN equals NaN), ``max_abs_diff``, ``variables``,
        ``peak`` (bytes, RSS of the process tree during the dask run), ``train_serial_s`` and
        ``train_dask_s`` (the units' training times summed: ``train_seconds``, the one variable
        not compared, since wall times differ between any two runs).
    """
    import torch

    from confmap.batch import cross_validate as cv_dask
    from confmap.batch import open_client
    from confmap.learn import PRESETS, CVConfig, cross_validate
    from confmap.phantom import make_dataset

    dargs = dict(PRESETS["quick"]["dataset"])
    ds = make_dataset(dargs.pop("n"), progress=False, **dargs)
    config = CVConfig(**{**PRESETS["quick"]["config"], **overrides})
    torch.set_num_threads(1)
    t = time.perf_counter()
    serial = cross_validate(ds, config, progress=False, num_threads=1)
    serial_s = time.perf_counter() - t
    print(f"quick cross-validation, serial (1 torch thread): {serial_s:.1f} s", flush=True)
    with PeakMemory() as mem:
        t = time.perf_counter()
        with open_client(workers=2) as client:
            cluster_s = time.perf_counter() - t
            t = time.perf_counter()
            dask = cv_dask(ds, config, client=client, progress=False, num_threads=1)
            dask_s = time.perf_counter() - t
    print(f"quick cross-validation, 2 dask workers: {dask_s:.1f} s (+ {cluster_s:.1f} s cluster start-up)", flush=True)
    train = {k: float(np.nansum(r["train_seconds"].values)) for k, r in (("serial", serial), ("dask", dask))}
    print(f"training time summed over units: serial {train['serial']:.1f} s, on the workers {train['dask']:.1f} s")
    # every number but the wall times of the units (train_seconds), which no two runs share
    a, b = (_flat(r.drop_vars("train_seconds")) for r in (serial, dask))
    if sorted(a) != sorted(b):
        raise AssertionError(f"the serial and dask results hold other variables: {sorted(a)} vs {sorted(b)}")
    numbers = different = 0
    worst = 0.0
    for k in a:
        x, y = a[k].astype(float, copy=False), b[k].astype(float, copy=False)
        if x.shape != y.shape:
            raise AssertionError(f"{k}: shape {x.shape} serially, {y.shape} through dask")
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        numbers += x.size
        different += int((~same).sum())
        if (~same).any():
            worst = max(worst, float(np.nanmax(np.abs(x - y))))
    print(f"compared {numbers:,} numbers in {len(a)} variables: {different} differ (max |diff| {worst:g})")
    return {
        "serial_s": serial_s,
        "dask_s": dask_s,
        "cluster_s": cluster_s,
        "numbers": numbers,
        "different": different,
        "max_abs_diff": worst,
        "variables": len(a),
        "peak": mem.peak,
        "train_serial_s": train["serial"],
        "train_dask_s": train["dask"],
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, sys.argv[2] if len(sys.argv) > 2 else None)
    if "--cv" in sys.argv:
        compare_cv()


#: For the benchmark runner (``python -m benchmarks``): the full mode (1,000 phantoms, then the quick
#: cross-validation twice) takes ~15 min on 2 cores; the quick mode 40 phantoms and no cross-validation.
REQUIRES = ("dask", "distributed", "psutil", "torch")


def benchmark(*, quick: bool) -> list[dict]:
    """Figures for ``python -m benchmarks``: images/s per row, ratio to the loop, peak memory, CV identity."""
    from benchmarks.report import claim, figure

    n = 40 if quick else int(os.environ.get("CONFMAP_BENCH_BATCH_N", 1000))
    res = main(n, os.environ.get("CONFMAP_BENCH_BATCH_DIR"))
    figs, base = [], {}
    for step, how, sec in res["rows"]:
        base.setdefault(step, sec)
        w = int(how[-1]) if "--workers" in how else None
        extra = {}
        if w is not None:
            fixed = res["fixed"][step, w]
            extra = {
                "startup_s": round(fixed, 2),
                "images_per_s_after_startup": round((n - 1) / max(sec - fixed, 1e-9), 2),
            }
        figs.append(
            figure(
                f"batch.{step}.{'loop' if w is None else f'workers_{w}'}",
                n / sec,
                "images/s",
                label=f"{step}, {how}, {n} phantom images of 256x256 (start-up included)",
                baseline=n / base[step],
                ratio=base[step] / sec,
                seconds=round(sec, 2),
                images=n,
                **extra,
            )
        )
    figs.append(
        figure(
            "batch.peak_memory",
            res["peak"] / 2**30,
            "GiB",
            label=f"peak RSS of the whole process tree (commands, scheduler and dask workers), {n} images",
            claim=claim("<=", 2.0, quick=2.0, text="under 2 GiB for the whole run"),
        )
    )
    if not quick:
        cv = compare_cv()
        figs.append(
            figure(
                "batch.cv_quick.different_numbers",
                cv["different"],
                "numbers",
                label=(
                    f"quick cross-validation through dask (2 workers) vs serial: numbers not bit-identical, "
                    f"of {cv['numbers']:,} in {cv['variables']} variables"
                ),
                claim=claim("==", 0, quick=None, text="the dask path gives results identical to the serial path"),
                numbers=cv["numbers"],
                max_abs_diff=cv["max_abs_diff"],
            )
        )
        figs.append(
            figure(
                "batch.cv_quick.dask_seconds",
                cv["dask_s"],
                "s",
                label="quick cross-validation, 2 dask workers (cluster start-up excluded)",
                baseline=cv["serial_s"],
                ratio=cv["serial_s"] / cv["dask_s"],
                cluster_s=round(cv["cluster_s"], 2),
                train_serial_s=round(cv["train_serial_s"], 2),
                train_dask_s=round(cv["train_dask_s"], 2),
                peak_gib=round(cv["peak"] / 2**30, 3),
            )
        )
    return figs
