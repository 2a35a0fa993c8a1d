"""Execution of a :class:`~tpcore.plan.Plan` over a numpy-like array namespace (numpy, cupy, jax.numpy).

:class:`ArrayOps` holds the namespace and the few helpers that the generated code of
:mod:`tpcore.program` calls where numpy's plain API is not enough (scatter-adds, FFTs, einsum with
a backend's precision). :class:`PlanFunction` compiles a spec's plan once, for shared and for
per-sample weights (:func:`tpcore.program.compile_function`), and adds input checks, batching and
dtype handling; a call runs the compiled function.

Both pickle and deep-copy by what defines them. A namespace is a module, which pickle refuses, so
:class:`ArrayOps` stores its import name; a :class:`PlanFunction` stores its spec, strategy, dtype
and ops, and rebuilds the plan, the converted constants and the compiled functions on load (the
generated functions themselves are never pickled).
"""

from __future__ import annotations

import importlib
import numpy as np

from tpcore.plan import lower
from tpcore.program import Program, compile_function, resolve
from tpcore.spec import TensorProductSpec
from tpcore.validation import check_input_types, flatten_call


class ArrayOps:
    """The helpers generated programs call over a numpy-compatible namespace ``xp`` (:mod:`tpcore.program`)."""

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

    def einsum(self, equation, *operands):
        return self.xp.einsum(equation, *operands)

    def matmul(self, x, matrix):
        return x @ matrix

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


class PlanFunction:
    """``tp(x1, x2, weights=None)`` for a numpy-like namespace: checks, batching, dtype.

    Inputs are arrays of the namespace (:attr:`array_kind`) shaped ``(..., irreps.dim)`` with
    broadcastable batch shapes (any, including empty); ``weights`` are ``(weight_numel,)`` or
    ``(..., weight_numel)`` (one vector per sample).
    """

    #: the backend whose measurements ``auto`` follows (:func:`tpcore.cost.auto_strategy`)
    backend: str | None = None

    def __init__(self, spec: TensorProductSpec, ops: ArrayOps, dtype: str, strategy: str | None = None):
        self.spec = spec
        self.plan = lower(spec, strategy, backend=self.backend)
        self.ops = ops
        self.dtype = np.dtype(dtype)
        self.programs = {False: resolve(self.plan, False)}
        if spec.weight_numel:
            self.programs[True] = resolve(self.plan, True)
        self.consts = {
            ident: ops.asarray(value, self.dtype)
            for program in self.programs.values()
            for ident, value in program.const_values().items()
        }
        self.functions = {per_sample: self.compile(program) for per_sample, program in self.programs.items()}

    def compile(self, program: Program):
        """The compiled function of ``program`` over :attr:`ops` (a subclass may wrap it)."""
        return compile_function(program, self.ops, self.consts)

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
        check_input_types(x1, x2, weights, self.array_kind)

    def __call__(self, x1, x2, weights=None):
        self.check_arrays(x1, x2, weights)
        return self.evaluate(x1, x2, weights)

    def evaluate(self, x1, x2, weights=None):
        """The call on arrays of the right type: shape and dtype checks, batching, the plan."""
        call, x1, x2, weights = flatten_call(self.spec, x1, x2, weights, self.ops.xp, expected_dtype=self.dtype.name)
        return call.unflatten(self.functions[call.per_sample_weights](x1, x2, weights))
