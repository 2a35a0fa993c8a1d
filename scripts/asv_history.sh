#!/usr/bin/env bash
# Benchmark history: `scripts/asv_history.sh [N] [asv run options]` runs the asv suite over the last
# N commits of HEAD (default 5) and publishes the pages to .asv/html, working offline
# (scripts/asv_offline.py; view: .venv/bin/asv preview).
#
# Each commit is built as a wheel and installed into asv's virtualenv environment (created on the
# first run from asv.conf.json's matrix, torch pinned to the CPU wheel, then reused), so every
# commit is measured with its own code. Commits already measured are skipped. The suite of the
# current checkout runs for every commit; commits without tpcore.report (the shared workloads) or
# the backend Harness record failures, so start the range after them.
# TPCORE_ASV_PROFILE=quick shrinks the parameters (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-5}"
shift || true
bash scripts/setup.sh
.venv/bin/asv machine --yes > /dev/null
.venv/bin/asv run --show-stderr --skip-existing-commits "HEAD~${n}..HEAD" "$@"
.venv/bin/asv publish
.venv/bin/python scripts/asv_offline.py .asv/html  # asv's CDN scripts served from the pages' own folder
echo "pages in .asv/html; view them with: .venv/bin/asv preview"
