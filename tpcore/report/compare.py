"""The measurements of ``tpcore compare``: tpcore against e3nn and e3nn-jax, side by side in one run (the performance targets).

For each backend with a peer (torch with e3nn, jax with e3nn-jax, both from plugins/tpcore-e3nn)
and each ``L`` it times, in the same process and under the same load:

- ``full``: e3nn's ``FullTensorProduct`` of ``1x0e + 1x1o + ... + 1xL`` with itself, outputs
  filtered to ``l <= L`` (mode ``uvuv``, no weights): tpcore's default cgtp vs the peer;
- ``fc``: e3nn's ``FullyConnectedTensorProduct`` ``8x(0..L) x 1x(0..L) -> 8x(0..L)`` (the
  :func:`~tpcore.report.workloads.workload_spec` cgtp workload): tpcore's default cgtp vs the peer;
- ``cw``: the channel-wise cgtp of the s2grid/gtp signals, ``8x(0..L) x 8x(0..L) -> 8x(0..L)`` in
  mode ``uuu`` (tpcore only): the same inputs and outputs as the Gaunt products, and by parity
  exactly their paths (``l1 + l2 + l3`` even), with one weight per path and channel;
- ``s2grid``, ``gtp``: the channel-wise workloads at the same ``L``, against tpcore's own cgtp
  ``fc`` and ``cw`` (the "is the cheaper variant faster" question) and against the peer's ``fc``.

At each backend and ``L`` every workload and implementation, forward and forward+backward, and a
matmul for the peak are timed together in interleaved rounds (:func:`tpcore.report.timing.interleaved`,
the timing ``tpcore report`` uses too), and each time is the median of its rounds: on a shared
machine the speed drifts over minutes, and taking turns exposes all of them to the same drift.

It prints speedups (peer time / tpcore time, > 1 is faster), the fitted growth exponent of each
row's time with ``L``, the fraction of the matmul peak measured in the same run (useful FLOPs:
2 x nonzero CG entries x channel pairs for cgtp, the cheapest modelled strategy otherwise), and
for jax the compiled peak temporary memory of forward+backward next to e3nn-jax's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from tpcore.report.timing import BUDGET_S
from tpcore.report.workloads import CHANNELS, peer_on, workload_spec

WORKLOADS = ("full", "fc", "cw", "s2grid", "gtp")


def full_spec(L: int):
    """e3nn's ``FullTensorProduct`` of ``s2_irreps(L)`` with itself, outputs filtered to ``l <= L``."""
    from tpcore.irreps import s2_irreps
    from tpcore.spec import TensorProductSpec

    x = s2_irreps(L)
    every = TensorProductSpec.cgtp(x, x, None, mode="uvuv")
    kept = [p for p in every.paths if p.ir_out.l <= L]
    out = " + ".join(f"1x{p.ir_out}" for p in kept)
    instructions = [(p.i_in1, p.i_in2, k, "uvuv", False) for k, p in enumerate(kept)]
    return TensorProductSpec.cgtp(x, x, out, mode="uvuv", instructions=instructions)


def channelwise_cgtp_spec(L: int):
    """The cgtp with the Gaunt products' signature: ``8x(0..L)`` twice into ``8x(0..L)``, mode ``uuu``."""
    from tpcore.irreps import s2_irreps
    from tpcore.spec import TensorProductSpec

    signal = s2_irreps(L, mul=CHANNELS)
    return TensorProductSpec.cgtp(signal, signal, signal, mode="uuu")


def workload(name: str, L: int):
    special = {"full": full_spec, "cw": channelwise_cgtp_spec}
    return special[name](L) if name in special else workload_spec("cgtp" if name == "fc" else name, L)


def useful_flops(spec) -> int:
    """FLOPs per sample the product needs at least (the cheapest modelled strategy)."""
    from tpcore.analysis import flops

    return min(flops(spec).values())


@dataclass
class Row:
    backend: str
    workload: str
    impl: str
    times: dict = field(default_factory=dict)  # (L, "fwd" | "fwd+bwd") -> seconds
    memory: dict = field(default_factory=dict)  # L -> bytes (jax only)


def measure(backends, workloads, Ls, batch, repeat, budget_s: float = BUDGET_S):
    """``(rows, peaks)``: at each backend and ``L``, every workload and implementation, forward and
    forward+backward, with a matmul for the peak, timed together (:func:`~tpcore.report.timing.interleaved`)."""
    from statistics import median

    from tpcore.report.timing import interleaved, matmul_call, matmul_gflops, prepare

    todo = [(b, L) for b in backends for L in Ls]
    rows: dict[tuple, Row] = {}
    peaks: dict[str, list[float]] = {}
    for k, (b, L) in enumerate(todo, start=1):
        pairs = [(w, impl) for w in workloads for impl in _impls(b, w)]
        print(f"[{k}/{len(todo)}] {b} L={L}: " + ", ".join(f"{w}/{impl or 'tpcore'}" for w, impl in pairs),
              file=sys.stderr, flush=True)
        prepared, calls = {}, {}
        for w, impl in pairs:
            rows.setdefault((b, w, impl), Row(b, w, impl))
            try:
                prepared[w, impl] = p = prepare(b, workload(w, L), impl, batch)
            except NotImplementedError as exc:
                print(f"    {w}/{impl or 'tpcore'} skipped: {exc}", file=sys.stderr)
                continue
            calls[w, impl, "fwd"] = p.forward
            if p.vjp_fn is not None:
                calls[w, impl, "fwd+bwd"] = p.forward_backward
        if (peak := matmul_call(b)) is not None:
            calls["peak"] = peak
        for key, timing in interleaved(calls, min_rounds=repeat, budget_s=budget_s).items():
            if key == "peak":
                peaks.setdefault(b, []).append(matmul_gflops(timing.median_s))
            else:
                w, impl, phase = key
                rows[b, w, impl].times[L, phase] = timing.median_s
        if b == "jax":
            for (w, impl), p in prepared.items():
                rows[b, w, impl].memory[L] = _jax_vjp_temp_bytes(p)
    return list(rows.values()), {b: median(p) for b, p in peaks.items()}


