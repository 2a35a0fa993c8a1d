"""Lowering of a spec to a backend-neutral :class:`Plan`: float64 coefficient arrays + a short op list.

A backend executes a plan with :func:`tpcore.execute.run_plan` over its array namespace and knows
nothing about irreps. The program reads ``x1 (Z, dim1)``, ``x2 (Z, dim2)`` and the weights ``w``
(``(weight_numel,)`` shared, or ``(Z, weight_numel)`` per sample) and writes ``(Z, dim_out)``.

Ops (``Op.kind``; ``args`` name earlier values or ``consts``; ``params`` are static):

=============  ===================================================================================
``block``      ``x[:, start:stop].reshape(Z, mul, dim)``
``take``       ``x[..., index]`` (gather on the last axis)
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
=============  ===================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from tpcore import so3
from tpcore.coefficients import mtp_basis, mtp_degree
from tpcore.spec import TensorProductSpec

#: Lowering strategies per variant; the first is the default.
STRATEGIES: dict[str, tuple[str, ...]] = {
    "cgtp": ("dense",),
    "gtp": ("fft", "direct"),
    "s2grid": ("matrix",),
    "mtp": ("matmul",),
}

_CG_EQUATIONS = {
    # x1 block "zui", x2 block "zvj", coupling "ijk", weights last
    "uvw": ("zui,zvj,ijk,uvw->zwk", None),  # e3nn: uvw needs weights
    "uvu": ("zui,zvj,ijk,uv->zuk", "zui,zvj,ijk->zuk"),
    "uuw": ("zui,zuj,ijk,uw->zwk", "zui,zuj,ijk->zk"),  # unweighted: sum over u, mul_out == 1
    "uuu": ("zui,zuj,ijk,u->zuk", "zui,zuj,ijk->zuk"),
    "uvuv": ("zui,zvj,ijk,uv->zuvk", "zui,zvj,ijk->zuvk"),
}


@dataclass(frozen=True)
class Op:
    kind: str
    out: str
    args: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True, eq=False)
class Plan:
    spec: TensorProductSpec
    strategy: str
    consts: Mapping[str, np.ndarray]
    ops: tuple[Op, ...]
    output: str = "out"


@dataclass
class _Builder:
    consts: dict = field(default_factory=dict)
    ops: list = field(default_factory=list)

    def const(self, name: str, value) -> str:
        value = np.asarray(value)
        value.setflags(write=False)
        self.consts[name] = value
        return name

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


@lru_cache(maxsize=256)
def lower(spec: TensorProductSpec, strategy: str | None = None) -> Plan:
    """The plan of ``spec`` with the given strategy (default: the variant's first)."""
    strategy = check_strategy(spec.variant, strategy)
    b = _Builder()
    if spec.variant == "cgtp":
        _lower_cgtp(spec, b)
    else:
        _lower_channelwise(spec, strategy, b)
    return Plan(spec=spec, strategy=strategy, consts=dict(b.consts), ops=tuple(b.ops))


# -- cgtp -----------------------------------------------------------------------------------------


def _lower_cgtp(spec: TensorProductSpec, b: _Builder) -> None:
    for name, irreps, used in (
        ("x1", spec.irreps_in1, {p.i_in1 for p in spec.paths}),
        ("x2", spec.irreps_in2, {p.i_in2 for p in spec.paths}),
    ):
        for i in sorted(used):
            s = irreps.slices()[i]
            b.op("block", f"{name}_{i}", name, start=s.start, stop=s.stop, mul=irreps[i].mul, dim=irreps[i].ir.dim)

    contributions: dict[int, list[str]] = {}
    for k, p in enumerate(spec.paths):
        coupling = b.const(f"cg{k}", p.normalization * so3.wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l))
        weighted_eq, plain_eq = _CG_EQUATIONS[p.mode]
        args = [f"x1_{p.i_in1}", f"x2_{p.i_in2}", coupling]
        if p.has_weight:
            ws = p.weight_slice
            args.append(b.op("weights", f"w{k}", "w", start=ws.start, stop=ws.stop, shape=p.weight_shape))
            b.op("einsum", f"path{k}", *args, equation=weighted_eq, weight_arg=3)
        else:
            b.op("einsum", f"path{k}", *args, equation=plain_eq, weight_arg=None)
        flat = b.op("reshape", f"path{k}_flat", f"path{k}", shape=(p.mul_out * p.ir_out.dim,))
        contributions.setdefault(p.i_out, []).append(flat)

    blocks = []
    for io, mul_ir in enumerate(spec.irreps_out):
        terms = contributions.get(io)
        if terms is None:
            blocks.append(b.op("zeros", f"out_{io}", n=mul_ir.dim))
        elif len(terms) == 1:
            blocks.append(terms[0])
        else:
            blocks.append(b.op("add", f"out_{io}", *terms))
    b.op("concat", "out", *blocks)


# -- channel-wise variants ----------------------------------------------------------------------


def channel_index(irreps) -> np.ndarray:
    """Gather index from e3nn's layout (blocks ``[C, 2l+1]``) to channel-major ``[C, sum(2l+1)]``."""
    C = irreps[0].mul
    per_channel = sum(ir.dim for _, ir in irreps)
    index = np.empty(C * per_channel, dtype=np.int64)
    offset = 0
    for (mul, ir), s in zip(irreps, irreps.slices()):
        for c in range(C):
            index[c * per_channel + offset : c * per_channel + offset + ir.dim] = s.start + c * ir.dim + np.arange(ir.dim)
        offset += ir.dim
    return index


def _degree_index(irreps) -> np.ndarray:
    return np.concatenate([np.full(ir.dim, i, dtype=np.int64) for i, (_, ir) in enumerate(irreps)])


def _sh_rows(irreps) -> np.ndarray:
    """Rows of the ``0..lmax`` SH layout used by ``irreps`` (a signal may skip degrees)."""
    return np.concatenate([ir.l**2 + np.arange(ir.dim) for _, ir in irreps])


def _lower_channelwise(spec: TensorProductSpec, strategy: str, b: _Builder) -> None:
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
    _, _, points, weights = so3.s2_grid(*so3.s2_grid_for_degree(degree))
    points, weights = points.reshape(-1, 3), weights.reshape(-1)

    def values(irreps):
        return so3.spherical_harmonics([ir.l for _, ir in irreps], points)  # (G, dim)

    f1 = b.op("matmul", "f1", x1c, b.const("to_grid1", values(spec.irreps_in1).T))
    f2 = b.op("matmul", "f2", x2c, b.const("to_grid2", values(spec.irreps_in2).T))
    product = b.op("mul", "f12", f1, f2)
    projection = values(spec.irreps_out) * weights[:, None] / (4 * np.pi)
    return b.op("matmul", "out_c", product, b.const("from_grid", projection))


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
    M = so3.fourier_to_sh(L1 + L2, spec.irreps_out.lmax)[:, :, _sh_rows(spec.irreps_out)].reshape(N * N, -1)
    H_flat = b.op("reshape", "H_flat", H, shape=(C, N * N))
    return b.op("real", "out_c", b.op("matmul", "out_c_complex", H_flat, b.const("from_fourier", M)))


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
