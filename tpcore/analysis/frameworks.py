"""Which framework an array belongs to, found without importing any framework (array-api-compat style).

Analysis helpers take numpy, torch or jax arrays. A framework that is not already in
``sys.modules`` cannot have produced the array, so it is never imported here: ``import tpcore``
and numpy-only users stay framework-free.
"""

from __future__ import annotations

import sys

import numpy as np


def framework_of(x) -> str:
    """``"torch"``, ``"jax"`` or ``"numpy"`` for an array ``x``; raises TypeError for anything else."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return "torch"
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return "jax"
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    raise TypeError(f"expected a numpy, torch or jax array, got {type(x).__module__}.{type(x).__name__}")


def namespace_of(x):
    """The array namespace of ``x``: ``numpy``, ``torch`` or ``jax.numpy`` (already imported)."""
    name = framework_of(x)
    if name == "jax":
        return sys.modules["jax"].numpy
    return sys.modules[name] if name == "torch" else np


def to_numpy(x) -> np.ndarray:
    """A float64 numpy copy of a numpy, torch or jax array (detached from any autograd graph)."""
    if framework_of(x) == "torch":
        x = x.detach().cpu()
    return np.array(x, dtype=np.float64)


def take_last(x, index: np.ndarray):
    """``x[..., index]`` for an int64 numpy ``index``, in ``x``'s framework and on its device."""
    if framework_of(x) == "torch":
        torch = sys.modules["torch"]
        return x.index_select(-1, torch.as_tensor(index, device=x.device))
    return x[..., index]


def scatter_last(x, index: np.ndarray, size: int):
    """``y`` with ``y.shape[-1] == size``, ``y[..., index] = x`` and zeros elsewhere, in ``x``'s framework."""
    name = framework_of(x)
    shape = tuple(x.shape[:-1]) + (size,)
    if name == "torch":
        torch = sys.modules["torch"]
        return x.new_zeros(shape).index_copy(-1, torch.as_tensor(index, device=x.device), x)
    if name == "jax":
        return sys.modules["jax"].numpy.zeros(shape, dtype=x.dtype).at[..., index].set(x)
    out = np.zeros(shape, dtype=x.dtype)
    out[..., index] = x
    return out
