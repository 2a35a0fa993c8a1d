"""``TensorProduct``: a tpcore plan as a pure JAX function ``tp(x1, x2, weights=None)``.

The plan's float64 coefficients are converted once, at build time, to the requested dtype and
device and closed over; a call has no side effects and checks only static shapes and dtypes
(:func:`tpcore.validation.check_call`), so ``jax.jit``, ``jax.grad`` (to any order), ``jax.vmap``
and sharded inputs work on the object as on any function. Weights are an argument, never state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tpcore.devices import jax_device
from tpcore.devices import jax_device_name as device_name
from tpcore.dtypes import jax_dtype
from tpcore.execute import PlanFunction
from tpcore.plan import lower, resolve_strategy
from tpcore.program import Program, compile_function, resolve
from tpcore.spec import TensorProductSpec
from tpcore.validation import flatten_call

from .blocks import block_function
from .ops import JaxOps

#: strategies whose derivatives are those of another strategy's program (a ``jax.custom_jvp``):
#: XLA's reverse of ``block``'s many small contractions costs 3-6x its forward on CPU, the reverse
#: of ``dense``'s per-path einsums 2-4x (measured at L = 2..6, 1000 rows, float32), so ``block``
#: keeps its forward and differentiates as ``dense``. A JVP rule (not a VJP) keeps forward mode
#: and every order of derivative: the tangent is the same trilinear product, made of jax ops.
DERIVATIVE_STRATEGY = {"block": "dense"}

#: connection modes in which each output element is the product of one channel pair (no weight
#: sums over channels). Products made only of them keep XLA's own reverse: ``dense`` runs them as
#: per-path einsums without a matmul to batch, and its derivative cost e3nn-jax's 0.56-0.77x on
#: the channel-wise ``uuu`` at L = 3..6 where XLA's reverse of ``block`` ran 0.98-1.45x, and 0.79-1.29x
#: on the full product (``uvuv``) at L = 4..6 against 1.67-3.47x (CPU, 1000 rows, float32). (``uvu<v``,
#: ``uvuv``'s upper triangle, is left to ``dense``: not measured.)
ONE_PAIR_MODES = frozenset({"uuu", "uvuv"})


def derivative_strategy(spec: TensorProductSpec, strategy: str) -> str | None:
    """The strategy whose program differentiates ``strategy``'s for ``spec``; None: XLA's reverse."""
    if spec.variant != "cgtp" or spec.path_modes <= ONE_PAIR_MODES:
        return None
    return DERIVATIVE_STRATEGY.get(strategy)


class TensorProduct(PlanFunction):
    """``tp(x1, x2, weights=None)`` for a :class:`~tpcore.spec.TensorProductSpec`, a pure JAX function.

    ``x1 (..., irreps_in1.dim)`` and ``x2 (..., irreps_in2.dim)`` broadcast over their batch shapes;
    ``weights`` are ``(weight_numel,)`` (shared) or ``(..., weight_numel)`` (one vector per sample),
    required when ``weight_numel > 0``. Inputs must have the dtype the function was built for
    (with 64-bit types off, jax turns float64 numpy inputs into float32 on entry, as for any jitted
    function). ``spec``, ``strategy``, ``weight_numel``, ``dtype`` and ``device`` describe it.

    It pickles and deep-copies as ``(spec, strategy, dtype, device name)``: the constants and the
    jitted function are rebuilt on load, on the named device of the loading process.

    Each build compiles its own XLA computation on its first call; jax keeps a little of every
    compilation after the function is gone (1-4 KB for these programs, as for any new ``jax.jit``
    function), so build once and call many times rather than rebuilding in a loop.
    """

    array_kind = "jax"
    backend = "jax"

    def __init__(self, spec: TensorProductSpec, *, strategy: str | None = None, device=None, dtype="float32"):
        self.device = jax_device(device)
        strategy = resolve_strategy(spec, strategy, backend=self.backend)  # auto as measured on jax
        self._block_functions = {}  # per_sample -> blocks of the program on flat inputs (compile fills it)
        super().__init__(spec, JaxOps(self.device), jax_dtype(dtype).name, strategy)
        # One XLA computation per input signature instead of one dispatch (and compilation) per plan
        # op in eager use; nested in a user's jit it is inlined. Shape and dtype checks run while
        # tracing, on static shapes, so their errors read the same under every transformation;
        # array types are checked before, as jit would reject a list or a torch tensor in its own words.
        self._compiled = jax.jit(self.evaluate)
        self._blocks_compiled = jax.jit(self._blocks)

    def __call__(self, x1, x2, weights=None):
        self.check_arrays(x1, x2, weights)
        return self._compiled(x1, x2, weights)

    def blocks(self, x1, x2, weights=None) -> tuple:
        """The output as one array ``(..., mul * dim)`` per block of ``irreps_out``, in order.

        Inside a jax transformation (a caller's ``jit``, ``grad``, ``vmap``) the program's ops are
        traced into the caller's computation, not behind a nested ``jit``: a block the caller never
        reads is then dead code to jax, and neither it nor its derivative is computed, as for
        e3nn-jax's chunks (a product whose output is filtered afterwards, say). Programs that end
        in the concatenation of the blocks (``block``, ``dense``) give them as computed
        (:mod:`tpcore_jax.blocks`); others, and programs differentiated as another strategy's, give
        slices of the output. Outside any transformation it runs under ``jax.jit``.
        """
        self.check_arrays(x1, x2, weights)
        if any(isinstance(x, jax.core.Tracer) for x in (x1, x2, weights)):
            return self._blocks(x1, x2, weights)
        return self._blocks_compiled(x1, x2, weights)

    def _blocks(self, x1, x2, weights):
        call, x1, x2, weights = flatten_call(self.spec, x1, x2, weights, jax.numpy, expected_dtype=self.dtype.name)
        blocks = self._block_functions.get(call.per_sample_weights)
        if blocks is None:
            out = self.functions[call.per_sample_weights](x1, x2, weights)
            starts = np.cumsum([0] + [b.mul * b.ir.dim for b in self.spec.irreps_out])
            blocks = tuple(out[:, a:b] for a, b in zip(starts[:-1], starts[1:]))
        else:
            blocks = blocks(x1, x2, weights)
        return tuple(call.unflatten(b) for b in blocks)

    def compile(self, program: Program):
        strategy = program.plan.program_strategy(program.per_sample)  # (folded's per-sample program is another's)
        other = derivative_strategy(program.plan.spec, strategy)
        if other is None:
            blocks = block_function(program, self.ops, self.consts, [b.mul * b.ir.dim for b in self.spec.irreps_out])
            if blocks is None:
                return super().compile(program)
            self._block_functions[program.per_sample] = blocks
            return lambda x1, x2, w: jnp.concatenate(blocks(x1, x2, w), axis=-1)
        forward = super().compile(program)
        tangent_program = resolve(lower(program.plan.spec, other, backend=self.backend), program.per_sample)
        consts = {ident: self.ops.asarray(v, self.dtype) for ident, v in tangent_program.const_values().items()}
        return _differentiated_as(forward, compile_function(tangent_program, self.ops, consts))

    def __getstate__(self):
        return {"spec": self.spec, "strategy": self.strategy, "dtype": self.dtype.name, "device": device_name(self.device)}

    def __setstate__(self, state):
        TensorProduct.__init__(self, **state)

    @property
    def strategy(self) -> str:
        return self.plan.strategy

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    def __repr__(self) -> str:
        where = "default" if self.device is None else f"{self.device.platform}:{self.device.id}"
        return (
            f"TensorProduct({self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> {self.spec.irreps_out}, "
            f"strategy={self.strategy}, weight_numel={self.weight_numel}, dtype={self.dtype.name}, device={where})"
        )


def _differentiated_as(forward, other):
    """``forward`` whose derivatives are those of ``other`` (the same function, another program).

    Both are linear in each of ``x1``, ``x2``, ``w``, so the tangent is ``other`` with one argument
    replaced by its tangent, summed; symbolic zeros skip the arguments not differentiated.
    """

    @jax.custom_jvp
    def function(x1, x2, w):
        return forward(x1, x2, w)

    def jvp(primals, tangents):
        x1, x2, w = primals
        terms = [
            other(*(t if k == i else p for k, p in enumerate(primals)))
            for i, t in enumerate(tangents)
            if primals[i] is not None and not isinstance(t, jax.custom_derivatives.SymbolicZero)
        ]
        out = forward(x1, x2, w)
        tangent = terms[0] if terms else jax.numpy.zeros_like(out)
        for term in terms[1:]:
            tangent = tangent + term
        return out, tangent

    function.defjvp(jvp, symbolic_zeros=True)
    return function


def build(spec: TensorProductSpec, *, device=None, dtype="float32", strategy: str | None = None) -> TensorProduct:
    return TensorProduct(spec, strategy=strategy, device=device, dtype=dtype)
