"""What the benchmarks measure, defined once for asv, ``tpcore report`` and ``tpcore compare``.

:func:`workload_spec` is one spec per variant and degree ``L`` (``tpcore report``, the asv
``TensorProduct`` classes):

- ``cgtp``: e3nn's ``FullyConnectedTensorProduct`` (mode ``uvw``) of
  ``8x0e + 8x1o + ... + 8xL`` with ``1x0e + 1x1o + ... + 1xL`` into ``8x0e + ... + 8xL``, the
  layer of a message-passing network (features x spherical harmonics of an edge).
- ``gtp``, ``s2grid``, ``mtp``: the channel-wise product of two 8-channel spherical signals up to
  ``L`` into one up to ``L`` (``s2_irreps(L, mul=8)``), with per-channel, per-degree weights so
  that every workload has trainable weights and a weight gradient, as in a model.

:data:`SHAPES` are the cgtp layers real models use, each run by tpcore and by the e3nn peers
(``tpcore compare``, the asv ``Shape*`` classes); ``C`` is the number of channels and
``(0..L)`` stands for ``0e + 1o + 2e + ... + L`` (parity ``(-1)^l``):

- ``fc8``, ``fc16``, ``fc32``: ``FullyConnectedTensorProduct`` (``uvw``) of ``Cx(0..L)`` with
  ``Cx(0..L)`` into ``Cx(0..L)``: multi-channel inputs on both sides (a self-interaction layer);
- ``fc_sh``: the ``cgtp`` workload above, 8 channels x the spherical harmonics ``1x(0..L)``;
- ``conv16``, ``conv32``, ``conv128``: MACE's interaction convolution, mode ``uvu``, node features
  ``Cx0e + Cx1o`` x edge harmonics ``1x(0..L)``, one output block ``Cx ir_out`` per path (every
  ``ir_out`` up to ``L``, in e3nn's order), weights per edge ``(edges, weight_numel)`` as a radial
  network produces them;
- ``full``: e3nn's ``FullTensorProduct`` of ``1x(0..L)`` with itself, outputs filtered to
  ``l <= L`` (mode ``uvuv``, no weights);
- ``uuu``: the channel-wise cgtp ``8x(0..L)`` twice into ``8x(0..L)`` in mode ``uuu``, the Gaunt
  products' signature and (by parity) their paths, one weight per path and channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from tpcore.irreps import Irreps, s2_irreps
from tpcore.spec import VARIANTS, TensorProductSpec

#: channels of the variant workloads (and of fc_sh and uuu)
CHANNELS = 8
#: implementations that wrap other libraries (by name), the reference points of every shape,
#: and the backend each is registered on (plugins/tpcore-e3nn)
PEERS = {"e3nn": "torch", "e3nn_jax": "jax"}


def peer_on(backend: str) -> str:
    """The name of the peer implementation on ``backend`` (a value of :data:`PEERS`)."""
    return next(peer for peer, b in PEERS.items() if b == backend)


@lru_cache(maxsize=None)
def workload_spec(variant: str, L: int) -> TensorProductSpec:
    """The benchmarked spec of ``variant`` (one of cgtp, gtp, s2grid, mtp) at degree ``L``."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    features = s2_irreps(L, mul=CHANNELS)
    if variant == "cgtp":
        return TensorProductSpec.cgtp(features, s2_irreps(L), features, mode="uvw")
    return getattr(TensorProductSpec, variant)(features, features, features, weighted=True)


# -- the shapes of real models ----------------------------------------------------------------------


def fully_connected_spec(channels: int, L: int) -> TensorProductSpec:
    """``FullyConnectedTensorProduct(Cx(0..L), Cx(0..L), Cx(0..L))``."""
    features = s2_irreps(L, mul=channels)
    return TensorProductSpec.cgtp(features, features, features, mode="uvw")


