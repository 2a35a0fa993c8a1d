"""One path of a spec and the small checks the spec constructors share.

A :class:`Path` is one interaction ``ir_in1 (x) ir_in2 -> ir_out`` in the user's terms (irreps,
multiplicities, e3nn's connection mode and weight layout); :mod:`tpcore.descriptor` turns a spec's
paths into segments and sparse couplings for the implementations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tpcore.irreps import Irrep

IRREP_NORMALIZATIONS = ("component", "norm", "none")
PATH_NORMALIZATIONS = ("element", "path", "none")

#: The largest dimension of a spec's irreps and the largest ``weight_numel``: ``2**31 - 1``, the
#: largest 32-bit index. One row (or weight vector) that long is 8 GiB in float32; a spec past it
#: could never run, so the constructors refuse it instead of failing later inside an array library.
MAX_SIZE = 2**31 - 1


@dataclass(frozen=True)
class Path:
    """One interaction ``ir_in1 (x) ir_in2 -> ir_out`` of a spec.

    ``normalization`` multiplies the path's coupling tensor: for cgtp it is e3nn's
    ``sqrt(alpha)`` times the unit-norm ``wigner_3j``; for gtp/s2grid/mtp it is the scalar ``c``
    with ``coupling == c * wigner_3j`` (the Gaunt factor, or the matrix TP's effective factor).
    Weights of the path, if any, are ``weights[..., weight_slice].reshape(weight_shape)``.
    """

    i_in1: int
    i_in2: int
    i_out: int
    ir_in1: Irrep
    ir_in2: Irrep
    ir_out: Irrep
    mul_in1: int
    mul_in2: int
    mul_out: int
    mode: str
    has_weight: bool
    path_weight: float
    normalization: float
    weight_start: int | None = None
    weight_shape: tuple[int, ...] = ()

    @property
    def weight_numel(self) -> int:
        n = 1
        for s in self.weight_shape:
            n *= s
        return n if self.has_weight else 0

    @property
    def weight_slice(self) -> slice | None:
        if not self.has_weight:
            return None
        return slice(self.weight_start, self.weight_start + self.weight_numel)

    @property
    def is_antisymmetric(self) -> bool:
        """True when ``l1 + l2 + l3`` is odd (e.g. the cross product ``1o x 1o -> 1e``)."""
        return (self.ir_in1.l + self.ir_in2.l + self.ir_out.l) % 2 == 1

    def __str__(self) -> str:
        return f"{self.mul_in1}x{self.ir_in1} (x) {self.mul_in2}x{self.ir_in2} -> {self.mul_out}x{self.ir_out} [{self.mode}]"


def renumber_weights(paths: Sequence[Path]) -> tuple[Path, ...]:
    out, start = [], 0
    for p in paths:
        if p.has_weight:
            out.append(dataclasses.replace(p, weight_start=start))
            start += p.weight_numel
        else:
            out.append(dataclasses.replace(p, weight_start=None))
    return tuple(out)


def check_size(subject: str, what: str, size: int) -> None:
    """A ValueError naming ``subject`` if its ``what`` (a dimension, ``weight_numel``) is above :data:`MAX_SIZE`."""
    if size > MAX_SIZE:
        raise ValueError(
            f"{subject} has {what} {size}, above tpcore's bound of 2**31 - 1 = {MAX_SIZE} (tpcore.paths.MAX_SIZE, "
            "the largest 32-bit index; one row or weight vector that long is 8 GiB in float32), so the spec is refused"
        )


def check_flag(name: str, value) -> bool:
    """``value`` if it is a bool (``"no"`` or ``0.5`` would otherwise read as True), else a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


# -- channel-wise variants (gtp, s2grid, mtp) ---------------------------------------------------


__all__ = ["IRREP_NORMALIZATIONS", "MAX_SIZE", "PATH_NORMALIZATIONS", "Path", "check_choice", "check_flag", "check_size",
           "renumber_weights"]
