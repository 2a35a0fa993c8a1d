#!/usr/bin/env bash
# Runs e3nn 0.6.0's own tensor-product test files with tpcore.torch's classes in place of e3nn's
# (TensorProduct, FullyConnectedTensorProduct, FullTensorProduct, ElementwiseTensorProduct,
# TensorSquare), and e3nn-jax 0.21.0's tensor_product tests with tpcore.jax.tensor_product in place
# of e3nn_jax.tensor_product. The tests come from the libraries' source distributions on the
# package index (downloaded once into .cache/e3nn-suite/); the swap is done after collection by the
# pytest plugin scripts/e3nn_suite_patch.py. Tests that only exercise e3nn's code-generation
# internals are declared, with reasons, in scripts/e3nn_suite_known.toml (expected to fail).
#
#   bash scripts/e3nn_suite.sh                 # both suites
#   bash scripts/e3nn_suite.sh e3nn            # one suite (e3nn or e3nn_jax)
#   bash scripts/e3nn_suite.sh e3nn -k gate    # extra arguments go to pytest
#   TPCORE_SUITE_BASELINE=1 bash scripts/e3nn_suite.sh   # the original libraries, for comparison
#
# Prints each suite's counts and exits non-zero if a test outside the declared list fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-$root/.venv/bin/python}
cache=$root/.cache/e3nn-suite
mkdir -p "$cache"

E3NN_FILES=(
  tests/conftest.py
  tests/o3/tensor_product_test.py tests/o3/tensor_product_sub_test.py tests/o3/linear_test.py tests/o3/reduce_tensor_test.py
  tests/o3/experimental/test_fulltp.py tests/o3/experimental/test_elementwise_tp.py
  tests/nn/models/gate_points_2101_test.py tests/nn/models/gate_points_2102_test.py
  tests/nn/gate_test.py tests/nn/normact_test.py tests/defaults_test.py
)
E3NN_JAX_FILES=(
  tests/conftest.py
  tests/_src/tensor_products_test.py tests/_src/grad_test.py tests/_src/symmetric_tensor_product_haiku_test.py
)

# fetch NAME VERSION FILES...: the sdist's test files, extracted under $cache/NAME-VERSION/
fetch() {
  local dist=$1 version=$2 dir="$cache/$1-$2"
  shift 2
  local sdist="$cache/${dist//-/_}-$version.tar.gz"
  [ -f "$sdist" ] || sdist="$cache/$dist-$version.tar.gz"
  if [ ! -f "$sdist" ]; then
    "$python" -m pip download --quiet --no-deps --no-binary :all: "$dist==$version" -d "$cache" >&2
    sdist=$(ls "$cache"/"${dist//-/_}"-"$version".tar.gz "$cache/$dist-$version.tar.gz" 2>/dev/null | head -n1)
  fi
  local top
  top=$(tar tzf "$sdist" | head -n1 | cut -d/ -f1)
  rm -rf "$dir" && mkdir -p "$dir"
  local members=()
  for f in "$@"; do
    if tar tzf "$sdist" "$top/$f" >/dev/null 2>&1; then members+=("$top/$f"); fi
  done
  tar xzf "$sdist" -C "$dir" --strip-components=1 "${members[@]}"
  echo "$dir"
}

# e3nn-jax's tests build haiku modules: dm-haiku (and its pure-Python dependencies) go into the
# cache, on the suite's PYTHONPATH only; tpcore itself does not use haiku.
site=$cache/site
haiku() {
  if ! PYTHONPATH="$site" "$python" -c "import haiku" >/dev/null 2>&1; then
    "$python" -m pip install --quiet --no-deps --target "$site" dm-haiku==0.0.17 jmp==0.0.4 absl-py >&2
  fi
}

# run SUITE DIR ARGS...: pytest in DIR with the plugin; the suite's status
run() {
  local suite=$1 dir=$2
  shift 2
  local patch=() where=(tests)
  [ -n "${TPCORE_SUITE_BASELINE:-}" ] && patch=(--tpcore-no-patch)
  for arg in "$@"; do
    case $arg in tests/*) where=() ;; esac  # test paths given: run those only
  done
  echo "== $suite: $(cd "$dir" && find tests -name '*.py' ! -name conftest.py | sort | tr '\n' ' ')" >&2
  (
    cd "$dir"
    PYTHONPATH="$root/scripts:$root:$root/backends${PYTHONPATH:+:$PYTHONPATH}:$site" \
      "$python" -m pytest -q -p no:cacheprovider -p e3nn_suite_patch --tpcore-suite "$suite" "${patch[@]}" \
      -W ignore::DeprecationWarning -W ignore::UserWarning --rootdir "$dir" "${where[@]}" "$@"
  )
}

suites=(e3nn e3nn_jax)
if [ $# -gt 0 ] && { [ "$1" = e3nn ] || [ "$1" = e3nn_jax ]; }; then
  suites=("$1")
  shift
fi
status=0
for suite in "${suites[@]}"; do
  case $suite in
    e3nn) dir=$(fetch e3nn 0.6.0 "${E3NN_FILES[@]}") ;;
    e3nn_jax) haiku && dir=$(fetch e3nn-jax 0.21.0 "${E3NN_JAX_FILES[@]}") ;;
  esac
  run "$suite" "$dir" "$@" || status=1
done
exit $status
