"""A :class:`~tpcore.plan.Plan` compiled once into a backend-neutral :class:`Program`, then into Python.

:func:`resolve` makes every static decision of a plan's op list once per ``(plan, per_sample)``:
value names become Python identifiers (``x1``, ``x2``, ``w``, ``c_<constant>``, ``v<k>``), per-sample
einsum equations gain their leading ``z``, einsums of three or more operands are split into pairwise
contractions in the order of least FLOPs (:func:`contraction_order`), params are bound as
attributes, and every value's shape (``None`` for the batch axis) and whether it is complex are
inferred by propagating shapes through the ops. A :class:`Program` is a list of such
:class:`Statement`\\ s.

:func:`compile_function` emits a program as Python source for a numpy-like namespace (one
straight-line assignment per statement, constants bound in a closure; an einsum that runs faster
as a transposed batched matmul is emitted as that, :mod:`tpcore.contraction`) and compiles it with
``compile``/``exec`` once: a call runs that function and nothing else. The torch backend emits the
same statements into a ``torch.fx`` graph, and :mod:`tpcore.autodiff` walks them in reverse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np

from tpcore.contraction import Operand, PairwiseForm, pairwise_form, sizes
from tpcore.plan import Plan

#: rows assumed when choosing the order of a multi-operand einsum's pairwise contractions
ORDER_BATCH = 1024

#: the fewest rows of a batched einsum that the generated programs compute transposed
#: (:func:`tpcore.contraction.transposed_pays`; measured with XLA on one CPU thread)
TRANSPOSE_MIN_ROWS = 128

#: the identifier prefix of constants: ``c_`` + the plan's constant name, made an identifier
CONST_PREFIX = "c_"


def const_identifier(name: str) -> str:
    return CONST_PREFIX + re.sub(r"\W", "_", name)


@dataclass(frozen=True, eq=False)
class Statement:
    """``out = kind(*args)`` with static params ``p`` (attributes), resolved from one plan op.

    ``args`` and ``out`` are identifiers of the :class:`Program`; ``shape`` is the shape of ``out``
    with ``None`` for the batch axis; ``complex`` says whether ``out`` is complex.
    """

    kind: str
    out: str
    args: tuple[str, ...]
    p: SimpleNamespace
    shape: tuple
    complex: bool


@dataclass(frozen=True, eq=False)
class Program:
    """The resolved statements of ``plan``'s program for shared (or no) or per-sample weights.

    ``consts`` maps the identifiers of the constants the statements read to the plan's names;
    ``shapes`` and ``complex`` hold every identifier's shape (``None`` for the batch) and kind.
    """

    plan: Plan
    per_sample: bool
    statements: tuple[Statement, ...]
    consts: Mapping[str, str]
    output: str
    shapes: Mapping[str, tuple]
    complex: frozenset

    def const_values(self) -> dict[str, np.ndarray]:
        """The float64 (or complex, integer) host value of each constant identifier."""
        return {ident: self.plan.consts[name] for ident, name in self.consts.items()}

    def _expression(self, s: Statement) -> str:
        """The Python expression of one statement; an einsum that runs faster transposed
        (:func:`tpcore.contraction.transposed_pays`) as that matmul."""
        if s.kind == "einsum":
            form = pairwise_form(s.p.equation, [self.shapes[a] for a in s.args], TRANSPOSE_MIN_ROWS)
            if form is not None and form.product == "matmul_transposed":
                return _transposed_matmul(form, *s.args)
        return _EXPRESSIONS[s.kind](s)

    def source(self, name: str = "program", tape: bool = False) -> str:
        """Python source of ``make(ops, <constants>) -> name(x1, x2, w)``; see :func:`compile_function`."""
        expressions = [self._expression(s) for s in self.statements]
        helpers = {_HELPERS[s.kind] for s in self.statements if s.kind in _HELPERS}
        helpers |= {"matmul"} if any(e.startswith("matmul(") for e in expressions) else set()  # transposed einsums
        lines = [f"def make({', '.join(['ops', *self.consts])}):"]
        lines += [f"    {helper} = ops.{helper}" for helper in sorted(helpers)]
        lines.append(f"    def {name}(x1, x2, w):")
        lines.append("        Z = x1.shape[0]")
        lines += [f"        {s.out} = {e}" for s, e in zip(self.statements, expressions)]
        if tape:
            lines.append(f"        return ({''.join(s.out + ', ' for s in self.statements)})")
        else:
            lines.append(f"        return {self.output}")
        lines.append(f"    return {name}")
        return "\n".join(lines) + "\n"


def compile_function(program: Program, ops, consts: Mapping[str, Any], tape: bool = False) -> Callable:
    """``fn(x1, x2, w)`` running ``program`` over ``ops`` (an :class:`~tpcore.execute.ArrayOps`).

    ``consts`` maps the program's constant identifiers to arrays already converted for ``ops``.
    With ``tape=True`` the function returns the tuple of every statement's value, in order.
    """
    name = "program_tape" if tape else "program"
    source = program.source(name, tape)
    namespace: dict = {}
    exec(compile(source, f"<tpcore {program.plan.spec.variant} {program.plan.strategy} {name}>", "exec"), namespace)
    return namespace["make"](ops, *(consts[c] for c in program.consts))


# -- resolution ---------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def resolve(plan: Plan, per_sample: bool) -> Program:
    """The :class:`Program` of ``plan`` for shared (``per_sample=False``) or per-sample weights."""
    spec = plan.spec
    shapes: dict[str, tuple] = {
        "x1": (None, spec.irreps_in1.dim),
        "x2": (None, spec.irreps_in2.dim),
        "w": (None, spec.weight_numel) if per_sample else (spec.weight_numel,),
    }
    complex_: set[str] = set()
    names = {"x1": "x1", "x2": "x2", "w": "w"}  # plan value name -> identifier
    consts: dict[str, str] = {}
    for name, value in plan.consts.items():
        names[name] = const_identifier(name)
        shapes[names[name]] = value.shape
        if value.dtype.kind == "c":
            complex_.add(names[name])
    statements: list[Statement] = []

    def add(kind: str, args: tuple[str, ...], params: dict) -> str:
        out = f"v{len(statements)}"
        shape, is_complex = _infer(kind, [shapes[a] for a in args], [a in complex_ for a in args], params, per_sample)
        statements.append(Statement(kind, out, args, SimpleNamespace(**params), shape, is_complex))
        shapes[out] = shape
        if is_complex:
            complex_.add(out)
        return out

    for op in plan.program(per_sample):
        args = tuple(names[a] for a in op.args)
        for a, ident in zip(op.args, args):
            if a in plan.consts:
                consts[ident] = a
        params = dict(op.params)
        if op.kind == "einsum":
            names[op.out] = _resolve_einsum(add, args, shapes, params, per_sample)
        else:
            params.pop("weight_arg", None)
            names[op.out] = add(op.kind, args, params)
    return Program(plan, per_sample, tuple(statements), consts, names[plan.output], shapes, frozenset(complex_))


def _resolve_einsum(add, args, shapes, params, per_sample) -> str:
    equation, weight_arg = params["equation"], params.get("weight_arg")
    inputs, output = equation.split("->")
    subscripts = inputs.split(",")
    if per_sample and weight_arg is not None:
        subscripts[weight_arg] = "z" + subscripts[weight_arg]
    if len(args) <= 2:
        return add("einsum", args, {"equation": ",".join(subscripts) + "->" + output})
    sizes = {"z": ORDER_BATCH}
    for sub, a in zip(subscripts, args):
        sizes.update((c, ORDER_BATCH if n is None else n) for c, n in zip(sub, shapes[a]) if c != "z")
    terms = list(zip(subscripts, args))
    for a, b, result in contraction_order([t[0] for t in terms], output, sizes):
        node = add("einsum", (terms[a][1], terms[b][1]), {"equation": f"{terms[a][0]},{terms[b][0]}->{result}"})
        terms = [t for k, t in enumerate(terms) if k not in (a, b)] + [(result, node)]
    return terms[0][1]


def contraction_order(subscripts: list[str], output: str, sizes: dict) -> list[tuple[int, int, str]]:
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


# -- shapes ---------------------------------------------------------------------------------------


def _broadcast(*shapes: tuple) -> tuple:
    """numpy broadcasting with ``None`` (the batch) as a size other than 1."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        out.append(None if None in sizes else (max(sizes) if sizes else 1))
    return tuple(out)


