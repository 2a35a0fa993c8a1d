"""Running implementations on a workload: build, warm up, check against the reference, and time.

:func:`prepare` returns a :class:`Prepared` whose :meth:`~Prepared.forward` and
:meth:`~Prepared.forward_backward` each run one synchronized call (the asv suite times exactly
these) and whose :meth:`~Prepared.max_error` compares a run with the float64 reference.
:func:`interleaved` is the one way tpcore times calls against each other (``tpcore report``,
``tpcore compare``, ``tpcore analyze --bench-prune``): every call of a comparison in the same
rounds, the median and the spread of each. Everything goes through the backend's
:class:`~tpcore.harness.Harness`, so any registered backend can be measured.
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from math import sqrt
from statistics import median, quantiles
from typing import Any, Callable, Hashable, Mapping, TypeVar

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
    per_sample_weights: bool = False  # w is (batch, weight_numel)
    device: str | None = None  # where the inputs live (None: the backend's default)
    tp: Any = None  # the built tensor product (tpcore.report.memory measures it)

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
        expected = _reference_output(self.spec, self.batch, self.dtype, self.seed, self.per_sample_weights)
        actual = self.harness.to_numpy(self.first_output if self.first_output is not None else self.forward())
        scale = float(np.max(np.abs(expected))) or 1.0
        return float(np.max(np.abs(actual - expected))) / scale


@lru_cache(maxsize=16)
def _reference_output(spec: TensorProductSpec, batch: int, dtype: str, seed: int, per_sample_weights: bool = False) -> np.ndarray:
    """The float64 reference on :func:`rounded_inputs`, once per workload (every backend checks it)."""
    from tpcore.reference import reference

    return reference(spec, *rounded_inputs(spec, batch, dtype, seed, per_sample_weights))


def rounded_inputs(spec: TensorProductSpec, batch: int, dtype: str, seed: int, per_sample_weights: bool = False) -> tuple:
    """The workload's float64 inputs rounded to ``dtype``: exactly the numbers the run sees."""
    inputs = workload_inputs(spec, batch, seed, per_sample_weights)
    return tuple(None if x is None else x.astype(dtype).astype(np.float64) for x in inputs)


def prepare(backend: str, spec: TensorProductSpec, impl: str | None, batch: int, dtype: str = "float32",
            seed: int = 0, per_sample_weights: bool = False, device: str | None = None) -> Prepared:
    """Build ``spec`` on ``backend``/``impl`` (on ``device``), convert inputs, compile and run once
    (forward and backward). ``per_sample_weights``: weights ``(batch, weight_numel)``.

    Raises :class:`NotImplementedError` (what asv takes as "skip") with the registry's explanation
    when the backend is unusable or has no such implementation or capability.
    """
    from tpcore.registry import get_registry

    registry = get_registry()
    try:
        chosen = registry.select(spec, backend=backend, impl=impl, device=device, dtype=dtype)
        harness = registry.harness(backend)
    except TpcoreError as exc:
        raise NotImplementedError(str(exc).splitlines()[0]) from exc
    tp = registry.build(spec, backend=backend, impl=chosen.name, device=device, dtype=dtype)
    return prepare_built(backend, chosen.name, spec, harness, tp, batch, dtype, seed, per_sample_weights, device)


def prepare_built(backend: str, impl: str, spec: TensorProductSpec, harness, tp, batch: int, dtype: str = "float32",
                  seed: int = 0, per_sample_weights: bool = False, device: str | None = None) -> Prepared:
    """:func:`prepare` for a tensor product built elsewhere: ``tp(x1, x2, w)`` named ``impl`` (a peer
    outside the registry, such as cuEquivariance), driven by ``harness``."""
    x1, x2, w = rounded_inputs(spec, batch, dtype, seed, per_sample_weights)
    inputs = tuple(None if x is None else harness.asarray(x, dtype, device) for x in (x1, x2, w))
    g = harness.asarray(np.random.default_rng(seed + 1).standard_normal((batch, spec.irreps_out.dim)), dtype, device)
    try:
        vjp_fn, reason = harness.vjp_function(tp), ""
    except NotImplementedError as exc:
        vjp_fn, reason = None, str(exc)
    prepared = Prepared(backend, impl, spec, harness, inputs, batch, g, harness.forward_function(tp), vjp_fn,
                        reason, dtype=dtype, seed=seed, per_sample_weights=per_sample_weights, device=device, tp=tp)
    prepared.first_output = prepared.forward()  # compile (jit) and fill caches outside any timing
    if vjp_fn is not None:
        prepared.forward_backward()
    return prepared


def backend_device(backend: str, device: str | None) -> str | None:
    """``device`` as ``backend`` names it: jax calls a CUDA device ``gpu`` (``cuda:1`` -> ``gpu:1``)."""
    if device is None or backend != "jax":
        return device
    kind, sep, index = device.partition(":")
    return f"gpu{sep}{index}" if kind.strip().lower() == "cuda" else device


@dataclass(frozen=True)
class Timing:
    """Wall time per call over interleaved rounds: the median and the quartiles around it."""

    median_s: float
    q1_s: float
    q3_s: float
    rounds: int

    @property
    def spread(self) -> float:
        """Interquartile range over the median: 0.05 means the middle half of the calls lie within 5%."""
        return (self.q3_s - self.q1_s) / self.median_s if self.median_s else 0.0


