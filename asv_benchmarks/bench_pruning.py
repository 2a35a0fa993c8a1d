"""Path pruning: a fully connected cgtp against the same spec with half of its paths pruned.

``s2_irreps(L, mul=8)`` with itself into the same irreps (e3nn's ``FullyConnectedTensorProduct``),
batch 1000, float32, the backend's default cgtp implementation; pruning keeps every other path
(:func:`tpcore.analysis.benchmark.half_pruned`). ``track_speedup`` times both in one call, so its
ratio compares like with like. ``tpcore analyze ... --bench-prune`` prints the same ratio.
"""

from __future__ import annotations

import os
import time

BATCH = 1000
MUL = 8


class PrunedCGTP:
    """``time_unpruned``, ``time_pruned`` and ``track_speedup`` (unpruned / pruned forward time)."""

    params = (["numpy", "torch", "jax"], [3] if os.environ.get("TPCORE_ASV_PROFILE", "full") == "quick" else [3, 4])
    param_names = ["backend", "L"]
    timeout = 300

    def setup(self, backend, L):
        from tpcore.analysis.benchmark import fully_connected_cgtp, timed_pair
        from tpcore.registry import get_registry

        registry = get_registry()
        if backend not in registry.available():
            raise NotImplementedError(f"backend {backend} is not usable here: {registry.reason(backend)}")
        _, self.unpruned, self.pruned = timed_pair(fully_connected_cgtp(L, MUL), backend, BATCH)

    def time_unpruned(self, backend, L):
        self.unpruned()

    def time_pruned(self, backend, L):
        self.pruned()

    def track_speedup(self, backend, L):
        best = [float("inf"), float("inf")]
        for _ in range(5):
            for i, call in enumerate((self.unpruned, self.pruned)):
                start = time.perf_counter()
                call()
                best[i] = min(best[i], time.perf_counter() - start)
        return best[0] / best[1]

    track_speedup.unit = "x"


if __name__ == "__main__":
    from tpcore.analysis.benchmark import benchmark_pruning, fully_connected_cgtp
    from tpcore.registry import get_registry

    for backend in PrunedCGTP.params[0]:
        if backend not in get_registry().available():
            continue
        for L in PrunedCGTP.params[1]:
            t = benchmark_pruning(fully_connected_cgtp(L, MUL), backend=backend, batch=BATCH)
            print(f"{backend:6} L={L}  {t.paths} -> {t.kept_paths} paths  "
                  f"{t.unpruned_s * 1e3:8.2f} ms -> {t.pruned_s * 1e3:8.2f} ms  speedup {t.speedup:.2f}x")  # fmt: skip
