"""These tests need mace-torch (which pins e3nn 0.4.4): they run in .venv-mace (scripts/mace_tests.sh).
Elsewhere every test module is skipped, not failed."""

import pytest
import torch


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(before)
