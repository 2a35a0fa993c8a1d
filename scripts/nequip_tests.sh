#!/usr/bin/env bash
# The NequIP tests (plugins/tpcore-nequip/tests) in .venv-nequip, which scripts/nequip.sh sets up:
# NequIP with enable_tpcore equals e3nn NequIP in float64 (eager, train-time compile, AOTInductor),
# and their state_dicts load into each other. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/nequip.sh --setup-only
# one thread unless told otherwise: small models, and OpenMP threads on a shared CPU run several times slower
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv-nequip/bin/python -m pytest -q -p no:cacheprovider -W "ignore::UserWarning" -W "ignore::DeprecationWarning" plugins/tpcore-nequip/tests "$@"
