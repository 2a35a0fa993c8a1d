"""Checks of a call's array types, shapes and dtypes against its spec, and its flattening.

Shared by every backend and part of the public plugin API (docs/plugins.md): :func:`check_call`
validates a call from shapes and dtype names alone; :func:`flatten_call` checks a call on arrays
of any namespace and broadcasts them to flat ``(Z, dim)`` inputs, with :meth:`Call.unflatten`
giving the output its batch shape back. Errors say what was expected and what arrived, naming the
argument and the irreps.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from math import prod
from typing import Mapping

from tpcore.dtypes import DTYPES, dtype_name
from tpcore.spec import TensorProductSpec


@dataclass(frozen=True)
class ArrayKind:
    """What a tensor product running on one namespace takes: its array types ("module.Name") and how to say so."""

    types: tuple[str, ...]
    noun: str
    convert: str


# Namespaces whose arrays are not ``<namespace>.ndarray``; any other (numpy, cupy) follows numpy's naming.
ARRAY_KINDS = {
    "jax": ArrayKind(("jax.Array", "numpy.ndarray"), "jax arrays", "jax.numpy.asarray"),  # jax takes numpy arrays too
    "torch": ArrayKind(("torch.Tensor",), "torch tensors", "torch.as_tensor"),
}


def array_kind(kind: str) -> ArrayKind:
    return ARRAY_KINDS.get(kind) or ArrayKind((f"{kind}.ndarray",), f"{kind} arrays", f"{kind}.asarray")


def _resolve(qualified: str):
    """The class named "module.Name" if its module is imported, else None (nothing can be an instance of it)."""
    module, _, name = qualified.rpartition(".")
    return getattr(sys.modules.get(module), name, None)


def _describe(x) -> str:
    if x is None:
        return "None"
    kind = type(x)
    return f"a {kind.__module__}.{kind.__qualname__}"


def check_array_type(name: str, x, expected_kind: str) -> None:
    """Raise a TypeError naming ``name`` unless ``x`` is an array a tensor product on ``expected_kind`` takes.

    ``expected_kind`` is the import name of the namespace the tensor product runs on: ``"numpy"``,
    ``"cupy"``, ``"jax"`` (jax arrays, tracers included, and numpy arrays), ``"torch"`` (tensors), or
    any module whose arrays are ``<module>.ndarray``. Frameworks are looked up in ``sys.modules``,
    never imported: an array of a framework nobody imported cannot arrive.
    """
    kind = array_kind(expected_kind)
    types = tuple(t for t in map(_resolve, kind.types) if isinstance(t, type))
    if types and isinstance(x, types):
        return
    raise TypeError(
        f"{name} is {_describe(x)}, but this tensor product runs on {kind.noun}: "
        f"pass {kind.noun} (e.g. {kind.convert}({name}))"
    )


def check_input_types(x1, x2, weights, expected_kind: str) -> None:
    """:func:`check_array_type` of a call's ``x1``, ``x2`` and ``weights`` (which may be None)."""
    for name, x in (("x1", x1), ("x2", x2), ("weights", weights)):
        if x is not None or name != "weights":
            check_array_type(name, x, expected_kind)


@dataclass(frozen=True)
class Call:
    batch_shape: tuple[int, ...]
    per_sample_weights: bool

    @property
    def batch_size(self) -> int:
        return prod(self.batch_shape)

    def unflatten(self, out):
        """A flat output ``(Z, dim)`` reshaped to ``(*batch_shape, dim)``."""
        return out.reshape(self.batch_shape + (out.shape[-1],))


def _broadcast(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
    ndim = max(len(s) for s in shapes.values())
    out = []
    for axis in range(ndim):
        sizes = {name: s[axis - ndim + len(s)] for name, s in shapes.items() if axis - ndim + len(s) >= 0}
        # a list, not a set: sizes traced by torch.export / make_fx are SymInts, which do not hash
        distinct = []
        for n in sizes.values():
            if n != 1 and not any(n == d for d in distinct):
                distinct.append(n)
        if len(distinct) > 1:
            listing = ", ".join(f"{name} {shapes[name]}" for name in shapes)
            raise ValueError(f"batch shapes do not broadcast: {listing} (the last axis is the irreps dimension)")
        out.append(distinct[0] if distinct else 1)
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
                if dtype in DTYPES:
                    fix = f'cast the input or build with dtype="{dtype}"'
                else:
                    fix = f"cast {name} to {expected_dtype} (tensor products are built for {' or '.join(DTYPES)} only)"
                raise TypeError(f"{name} has dtype {dtype}, but this tensor product was built for {expected_dtype}; {fix}")
    shapes = {"x1": x1_shape[:-1], "x2": x2_shape[:-1]}
    numel = spec.weight_numel
    per_sample = False
    if numel == 0:
        # empty weights are accepted (e3nn passes them), as (0,) or per sample (..., 0) of the batch
        if weights_shape is not None and (len(weights_shape) == 0 or weights_shape[-1] != 0):
            raise ValueError(f"weights were given with shape {weights_shape}, but this {spec.variant} spec has no weights")
        if weights_shape is not None and len(weights_shape) > 1:
            shapes["weights"] = weights_shape[:-1]
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


def flatten_call(spec: TensorProductSpec, x1, x2, weights, xp, expected_dtype: str | None = None):
    """Check a call on arrays, then broadcast them to the flat inputs a program runs on.

    ``xp`` is the arrays' namespace (numpy, cupy, jax.numpy or torch: anything with
    ``broadcast_to``); the arrays need ``shape``, ``dtype`` and ``reshape``. Runs
    :func:`check_call` (with the dtypes checked against ``expected_dtype`` unless it is None) and
    returns ``(call, x1, x2, weights)``: ``x1 (Z, dim1)``, ``x2 (Z, dim2)``, and ``weights``
    ``(Z, weight_numel)`` when ``call.per_sample_weights``, else as given. ``call.unflatten(out)``
    gives the ``(Z, dim_out)`` result its batch shape back.
    """
    given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
    call = check_call(
        spec,
        x1_shape=tuple(x1.shape),
        x2_shape=tuple(x2.shape),
        weights_shape=None if weights is None else tuple(weights.shape),
        dtypes={name: dtype_name(x) for name, x in given.items()},
        expected_dtype=expected_dtype,
    )

    def flat(x):
        return xp.broadcast_to(x, call.batch_shape + (x.shape[-1],)).reshape(call.batch_size, x.shape[-1])

    return call, flat(x1), flat(x2), flat(weights) if call.per_sample_weights else weights
