"""Deployment through PyTorch 2's tracers, and under libraries that replace torch functions.

NequIP's train-time compile traces its model with ``make_fx(tracing_mode="symbolic")`` over
``torch.func.functional_call`` (parameters and buffers as inputs, forces by ``autograd.grad``)
and compiles the graph with dynamic shapes; its deploy is ``torch.export`` and AOTInductor.
``import torch_geometric`` (SevenNet) replaces ``torch.index_select`` with a Python function.
Expected values come from the eager module, itself checked against the float64 reference in the
conformance suite.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import tpcore
from tpcore import TensorProductSpec, s2_irreps
from tpcore.plan import STRATEGIES

torch = pytest.importorskip("torch")
from torch.fx.experimental.proxy_tensor import make_fx  # noqa: E402

DTYPE = torch.float64
#: MACE's / NequIP's convolution: uvu paths with per-edge weights
CONV = TensorProductSpec.cgtp(
    "3x0e + 3x1o", "1x0e + 1x1o + 1x2e", "3x0e + 3x1o + 3x1e + 3x2e + 3x2o", mode="uvu"
)
#: a gate's elementwise product: no weights at all
GATE = TensorProductSpec.cgtp("3x0e + 3x1o + 3x1e + 3x2e + 3x2o", "3x0e + 3x0e + 3x0e + 3x0e + 3x0e", "3x0e + 3x1o + 3x1e + 3x2e + 3x2o",
                              mode="uuu", instructions=[(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)])  # fmt: skip
FC = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o + 1x1e")


class Model(torch.nn.Module):
    """A message-passing step in NequIP's shape: per-edge weights from a radial Linear, the
    product per edge, a weightless gate product, and a Linear readout of the scalars."""

    def __init__(self, conv_impl=None, gate_impl=None):
        super().__init__()
        torch.manual_seed(0)
        self.radial = torch.nn.Linear(4, CONV.weight_numel, dtype=DTYPE)
        self.conv = tpcore.build(CONV, backend="torch", impl=conv_impl, dtype="float64")
        self.gate = tpcore.build(GATE, backend="torch", impl=gate_impl, dtype="float64")
        self.readout = torch.nn.Linear(3, 1, dtype=DTYPE)

    def forward(self, x, sh, radial):
        messages = self.conv(x, sh, self.radial(radial))
        gated = self.gate(messages, messages[..., :3].repeat(1, 5))
        return self.readout(gated[..., :3]).sum()


def inputs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=DTYPE) for d in (CONV.irreps_in1.dim, CONV.irreps_in2.dim, 4)]


def traced_energy_and_forces(model):
    """NequIP's recipe: a pure function of (inputs, parameters, buffers) traced symbolically."""
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]

    def energy_and_forces(x, sh, radial, *state):
        x = x.requires_grad_()
        energy = torch.func.functional_call(model, dict(zip(names, state)), (x, sh, radial))
        (forces,) = torch.autograd.grad(energy, x, create_graph=True)
        return energy, forces

    state = [t for _, t in model.named_parameters()] + [t for _, t in model.named_buffers()]
    duck = torch.fx.experimental._config.use_duck_shape
    torch.fx.experimental._config.use_duck_shape = False  # as NequIP traces
    try:
        graph = make_fx(energy_and_forces, tracing_mode="symbolic")(*inputs(7), *state)
    finally:
        torch.fx.experimental._config.use_duck_shape = duck
    return graph, state


def eager_energy_and_forces(model, args):
    x = args[0].clone().requires_grad_()
    energy = model(x, *args[1:])
    (forces,) = torch.autograd.grad(energy, x, create_graph=True)
    return energy, forces


#: auto, the two eager autograd Functions, and the one-einsum-per-path program (the others run
#: the same generated code as ``dense``)
CONV_IMPLS = ["auto", "fused", "folded", "dense"]


