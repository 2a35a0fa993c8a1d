"""A plan compiled once into a ``torch.fx.GraphModule``: ``program(x1, x2, w) -> out``.

Each op of the plan becomes one or two torch calls in a graph built at construction time, with the
plan's constants as (non-persistent) buffers of the graph module; a call runs the generated Python
code and nothing else. The program is the same for every dtype and device: it names no dtype
(complex promotion splits a product into real and imaginary parts, zeros are ``new_zeros`` of an
input), so ``.to()`` only has to move (or recompute) the buffers. A ``GraphModule`` pickles (as its generated code), deep-copies,
is scripted by ``torch.jit.script`` and traced by ``torch.compile(fullgraph=True)`` like any module.
The program is straight-line torch calls with no Python function of ours in it (a pickled graph
module is re-traced on load). MKL's FFTs reject empty batches, so the caller handles ``Z == 0``.

The program reads flat inputs ``x1 (Z, dim1)``, ``x2 (Z, dim2)`` and ``w``: ``(weight_numel,)``, or
``(Z, weight_numel)`` for a program compiled with ``per_sample=True`` (the plan's per-sample op
list, with a leading ``z`` on each weight operand of an einsum).
"""

from __future__ import annotations

import operator
import re
import numpy as np
import torch
import torch.fx

from tpcore.execute import ArrayOps, run_plan
from tpcore.plan import Op, Plan

#: names of the graph's buffers: ``c_`` + the plan's constant name, made an identifier
BUFFER_PREFIX = "c_"


def buffer_name(const: str) -> str:
    return BUFFER_PREFIX + re.sub(r"\W", "_", const)


def compile_plan(plan: Plan, per_sample: bool, constants: torch.nn.Module) -> torch.fx.GraphModule:
    """The GraphModule of ``plan``'s program for shared (``per_sample=False``) or per-sample weights.

    ``constants`` holds the buffers named by :func:`buffer_name`, complex ones as their real view
    (``torch.view_as_real``, so that ``Module.to(dtype)`` keeps the imaginary part); the graph
    module shares those tensors.
    """
    emitter = _Emitter(plan, per_sample, einsum_operand_shapes(plan, per_sample))
    for op in plan.program(per_sample):
        emitter.emit(op)
    emitter.graph.output(emitter.values[plan.output])
    module = torch.fx.GraphModule(constants, emitter.graph, class_name="TensorProductProgram")
    keep_constants_out_of_state_dict(module)
    return module


def keep_constants_out_of_state_dict(program: torch.fx.GraphModule) -> None:
    """Mark the program's buffers non-persistent (a GraphModule re-made by pickle or deepcopy
    registers them as persistent again, so its owner calls this after unpickling too)."""
    for name in list(program._buffers):
        program.register_buffer(name, program._buffers[name], persistent=False)


#: rows assumed when choosing the order of a multi-operand einsum's pairwise contractions
ORDER_BATCH = 1024


def einsum_operand_shapes(plan: Plan, per_sample: bool) -> list[list[tuple[int, ...]]]:
    """The operand shapes of each einsum of the program, in order, from one numpy run on 2 rows."""

    class Recorder(ArrayOps):
        def einsum(self, equation, *operands):
            shapes.append([o.shape for o in operands])
            return super().einsum(equation, *operands)

    shapes: list = []
    spec = plan.spec
    w_shape = (2, spec.weight_numel) if per_sample else (spec.weight_numel,)
    run_plan(plan, Recorder(np), plan.consts, np.zeros((2, spec.irreps_in1.dim)), np.zeros((2, spec.irreps_in2.dim)),
             np.zeros(w_shape), per_sample)  # fmt: skip
    return shapes


def _contraction_order(subscripts: list[str], output: str, sizes: dict) -> list[tuple[int, int, str]]:
    """The pairwise contractions ``(a, b, result)`` of least total FLOPs (exhaustive: plans' einsums
    have at most five operands); each step replaces terms ``a`` and ``b`` by ``result`` at the end."""

    def search(terms: tuple[str, ...]):
        if len(terms) == 2:
            return _prod(sizes[c] for c in set(terms[0] + terms[1])), [(0, 1, output)]
        best = None
        for a in range(len(terms)):
            for b in range(a + 1, len(terms)):
                others = set(output).union(*(t for k, t in enumerate(terms) if k not in (a, b)))
                result = "".join(dict.fromkeys(c for c in terms[a] + terms[b] if c in others))
                rest = tuple(t for k, t in enumerate(terms) if k not in (a, b)) + (result,)
                cost, steps = search(rest)
                cost += _prod(sizes[c] for c in set(terms[a] + terms[b]))
                if best is None or cost < best[0]:
                    best = (cost, [(a, b, result)] + steps)
        return best

    return search(tuple(subscripts))[1]


