#!/usr/bin/env bash
# The whole test suite from scratch: install (scripts/install.sh), then unit and property tests,
# every notebook under nbval, the real-browser test and the Binder render, in one pytest run.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_construct.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
