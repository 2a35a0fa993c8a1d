#!/usr/bin/env bash
# Sets up .venv (scripts/setup.sh) and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

.venv/bin/tpcore backends
.venv/bin/tpcore info --variant cgtp --irreps-in1 "8x0e+8x1o" --irreps-in2 "1x0e+1x1o" --irreps-out "8x0e+8x1o" "$@"
