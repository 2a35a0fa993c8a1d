"""torch dtypes of the backend: the two it computes in and their complex partners."""

from __future__ import annotations

import numpy as np
import torch


DTYPES = {"float32": torch.float32, "float64": torch.float64}
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def torch_dtype(dtype) -> torch.dtype:
    """``torch.float32``/``torch.float64`` from a name, a numpy dtype or a torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype in COMPLEX:
            return dtype
        name = str(dtype)
    else:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    try:
        return DTYPES[name.rsplit(".", 1)[-1]]
    except KeyError:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}") from None
