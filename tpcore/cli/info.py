"""``tpcore info``: a spec's paths, weights and FLOPs per strategy."""

from __future__ import annotations

import argparse

from tpcore.cli.common import IRREPS_OPTIONS, add_spec_arguments, sized_by, spec_from_args, table

HELP = "describe a tensor-product spec: paths, weights, FLOPs per strategy"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tpcore.analysis import flops

    spec = spec_from_args(args)
    with sized_by(IRREPS_OPTIONS):  # before anything is printed: an error is the only line
        counts = flops(spec)
    print(f"TensorProductSpec.{spec.variant}")
    for label, irreps in (("irreps_in1", spec.irreps_in1), ("irreps_in2", spec.irreps_in2), ("irreps_out", spec.irreps_out)):
        print(f"  {label:<20} {irreps}  (dim {irreps.dim})")
    print(f"  {'mode':<20} {spec.mode}")
    for attr in ("irrep_normalization", "path_normalization"):
        if hasattr(spec, attr):
            print(f"  {attr:<20} {getattr(spec, attr)}")
    if spec.variant != "cgtp":
        print(f"  {'weighted':<20} {getattr(spec, 'weighted', False)}")
    print(f"  {'paths':<20} {len(spec.paths)}")
    print(f"  {'weight_numel':<20} {spec.weight_numel}")
    rows = []
    for k, p in enumerate(spec.paths):
        ws = p.weight_slice
        weights = "-" if ws is None else f"[{ws.start}:{ws.stop}] {tuple(p.weight_shape)}"
        rows.append([k, f"{p.ir_in1} x {p.ir_in2} -> {p.ir_out}", p.mode, f"{p.mul_in1},{p.mul_in2},{p.mul_out}",
                     f"{p.normalization:.6g}", weights])
    print("\nPaths")
    print(table(["#", "path", "mode", "mul (in1,in2,out)", "normalization", "weights"], rows) or "  none")
    print("\nFLOPs per sample")
    print(table(["strategy", "flops"], [[name, int(n)] for name, n in counts.items()]))
    return 0
