"""Suite-wide test configuration: the CI skip rule and the hypothesis profiles.

CI skip rule
    Every piece the suite tests is required (the ``test`` extra installs all of it), so a skipped test
    means a missing feature, not an optional one. When the ``CI`` environment variable is set (to
    anything but ``""``, ``0`` or ``false``), every skipped test -- and every skipped module -- is turned
    into a failure that names the skip reason.

Hypothesis profiles (choose with ``HYPOTHESIS_PROFILE=<name>``)
    ``ci`` (the default)
        2,000 examples for each construction property (``tests/test_construct_properties.py``): what
        ``bash scripts/test.sh`` runs unless told otherwise (the README's testing section has the
        measured times).
    ``thorough``
        10,000 examples for each construction property: what ``.ci/run`` runs (about 5x the ``ci``
        time).
    ``dev``
        300 examples: a quick check while developing.
    Tests that set their own ``max_examples`` keep it; the construction properties take theirs from
    the profile (the weights-vs-Delaunay oracle, whose oracle is slow, a quarter of it).

Shared fixtures
    ``rng`` (a seeded generator), ``tiered_annotation`` (every weighted tier and a sink on 60 x 80),
    ``tiny_phantoms`` (two simulated 32 x 32 images of the dataset contract, session-scoped, read-only),
    ``ipympl_backend`` (pyplot on ipympl's backend for the test, as in JupyterLab; restored after).
    Fixtures only one test file needs stay in that file.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from confmap import Annotation

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
#: examples per construction property in each profile
PROFILE_EXAMPLES = {"dev": 300, "ci": 2000, "thorough": 10_000}
for _name, _n in PROFILE_EXAMPLES.items():
    settings.register_profile(_name, max_examples=_n, **_COMMON)

_profile = os.environ.get("HYPOTHESIS_PROFILE") or "ci"
if _profile not in PROFILE_EXAMPLES:
    raise ValueError(f"HYPOTHESIS_PROFILE must be one of {sorted(PROFILE_EXAMPLES)}, got {_profile!r}")
settings.load_profile(_profile)


def skips_fail() -> bool:
    """True when the ``CI`` environment variable asks for skips to fail the run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _fail_skip(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped test fails the run because CI is set (a required piece is missing): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if skips_fail():
        _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    if skips_fail():
        _fail_skip(outcome.get_result())


def pytest_report_header(config):
    rule = "skips FAIL (CI is set)" if skips_fail() else "skips allowed (CI not set)"
    return f"confmap: hypothesis profile {_profile!r}; {rule}"


@pytest.fixture
def ipympl_backend():
    """pyplot on ipympl's backend (figures get widget canvases, as in JupyterLab), restored afterwards."""
    import matplotlib
    import matplotlib.pyplot as plt

    old = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    yield
    plt.switch_backend(old)


@pytest.fixture
def rng():
    """A seeded generator: every test that draws random numbers starts from the same state."""
    return np.random.default_rng(0)


@pytest.fixture
def tiered_annotation():
    """A small annotation with every weighted tier and a sink, on a 60 x 80 image (points (x, y))."""
    return Annotation(
        (60, 80),
        high=[(30, 20), (50, 22), (40, 40)],
        medium=[(20, 10), (60, 12), (62, 50), (18, 48)],
        low=[(10, 5), (70, 5), (72, 56), (8, 55)],
        sinks=[(41, 27)],
    )


@pytest.fixture(scope="session")
def tiny_phantoms():
    """Two simulated 32 x 32 images with raters and annotations (the dataset contract); read-only."""
    from confmap.phantom import make_dataset

    return make_dataset(2, seed=0, size=(32, 32), progress=False)
