"""The CuPy backend of tpcore: plans executed on CUDA GPUs, with an explicit ``vjp`` (CuPy has no autodiff).

Importing this package imports neither cupy nor the plan machinery; :class:`CupyTensorProduct` is
loaded on first access. It runs over any numpy-like namespace, which is how CI tests it with numpy.
"""

_LAZY = {"CupyTensorProduct": "tpcore_cupy.tensor_product"}


def __getattr__(name):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'tpcore_cupy' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = list(_LAZY)
