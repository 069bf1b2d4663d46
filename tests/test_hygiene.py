"""Repository hygiene that pre-commit enforces locally, checked again here so CI enforces it too:
ruff passes, notebooks carry no outputs, and every docstring example in the package runs; and the
house rules of the package's layout: no module over 600 lines, no private name imported across modules."""

import ast
import doctest
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import confmap

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(confmap.__path__, "confmap."))
PACKAGE_FILES = sorted((REPO / "confmap").rglob("*.py"))
#: The house rule (README "Repository layout"): a module is read in one sitting.
MAX_MODULE_LINES = 600


def test_pre_commit_config_runs_ruff_and_strips_notebooks():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff", "ruff-format", "nbstripout"} <= hooks


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    out = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs (run nbstripout, or pre-commit)"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_no_module_over_the_size_rule():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in PACKAGE_FILES}
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert len(sizes) > 50 and not over, f"modules over {MAX_MODULE_LINES} lines (split them by concern): {over}"


def private_imports(source: str) -> list[str]:
    """Imports in ``source`` that reach past another module's or package's public face: ``from x import
    _y`` (a private *name*), and ``from ..pkg._mod import y`` (another package's private module; a
    package's own private submodules, ``from ._grid import ...`` or ``from . import _coco``, are its
    layout and allowed)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or node.module is None:  # ``from . import _mod``
            continue
        where = f"line {node.lineno}: from {'.' * node.level}{node.module} import "
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(where + alias.name)
        parts = node.module.split(".")
        if node.level != 1 and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
            found.append(where + ", ".join(a.name for a in node.names))
    return found


def test_the_private_import_check_finds_them():
    source = (
        "from ..construct._grid import _sink_radius\n"  # a private name
        "from ..construct._params import check_annotation\n"  # another package's private module
        "from . import _coco\nfrom ._grid import mesh_grid\nfrom .._validation import check_int\n"  # allowed
    )
    assert private_imports(source) == [
        "line 1: from ..construct._grid import _sink_radius",
        "line 1: from ..construct._grid import _sink_radius",
        "line 2: from ..construct._params import check_annotation",
    ]


def test_no_private_name_is_imported_across_modules():
    found = {str(p.relative_to(REPO)): private_imports(p.read_text()) for p in PACKAGE_FILES}
    found = {name: lines for name, lines in found.items() if lines}
    assert not found, f"private names imported from other modules (make them public in the package): {found}"
