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
# The environment is made by scripts/client_venv.sh (idempotent: a second setup returns at once).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/client_venv.sh .venv-nequip "nequip==0.19.1" nequip tpcore_nequip -- plugins/tpcore-nequip
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi
exec .venv-nequip/bin/python -m tpcore_nequip.benchmark "$@"
