"""The measurements of ``tpcore report``: which implementations run, and one :class:`Row` per run.

The plan (:func:`plan_cases`) is every usable backend x variant with the variant's default
implementation on that backend, plus the e3nn peers (:data:`~tpcore.report.workloads.PEERS`)
when the e3nn plugin is installed, each at every ``L``. :func:`measure` runs them ``L`` by ``L``,
timing every case of one ``L`` together, printing progress to stderr, and fills in the ratios to
the peers. :attr:`Row.doubts` says why a row's numbers cannot be trusted, if they cannot.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Sequence, TextIO

from tpcore.analysis.expressivity import interactions
from tpcore.report.timing import BUDGET_S
from tpcore.report.workloads import PEERS, workload_spec

#: a row whose spread (interquartile range / median) is above this is doubtful: on a quiet
#: machine spreads stay within a few percent; under load they reached 156% and 1261%
SPREAD_LIMIT = 0.5
#: the kinds of :attr:`Row.doubts`, as the report's summary line names them
SPREAD = f"spread over {SPREAD_LIMIT:.0%}"
SLOW_FORWARD = "forward slower than forward+backward"
OVER_PEAK = "over 100% of peak"
DOUBTFUL_PEER = "ratio to a doubtful peer row"


@dataclass(frozen=True)
class CaseKey:
    """One implementation to measure: ``backend/variant/impl`` (impl None = the default)."""

    backend: str
    variant: str
    impl: str | None

    @property
    def is_peer(self) -> bool:
        return self.impl in PEERS


@dataclass
class Row:
    """One implementation at one ``L``: correctness, times, FLOPs and ratios to the peers."""

    backend: str
    variant: str
    impl: str
    L: int
    batch: int
    dtype: str
    interactions: int = 0  # distinct couplings ir_in1 x ir_in2 -> ir_out (tpcore.analysis.expressivity)
    flops: int = 0  # per sample
    max_error: float | None = None
    tolerance: float = 0.0
    forward_s: float | None = None  # median of the interleaved rounds
    forward_backward_s: float | None = None
    #: interquartile range over the median of the forward and forward+backward calls
    forward_spread: float | None = None
    forward_backward_spread: float | None = None
    peak_gflops: float | None = None
    #: forward time / the peer's forward time at the same L, by peer name (e3nn, e3nn_jax)
    ratios: dict[str, float] = field(default_factory=dict)
    #: the peers whose own row at this L is doubtful, so the ratio to them is too
    doubtful_peers: tuple[str, ...] = ()
    error: str = ""  # why the row has no numbers, if it has none
    #: the machine's 1-minute load average right after this L was timed (os.getloadavg)
    load_average: float | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.variant}/{self.impl}"

    @property
    def correct(self) -> bool:
        return self.max_error is not None and self.max_error <= self.tolerance

    @property
    def gflops(self) -> float | None:
        """Achieved forward GFLOP/s (the variant's counted FLOPs over the measured time)."""
        return None if not self.forward_s else self.flops * self.batch / self.forward_s / 1e9

    @property
    def doubts(self) -> dict[str, str]:
        """Why this row cannot be trusted, ``{kind: detail}`` (empty when it can): its
        :attr:`time_doubts`, and ratios to a peer whose row at this ``L`` has time doubts."""
        found = self.time_doubts
        if self.doubtful_peers:
            found[DOUBTFUL_PEER] = ", ".join(f"{peer} row doubtful" for peer in self.doubtful_peers)
        return found

    @property
    def time_doubts(self) -> dict[str, str]:
        """Why the times of this row cannot be trusted, ``{kind: detail}``: a spread over
        :data:`SPREAD_LIMIT`, a forward slower than its own forward+backward, more than the matmul
        peak measured in the same rounds. Each means the machine's load changed under the rounds."""
        found = {}
        spreads = [f"{name} spread {s:.0%}" for name, s in (("fwd", self.forward_spread),
                                                             ("fwd+bwd", self.forward_backward_spread))
                   if s is not None and s > SPREAD_LIMIT]
        if spreads:
            found[SPREAD] = ", ".join(spreads)
        if self.forward_s and self.forward_backward_s and self.forward_s > self.forward_backward_s:
            found[SLOW_FORWARD] = f"fwd {self.forward_s * 1e3:.3g} ms > fwd+bwd {self.forward_backward_s * 1e3:.3g} ms"
        if self.gflops and self.peak_gflops and self.gflops > self.peak_gflops:
            found[OVER_PEAK] = f"{self.gflops / self.peak_gflops:.0%} of peak"
        return found


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`measure`; ``rows`` holds the measurements finished before it."""

    def __init__(self, rows: list[Row]):
        super().__init__(f"interrupted after {len(rows)} measurements")
        self.rows = rows


def plan_cases(backends: Sequence[str] | None, variants: Sequence[str]) -> list[CaseKey]:
    """The default implementation of each variant on each usable backend, then the e3nn peers."""
    from tpcore.registry import get_registry

    registry = get_registry()
    usable = [b for b in registry.available() if backends is None or b in backends]
    cases = [CaseKey(b, v, None) for b in usable for v in variants
             if any(i.name not in PEERS for i in registry.implementations(b, v))]
    peers = [CaseKey(i.backend, "cgtp", i.name) for i in registry.implementations(variant="cgtp")
             if i.name in PEERS and i.backend in usable]
    return cases + peers


def measure(cases: Sequence[CaseKey], ls: Sequence[int], batch: int, dtype: str, repeat: int,
            max_call_s: float = 1.0, stream: TextIO = sys.stderr, budget_s: float = BUDGET_S) -> list[Row]:
    """Run every case at every ``L``; returns the rows case by case, ``L`` ascending.

    At each ``L`` every case is built and checked, then all of them, forward and forward+backward,
    with a 1024x1024 matmul per backend for the peak, are timed together by
    :func:`~tpcore.report.timing.interleaved` (at least ``repeat`` rounds, about ``budget_s``
    seconds at most): every number of one ``L``, ratios to the peers and fractions of the peak
    included, comes from the same rounds under the same load. Times grow with ``L``, so once a
    case's forward call takes over ``max_call_s`` seconds its larger ``L`` are skipped (with that
    reason in the table): one slow implementation must not hold the whole report up, and once
    every case is that slow the larger ``L`` are left out. Ctrl-C raises :class:`Interrupted`
    carrying the rows of the ``L`` finished before it.
    """
    rows: list[tuple[int, Row]] = []
    too_slow: dict[CaseKey, Row] = {}  # case -> the row that took too long
    try:
        for L in ls:
            rows += _measure_at(L, cases, batch, dtype, repeat, budget_s, too_slow, stream, done=len(rows),
                                total=len(cases) * len(ls))
            for (_, row), case in zip(rows[-len(cases):], cases):
                if row.forward_s and row.forward_s > max_call_s:
                    too_slow.setdefault(case, row)
            if len(too_slow) == len(cases):
                print(f"    every implementation took over {max_call_s:g} s per call by L={L}: nothing left to time",
                      file=stream, flush=True)
                break
    except KeyboardInterrupt as exc:
        raise Interrupted([row for _, row in sorted(rows, key=lambda r: (r[0], r[1].L))]) from exc
    return [row for _, row in sorted(rows, key=lambda r: (r[0], r[1].L))]


def _measure_at(L, cases, batch, dtype, repeat, budget_s, too_slow, stream, done, total) -> list[tuple[int, Row]]:
    """The rows of every case at ``L`` (in case order, with the case's index)."""
    from tpcore.report.timing import interleaved, matmul_call, matmul_gflops

    rows, calls = [], {}
    for index, case in enumerate(cases):
        start = time.perf_counter()
        if case in too_slow:
            slow = too_slow[case]
            row = Row(case.backend, case.variant, slow.impl, L, batch, dtype, len(interactions(workload_spec(case.variant, L))),
                      error=f"skipped: L={slow.L} took {slow.forward_s:.1f} s per call (> --max-call-seconds)")
        else:
            row, prepared = _prepare_one(case, L, batch, dtype)
            if prepared is not None:
                calls[index, "fwd"] = prepared.forward
                if prepared.vjp_fn is not None:
                    calls[index, "fwd+bwd"] = prepared.forward_backward
        rows.append((index, row))
        print(f"[{done + index + 1}/{total}] {row.label} L={L}: {_progress(row)} ({time.perf_counter() - start:.1f} s)",
              file=stream, flush=True)
    backends = sorted({cases[i].backend for i, _ in calls})
    calls.update({("peak", b): call for b in backends if (call := matmul_call(b)) is not None})
    start = time.perf_counter()
    timings = interleaved(calls, min_rounds=repeat, budget_s=budget_s)
    load = _load_average()
    peaks = {key[1]: matmul_gflops(t.median_s) for key, t in timings.items() if key[0] == "peak"}
    for index, row in rows:
        forward, backward = timings.get((index, "fwd")), timings.get((index, "fwd+bwd"))
        row.peak_gflops = peaks.get(row.backend)
        if forward is not None:
            row.forward_s, row.forward_spread = forward.median_s, forward.spread
        if backward is not None:
            row.forward_backward_s, row.forward_backward_spread = backward.median_s, backward.spread
        row.load_average = load
    _fill_ratios([row for _, row in rows])
    rounds = max((t.rounds for t in timings.values()), default=0)
    print(f"    L={L}: {len(calls)} calls timed together, {rounds} rounds ({time.perf_counter() - start:.1f} s): "
          + "; ".join(f"{row.label} {_times(row)}" for _, row in rows if row.forward_s), file=stream, flush=True)
    return rows


def _prepare_one(case: CaseKey, L: int, batch: int, dtype: str):
    """``(row, prepared)``: the case built, warmed up and checked at ``L``; ``prepared`` None if it cannot run."""
    from tpcore.analysis import implementation_flops
    from tpcore.report.timing import prepare
    from tpcore.testing.checks import TOLERANCES

    spec = workload_spec(case.variant, L)
    row = Row(case.backend, case.variant, case.impl or "?", L, batch, dtype, len(interactions(spec)),
              tolerance=TOLERANCES[dtype])
    try:
        prepared = prepare(case.backend, spec, case.impl, batch, dtype)
        row.impl = prepared.impl
        row.flops = implementation_flops(spec, prepared.impl)
        row.max_error = prepared.max_error()
        return row, prepared
    except NotImplementedError as exc:
        row.error = f"skipped: {exc}"
    except MemoryError as exc:  # the batch at this L, not a bug: no traceback
        row.error = f"out of memory at batch {batch}: {exc}".splitlines()[0]
    except Exception as exc:  # one broken implementation must not hide the others' numbers
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        traceback.print_exc(file=sys.stderr)
    return row, None


def _fill_ratios(rows: list[Row]) -> None:
    peer_rows = {(r.impl, r.L): r for r in rows if r.impl in PEERS and r.forward_s}
    for r in rows:
        for peer in PEERS:
            p = peer_rows.get((peer, r.L))
            if p is not None and r.forward_s:
                r.ratios[peer] = r.forward_s / p.forward_s
                if p.time_doubts and p is not r:
                    r.doubtful_peers += (peer,)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every system
        return None


def _progress(row: Row) -> str:
    return row.error or f"built, error {row.max_error:.1e}"


def _times(row: Row) -> str:
    fb = f", fwd+bwd {row.forward_backward_s * 1e3:.3g} ms" if row.forward_backward_s else ""
    return f"fwd {row.forward_s * 1e3:.3g} ms{fb}"


__all__ = ["SPREAD_LIMIT", "SPREAD", "SLOW_FORWARD", "OVER_PEAK", "DOUBTFUL_PEER", "CaseKey", "Row", "Interrupted", "plan_cases", "measure"]
