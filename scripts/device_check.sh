#!/usr/bin/env bash
# Run THERE, on a CUDA machine without network: tpcore's conformance on the GPU for torch, jax and cupy,
# and `tpcore compare` on the GPU against e3nn, e3nn-jax and cuEquivariance.
#
# Needs the wheels of scripts/device_wheels.sh in .whl/ (run that here first, and carry .whl there).
# Steps, each with its output in a file of the results folder ($OUT when set, else device-check-out/):
#   install   the wheels whose distribution the image lacks, into /tmp/site (pip --no-index --no-deps)
#   versions  nvidia-smi, and the frameworks' versions and devices
#   backends  tpcore backends
#   check-*   tpcore check --device cuda for torch, jax, cupy (the quick catalogue)
#   compare-* tpcore compare --device cuda, torch (e3nn and cuEquivariance) and jax (e3nn-jax)
#   sweep-*   scripts/strategy_sweep.py on the device, torch and jax: every cgtp strategy against
#             e3nn / e3nn-jax (what `auto` should pick there)
# summary.txt lists every step with its exit status and seconds. A failing step does not stop the
# others. The default (quick) run bounds each step by what is left of 470 s and skips steps once it is spent.
#
#   bash scripts/device_check.sh [--dry-run] [--full] [--only STEP,STEP...]
# --only runs just the named steps (install and versions always run).
# Environment: DEVICE (cuda), PYTHON (python3), SITE (/tmp/site), OUT, COMPARE_ARGS (compare's options),
# SWEEP_ARGS (strategy_sweep's options).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
SITE="${SITE:-/tmp/site}"
RESULTS="${OUT:-$REPO/device-check-out}"
DRY=0
QUICK=1
ONLY=""
BUDGET_S=470
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --full) QUICK=0 ;;
    --only) shift; ONLY="${1:-}"; [ -n "$ONLY" ] || { echo "device_check: --only needs step names" >&2; exit 2; } ;;
    *) echo "device_check: unknown argument $1 (expected --dry-run, --full or --only STEPS)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  # GPU calls cost little; a larger batch shows the kernels rather than the launch overhead
  COMPARE=(--quick --batch 3000)  # L = 1, 2
  CHECK=()
  SWEEP=(--rows 3000 --lmax 2 --rounds 5 --seconds 2)
else
  COMPARE=(--batch 3000)
  CHECK=(--full)
  SWEEP=(--rows 3000 --lmax 4 --rounds 7)
  BUDGET_S=100000
fi
# COMPARE_ARGS replaces the compare options (a tiny run on a CPU tests this script: DEVICE=cpu)
[ -n "${COMPARE_ARGS:-}" ] && read -r -a COMPARE <<< "$COMPARE_ARGS"
[ -n "${SWEEP_ARGS:-}" ] && read -r -a SWEEP <<< "$SWEEP_ARGS"
export PYTHONPATH="$REPO:$REPO/backends:$REPO/plugins/tpcore-e3nn:$SITE"  # this tree's code, the wheels' entry points
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # jax takes memory as it needs it, as torch does: fair memory numbers
export PYTHONUNBUFFERED=1
TPCORE=("$PY" -m tpcore.cli)

STEPS=(  # the most telling first: jax's checks compile the most and come last
  "install|60|install_wheels"
  "versions|30|versions"
  "backends|30|${TPCORE[*]} backends"
  "check-torch|60|${TPCORE[*]} check --device $DEVICE --backend torch ${CHECK[*]}"
  "compare-torch|130|${TPCORE[*]} compare --device $DEVICE --backends torch ${COMPARE[*]} --out $RESULTS/compare-torch.md"
  "check-cupy|60|${TPCORE[*]} check --device $DEVICE --backend cupy ${CHECK[*]}"
  "compare-jax|120|${TPCORE[*]} compare --device $DEVICE --backends jax ${COMPARE[*]} --out $RESULTS/compare-jax.md"
  "check-jax|120|${TPCORE[*]} check --device $DEVICE --backend jax ${CHECK[*]}"
  "sweep-torch|150|$PY scripts/strategy_sweep.py --backend torch --device $DEVICE ${SWEEP[*]}"
  "sweep-jax|150|$PY scripts/strategy_sweep.py --backend jax --device $DEVICE ${SWEEP[*]}"
)

wanted() {  # whether --only (if given) names the step
  [ -z "$ONLY" ] || [ "$1" = install ] || [ "$1" = versions ] || [[ ",$ONLY," == *",$1,"* ]]
}

install_wheels() {
  # only what the image lacks: a wheel of an installed distribution would shadow the image's copy
  local wheel dist
  for wheel in "$REPO"/.whl/*.whl; do
    [ -e "$wheel" ] || { echo "no wheels in $REPO/.whl: run scripts/device_wheels.sh where there is network"; return 1; }
    dist="$(basename "$wheel" | cut -d- -f1)"
    if "$PY" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$dist" 2>/dev/null; then
      echo "have $dist $("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$dist")"
    else
      echo "installing $(basename "$wheel")"
      "$PY" -m pip install --no-index --no-deps --quiet --target "$SITE" "$wheel" || return 1
    fi
  done
}

versions() {
  nvidia-smi || true
  "$PY" - <<'PY'
import importlib
for name in ("torch", "jax", "cupy", "e3nn", "e3nn_jax", "cuequivariance_torch", "cuequivariance_ops_torch", "tpcore"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as exc:
        print(name, "unavailable:", type(exc).__name__, exc)
import torch, jax
print("torch.cuda.is_available()", torch.cuda.is_available(), torch.cuda.device_count())
print("jax.devices()", jax.devices())
PY
}

if [ "$DRY" = 1 ]; then
  echo "device_check: would write to $RESULTS, PYTHONPATH=$PYTHONPATH, $([ "$QUICK" = 1 ] && echo "within ${BUDGET_S} s")"
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name limit command <<< "$step"
    wanted "$name" || continue
    if [ "$command" = install_wheels ]; then
      command="$PY -m pip install --no-index --no-deps --target $SITE .whl/*.whl (those the image lacks)"
    fi
    echo "[$name] (at most ${limit} s) $command"
  done
  exit 0
fi

mkdir -p "$RESULTS"
: > "$RESULTS/summary.txt"
start=$SECONDS
n=0
for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit command <<< "$step"
  n=$((n + 1))
  wanted "$name" || continue
  file="$RESULTS/$(printf '%02d' "$n")-$name.txt"
  left=$((BUDGET_S - (SECONDS - start)))
  if [ "$left" -lt 10 ]; then
    echo "$name: not run, the ${BUDGET_S} s are spent" | tee -a "$RESULTS/summary.txt"
    continue
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== [$name] $command (at most ${limit} s)" >&2
  t0=$SECONDS
  if declare -F "$command" > /dev/null; then
    "$command" > "$file" 2>&1  # install, versions: short shell functions
  else
    timeout "$limit" $command > "$file" 2>&1
  fi
  rc=$?
  tail -n 40 "$file" >&2
  echo "$name: exit $rc$([ "$rc" = 124 ] && echo ' (timed out)'), $((SECONDS - t0)) s" | tee -a "$RESULTS/summary.txt"
done
echo "device_check: results in $RESULTS, $((SECONDS - start)) s" | tee -a "$RESULTS/summary.txt"
