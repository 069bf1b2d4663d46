"""Run a part of the test suite in its own pytest process and time it (for the ``*_times`` benchmarks).

The README quotes how long the slow parts of the suite take, to size CI: each notebook under nbval
(:mod:`benchmarks.bench_notebook_times`) and each construction property test under the ``ci``
hypothesis profile (:mod:`benchmarks.bench_property_times`). Times come from pytest's JUnit XML
(``--junitxml``: each test case's time) and the process's wall clock. Wall-clock times depend on the
machine's load, so each figure records the load average before and after. They carry no claims
(they are not ratios, and no test asserts a time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> float:
    """The 1-minute load average, rounded to 0.1."""
    return round(os.getloadavg()[0], 1)


def run_pytest(target: str, xml: Path, env: dict) -> tuple[float, dict[str, float], float, float]:
    """Run ``python -m pytest target`` from the repository root with ``env`` added to the environment.

    Returns (wall-clock seconds of the process, {test case name: seconds}, load average before,
    load average after); raises RuntimeError with the output's tail when pytest fails.
    """
    load0 = load_average()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", f"--junitxml={xml}", target]
    full_env = {**os.environ, "MPLBACKEND": "Agg", **env}
    full_env.pop("CI", None)
    p = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}")
    cases = {c.get("name"): float(c.get("time", 0.0)) for c in ET.parse(xml).getroot().iter("testcase")}
    return wall, cases, load0, load_average()
