"""How long the construction's property tests take under the ``ci`` hypothesis profile (README, testing).

One ``python -m pytest tests/test_construct_properties.py`` process with ``HYPOTHESIS_PROFILE=ci``;
figures: each test's time from pytest's JUnit XML (with its number of examples) and the process's
wall-clock time, with the load average before and after. The ``thorough`` profile's time is
extrapolated from these in the README (5x the examples of each test), not measured. No claims. Full
mode only (minutes on 2 cores).

    python -m benchmarks --only property_times
"""

from __future__ import annotations

import tempfile
from pathlib import Path

FULL_ONLY = True
PROPERTIES = "tests/test_construct_properties.py"
PROFILE = "ci"
#: examples per construction property in each profile (tests/conftest.py's PROFILE_EXAMPLES)
PROFILE_EXAMPLES = {"dev": 300, "ci": 2000, "thorough": 10_000}


def examples(test: str, n: int) -> int:
    """Examples of ``test`` under a profile of ``n`` (the weights oracle runs a quarter, at least 50)."""
    return max(50, n // 4) if test == "test_weights_equal_delaunay_find_simplex" else n


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.pytest_times import run_pytest
    from benchmarks.report import figure

    with tempfile.TemporaryDirectory() as d:
        wall, cases, l0, l1 = run_pytest(PROPERTIES, Path(d) / "properties.xml", {"HYPOTHESIS_PROFILE": PROFILE})
    figs = [
        figure(
            f"property_times.{name}.seconds",
            seconds,
            "s",
            label=f"{PROPERTIES}::{name}, HYPOTHESIS_PROFILE={PROFILE}",
            examples=examples(name, PROFILE_EXAMPLES[PROFILE]),
        )
        for name, seconds in cases.items()
    ]
    figs.append(
        figure(
            "property_times.total.seconds",
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
