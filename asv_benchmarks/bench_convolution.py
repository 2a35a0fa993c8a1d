"""The NequIP/MACE convolution: ``uvu`` tensor product with one weight vector per edge.

``node features [E, 32x0e + 32x1o + 32x2e] (x) edge SH [E, 0e + 1o + 2e] -> every allowed output``,
weights ``(E, weight_numel)`` from a radial MLP in a real model. ``impl="tpcore"`` is tpcore's
default cgtp implementation on ``backend``; ``impl="e3nn"`` is e3nn's ``o3.TensorProduct`` with
``shared_weights=False`` (torch only). Run this file directly for a ratio table from one process.
"""

from __future__ import annotations

import os
import time

import numpy as np

IRREPS_IN1 = "32x0e + 32x1o + 32x2e"
IRREPS_SH = "1x0e + 1x1o + 1x2e"
#: edges per call; the quick profile (TPCORE_ASV_PROFILE=quick, what CI runs) uses fewer
EDGES = 500 if os.environ.get("TPCORE_ASV_PROFILE", "full") == "quick" else 5000


def convolution_irreps():
    """(irreps_out, instructions) of the convolution: every path into ``mul x ir_out``, e3nn's order."""
    from tpcore.irreps import Irreps

    irreps_in1, irreps_sh = Irreps(IRREPS_IN1), Irreps(IRREPS_SH)
    out, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir3 in ir1 * ir2:
                instructions.append((i1, i2, len(out), "uvu", True))
                out.append((mul, ir3))
    return Irreps(out), instructions


class _ConvolutionSetup:
    """The convolution on ``EDGES`` edges, built and warmed up for one (backend, impl)."""

    params = (["torch", "jax", "numpy"], ["tpcore", "e3nn"])
    param_names = ["backend", "impl"]
    timeout = 300
    needs_gradients = False

    def setup(self, backend, impl):
        from tpcore.registry import get_registry
        from tpcore.spec import TensorProductSpec

        registry = get_registry()
        if impl == "e3nn" and backend != "torch":
            raise NotImplementedError("e3nn's TensorProduct is a torch module")
        if backend not in registry.available():
            raise NotImplementedError(f"backend {backend} is not usable here: {registry.reason(backend)}")
        irreps_out, instructions = convolution_irreps()
        spec = TensorProductSpec.cgtp(IRREPS_IN1, IRREPS_SH, irreps_out, mode="uvu", instructions=instructions)
        self.harness = registry.harness(backend)
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal((EDGES, n)) for n in (spec.irreps_in1.dim, spec.irreps_in2.dim, spec.irreps_out.dim)]
        weights = rng.standard_normal((EDGES, spec.weight_numel))
        if impl == "e3nn":
            tp = _e3nn_module(str(irreps_out), instructions)
        else:
            tp = registry.build(spec, backend=backend, dtype="float32")
        self.x1, self.x2, self.g = (self.harness.asarray(a, "float32") for a in arrays)
        self.w = self.harness.asarray(weights, "float32")
        self.forward = self.harness.forward_function(tp)
        self.harness.sync(self.forward(self.x1, self.x2, self.w))  # compile / warm up
        if self.needs_gradients:
            self.vjp = self.harness.vjp_function(tp)  # NotImplementedError (skip) without gradients
            self.harness.sync(self.vjp(self.x1, self.x2, self.w, self.g)[0])


class Convolution(_ConvolutionSetup):
    """``time_forward`` of the convolution."""

    def time_forward(self, backend, impl):
        self.harness.sync(self.forward(self.x1, self.x2, self.w))


class ConvolutionBackward(_ConvolutionSetup):
    """``time_forward_backward`` of the convolution: gradients wrt the inputs and the per-edge weights."""

    needs_gradients = True

    def time_forward_backward(self, backend, impl):
        self.harness.sync(self.vjp(self.x1, self.x2, self.w, self.g)[0])


def _e3nn_module(irreps_out: str, instructions):
    """e3nn's convolution TensorProduct in float32, called like a tpcore torch module."""
    try:
        from e3nn import o3
    except ImportError:
        raise NotImplementedError("e3nn is not installed") from None
    import torch

    module = o3.TensorProduct(IRREPS_IN1, IRREPS_SH, irreps_out, instructions, shared_weights=False)
    return module.to(torch.float32)


def _best_seconds(function, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Time every (backend, impl) in this process and print ratios to e3nn (torch) per measurement."""
    results = {}
    for backend in Convolution.params[0]:
        for impl in Convolution.params[1]:
            bench, grads = Convolution(), ConvolutionBackward()
            try:
                bench.setup(backend, impl)
            except NotImplementedError as exc:
                print(f"{backend:<6} {impl:<7} skipped: {exc}")
                continue
            forward = _best_seconds(lambda: bench.time_forward(backend, impl))
            try:
                grads.setup(backend, impl)
                backward = _best_seconds(lambda: grads.time_forward_backward(backend, impl))
            except NotImplementedError:
                backward = None
            results[backend, impl] = (forward, backward)
    ref_f, ref_b = results.get(("torch", "e3nn"), (None, None))
    print(f"\nuvu convolution {IRREPS_IN1} x {IRREPS_SH}, {EDGES} edges, float32, best of 5 (ms; ratio = e3nn torch / this)")
    print(f"{'backend':<8}{'impl':<8}{'forward':>10}{'ratio':>8}{'fwd+bwd':>10}{'ratio':>8}")
    for (backend, impl), (f, b) in results.items():
        ratio_f = f"{ref_f / f:8.2f}" if ref_f else f"{'-':>8}"
        b_text = f"{b * 1e3:10.1f}" if b is not None else f"{'-':>10}"
        ratio_b = f"{ref_b / b:8.2f}" if (b is not None and ref_b) else f"{'-':>8}"
        print(f"{backend:<8}{impl:<8}{f * 1e3:10.1f}{ratio_f}{b_text}{ratio_b}")


if __name__ == "__main__":
    main()
