"""``tpcore report``: correctness, speed and FLOPs of every usable implementation, with plots.

Writes ``report.md``, a self-contained ``report.html`` and the PNG plots into ``--out`` and prints
the table. Exits 1 when an implementation is outside its dtype's tolerance or failed to run; on
Ctrl-C it writes what was measured so far (the header says so) and exits 130.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

from tpcore.cli.common import (
    INTERRUPTED,
    UsageError,
    backend_problem,
    batch_size,
    check_batch_memory,
    check_names,
    degree,
    names,
    output_folder,
    positive_float,
    positive_int,
    sized_by,
    table,
)
from tpcore.report.timing import BUDGET_S
from tpcore.spec import VARIANTS

HELP = "measure every usable implementation: correctness vs the reference, time, FLOPs, ratios to e3nn; writes report.md/.html and plots"
DEFAULT_OUT = "tpcore-report"


def configure(parser: argparse.ArgumentParser) -> None:
    from tpcore.registry import DTYPES

    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)")
    parser.add_argument("--lmax", type=degree, default=6, help="measure L = 1..LMAX (default 6)")
    parser.add_argument("--batch", type=batch_size, default=1000, help="samples per call (default 1000)")
    parser.add_argument("--backends", type=names, default=None, help="comma-separated (default: every usable one)")
    parser.add_argument("--variants", type=names, default=list(VARIANTS), help="comma-separated (default: all)")
    parser.add_argument("--repeat", type=positive_int, default=5,
                        help="interleaved rounds at least (all implementations of one L timed together), median "
                             "reported (default 5)")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument("--timing-seconds", type=positive_float, default=BUDGET_S,
                        help=f"stop adding timing rounds at one L after this many seconds (default {BUDGET_S:g})")
    parser.add_argument("--max-call-seconds", type=positive_float, default=1.0,
                        help="skip larger L of an implementation once one forward call takes longer (default 1)")


def run(args: argparse.Namespace) -> int:
    from tpcore.registry import get_registry
    from tpcore.report.measure import Interrupted, measure, plan_cases
    from tpcore.report.tables import reliability
    from tpcore.report.workloads import workload_spec

    check_names("--variants", args.variants, VARIANTS, "the variants")
    registry = get_registry()
    if args.backends is not None:
        check_names("--backends", args.backends, list(registry.backends), "the registered backends")
    backends = []
    for b in args.backends or registry.available():
        problem = backend_problem(b)
        if problem is None:
            backends.append(b)
        elif args.backends is not None or registry.reason(b) is None:  # say why an explicit or usable one is left out
            print(f"tpcore report: skipping {b}: {problem}", file=sys.stderr)
    cases = plan_cases(backends, args.variants) if backends else []
    if not cases:
        raise UsageError(f"--backends {','.join(args.backends or []) or '(default)'}: nothing to measure on them "
                         "(see `tpcore backends`)")
    for variant in dict.fromkeys(c.variant for c in cases):
        check_batch_memory(args.batch, workload_spec(variant, args.lmax), f" of {variant} at L={args.lmax}")
    out = output_folder("--out", args.out)
    started = time.perf_counter()
    interrupted = ""
    try:
        with sized_by(f"--batch {args.batch}"):  # an implementation's own MemoryError is its row's error
            rows = measure(cases, range(1, args.lmax + 1), args.batch, args.dtype, args.repeat,
                           args.max_call_seconds, budget_s=args.timing_seconds)
    except Interrupted as exc:
        rows = exc.rows
        interrupted = f"interrupted (Ctrl-C) after {len(rows)} of {len(cases) * args.lmax} measurements"
    header = _header_lines(rows, args, time.perf_counter() - started) + ([f"- {interrupted}"] if interrupted else [])
    last = max((r.L for r in rows), default=0)
    if not interrupted and last < args.lmax:
        header.append(f"- stopped after L={last}: every implementation took over --max-call-seconds "
                      f"{args.max_call_seconds:g} per call")
    header.append(f"- {reliability(rows)}")
    _write(rows, header, out, args)
    if interrupted:
        print(f"tpcore report: {interrupted}; wrote what was measured to {out}", file=sys.stderr)
        return INTERRUPTED
    bad = [f"{r.label} L={r.L}" for r in rows if not r.correct and not r.error.startswith("skipped")]
    if bad:
        print("incorrect or failed: " + ", ".join(bad), file=sys.stderr)
    return 1 if bad else 0


def _write(rows, header: list[str], out: Path, args) -> None:
    from tpcore.report.plots import write_plots
    from tpcore.report.tables import HEADERS, html_page, markdown, reliability, table_cells

    if importlib.util.find_spec("matplotlib") is not None:
        plots = write_plots(rows, out, args.batch, args.dtype)
    else:
        plots, header = [], [*header, "- plots: none (matplotlib is not installed)"]
    (out / "report.md").write_text(markdown(rows, header, plots))
    (out / "report.html").write_text(html_page(rows, header, plots))
    print("\n".join(header))
    print(table(HEADERS, table_cells(rows)))
    print(f"\nwrote {out / 'report.md'}, {out / 'report.html'} and {len(plots)} plots")
    print(reliability(rows))


def _header_lines(rows, args, seconds: float) -> list[str]:
    from statistics import median

    from tpcore.report.measure import SPREAD_LIMIT
    from tpcore.report.timing import STABLE

    per_L = {(r.backend, r.L): r.peak_gflops for r in rows if r.peak_gflops}  # the rows of one L share it
    peaks = {b: median(p for (backend, _), p in per_L.items() if backend == b) for b, _ in per_L}
    return [
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}",
        f"- settings: L = 1..{args.lmax}, batch {args.batch}, {args.dtype}",
        "- timing: at each L every implementation's forward and forward+backward and a 1024x1024 matmul per backend "
        f"are timed together in interleaved rounds; median of at least {args.repeat} rounds, more until every median "
        f"is stable to {STABLE:.0%} or {args.timing_seconds:g} s are spent; spread = interquartile range / median "
        "(forward / forward+backward)",
        f"- doubts: a row is doubtful when a spread is over {SPREAD_LIMIT:.0%}, its forward is slower than its "
        "forward+backward or it runs above the matmul peak (the plots leave it out), or when its ratio divides by "
        "a doubtful peer row; the doubts column says which",
        "- workloads (tpcore/report/workloads.py): cgtp = uvw 8x(0..L) x 1x(0..L) -> 8x(0..L); "
        "gtp/s2grid/mtp = weighted channel-wise 8x(0..L) x 8x(0..L) -> 8x(0..L)",
        "- matmul peak measured with them (float32 GFLOP/s, median over L; % of peak uses the same L's): "
        + (", ".join(f"{b} {p:.0f}" for b, p in peaks.items()) or "-"),
        "- fwd / e3nn, fwd / e3nn_jax: forward time over the peer's forward time on the cgtp workload at the same L "
        "(< 1 is faster)",
        f"- total time: {seconds:.0f} s",
    ]
