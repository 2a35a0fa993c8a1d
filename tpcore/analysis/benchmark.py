"""Speed of a pruned cgtp against the unpruned one, measured in one run on any backend.

Shared by ``tpcore analyze --bench-prune`` and ``asv_benchmarks/bench_pruning.py``. Pruning keeps
every other path (path order runs over ``l1``, then ``l2``, then ``l3``, so both halves span all
degrees); the default spec is a fully connected cgtp (``uvw``) of ``s2_irreps(L, mul)`` with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpcore.analysis.pruning import WeightMap, prune_spec
from tpcore.irreps import s2_irreps
from tpcore.spec import TensorProductSpec


def fully_connected_cgtp(L: int = 3, mul: int = 8) -> TensorProductSpec:
    """e3nn's ``FullyConnectedTensorProduct`` of ``s2_irreps(L, mul)`` with itself into the same irreps."""
    irreps = s2_irreps(L, mul=mul)
    return TensorProductSpec.cgtp(irreps, irreps, irreps, mode="uvw")


def half_pruned(spec: TensorProductSpec) -> tuple[TensorProductSpec, WeightMap]:
    """``(pruned_spec, weight_map)`` with every other path of the cgtp ``spec`` removed."""
    return prune_spec(spec, np.arange(len(spec.paths)) % 2 == 0)


@dataclass(frozen=True)
class PruningTiming:
    backend: str
    paths: int
    kept_paths: int
    unpruned_s: float
    pruned_s: float

    @property
    def speedup(self) -> float:
        """``unpruned_s / pruned_s`` (medians of the same interleaved rounds)."""
        return self.unpruned_s / self.pruned_s


def timed_pair(spec: TensorProductSpec, backend: str, batch: int, dtype: str = "float32", seed: int = 0):
    """``(pruned_spec, unpruned_call, pruned_call)``: zero-argument callables running each forward
    on the same inputs (synchronized), already warmed up (jit compiled)."""
    import tpcore
    from tpcore.registry import get_registry

    harness = get_registry().harness(backend)
    pruned, weight_map = half_pruned(spec)
    rng = np.random.default_rng(seed)
    x1 = harness.asarray(rng.standard_normal((batch, spec.irreps_in1.dim)), dtype)
    x2 = harness.asarray(rng.standard_normal((batch, spec.irreps_in2.dim)), dtype)
    w = rng.standard_normal(spec.weight_numel)
    calls = []
    for s, weights in ((spec, w), (pruned, weight_map.apply(w))):
        forward = harness.forward_function(tpcore.build(s, backend=backend, dtype=dtype))
        w_backend = harness.asarray(weights, dtype)
        call = lambda f=forward, wb=w_backend: harness.sync(f(x1, x2, wb))  # noqa: E731
        call()  # compile / warm up outside the timing
        calls.append(call)
    return pruned, calls[0], calls[1]


def benchmark_pruning(
    spec: TensorProductSpec | None = None, backend: str = "numpy", batch: int = 1000, repeat: int = 10
) -> PruningTiming:
    """Median forward times of ``spec`` (default :func:`fully_connected_cgtp`) and its half-pruned
    version over at least ``repeat`` interleaved rounds (:func:`tpcore.report.timing.interleaved`,
    the timing of ``tpcore report`` and ``tpcore compare``), so that both see the same machine load."""
    from tpcore.report.timing import interleaved

    spec = fully_connected_cgtp() if spec is None else spec
    pruned, unpruned_call, pruned_call = timed_pair(spec, backend, batch)
    t = interleaved({"unpruned": unpruned_call, "pruned": pruned_call}, min_rounds=repeat)
    return PruningTiming(backend, len(spec.paths), len(pruned.paths), t["unpruned"].median_s, t["pruned"].median_s)
