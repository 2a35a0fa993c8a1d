import importlib.metadata

import pytest

from tpcore import registry

TPCORE_ENV_VARS = (registry.ENV_BACKEND, registry.ENV_PLUGINS, registry.ENV_DISABLE_AUTOLOAD)


@pytest.fixture
def tpcore_env(monkeypatch):
    """A fresh registry before and after the test, with tpcore's environment variables unset."""
    for var in TPCORE_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    registry.reset_registry()
    yield monkeypatch
    registry.reset_registry()


@pytest.fixture
def entry_points(tpcore_env):
    """Replace the installed ``tpcore`` entry points with a list the test fills (empty by default)."""
    fake = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        return list(fake) if kwargs.get("group") == registry.GROUP else real(**kwargs)

    tpcore_env.setattr(importlib.metadata, "entry_points", entry_points)
    return fake


@pytest.fixture
def float64():
    """torch's default dtype float64 for the test (e3nn bakes its coupling constants in the default
    dtype when a module is built), torch's generator seeded with 0; both restored afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(before)


@pytest.fixture
def jax_x64():
    """jax's 64-bit types on for the test (float64 needs them; tpcore never turns them on), then
    restored; nothing when jax is not installed."""
    try:
        import jax
    except ImportError:
        yield
        return
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)
