#!/usr/bin/env bash
# Sets up .venv (scripts/setup.sh) and runs the test suite: tpcore's tests, then each plugin's
# (separate runs: both plugins have a tests/test_conformance.py). Extra arguments go to the first
# pytest run only, and then the plugins' runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
if [ $# -eq 0 ]; then
  .venv/bin/python -m pytest -q plugins/tpcore-example/tests
  .venv/bin/python -m pytest -q plugins/tpcore-e3nn/tests
fi
