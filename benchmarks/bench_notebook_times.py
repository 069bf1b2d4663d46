"""How long each notebook takes under nbval (the README's notebooks section).

Each notebook runs in its own ``python -m pytest notebooks/NN.ipynb`` process with the suite's
``addopts`` (nbval; kernel start included); figure: the process's wall-clock time, with the summed
cell times of pytest's JUnit XML and the load average before and after. No claims. Full mode only
(minutes on 2 cores).

    python -m benchmarks --only notebook_times
"""

from __future__ import annotations

import tempfile
from pathlib import Path

FULL_ONLY = True
NOTEBOOKS = (
    "01_annotate",
    "02_parameters",
    "03_evaluation",
    "04_soft_label_unet",
    "05_bring_your_own_data",
)


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.pytest_times import run_pytest
    from benchmarks.report import figure

    figs = []
    with tempfile.TemporaryDirectory() as d:
        for nb in NOTEBOOKS:
            wall, cases, l0, l1 = run_pytest(f"notebooks/{nb}.ipynb", Path(d) / f"{nb}.xml", {})
            figs.append(
                figure(
                    f"notebook_times.{nb}.seconds",
                    wall,
                    "s",
                    label=f"python -m pytest notebooks/{nb}.ipynb (nbval), wall clock",
                    cells=len(cases),
                    cells_seconds=sum(cases.values()),
                    load_before=l0,
                    load_after=l1,
                )
            )
    return figs
