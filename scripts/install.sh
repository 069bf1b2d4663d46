#!/usr/bin/env bash
# Create .venv (if absent) and install confmap with everything: notebooks, learning, io, tests.
# torch is pinned to the CPU build through constraints.txt (an unpinned torch pulls ~3 GB of CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all]"
# The jupyter server extension confmap.jupyter (TCP_NODELAY on kernel websockets, see its docstring):
# a regular install puts this file there itself (pyproject's data-files); an editable one does not.
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
cp jupyter-config/jupyter_server_config.d/confmap.json .venv/etc/jupyter/jupyter_server_config.d/
# Debian's Chromium for the real-browser test (Playwright drives it; never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is not installed; the browser test will fail" >&2
  fi
fi
