"""The measurements of ``tpcore compare``: tpcore against e3nn and e3nn-jax on the shapes real models use.

For each backend with a peer (torch with e3nn, jax with e3nn-jax, both from plugins/tpcore-e3nn)
and each ``L`` it runs, in the same process and under the same load, every shape of
:data:`~tpcore.report.workloads.SHAPES` (fc8/fc16/fc32, fc_sh, conv16/32/128, full, uuu) with
tpcore's default implementation and with the peer, and the Gaunt products ``s2grid`` and ``gtp``
(tpcore only, against tpcore's own ``fc_sh`` and ``uuu`` and the peer's ``fc_sh``: "is the cheaper
variant faster").

Per shape it measures the forward and the forward+backward at ``batch`` rows, the forward of one
row (the overhead of a call), and the peak memory of forward+backward
(:func:`tpcore.report.memory.peak_memory`, which says how). At each backend and ``L`` every call,
with a matmul for the peak, is timed in interleaved rounds (:func:`tpcore.report.timing.interleaved`),
each time the median of its rounds.

:func:`tables` prints ratios peer / tpcore (> 1: tpcore is faster or smaller) per shape and ``L``,
the growth exponent with ``L`` and the fraction of the matmul peak, and a final list of the cells
below :data:`TARGETS` (issue 15's targets), worst first (:func:`worst_cells`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from tpcore.report.timing import BUDGET_S
from tpcore.report.workloads import ALIASES, SHAPES, channelwise_cgtp_spec, full_spec, peer_on, shape, workload_spec

#: the channel-wise Gaunt products, compared with tpcore's cgtp shapes (no peer)
GAUNT = ("s2grid", "gtp")
WORKLOADS = (*SHAPES, *GAUNT)
#: timed phases: forward and forward+backward at the batch, forward of one row
PHASES = ("fwd", "fwd+bwd", "batch1")
#: the least acceptable peer / tpcore ratio per (backend, metric); "memory" is peak bytes
TARGETS = {
    ("torch", "fwd"): 2.0, ("torch", "fwd+bwd"): 1.5, ("torch", "batch1"): 1.0, ("torch", "memory"): 1.0,
    ("jax", "fwd"): 1.5, ("jax", "fwd+bwd"): 1.5, ("jax", "batch1"): 1.0, ("jax", "memory"): 1.0,
}  # fmt: skip
#: on a GPU tpcore's cgtp should be within 1.5x of cuEquivariance: cueq / tpcore >= 1 / 1.5
CUE_TARGETS = {"fwd": 1 / 1.5, "fwd+bwd": 1 / 1.5}


def canonical(name: str) -> str:
    """A workload's name with the old aliases (fc, cw) resolved."""
    return ALIASES.get(name, name)


def workload(name: str, L: int):
    """The spec of workload ``name`` (a shape or a Gaunt product) at degree ``L``."""
    return workload_spec(name, L) if name in GAUNT else shape(name).spec(L)


def runs_at(name: str, L: int, device: str | None, capped: bool = True) -> bool:
    """Whether ``name`` runs at ``L``: on a CPU each shape stops at its ``max_L_cpu`` unless
    ``capped`` is false (the user named the shape)."""
    on_cpu = device is None or device.split(":")[0] == "cpu"
    return name in GAUNT or not (on_cpu and capped) or L <= shape(name).max_L_cpu


def useful_flops(spec) -> int:
    """FLOPs per sample the product needs at least (the cheapest modelled strategy)."""
    from tpcore.analysis import flops

    return min(flops(spec).values())


@dataclass
class Row:
    backend: str
    workload: str
    impl: str | None  # None: tpcore's default
    times: dict = field(default_factory=dict)  # (L, phase) -> seconds, phase in PHASES
    memory: dict = field(default_factory=dict)  # L -> bytes of forward+backward
    memory_how: str = ""  # how the bytes were counted (tpcore.report.memory.METHODS)


