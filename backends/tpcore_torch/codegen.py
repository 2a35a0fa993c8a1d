"""A plan compiled once into a ``torch.fx.GraphModule``: ``program(x1, x2, w) -> out``.

The plan is resolved once by :func:`tpcore.program.resolve` (per-sample equations, einsums split
into pairwise contractions in the least-FLOP order, shapes and complex values inferred), the same
program numpy, cupy and jax run. Each statement becomes one or two torch calls in a graph built at construction time, with the
plan's constants as (non-persistent) buffers of the graph module; a call runs the generated Python
code and nothing else. The program is the same for every dtype and device: it names no dtype
(complex promotion splits a product into real and imaginary parts, zeros are ``new_zeros`` of an
input), so ``.to()`` only has to move (or recompute) the buffers. A ``GraphModule`` pickles (as its generated code), deep-copies,
is scripted by ``torch.jit.script`` and traced by ``torch.compile(fullgraph=True)`` like any module.
The program is straight-line torch calls with no Python function of ours in it (a pickled graph
module is re-traced on load). MKL's FFTs reject empty batches, so the caller handles ``Z == 0``.

The program reads flat inputs ``x1 (Z, dim1)``, ``x2 (Z, dim2)`` and ``w``: ``(weight_numel,)``, or
``(Z, weight_numel)`` for a program compiled with ``per_sample=True``.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
import torch.fx

from tpcore.contraction import Operand, PairwiseForm, pairwise_form, sizes
from tpcore.plan import Plan
from tpcore.program import CONST_PREFIX, Program, Statement, const_identifier, resolve

from .linecache_bound import forget_source_when_collected

#: The program calls tensor methods and ``torch.ops.aten`` operators only, never a Python-level
#: ``torch.*`` function: other libraries replace those (``import torch_geometric`` replaces
#: ``torch.index_select``), and a program calling the replacement no longer pickles or scripts.
aten = torch.ops.aten

#: names of the graph's buffers: ``c_`` + the plan's constant name, made an identifier
BUFFER_PREFIX = CONST_PREFIX
buffer_name = const_identifier


def compile_plan(plan: Plan, per_sample: bool, constants: torch.nn.Module) -> torch.fx.GraphModule:
    """The GraphModule of ``plan``'s program for shared (``per_sample=False``) or per-sample weights.

    ``constants`` holds the buffers named by :func:`buffer_name`, complex ones as their real view
    (``torch.view_as_real``, so that ``Module.to(dtype)`` keeps the imaginary part); the graph
    module shares those tensors.
    """
    program = resolve(plan, per_sample)
    emitter = _Emitter(program)
    for statement in program.statements:
        emitter.emit(statement)
    emitter.graph.output(emitter.values[program.output])
    fold_reshapes(emitter.graph)
    drop_whole_narrows(emitter.graph)
    split_narrows(emitter.graph)
    module = torch.fx.GraphModule(constants, emitter.graph, class_name="TensorProductProgram")
    keep_constants_out_of_state_dict(module)
    forget_source_when_collected(module)
    return module


def keep_constants_out_of_state_dict(program: torch.fx.GraphModule) -> None:
    """Mark the program's buffers non-persistent (a GraphModule re-made by pickle or deepcopy
    registers them as persistent again, so its owner calls this after unpickling too)."""
    for name in list(program._buffers):
        program.register_buffer(name, program._buffers[name], persistent=False)


#: ``node.meta`` key of a node's shape where the emitter knows it: ints, and ``("Z", n)`` for the
#: batch times ``n`` (the batch itself is ``("Z", 1)``)
SHAPE = "tpcore_shape"


def fold_reshapes(graph: torch.fx.Graph) -> None:
    """Drop the reshapes that statements and layouts stack up (a third of a batch-1 call's ops on
    fully connected layers, at about a microsecond each): a reshape of a reshape used nowhere else
    (or of an ``unflatten``) reads the first one's input, and a reshape to the shape its input
    already has is that input."""
    for node in list(graph.nodes):
        if not _is_reshape(node):
            continue
        source = node.args[0]
        while (_is_reshape(source) or _is_unflatten(source)) and len(source.users) == 1:
            node.args = (source.args[0],) + node.args[1:]
            graph.erase_node(source)
            source = node.args[0]
        if SHAPE in node.meta and source.meta.get(SHAPE) == node.meta[SHAPE]:
            node.replace_all_uses_with(source)
            graph.erase_node(node)


def drop_whole_narrows(graph: torch.fx.Graph) -> None:
    """A ``narrow`` that keeps its whole axis is its input. (Its backward would still write the
    gradient into zeros of the input's size: a fill and a copy of each such path's product, which
    ``block``'s programs narrowed once per output block.)"""
    for node in list(graph.nodes):
        if (narrow := _narrow(node)) is not None:
            source, dim, start, length, shape = narrow
            if start == 0 and isinstance(shape[dim], int) and shape[dim] == length:
                node.replace_all_uses_with(source)
                graph.erase_node(node)


def split_narrows(graph: torch.fx.Graph) -> None:
    """Disjoint ``narrow``s of one tensor along its last axis become one ``split_with_sizes``.

    The backward of a narrow writes its gradient into zeros of the whole input, and the input's
    gradients then add up: MACE's convolution at 128 channels narrows the per-edge weights once per
    path, which cost a zero-fill, a copy and an add of ``(edges, weight_numel)`` per path (a fifth
    of its forward+backward at L = 1). A split's backward is one concatenation.
    """
    groups: dict = {}
    for node in graph.nodes:
        if (narrow := _narrow(node)) is not None:
            source, dim, _, _, shape = narrow
            if isinstance(shape[-1], int) and dim in (-1, len(shape) - 1):
                groups.setdefault(source, []).append(node)
    for source, narrows in groups.items():
        spans = sorted({(n.args[2], n.args[2] + n.args[3]) for n in narrows})
        if len(narrows) < 2 or any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
            continue  # one narrow, or overlapping ones: left as they are
        bounds = sorted({0, source.meta[SHAPE][-1], *(b for span in spans for b in span)})
        with graph.inserting_after(source):
            split = graph.call_method("split_with_sizes", (source, [b - a for a, b in zip(bounds, bounds[1:])], -1))
        for node in narrows:
            with graph.inserting_before(node):
                piece = graph.call_function(operator.getitem, (split, bounds.index(node.args[2])))
            piece.meta.update(node.meta)
            node.replace_all_uses_with(piece)
            graph.erase_node(node)


def _narrow(node):
    """``(source, dim, start, length, source's shape)`` of a ``narrow`` whose input's shape is known, else None."""
    if node.op != "call_method" or node.target != "narrow":
        return None
    source, dim, start, length = node.args
    shape = source.meta.get(SHAPE) if isinstance(source, torch.fx.Node) else None
    return (source, dim, start, length, shape) if shape else None


def _is_reshape(node) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_method" and node.target == "reshape"


def _is_unflatten(node) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_method" and node.target == "unflatten"


class _Emitter:
    """Builds the graph statement by statement; ``values`` maps the program's identifiers to graph nodes."""

    def __init__(self, program: Program):
        self.program, self.per_sample = program, program.per_sample
        self.graph = torch.fx.Graph()
        g = self.graph
        x1, x2, w = g.placeholder("x1"), g.placeholder("x2"), g.placeholder("w")
        self.values: dict = {"x1": x1, "x2": x2, "w": w}
        for name, node in self.values.items():
            node.meta[SHAPE] = tuple(("Z", 1) if n is None else n for n in program.shapes[name])
        self.Z = g.call_method("size", (x1, 0))
        self._batch_multiples: dict = {}  # n -> the node Z * n
        for ident in program.consts:
            node = g.get_attr(ident)
            if ident in program.complex:
                node = g.call_function(aten.view_as_complex, (node,))
            self.values[ident] = node

    def emit(self, s: Statement) -> None:
        args = [self.values[a] for a in s.args]
        node = self.values[s.out] = getattr(self, "_" + s.kind)(s, s.p, *args)
        if isinstance(node, torch.fx.Node) and s.out in self.program.shapes:
            node.meta.setdefault(SHAPE, tuple(("Z", 1) if n is None else n for n in self.program.shapes[s.out]))

    # -- helpers --------------------------------------------------------------------------------

    def _call(self, fn, *args, **kwargs):
        return self.graph.call_function(fn, args, kwargs)

    def _method(self, name, *args):
        node = self.graph.call_method(name, args)
        if name == "reshape":
            node.meta[SHAPE] = tuple(self._static(size) for size in args[1])
        return node

    def _static(self, size):
        """A reshape size as :data:`SHAPE` records it (``Z`` and the ``Z * n`` nodes by what they are)."""
        if size is self.Z:
            return ("Z", 1)
        multiple = next((n for n, node in self._batch_multiples.items() if node is size), None)
        return size if multiple is None else ("Z", multiple)

    def _product(self, s: Statement, emit, args):
        """``emit(operands)`` for a product linear in each operand, with numpy's real->complex promotion.

        One complex operand among real ones: ``complex(fn(.., real(c), ..), fn(.., imag(c), ..))``,
        two real products instead of casting the real operands (TorchScript's autodiff of a
        real->complex cast followed by FFTs gives wrong gradients; this form has no cast).
        """
        is_complex = [name in self.program.complex for name in s.args]
        if not any(is_complex) or all(is_complex):
            return emit(list(args))
        if sum(is_complex) == 1:
            k = is_complex.index(True)
            parts = []
            for part in (aten.real, aten.imag):
                operands = list(args)
                operands[k] = self._call(part, args[k])
                parts.append(emit(operands))
            return self._call(aten.complex, *parts)
        zeros = [self._call(aten.zeros_like, a) for a in args]
        return emit([a if c else self._call(aten.complex, a, z) for a, c, z in zip(args, is_complex, zeros)])

    def _gather_last(self, x, index_name: str, index):
        """``x[..., index]`` for a constant index of any shape; a view (``narrow``) when the index is
        a run of consecutive positions (one path's weights: a gather of them cost 0.17 ms per call at
        1000 edges on MACE's convolution)."""
        shape = self.program.shapes[index_name]
        flat = np.asarray(self.program.plan.consts[self.program.consts[index_name]]).ravel()
        if flat.size and np.array_equal(flat, np.arange(flat[0], flat[0] + flat.size)):
            part = self._method("narrow", x, -1, int(flat[0]), int(flat.size))
            return part if len(shape) == 1 else self._method("unflatten", part, -1, list(shape))
        if len(shape) == 1:
            return self._method("index_select", x, -1, index)
        gathered = self._method("index_select", x, -1, self._method("reshape", index, [-1]))
        return self._method("unflatten", gathered, -1, list(shape))

    # -- one method per statement kind (see tpcore.plan) -------------------------------------------------

    def _block(self, s, p, x):
        part = self._method("narrow", x, 1, p.start, p.stop - p.start)
        return self._method("reshape", part, [self.Z, p.mul, p.dim])

    def _take(self, s, p, x, index):
        return self._gather_last(x, s.args[1], index)

    def _slice(self, s, p, x):
        return self._method("narrow", x, -1, p.start, p.stop - p.start)

    def _weights(self, s, p, w):
        shape = list(p.shape)
        part = self._method("narrow", w, -1, p.start, p.stop - p.start)
        return self._method("reshape", part, ([self.Z] if self.per_sample else []) + shape)

    def _weight_take(self, s, p, w, index):
        return self._gather_last(w, s.args[1], index)

    def _weight_fold(self, s, p, w, index, target, value):
        lead = [self.Z] if self.per_sample else []
        shape = list(p.shape)
        zeros = self._method("new_zeros", w, lead + [int(np.prod(shape))])
        terms = self._call(operator.mul, self._method("index_select", w, -1, index), value)
        return self._method("reshape", self._method("index_add", zeros, -1, target, terms), lead + shape)

    def _einsum(self, s, p, *args):
        # pairwise already (tpcore.program); laid out once as a matmul (tpcore.contraction): einsum
        # would parse its equation and plan its permutes on every call. Complex products stay
        # einsums: TorchScript's autodiff of a complex matmul of permuted operands gave wrong
        # gradients (s2grid's FFT products).
        form = pairwise_form(p.equation, [self.program.shapes[a] for a in s.args])
        if form is None or any(a in self.program.complex for a in s.args):
            return self._product(s, lambda operands: self._call(aten.einsum, p.equation, list(operands)), args)
        return self._product(s, lambda operands: self._pairwise(form, *operands), args)

    def _pairwise(self, form: PairwiseForm, a, b):
        a, b = self._lay_out(a, form.a), self._lay_out(b, form.b)
        if form.product == "matmul_transposed":
            out = self._method("matmul", b, a)
        else:
            out = self._method("matmul", a, b) if form.product == "matmul" else self._call(operator.mul, a, b)
        if form.shape is not None:
            out = self._method("reshape", out, self._sizes(form.shape))
        return out if form.perm is None else self._method("permute", out, list(form.perm))

    def _lay_out(self, x, operand: Operand):
        if operand.summed:
            x = self._method("sum", x, list(operand.summed))
        if operand.perm is not None:
            x = self._method("permute", x, list(operand.perm))
        return x if operand.shape is None else self._method("reshape", x, self._sizes(operand.shape))

    def _sizes(self, shape) -> list:
        """Reshape sizes of a :mod:`tpcore.contraction` shape, ``Z * n`` a node made once per ``n``."""
        return sizes(shape, self.Z, self._batch_times)

    def _batch_times(self, Z, n: int):
        if n not in self._batch_multiples:
            self._batch_multiples[n] = self._call(operator.mul, Z, n)
        return self._batch_multiples[n]

    def _matmul(self, s, p, x, matrix):
        return self._product(s, lambda operands: self._method("matmul", *operands), (x, matrix))

    def _mul(self, s, p, a, b):
        return self._call(operator.mul, a, b)

    def _add(self, s, p, *args):
        result = args[0]
        for a in args[1:]:
            result = self._call(operator.add, result, a)
        return result

    def _reshape(self, s, p, x):
        return self._method("reshape", x, [self.Z] + list(p.shape))

    def _zeros(self, s, p):
        return self._method("new_zeros", self.values["x1"], [self.Z, p.n])

    def _concat(self, s, p, *args):
        return args[0] if len(args) == 1 else self._call(aten.cat, list(args), -1)

    def _fft_conv2d(self, s, p, a, b):
        if not {s.args[0], s.args[1]} <= self.program.complex:
            raise ValueError(f"statement {s.out!r}: fft_conv2d expects complex operands")
        size = list(p.size)
        fa, fb = self._call(aten.fft_fft2, a, s=size), self._call(aten.fft_fft2, b, s=size)
        return self._call(aten.fft_ifft2, self._call(operator.mul, fa, fb))

    def _real(self, s, p, x):
        return self._call(aten.real, x)

    def _rfft(self, s, p, x):
        return self._call(aten.fft_rfft, x, n=p.n, dim=-1)

    def _irfft(self, s, p, x):
        return self._call(aten.fft_irfft, x, n=p.n, dim=-1)

    def _segment_sum(self, s, p, x, index):
        zeros = self._method("new_zeros", x, [self.Z, p.n])
        return self._method("index_add", zeros, 1, index, x)
