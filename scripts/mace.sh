#!/usr/bin/env bash
# MACE on tpcore: sets up .venv-mace and trains e3nn-CG, tpcore-CG, tpcore-S2-grid and tpcore-GTP MACE
# on a locally generated EMT data set (plugins/tpcore-mace, tpcore_mace.experiment), writing
# out/mace/results.md (the table), results.json and learning_curves.png.
#
#   bash scripts/mace.sh [--quick] [--out DIR] [--threads N] [--epochs N] [--variants e3nn,cgtp,s2grid,gtp]
#   bash scripts/mace.sh --setup-only        # only create/update .venv-mace (scripts/mace_tests.sh uses it)
#
# mace-torch 0.3.16 pins e3nn 0.4.4 (tpcore's own .venv has a newer e3nn), so MACE gets its own
# environment: torch first and pinned (a CPU wheel on disk; any other spec may download a multi-GB
# CUDA build), then mace-torch, then tpcore and the plugin from this repository, editable.
# Idempotent: with the same pyproject files and this script, a second setup returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-mace

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.tpcore-mace-setup"
want="$(cat pyproject.toml plugins/tpcore-mace/pyproject.toml scripts/mace.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import importlib.util as u; assert all(u.find_spec(m) for m in ('mace', 'tpcore', 'tpcore_mace'))" 2>/dev/null; then
  :
else
  echo "mace: installing torch, mace-torch, tpcore and tpcore-mace into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
  "$venv/bin/python" -m pip install --quiet "mace-torch==0.3.16"
  "$venv/bin/python" -m pip install --quiet -e ".[test]"
  # the plugin's dependencies (tpcore, torch, mace-torch, ase, matplotlib) are in place already
  "$venv/bin/python" -m pip install --quiet --no-deps -e plugins/tpcore-mace
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi
exec "$venv/bin/python" -m tpcore_mace.experiment "$@"
