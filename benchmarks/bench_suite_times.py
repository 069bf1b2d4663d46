"""How long the slow parts of the test suite take: each notebook under nbval, each property test.

The README quotes these times to size CI (the notebooks table, and the hypothesis profiles of the
testing section). Each notebook runs in its own ``python -m pytest notebooks/NN.ipynb`` process
(nbval, the suite's ``addopts``: kernel start included); the construction's property tests run in one
``python -m pytest tests/test_construct_properties.py`` process with ``HYPOTHESIS_PROFILE=ci``. Times
come from pytest's JUnit XML (``--junitxml``: the summed time of each file's test cases) and, for each
process, its wall-clock time. Wall-clock times depend on the machine's load, which each figure
records (load average before and after). No claims (they are not ratios; a test never asserts a
time); the ``thorough`` profile's time is extrapolated from these (its example counts are 5x the
``ci`` profile's), not measured. Full mode only (several minutes on 2 cores).

    python -m benchmarks --only suite_times
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

FULL_ONLY = True
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = (
    "01_annotate",
    "02_parameters",
    "03_evaluation",
    "04_soft_label_unet",
    "05_bring_your_own_data",
)
PROPERTIES = "tests/test_construct_properties.py"
PROFILE = "ci"


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _pytest(target: str, xml: Path, env: dict) -> tuple[float, dict[str, float], float, float]:
    """Run pytest on ``target``; (wall seconds, {test name: seconds}, load before, load after)."""
    load0 = _load()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", f"--junitxml={xml}", target]
    p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}")
    cases = {c.get("name"): float(c.get("time", 0.0)) for c in ET.parse(xml).getroot().iter("testcase")}
    return wall, cases, load0, _load()


def _examples(test: str, n: int) -> int:
    """Examples per test under a profile of ``n`` (the weights oracle runs a quarter, at least 50)."""
    return max(50, n // 4) if test == "test_weights_equal_delaunay_find_simplex" else n


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.report import figure

    env = {"MPLBACKEND": "Agg", "HYPOTHESIS_PROFILE": PROFILE}
    env.pop("CI", None)
    figs = []
    with tempfile.TemporaryDirectory() as d:
        for nb in NOTEBOOKS:
            wall, cases, l0, l1 = _pytest(f"notebooks/{nb}.ipynb", Path(d) / f"{nb}.xml", env)
            figs.append(
                figure(
                    f"suite_times.notebook.{nb}.seconds",
                    wall,
                    "s",
                    label=f"python -m pytest notebooks/{nb}.ipynb (nbval), wall clock",
                    cells=len(cases),
                    cells_seconds=sum(cases.values()),
                    load_before=l0,
                    load_after=l1,
                )
            )
        from tests.conftest import PROFILE_EXAMPLES

        wall, cases, l0, l1 = _pytest(PROPERTIES, Path(d) / "properties.xml", env)
        for name, seconds in cases.items():
            figs.append(
                figure(
                    f"suite_times.properties.{name}.seconds",
                    seconds,
                    "s",
                    label=f"{PROPERTIES}::{name}, HYPOTHESIS_PROFILE={PROFILE}",
                    examples=_examples(name, PROFILE_EXAMPLES[PROFILE]),
                )
            )
        figs.append(
            figure(
                "suite_times.properties.total.seconds",
                wall,
                "s",
                label=f"python -m pytest {PROPERTIES} with HYPOTHESIS_PROFILE={PROFILE}, wall clock",
                profile=PROFILE,
                profile_examples=PROFILE_EXAMPLES,
                load_before=l0,
                load_after=l1,
            )
        )
    return figs
