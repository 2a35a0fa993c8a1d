"""These tests need NequIP (which pins its own e3nn): they run in .venv-nequip (scripts/nequip_tests.sh).
Elsewhere every test module is skipped, not failed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # nequip_helpers
