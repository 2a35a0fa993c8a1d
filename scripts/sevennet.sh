#!/usr/bin/env bash
# SevenNet on tpcore: sets up .venv-sevenn (scripts/setup_sevennet.sh) and times the pretrained
# SevenNet-0 on e3nn and with its convolutions on tpcore side by side (scripts/sevennet_bench.py):
# energy+forces+stress of a structure and a training step, interleaved rounds in one process.
# Writes docs/results/sevennet-cpu.md (--quick: out/sevennet/sevennet-cpu-quick.md) and prints it.
#
#   bash scripts/sevennet.sh [--quick] [--out FILE] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_sevennet.sh
exec .venv-sevenn/bin/python scripts/sevennet_bench.py "$@"