@dataclass(frozen=True)
class Cell:
    """One peer / tpcore ratio below its target."""

    backend: str
    workload: str
    L: int
    metric: str  # a phase or "memory"
    ratio: float
    target: float

    def __str__(self) -> str:
        return f"{self.backend} {self.workload} L={self.L} {self.metric}: {self.ratio:.2f} (target >= {self.target:g})"


def measure(backends, workloads, Ls, batch, repeat, budget_s: float = BUDGET_S, device: str | None = None,
            stream=None, capped: bool = True):
    """``(rows, peaks)``: at each backend and ``L``, every workload and implementation timed
    together (:func:`~tpcore.report.timing.interleaved`) with a matmul for the peak. ``capped``:
    on a CPU, skip each shape above its ``max_L_cpu`` (:func:`runs_at`)."""
    from statistics import median

    from tpcore.report.memory import peak_memory
    from tpcore.report.timing import backend_device, interleaved, matmul_call, matmul_gflops

    stream = stream or sys.stderr
    workloads = [canonical(w) for w in workloads]
    todo = [(b, L) for b in backends for L in Ls]
    rows: dict[tuple, Row] = {}
    peaks: dict[str, list[float]] = {}
    start = time.perf_counter()
    for k, (b, L) in enumerate(todo, start=1):
        local = backend_device(b, device)
        pairs = [(w, impl) for w in workloads if runs_at(w, L, device, capped) for impl in _impls(b, w)]
        skipped = [w for w in workloads if not runs_at(w, L, device, capped)]
        print(f"[{k}/{len(todo)}] {b} L={L}: building {len(pairs)}" + (f" (not on a CPU: {', '.join(skipped)})" if skipped else "")
              + f", {time.perf_counter() - start:.0f} s so far", file=stream, flush=True)
        calls, prepared = _prepare_calls(b, L, pairs, batch, local, rows, stream)
        if (peak := matmul_call(b)) is not None:
            calls["peak"] = peak
        t0 = time.perf_counter()
        # Batch-1 calls get rounds of their own, among calls of their size: the first call after a
        # large one runs on cold caches, 3-5x slower (tpcore's and e3nn's alike), which put fc32's
        # batch-1 ratio anywhere between 0.2 and 1.4 in shared rounds.
        small = {key: call for key, call in calls.items() if key[-1] == "batch1"}
        timings = interleaved({key: call for key, call in calls.items() if key not in small},
                              min_rounds=repeat, budget_s=budget_s)
        timings |= interleaved(small, min_rounds=repeat, budget_s=budget_s)
        for key, timing in timings.items():
            if key == "peak":
                peaks.setdefault(b, []).append(matmul_gflops(timing.median_s))
            else:
                w, impl, phase = key
                rows[b, w, impl].times[L, phase] = timing.median_s
        for (w, impl), p in prepared.items():
            rows[b, w, impl].memory[L], rows[b, w, impl].memory_how = peak_memory(p)
        rounds = max((t.rounds for t in timings.values()), default=0)
        print(f"    {len(calls)} calls timed together, {rounds} rounds, {time.perf_counter() - t0:.1f} s",
              file=stream, flush=True)
    return list(rows.values()), {b: median(p) for b, p in peaks.items()}


def _prepare_calls(b, L, pairs, batch, device, rows, stream) -> tuple[dict, dict]:
    """``(calls, prepared)`` of one backend and ``L``: ``(workload, impl, phase) -> call`` and
    ``(workload, impl) ->`` the :class:`~tpcore.report.timing.Prepared` at the batch (for its memory)."""

    calls, prepared = {}, {}
    for w, impl in pairs:
        rows.setdefault((b, w, impl), Row(b, w, impl))
        per_sample = w in SHAPES and SHAPES[w].per_sample_weights
        try:
            p = _prepare(b, w, L, impl, batch, per_sample, device)
            one = _prepare(b, w, L, impl, 1, per_sample, device) if w in SHAPES else None
        except NotImplementedError as exc:
            print(f"    {w}/{impl or 'tpcore'} skipped: {exc}", file=stream)
            continue
        prepared[w, impl] = p
        calls[w, impl, "fwd"] = p.forward
        if p.vjp_fn is not None:
            calls[w, impl, "fwd+bwd"] = p.forward_backward
        if one is not None:
            calls[w, impl, "batch1"] = one.forward
    return calls, prepared


