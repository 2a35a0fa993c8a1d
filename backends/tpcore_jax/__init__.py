"""The JAX backend of tpcore: plans executed as pure functions (jit, grad to any order, vmap, sharding).

Importing this package does not import jax; :class:`TensorProduct` and :class:`JaxOps` are loaded
on first access.
"""

_LAZY = {"TensorProduct": "tpcore_jax.tensor_product", "JaxOps": "tpcore_jax.ops"}


def __getattr__(name):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'tpcore_jax' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = list(_LAZY)
