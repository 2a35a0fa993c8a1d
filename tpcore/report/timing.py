"""Running one implementation on one workload: build, warm up, time, check against the reference.

:func:`prepare` returns a :class:`Prepared` whose :meth:`~Prepared.forward` and
:meth:`~Prepared.forward_backward` each run one synchronized call (the asv suite times exactly
these), whose :meth:`~Prepared.max_error` compares a run with the float64 reference, and
:func:`median_seconds` times a call the way ``tpcore report`` does. Everything goes through the
backend's :class:`~tpcore.harness.Harness`, so any registered backend can be measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from statistics import median
from typing import Any, Callable

import numpy as np

from tpcore.errors import TpcoreError
from tpcore.report.workloads import workload_inputs
from tpcore.spec import TensorProductSpec


@dataclass
class Prepared:
    """A built, warmed-up tensor product with its inputs as backend arrays."""

    backend: str
    impl: str
    spec: TensorProductSpec
    harness: Any
    inputs: tuple  # (x1, x2, w) as backend arrays, w None without weights
    batch: int
    grad_out: Any  # cotangent of the output for forward_backward
    forward_fn: Callable
    vjp_fn: Callable | None  # None when the backend computes no gradients
    no_grad_reason: str = ""
    dtype: str = "float32"
    seed: int = 0  # of the inputs (tpcore.report.workloads.workload_inputs)
    first_output: Any = None  # the warm-up call's result, checked by max_error

    def forward(self):
        """One forward call, returned once the device has finished it."""
        return self.harness.sync(self.forward_fn(*self.inputs))

    def forward_backward(self):
        """One forward and backward (all input and weight gradients), synchronized."""
        if self.vjp_fn is None:
            raise NotImplementedError(self.no_grad_reason)
        gx1, gx2, gw = self.vjp_fn(*self.inputs, self.grad_out)
        self.harness.sync(gx1)
        self.harness.sync(gx2)
        return self.harness.sync(gw) if gw is not None else gx2

    def max_error(self) -> float:
        """Max |out - reference| / max |reference|, the reference in float64 on the same inputs."""
        expected = _reference_output(self.spec, self.batch, self.dtype, self.seed)
        actual = self.harness.to_numpy(self.first_output if self.first_output is not None else self.forward())
        scale = float(np.max(np.abs(expected))) or 1.0
        return float(np.max(np.abs(actual - expected))) / scale


@lru_cache(maxsize=16)
def _reference_output(spec: TensorProductSpec, batch: int, dtype: str, seed: int) -> np.ndarray:
    """The float64 reference on :func:`rounded_inputs`, once per workload (every backend checks it)."""
    from tpcore.reference import reference

    return reference(spec, *rounded_inputs(spec, batch, dtype, seed))


def rounded_inputs(spec: TensorProductSpec, batch: int, dtype: str, seed: int) -> tuple:
    """The workload's float64 inputs rounded to ``dtype``: exactly the numbers the run sees."""
    return tuple(None if x is None else x.astype(dtype).astype(np.float64) for x in workload_inputs(spec, batch, seed))


def prepare(backend: str, spec: TensorProductSpec, impl: str | None, batch: int, dtype: str = "float32",
            seed: int = 0) -> Prepared:
    """Build ``spec`` on ``backend``/``impl``, convert inputs, compile and run once (forward and backward).

    Raises :class:`NotImplementedError` (what asv takes as "skip") with the registry's explanation
    when the backend is unusable or has no such implementation or capability.
    """
    from tpcore.registry import get_registry

    registry = get_registry()
    try:
        chosen = registry.select(spec, backend=backend, impl=impl, dtype=dtype)
        harness = registry.harness(backend)
    except TpcoreError as exc:
        raise NotImplementedError(str(exc).splitlines()[0]) from exc
    tp = registry.build(spec, backend=backend, impl=chosen.name, dtype=dtype)
    x1, x2, w = rounded_inputs(spec, batch, dtype, seed)
    inputs = tuple(None if x is None else harness.asarray(x, dtype) for x in (x1, x2, w))
    g = harness.asarray(np.random.default_rng(seed + 1).standard_normal((batch, spec.irreps_out.dim)), dtype)
    try:
        vjp_fn, reason = harness.vjp_function(tp), ""
    except NotImplementedError as exc:
        vjp_fn, reason = None, str(exc)
    prepared = Prepared(backend, chosen.name, spec, harness, inputs, batch, g,
                        harness.forward_function(tp), vjp_fn, reason, dtype=dtype, seed=seed)
    prepared.first_output = prepared.forward()  # compile (jit) and fill caches outside any timing
    if vjp_fn is not None:
        prepared.forward_backward()
    return prepared


def median_seconds(call: Callable[[], Any], repeat: int, budget_s: float = 2.0) -> float:
    """Median wall time of ``call()`` over up to ``repeat`` runs, fewer once ``budget_s`` is spent.

    The caller has warmed ``call`` up; each run must block until its result exists.
    """
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max(1, repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return median(times)


def matmul_peak_gflops(backend: str, n: int = 1024, repeat: int = 5) -> float | None:
    """GFLOP/s of an ``n x n`` float32 matmul on ``backend`` (``a @ b``), None if it cannot run.

    Measured in the same run as the tensor products so that "fraction of peak" compares numbers
    taken under the same load.
    """
    from tpcore.registry import get_registry

    try:
        harness = get_registry().harness(backend)
    except TpcoreError:
        return None
    rng = np.random.default_rng(0)
    a, b = (harness.asarray(rng.standard_normal((n, n)), "float32") for _ in range(2))

    def matmul():
        return harness.sync(a @ b)

    matmul()
    return 2 * n**3 / median_seconds(matmul, repeat) / 1e9


__all__ = ["Prepared", "prepare", "median_seconds", "matmul_peak_gflops"]
