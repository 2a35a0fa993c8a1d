"""The PyTorch backend of tpcore: plans compiled once into a ``torch.nn.Module`` (autograd,
torch.compile, TorchScript, pickling, DDP).

Importing this package does not import torch; :class:`TensorProduct` is loaded on first access.
"""

_LAZY = {"TensorProduct": "tpcore_torch.module"}


def __getattr__(name):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'tpcore_torch' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = list(_LAZY)