def _prepare(backend, w, L, impl, batch, per_sample, device):
    from tpcore.registry import get_registry
    from tpcore.report import cue_peer
    from tpcore.report.timing import prepare, prepare_built

    spec = workload(w, L)
    if impl != cue_peer.NAME:
        return prepare(backend, spec, impl, batch, per_sample_weights=per_sample, device=device)
    tp = cue_peer.build(w, spec, device)
    return prepare_built(backend, impl, spec, get_registry().harness(backend), tp, batch, per_sample_weights=per_sample,
                         device=device)


def _impls(backend: str, workload_name: str):
    """tpcore's default (None) and, for the shapes, the peers (cuEquivariance on torch when installed)."""
    from tpcore.report import cue_peer

    if workload_name not in SHAPES:
        return [None]
    return [None, *peers(backend)] if backend == "torch" and cue_peer.available() else [None, peer_on(backend)]


def peers(backend: str) -> list[str]:
    """The peers compared on ``backend``: the e3nn one, then cuEquivariance on torch."""
    from tpcore.report.cue_peer import NAME

    return [peer_on(backend)] + ([NAME] if backend == "torch" else [])


# -- what the measurements say ----------------------------------------------------------------------


def ratio(numerator: Row | None, denominator: Row | None, L: int, metric: str) -> float | None:
    """``numerator / denominator`` of a time (metric a phase) or of peak bytes (metric "memory")."""
    if numerator is None or denominator is None:
        return None
    a, b = ((r.memory.get(L) for r in (numerator, denominator)) if metric == "memory"
            else (r.times.get((L, metric)) for r in (numerator, denominator)))
    return a / b if a and b else None


def worst_cells(rows, Ls) -> list[Cell]:
    """Every peer / tpcore ratio below its :data:`TARGETS` entry, the furthest below first."""
    index = {(r.backend, r.workload, r.impl): r for r in rows}
    cells = []
    for (b, w, impl), mine in index.items():
        if impl is not None or w not in SHAPES:
            continue
        for peer in peers(b):
            theirs = index.get((b, w, peer))
            for metric in (*PHASES, "memory"):
                target = TARGETS.get((b, metric)) if peer == peer_on(b) else CUE_TARGETS.get(metric)
                for L in Ls:
                    r = ratio(theirs, mine, L, metric)
                    if target is not None and r is not None and r < target:
                        cells.append(Cell(b, w, L, metric if peer == peer_on(b) else f"{metric} vs {peer}", r, target))
    return sorted(cells, key=lambda c: (c.ratio / c.target, c.backend, c.workload, c.L))


def tables(rows, peaks, Ls, batch, device: str | None = None) -> list[str]:
    index = {(r.backend, r.workload, r.impl): r for r in rows}
    backends = sorted({r.backend for r in rows})
    where = f"on {device}" if device else "on each backend's default device"
    out = [f"Ratios measured in one run, batch {batch}, float32, {where} "
           "(peer / tpcore: > 1 means tpcore is faster or smaller). "
           "Matmul peak in this run: " + ", ".join(f"{b} {p:.0f} GFLOP/s" for b, p in peaks.items() if p)]
    titles = {"fwd": "fwd", "fwd+bwd": "fwd+bwd", "batch1": "batch-1 call (forward of one row)"}
    for phase in PHASES:
        head = ["backend", "comparison"] + [f"L={L}" for L in Ls]
        lines = []
        for b in backends:
            for peer in peers(b):
                for w in SHAPES:
                    mine, theirs = index.get((b, w, None)), index.get((b, w, peer))
                    if mine and theirs:
                        lines.append([b, f"cgtp {w}: {peer} / tpcore"] + [_fmt(ratio(theirs, mine, L, phase)) for L in Ls])
            if phase != "batch1":
                lines += _gaunt_lines(index, b, phase, Ls)
        if lines:
            out.append(f"### {titles[phase]}\n\n" + _markdown(head, lines))
    out += _memory_tables(rows, index, Ls)
    out.append(_growth_table(rows, peaks, Ls, batch))
    cells = worst_cells(rows, Ls)
    targets = "; ".join([f"{b} {m} >= {t:g}" for (b, m), t in TARGETS.items()]
                        + [f"torch {m} vs cueq >= {t:.2f}" for m, t in CUE_TARGETS.items()])
    out.append(f"### worst cells: {len(cells)} below target ({targets})\n\n"
               + ("\n".join(f"- {c}" for c in cells) if cells else "none"))
    return out


