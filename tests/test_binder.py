"""Binder: ``binder/`` is complete on its own, and repo2docker renders a Dockerfile that uses it.

repo2docker ignores every configuration file at the repository root once ``binder/`` exists, so
``binder/environment.yml`` must be a full copy of the root ``environment.yml`` (generated: a header
line, then the root file verbatim) and ``binder/postBuild`` must install the package.

Regenerate the copy with ``python tests/test_binder.py``.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOT_ENV = REPO / "environment.yml"
BINDER_ENV = REPO / "binder" / "environment.yml"
POSTBUILD = REPO / "binder" / "postBuild"
HEADER = (
    "# GENERATED from ../environment.yml by `python tests/test_binder.py`; do not edit (Binder reads\n"
    "# only binder/ once it exists). tests/test_binder.py checks that the two agree.\n"
)


def expected_binder_env() -> str:
    return HEADER + ROOT_ENV.read_text()


def _packages(text: str) -> tuple[list, list]:
    import yaml

    doc = yaml.safe_load(text)
    conda = [d for d in doc["dependencies"] if isinstance(d, str)]
    pip = [p for d in doc["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]
    return conda, pip


def test_binder_environment_is_the_generated_copy():
    assert BINDER_ENV.read_text() == expected_binder_env(), "regenerate with `python tests/test_binder.py`"
    conda, pip = _packages(BINDER_ENV.read_text())
    assert (conda, pip) == _packages(ROOT_ENV.read_text())
    names = {c.split("=")[0].split(">")[0].split("<")[0] for c in conda}
    assert {"python", "numpy", "scipy", "xarray", "matplotlib", "jupyterlab", "ipywidgets", "ipympl", "pip"} <= names
    # torch comes from pip with the CPU wheel index, never conda's or PyPI's default CUDA build.
    assert any(p.startswith("torch") for p in pip) and "https://download.pytorch.org/whl/cpu" in " ".join(pip)


def test_postbuild_installs_the_package():
    text = POSTBUILD.read_text()
    assert POSTBUILD.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert text.startswith("#!/bin/bash")
    assert "pip install --no-deps" in text and "-e ." in text
    assert "import confmap" in text


@pytest.mark.slow
def test_repo2docker_uses_binder_files(tmp_path):
    exe = shutil.which("jupyter-repo2docker") or str(Path(sys.executable).parent / "jupyter-repo2docker")
    if not Path(exe).exists():
        pytest.fail("jupyter-repo2docker is not installed (pip install jupyter-repo2docker)")
    # A copy of what repo2docker reads: the root files it must ignore, and binder/.
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("environment.yml", "pyproject.toml", "README.md", "constraints.txt"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, repo / name)
    shutil.copytree(REPO / "binder", repo / "binder")
    proc = subprocess.run(
        [exe, "--no-build", "--debug", str(repo)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dockerfile = proc.stdout
    assert "FROM " in dockerfile
    assert "COPY --chown=0:0 src/binder/environment.yml ${REPO_DIR}/binder/environment.yml" in dockerfile
    assert '--file "binder/environment.yml"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert "src/environment.yml" not in dockerfile  # the root file is ignored, as documented


if __name__ == "__main__":
    BINDER_ENV.write_text(expected_binder_env())
    print(f"wrote {BINDER_ENV.relative_to(REPO)}")
