"""What training and deployment code does to a module, on every torch implementation and weight kind.

deepcopy (SWA), pickle and ``torch.save`` of the whole module (model files), ``state_dict`` round
trips, ``.to(dtype)``, ``torch.jit.script`` (and ``torch.jit.save``/``load``), ``torch.jit.trace``
and ``torch.compile(fullgraph=True)``, including forces (a gradient taken inside the compiled
model) and their double backward into the weights. The weight kinds are the module's internal
Parameter, shared external weights ``(weight_numel,)`` and per-edge weights ``(N, weight_numel)``.
Outputs are checked against the float64 reference; copies against their original.
"""

import copy
import io
import pickle

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, s2_irreps
from tpcore.plan import STRATEGIES
from tpcore.reference import reference

torch = pytest.importorskip("torch")

TOL = 1e-10
SPECS = {
    "cgtp-uvw": TensorProductSpec.cgtp("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x2e", "2x0e + 2x1o + 1x1e + 1x2e"),
    "cgtp-uvu": TensorProductSpec.cgtp("3x0e + 3x1o", "1x0e + 1x1o + 1x2e", "3x0e + 3x1o + 3x1e + 3x2e + 3x2o", mode="uvu"),
    # one multiplicity, uuu paths only: folded per channel (tpcore_torch.folded.ChannelFoldedProduct)
    "cgtp-uuu": TensorProductSpec.cgtp("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x1e", mode="uuu"),
    "gtp": TensorProductSpec.gtp(s2_irreps(2, mul=2), s2_irreps(1, mul=2), s2_irreps(3, mul=2), weighted=True),
    "s2grid": TensorProductSpec.s2grid(s2_irreps(2, mul=2), s2_irreps(2, mul=2), s2_irreps(2, mul=2), weighted=True),
    "mtp": TensorProductSpec.mtp(s2_irreps(1, mul=2), s2_irreps(1, mul=2), s2_irreps(2, mul=2), weighted=True),
}
IMPLEMENTATIONS = [
    pytest.param(name, strategy, id=f"{name}-{strategy}")
    for name, spec in SPECS.items()
    for strategy in STRATEGIES[spec.variant]
]
WEIGHT_KINDS = ("internal", "shared", "per-edge")
N = 5


def build(name, strategy, dtype="float64"):
    torch.manual_seed(0)
    return tpcore.build(SPECS[name], backend="torch", impl=strategy, dtype=dtype)


def call_args(tp, kind, seed=0, dtype=torch.float64):
    """(x1, x2, weights-or-None) for one weight kind, and the weights the call uses as numpy."""
    g = torch.Generator().manual_seed(seed)
    spec = tp.spec
    x1 = torch.randn(N, spec.irreps_in1.dim, generator=g, dtype=dtype)
    x2 = torch.randn(N, spec.irreps_in2.dim, generator=g, dtype=dtype)
    if kind == "internal":
        return (x1, x2, None), tp.weight.detach().double().numpy()
    shape = (spec.weight_numel,) if kind == "shared" else (N, spec.weight_numel)
    w = torch.randn(shape, generator=g, dtype=dtype)
    return (x1, x2, w), w.double().numpy()


def run(tp, args):
    x1, x2, w = args
    return tp(x1, x2) if w is None else tp(x1, x2, w)


def assert_reference(out, tp, args, w, tol=TOL):
    expected = reference(tp.spec, args[0].double().numpy(), args[1].double().numpy(), w)
    actual = out.detach().double().numpy()
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= tol * max(1.0, np.abs(expected).max())


def assert_same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=TOL)


def grads(tp, args):
    """Gradients of a fixed functional of the output wrt x1, x2 and the weights in use."""
    x1, x2, w = (None if a is None else a.detach().requires_grad_() for a in args)
    out = tp(x1, x2) if w is None else tp(x1, x2, w)
    wrt = [x1, x2, tp.weight if w is None else w]
    return torch.autograd.grad((out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)).sum(), wrt)


def _torch_save_load(tp):
    buffer = io.BytesIO()
    torch.save(tp, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda tp: pickle.loads(pickle.dumps(tp)),
    "torch.save": _torch_save_load,
}


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("name, strategy", IMPLEMENTATIONS)
def test_copies_compute_the_same_and_own_their_weights(name, strategy, how):
    tp = build(name, strategy)
    clone = COPIES[how](tp)
    for kind in WEIGHT_KINDS:
        args, w = call_args(tp, kind)
        out = run(clone, args)
        assert_reference(out, clone, args, w)
        assert_same(out, run(tp, args))
        for a, b in zip(grads(clone, args), grads(tp, args)):
            assert_same(a, b)
    with torch.no_grad():
        clone.weight.add_(1.0)
    assert not torch.equal(clone.weight, tp.weight)
    assert clone.strategy == tp.strategy and clone.spec == tp.spec
    assert list(clone.state_dict()) == ["weight"]


@pytest.mark.parametrize("name, strategy", IMPLEMENTATIONS)
def test_state_dict_round_trip_and_to_double(name, strategy):
    tp = build(name, strategy, dtype="float32")
    assert list(tp.state_dict()) == ["weight"]  # coefficients are recomputed, never saved
    fresh = build(name, strategy, dtype="float32")
    with torch.no_grad():
        fresh.weight.zero_()
    fresh.load_state_dict(tp.state_dict(), strict=True)
    args, _ = call_args(tp, "per-edge", dtype=torch.float32)
    assert_same(run(fresh, args), run(tp, args))
    # float32 -> float64 recomputes the coefficients in float64: as exact as a float64 build
    tp.double()
    args, w = call_args(tp, "internal")
    assert tp.dtype == torch.float64
    assert_reference(run(tp, args), tp, args, w)


