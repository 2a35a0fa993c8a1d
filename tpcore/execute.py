"""Execution of a :class:`~tpcore.plan.Plan` over an array namespace, shared by every backend.

:class:`ArrayOps` maps the plan's op kinds onto a numpy-like namespace (numpy, cupy, jax.numpy);
a backend whose framework differs (torch) subclasses it. :func:`run_plan` interprets the op list on
already flattened inputs; :class:`PlanFunction` adds input checks, batching and dtype handling
for namespaces that follow numpy's API.

Both pickle and deep-copy by what defines them. A namespace is a module, which pickle refuses, so
:class:`ArrayOps` stores its import name; a :class:`PlanFunction` stores its spec, strategy, dtype
and ops, and rebuilds the plan and the converted constants on load.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

import numpy as np

from tpcore.dtypes import dtype_name as _dtype_name
from tpcore.plan import Plan, lower
from tpcore.spec import TensorProductSpec
from tpcore.validation import check_array_type, check_call


class ArrayOps:
    """The plan's primitive operations over a numpy-compatible namespace ``xp``."""

    def __init__(self, xp):
        self.xp = xp

    def __getstate__(self):
        return {**self.__dict__, "xp": self.xp.__name__}

    def __setstate__(self, state):
        self.__dict__.update(state, xp=importlib.import_module(state["xp"]))

    def asarray(self, value: np.ndarray, dtype, device=None):
        """A float64/complex128/int64 constant converted once to the working dtype."""
        if value.dtype.kind == "i":
            return self.xp.asarray(value)
        if value.dtype.kind == "c":
            return self.xp.asarray(value, dtype=self.complex_dtype(dtype))
        return self.xp.asarray(value, dtype=dtype)

    def complex_dtype(self, dtype):
        return self.xp.complex64 if np.dtype(dtype) == np.float32 else self.xp.complex128

    def block(self, x, start, stop, mul, dim):
        return x[:, start:stop].reshape(x.shape[0], mul, dim)

    def take(self, x, index):
        return x[..., index]

    def einsum(self, equation, *operands):
        return self.xp.einsum(equation, *operands)

    def matmul(self, x, matrix):
        return x @ matrix

    def reshape(self, x, shape):
        return x.reshape((x.shape[0],) + tuple(shape))

    def zeros(self, like, n):
        return self.xp.zeros((like.shape[0], n), dtype=like.dtype)

    def concat(self, arrays):
        return self.xp.concatenate(arrays, axis=-1)

    def fft_conv2d(self, a, b, size):
        fft = self.xp.fft
        return fft.ifft2(fft.fft2(a, s=size) * fft.fft2(b, s=size))

    def real(self, x):
        return self.xp.real(x)

    def rfft(self, x, n):
        return self.xp.fft.rfft(x, n=n, axis=-1)

    def irfft(self, x, n):
        return self.xp.fft.irfft(x, n=n, axis=-1)

    def weight_fold(self, w, index, target, value, shape):
        """``T (*w.shape[:-1], *shape)``: zeros with ``T.reshape(..., -1)[..., target] += w[..., index] * value``."""
        lead = w.shape[:-1]
        out = self.xp.zeros(lead + (int(np.prod(shape)),), dtype=w.dtype)
        self.xp.add.at(out, (Ellipsis, target), w[..., index] * value)
        return out.reshape(lead + tuple(shape))

    def segment_sum(self, x, index, n):
        """``(Z, n)``: column ``k`` of ``x (Z, K)`` added into column ``index[k]``."""
        out = self.xp.zeros((x.shape[0], n), dtype=x.dtype)
        self.xp.add.at(out, (slice(None), index), x)
        return out


def _per_sample_equation(equation: str, weight_arg: int) -> str:
    inputs, output = equation.split("->")
    operands = inputs.split(",")
    operands[weight_arg] = "z" + operands[weight_arg]
    return ",".join(operands) + "->" + output


