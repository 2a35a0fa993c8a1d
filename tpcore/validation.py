"""Checks of a call's shapes and dtypes against its spec, shared by every backend.

Errors say what was expected and what arrived, naming the argument and the irreps.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Mapping

from tpcore.spec import TensorProductSpec


@dataclass(frozen=True)
class Call:
    batch_shape: tuple[int, ...]
    per_sample_weights: bool

    @property
    def batch_size(self) -> int:
        return prod(self.batch_shape)


def _broadcast(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
    ndim = max(len(s) for s in shapes.values())
    out = []
    for axis in range(ndim):
        sizes = {name: s[axis - ndim + len(s)] for name, s in shapes.items() if axis - ndim + len(s) >= 0}
        distinct = {n for n in sizes.values() if n != 1}
        if len(distinct) > 1:
            listing = ", ".join(f"{name} {shapes[name]}" for name in shapes)
            raise ValueError(f"batch shapes do not broadcast: {listing} (the last axis is the irreps dimension)")
        out.append(distinct.pop() if distinct else 1)
    return tuple(out)


def check_call(
    spec: TensorProductSpec,
    x1_shape: tuple[int, ...],
    x2_shape: tuple[int, ...],
    weights_shape: tuple[int, ...] | None,
    dtypes: Mapping[str, str] | None = None,
    expected_dtype: str | None = None,
) -> Call:
    """Validate one call; returns the broadcast batch shape and whether weights are per sample."""
    for name, shape, irreps, label in (
        ("x1", x1_shape, spec.irreps_in1, "irreps_in1"),
        ("x2", x2_shape, spec.irreps_in2, "irreps_in2"),
    ):
        if len(shape) == 0:
            raise ValueError(f"{name} is a scalar; expected shape (..., {irreps.dim}) for {label} \"{irreps}\"")
        if shape[-1] != irreps.dim:
            raise ValueError(
                f"{name} has last dimension {shape[-1]}, but {label} \"{irreps}\" has dimension {irreps.dim}"
            )
    if expected_dtype is not None and dtypes:
        for name, dtype in dtypes.items():
            if dtype != expected_dtype:
                raise TypeError(
                    f"{name} has dtype {dtype}, but this tensor product was built for {expected_dtype}; "
                    f"cast the input or build with dtype=\"{dtype}\""
                )
    shapes = {"x1": x1_shape[:-1], "x2": x2_shape[:-1]}
    numel = spec.weight_numel
    per_sample = False
    if numel == 0:
        if weights_shape is not None and prod(weights_shape) != 0:
            raise ValueError(f"weights were given with shape {weights_shape}, but this {spec.variant} spec has no weights")
    else:
        if weights_shape is None:
            raise ValueError(f"weights are required: this spec has weight_numel={numel}; pass weights of shape ({numel},) or (..., {numel})")
        if len(weights_shape) == 0 or weights_shape[-1] != numel:
            raise ValueError(
                f"weights have shape {weights_shape}, but the spec needs ({numel},) or (..., {numel}) (weight_numel={numel})"
            )
        per_sample = len(weights_shape) > 1
        if per_sample:
            shapes["weights"] = weights_shape[:-1]
    return Call(batch_shape=_broadcast(shapes), per_sample_weights=per_sample)
