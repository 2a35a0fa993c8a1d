#!/usr/bin/env bash
# Creates .venv-sevenn (with python3, or $PYTHON) for SevenNet on tpcore (plugins/tpcore-sevennet):
# torch first and pinned (a CPU wheel on disk; any other spec may download a multi-GB CUDA build),
# then sevenn 0.13.0 (which pulls e3nn 0.6 and torch_geometric), then tpcore, tpcore-e3nn and the
# plugin from this repository, editable.
# scripts/client_venv.sh does it (idempotent: a second run returns at once).
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/client_venv.sh .venv-sevenn "sevenn==0.13.0" sevenn tpcore_sevennet -- plugins/tpcore-e3nn plugins/tpcore-sevennet
