"""The dtypes tpcore computes in, by name, and their conversions to each framework's dtype objects.

A dtype is accepted as a name ("float32", "float64"), a numpy dtype or type, or a framework dtype
(``torch.float32``, ``jax.numpy.float64``); :func:`normalize_dtype` turns each into its name. The
conversions (:func:`torch_dtype`, :func:`jax_dtype`) import their framework when called, never at
``import tpcore``. Part of the public plugin API (docs/plugins.md).
"""

from __future__ import annotations

DTYPES = ("float32", "float64")

_FORMS = "a string, a numpy dtype or type, or a framework dtype such as torch.float32"


def normalize_dtype(dtype, argument: str = "dtype") -> str:
    """The name, "float32" or "float64", of a dtype given as a string, numpy dtype or type, or framework dtype.

    ``argument`` names the value in the error, e.g. ``"dtype"`` or ``"x1.dtype"``.
    """
    if isinstance(dtype, str):
        text = dtype
    elif isinstance(getattr(dtype, "name", None), str):  # numpy (and cupy, jax array) dtypes
        text = dtype.name
    elif isinstance(getattr(getattr(dtype, "dtype", None), "name", None), str):  # jax.numpy.float32
        text = dtype.dtype.name
    elif isinstance(dtype, type):  # numpy.float32
        text = dtype.__name__
    else:  # torch.float32 prints as "torch.float32"
        text = str(dtype)
    name = text.strip().lower().rsplit(".", 1)[-1]
    if name not in DTYPES:
        raise ValueError(
            f"unsupported {argument} {dtype!r}: {argument} must be {' or '.join(DTYPES)} "
            f"(tpcore accepts {' or '.join(DTYPES)} as {_FORMS})"
        )
    return name


def dtype_name(array) -> str:
    """The name of ``array.dtype`` for an array of any framework: "float32", "int64", "complex64", ...

    Reads the dtype only (numpy, cupy and jax dtypes have a ``name``; torch's print as
    "torch.float32"), so it imports nothing and works on jax tracers.
    """
    dtype = array.dtype
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else str(dtype).rsplit(".", 1)[-1]


def torch_dtype(dtype, argument: str = "dtype"):
    """``torch.float32`` or ``torch.float64`` for any form :func:`normalize_dtype` accepts."""
    import torch

    return getattr(torch, normalize_dtype(dtype, argument))


def jax_dtype(dtype, argument: str = "dtype"):
    """The numpy dtype jax computes in for ``dtype``; float64 needs ``jax_enable_x64``, which tpcore never flips."""
    import jax
    import numpy as np

    name = normalize_dtype(dtype, argument)
    if name == "float64" and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        raise ValueError(
            f"{argument} float64 was requested, but JAX is running with 64-bit types disabled; enable them first with "
            'jax.config.update("jax_enable_x64", True) (or JAX_ENABLE_X64=1), or build with dtype="float32"'
        )
    return np.dtype(name)


__all__ = ["DTYPES", "normalize_dtype", "dtype_name", "torch_dtype", "jax_dtype"]
