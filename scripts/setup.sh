#!/usr/bin/env bash
# Creates .venv (with python3, or $PYTHON) and installs tpcore in it with every extra.
# Idempotent: a second run with the same pyproject.toml and this script returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi

stamp=.venv/.tpcore-setup
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import tpcore, torch" 2>/dev/null; then
  exit 0
fi

.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: this version is a CPU wheel on disk; any other spec may download a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[jax,torch,e3nn,test,bench]"
echo "$want" > "$stamp"