def run_plan(plan: Plan, ops: ArrayOps, consts: Mapping[str, Any], x1, x2, w=None, per_sample: bool = False):
    """Interpret ``plan`` on flat inputs ``x1 (Z, dim1)``, ``x2 (Z, dim2)`` and weights ``w``.

    ``w`` is ``(weight_numel,)``, or ``(Z, weight_numel)`` when ``per_sample`` is true.
    """
    values: dict[str, Any] = dict(consts)
    values.update(x1=x1, x2=x2, w=w)
    for op in plan.program(per_sample):
        args = [values[a] for a in op.args]
        p = dict(op.params)
        kind = op.kind
        if kind == "block":
            result = ops.block(args[0], p["start"], p["stop"], p["mul"], p["dim"])
        elif kind == "take":
            result = ops.take(args[0], args[1])
        elif kind == "slice":
            result = args[0][..., p["start"] : p["stop"]]
        elif kind == "weights":
            if per_sample:
                result = args[0][:, p["start"] : p["stop"]].reshape((args[0].shape[0],) + tuple(p["shape"]))
            else:
                result = args[0][p["start"] : p["stop"]].reshape(tuple(p["shape"]))
        elif kind == "weight_take":
            result = args[0][:, args[1]] if per_sample else args[0][args[1]]
        elif kind == "weight_fold":
            result = ops.weight_fold(args[0], args[1], args[2], args[3], tuple(p["shape"]))
        elif kind == "rfft":
            result = ops.rfft(args[0], p["n"])
        elif kind == "irfft":
            result = ops.irfft(args[0], p["n"])
        elif kind == "segment_sum":
            result = ops.segment_sum(args[0], args[1], p["n"])
        elif kind == "einsum":
            equation = p["equation"]
            if per_sample and p.get("weight_arg") is not None:
                equation = _per_sample_equation(equation, p["weight_arg"])
            result = ops.einsum(equation, *args)
        elif kind == "matmul":
            result = ops.matmul(args[0], args[1])
        elif kind == "mul":
            result = args[0] * args[1]
        elif kind == "add":
            result = args[0]
            for a in args[1:]:
                result = result + a
        elif kind == "reshape":
            result = ops.reshape(args[0], p["shape"])
        elif kind == "zeros":
            result = ops.zeros(x1, p["n"])
        elif kind == "concat":
            result = args[0] if len(args) == 1 else ops.concat(args)
        elif kind == "fft_conv2d":
            result = ops.fft_conv2d(args[0], args[1], tuple(p["size"]))
        elif kind == "real":
            result = ops.real(args[0])
        else:
            raise ValueError(f"plan op {kind!r} is unknown to this executor")
        values[op.out] = result
    return values[plan.output]


class PlanFunction:
    """``tp(x1, x2, weights=None)`` for a numpy-like namespace: checks, batching, dtype.

    Inputs are arrays of the namespace (:attr:`array_kind`) shaped ``(..., irreps.dim)`` with
    broadcastable batch shapes (any, including empty); ``weights`` are ``(weight_numel,)`` or
    ``(..., weight_numel)`` (one vector per sample).
    """

    def __init__(self, spec: TensorProductSpec, ops: ArrayOps, dtype: str, strategy: str | None = None):
        self.spec = spec
        self.plan = lower(spec, strategy)
        self.ops = ops
        self.dtype = np.dtype(dtype)
        self.consts = {name: ops.asarray(value, self.dtype) for name, value in self.plan.consts.items()}

    def __getstate__(self):
        return {"spec": self.spec, "ops": self.ops, "dtype": self.dtype.name, "strategy": self.plan.strategy}

    def __setstate__(self, state):
        PlanFunction.__init__(self, **state)

    @property
    def array_kind(self) -> str:
        """The namespace whose arrays a call takes, for :func:`tpcore.validation.check_array_type`."""
        return self.ops.xp.__name__

    def check_arrays(self, x1, x2, weights=None) -> None:
        """A TypeError naming the argument unless each input is an array of :attr:`array_kind` (weights may be None)."""
        for name, x in (("x1", x1), ("x2", x2), ("weights", weights)):
            if x is not None or name != "weights":
                check_array_type(name, x, self.array_kind)

    def __call__(self, x1, x2, weights=None):
        self.check_arrays(x1, x2, weights)
        return self.evaluate(x1, x2, weights)

    def evaluate(self, x1, x2, weights=None):
        """The call on arrays of the right type: shape and dtype checks, batching, the plan."""
        xp = self.ops.xp
        call = check_call(
            self.spec,
            x1_shape=tuple(x1.shape),
            x2_shape=tuple(x2.shape),
            weights_shape=None if weights is None else tuple(weights.shape),
            dtypes={"x1": _dtype_name(x1), "x2": _dtype_name(x2)}
            | ({} if weights is None else {"weights": _dtype_name(weights)}),
            expected_dtype=self.dtype.name,
        )
        Z = call.batch_size
        x1 = xp.broadcast_to(x1, call.batch_shape + (x1.shape[-1],)).reshape(Z, x1.shape[-1])
        x2 = xp.broadcast_to(x2, call.batch_shape + (x2.shape[-1],)).reshape(Z, x2.shape[-1])
        if call.per_sample_weights:
            weights = xp.broadcast_to(weights, call.batch_shape + (weights.shape[-1],)).reshape(Z, weights.shape[-1])
        out = run_plan(self.plan, self.ops, self.consts, x1, x2, weights, call.per_sample_weights)
        return out.reshape(call.batch_shape + (self.spec.irreps_out.dim,))
