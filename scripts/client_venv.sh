#!/usr/bin/env bash
# Creates (or updates) the virtualenv of one model library that pins its own e3nn, so it cannot
# share tpcore's .venv (MACE pins e3nn 0.4.4; NequIP and SevenNet bring theirs):
#
#   bash scripts/client_venv.sh VENV REQUIREMENT MODULE... -- PLUGIN_DIR...
#
# torch first and pinned (a CPU wheel on disk; any other spec may download a multi-GB CUDA build),
# then REQUIREMENT (e.g. "mace-torch==0.3.16"), then tpcore with its test extra and the plugin
# folders, editable (the plugins' own dependencies are in place by then). MODULEs are what must
# import afterwards. Idempotent: with the same pyproject files and this script, it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1 requirement=$2
shift 2
modules=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do modules+=("$1"); shift; done
[ $# -gt 0 ] && shift
plugins=("$@")

if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.tpcore-client-setup"
want="$(cat pyproject.toml "${plugins[@]/%//pyproject.toml}" scripts/client_venv.sh | sha256sum | cut -d' ' -f1)"
check="import importlib.util as u; assert all(u.find_spec(m) for m in '${modules[*]} tpcore pytest'.split())"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  exit 0
fi
echo "$venv: installing torch, $requirement, tpcore and ${plugins[*]}" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet "$requirement"
"$venv/bin/python" -m pip install --quiet -e ".[test]"
for plugin in "${plugins[@]}"; do
  "$venv/bin/python" -m pip install --quiet --no-deps -e "$plugin"
done
echo "$want" > "$stamp"
