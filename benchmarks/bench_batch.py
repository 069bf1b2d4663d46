"""Batch throughput and memory: ``confmap maps`` / ``confmap evaluate`` with 1 and 2 dask workers.

For ``n`` phantom cases of 256x256 (made once with ``confmap phantom``), measured in the same run:

- maps: a plain Python loop in this process (``Annotation.load`` -> ``confidence_map`` ->
  ``io.save_map``, the same work as each task) against ``confmap maps`` with ``--workers 1`` and
  ``--workers 2`` (each run as a subprocess, a fresh output folder, cluster start-up included);
- evaluate: a plain loop of per-image ``metrics.evaluate`` (read map + masks, evaluate) against
  ``confmap evaluate --workers 1`` and ``--workers 2`` (figures off);
- the peak resident memory of the whole process tree (this process + every command and dask
  worker), sampled every 0.1 s with psutil.

Run: ``python benchmarks/bench_batch.py [n] [folder]`` (default n = 1000, a temporary folder).
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
        one = root / "one"
        if not one.exists():
            shutil.copytree(root / "data" / "case_0000", one / "case_0000")
        fixed = {}  # start-up: the same command on one case (process start, imports, cluster)
        for w in (1, 2):
            fixed["maps", w] = cli("maps", one, "-o", root / f"one-maps-{w}", "--workers", w)
            fixed["evaluate", w] = cli(
                "evaluate", root / f"one-maps-{w}", one, "-o", root / f"one-report-{w}", "--workers", w, "--no-figures"
            )
        t_loop = loop_maps(root / "data", root / "maps-loop")
        rows.append(("maps", "plain loop (this process)", t_loop))
        print(rows[-1], flush=True)
        for w in (1, 2):
            rows.append(
                (
                    "maps",
                    f"confmap maps --workers {w}",
                    cli("maps", root / "data", "-o", root / f"maps-{w}", "--workers", w),
                )
            )
            print(rows[-1], flush=True)
        t_eval, brier = loop_evaluate(root / "maps-loop", root / "data")
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
                        root / "data",
                        "-o",
                        root / f"report-{w}",
                        "--workers",
                        w,
                        "--no-figures",
                    ),
                )
            )
            print(rows[-1], flush=True)
    print(f"\n{n} images of 256x256 (2-core machine, shared; cluster start-up included)")
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
    return rows, mem.peak


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, sys.argv[2] if len(sys.argv) > 2 else None)


#: For the benchmark runner (``python -m benchmarks``): 1,000 phantoms take ~15 min on 2 shared cores.
FULL_ONLY = True
REQUIRES = ("dask", "distributed", "psutil")


def benchmark(*, quick: bool) -> list[dict]:
    """Figures for ``python -m benchmarks``: images/s per row, ratio to the loop, peak memory."""
    from benchmarks.report import claim, figure

    n = 40 if quick else 1000
    rows, peak = main(n)
    figs, base = [], {}
    for step, how, sec in rows:
        base.setdefault(step, sec)
        key = how.split("--workers ")[-1] if "--workers" in how else "loop"
        figs.append(
            figure(
                f"batch.{step}.{'loop' if key == 'loop' else f'workers_{key}'}",
                n / sec,
                "images/s",
                label=f"{step}, {how}, {n} phantom images of 256x256 (start-up included)",
                baseline=n / base[step],
                ratio=base[step] / sec,
            )
        )
    figs.append(
        figure(
            "batch.peak_memory",
            peak / 2**30,
            "GiB",
            label=f"peak RSS of the whole process tree (commands and dask workers), {n} images",
            claim=claim("<=", 2.0, quick=2.0, text="under 2 GiB for the whole run"),
        )
    )
    return figs
