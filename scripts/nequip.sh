#!/usr/bin/env bash
# NequIP on tpcore: sets up .venv-nequip, then builds NequIP models at a few sizes, swaps in tpcore
# with the enable_tpcore modifier (plugins/tpcore-nequip), checks they compute e3nn's numbers, and
# times energy+forces and a training step against e3nn's in the same rounds
# (tpcore_nequip.benchmark). The full run writes docs/results/nequip-cpu.md; both print the table.
#
#   bash scripts/nequip.sh [--quick] [--out FILE] [--threads N]
#   bash scripts/nequip.sh --setup-only        # only create/update .venv-nequip (scripts/nequip_tests.sh uses it)
#
# nequip 0.19.1 brings its own e3nn and torch_geometric, so NequIP gets its own environment: torch
# first and pinned (a CPU wheel on disk; any other spec may download a multi-GB CUDA build), then
# nequip, then tpcore and the plugin from this repository, editable.
# Idempotent: with the same pyproject files and this script, a second setup returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-nequip

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.tpcore-nequip-setup"
want="$(cat pyproject.toml plugins/tpcore-nequip/pyproject.toml scripts/nequip.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import importlib.util as u; assert all(u.find_spec(m) for m in ('nequip', 'tpcore', 'tpcore_nequip', 'pytest'))" 2>/dev/null; then
  :
else
  echo "nequip: installing torch, nequip, tpcore and tpcore-nequip into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
  "$venv/bin/python" -m pip install --quiet "nequip==0.19.1"
  "$venv/bin/python" -m pip install --quiet -e ".[test]"
  # the plugin's dependencies (tpcore, torch, nequip, ase) are in place already
  "$venv/bin/python" -m pip install --quiet --no-deps -e plugins/tpcore-nequip
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi
exec "$venv/bin/python" -m tpcore_nequip.benchmark "$@"
