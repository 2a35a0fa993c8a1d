#!/usr/bin/env bash
# The MACE tests (plugins/tpcore-mace/tests) in .venv-mace, which scripts/mace.sh sets up:
# tpcore-CG MACE equals e3nn MACE in float64, the Gaunt (S2-grid, GTP) MACE is equivariant.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/mace.sh --setup-only
# one thread unless told otherwise: small models, and OpenMP threads on a shared CPU run several times slower
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv-mace/bin/python -m pytest -q -p no:cacheprovider -W "ignore::UserWarning" -W "ignore::DeprecationWarning" plugins/tpcore-mace/tests "$@"
