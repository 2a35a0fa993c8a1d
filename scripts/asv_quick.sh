#!/usr/bin/env bash
# The quick asv profile (what CI runs): the suite with TPCORE_ASV_PROFILE=quick (numpy, torch, jax;
# L in 1..2; batch 64), each benchmark timed once, against the working tree installed in .venv,
# recorded under HEAD's commit hash, then `asv publish` renders .asv/html and scripts/asv_offline.py
# makes the pages work without internet.
# Extra arguments go to `asv run` (e.g. --bench TensorProduct). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TPCORE_ASV_PROFILE="${TPCORE_ASV_PROFILE:-quick}"
.venv/bin/asv machine --yes > /dev/null
.venv/bin/asv run --quick --show-stderr -E "existing:$PWD/.venv/bin/python" \
    --set-commit-hash "$(git rev-parse HEAD)" "$@"
.venv/bin/asv publish
.venv/bin/python scripts/asv_offline.py .asv/html  # asv's CDN scripts served from the pages' own folder
echo "pages in .asv/html; view them with: .venv/bin/asv preview (or python -m http.server -d .asv/html)"
