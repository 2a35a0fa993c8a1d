#!/usr/bin/env bash
# Run HERE, with network: the wheels scripts/device_check.sh installs on an offline CUDA machine, in .whl/.
#
# That machine's image has python 3.12 with torch (CUDA), jax (CUDA plugin), cupy, e3nn, pluggy, numpy
# and pytest. This downloads, for cp312 manylinux x86_64 and without dependencies, what it lacks:
# e3nn-jax 0.21.x and attrs (its one dependency not in the image), cuequivariance and
# cuequivariance-torch (the cuEquivariance peer; networkx and opt-einsum come along, installed there
# only if missing), and builds tpcore's own pure-python wheels (tpcore, tpcore-e3nn).
#
# cuEquivariance's fused kernels are left out: cuequivariance-ops-torch-cu13 (28 MB) needs
# cuequivariance-ops-cu13 (45 MB), over the ~55 MiB that travels to the machine; cuEquivariance then
# runs its plain torch path. --with-ops downloads them anyway (for a machine reached another way).
#
#   bash scripts/device_wheels.sh [--with-ops]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
LIMIT_MIB=55

exclude="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")" .whl
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
rm -f .whl/*.whl

packages=("e3nn-jax>=0.21,<0.22" attrs cuequivariance cuequivariance-torch networkx opt-einsum)
if [ "${1:-}" = "--with-ops" ]; then
  packages+=(cuequivariance-ops-torch-cu13 cuequivariance-ops-cu13)
  LIMIT_MIB=100000
fi
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest .whl \
    --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 "${packages[@]}"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir .whl . plugins/tpcore-e3nn

ls -l .whl
total=$(du -cm .whl/*.whl | tail -1 | cut -f1)
echo "device_wheels: $(ls .whl/*.whl | wc -l) wheels, ${total} MiB in .whl/"
if [ "$total" -gt "$LIMIT_MIB" ]; then
  echo "device_wheels: ${total} MiB is over the ${LIMIT_MIB} MiB that travels to the device" >&2
  exit 1
fi
