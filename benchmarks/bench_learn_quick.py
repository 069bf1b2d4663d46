"""The soft-label learning experiment's quick configuration, and how much its result moves.

``run_experiment("quick", num_threads=1)`` (10 phantom images of 64x64, 5 folds, UNet
(8, 16, 32, 64), 15 epochs, losses BCE, Tversky (paper) and fuzzy Tversky; see
docs/learning.md) is the run whose tables the README and docs/learning.md show (run ``seed0``).
The same configuration is rerun with other training seeds (``CVConfig.seed`` 1 and 2: another
fold split, initialisation and batch order on the same images), with 2 torch threads, and with
torch's CPU kernels restricted to the baseline instruction set (``ATEN_CPU_CAPABILITY=default``)
to show how sensitive it is: with 8 training images per fold and lr 1e-2, a different order of
floating-point sums (threads, vector width) is enough to change the trained networks.

Figures per run: the mean over folds of the held-out Brier and soft Dice per loss, label
(soft, hard) and reference (agreement, truth), the number of folds in which soft beat hard, the
mean soft-trained output over held-out pixels per loss and the mean soft label. No claims: these
are findings, reported as measured. Full mode only (each run takes 1-3 minutes on 2 cores; two
run at a time in subprocesses).

    python -m benchmarks --only learn_quick
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FULL_ONLY = True
REQUIRES = ("torch",)
#: run key -> (CVConfig seed, torch threads, extra environment)
RUNS = {
    "seed0": (0, 1, {}),
    "seed1": (1, 1, {}),
    "seed2": (2, 1, {}),
    "threads2": (0, 2, {}),
    "isa_default": (0, 1, {"ATEN_CPU_CAPABILITY": "default"}),
}


def run(seed: int, threads: int) -> dict:
    """One quick experiment in this process; its summary as a JSON-serialisable dict."""
    import time
    import warnings

    import numpy as np
    import torch

    from confmap.learn import run_experiment

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    ds, res = run_experiment("quick", num_threads=threads, progress=False, seed=seed)
    seconds = time.perf_counter() - t0
    fs = res["fold_score"]
    out = {"seconds": seconds, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "scores": {}}
    for ref in fs.reference.values:
        for m in fs.metric.values:
            for lo in fs.loss.values:
                s = fs.sel(reference=ref, metric=m, loss=lo)
                for lab in fs.label.values:
                    out["scores"][f"{ref}.{m}.{lo}.{lab}"] = float(s.sel(label=lab).mean("fold"))
                wins = int((s.sel(label="soft") < s.sel(label="hard")).sum())
                out["scores"][f"soft_wins.{ref}.{m}.{lo}"] = wins
    pred = res["prediction"].sel(label="soft")
    for lo in pred.loss.values:
        out["scores"][f"mean_output.{lo}"] = float(pred.sel(loss=lo).mean())
    out["scores"]["mean_soft_label"] = float(np.mean(ds["confidence"].values))
    out["n_folds"] = int(fs.sizes["fold"])
    return out


def _subprocess(key):
    seed, threads, env = RUNS[key]
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "benchmarks.bench_learn_quick", str(seed), str(threads)]
    p = subprocess.run(cmd, cwd=root, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{key}: {' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.report import figure

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(RUNS, pool.map(_subprocess, RUNS), strict=True))
    figs = []
    for key, r in results.items():
        seed, threads, env = RUNS[key]
        setting = f'run_experiment("quick", num_threads={threads}, seed={seed})' + "".join(
            f" with {k}={v}" for k, v in env.items()
        )
        figs.append(
            figure(
                f"learn_quick.{key}.seconds",
                r["seconds"],
                "s",
                label=setting,
                cpu_capability=r["cpu_capability"],
                n_folds=r["n_folds"],
            )
        )
        for name, value in r["scores"].items():
            unit = "folds" if name.startswith("soft_wins") else ""
            figs.append(figure(f"learn_quick.{key}.{name}", value, unit, label=f"{name}, {setting}"))
    return figs


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]))))
