#!/usr/bin/env bash
# Sets up .venv (scripts/setup.sh) and runs the main job: `tpcore report` on every usable backend
# (correctness, time, FLOPs, ratios to e3nn and e3nn-jax), written to tpcore-report/. Extra
# arguments go to `tpcore report` (e.g. --lmax 4 --out somewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

.venv/bin/tpcore backends
.venv/bin/tpcore report "$@"