def _gaunt_lines(index, b, phase, Ls) -> list[list[str]]:
    peer = peer_on(b)
    fc, uuu, peer_fc = index.get((b, "fc_sh", None)), index.get((b, "uuu", None)), index.get((b, "fc_sh", peer))
    lines = []
    for w in GAUNT:
        mine = index.get((b, w, None))
        for name, cgtp in (("fc_sh", fc), ("uuu", uuu)):
            if mine and cgtp:
                lines.append([b, f"{w}: tpcore cgtp {name} / {w}"] + [_fmt(ratio(cgtp, mine, L, phase)) for L in Ls])
        if mine and peer_fc:
            lines.append([b, f"{w}: {peer} fc_sh / {w}"] + [_fmt(ratio(peer_fc, mine, L, phase)) for L in Ls])
    return lines


def _memory_tables(rows, index, Ls) -> list[str]:
    measured = [r for r in rows if r.memory and any(v is not None for v in r.memory.values())]
    if not measured:
        return []
    head = ["backend", "workload", "impl"] + [f"MiB L={L}" for L in Ls]
    lines = [[r.backend, r.workload, r.impl or "tpcore"] + [_mib(r.memory.get(L)) for L in Ls] for r in measured]
    for r in measured:
        for peer in peers(r.backend) if r.impl is None else ():
            if (theirs := index.get((r.backend, r.workload, peer))) is not None:
                lines.append([r.backend, r.workload, f"ratio {peer} / tpcore"] + [_fmt(ratio(theirs, r, L, "memory")) for L in Ls])
    how = "; ".join(sorted({f"{r.backend}: {r.memory_how}" for r in measured}))
    return [f"### peak memory of forward+backward ({how})\n\n" + _markdown(head, lines)]


def _growth_table(rows, peaks, Ls, batch) -> str:
    head = ["backend", "workload", "impl", "exponent fwd", "exponent fwd+bwd"] + [f"% peak L={L}" for L in Ls]
    lines = []
    for r in rows:
        fit = [_exponent(r, phase, Ls) for phase in ("fwd", "fwd+bwd")]
        frac = []
        for L in Ls:
            t, peak = r.times.get((L, "fwd")), peaks.get(r.backend)
            frac.append(f"{100 * useful_flops(workload(r.workload, L)) * batch / t / (peak * 1e9):.1f}" if t and peak else "-")
        lines.append([r.backend, r.workload, r.impl or "tpcore", *fit, *frac])
    return ("### growth with L (fitted exponent of time over L >= 2) and fraction of the matmul peak (forward)\n\n"
            + _markdown(head, lines))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _exponent(row: Row, phase: str, Ls) -> str:
    points = [(L, row.times[L, phase]) for L in Ls if L >= 2 and (L, phase) in row.times]
    if len(points) < 2:
        return "-"
    from tpcore.analysis import growth_exponent

    return f"{growth_exponent(*zip(*points)):.2f}"


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.2f}"


def _markdown(head, lines) -> str:
    rows = [head, ["---"] * len(head), *lines]
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


__all__ = ["full_spec", "channelwise_cgtp_spec", "GAUNT", "WORKLOADS", "PHASES", "TARGETS", "CUE_TARGETS", "peers", "Row", "Cell", "canonical", "workload", "runs_at", "useful_flops",
           "measure", "ratio", "worst_cells", "tables"]
