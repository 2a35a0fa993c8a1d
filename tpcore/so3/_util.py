"""Small helpers shared by the :mod:`tpcore.so3` modules (argument checks, read-only caching)."""

from __future__ import annotations

import operator

import numpy as np


def as_degree(name: str, value: object) -> int:
    """Return ``value`` as a non-negative Python int, or raise a ValueError naming ``name``."""
    try:
        l = operator.index(value)  # accepts int and numpy integers, rejects 1.0 and "1"
    except TypeError:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}") from None
    if l < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {l}")
    return int(l)


def as_positive(name: str, value: object) -> int:
    """Return ``value`` as a positive Python int, or raise a ValueError naming ``name``."""
    n = as_degree(name, value)
    if n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n}")
    return n


def readonly(arr: np.ndarray) -> np.ndarray:
    """Mark ``arr`` read-only and return it, so a cached array cannot be corrupted by a caller."""
    arr.setflags(write=False)
    return arr


def check_rotations(name: str, R: object, *, proper: bool) -> np.ndarray:
    """Return ``R`` as float64 (..., 3, 3) after checking it is orthogonal (and det +1 if ``proper``)."""
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {R.shape}")
    # Loose tolerance: float32 rotation matrices converted to float64 must still pass.
    err = np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max(initial=0.0)
    if not err < 1e-4:
        raise ValueError(f"{name} must be orthogonal matrices (R @ R.T == I); max deviation is {err:.3g}")
    if proper:
        det = np.linalg.det(R)
        if np.any(det < 0):
            raise ValueError(
                f"{name} must be proper rotations (det +1), but some have det -1; "
                "use D_from_matrix(l, p, R) for elements of O(3)"
            )
    return R