def _einsum_shape(equation: str, shapes) -> tuple:
    inputs, output = equation.split("->")
    sizes: dict = {}
    for sub, shape in zip(inputs.split(","), shapes):
        for c, n in zip(sub, shape):
            seen = sizes.get(c, 1)
            sizes[c] = None if n is None or seen is None else max(n, seen)
    return tuple(sizes[c] for c in output)


_COMPLEX_RESULT = {"rfft", "fft_conv2d"}
_REAL_RESULT = {"real", "irfft", "zeros", "weights", "weight_take", "weight_fold"}


def _infer(kind: str, shapes: list, complex_args: list, p: dict, per_sample: bool) -> tuple[tuple, bool]:
    lead = (None,) if per_sample else ()
    x = shapes[0] if shapes else ()
    shape = {
        "block": lambda: (None, p.get("mul"), p.get("dim")),
        "take": lambda: x[:-1] + shapes[1],
        "slice": lambda: x[:-1] + (p.get("stop", 0) - p.get("start", 0),),
        "weights": lambda: lead + tuple(p.get("shape", ())),
        "weight_take": lambda: lead + shapes[1],
        "weight_fold": lambda: lead + tuple(p.get("shape", ())),
        "rfft": lambda: x[:-1] + (p.get("n", 0) // 2 + 1,),
        "irfft": lambda: x[:-1] + (p.get("n"),),
        "segment_sum": lambda: (None, p.get("n")),
        "einsum": lambda: _einsum_shape(p.get("equation", "->"), shapes),
        "matmul": lambda: x[:-1] + shapes[1][-1:],
        "mul": lambda: _broadcast(*shapes),
        "add": lambda: _broadcast(*shapes),
        "reshape": lambda: (None,) + tuple(p.get("shape", ())),
        "zeros": lambda: (None, p.get("n")),
        "concat": lambda: x[:-1] + (sum(s[-1] for s in shapes),),
        "fft_conv2d": lambda: _broadcast(x[:-2], shapes[1][:-2]) + tuple(p.get("size", ())),
        "real": lambda: x,
    }
    if kind not in shape:
        raise ValueError(f"plan op {kind!r} is unknown to tpcore.program (known: {', '.join(sorted(shape))})")
    if kind in _COMPLEX_RESULT:
        is_complex = True
    elif kind in _REAL_RESULT:
        is_complex = False
    elif kind in ("einsum", "matmul", "mul", "add"):
        is_complex = any(complex_args)
    else:  # block, take, slice, reshape, concat, segment_sum: the first argument's kind
        is_complex = bool(complex_args and complex_args[0])
    return shape[kind](), is_complex


# -- Python source, one expression per statement (numpy's API; helpers from ``ops``) --------------

#: the statement kinds that call a helper of :class:`~tpcore.execute.ArrayOps`, by helper name
_HELPERS = {
    "weight_fold": "weight_fold", "rfft": "rfft", "irfft": "irfft", "segment_sum": "segment_sum",
    "einsum": "einsum", "matmul": "matmul", "zeros": "zeros", "concat": "concat", "fft_conv2d": "fft_conv2d",
    "real": "real",
}  # fmt: skip


def _weights(s):
    lead = ":, " if len(s.shape) > len(s.p.shape) else ""
    shape = ("Z, " if lead else "") + ", ".join(map(str, s.p.shape))
    return f"{s.args[0]}[{lead}{s.p.start}:{s.p.stop}].reshape(({shape}{',' if len(s.p.shape) == 1 and not lead else ''}))"


def _weight_take(s):
    lead = ":, " if s.shape and s.shape[0] is None else ""
    return f"{s.args[0]}[{lead}{s.args[1]}]"


def _sizes(shape) -> str:
    """A :mod:`tpcore.contraction` shape as reshape arguments (``(None, n)`` is ``Z * n``)."""
    return ", ".join(str(n) for n in sizes(shape, "Z", lambda z, n: f"{z} * {n}"))


def _laid_out(name: str, operand: Operand) -> str:
    expression = name
    if operand.summed:
        expression += f".sum(axis={operand.summed!r})"
    if operand.perm is not None:
        expression += f".transpose({operand.perm!r})"
    if operand.shape is not None:
        expression += f".reshape({_sizes(operand.shape)})"
    return expression


def _transposed_matmul(form: PairwiseForm, a: str, b: str) -> str:
    expression = f"matmul({_laid_out(b, form.b)}, {_laid_out(a, form.a)})"
    if form.shape is not None:
        expression += f".reshape({_sizes(form.shape)})"
    if form.perm is not None:
        expression += f".transpose({form.perm!r})"
    return expression


_EXPRESSIONS: dict[str, Callable[[Statement], str]] = {
    "block": lambda s: f"{s.args[0]}[:, {s.p.start}:{s.p.stop}].reshape(Z, {s.p.mul}, {s.p.dim})",
    "take": lambda s: f"{s.args[0]}[..., {s.args[1]}]",
    "slice": lambda s: f"{s.args[0]}[..., {s.p.start}:{s.p.stop}]",
    "weights": _weights,
    "weight_take": _weight_take,
    "weight_fold": lambda s: f"weight_fold({', '.join(s.args)}, {tuple(s.p.shape)!r})",
    "rfft": lambda s: f"rfft({s.args[0]}, {s.p.n})",
    "irfft": lambda s: f"irfft({s.args[0]}, {s.p.n})",
    "segment_sum": lambda s: f"segment_sum({s.args[0]}, {s.args[1]}, {s.p.n})",
    "einsum": lambda s: f"einsum({s.p.equation!r}, {', '.join(s.args)})",
    "matmul": lambda s: f"matmul({s.args[0]}, {s.args[1]})",
    "mul": lambda s: f"{s.args[0]} * {s.args[1]}",
    "add": lambda s: " + ".join(s.args),
    "reshape": lambda s: f"{s.args[0]}.reshape(Z, {', '.join(map(str, s.p.shape))})",
    "zeros": lambda s: f"zeros(x1, {s.p.n})",
    "concat": lambda s: s.args[0] if len(s.args) == 1 else f"concat(({', '.join(s.args)},))",
    "fft_conv2d": lambda s: f"fft_conv2d({s.args[0]}, {s.args[1]}, {tuple(s.p.size)!r})",
    "real": lambda s: f"real({s.args[0]})",
}

__all__ = ["Program", "Statement", "resolve", "compile_function", "contraction_order", "const_identifier", "ORDER_BATCH"]
