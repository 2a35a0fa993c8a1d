"""Float64 evaluation of a spec: :func:`reference` (runs the plan) and :func:`oracle`.

:func:`reference` executes the lowered plan with numpy in float64; every backend is checked
against it. :func:`oracle` is written from the definitions alone — explicit sums over channels,
paths and sphere quadrature points, sharing no code with :mod:`tpcore.plan` — and exists to check
the plan itself.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil

import numpy as np

from tpcore import so3
from tpcore.cgtp_paths import WEIGHT_SHAPES
from tpcore.spec import TensorProductSpec


@lru_cache(maxsize=64)
def _reference_function(spec: TensorProductSpec):
    from tpcore.execute import ArrayOps, PlanFunction

    # cgtp: the per-path strategy, the plainest; the others are checked against it
    return PlanFunction(spec, ArrayOps(np), "float64", "dense" if spec.variant == "cgtp" else None)


def reference(spec: TensorProductSpec, x1, x2, weights=None) -> np.ndarray:
    """``spec`` evaluated in float64 numpy on ``x1 (..., dim1)``, ``x2 (..., dim2)``."""
    as64 = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return _reference_function(spec)(as64(x1), as64(x2), as64(weights))


# -- the definition-level oracle ------------------------------------------------------------------


def oracle(spec: TensorProductSpec, x1, x2, weights=None) -> np.ndarray:
    """``spec`` computed from its definition, slowly, in float64 (for tests)."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    batch = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        batch = np.broadcast_shapes(batch, weights.shape[:-1])

    def flat(a):  # (Z, n) with Z explicit: reshape(-1, 0) is ambiguous for empty blocks
        return np.broadcast_to(a, batch + a.shape[-1:]).reshape(int(np.prod(batch)), a.shape[-1])

    x1, x2 = flat(x1), flat(x2)
    weights = None if weights is None else flat(weights)
    if spec.variant == "cgtp":
        out = _oracle_cgtp(spec, x1, x2, weights)
    else:
        out = _oracle_channelwise(spec, x1, x2, weights)
    return out.reshape(batch + (spec.irreps_out.dim,))


def _oracle_cgtp(spec, x1, x2, weights):
    Z = x1.shape[0]
    out = np.zeros((Z, spec.irreps_out.dim))
    s1, s2, so = spec.irreps_in1.slices(), spec.irreps_in2.slices(), spec.irreps_out.slices()
    for p in spec.paths:
        if 0 in (p.mul_in1, p.mul_in2, p.mul_out):
            continue  # an empty block: nothing to read or write (and no weights)
        a = x1[:, s1[p.i_in1]].reshape(Z, p.mul_in1, p.ir_in1.dim)
        b = x2[:, s2[p.i_in2]].reshape(Z, p.mul_in2, p.ir_in2.dim)
        C = so3.wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l)
        W = weights[:, p.weight_slice].reshape((Z,) + p.weight_shape) if p.weight_numel else None
        target = out[:, so[p.i_out]].reshape(Z, p.mul_out, p.ir_out.dim)
        pair = -1  # number of the current pair u < v, counted row by row (e3nn's triu_indices order)
        for u in range(p.mul_in1):
            for v in range(p.mul_in2):
                if p.mode in ("uuw", "uuu") and u != v:
                    continue
                if p.mode in ("uvu<v", "u<vw"):
                    if u >= v:
                        continue
                    pair += 1
                # t[z, k] = sum_ij x1[z,u,i] x2[z,v,j] C[i,j,k]
                t = np.zeros((Z, p.ir_out.dim))
                for i in range(p.ir_in1.dim):
                    for j in range(p.ir_in2.dim):
                        t += (a[:, u, i] * b[:, v, j])[:, None] * C[i, j][None, :]
                t *= p.normalization
                _oracle_accumulate(p, target, W, t, u, v, pair)
        out[:, so[p.i_out]] = target.reshape(Z, p.mul_out * p.ir_out.dim)
    return out


def _oracle_accumulate(p, target, W, t, u, v, pair):
    """Adds the coupled channels ``u``, ``v`` (``t (Z, dim_out)``) to ``target (Z, mul_out, dim_out)``
    as e3nn's mode of path ``p`` says; ``pair`` is their number among the pairs ``u < v``."""
    if W is None:  # weightless: every weight one (uuw then has mul_out == 1)
        W = np.ones((t.shape[0],) + WEIGHT_SHAPES[p.mode](p.mul_in1, p.mul_in2, p.mul_out))
    if p.mode == "uvw":
        target += W[:, u, v, :, None] * t[:, None, :]
    elif p.mode == "uvu":
        target[:, u] += W[:, u, v, None] * t
    elif p.mode == "uvv":
        target[:, v] += W[:, u, v, None] * t
    elif p.mode == "uuw":
        target += W[:, u, :, None] * t[:, None, :]
    elif p.mode == "uuu":
        target[:, u] += W[:, u, None] * t
    elif p.mode == "uvuv":
        target[:, u * p.mul_in2 + v] += W[:, u, v, None] * t
    elif p.mode == "uvu<v":
        target[:, pair] += W[:, pair, None] * t
    elif p.mode == "u<vw":
        target += W[:, pair, :, None] * t[:, None, :]
    else:
        raise ValueError(f"the oracle knows no connection mode {p.mode!r}")


