"""Lowering of a spec to a backend-neutral :class:`Plan`: float64 coefficient arrays + a short op list.

A backend executes a plan compiled once by :mod:`tpcore.program` over its array namespace and knows
nothing about irreps. The program reads ``x1 (Z, dim1)``, ``x2 (Z, dim2)`` and the weights ``w``
(``(weight_numel,)`` shared, or ``(Z, weight_numel)`` per sample) and writes ``(Z, dim_out)``;
a plan may carry a second program for per-sample weights (:meth:`Plan.program`).

Ops (``Op.kind``; ``args`` name earlier values or ``consts``; ``params`` are static):

=============  ===================================================================================
``block``      ``x[:, start:stop].reshape(Z, mul, dim)``
``take``       ``x[..., index]`` (gather on the last axis)
``slice``      ``x[..., start:stop]`` (a range of the last axis: a view where the backend has them)
``weights``    ``w[start:stop].reshape(shape)`` or, per sample, ``w[:, start:stop].reshape(Z, *shape)``
``einsum``     ``einsum(equation, *args)``; operand ``weight_arg`` gains a leading ``z`` per sample
``matmul``     ``x @ M`` with a constant ``M`` (real or complex)
``mul``        elementwise product (broadcasting)
``add``        sum of the args
``reshape``    ``x.reshape(Z, *shape)``
``zeros``      ``(Z, n)`` zeros
``concat``     concatenation on the last axis
``fft_conv2d`` linear 2D convolution of the last two axes through FFTs of size ``size``
``real``       real part
``weight_take`` ``w[index]`` or, per sample, ``w[:, index]`` (gather of weights, any index shape)
``rfft``       real FFT of length ``n`` on the last axis
``irfft``      inverse real FFT of length ``n`` on the last axis (``irfft(rfft(x)) == x``)
``segment_sum`` ``(Z, n)`` sums of the columns of ``x (Z, k)`` that share ``index[k]``
``weight_fold`` ``T.reshape(-1)[target] += w[index] * value`` into zeros of ``shape``, per sample ``(Z, *shape)``
=============  ===================================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from tpcore import cost, so3
from tpcore.cgtp_paths import MODES, channel_pairs, channel_triples, pair_count
from tpcore.coefficients import gtp_from_fourier, mtp_basis, mtp_degree
from tpcore.cost import auto_strategy, block_groups, block_merges_x2
from tpcore.descriptor import Descriptor, describe
from tpcore.irreps import channel_index
from tpcore.spec import TensorProductSpec

#: Lowering strategies per variant; the first is the default. cgtp's ``auto`` resolves per spec from
#: the shape of its descriptor (:func:`resolve_strategy`).
STRATEGIES: dict[str, tuple[str, ...]] = {
    "cgtp": ("auto", "block", "folded", "dense", "sparse", "fused"),
    "gtp": ("fft", "direct"),
    "s2grid": ("matrix", "fft"),
    "mtp": ("matmul",),
}

#: ``folded`` is refused above this many bytes of :func:`folded_bytes` (and ``auto`` never picks it
#: there): its dense matrix grows as ``dim1 * dim2 * dim_out``, 4 GB already for three
#: ``s2_irreps(4, mul=32)``. The environment variable :data:`FOLDED_MAX_BYTES_ENV` overrides it.
FOLDED_MAX_BYTES = 256 * 2**20
FOLDED_MAX_BYTES_ENV = "TPCORE_FOLDED_MAX_BYTES"

#: gtp, s2grid and mtp are refused above this many bytes of the tables they compute
#: (:func:`tpcore.cost.channelwise_tables`, growing as ``L^4``, mtp's as ``L^6``): two signals up to
#: ``L`` into one up to ``2L`` pass up to ``L = 31`` (gtp), ``L = 40`` (s2grid), ``L = 18`` (mtp).
#: The environment variable :data:`TABLES_MAX_BYTES_ENV` overrides it.
TABLES_MAX_BYTES = 2 * 2**30
TABLES_MAX_BYTES_ENV = "TPCORE_TABLES_MAX_BYTES"

#: The u<v modes read the inputs' channels gathered pair by pair (:func:`_operands`), so they are
#: the uu modes on those pairs: ``uvu<v`` is ``uuu``, ``u<vw`` is ``uuw``. In every table below
#: a ``u`` of a u<v mode is the pair index.
_CG_EQUATIONS = {
    # x1 block "zui", x2 block "zvj", coupling "ijk", weights last
    "uvw": ("zui,zvj,ijk,uvw->zwk", None),  # e3nn: uvw needs weights
    "uvu": ("zui,zvj,ijk,uv->zuk", "zui,zvj,ijk->zuk"),
    "uvv": ("zui,zvj,ijk,uv->zvk", "zui,zvj,ijk->zvk"),
    "uuw": ("zui,zuj,ijk,uw->zwk", "zui,zuj,ijk->zk"),  # unweighted: sum over u, mul_out == 1
    "uuu": ("zui,zuj,ijk,u->zuk", "zui,zuj,ijk->zuk"),
    "uvuv": ("zui,zvj,ijk,uv->zuvk", "zui,zvj,ijk->zuvk"),
    "uvu<v": ("zui,zuj,ijk,u->zuk", "zui,zuj,ijk->zuk"),
    "u<vw": ("zui,zuj,ijk,uw->zwk", None),  # e3nn: u<vw needs weights
}


@dataclass(frozen=True)
class Op:
    kind: str
    out: str
    args: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, eq=False)
class Plan:
    """A lowered spec: ``ops`` read ``x1``, ``x2``, ``w`` and ``consts`` and write ``output``.

    ``per_sample_ops``, when set, is the program to run instead when the weights are per sample
    (a strategy may be the right one for shared weights only), lowered by the strategy
    ``per_sample_strategy``; it reads the same ``consts``.
    """

    spec: TensorProductSpec
    strategy: str
    consts: Mapping[str, np.ndarray]
    ops: tuple[Op, ...]
    output: str = "out"
    per_sample_ops: tuple[Op, ...] | None = None
    per_sample_strategy: str | None = None

    def program(self, per_sample: bool) -> tuple[Op, ...]:
        """The op list for shared (or no) weights, or for per-sample weights."""
        return self.per_sample_ops if per_sample and self.per_sample_ops is not None else self.ops

    def program_strategy(self, per_sample: bool) -> str:
        """The strategy whose expansion :meth:`program` is."""
        return self.per_sample_strategy if per_sample and self.per_sample_ops is not None else self.strategy


@dataclass
class _Builder:
    consts: dict = field(default_factory=dict)
    ops: list = field(default_factory=list)
    prefix: str = ""  # of constant names, so two programs can share one ``consts``

    def const(self, name: str, value) -> str:
        value = np.asarray(value)
        value.setflags(write=False)
        self.consts[self.prefix + name] = value
        return self.prefix + name

    def op(self, kind: str, out: str, *args: str, **params) -> str:
        self.ops.append(Op(kind, out, tuple(args), tuple(sorted(params.items()))))
        return out


def check_strategy(variant: str, strategy: str | None) -> str:
    choices = STRATEGIES[variant]
    if strategy is None:
        return choices[0]
    if strategy not in choices:
        raise ValueError(f"strategy {strategy!r} is not one of the {variant} strategies: {', '.join(choices)}")
    return strategy


def resolve_strategy(spec: TensorProductSpec, strategy: str | None = None, backend: str | None = None, device: str | None = None) -> str:
    """The strategy :func:`lower` uses: ``strategy`` checked, with cgtp's ``auto`` (the default) decided.

    ``auto`` reads the descriptor's shape (:func:`tpcore.cost.auto_strategy`, which lists the rule
    and its measurements): ``folded`` for small products without weights, ``fused`` for few coupled
    terms without fully connected outputs, ``folded`` per channel for channel-wise ``uuu`` products
    (shared weights or none), ``folded`` for small weighted products with the edge harmonics, ``dense`` for MACE's convolution from 128 channels, ``block`` when the second input
    has one channel per block (edge harmonics) or no path has a fully connected output, else
    ``dense``; ``backend`` names the backend that will run it and ``device`` the type of its device
    (``"cpu"`` or ``"cuda"``), where the measured rule differs (jax takes no ``fused``; a GPU takes
    ``fused`` further, then ``folded``).
    """
    strategy = check_strategy(spec.variant, strategy)
    if strategy != "auto":
        return strategy
    return auto_strategy(describe(spec), backend, device, folded_limit=folded_max_bytes())


@lru_cache(maxsize=256)
def lower(spec: TensorProductSpec, strategy: str | None = None, device: str | None = None,
          backend: str | None = None) -> Plan:
    """The plan of ``spec`` with the given strategy (default: the variant's first, resolved).

    ``Plan.strategy`` is the strategy used (``auto`` resolved for the backend ``backend`` and the
    device type ``device``, ``"cpu"`` by default). ``folded`` cannot fold one weight vector per
    row: its plan's program for per-sample weights is the one ``auto`` picks for them there.
    """
    strategy = resolve_strategy(spec, strategy, backend=backend, device=device)
    if strategy == "folded":
        check_folded_size(spec)
    elif spec.variant != "cgtp":
        check_tables_size(spec, strategy)
    d = describe(spec)
    b = _Builder()
    per_sample_ops = per_sample_strategy = None
    if not d.paths:
        b.op("zeros", "out", n=spec.irreps_out.dim)
    elif spec.variant == "cgtp":
        _CGTP_LOWERINGS[strategy](d, b)
        if strategy == "folded" and d.weight_numel:
            per_sample = _Builder(consts=b.consts, prefix="per_sample_")
            per_sample_strategy = auto_strategy(d, backend, device, per_sample=True)
            _CGTP_LOWERINGS[per_sample_strategy](d, per_sample)
            per_sample_ops = tuple(per_sample.ops)
    else:
        _lower_channelwise(d, strategy, b)
    return Plan(spec=spec, strategy=strategy, consts=dict(b.consts), ops=tuple(b.ops), per_sample_ops=per_sample_ops,
                per_sample_strategy=per_sample_strategy)


# -- the folded strategy's memory --------------------------------------------------------------


def folded_max_bytes() -> int:
    """The limit on :func:`folded_bytes`: ``$TPCORE_FOLDED_MAX_BYTES`` if set, else :data:`FOLDED_MAX_BYTES`."""
    return _max_bytes(FOLDED_MAX_BYTES_ENV, FOLDED_MAX_BYTES)


def tables_max_bytes() -> int:
    """The limit on the channel-wise tables: ``$TPCORE_TABLES_MAX_BYTES`` if set, else :data:`TABLES_MAX_BYTES`."""
    return _max_bytes(TABLES_MAX_BYTES_ENV, TABLES_MAX_BYTES)


def _max_bytes(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{variable} must be a number of bytes such as 1e9, got {text!r}")
    return int(value)


def folded_bytes(spec: TensorProductSpec) -> int:
    """Bytes the ``folded`` strategy allocates besides the batch (:func:`tpcore.cost.folded_bytes`)."""
    return cost.folded_bytes(describe(spec))


def check_folded_size(spec: TensorProductSpec) -> None:
    """Raise (before anything is allocated) if ``folded`` would need more than :func:`folded_max_bytes`."""
    need, limit = folded_bytes(spec), folded_max_bytes()
    if need > limit:
        per_channel = describe(spec).per_channel_dims
        if per_channel is None:
            matrix = f"({spec.irreps_in1.dim}*{spec.irreps_in2.dim}, {spec.irreps_out.dim})"
        else:
            u, e1, e2, eo = per_channel
            matrix = f"({u}, {e1}*{e2}, {eo}) per-channel"
        raise ValueError(
            f"strategy 'folded' would allocate about {_bytes(need)} for this spec (a dense {matrix} matrix "
            f"and its scatter index), above the limit of {_bytes(limit)}; use another strategy ('auto' or "
            f"'block'), or raise the limit with the environment variable {FOLDED_MAX_BYTES_ENV} "
            f"(or tpcore.plan.FOLDED_MAX_BYTES)"
        )


def check_tables_size(spec: TensorProductSpec, strategy: str) -> None:
    """Raise (before anything is allocated) if a gtp, s2grid or mtp plan would compute more than
    :func:`tables_max_bytes` of tables (:func:`tpcore.cost.channelwise_tables`)."""
    tables, limit = cost.channelwise_tables(spec, strategy), tables_max_bytes()
    need = sum(tables.values())
    if need > limit:
        largest = max(tables, key=tables.get)
        raise ValueError(
            f"{spec.variant} ({strategy}) would compute about {_bytes(need)} of coefficient tables for "
            f"{spec.irreps_in1} x {spec.irreps_in2} -> {spec.irreps_out} ({_bytes(tables[largest])} for {largest}), "
            f"above the limit of {_bytes(limit)}; lower the degrees, or raise the limit with the environment "
            f"variable {TABLES_MAX_BYTES_ENV} (or tpcore.plan.TABLES_MAX_BYTES)"
        )


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


# -- cgtp -----------------------------------------------------------------------------------------


def _lower_cgtp(d: Descriptor, b: _Builder) -> None:
    """One einsum per path with its dense CG tensor, summed per output block (e3nn's way)."""
    _input_blocks(d, b)
    contributions: dict[int, list[str]] = {}
    for k, p in enumerate(d.paths):
        coupling = b.const(f"cg{k}", p.coupling.dense())
        weighted_eq, plain_eq = _CG_EQUATIONS[p.mode]
        args = [*_operands(p), coupling]
        if p.weight is not None:
            ws = p.weight
            args.append(b.op("weights", f"w{k}", "w", start=ws.start, stop=ws.stop, shape=ws.shape))
            b.op("einsum", f"path{k}", *args, equation=weighted_eq, weight_arg=3)
        else:
            b.op("einsum", f"path{k}", *args, equation=plain_eq, weight_arg=None)
        flat = b.op("reshape", f"path{k}_flat", f"path{k}", shape=(p.seg_out.mul * p.seg_out.dim,))
        contributions.setdefault(p.out, []).append(flat)

    blocks = []
    for io, segment in enumerate(d.out):
        terms = contributions.get(io)
        if terms is None:
            blocks.append(b.op("zeros", f"out_{io}", n=segment.size))
        elif len(terms) == 1:
            blocks.append(terms[0])
        else:
            blocks.append(b.op("add", f"out_{io}", *terms))
    b.op("concat", "out", *blocks)


def _input_blocks(d: Descriptor, b: _Builder, x2: bool = True) -> None:
    """``x1_<i>``/``x2_<i>`` ``(Z, mul, dim)`` views of the input blocks some path uses, and for
    the u<v modes ``x1_<i>_pairs``/``x2_<i>_pairs`` ``(Z, pairs, dim)``: the channels ``u`` of x1 and
    ``v`` of x2 of each pair ``u < v``, gathered (:func:`_operands` names them); x1's alone unless ``x2``."""
    for name, operand, which in (("x1", d.in1, 0), ("x2", d.in2, 1))[: 2 if x2 else 1]:
        used = {(p.in1, p.in2)[which] for p in d.paths if MODES[p.mode].pairing != "u<v"}
        paired = {(p.in1, p.in2)[which]: p for p in d.paths if MODES[p.mode].pairing == "u<v"}
        for i in sorted(used):
            s = operand[i]
            b.op("block", f"{name}_{i}", name, start=s.start, stop=s.stop, mul=s.mul, dim=s.dim)
        for i, p in sorted(paired.items()):
            s = operand[i]
            channels = channel_pairs(p.mode, p.seg1.mul, p.seg2.mul)[which]
            index = s.start + channels[:, None] * s.dim + np.arange(s.dim)[None, :]
            gathered = b.op("take", f"{name}_{i}_pairs_flat", name, b.const(f"{name}_{i}_pairs_index", index.ravel()))
            b.op("reshape", f"{name}_{i}_pairs", gathered, shape=(len(channels), s.dim))


def _operands(p) -> tuple[str, str]:
    """The input values a path multiplies: its blocks, or their pairs ``u < v`` for the u<v modes."""
    suffix = "_pairs" if MODES[p.mode].pairing == "u<v" else ""
    return f"x1_{p.in1}{suffix}", f"x2_{p.in2}{suffix}"


def _coupled_shape(p) -> tuple[int, ...]:
    """The channel axes of a path's coupled inputs: ``(u, v)``, or the pairs it multiplies."""
    if MODES[p.mode].pairing == "uv":
        return (p.seg1.mul, p.seg2.mul)
    return (pair_count(p.mode, p.seg1.mul, p.seg2.mul),)


def _output_targets(d: Descriptor, p, columns: np.ndarray) -> np.ndarray:
    """Output positions ``(mul_out, len(columns))`` of a path's result ``(Z, mul_out, columns)``.

    ``columns`` holds, per result column, the component (``0 .. 2l_out``) of the output irrep.
    """
    start = d.out[p.out].start
    return start + np.arange(p.seg_out.mul)[:, None] * p.seg_out.dim + columns[None, :]


def _sum_into_output(d: Descriptor, b: _Builder, pieces: list[str], targets: list[np.ndarray]) -> None:
    """``out``: the flat pieces summed into their output positions (a gather when each is hit once)."""
    flat = pieces[0] if len(pieces) == 1 else b.op("concat", "pieces", *pieces)
    index = np.concatenate([t.ravel() for t in targets]) if targets else np.zeros(0, dtype=np.int64)
    n = d.dims[2]
    if np.array_equal(index, np.arange(n)):  # already in output order
        b.op("reshape", "out", flat, shape=(n,))
    elif len(index) == n and np.array_equal(np.sort(index), np.arange(n)):
        b.op("take", "out", flat, b.const("out_index", np.argsort(index)))
    else:
        b.op("segment_sum", "out", flat, b.const("out_index", index), n=n)


#: per mode: (equation applying gathered weights ``W[..., k]`` to the coupled ``y``, without weights)
_BLOCK_WEIGHTING = {
    "uvw": ("zuvk,uvwk->zwk", None),
    "uvu": ("zuvk,uvk->zuk", "zuvk->zuk"),
    "uvv": ("zuvk,uvk->zvk", "zuvk->zvk"),
    "uvuv": ("zuvk,uvk->zuvk", None),
    "uuw": ("zuk,uwk->zwk", "zuk->zk"),
    "uuu": ("zuk,uk->zuk", None),
    "uvu<v": ("zuk,uk->zuk", None),
    "u<vw": ("zuk,uwk->zwk", None),
}


def _lower_cgtp_block(d: Descriptor, b: _Builder) -> None:
    """Paths grouped by input pair for the coupling, by output for the weights.

    Paths with the same input blocks (and mode, weighting, output multiplicity) share the coupling
    step: their CG tensors are stacked along the output axis ``k``, so the group costs one or two
    GEMMs whatever its number of paths, in the cheapest order (outer product first, or ``x2``
    first, or ``x1`` first, by FLOP count); without weights and with one channel per block of
    ``x2`` (the edge harmonics), all paths of an ``x1`` block share it, over all of ``x2``
    (:func:`tpcore.cost.block_groups`). When every group has the same channel shape (e3nn's
    fully connected and convolution layers), the coupled values of all paths into one output irrep
    are then gathered side by side and weighted and summed by one contraction per output irrep,
    which writes the output block directly. Otherwise each group is weighted on its own and put in
    place (:func:`_assemble_by_group`).
    """
    if not d.paths:
        b.op("zeros", "out", n=d.dims[2])
        return
    merged = block_merges_x2(d)
    _input_blocks(d, b, x2=not merged)
    if merged:  # every block of x2 has one channel: x2 is one (Z, 1, dim2) block, coupled by rows
        b.op("block", "x2_all", "x2", start=0, stop=d.dims[1], mul=1, dim=d.dims[1])
    coupled = []
    for g, paths in enumerate(block_groups(d)):
        C = np.concatenate([_x2_rows(d, p) if merged else p.coupling.dense() for p in paths], axis=2)
        x1, x2 = _operands(paths[0])
        coupled.append((g, paths, _couple_group(b, g, x1, "x2_all" if merged else x2, _coupled_shape(paths[0]), C)))
    if _weights_by_output(d):
        _assemble_by_output(d, b, coupled)
    else:
        _assemble_by_group(d, b, coupled)


def _x2_rows(d: Descriptor, p) -> np.ndarray:
    """``p``'s coupling ``(d1, dim2, d_out)`` over all of x2's rows (its own block's, the rest zeros)."""
    C = np.zeros((p.seg1.dim, d.dims[1], p.seg_out.dim))
    C[:, p.seg2.start : p.seg2.start + p.seg2.dim] = p.coupling.dense()
    return C


def _weights_by_output(d: Descriptor) -> bool:
    """Whether the output-wise weighting applies and pays: uniform channels, some summing to do."""
    shapes = {_coupled_shape(p) for p in d.paths}
    by_output: dict[int, set] = {}
    for p in d.paths:
        by_output.setdefault(p.out, set()).add((p.mode, p.weight is not None))
    summing = any(p.weight is not None for p in d.paths) or len(by_output) < len(d.paths)
    return len(shapes) == 1 and all(len(kinds) == 1 for kinds in by_output.values()) and summing


#: per mode: (contraction of the paths' weights with the gathered ``Y (z, u[, v], path, k)``, without
#: weights). The weights come first: XLA lays the dot out without transposing ``Y`` then (3.5x
#: faster on CPU for e3nn's fully connected layer at L = 6).
_BY_OUTPUT_WEIGHTING = {
    "uvw": ("puvw,zuvpk->zwk", None),
    "uvu": ("puv,zuvpk->zuk", "zuvpk->zuk"),
    "uvv": ("puv,zuvpk->zvk", "zuvpk->zvk"),
    "uvuv": ("puv,zuvpk->zuvk", "zuvpk->zuvk"),
    "uuw": ("puw,zupk->zwk", "zupk->zk"),
    "uuu": ("pu,zupk->zuk", "zupk->zuk"),
    "uvu<v": ("pu,zupk->zuk", "zupk->zuk"),
    "u<vw": ("puw,zupk->zwk", None),
}


def _assemble_by_output(d: Descriptor, b: _Builder, coupled) -> None:
    where: dict[int, tuple[str, int]] = {}  # path id -> (its group's coupled value, its first column there)
    for _, paths, y in coupled:
        start = 0
        for p in paths:
            where[id(p)] = (y, start)
            start += p.seg_out.dim
    blocks = []
    for io, segment in enumerate(d.out):
        paths = [p for p in d.paths if p.out == io]
        if not paths:
            blocks.append(b.op("zeros", f"out_{io}", n=segment.size))
            continue
        dim = segment.dim
        pieces = []
        for n, p in enumerate(paths):
            y, start = where[id(p)]
            pieces.append(b.op("slice", f"Y{io}_{n}", y, start=start, stop=start + dim))  # a view: no gather
        Y = pieces[0] if len(pieces) == 1 else b.op("concat", f"Y{io}_cat", *pieces)
        p0 = paths[0]
        Y = b.op("reshape", f"Y{io}", Y, shape=_coupled_shape(p0) + (len(paths), dim))
        weighted_eq, plain_eq = _BY_OUTPUT_WEIGHTING[p0.mode]
        if p0.weight is not None:
            w_index = np.stack([p.weight.index() for p in paths])
            W = b.op("weight_take", f"W{io}", "w", b.const(f"W{io}_index", w_index))
            r = b.op("einsum", f"r{io}", W, Y, equation=weighted_eq, weight_arg=0)
        else:
            r = b.op("einsum", f"r{io}", Y, equation=plain_eq, weight_arg=None)
        blocks.append(b.op("reshape", f"out_{io}", r, shape=(segment.size,)))
    b.op("concat", "out", *blocks)


def _assemble_by_group(d: Descriptor, b: _Builder, coupled) -> None:
    """Each group weighted on its own, then its paths' results put in place: where no two paths share
    an output block, each path's columns are a slice of its group's result and the output their
    concatenation (slices transpose to pads, where a permuting gather transposes to a scatter-add,
    the slowest op of a backward pass on a CPU); else one gather or segment sum of all columns."""
    weighted = []
    for g, paths, y in coupled:
        p0 = paths[0]
        weighted_eq, plain_eq = _BLOCK_WEIGHTING[p0.mode]
        if p0.weight is not None:
            index = np.concatenate([_weight_index(p) for p in paths], axis=-1)
            W = b.op("weight_take", f"W{g}", "w", b.const(f"W{g}_index", index))
            y = b.op("einsum", f"r{g}", y, W, equation=weighted_eq, weight_arg=1)
        elif plain_eq is not None:
            y = b.op("einsum", f"r{g}", y, equation=plain_eq, weight_arg=None)
        weighted.append((g, paths, y))
    if len({p.out for p in d.paths}) == len(d.paths):
        _concat_by_output(d, b, weighted)
        return
    pieces, targets = [], []
    for g, paths, y in weighted:
        p0 = paths[0]
        K = sum(p.seg_out.dim for p in paths)
        pieces.append(b.op("reshape", f"r{g}_flat", y, shape=(p0.seg_out.mul * K,)))
        columns = np.concatenate([np.arange(p.seg_out.dim) for p in paths])
        offsets = np.cumsum([0] + [p.seg_out.dim for p in paths])
        targets.append(np.concatenate(
            [_output_targets(d, p, columns[o : o + p.seg_out.dim]) for p, o in zip(paths, offsets)], axis=1
        ))
    _sum_into_output(d, b, pieces, targets)


def _concat_by_output(d: Descriptor, b: _Builder, weighted) -> None:
    """``out``: per output block, the columns of the one path into it, sliced from its group's
    ``(Z, channels, K)`` result (blocks no path reaches are zeros)."""
    blocks: dict[int, str] = {}
    for g, paths, y in weighted:
        start = 0
        for p in paths:
            dim = p.seg_out.dim
            piece = y if len(paths) == 1 else b.op("slice", f"r{g}_{p.out}", y, start=start, stop=start + dim)
            blocks[p.out] = b.op("reshape", f"out_{p.out}", piece, shape=(d.out[p.out].size,))
            start += dim
    b.op("concat", "out", *(blocks.get(io) or b.op("zeros", f"out_{io}", n=s.size) for io, s in enumerate(d.out)))


def _couple_group(b: _Builder, g: int, x1: str, x2: str, channels: tuple[int, ...], C: np.ndarray) -> str:
    """``y (Z, u, v, K)`` (``(Z, u, K)`` for one channel axis, paired inputs): the inputs coupled by
    ``C (d1, d2, K)``."""
    d1, d2, K = C.shape
    if len(channels) == 1:
        outer = b.op("einsum", f"o{g}", x1, x2, equation="zui,zuj->zuij", weight_arg=None)
        flat = b.op("reshape", f"o{g}_flat", outer, shape=(channels[0], d1 * d2))
        return b.op("matmul", f"y{g}", flat, b.const(f"C{g}", C.reshape(d1 * d2, K)))
    u, v = channels
    costs = {
        "outer": u * v * d1 * d2 * (1 + K),
        "x2": v * d2 * d1 * K + u * v * d1 * K,
        "x1": u * d1 * d2 * K + u * v * d2 * K,
    }
    order = min(costs, key=lambda k: (costs[k], k != "outer"))
    if order == "outer":
        outer = b.op("einsum", f"o{g}", x1, x2, equation="zui,zvj->zuvij", weight_arg=None)
        flat = b.op("reshape", f"o{g}_flat", outer, shape=(u, v, d1 * d2))
        return b.op("matmul", f"y{g}", flat, b.const(f"C{g}", C.reshape(d1 * d2, K)))
    if order == "x2":
        t = b.op("matmul", f"t{g}", x2, b.const(f"C{g}", C.transpose(1, 0, 2).reshape(d2, d1 * K)))
        t = b.op("reshape", f"t{g}_split", t, shape=(v, d1, K))
        return b.op("einsum", f"y{g}", x1, t, equation="zui,zvik->zuvk", weight_arg=None)
    t = b.op("matmul", f"t{g}", x1, b.const(f"C{g}", C.reshape(d1, d2 * K)))
    t = b.op("reshape", f"t{g}_split", t, shape=(u, d2, K))
    return b.op("einsum", f"y{g}", t, x2, equation="zujk,zvj->zuvk", weight_arg=None)


def _weight_index(p) -> np.ndarray:
    """Flat weight positions of the path, shaped ``weight_shape + (dim_out,)`` (repeated along ``k``)."""
    return np.broadcast_to(p.weight.index()[..., None], p.weight.shape + (p.seg_out.dim,))


def _path_channels(p) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per channel triple of the path: ``(u, v, out channel, flat weight index or -1)``."""
    u, v, out, local = channel_triples(p.mode, p.seg1.mul, p.seg2.mul, p.seg_out.mul)
    index = p.weight.start + local if p.weight is not None else np.full(len(u), -1)
    return u, v, out, index


def _lower_cgtp_folded(d: Descriptor, b: _Builder) -> None:
    """The weights folded into one dense coupling matrix per call: ``out = (x1 (x) x2) @ T(w)``.

    ``T (dim1 dim2, dim_out)`` holds every path's CG entries times its weights at their places
    (a scatter of the weights, rebuilt on each call); paths without weights form a constant part.
    Two large contractions in all, whatever the number of paths: the cheapest choice when ``T`` is
    small (low ``L``), where the many small per-sample contractions of the other strategies cost
    more than the extra arithmetic.
    """
    d1, d2, n = d.dims
    if not d.paths:
        b.op("zeros", "out", n=n)
        return
    if d.per_channel_dims is not None:
        _lower_cgtp_folded_per_channel(d, b)
        return
    index, target, value = [], [], []
    for p in d.paths:
        c = p.coupling
        u, v, out, w = (a[:, None] for a in _path_channels(p))
        row = p.seg1.start + u * p.seg1.dim + c.i
        col = p.seg2.start + v * p.seg2.dim + c.j
        target.append(((row * d2 + col) * n + p.seg_out.start + out * p.seg_out.dim + c.k).ravel())
        value.append(np.broadcast_to(c.values, row.shape).ravel())
        index.append(np.broadcast_to(w, row.shape).ravel())
    U = b.op("reshape", "U", b.op("einsum", "outer", "x1", "x2", equation="zi,zj->zij", weight_arg=None), shape=(d1 * d2,))
    T, weighted = _fold_weights(b, "T", index, target, value, shape=(d1 * d2, n))
    b.op("einsum", "out", U, T, equation="zq,qk->zk", weight_arg=1 if weighted else None)


def _fold_weights(b: _Builder, name: str, index: list, target: list, value: list, shape: tuple) -> tuple[str, bool]:
    """``(T, weighted)``: ``folded``'s matrix of ``shape``, the weights ``w[index]`` times ``value``
    scattered to the flat positions ``target`` on each call (``index`` -1: a path without weights,
    whose entries form the constant part ``<name>0``); ``weighted``: whether ``T`` reads ``w``."""
    index, target, value = np.concatenate(index), np.concatenate(target), np.concatenate(value)
    weighted = index >= 0
    T = None
    if weighted.any():
        T = b.op("weight_fold", name, "w", b.const(f"{name}_index", index[weighted]), b.const(f"{name}_target", target[weighted]),
                 b.const(f"{name}_value", value[weighted]), shape=shape)
    if not weighted.all():
        T0 = np.zeros(int(np.prod(shape)))
        np.add.at(T0, target[~weighted], value[~weighted])
        T0 = b.const(f"{name}0", T0.reshape(shape))
        T = T0 if T is None else b.op("add", f"{name}_all", T, T0)
    return T, bool(weighted.any())


def _channel_layout(segs) -> np.ndarray:
    """``(u, e)``: the flat position of channel ``c``'s component ``m`` (``m`` over the segments in order)."""
    return np.concatenate([s.start + np.arange(s.mul)[:, None] * s.dim + np.arange(s.dim) for s in segs], axis=1)


def _lower_cgtp_folded_per_channel(d: Descriptor, b: _Builder) -> None:
    """``folded`` for a product made of ``uuu`` paths on one multiplicity (:attr:`Descriptor.per_channel_dims`):
    the same product in every channel, folded per channel. ``T (u, e1 e2, e_out)`` instead of the
    dense ``(u e1 u e2, u e_out)``, which is ``u^3`` times larger and zero off the channel diagonal;
    ``out[z, c] = (x1[z, c] (x) x2[z, c]) @ T[c]``, one batched GEMM over the channels.
    """
    u, e1, e2, eo = d.per_channel_dims
    starts = {name: np.cumsum([0] + [s.dim for s in segs])[:-1] for name, segs in (("1", d.in1), ("2", d.in2), ("o", d.out))}
    index, target, value = [], [], []
    for p in d.paths:
        c = p.coupling
        channel, _, _, w = (a[:, None] for a in _path_channels(p))
        i = starts["1"][p.in1] + c.i
        j = starts["2"][p.in2] + c.j
        k = starts["o"][p.out] + c.k
        target.append((((channel * e1 + i) * e2 + j) * eo + k).ravel())
        value.append(np.broadcast_to(c.values, (len(channel), c.nnz)).ravel())
        index.append(np.broadcast_to(w, (len(channel), c.nnz)).ravel())
    a = b.op("reshape", "x1_channels", b.op("take", "x1_by_channel", "x1", b.const("x1_channel_index", _channel_layout(d.in1).ravel())),
             shape=(u, e1))
    c = b.op("reshape", "x2_channels", b.op("take", "x2_by_channel", "x2", b.const("x2_channel_index", _channel_layout(d.in2).ravel())),
             shape=(u, e2))
    U = b.op("reshape", "U", b.op("einsum", "outer", a, c, equation="zui,zuj->zuij", weight_arg=None), shape=(u, e1 * e2))
    T, weighted = _fold_weights(b, "Tc", index, target, value, shape=(u, e1 * e2, eo))
    r = b.op("einsum", "out_channels", U, T, equation="zuq,uqk->zuk", weight_arg=1 if weighted else None)
    flat = b.op("reshape", "out_by_channel", r, shape=(u * eo,))
    b.op("take", "out", flat, b.const("out_index", np.argsort(_channel_layout(d.out).ravel())))


#: per mode: (equation on the gathered nonzeros with weights, without weights)
_SPARSE_EQUATIONS = {
    "uvw": ("zun,zvn,n,uvw->zwn", None),
    "uvu": ("zun,zvn,n,uv->zun", "zun,zvn,n->zun"),
    "uvv": ("zun,zvn,n,uv->zvn", "zun,zvn,n->zvn"),
    "uvuv": ("zun,zvn,n,uv->zuvn", "zun,zvn,n->zuvn"),
    "uuw": ("zun,zun,n,uw->zwn", "zun,zun,n->zn"),
    "uuu": ("zun,zun,n,u->zun", "zun,zun,n->zun"),
    "uvu<v": ("zun,zun,n,u->zun", "zun,zun,n->zun"),
    "u<vw": ("zun,zun,n,uw->zwn", None),
}


def _lower_cgtp_sparse(d: Descriptor, b: _Builder) -> None:
    """Only the nonzero CG entries: gather ``x1[i]``, ``x2[j]`` per entry, multiply, sum into ``k``.

    Costs ``O(nonzeros)`` per channel pair instead of ``O(dim1 dim2 dim_out)``, at the price of
    gathers; the CG selection rules make the nonzeros ``O(L^5)`` of the dense ``O(L^6)``.
    """
    if not d.paths:
        b.op("zeros", "out", n=d.dims[2])
        return
    _input_blocks(d, b)
    pieces, targets = [], []
    for n, p in enumerate(d.paths):
        cg = p.coupling
        x1, x2 = _operands(p)
        a = b.op("take", f"a{n}", x1, b.const(f"I{n}", cg.i))
        c = b.op("take", f"c{n}", x2, b.const(f"J{n}", cg.j))
        args = [a, c, b.const(f"cg{n}", cg.values)]
        weighted_eq, plain_eq = _SPARSE_EQUATIONS[p.mode]
        if p.weight is not None:
            ws = p.weight
            args.append(b.op("weights", f"w{n}", "w", start=ws.start, stop=ws.stop, shape=ws.shape))
            r = b.op("einsum", f"r{n}", *args, equation=weighted_eq, weight_arg=3)
        else:
            r = b.op("einsum", f"r{n}", *args, equation=plain_eq, weight_arg=None)
        pieces.append(b.op("reshape", f"r{n}_flat", r, shape=(p.seg_out.mul * cg.nnz,)))
        targets.append(_output_targets(d, p, cg.k))
    _sum_into_output(d, b, pieces, targets)


def fused_entries(d: Descriptor) -> dict[str, np.ndarray]:
    """The terms of the ``fused`` strategy: one per nonzero coupling entry and channel triple of every path.

    ``out[:, k] += value * w[weight] * x1[:, i1] * x2[:, i2]`` (``weight == -1``: no weight); weighted
    terms first, each part sorted by output position.
    """
    parts = []
    for p in d.paths:
        c = p.coupling
        u, v, o, w = (a[:, None] for a in _path_channels(p))
        shape = (len(u), c.nnz)
        parts.append({
            "i1": np.broadcast_to(p.seg1.start + u * p.seg1.dim + c.i, shape).ravel(),
            "i2": np.broadcast_to(p.seg2.start + v * p.seg2.dim + c.j, shape).ravel(),
            "k": np.broadcast_to(p.seg_out.start + o * p.seg_out.dim + c.k, shape).ravel(),
            "weight": np.broadcast_to(w, shape).ravel(),
            "value": np.broadcast_to(c.values, shape).ravel(),
        })
    terms = {key: np.concatenate([part[key] for part in parts]) for key in ("i1", "i2", "k", "weight", "value")}
    order = np.lexsort((terms["k"], terms["weight"] < 0))
    return {key: value[order] for key, value in terms.items()}


def _lower_cgtp_fused(d: Descriptor, b: _Builder) -> None:
    """Every path at once: gather both inputs' coupled entries, multiply, scatter-add into the output.

    A handful of ops whatever the number of paths (two gathers, the products, the weights, one
    segment sum), at ``O(terms)`` work per row: the cheapest where per-op overhead dominates, with
    few channels coupled per path (``uuu``, ``uvu`` with the edge harmonics, small ``L``).
    """
    t = fused_entries(d)
    weighted = int(np.count_nonzero(t["weight"] >= 0))
    a = b.op("take", "a", "x1", b.const("fused_i1", t["i1"]))
    c = b.op("take", "c", "x2", b.const("fused_i2", t["i2"]))
    terms = b.op("mul", "ac", a, c)
    values = b.const("fused_value", t["value"])
    n = len(t["weight"])
    if weighted:
        W = b.op("weight_take", "W", "w", b.const("fused_weight", t["weight"][:weighted]))
        if weighted == n:
            terms = b.op("mul", "acW", terms, W)
        else:  # the weighted terms come first; the rest keep their products
            head = b.op("mul", "acW", b.op("slice", "ac_weighted", terms, start=0, stop=weighted), W)
            terms = b.op("concat", "acW_all", head, b.op("slice", "ac_plain", terms, start=weighted, stop=n))
    b.op("segment_sum", "out", b.op("mul", "terms", terms, values), b.const("fused_k", t["k"]), n=d.dims[2])


_CGTP_LOWERINGS = {"block": _lower_cgtp_block, "folded": _lower_cgtp_folded, "dense": _lower_cgtp,
                   "sparse": _lower_cgtp_sparse, "fused": _lower_cgtp_fused}  # fmt: skip


# -- channel-wise variants ----------------------------------------------------------------------


def _degree_index(irreps) -> np.ndarray:
    return np.concatenate([np.full(ir.dim, i, dtype=np.int64) for i, (_, ir) in enumerate(irreps)])


def _sh_rows(irreps) -> np.ndarray:
    """Rows of the ``0..lmax`` SH layout used by ``irreps`` (a signal may skip degrees)."""
    return np.concatenate([ir.l**2 + np.arange(ir.dim) for _, ir in irreps])


def _lower_channelwise(d: Descriptor, strategy: str, b: _Builder) -> None:
    spec = d.spec
    C = spec.channels
    d1 = sum(ir.dim for _, ir in spec.irreps_in1)
    d2 = sum(ir.dim for _, ir in spec.irreps_in2)
    dout = sum(ir.dim for _, ir in spec.irreps_out)
    n1, n2, nout = len(spec.irreps_in1), len(spec.irreps_in2), len(spec.irreps_out)

    xs = []
    for name, irreps, d, start, n in (
        ("x1", spec.irreps_in1, d1, 0, n1),
        ("x2", spec.irreps_in2, d2, C * n1, n2),
    ):
        b.const(f"{name}_index", channel_index(irreps))
        x = b.op("reshape", f"{name}c", b.op("take", f"{name}_ch", name, f"{name}_index"), shape=(C, d))
        if spec.weighted:
            x = _scale_by_degree(b, x, irreps, start, C, n, name)
        xs.append(x)

    out = {"s2grid": _lower_s2grid, "gtp": _lower_gtp, "mtp": _lower_mtp}[spec.variant](spec, strategy, b, *xs)
    if spec.weighted:
        out = _scale_by_degree(b, out, spec.irreps_out, C * (n1 + n2), C, nout, "out")
    flat = b.op("reshape", "out_channels", out, shape=(C * dout,))
    order = np.argsort(channel_index(spec.irreps_out))
    b.op("take", "out", flat, b.const("out_index", order))


def _scale_by_degree(b: _Builder, x: str, irreps, start: int, C: int, n: int, name: str) -> str:
    w = b.op("weights", f"w_{name}", "w", start=start, stop=start + C * n, shape=(C, n))
    w_full = b.op("take", f"w_{name}_full", w, b.const(f"{name}_degree_index", _degree_index(irreps)))
    return b.op("mul", f"{x}_weighted", x, w_full)


def _lower_s2grid(spec, strategy, b, x1c, x2c) -> str:
    degree = spec.irreps_in1.lmax + spec.irreps_in2.lmax + spec.irreps_out.lmax
    if strategy == "fft":
        return _lower_s2grid_fft(spec, b, x1c, x2c, *so3.s2_grid_for_degree(degree))
    _, _, points, weights = so3.s2_grid(*so3.s2_grid_for_degree(degree))
    points, weights = points.reshape(-1, 3), weights.reshape(-1)

    def values(irreps):
        return so3.spherical_harmonics([ir.l for _, ir in irreps], points)  # (G, dim)

    f1 = b.op("matmul", "f1", x1c, b.const("to_grid1", values(spec.irreps_in1).T))
    f2 = b.op("matmul", "f2", x2c, b.const("to_grid2", values(spec.irreps_in2).T))
    product = b.op("mul", "f12", f1, f2)
    projection = values(spec.irreps_out) * weights[:, None] / (4 * np.pi)
    return b.op("matmul", "out_c", product, b.const("from_grid", projection))


def _azimuthal_slots(irreps, res_beta: int, res_alpha: int):
    """The SH of ``irreps`` on the grid, split by azimuthal frequency ``|m|``.

    Returns ``(Yhat, slots)``: ``Yhat (dim, res_beta, M + 1)``, the rfft in alpha of each SH column
    on each beta ring (only the column's own ``|m|`` is nonzero), and ``slots (M + 1, S)``, per
    frequency the columns with that ``|m|`` padded with ``-1`` to a common width ``S``.
    """
    _, _, points, _ = so3.s2_grid(res_beta, res_alpha)
    Y = so3.spherical_harmonics([ir.l for _, ir in irreps], points.reshape(-1, 3)).reshape(res_beta, res_alpha, -1)
    M = irreps.lmax
    Yhat = np.fft.rfft(Y, axis=1)[:, : M + 1].transpose(2, 0, 1)  # (dim, beta, m)
    freq = np.abs(Yhat).max(axis=1).argmax(axis=1)
    columns = [np.nonzero(freq == m)[0] for m in range(M + 1)]
    S = max(len(c) for c in columns)
    slots = np.full((M + 1, S), -1)
    for m, c in enumerate(columns):
        slots[m, : len(c)] = c
    return Yhat, slots


def _lower_s2grid_fft(spec, b, x1c, x2c, res_beta: int, res_alpha: int) -> str:
    """S2-grid product with the alpha direction in Fourier space: ``O(L^3)`` per channel.

    An SH column of azimuthal order ``|m|`` is ``P(beta) e^{+-i m alpha}`` on a ring, so the
    transform to the grid splits into one small ``(l -> beta)`` contraction per ``|m|`` (the columns
    gathered into ``slots``) followed by an inverse real FFT in alpha; the projection back is an
    rfft in alpha, then one ``(beta -> l)`` contraction per ``|m|`` (Parseval on each ring).
    """
    _, _, _, grid_weights = so3.s2_grid(res_beta, res_alpha)
    C = spec.channels
    fs = []
    for k, (x, irreps) in enumerate(((x1c, spec.irreps_in1), (x2c, spec.irreps_in2)), start=1):
        Yhat, slots = _azimuthal_slots(irreps, res_beta, res_alpha)
        M1, S = slots.shape
        valid = slots >= 0
        gathered = b.op("take", f"x{k}_slots", x, b.const(f"slots{k}", np.where(valid, slots, 0).ravel()))
        masked = b.op("mul", f"x{k}_masked", gathered, b.const(f"mask{k}", valid.ravel().astype(np.float64)))
        X = b.op("reshape", f"X{k}", masked, shape=(C, M1, S))
        # P[m, s, beta] = Yhat[slots[m, s], beta, m]: the ring coefficients of each gathered column
        P = np.zeros((M1, S, res_beta), dtype=complex)
        for m in range(M1):
            for s in range(S):
                if valid[m, s]:
                    P[m, s] = Yhat[slots[m, s], :, m]
        F = b.op("einsum", f"F{k}", X, b.const(f"rings{k}", P), equation="zcms,msb->zcbm", weight_arg=None)
        fs.append(b.op("irfft", f"f{k}", F, n=res_alpha))
    product = b.op("mul", "f12", *fs)
    G = b.op("rfft", "G", product, n=res_alpha)
    Yhat, slots = _azimuthal_slots(spec.irreps_out, res_beta, res_alpha)
    M1, S = slots.shape
    G = b.op("take", "G_low", G, b.const("low_frequencies", np.arange(M1)))
    # sum_a f_a Y_a = (1/n) sum over all frequencies F_m conj(Yhat_m): m > 0 counts twice (rfft keeps half)
    twice = np.where(np.arange(M1) == 0, 1.0, 2.0)
    scale = grid_weights[:, 0] / (4 * np.pi) / res_alpha  # weights[beta, alpha] = w_beta * 2 pi / res_alpha
    Q = np.zeros((res_beta, M1, S), dtype=complex)
    for m in range(M1):
        for s in range(S):
            if slots[m, s] >= 0:
                Q[:, m, s] = scale * twice[m] * np.conj(Yhat[slots[m, s], :, m])
    R = b.op("einsum", "R", G, b.const("rings_out", Q), equation="zcbm,bms->zcms", weight_arg=None)
    R = b.op("reshape", "R_flat", b.op("real", "R_real", R), shape=(C, M1 * S))
    flat_slots = slots.ravel()
    order = np.array([np.nonzero(flat_slots == col)[0][0] for col in range(spec.irreps_out.dim // C)])
    return b.op("take", "out_c", R, b.const("from_slots", order))


def _lower_gtp(spec, strategy, b, x1c, x2c) -> str:
    C = spec.channels
    L1, L2 = spec.irreps_in1.lmax, spec.irreps_in2.lmax
    s1, s2, N = 2 * L1 + 1, 2 * L2 + 1, 2 * (L1 + L2) + 1
    A1 = so3.sh_to_fourier(L1)[_sh_rows(spec.irreps_in1)].reshape(-1, s1 * s1)
    A2 = so3.sh_to_fourier(L2)[_sh_rows(spec.irreps_in2)].reshape(-1, s2 * s2)
    F1 = b.op("reshape", "F1", b.op("matmul", "F1_flat", x1c, b.const("to_fourier1", A1)), shape=(C, s1, s1))
    F2 = b.op("reshape", "F2", b.op("matmul", "F2_flat", x2c, b.const("to_fourier2", A2)), shape=(C, s2, s2))
    if strategy == "fft":
        H = b.op("fft_conv2d", "H", F1, F2, size=(N, N))
    else:
        shift = np.zeros((s1, s2, N))
        for a in range(s1):
            shift[a, np.arange(s2), a + np.arange(s2)] = 1.0
        S = b.const("shift", shift)
        T = b.op("einsum", "T", F1, S, equation="zcab,adU->zcbdU", weight_arg=None)
        T2 = b.op("einsum", "T2", T, F2, equation="zcbdU,zcde->zcUbe", weight_arg=None)
        H = b.op("einsum", "H", T2, S, equation="zcUbe,beV->zcUV", weight_arg=None)
    kept, M = gtp_from_fourier(L1 + L2, tuple(ir.l for _, ir in spec.irreps_out))
    H_flat = b.op("reshape", "H_flat", H, shape=(C, N * N))
    H_kept = b.op("take", "H_kept", H_flat, b.const("half_spectrum", kept))
    return b.op("real", "out_c", b.op("matmul", "out_c_complex", H_kept, b.const("from_fourier", M)))


def _lower_mtp(spec, strategy, b, x1c, x2c) -> str:
    C = spec.channels
    lt = mtp_degree(spec.irreps_in1.lmax, spec.irreps_in2.lmax)
    n = (lt + 1) ** 2
    matrices = []
    for k, (x, irreps) in enumerate(((x1c, spec.irreps_in1), (x2c, spec.irreps_in2)), start=1):
        B = mtp_basis(lt, tuple(ir.l for _, ir in irreps), spec.irrep_normalization)
        embed = b.const(f"to_matrix{k}", B.reshape(n * n, -1).T)
        matrices.append(b.op("reshape", f"X{k}", b.op("matmul", f"X{k}_flat", x, embed), shape=(C, n, n)))
    X3 = b.op("einsum", "X3", *matrices, equation="zcab,zcbd->zcad", weight_arg=None)
    B3 = mtp_basis(lt, tuple(ir.l for _, ir in spec.irreps_out), spec.irrep_normalization)
    X3_flat = b.op("reshape", "X3_flat", X3, shape=(C, n * n))
    return b.op("matmul", "out_c", X3_flat, b.const("from_matrix", B3.reshape(n * n, -1)))
