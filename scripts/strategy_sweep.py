"""Which cgtp strategy is fastest on the shapes real models run, in torch, against e3nn in the same run.

Prints, per shape, forward and forward+backward speedups over e3nn's module for every strategy
(calls of all of them interleaved, median of the rounds), the fastest strategy (forward+backward)
and the one ``auto`` picks for shared weights. The shapes:
e3nn's FullyConnectedTensorProduct with multi-channel inputs on both sides, the same with spherical
harmonics as the second input (NequIP/MACE skip and self-interaction), MACE's ``uvu`` convolution
with per-edge weights, and the channel-wise ``uuu`` product.

    .venv/bin/python scripts/strategy_sweep.py [--rows 1000] [--lmax 3] [--rounds 15] [--device cuda]

On a GPU every timed call ends with a device synchronization (``scripts/device_check.sh`` runs this
there as its ``sweep-torch`` step).

Ratios are what to read: on a shared machine absolute times drift, interleaving makes them drift
alike for every column.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from e3nn import o3

import tpcore.torch as tt
from tpcore.irreps import s2_irreps
from tpcore.plan import STRATEGIES, resolve_strategy
from tpcore.report.workloads import convolution_spec
from tpcore_e3nn.instructions import e3nn_arguments


def irreps(mul: int, lmax: int) -> str:
    return str(s2_irreps(lmax, mul=mul))


def conv(mul: int, lmax: int) -> o3.TensorProduct:
    """MACE's interaction convolution (``tpcore.report.workloads.convolution_spec``) as e3nn's module,
    per-edge weights."""
    arguments = e3nn_arguments(convolution_spec(mul, lmax))
    return o3.TensorProduct(**arguments, shared_weights=False)


def shapes(lmax: int):
    for L in range(1, lmax + 1):
        for mul in (8, 16, 32):
            yield f"fc {mul}x{mul} L{L}", o3.FullyConnectedTensorProduct(irreps(mul, L), irreps(mul, L), irreps(mul, L))
        yield f"fc 16x sh L{L}", o3.FullyConnectedTensorProduct(irreps(16, L), o3.Irreps.spherical_harmonics(L), irreps(16, L))
        for mul in (16, 32, 128):
            yield f"conv {mul} L{L}", conv(mul, L)
        uuu = [(i, 0, i, "uuu", True) for i in range(L + 1)] + [(0, i, i, "uuu", True) for i in range(1, L + 1)]
        yield f"uuu 8 L{L}", o3.TensorProduct(irreps(8, L), irreps(8, L), irreps(8, L), uuu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--lmax", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", default="", help="only the shapes whose name contains this text")
    parser.add_argument("--device", default="cpu", help="torch device to run on (default cpu)")
    args = parser.parse_args()
    if args.rows < 1 or args.lmax < 1 or args.rounds < 1:
        parser.error("--rows, --lmax and --rounds must be positive")
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    strategies = [s for s in STRATEGIES["cgtp"] if s != "auto"]
    print(f"speedup over e3nn (forward / forward+backward), {args.rows} rows, float32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}")
    print(f"{'shape':16s} " + " ".join(f"{s:>11s}" for s in strategies) + "   fastest  auto")
    for name, e3nn_module in shapes(args.lmax):
        if args.only not in name:
            continue
        e3nn_module = e3nn_module.to(device)
        x = torch.randn(args.rows, e3nn_module.irreps_in1.dim, requires_grad=True, device=device)
        y = torch.randn(args.rows, e3nn_module.irreps_in2.dim, device=device)
        call = (x, y) if e3nn_module.internal_weights else (x, y, torch.randn(args.rows, e3nn_module.weight_numel, device=device))
        modules = {"e3nn": e3nn_module}
        out_of_memory = set()
        for s in strategies:
            try:
                modules[s] = tt.from_e3nn(e3nn_module, impl=s).to(device)
            except ValueError:  # folded refuses what would not fit in memory
                pass
        times = {(k, phase): [] for k in modules for phase in ("fwd", "fwd+bwd")}
        for _ in range(args.rounds + 2):  # the first two rounds warm up
            for key, module in list(modules.items()):
                try:
                    start = time.perf_counter()
                    with torch.no_grad():
                        module(*call)
                    sync()
                    times[key, "fwd"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    module(*call).sum().backward()
                    sync()
                    times[key, "fwd+bwd"].append(time.perf_counter() - start)
                except torch.OutOfMemoryError:  # fused at thousands of terms on a GPU: shown as "oom"
                    del modules[key]
                    out_of_memory.add(key)
                    x.grad = None
                    torch.cuda.empty_cache()
        median = {(k, ph): np.median(v[2:]) for (k, ph), v in times.items() if k in modules}
        ratios = {(s, ph): median["e3nn", ph] / median[s, ph] for s in modules if s != "e3nn" for ph in ("fwd", "fwd+bwd")}
        picked = resolve_strategy(tt.from_e3nn(e3nn_module)._tp.spec, device=device.type)
        fastest = max((s for s in modules if s != "e3nn"), key=lambda s: ratios[s, "fwd+bwd"])
        cells = [f"{ratios[s, 'fwd']:5.2f}/{ratios[s, 'fwd+bwd']:<5.2f}" if s in modules
                 else f"{'oom' if s in out_of_memory else '-':>11s}" for s in strategies]
        print(f"{name:16s} " + " ".join(cells) + f"   {fastest:7s}  {picked}", flush=True)
        del modules, call, x, y
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
