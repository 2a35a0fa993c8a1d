#!/usr/bin/env bash
# Creates .venv (with python3, or $PYTHON) and installs tpcore in it with every extra, the plugins
# in plugins/, and (as root, where apt-get exists) Debian's chromium + chromium-driver for the
# browser test of the asv pages.
# Idempotent: a second run with the same pyproject files and this script returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

if { ! command -v chromedriver || [ ! -e /usr/share/javascript/blueimp-md5 ]; } >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing chromium and chromium-driver (browser test of the asv pages)" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver libjs-jquery libjs-bootstrap libjs-jquery-stupidtable node-blueimp-md5 >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi

stamp=.venv/.tpcore-setup
want="$(cat pyproject.toml plugins/*/pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import tpcore, torch, tpcore_e3nn, tpcore_example" 2>/dev/null; then
  exit 0
fi

echo "setup: installing tpcore and its extras into .venv" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: this version is a CPU wheel on disk; any other spec may download a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[jax,torch,e3nn,test,bench]"
# the plugins are separate distributions; their dependencies (tpcore, e3nn, e3nn-jax) are in place already
.venv/bin/python -m pip install --quiet --no-deps -e plugins/tpcore-e3nn -e plugins/tpcore-example
echo "$want" > "$stamp"
