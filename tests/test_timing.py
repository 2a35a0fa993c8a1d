"""One timing for every comparison (issue 16, "Measurement you can trust"): `tpcore.report.timing.interleaved`.

A fake clock makes the rounds deterministic: each call advances it by the duration the test gives.
"""

from __future__ import annotations

import itertools

import pytest

from tpcore.report import timing
from tpcore.report.timing import STABLE, interleaved


@pytest.fixture
def clock(monkeypatch):
    """``clock.calls(name, durations)``: a call that takes the next of ``durations`` seconds; ``clock.log``: the order."""

    class Clock:
        def __init__(self):
            self.now, self.log = 0.0, []

        def perf_counter(self):
            return self.now

        def calls(self, name, durations):
            durations = iter(durations)

            def call():
                self.log.append(name)
                self.now += next(durations)

            return call

    fake = Clock()
    monkeypatch.setattr(timing.time, "perf_counter", fake.perf_counter)
    return fake


def test_every_round_calls_everything_once_in_a_shuffled_order(clock):
    calls = {name: clock.calls(name, itertools.repeat(0.01)) for name in "abcdef"}
    result = interleaved(calls, min_rounds=1)  # constant times: stable once a median can be judged
    rounds = [clock.log[k:k + 6] for k in range(0, len(clock.log), 6)]
    assert len(rounds) == 5 and all(sorted(r) == list("abcdef") for r in rounds)
    # a call does not keep one neighbour: what runs right before "a" changes between rounds
    assert len({r[r.index("a") - 1] if r.index("a") else "start" for r in rounds}) > 1
    assert {k: t.rounds for k, t in result.items()} == dict.fromkeys("abcdef", 5)
    assert result["a"].median_s == pytest.approx(0.01) and result["a"].spread == pytest.approx(0, abs=1e-9)


def test_median_and_spread_come_from_the_rounds(clock):
    result = interleaved({"x": clock.calls("x", [1.0, 2.0, 3.0, 4.0, 100.0])}, min_rounds=5, max_rounds=5,
                         budget_s=1e9)
    t = result["x"]
    assert t.median_s == 3.0 and (t.q1_s, t.q3_s) == (2.0, 4.0) and t.rounds == 5
    assert t.spread == pytest.approx(2.0 / 3.0)  # one outlier moves neither the median nor the quartiles


def test_rounds_continue_until_the_median_is_stable(clock):
    noisy = itertools.cycle([1.0, 1.2, 0.8, 1.1, 0.9])  # sigma ~ 0.15: stable to 2% after about 90 rounds
    result = interleaved({"x": clock.calls("x", noisy)}, min_rounds=5, budget_s=1e9, max_rounds=1000)
    n = result["x"].rounds
    assert 5 < n < 1000
    sigma = (result["x"].q3_s - result["x"].q1_s) / 1.349
    assert 1.2533 * sigma / n**0.5 <= STABLE * result["x"].median_s


def test_the_budget_stops_the_rounds_but_not_before_three(clock):
    slow = clock.calls("slow", itertools.cycle([10.0, 30.0]))
    assert interleaved({"slow": slow}, min_rounds=20, budget_s=1.0)["slow"].rounds == 3
    assert interleaved({"slow": slow}, min_rounds=2, budget_s=1.0)["slow"].rounds == 2
    assert interleaved({}, min_rounds=5) == {}


def test_the_report_times_everything_of_one_L_in_the_same_rounds(tpcore_env, monkeypatch):
    """Forward, forward+backward and the matmul peak of every case at one L go to one `interleaved`."""
    pytest.importorskip("torch")
    from tpcore.report.measure import measure, plan_cases

    seen = []
    real = timing.interleaved

    def spy(calls, **kwargs):
        seen.append(sorted(map(str, calls)))
        return real(calls, **kwargs)

    monkeypatch.setattr(timing, "interleaved", spy)
    cases = plan_cases(["numpy", "torch"], ["cgtp"])
    rows = measure(cases, [1, 2], batch=8, dtype="float32", repeat=2, budget_s=0.5)
    assert len(seen) == 2  # one per L
    for keys in seen:
        assert "('peak', 'numpy')" in keys and "('peak', 'torch')" in keys
        assert sum("'fwd'" in k for k in keys) == len(cases)
    torch_rows = [r for r in rows if r.backend == "torch"]
    assert all(r.forward_backward_s and r.forward_spread is not None for r in torch_rows)
    assert len({(r.backend, r.L, r.peak_gflops) for r in rows}) == len({(r.backend, r.L) for r in rows})


def test_timing_rounds_run_with_the_allocator_keeping_freed_memory():
    """glibc is told once to keep freed memory (no mmap, no trim), before the first round."""
    import ctypes
    import sys

    timing.steady_allocator.cache_clear()
    interleaved({"a": lambda: None}, min_rounds=1, budget_s=0.0)
    assert timing.steady_allocator.cache_info().currsize == 1
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert timing.steady_allocator() is True
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = libc.sbrk.restype = ctypes.c_void_p
        # a large block comes from the heap, below the program break (mmap's blocks lie far above
        # it), and the heap keeps it once freed (no trim)
        block = libc.malloc(64 * 2**20)
        top = libc.sbrk(0)
        libc.free(ctypes.c_void_p(block))
        assert block + 64 * 2**20 <= top and libc.sbrk(0) == top


def test_the_cyclic_garbage_collector_is_off_during_the_rounds_only(clock):
    """A collection pass falls on whichever call crosses the allocation threshold; off during the
    rounds (as in timeit), it is back on afterwards, and stays off for a caller who had it off."""
    import gc

    seen = []
    calls = {"x": lambda: seen.append(gc.isenabled())}
    assert gc.isenabled()
    interleaved(calls, min_rounds=1, max_rounds=2)
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        interleaved(calls, min_rounds=1, max_rounds=1)
        assert not gc.isenabled()
    finally:
        gc.enable()
