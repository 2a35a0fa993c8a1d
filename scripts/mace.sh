#!/usr/bin/env bash
# MACE on tpcore: sets up .venv-mace and trains e3nn-CG, tpcore-CG, tpcore-S2-grid and tpcore-GTP MACE
# on a locally generated EMT data set (plugins/tpcore-mace, tpcore_mace.experiment), writing
# out/mace/results.md (the table), results.json and learning_curves.png.
#
#   bash scripts/mace.sh [--quick] [--out DIR] [--threads N] [--epochs N] [--variants e3nn,cgtp,s2grid,gtp]
#   bash scripts/mace.sh --setup-only        # only create/update .venv-mace (scripts/mace_tests.sh uses it)
#   bash scripts/mace.sh --conv [--quick]    # MACE's convolution alone as a message-passing step
#                                            # (tpcore_mace.conv_benchmark, out/mace-conv/results.md)
#
# mace-torch 0.3.16 pins e3nn 0.4.4 (tpcore's own .venv has a newer e3nn), so MACE gets its own
# environment: torch first and pinned (a CPU wheel on disk; any other spec may download a multi-GB
# CUDA build), then mace-torch, then tpcore and the plugin from this repository, editable.
# The environment is made by scripts/client_venv.sh (idempotent: a second setup returns at once).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/client_venv.sh .venv-mace "mace-torch==0.3.16" mace tpcore_mace -- plugins/tpcore-mace
if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi
if [ "${1:-}" = "--conv" ]; then
  shift
  exec .venv-mace/bin/python -m tpcore_mace.conv_benchmark "$@"
fi
exec .venv-mace/bin/python -m tpcore_mace.experiment "$@"