def convolution_spec(channels: int, L: int) -> TensorProductSpec:
    """MACE's convolution: ``Cx0e + Cx1o`` (x) ``1x(0..L)`` in mode ``uvu``, one output block per path."""
    irreps_in1, irreps_sh = s2_irreps(1, mul=channels), s2_irreps(L)
    out, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir3 in ir1 * ir2:
                if ir3.l <= L:
                    instructions.append((i1, i2, len(out), "uvu", True))
                    out.append((mul, ir3))
    return TensorProductSpec.cgtp(irreps_in1, irreps_sh, Irreps(out), mode="uvu", instructions=instructions)


def full_spec(L: int) -> TensorProductSpec:
    """e3nn's ``FullTensorProduct`` of ``s2_irreps(L)`` with itself, outputs filtered to ``l <= L``."""
    x = s2_irreps(L)
    every = TensorProductSpec.cgtp(x, x, None, mode="uvuv")
    kept = [p for p in every.paths if p.ir_out.l <= L]
    out = " + ".join(f"1x{p.ir_out}" for p in kept)
    instructions = [(p.i_in1, p.i_in2, k, "uvuv", False) for k, p in enumerate(kept)]
    return TensorProductSpec.cgtp(x, x, out, mode="uvuv", instructions=instructions)


def channelwise_cgtp_spec(L: int) -> TensorProductSpec:
    """The cgtp with the Gaunt products' signature: ``8x(0..L)`` twice into ``8x(0..L)``, mode ``uuu``."""
    signal = s2_irreps(L, mul=CHANNELS)
    return TensorProductSpec.cgtp(signal, signal, signal, mode="uuu")


@dataclass(frozen=True)
class Shape:
    """A layer of a real model at every ``L``: ``spec(L)``, how its weights come, where it stops on a CPU."""

    name: str
    spec: Callable[[int], TensorProductSpec]
    #: weights of shape ``(batch, weight_numel)`` (one vector per edge) instead of one shared vector
    per_sample_weights: bool = False
    #: the largest L run on a CPU by default (the FLOPs grow as ``C^3 L^5`` for fc); devices run all
    max_L_cpu: int = 6


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("fc8", lambda L: fully_connected_spec(8, L)),
        Shape("fc16", lambda L: fully_connected_spec(16, L), max_L_cpu=5),
        Shape("fc32", lambda L: fully_connected_spec(32, L), max_L_cpu=4),
        Shape("fc_sh", lambda L: workload_spec("cgtp", L)),
        Shape("conv16", lambda L: convolution_spec(16, L), per_sample_weights=True),
        Shape("conv32", lambda L: convolution_spec(32, L), per_sample_weights=True),
        Shape("conv128", lambda L: convolution_spec(128, L), per_sample_weights=True),
        Shape("full", full_spec),
        Shape("uuu", channelwise_cgtp_spec),
    )
}
#: earlier names of two shapes, still accepted
ALIASES = {"fc": "fc_sh", "cw": "uuu"}


def shape(name: str) -> Shape:
    """The :class:`Shape` called ``name`` (or one of its :data:`ALIASES`)."""
    name = ALIASES.get(name, name)
    if name not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {name!r}")
    return SHAPES[name]


def workload_inputs(spec: TensorProductSpec, batch: int, seed: int = 0,
                    per_sample_weights: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Standard-normal ``(x1, x2, w)`` in float64 for ``batch`` samples (``w`` None without weights;
    ``(batch, weight_numel)`` with ``per_sample_weights``)."""
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((batch, spec.irreps_in1.dim))
    x2 = rng.standard_normal((batch, spec.irreps_in2.dim))
    w_shape = (batch, spec.weight_numel) if per_sample_weights else (spec.weight_numel,)
    w = rng.standard_normal(w_shape) if spec.weight_numel else None
    return x1, x2, w


__all__ = ["CHANNELS", "PEERS", "peer_on", "workload_spec", "fully_connected_spec", "convolution_spec", "full_spec",
           "channelwise_cgtp_spec", "Shape", "SHAPES", "ALIASES", "shape", "workload_inputs"]
