"""The path-level descriptor of a tensor product: what every strategy expands and every kernel reads.

A spec says *what* is computed in the user's terms (irreps, instructions, normalizations); the
:class:`Descriptor` says it in the terms of an implementation, after the spec's rules are applied:

- each operand (``x1``, ``x2``, the output) is a list of :class:`Segment` s, the blocks
  ``mul x irrep`` laid out as ``[mul, 2l+1]`` at a flat offset;
- each :class:`SegmentPath` couples one segment of ``x1`` and one of ``x2`` into one output
  segment through a sparse :class:`Coupling` (its CG or Gaunt coefficients with the spec's
  normalization folded in), with a connection mode (:data:`tpcore.cgtp_paths.MODES`) that ties the
  channels together, and the :class:`WeightSegment` of the flat weights it reads, if any;
- channel-wise variants (gtp, s2grid, mtp) scale their operands per channel and degree instead:
  :attr:`Descriptor.degree_weights`.

Paths that multiply no channels (a zero multiplicity, a ``u<v`` mode on one channel) are not in the
descriptor: they add nothing and own no weights. The descriptor is computed once per spec
(:func:`describe`, cached) in float64 and is the input of the cost model (:mod:`tpcore.cost`), of
the lowering strategies (:mod:`tpcore.plan`) and of a plugin kernel's ``accepts`` predicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod

import numpy as np

from tpcore import so3
from tpcore.cgtp_paths import MODES, ConnectionMode, triple_count
from tpcore.irreps import Irrep, Irreps
from tpcore.spec import TensorProductSpec

#: coupling entries below this magnitude are structural zeros of the CG tensors
COUPLING_ZERO = 1e-14


@dataclass(frozen=True)
class Segment:
    """One block of an operand: ``mul`` channels of ``irrep``, flat at ``[start, stop)`` as ``[mul, dim]``."""

    start: int
    mul: int
    irrep: Irrep

    @property
    def dim(self) -> int:
        return self.irrep.dim

    @property
    def size(self) -> int:
        return self.mul * self.irrep.dim

    @property
    def stop(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, eq=False)
class Coupling:
    """A sparse coupling tensor of shape ``(dim1, dim2, dim_out)``: ``dense()[i, j, k] == values``."""

    shape: tuple[int, int, int]
    i: np.ndarray
    j: np.ndarray
    k: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dense(cls, tensor: np.ndarray) -> "Coupling":
        i, j, k = np.nonzero(np.abs(tensor) > COUPLING_ZERO)
        for a in (i, j, k):
            a.setflags(write=False)
        values = np.ascontiguousarray(tensor[i, j, k], dtype=np.float64)
        values.setflags(write=False)
        return cls(tuple(tensor.shape), i, j, k, values)

    @property
    def nnz(self) -> int:
        return len(self.values)

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.i, self.j, self.k] = self.values
        return out


@dataclass(frozen=True)
class WeightSegment:
    """Weights ``w[..., start:stop].reshape(shape)`` (a leading batch axis for per-sample weights)."""

    start: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def stop(self) -> int:
        return self.start + self.numel

    def index(self) -> np.ndarray:
        """The flat weight positions, shaped :attr:`shape`."""
        return self.start + np.arange(self.numel).reshape(self.shape)


@dataclass(frozen=True, eq=False)
class SegmentPath:
    """``x1`` segment ``in1`` (x) ``x2`` segment ``in2`` -> output segment ``out`` (indices into the operands)."""

    in1: int
    in2: int
    out: int
    seg1: Segment
    seg2: Segment
    seg_out: Segment
    mode: str
    coupling: Coupling
    weight: WeightSegment | None

    @property
    def connection(self) -> ConnectionMode:
        """The mode's row of :data:`tpcore.cgtp_paths.MODES` (pairing, weight shape, output multiplicity)."""
        return MODES[self.mode]

    @property
    def triples(self) -> int:
        """Channel combinations ``(u, v, out)`` the path couples (one weight each, when weighted)."""
        return triple_count(self.mode, self.seg1.mul, self.seg2.mul, self.seg_out.mul)

    @property
    def ls(self) -> tuple[int, int, int]:
        return self.seg1.irrep.l, self.seg2.irrep.l, self.seg_out.irrep.l


