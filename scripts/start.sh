#!/usr/bin/env bash
# Install (scripts/install.sh) and open JupyterLab on the first notebook.
# Extra arguments go to `jupyter lab`, e.g. `bash scripts/start.sh --port 8890`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-root); fi
exec .venv/bin/jupyter lab notebooks/01_annotate.ipynb "${extra[@]}" "$@"
