"""Tests of the suite's own rules (tests/conftest.py, pytest options): a missing piece fails CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def _run_pytest(tmp_path, body, *, ci):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_demo.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "HYPOTHESIS_PROFILE")}
    if ci:
        env["CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SKIPPING_TEST = "import pytest\n\ndef test_skips():\n    pytest.skip('feature X missing')\n\ndef test_ok():\n    pass\n"
SKIPPING_MODULE = "import pytest\npytest.importorskip('no_such_module_confmap')\n\ndef test_ok():\n    pass\n"


@pytest.mark.parametrize("body", [SKIPPING_TEST, SKIPPING_MODULE], ids=["test", "module"])
def test_a_skip_fails_the_run_when_ci_is_set(tmp_path, body):
    r = _run_pytest(tmp_path, body, ci=True)
    assert r.returncode != 0, r.stdout
    assert "skipped test fails the run because CI is set" in r.stdout


def test_a_skip_is_only_reported_without_ci(tmp_path):
    r = _run_pytest(tmp_path, SKIPPING_TEST, ci=False)
    assert r.returncode == 0, r.stdout
    assert re.search(r"1 passed, 1 skipped", r.stdout)


def test_no_test_module_skips_on_a_missing_import():
    """Required dependencies are imported plainly: a missing one is an error, never a skip."""
    offenders = [p.name for p in TESTS.glob("*.py") if "importorskip(" in p.read_text() and p != Path(__file__)]
    assert offenders == []


def test_pytest_options_are_strict_and_report_skips():
    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert "--strict-markers" in opts
    assert "-ra" in opts


def test_ci_script_sets_ci_and_the_thorough_hypothesis_profile():
    text = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export CI=", text, re.M)
    assert re.search(r'^export HYPOTHESIS_PROFILE="\$\{HYPOTHESIS_PROFILE:-thorough\}"$', text, re.M)


def test_hypothesis_profiles():
    """The loaded profile sets the construction properties' examples; `thorough` is 10,000."""
    from conftest import PROFILE_EXAMPLES
    from hypothesis import settings

    assert PROFILE_EXAMPLES["thorough"] == 10_000
    assert settings.get_profile("thorough").max_examples == 10_000
    profile = os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    assert settings.default.max_examples == PROFILE_EXAMPLES[profile]
    props = (TESTS / "test_construct_properties.py").read_text()
    assert "max_examples=" not in props.replace("max_examples=max(50, settings.default.max_examples // 4)", "")


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _code_cells(path):
    import json

    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            yield cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_asserts_are_unconditional_and_outputs_stripped(path):
    """Every notebook assert runs on every run (none under if/while/try), and no outputs are committed."""
    import ast

    assert NOTEBOOKS
    for cell in _code_cells(path):
        assert cell.get("outputs") == [] and cell.get("execution_count") is None
        lines = "".join(cell["source"]).splitlines()
        tree = ast.parse("\n".join(line for line in lines if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, (ast.If, ast.While, ast.Try, ast.IfExp)):
                inner = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Assert)]
                assert not inner, f"conditional assert in {path.name}: {lines[inner[0] - 1].strip()}"


def test_notebook_01_starts_fresh_unless_a_folder_is_named():
    src = "\n".join("".join(c["source"]) for c in _code_cells(ROOT / "notebooks" / "01_annotate.ipynb"))
    assert 'ANNOTATION_DIR = os.environ.get("CONFMAP_ANNOTATION_DIR") or None' in src
    assert "tempfile.mkdtemp(" in src and "gettempdir()" not in src
