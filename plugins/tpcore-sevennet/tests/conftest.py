"""These tests need sevenn (SevenNet 0.13, e3nn 0.6, torch_geometric): they run in .venv-sevenn
(scripts/sevennet_tests.sh), where each test module's ``importorskip`` passes; elsewhere they are
skipped, not failed. The models are built once per session (e3nn generates code for every layer)
and each test takes copies."""

import copy

import pytest


@pytest.fixture(scope="session")
def small_e3nn():
    """A small SevenNet (8 channels, 3 layers, nequip self-connections) on e3nn, and its config."""
    from sevennet_helpers import build_small, small_config

    config = small_config()
    return build_small(config), config


@pytest.fixture
def small(small_e3nn):
    """``(e3nn model, patched copy)`` of the small SevenNet, fresh for each test."""
    from tpcore_sevennet import patch

    model = copy.deepcopy(small_e3nn[0])
    return model, patch(copy.deepcopy(model))