@pytest.mark.parametrize("conv_impl", CONV_IMPLS)
def test_make_fx_symbolic_traces_forces_and_leaves_the_module_intact(conv_impl):
    model = Model(conv_impl=conv_impl)
    before = {n: b.clone() for n, b in model.named_buffers()}
    graph, state = traced_energy_and_forces(model)
    # functional_call swaps every buffer for the tracer's and must find the module's own again
    for name, buffer in model.named_buffers():
        assert type(buffer) is torch.Tensor, f"{name} is left a {type(buffer).__name__} after tracing"
        assert torch.equal(buffer, before[name])
    args = inputs(11, seed=1)  # another number of edges than traced
    for a, b in zip(graph(*args, *state), eager_energy_and_forces(model, args)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_compiled_trace_trains_like_the_eager_model():
    """NequIP's train-time compile: the traced graph compiled with dynamic shapes, then a loss
    of energy and forces backpropagated into the parameters (the forces' double backward).
    ``aot_eager`` runs AOT autograd's runtime wrappers as inductor does, without its C++ build."""
    model = Model()
    graph, state = traced_energy_and_forces(model)
    compiled = torch.compile(graph, dynamic=True, backend="aot_eager")
    args = inputs(9, seed=2)
    energy, forces = compiled(*args, *state)
    loss = energy + forces.pow(2).sum()
    trained = [*model.radial.parameters(), *model.readout.parameters()]  # (conv's own weight is unused: per-edge weights)
    got = torch.autograd.grad(loss, trained)
    energy, forces = eager_energy_and_forces(model, args)
    expected = torch.autograd.grad(energy + forces.pow(2).sum(), trained)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def call_args(tp, n, seed):
    g = torch.Generator().manual_seed(seed)
    spec = tp.spec
    x1 = torch.randn(n, spec.irreps_in1.dim, generator=g, dtype=DTYPE)
    x2 = torch.randn(n, spec.irreps_in2.dim, generator=g, dtype=DTYPE)
    if spec is CONV:
        return x1, x2, torch.randn(n, spec.weight_numel, generator=g, dtype=DTYPE)
    return x1, x2


@pytest.mark.parametrize("spec", [FC, CONV], ids=["fc-internal", "conv-per-edge"])
def test_torch_export_with_a_dynamic_batch(spec):
    tp = tpcore.build(spec, backend="torch", dtype="float64")
    args = call_args(tp, 7, seed=0)
    batch = torch.export.Dim("batch")
    exported = torch.export.export(tp, args, dynamic_shapes=[{0: batch}] * len(args))
    other = call_args(tp, 13, seed=1)
    torch.testing.assert_close(exported.module()(*other), tp(*other), rtol=1e-12, atol=1e-12)


def test_aot_inductor_package_runs_other_batch_sizes(tmp_path):
    tp = tpcore.build(CONV, backend="torch", dtype="float64")
    args = call_args(tp, 7, seed=0)
    edges = torch.export.Dim("edges")
    exported = torch.export.export(tp, args, dynamic_shapes=[{0: edges}] * 3)
    path = torch._inductor.aoti_compile_and_package(exported, package_path=str(tmp_path / "conv.pt2"))
    loaded = torch._inductor.aoti_load_package(path)
    for n in (3, 20):
        other = call_args(tp, n, seed=n)
        torch.testing.assert_close(loaded(*other), tp(*other), rtol=1e-12, atol=1e-12)


#: Python-level torch functions a program could call; other libraries replace such functions
#: (torch_geometric: ``index_select``, ``select``)
REPLACEABLE = ("index_select", "select", "narrow", "matmul", "bmm", "cat", "einsum", "zeros_like",
               "real", "imag", "complex", "view_as_complex", "view_as_real")  # fmt: skip
IMPLEMENTATIONS = [(spec, impl) for spec in (CONV, GATE) for impl in STRATEGIES["cgtp"]] + [
    (TensorProductSpec.s2grid(s2_irreps(2, mul=2), s2_irreps(2, mul=2), s2_irreps(2, mul=2), weighted=True), impl)
    for impl in STRATEGIES["s2grid"]
] + [(TensorProductSpec.gtp(s2_irreps(1, mul=2), s2_irreps(1, mul=2), s2_irreps(2, mul=2)), "fft")]


@pytest.mark.parametrize("spec, impl", IMPLEMENTATIONS, ids=lambda v: v if isinstance(v, str) else f"{v.variant}-{v.mode}")
def test_calls_reach_no_replaceable_torch_function(spec, impl, monkeypatch):
    tp = tpcore.build(spec, backend="torch", impl=impl, dtype="float64")
    n = 4
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(n, spec.irreps_in1.dim, generator=g, dtype=DTYPE, requires_grad=True)
    x2 = torch.randn(n, spec.irreps_in2.dim, generator=g, dtype=DTYPE, requires_grad=True)
    weights = [None] if not spec.weight_numel else [None, torch.randn(n, spec.weight_numel, generator=g, dtype=DTYPE, requires_grad=True)]
    calls = []
    for name in REPLACEABLE:
        original = getattr(torch, name)
        monkeypatch.setattr(torch, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    scripted = torch.jit.script(tp)
    for w in weights:
        out = tp(x1, x2) if w is None else tp(x1, x2, w)
        wrt = [x1, x2] + ([tp.weight] if w is None and tp.weight is not None else [] if w is None else [w])
        first = torch.autograd.grad(out.pow(2).sum(), wrt, create_graph=True)
        torch.autograd.grad(sum(f.pow(2).sum() for f in first), wrt)
        again = scripted(x1, x2) if w is None else scripted(x1, x2, w)
        torch.testing.assert_close(again, out)
    assert calls == []


def test_modules_pickle_and_script_under_torch_geometric():
    """SevenNet's situation: torch_geometric imported first, then modules built, pickled,
    saved whole and scripted for LAMMPS. Run in a child process: the import is global."""
    code = textwrap.dedent(
        """
        import io, pickle
        import torch, torch_geometric  # replaces torch.index_select
        assert torch.index_select.__module__.startswith("torch_geometric")
        import tpcore.plan
        from tpcore.torch import TensorProduct
        instructions = [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 2, "uvu", True), (1, 1, 3, "uvu", True)]
        for impl in tpcore.plan.STRATEGIES["cgtp"]:
            tp = TensorProduct("4x0e + 4x1o", "1x0e + 1x1o", "4x0e + 4x1o + 4x1o + 4x0e", instructions,
                               shared_weights=False, internal_weights=False, impl=impl, dtype=torch.float64)
            x, y, w = torch.randn(5, 16, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64), torch.randn(5, tp.weight_numel, dtype=torch.float64)
            expected = tp(x, y, w)
            buffer = io.BytesIO()
            torch.save(tp, buffer)
            buffer.seek(0)
            for copy in (pickle.loads(pickle.dumps(tp)), torch.load(buffer, weights_only=False), torch.jit.script(tp)):
                torch.testing.assert_close(copy(x, y, w), expected, rtol=1e-12, atol=1e-12)
        print("ok")
        """
    )
    env = dict(os.environ, TPCORE_DISABLE_PLUGIN_AUTOLOAD="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
