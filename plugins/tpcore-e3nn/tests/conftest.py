"""float64 is part of what the conformance suite checks, and jax computes it only in 64-bit mode."""

import importlib.util

if importlib.util.find_spec("jax") is not None:
    import jax

    jax.config.update("jax_enable_x64", True)