def _signal_blocks(x, irreps, weights, offset, C):
    """``{l: (Z, C, 2l+1)}`` of a channel-wise signal, scaled by its per-degree weights if any."""
    Z = x.shape[0]
    blocks = {}
    for k, ((mul, ir), s) in enumerate(zip(irreps, irreps.slices())):
        block = x[:, s].reshape(Z, mul, ir.dim).copy()
        if weights is not None:
            block *= weights[:, offset + np.arange(C) * len(irreps) + k][:, :, None]
        blocks[ir.l] = block
    return blocks


def _oracle_channelwise(spec, x1, x2, weights):
    C = spec.channels
    n1, n2 = len(spec.irreps_in1), len(spec.irreps_in2)
    b1 = _signal_blocks(x1, spec.irreps_in1, weights, 0, C)
    b2 = _signal_blocks(x2, spec.irreps_in2, weights, C * n1, C)
    if spec.variant == "mtp":
        blocks = _oracle_mtp(spec, b1, b2)
    else:
        blocks = _oracle_gaunt(spec, b1, b2)
    Z = x1.shape[0]
    out = np.zeros((Z, spec.irreps_out.dim))
    for k, ((mul, ir), s) in enumerate(zip(spec.irreps_out, spec.irreps_out.slices())):
        block = blocks[ir.l]
        if weights is not None:
            block = block * weights[:, C * (n1 + n2) + np.arange(C) * len(spec.irreps_out) + k][:, :, None]
        out[:, s] = block.reshape(Z, s.stop - s.start)
    return out


def _oracle_gaunt(spec, b1, b2):
    """out_lm = (1/4pi) * integral of f1 f2 Y_lm, by Gauss-Legendre quadrature about the z axis."""
    degree = spec.irreps_in1.lmax + spec.irreps_in2.lmax + spec.irreps_out.lmax
    n_theta, n_phi = degree // 2 + 2, degree + 3  # a little more than needed
    cos_t, w_t = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    sin_t = np.sqrt(1 - cos_t**2)
    points = np.stack(
        [sin_t[:, None] * np.cos(phi)[None], sin_t[:, None] * np.sin(phi)[None], np.repeat(cos_t[:, None], n_phi, 1)],
        axis=-1,
    ).reshape(-1, 3)
    w = (w_t[:, None] * np.full(n_phi, 2 * np.pi / n_phi)[None]).reshape(-1)

    def field(blocks):
        return sum(np.einsum("zcm,gm->zcg", x, so3.spherical_harmonics(l, points)) for l, x in blocks.items())

    f = field(b1) * field(b2)
    return {
        ir.l: np.einsum("zcg,g,gm->zcm", f, w, so3.spherical_harmonics(ir.l, points)) / (4 * np.pi)
        for _, ir in spec.irreps_out
    }


def _oracle_mtp(spec, b1, b2):
    """X = sum over blocks of CG-embedded inputs, X3 = X1 X2, out_l = CG-projection of X3."""
    lt = ceil((spec.irreps_in1.lmax + spec.irreps_in2.lmax) / 2)
    offsets = [la**2 for la in range(lt + 2)]
    n = (lt + 1) ** 2
    norm = spec.irrep_normalization

    def scale(la, lb, l):
        return np.sqrt((2 * la + 1) * (2 * lb + 1)) if norm == "norm" else np.sqrt(2 * l + 1)

    def embed(blocks):
        Z, C = next(iter(blocks.values())).shape[:2]
        X = np.zeros((Z, C, n, n))
        for l, x in blocks.items():
            for la in range(lt + 1):
                for lb in range(abs(la - l), min(la + l, lt) + 1):
                    cg = so3.wigner_3j(la, lb, l) * scale(la, lb, l)
                    X[:, :, offsets[la] : offsets[la + 1], offsets[lb] : offsets[lb + 1]] += np.einsum("abm,zcm->zcab", cg, x)
        return X

    X3 = np.matmul(embed(b1), embed(b2))
    out = {}
    for _, ir in spec.irreps_out:
        l = ir.l
        acc = 0.0
        for la in range(lt + 1):
            for lb in range(abs(la - l), min(la + l, lt) + 1):
                cg = so3.wigner_3j(la, lb, l) * scale(la, lb, l)
                acc = acc + np.einsum("abm,zcab->zcm", cg, X3[:, :, offsets[la] : offsets[la + 1], offsets[lb] : offsets[lb + 1]])
        out[l] = acc
    return out
