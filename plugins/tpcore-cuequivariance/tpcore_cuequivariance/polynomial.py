"""tpcore's path-level descriptor as a cuEquivariance segmented polynomial, in e3nn's ``mul_ir`` layout.

Each path ``x1 segment (x) x2 segment -> output segment`` of :func:`tpcore.descriptor.describe`
becomes one path of a ``cue.SegmentedTensorProduct`` whose coefficients are the path's coupling
(``dim1 x dim2 x dim_out``, tpcore's normalization already folded in), so the two agree on the
normalization by construction and cuEquivariance's own CG basis never enters. A block
``mul x ir`` is a segment of shape ``(mul, 2l+1)`` (e3nn's layout); the connection mode is the
tensor product's subscripts (:data:`SUBSCRIPTS`, e.g. ``uvw,ui,vj,wk+ijk`` for e3nn's fully
connected paths). One tensor product has one set of subscripts, so the paths are grouped by
(mode, weighted): one tensor product per group, all summed into the one output operand of a
``cue.SegmentedPolynomial``. Each weighted group reads its own weight input, the flat weights
gathered at :attr:`Translation.weight_index` (the identity, no gather, when a single group holds
every weight in e3nn's flat order).

What is translated is :func:`accepts`: modes with a pairing cuEquivariance's subscripts express
(every ``(u, v)`` or the diagonal ``u == v``; not e3nn's ``u<v`` triangles), and ``uvuv`` (whose
output segment is ``(u, v, 2l+1)``) only without other modes, since one operand has one rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpcore.descriptor import Descriptor

#: (weights, x1, x2, output) subscripts of a path of each mode; e3nn's weight shapes
#: (:data:`tpcore.cgtp_paths.WEIGHT_SHAPES`) are the weight subscripts' extents in this order
SUBSCRIPTS = {
    "uvw": ("uvw", "ui", "vj", "wk"),
    "uvu": ("uv", "ui", "vj", "uk"),
    "uvv": ("uv", "ui", "vj", "vk"),
    "uuw": ("uw", "ui", "uj", "wk"),
    "uuu": ("u", "ui", "uj", "uk"),
    "uvuv": ("uv", "ui", "vj", "uvk"),
}
#: modes whose output channel comes from the weights: no weightless form to translate
NEEDS_WEIGHT = {"uvw", "uuw"}


def decline(d: Descriptor) -> str | None:
    """None if :func:`accepts` takes ``d``, else why not (one line)."""
    if d.variant != "cgtp":
        return f"a {d.variant} spec (it computes cgtp)"
    unknown = sorted(d.modes - set(SUBSCRIPTS))
    if unknown:
        return f"mode {', '.join(unknown)} (cuEquivariance's subscripts pair every (u, v) or u == v, not u < v)"
    if "uvuv" in d.modes and len(d.modes) > 1:
        return "uvuv beside other modes (its output segments are (u, v, 2l+1), the others' (mul, 2l+1))"
    weightless = sorted({p.mode for p in d.paths if p.weight is None} & NEEDS_WEIGHT)
    if weightless:
        return f"weightless {', '.join(weightless)} paths"
    shapes = {}
    for p in d.paths:
        if p.mode == "uvuv" and shapes.setdefault(p.out, (p.seg1.mul, p.seg2.mul)) != (p.seg1.mul, p.seg2.mul):
            return "uvuv paths of different (mul_in1, mul_in2) into one output block"
    return None


def accepts(d: Descriptor) -> bool:
    """Whether the plugin computes ``d``: cgtp, modes uvw uvu uvv uuw uuu (mixed freely) or uvuv alone."""
    return decline(d) is None


@dataclass(frozen=True)
class Translation:
    """The polynomial and how to feed it: inputs ``[weights of each weighted group..., x1, x2]``."""

    polynomial: object  # cue.SegmentedPolynomial (None when no path multiplies anything)
    #: per weighted group, the flat weight positions its weight input reads, in its segments' order
    weight_index: tuple[np.ndarray, ...]


def translate(d: Descriptor) -> Translation:
    """The ``cue.SegmentedPolynomial`` of an accepted descriptor (its output: ``irreps_out``, flat)."""
    import cuequivariance as cue

    reason = decline(d)
    if reason is not None:
        raise ValueError(f"tpcore-cuequivariance does not translate {d}: {reason}")
    if not d.paths:
        return Translation(None, ())
    uvuv = d.modes == {"uvuv"}
    out_shapes = [(s.mul, s.dim) for s in d.out]
    if uvuv:  # rank 3 for every output segment: the uvuv paths' (u, v, k), the others (mul, 1, k)
        written = {p.out: (p.seg1.mul, p.seg2.mul, p.seg_out.dim) for p in d.paths}
        out_shapes = [written.get(i, (s.mul, 1, s.dim)) for i, s in enumerate(d.out)]

    groups: dict[tuple[str, bool], list] = {}
    for p in d.paths:
        groups.setdefault((p.mode, p.weight is not None), []).append(p)
    weighted = [key for key in groups if key[1]]
    n_weights = len(weighted)
    x1, x2, out = n_weights, n_weights + 1, n_weights + 2

    operations, weight_index = [], []
    for (mode, has_weight), paths in groups.items():
        w, a, b, c = SUBSCRIPTS[mode]
        stp = cue.SegmentedTensorProduct.from_subscripts(f"{w + ',' if has_weight else ''}{a},{b},{c}+ijk")
        first = 1 if has_weight else 0
        for s in d.in1:
            stp.add_segment(first, (s.mul, s.dim))
        for s in d.in2:
            stp.add_segment(first + 1, (s.mul, s.dim))
        for shape in out_shapes:
            stp.add_segment(first + 2, shape)
        for p in paths:
            segments = (p.in1, p.in2, p.out)
            if has_weight:
                segments = (stp.add_segment(0, p.weight.shape),) + segments
            stp.add_path(*segments, c=p.coupling.dense())
        if has_weight:
            weight_index.append(np.concatenate([p.weight.index().ravel() for p in paths]))
            operations.append(((weighted.index((mode, True)), x1, x2, out), stp))
        else:
            operations.append(((x1, x2, out), stp))
    operands = [None] * (n_weights + 3)
    for buffers, stp in operations:
        for buffer, operand in zip(buffers, stp.operands):
            operands[buffer] = operand
    polynomial = cue.SegmentedPolynomial(operands[:-1], operands[-1:], operations)
    return Translation(polynomial, tuple(weight_index))
