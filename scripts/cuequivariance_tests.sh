#!/usr/bin/env bash
# The cuEquivariance plugin's tests (plugins/tpcore-cuequivariance/tests) in .venv-cue: tpcore's
# conformance suite over torch/cgtp/cuequivariance (cuEquivariance's naive method on the CPU) on
# every catalogue case it accepts, values and first and second derivatives against the float64
# reference. The environment is made by scripts/client_venv.sh: torch pinned first, then
# cuequivariance-torch, whose wheel does not depend on torch; never the CUDA ops wheels
# (cuequivariance-ops-torch-*). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/client_venv.sh .venv-cue "cuequivariance-torch==0.13.0" cuequivariance cuequivariance_torch tpcore_cuequivariance \
  -- plugins/tpcore-cuequivariance
# one thread unless told otherwise: small products, and OpenMP threads on a shared CPU run several times slower
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv-cue/bin/python -m pytest -q -p no:cacheprovider plugins/tpcore-cuequivariance/tests "$@"
