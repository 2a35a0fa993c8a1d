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
