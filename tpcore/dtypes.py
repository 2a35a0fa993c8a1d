"""The dtype names tpcore computes in, and their conversions.

A dtype is accepted as a name ("float32", "float64"), a numpy dtype or type, or a framework
dtype (``torch.float32``, ``jax.numpy.float64``); :func:`normalize_dtype` turns each into its name.
Nothing here imports a framework at import time.
"""

from __future__ import annotations

DTYPES = ("float32", "float64")


def normalize_dtype(dtype) -> str:
    """The name, "float32" or "float64", of a dtype given as a string, numpy dtype or type, or framework dtype."""
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
            f"unsupported dtype {dtype!r}; tpcore accepts {' or '.join(DTYPES)}, as a string, a numpy dtype or type, "
            "or a framework dtype such as torch.float32 (None means the backend's default)"
        )
    return name

