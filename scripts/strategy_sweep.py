"""Which cgtp strategy is fastest on the shapes real models run, against the e3nn peer in the same run.

Prints, per shape of ``tpcore.report.workloads.SHAPES`` (e3nn's fully connected layer with 8, 16
and 32 channels on both inputs and with spherical harmonics as the second input, MACE's ``uvu``
convolution with per-edge weights at 16, 32 and 128 channels, the full product, the channel-wise
``uuu`` product) and ``L``, the forward and forward+backward speedup of every strategy over the
peer (e3nn on torch, e3nn-jax on jax): calls of all of them interleaved
(``tpcore.report.timing.interleaved``), medians. Then the fastest strategy (forward+backward) and
the one ``auto`` picks for this backend and device type.

    .venv/bin/python scripts/strategy_sweep.py [--backend torch|jax] [--device cuda] [--rows 1000]
        [--lmin 1] [--lmax 3] [--rounds 7] [--seconds 4] [--only conv]

Ratios are what to read: on a shared machine absolute times drift, interleaving makes them drift
alike for every column. ``-``: the strategy refused the shape (``folded`` above its memory limit);
``oom``: it ran out of the device's memory; ``mem``: not run, its working memory would pass
``--max-gib``. ``scripts/device_check.sh`` runs this
on a GPU as its ``sweep-torch`` and ``sweep-jax`` steps.
"""

from __future__ import annotations

import argparse
import gc

from tpcore.cost import fused_terms
from tpcore.descriptor import describe
from tpcore.plan import STRATEGIES, resolve_strategy
from tpcore.report.timing import backend_device, interleaved, prepare
from tpcore.report.workloads import SHAPES, peer_on


def working_bytes(spec, strategy: str, rows: int) -> int:
    """What a forward+backward of ``strategy`` allocates per call, roughly: ``fused``'s gathered terms
    and their products (four float32 arrays of ``rows x terms``), ``folded``'s outer product
    ``x1 (x) x2`` (two)."""
    d = describe(spec)
    if strategy == "fused":
        return 16 * rows * fused_terms(d)
    if strategy == "folded":
        return 8 * rows * d.dims[0] * d.dims[1]
    return 0


def prepared_calls(backend: str, spec, shape, rows: int, device: str | None, max_bytes: float):
    """``{impl: Prepared or the reason it is missing}`` for every strategy and the peer."""
    out = {}
    for impl in [s for s in STRATEGIES["cgtp"] if s != "auto"] + [peer_on(backend)]:
        if working_bytes(spec, impl, rows) > max_bytes:
            out[impl] = "mem"  # would not fit (or would take minutes): not run
            continue
        try:
            out[impl] = prepare(backend, spec, impl, rows, per_sample_weights=shape.per_sample_weights, device=device)
        except (NotImplementedError, ValueError) as exc:  # folded refuses what would not fit
            out[impl] = "-" if "folded" in str(exc) else f"skipped: {str(exc).splitlines()[0]}"
        except Exception as exc:  # out of the device's memory, as each framework says it
            if "out of memory" not in str(exc).lower() and "resource_exhausted" not in str(exc).lower():
                raise
            out[impl] = "oom"
            gc.collect()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch", choices=("torch", "jax"))
    parser.add_argument("--device", default=None, help="device to run on, e.g. cuda (default: the backend's)")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--lmin", type=int, default=1)
    parser.add_argument("--lmax", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds at least")
    parser.add_argument("--seconds", type=float, default=4.0, help="stop adding rounds after this many seconds per shape")
    parser.add_argument("--only", default="", help="only the shapes whose name contains this text")
    parser.add_argument("--max-gib", type=float, default=2.0,
                        help="skip a strategy whose working memory would exceed this (fused, folded; shown as mem)")
    args = parser.parse_args()
    if args.rows < 1 or args.lmin < 1 or args.lmax < args.lmin or args.rounds < 1 or args.seconds <= 0:
        parser.error("--rows, --lmin, --rounds and --seconds must be positive and --lmax at least --lmin")
    device = backend_device(args.backend, args.device)
    device_type = "cuda" if args.device and args.device.startswith("cuda") else "cpu"
    peer = peer_on(args.backend)
    strategies = [s for s in STRATEGIES["cgtp"] if s != "auto"]
    print(f"{args.backend}: speedup over {peer} (forward / forward+backward), {args.rows} rows, float32, "
          f"device {args.device or 'default'}")
    print(f"{'shape':12s} " + " ".join(f"{s:>11s}" for s in strategies) + "   fastest  auto")
    for L in range(args.lmin, args.lmax + 1):
        for name, shape in SHAPES.items():
            if args.only not in name or (device_type == "cpu" and L > shape.max_L_cpu):
                continue
            spec = shape.spec(L)
            prepared = prepared_calls(args.backend, spec, shape, args.rows, device, args.max_gib * 2**30)
            ready = {impl: p for impl, p in prepared.items() if not isinstance(p, str)}
            if peer not in ready:
                print(f"{name} L{L}: no {peer} ({prepared[peer]})", flush=True)
                continue
            calls = {(impl, "fwd"): p.forward for impl, p in ready.items()}
            calls |= {(impl, "fwd+bwd"): p.forward_backward for impl, p in ready.items() if p.vjp_fn is not None}
            times = interleaved(calls, min_rounds=args.rounds, budget_s=args.seconds)
            ratio = {key: times[peer, key[1]].median_s / t.median_s for key, t in times.items()}
            cells = [
                f"{ratio[s, 'fwd']:5.2f}/{ratio[s, 'fwd+bwd']:<5.2f}" if (s, "fwd+bwd") in ratio else f"{prepared[s] if isinstance(prepared[s], str) and len(prepared[s]) < 4 else '-':>11s}"
                for s in strategies
            ]
            fastest = max((s for s in strategies if (s, "fwd+bwd") in ratio), key=lambda s: ratio[s, "fwd+bwd"])
            picked = resolve_strategy(spec, backend=args.backend, device=device_type)
            print(f"{name + ' L' + str(L):12s} " + " ".join(cells) + f"   {fastest:7s}  {picked}", flush=True)
            del prepared, ready, calls
            gc.collect()


if __name__ == "__main__":
    main()
