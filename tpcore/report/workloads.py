"""What the benchmarks measure: one spec per variant and degree ``L``, shared by asv and ``tpcore report``.

Both tools import :func:`workload_spec` so a number in an asv graph and a row of the report time the
same tensor product:

- ``cgtp``: e3nn's ``FullyConnectedTensorProduct`` (mode ``uvw``) of
  ``8x0e + 8x1o + ... + 8xL`` with ``1x0e + 1x1o + ... + 1xL`` into ``8x0e + ... + 8xL``, the
  layer of a message-passing network (features x spherical harmonics of an edge).
- ``gtp``, ``s2grid``, ``mtp``: the channel-wise product of two 8-channel spherical signals up to
  ``L`` into one up to ``L`` (``s2_irreps(L, mul=8)``), with per-channel, per-degree weights so
  that every workload has trainable weights and a weight gradient, as in a model.

The e3nn peers (``torch/cgtp/e3nn``, ``jax/cgtp/e3nn_jax`` from plugins/tpcore-e3nn) run the cgtp
workload; the report compares every variant with them at the same ``L``, because "how much faster
than e3nn's full CGTP is a Gaunt product of the same degree" is the question users ask.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tpcore.irreps import s2_irreps
from tpcore.spec import VARIANTS, TensorProductSpec

#: channels of every workload
CHANNELS = 8
#: implementations that wrap other libraries (by name), run on the cgtp workload as reference points,
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


def workload_inputs(spec: TensorProductSpec, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Standard-normal ``(x1, x2, w)`` in float64 for ``batch`` samples (``w`` None without weights)."""
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((batch, spec.irreps_in1.dim))
    x2 = rng.standard_normal((batch, spec.irreps_in2.dim))
    w = rng.standard_normal(spec.weight_numel) if spec.weight_numel else None
    return x1, x2, w


__all__ = ["CHANNELS", "PEERS", "peer_on", "workload_spec", "workload_inputs"]