@pytest.mark.parametrize("name, strategy", IMPLEMENTATIONS)
def test_torch_jit_script(name, strategy, tmp_path):
    tp = build(name, strategy)
    scripted = torch.jit.script(tp)
    for kind in WEIGHT_KINDS:
        args, w = call_args(tp, kind)
        assert_reference(run(scripted, args), tp, args, w)
        for a, b in zip(grads(scripted, args), grads(tp, args)):
            torch.testing.assert_close(a, b, rtol=0, atol=TOL)
    torch.jit.save(scripted, tmp_path / "tp.pt")
    loaded = torch.jit.load(tmp_path / "tp.pt")
    args, w = call_args(tp, "per-edge")
    assert_reference(run(loaded, args), tp, args, w)
    with pytest.raises(Exception, match="irreps_in1 has dimension"):
        loaded(torch.randn(2, 1, dtype=torch.float64), args[1][:2], args[2][:2])


def test_torch_jit_trace():
    tp = build("cgtp-uvu", "auto")
    args, w = call_args(tp, "per-edge")
    traced = torch.jit.trace(tp, args)
    args2, w2 = call_args(tp, "per-edge", seed=1)
    assert_reference(run(traced, args2), tp, args2, w2)


COMPILED = ["cgtp-uvw-auto", "cgtp-uvu-block", "cgtp-uvu-folded", "cgtp-uvu-sparse", "gtp-fft", "s2grid-fft", "mtp-matmul"]


@pytest.mark.parametrize("name, strategy", [p for p in IMPLEMENTATIONS if p.id in COMPILED])
@pytest.mark.parametrize("kind", WEIGHT_KINDS)
def test_torch_compile_fullgraph_every_weight_kind(name, strategy, kind):
    torch._dynamo.reset()
    tp = build(name, strategy)
    compiled = torch.compile(tp, fullgraph=True, backend="aot_eager")
    args, w = call_args(tp, kind)
    assert_reference(run(compiled, args), tp, args, w)
    for a, b in zip(grads(compiled, args), grads(tp, args)):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL)


class ForceField(torch.nn.Module):
    """A toy interatomic model's pattern: energy from the TP, forces as its gradient (create_graph)."""

    def __init__(self, tp):
        super().__init__()
        self.tp = tp

    def forward(self, x1, x2, weights):
        energy = self.tp(x1, x2, weights).pow(2).sum()
        (forces,) = torch.autograd.grad([energy], [x2], create_graph=True)
        return energy, forces


@pytest.mark.parametrize("name, strategy", [("cgtp-uvu", "auto"), ("cgtp-uvu", "block"), ("s2grid", "fft"), ("gtp", "fft")])
@pytest.mark.parametrize("kind", ["internal", "per-edge"])
def test_torch_compile_forces_and_their_double_backward(name, strategy, kind):
    torch._dynamo.reset()
    tp = build(name, strategy)
    model = ForceField(tp)
    args, _ = call_args(tp, kind)
    results = []
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        for m in (model, compiled):
            x1, x2, w = args
            x2 = x2.clone().requires_grad_()
            w = None if w is None else w.clone().requires_grad_()
            energy, forces = m(x1, x2, w)
            loss = energy + forces.pow(2).sum()  # a force-matching loss: double backward into the weights
            (grad_w,) = torch.autograd.grad(loss, [tp.weight if w is None else w])
            results.append((energy, forces, grad_w))
    for eager, compiled_result in zip(*results):
        torch.testing.assert_close(compiled_result, eager, rtol=1e-12, atol=1e-12)
    # the forces are right: the TP is linear in x2, so E = |x2 A|^2 and F = 2 A (x2 A)^T
    x1, x2, w = args
    out = tp(x1, x2) if w is None else tp(x1, x2, w)
    jac = torch.func.vmap(torch.func.jacrev(lambda a, b, c: tp(a, b, c), argnums=1))(
        x1, x2, (tp.weight.detach().expand(N, -1) if w is None else w)
    )
    expected = 2 * torch.einsum("nk,nkj->nj", out.detach(), jac)
    torch.testing.assert_close(results[0][1], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name, strategy", IMPLEMENTATIONS)
def test_half_precision_models_convert_whole_and_compute_in_float32(name, strategy, dtype):
    """``model.half()`` converts every part of a model: the product takes and returns 16-bit
    tensors and computes in float32 (its weights rounded to 16 bits, as the model's are)."""
    tp = build(name, strategy, dtype="float32")
    model = torch.nn.Sequential(torch.nn.Identity(), tp).to(dtype)
    assert model[1] is tp and tp.dtype == dtype and tp.weight.dtype == dtype
    for kind in WEIGHT_KINDS:
        (x1, x2, w), _ = call_args(tp, kind, dtype=dtype)
        rounded = tp.weight.detach().double().numpy() if w is None else w.double().numpy()
        x1 = x1.detach().requires_grad_()
        out = run(tp, (x1, x2, w))
        assert out.dtype == dtype
        # the float64 reference on the 16-bit inputs: what is left is float32 rounding and the output's own
        assert_reference(out, tp, (x1.detach(), x2, w), rounded, tol=8 * torch.finfo(dtype).eps)
        out.sum().backward()
        assert x1.grad.dtype == dtype
    tp.double()  # back to float64: coefficients recomputed, not cast from 16 bits
    (x1, x2, w), weights = call_args(tp, "shared")
    assert_reference(run(tp, (x1, x2, w)), tp, (x1, x2, w), weights)