K = TypeVar("K", bound=Hashable)
#: seconds of timing per comparison (one L of ``tpcore report``, one backend and L of ``tpcore compare``)
#: after which rounds stop
BUDGET_S = 10.0
#: a median counts as stable once its standard error is below this fraction of it
STABLE = 0.02
#: rounds before a median can be called stable (a quartile of fewer says nothing)
MIN_ROUNDS_FOR_STABILITY = 5
#: rounds :func:`interleaved` always runs once its budget is spent, however slow the calls
MIN_ROUNDS_OVER_BUDGET = 3


def interleaved(calls: Mapping[K, Callable[[], Any]], min_rounds: int = 5, budget_s: float = 2.0,
                max_rounds: int = 200) -> dict[K, Timing]:
    """Time each of ``calls`` in rounds that run every call once, in an order shuffled each round.

    The speed of a shared machine drifts over seconds; running everything being compared in the
    same rounds exposes each to the same drift, so their ratios stay fair (timing one after the
    other does not: under load a forward once measured slower than its own forward+backward).
    Rounds continue past ``min_rounds`` (and :data:`MIN_ROUNDS_FOR_STABILITY`) while some median is
    not stable, that is while its standard error (``1.2533 sigma / sqrt(n)``, with ``sigma``
    estimated robustly as ``IQR / 1.349``) exceeds :data:`STABLE` of it, until ``max_rounds``; once
    ``budget_s`` seconds are spent they stop after ``min_rounds`` or
    :data:`MIN_ROUNDS_OVER_BUDGET` rounds, whichever is fewer. The caller has warmed every call up (compiled,
    caches filled), and each call blocks until its result exists; the allocator is put in its
    steady state first (:func:`steady_allocator`), and Python's cyclic garbage collector is off
    during the rounds (as in :mod:`timeit`): its passes are triggered by allocation counts, so in a
    run that repeats itself they can fall on the same calls round after round. In a process holding
    seven shapes' executables at L = 5, a jax forward that runs in 1.2 ms back to back measured
    9.9 ms in one slot of the rounds, and 4.4 ms with the collector off (the rest of that slot's
    excess is not explained).
    """
    keys = list(calls)
    if not keys:
        return {}
    steady_allocator()
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return _rounds(calls, keys, min_rounds, budget_s, max_rounds)
    finally:
        if collecting:
            gc.enable()


def _rounds(calls, keys, min_rounds, budget_s, max_rounds) -> dict:
    # A shuffled order, not a rotated one: rotating keeps each call behind the same neighbour, and
    # the first call after a large one runs on cold caches (a 0.9 ms jax forward took 6-14 ms right
    # after a 32-channel fully connected layer, e3nn-jax's or tpcore's). Always behind it, one call
    # of a comparison measured 12x slow; shuffled, such rounds are a minority the median ignores.
    order = random.Random(0)
    times: dict[K, list[float]] = {k: [] for k in keys}
    start = time.perf_counter()
    for n in range(1, max_rounds + 1):
        order.shuffle(keys)
        for key in keys:
            t0 = time.perf_counter()
            calls[key]()
            times[key].append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        if n >= max(min_rounds, MIN_ROUNDS_FOR_STABILITY) and all(_stable(t) for t in times.values()):
            break
        if spent > budget_s and n >= min(min_rounds, MIN_ROUNDS_OVER_BUDGET):
            break
    return {k: _timing(t) for k, t in times.items()}


@lru_cache(maxsize=None)
def steady_allocator() -> bool:
    """Keep memory a process frees for its next allocations (glibc's ``malloc``; True if applied).

    By default glibc serves large allocations by ``mmap`` and hands freed memory back to the
    system, so a call that follows a larger one touches fresh pages: interleaved on the 2-core CI
    machine, a 3 ms call after a large forward+backward ran 10-15 ms (tpcore's and e3nn's alike),
    and a strategy with large temporaries (``fused``, ``folded``) ran forward+backward at half the
    speed it keeps in a training loop, where every step reuses the memory of the last. With mmap off
    and the trim threshold at its maximum the heap keeps what it has, as jemalloc and tcmalloc do:
    every implementation measured in the same steady state. Once per process, before the first
    timing round; elsewhere (no glibc) a no-op.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def _timing(times: list[float]) -> Timing:
    m = median(times)
    q1, _, q3 = quantiles(times, n=4, method="inclusive") if len(times) > 1 else (m, m, m)
    return Timing(m, q1, q3, len(times))


def _stable(times: list[float]) -> bool:
    t = _timing(times)
    sigma = (t.q3_s - t.q1_s) / 1.349
    return 1.2533 * sigma / sqrt(len(times)) <= STABLE * t.median_s


def matmul_call(backend: str, n: int = 1024) -> Callable[[], Any] | None:
    """A warmed-up ``n x n`` float32 matmul on ``backend`` (``a @ b``, synchronized), None if it has no harness.

    Timed in the same rounds as the tensor products, it gives the peak that "% of peak" divides by,
    under the same load: ``2 n^3 / seconds``.
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
    return matmul


def matmul_gflops(seconds: float, n: int = 1024) -> float:
    """GFLOP/s of an ``n x n`` matmul that took ``seconds``."""
    return 2 * n**3 / seconds / 1e9


def matmul_peak_gflops(backend: str, n: int = 1024, repeat: int = 5) -> float | None:
    """GFLOP/s of an ``n x n`` float32 matmul on ``backend`` timed alone, None if it cannot run."""
    call = matmul_call(backend, n)
    return None if call is None else matmul_gflops(interleaved({backend: call}, repeat)[backend].median_s, n)


__all__ = ["Prepared", "prepare", "prepare_built", "backend_device", "BUDGET_S", "Timing", "interleaved", "matmul_call", "matmul_gflops", "matmul_peak_gflops"]