def _impls(backend: str, workload_name: str):
    """tpcore's default (None) and, for the cgtp workloads, the peer."""
    return [None, peer_on(backend)] if workload_name in ("full", "fc") else [None]


def _jax_vjp_temp_bytes(prepared) -> int | None:
    """Peak temporary memory XLA plans for forward+backward (compiled memory analysis)."""
    try:
        analysis = prepared.vjp_fn.lower(*prepared.inputs, prepared.grad_out).compile().memory_analysis()
        return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)
    except Exception:  # not every jax build reports memory; the column then says so
        return None


def tables(rows, peaks, Ls, batch) -> list[str]:
    index = {(r.backend, r.workload, r.impl): r for r in rows}
    out = [f"Speedups measured in one run, batch {batch}, float32 (> 1: tpcore is faster). "
           "Matmul peak in this run: " + ", ".join(f"{b} {p:.0f} GFLOP/s" for b, p in peaks.items() if p)]
    for phase in ("fwd", "fwd+bwd"):
        head = ["backend", "comparison"] + [f"L={L}" for L in Ls]
        lines = []
        for b in {r.backend for r in rows}:
            peer = peer_on(b)
            for w in ("full", "fc"):
                mine, theirs = index.get((b, w, None)), index.get((b, w, peer))
                if mine and theirs:
                    lines.append([b, f"cgtp {w}: {peer} / tpcore"] + [_ratio(theirs, mine, L, phase) for L in Ls])
            fc, cw, peer_fc = index.get((b, "fc", None)), index.get((b, "cw", None)), index.get((b, "fc", peer))
            for w in ("s2grid", "gtp"):
                mine = index.get((b, w, None))
                for name, cgtp in (("fc", fc), ("cw", cw)):
                    if mine and cgtp:
                        lines.append([b, f"{w}: tpcore cgtp {name} / {w}"] + [_ratio(cgtp, mine, L, phase) for L in Ls])
                if mine and peer_fc:
                    lines.append([b, f"{w}: {peer} fc / {w}"] + [_ratio(peer_fc, mine, L, phase) for L in Ls])
        out.append(f"### {phase}\n\n" + _markdown(head, sorted(lines)))
    head = ["backend", "workload", "impl", "exponent fwd", "exponent fwd+bwd"] + [f"% peak L={L}" for L in Ls]
    lines = []
    for r in rows:
        fit = [_exponent(r, phase, Ls) for phase in ("fwd", "fwd+bwd")]
        frac = []
        for L in Ls:
            t, peak = r.times.get((L, "fwd")), peaks.get(r.backend)
            frac.append(f"{100 * useful_flops(workload(r.workload, L)) * batch / t / (peak * 1e9):.1f}" if t and peak else "-")
        lines.append([r.backend, r.workload, r.impl or "tpcore", *fit, *frac])
    out.append("### growth with L (fitted exponent of time over L >= 2) and fraction of the matmul peak (forward)\n\n"
               + _markdown(head, lines))
    mem = [r for r in rows if r.memory]
    if mem:
        head = ["workload", "impl"] + [f"MiB L={L}" for L in Ls]
        lines = [[r.workload, r.impl or "tpcore"] + [_mib(r.memory.get(L)) for L in Ls] for r in mem]
        out.append("### jax: compiled peak temporary + output memory of forward+backward\n\n" + _markdown(head, lines))
    return out


def _ratio(numerator: Row, denominator: Row, L: int, phase: str) -> str:
    a, b = numerator.times.get((L, phase)), denominator.times.get((L, phase))
    return f"{a / b:.2f}" if a and b else "-"


def _exponent(row: Row, phase: str, Ls) -> str:
    points = [(L, row.times[L, phase]) for L in Ls if L >= 2 and (L, phase) in row.times]
    if len(points) < 2:
        return "-"
    from tpcore.analysis import growth_exponent

    return f"{growth_exponent(*zip(*points)):.2f}"


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


def _markdown(head, lines) -> str:
    rows = [head, ["---"] * len(head), *lines]
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


__all__ = ["WORKLOADS", "Row", "full_spec", "channelwise_cgtp_spec", "workload", "useful_flops", "measure", "tables"]
