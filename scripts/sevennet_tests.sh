#!/usr/bin/env bash
# The SevenNet tests (plugins/tpcore-sevennet/tests) in .venv-sevenn, which scripts/setup_sevennet.sh
# sets up: patched SevenNet equals e3nn SevenNet (energy, forces, stress, training gradients; each
# product in float64; pretrained SevenNet-0 through SevenNet's calculator), it pickles and saves, and
# its LAMMPS deploy equals the eager model, with torch_geometric imported. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_sevennet.sh
# one thread unless told otherwise: small models, and OpenMP threads on a shared CPU run several times slower
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv-sevenn/bin/python -m pytest -q -p no:cacheprovider -W "ignore::DeprecationWarning" plugins/tpcore-sevennet/tests "$@"