@dataclass(frozen=True, eq=False)
class Descriptor:
    """The segments, paths and weights of one spec (build it with :func:`describe`)."""

    spec: TensorProductSpec
    in1: tuple[Segment, ...]
    in2: tuple[Segment, ...]
    out: tuple[Segment, ...]
    paths: tuple[SegmentPath, ...]
    weight_numel: int
    #: channel-wise variants with ``weighted=True``: the per-channel, per-degree scales of
    #: ``(x1, x2, out)``, each ``(channels, number of segments)``; else None
    degree_weights: tuple[WeightSegment, WeightSegment, WeightSegment] | None = None

    @property
    def variant(self) -> str:
        return self.spec.variant

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.spec.irreps_in1.dim, self.spec.irreps_in2.dim, self.spec.irreps_out.dim

    @property
    def modes(self) -> frozenset[str]:
        return frozenset(p.mode for p in self.paths)

    @property
    def weighted_paths(self) -> tuple[SegmentPath, ...]:
        return tuple(p for p in self.paths if p.weight is not None)

    @property
    def multiplicity(self) -> int | None:
        """The one multiplicity of every segment the paths read and write, or None if they differ."""
        muls = {s.mul for p in self.paths for s in (p.seg1, p.seg2, p.seg_out)}
        return muls.pop() if len(muls) == 1 else None

    @property
    def lmax(self) -> int:
        return max((max(p.ls) for p in self.paths), default=0)

    @property
    def per_channel_dims(self) -> tuple[int, int, int, int] | None:
        """``(u, e1, e2, e_out)`` when the product is one product per channel: every path ``uuu`` and
        every segment of ``x1``, ``x2`` and the output ``u`` channels; ``e`` are the dimensions of one
        channel (``sum(2l+1)`` over the segments). None otherwise."""
        if not self.paths or any(p.mode != "uuu" for p in self.paths):
            return None
        muls = {s.mul for s in self.in1 + self.in2 + self.out}
        if len(muls) != 1:
            return None
        return (muls.pop(), *(sum(s.dim for s in segs) for segs in (self.in1, self.in2, self.out)))

    def __repr__(self) -> str:
        return (
            f"Descriptor({self.variant}: {len(self.in1)}x{len(self.in2)}->{len(self.out)} segments, "
            f"{len(self.paths)} paths, modes {sorted(self.modes)}, weight_numel={self.weight_numel})"
        )


def segments(irreps: Irreps) -> tuple[Segment, ...]:
    return tuple(Segment(s.start, mul, ir) for (mul, ir), s in zip(irreps, irreps.slices()))


@lru_cache(maxsize=256)
def describe(spec: TensorProductSpec) -> Descriptor:
    """The descriptor of ``spec`` (cached per spec: specs are frozen and hashable)."""
    in1, in2, out = segments(spec.irreps_in1), segments(spec.irreps_in2), segments(spec.irreps_out)
    paths = []
    for p in spec.paths:
        if triple_count(p.mode, p.mul_in1, p.mul_in2, p.mul_out) == 0:
            continue
        coupling = Coupling.from_dense(p.normalization * so3.wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l))
        weight = WeightSegment(p.weight_start, tuple(p.weight_shape)) if p.has_weight else None
        paths.append(SegmentPath(p.i_in1, p.i_in2, p.i_out, in1[p.i_in1], in2[p.i_in2], out[p.i_out], p.mode, coupling, weight))
    degree_weights = None
    if spec.variant != "cgtp" and spec.weighted:
        C, start, scales = spec.channels, 0, []
        for operand in (in1, in2, out):
            scales.append(WeightSegment(start, (C, len(operand))))
            start += C * len(operand)
        degree_weights = tuple(scales)
    return Descriptor(spec, in1, in2, out, tuple(paths), spec.weight_numel, degree_weights)


__all__ = ["Coupling", "Descriptor", "Segment", "SegmentPath", "WeightSegment", "describe", "segments"]
