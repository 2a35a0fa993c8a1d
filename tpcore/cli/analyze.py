"""``tpcore analyze``: paths, cost per strategy, expressivity and interactability of a spec."""

from __future__ import annotations

import argparse
import importlib.util

from tpcore.cli.common import (
    IRREPS_OPTIONS,
    UsageError,
    add_spec_arguments,
    batch_size,
    check_batch_memory,
    output_file,
    sized_by,
    spec_from_args,
    table,
    usable_backend,
)

HELP = "analyze a tensor-product spec: paths, FLOPs and memory per strategy, expressivity, interactability"
#: what matplotlib writes that a user would ask for
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--plot", metavar="OUT.png", help="write the interactability matrix as a PNG (or .svg, .pdf)")
    parser.add_argument("--bench-prune", action="store_true",
                        help="time the cgtp against itself with every other path pruned, and print the ratio")  # fmt: skip
    parser.add_argument("--backend", default="numpy", help="backend for --bench-prune (default numpy)")
    parser.add_argument("--batch", type=batch_size, default=1000, help="batch size for --bench-prune (default 1000)")


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    if args.plot is not None:
        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot needs matplotlib, which is not installed (pip install matplotlib)")
        output_file("--plot", args.plot, PLOT_SUFFIXES)
    if args.bench_prune:
        if spec.variant != "cgtp" or len(spec.paths) < 2:
            raise UsageError(f"--bench-prune needs a cgtp spec with at least 2 paths; got {spec.variant} with "
                             f"{len(spec.paths)} path(s)")
        usable_backend("--backend", args.backend)
        check_batch_memory(args.batch, spec)
    with sized_by(IRREPS_OPTIONS):  # before anything is printed: an error is the only line
        sections = [str(spec), _paths(spec), _costs(spec), _expressivity(spec), _interactability(spec)]
    print("\n\n".join(sections))
    if args.plot is not None:
        from tpcore.analysis.plot import plot_interactability

        print(f"\nInteractability matrix written to {plot_interactability(spec, args.plot)}")
    if args.bench_prune:
        with sized_by(f"--batch {args.batch}"):
            _print_benchmark(spec, args.backend, args.batch)
    return 0


def _paths(spec) -> str:
    rows = [[k, f"{p.ir_in1} x {p.ir_in2} -> {p.ir_out}", "odd" if p.is_antisymmetric else "even", p.weight_numel]
            for k, p in enumerate(spec.paths)]  # fmt: skip
    return "Paths (l1 + l2 + l3 odd = antisymmetric)\n" + (table(["#", "path", "l1+l2+l3", "weights"], rows) or "  none")


def _costs(spec) -> str:
    from tpcore.analysis.flops import coefficient_bytes, flops, plan_coefficient_bytes
    from tpcore.plan import STRATEGIES

    model_flops, model_bytes = flops(spec), coefficient_bytes(spec)
    implemented = STRATEGIES[spec.variant]
    rows = []
    for name in dict.fromkeys([*model_flops, *implemented]):
        plan_kib = f"{plan_coefficient_bytes(spec, name) / 1024:.1f}" if name in implemented else "-"
        model_kib = f"{model_bytes[name] / 1024:.1f}" if name in model_bytes else "-"
        rows.append([name, model_flops.get(name, "-"), model_kib, plan_kib])
    return ("Cost per sample: FLOP model, coefficient KiB (float64) of the model and of tpcore's plan\n"
            + table(["strategy", "flops", "model KiB", "plan KiB"], rows))


def _expressivity(spec) -> str:
    from tpcore.analysis import expressivity as ex

    found = ex.interactions(spec)
    odd = [i for i in found if i.antisymmetric]
    missing = ex.missing_interactions(spec)
    lacking = [i for i in ex.missing_interactions(spec, any_output=True) if i.antisymmetric]
    violating = [i for i in found if not i.parity_allowed]
    lines = ["Expressivity"]
    for label, items in (
        ("interactions", found),
        ("antisymmetric (l1+l2+l3 odd)", odd),
        ("O(3)-allowed, missing", missing),
        ("antisymmetric the inputs allow (any output), missing", lacking),
        ("parity-violating (SO(3) only)", violating),
    ):
        listed = f": {', '.join(map(str, items))}" if items and label != "interactions" else ""
        lines.append(f"  {label}: {len(items)}{listed}")
    lines.append(f"  independent output irreps: {ex.independent_output_irreps(spec)}")
    return "\n".join(lines)


def _interactability(spec) -> str:
    from tpcore.analysis.expressivity import interactability

    m = interactability(spec)
    cell = lambda n, k: f"{n} ({k} odd)" if k else str(n)  # noqa: E731
    rows = [[label, *(cell(n, k) for n, k in zip(m.counts[i], m.antisymmetric[i]))] for i, label in enumerate(m.rows)]
    return ("Interactability (output irreps reached per input pair; rows irreps_in1, columns irreps_in2)\n"
            + table(["in1 \\ in2", *m.columns], rows))


def _print_benchmark(spec, backend: str, batch: int) -> None:
    from tpcore.analysis.benchmark import benchmark_pruning

    t = benchmark_pruning(spec, backend=backend, batch=batch)
    print(f"\nPruning benchmark ({t.backend}, batch {batch}, float32, medians of interleaved rounds)")
    print(f"  unpruned  {t.paths} paths  {t.unpruned_s * 1e3:.3f} ms")
    print(f"  pruned    {t.kept_paths} paths  {t.pruned_s * 1e3:.3f} ms")
    print(f"  speedup   {t.speedup:.2f}x")
