#!/usr/bin/env bash
# Creates .venv-sevenn (with python3, or $PYTHON) for SevenNet on tpcore (plugins/tpcore-sevennet):
# torch first and pinned (a CPU wheel on disk; any other spec may download a multi-GB CUDA build),
# then sevenn 0.13.0 (which pulls e3nn 0.6 and torch_geometric), then tpcore, tpcore-e3nn and the
# plugin from this repository, editable and without dependencies (theirs are in place already).
# Idempotent: with the same pyproject files and this script, a second run returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-sevenn

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.tpcore-sevennet-setup"
want="$(cat pyproject.toml plugins/tpcore-e3nn/pyproject.toml plugins/tpcore-sevennet/pyproject.toml scripts/setup_sevennet.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import importlib.util as u; assert all(u.find_spec(m) for m in ('sevenn', 'tpcore', 'tpcore_sevennet', 'pytest'))" 2>/dev/null; then
  exit 0
fi

echo "sevennet: installing torch, sevenn, tpcore and tpcore-sevennet into $venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet "sevenn==0.13.0"
"$venv/bin/python" -m pip install --quiet --no-deps -e . -e plugins/tpcore-e3nn -e plugins/tpcore-sevennet
"$venv/bin/python" -m pip install --quiet pluggy "pytest>=7"
echo "$want" > "$stamp"