def _prod(values) -> int:
    n = 1
    for v in values:
        n *= v
    return n


class _Emitter:
    """Builds the graph op by op; ``values`` maps the plan's value names to graph nodes."""

    def __init__(self, plan: Plan, per_sample: bool, einsum_shapes: list):
        self.plan, self.per_sample = plan, per_sample
        self.einsum_shapes = list(einsum_shapes)
        self.graph = torch.fx.Graph()
        g = self.graph
        x1, x2, w = g.placeholder("x1"), g.placeholder("x2"), g.placeholder("w")
        self.values: dict = {"x1": x1, "x2": x2, "w": w}
        self.complex: set[str] = set()  # names of complex values
        self.Z = g.call_method("size", (x1, 0))
        self.shapes = {name: value.shape for name, value in plan.consts.items()}
        used = {a for op in plan.program(per_sample) for a in op.args}
        for name, value in plan.consts.items():
            if name not in used:
                continue
            node = g.get_attr(buffer_name(name))
            if value.dtype.kind == "c":
                node = g.call_function(torch.view_as_complex, (node,))
                self.complex.add(name)
            self.values[name] = node

    def emit(self, op: Op) -> None:
        p = dict(op.params)
        args = [self.values[a] for a in op.args]
        result = getattr(self, "_" + op.kind)(op, p, *args)
        if op.kind in _COMPLEX_RESULT or (op.kind in _PROMOTING and any(a in self.complex for a in op.args)):
            self.complex.add(op.out)
        elif op.kind in _PRESERVING and op.args and op.args[0] in self.complex:
            self.complex.add(op.out)
        self.values[op.out] = result

    # -- helpers --------------------------------------------------------------------------------

    def _call(self, fn, *args, **kwargs):
        return self.graph.call_function(fn, args, kwargs)

    def _method(self, name, *args):
        return self.graph.call_method(name, args)

    def _product(self, op: Op, emit, args):
        """``emit(operands)`` for a product linear in each operand, with numpy's real->complex promotion.

        One complex operand among real ones: ``complex(fn(.., real(c), ..), fn(.., imag(c), ..))``,
        two real products instead of casting the real operands (TorchScript's autodiff of a
        real->complex cast followed by FFTs gives wrong gradients; this form has no cast).
        """
        is_complex = [name in self.complex for name in op.args]
        if not any(is_complex) or all(is_complex):
            return emit(list(args))
        if sum(is_complex) == 1:
            k = is_complex.index(True)
            parts = []
            for part in (torch.real, torch.imag):
                operands = list(args)
                operands[k] = self._call(part, args[k])
                parts.append(emit(operands))
            return self._call(torch.complex, *parts)
        zeros = [self._call(torch.zeros_like, a) for a in args]
        return emit([a if c else self._call(torch.complex, a, z) for a, c, z in zip(args, is_complex, zeros)])

    def _gather_last(self, x, index_name: str, index):
        """``x[..., index]`` for a constant index of any shape."""
        shape = self.shapes[index_name]
        if len(shape) == 1:
            return self._call(torch.index_select, x, -1, index)
        gathered = self._call(torch.index_select, x, -1, self._method("reshape", index, [-1]))
        return self._method("unflatten", gathered, -1, list(shape))

    # -- one method per op kind (see tpcore.plan) -------------------------------------------------

    def _block(self, op, p, x):
        part = self._call(torch.narrow, x, 1, p["start"], p["stop"] - p["start"])
        return self._method("reshape", part, [self.Z, p["mul"], p["dim"]])

    def _take(self, op, p, x, index):
        return self._gather_last(x, op.args[1], index)

    def _slice(self, op, p, x):
        return self._call(torch.narrow, x, -1, p["start"], p["stop"] - p["start"])

    def _weights(self, op, p, w):
        shape = list(p["shape"])
        part = self._call(torch.narrow, w, -1, p["start"], p["stop"] - p["start"])
        return self._method("reshape", part, ([self.Z] if self.per_sample else []) + shape)

    def _weight_take(self, op, p, w, index):
        return self._gather_last(w, op.args[1], index)

    def _weight_fold(self, op, p, w, index, target, value):
        lead = [self.Z] if self.per_sample else []
        shape = list(p["shape"])
        zeros = self._method("new_zeros", w, lead + [int(np.prod(shape))])
        terms = self._call(operator.mul, self._call(torch.index_select, w, -1, index), value)
        return self._method("reshape", self._method("index_add", zeros, -1, target, terms), lead + shape)

    def _einsum(self, op, p, *args):
        equation = p["equation"]
        if self.per_sample and p.get("weight_arg") is not None:
            inputs, output = equation.split("->")
            operands = inputs.split(",")
            operands[p["weight_arg"]] = "z" + operands[p["weight_arg"]]
            equation = ",".join(operands) + "->" + output
        return self._product(op, lambda operands: self._einsum_chain(equation, operands), args)

    def _einsum_chain(self, equation: str, operands):
        """``einsum`` as pairwise contractions in an order chosen once, here.

        torch searches a contraction order on every call with three or more operands (costly at
        small batches); the order is chosen at build time instead, greedily by FLOPs from the
        operands' shapes (with a batch of :data:`ORDER_BATCH` rows).
        """
        if len(operands) <= 2:
            return self._call(torch.einsum, equation, list(operands))
        inputs, output = equation.split("->")
        subscripts = inputs.split(",")
        sizes = {"z": ORDER_BATCH}
        for sub, shape in zip(subscripts, self.einsum_shapes.pop(0)):
            sizes.update((c, n) for c, n in zip(sub, shape) if c != "z")
        terms = list(zip(subscripts, operands))
        for a, b, result in _contraction_order([t[0] for t in terms], output, sizes)[:-1]:
            node = self._call(torch.einsum, f"{terms[a][0]},{terms[b][0]}->{result}", [terms[a][1], terms[b][1]])
            terms = [t for k, t in enumerate(terms) if k not in (a, b)] + [(result, node)]
        return self._call(torch.einsum, f"{terms[0][0]},{terms[1][0]}->{output}", [terms[0][1], terms[1][1]])

    def _matmul(self, op, p, x, matrix):
        return self._product(op, lambda operands: self._call(torch.matmul, *operands), (x, matrix))

    def _mul(self, op, p, a, b):
        return self._call(operator.mul, a, b)

    def _add(self, op, p, *args):
        result = args[0]
        for a in args[1:]:
            result = self._call(operator.add, result, a)
        return result

    def _reshape(self, op, p, x):
        return self._method("reshape", x, [self.Z] + list(p["shape"]))

    def _zeros(self, op, p):
        return self._method("new_zeros", self.values["x1"], [self.Z, p["n"]])

    def _concat(self, op, p, *args):
        return args[0] if len(args) == 1 else self._call(torch.cat, list(args), -1)

    def _fft_conv2d(self, op, p, a, b):
        if op.args[0] not in self.complex or op.args[1] not in self.complex:
            raise ValueError(f"plan op {op.out!r}: fft_conv2d expects complex operands")
        size = list(p["size"])
        fa, fb = self._call(torch.fft.fft2, a, s=size), self._call(torch.fft.fft2, b, s=size)
        return self._call(torch.fft.ifft2, self._call(operator.mul, fa, fb))

    def _real(self, op, p, x):
        return self._call(torch.real, x)

    def _rfft(self, op, p, x):
        return self._call(torch.fft.rfft, x, n=p["n"], dim=-1)

    def _irfft(self, op, p, x):
        return self._call(torch.fft.irfft, x, n=p["n"], dim=-1)

    def _segment_sum(self, op, p, x, index):
        zeros = self._method("new_zeros", x, [self.Z, p["n"]])
        return self._method("index_add", zeros, 1, index, x)


_COMPLEX_RESULT = {"rfft", "fft_conv2d"}
_PROMOTING = {"einsum", "matmul", "mul", "add"}
_PRESERVING = {"block", "take", "slice", "reshape", "concat", "segment_sum"}

