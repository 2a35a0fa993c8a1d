"""The torch backend, built through the registry, against the float64 reference, e3nn and mathematics.

Expected gradients come from the reference without autodiff: the tensor product is bilinear in
(x1, x2) and linear in the weights, so the gradient of ``sum(g * tp(x1, x2, w))`` is the reference
evaluated on unit vectors, contracted with ``g`` (:func:`reference_grads`; the weights by an exact
difference, see there).
"""

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, s2_irreps, so3
from tpcore.descriptor import describe
from tpcore.plan import STRATEGIES, resolve_strategy
from tpcore.reference import reference

torch = pytest.importorskip("torch")

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
DTYPES = {"float32": torch.float32, "float64": torch.float64}

CGTP_CASES = {
    "uvw": ("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x1e", "2x0e + 1x1o + 2x1e + 1x2e + 1x2o"),
    "uvu": ("2x0o + 2x1e + 2x2o", "1x0e + 2x1o", "2x0o + 2x1o + 2x1e + 2x2e + 2x3e"),
    "uuw": ("2x0e + 2x1o", "2x0e + 2x1o", "3x0e + 1x1o + 2x1e + 1x2e"),
    "uuu": ("2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x1e + 2x2e + 2x3o"),
    "uvuv": ("2x0e + 1x1o", "2x1o + 1x2e", "4x1o + 2x0e + 2x1e + 2x2e + 1x1o + 1x2o + 1x3o + 2x2o + 2x1o"),
}
CHANNELWISE = {
    "gtp": (s2_irreps(2, mul=2), s2_irreps(1, mul=2), s2_irreps(3, mul=2)),
    "s2grid": ("2x0o + 2x1e + 2x2o", "2x0e + 2x1o + 2x2e", "2x0o + 2x1e + 2x2o + 2x3e"),
    "mtp": (s2_irreps(2, mul=2), s2_irreps(2, mul=2), s2_irreps(3, mul=2)),
}


def _cases():
    for mode, irreps in CGTP_CASES.items():
        for strategy in STRATEGIES["cgtp"]:
            yield pytest.param(TensorProductSpec.cgtp(*irreps, mode=mode), strategy, id=f"cgtp-{mode}-{strategy}")
    for variant, irreps in CHANNELWISE.items():
        for weighted in (False, True):
            spec = getattr(TensorProductSpec, variant)(*irreps, weighted=weighted)
            for strategy in STRATEGIES[variant]:
                yield pytest.param(spec, strategy, id=f"{variant}-{'weighted' if weighted else 'plain'}-{strategy}")


CASES = list(_cases())
CGTP = TensorProductSpec.cgtp(*CGTP_CASES["uvw"])
GTP = TensorProductSpec.gtp(*CHANNELWISE["gtp"], weighted=True)


def test_catalogue_covers_every_variant_and_strategy():
    covered = {(p.values[0].variant, p.values[1]) for p in CASES}
    assert covered == {(v, s) for v, strategies in STRATEGIES.items() for s in strategies}
    assert {p.values[0].mode for p in CASES if p.values[0].variant == "cgtp"} == set(CGTP_CASES)


# -- helpers -------------------------------------------------------------------------------------


def build(spec, strategy=None, dtype="float64", **kwargs):
    return tpcore.build(spec, backend="torch", impl=strategy, dtype=dtype, **kwargs)


def inputs(spec, rng, batch=(5,), per_sample=False):
    x1 = rng.normal(size=batch + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=batch + (spec.irreps_in2.dim,))
    w = rng.normal(size=(batch if per_sample else ()) + (spec.weight_numel,)) if spec.weight_numel else None
    return x1, x2, w


def tensor(a, dtype="float64", requires_grad=False):
    return None if a is None else torch.tensor(a, dtype=DTYPES[dtype], requires_grad=requires_grad)


def assert_close(got, expected, dtype="float64"):
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(got - expected), initial=0.0))
    assert error <= TOLERANCE[dtype] * scale, f"max error {error:.3g} > {TOLERANCE[dtype]:.0e} * {scale:.3g}"


def reference_grads(spec, x1, x2, w, g):
    """Gradients of ``sum(g * reference(spec, x1, x2, w))`` for ``x1 (Z, d1)``, shared ``w``, without autodiff."""
    e1, e2 = np.eye(spec.irreps_in1.dim), np.eye(spec.irreps_in2.dim)
    grad_x1 = np.einsum("zk,zik->zi", g, reference(spec, e1[None], x2[:, None], w))
    grad_x2 = np.einsum("zk,zjk->zj", g, reference(spec, x1[:, None], e2[None], w))
    grad_w = None
    if spec.weight_numel:
        # Each weight coordinate enters with power one (cgtp: linear; weighted gtp/s2grid/mtp: the
        # product of three separately linear scalings), so f(w + e_j) - f(w) is exactly df/dw_j.
        shifted = w + np.eye(spec.weight_numel)  # per-sample weight vectors, broadcast over the batch
        diff = reference(spec, x1[:, None], x2[:, None], shifted[None]) - reference(spec, x1, x2, w)[:, None]
        grad_w = np.einsum("zk,zjk->j", g, diff)
    return grad_x1, grad_x2, grad_w


# -- forward ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_forward_matches_reference(spec, strategy, dtype):
    tp = build(spec, strategy, dtype)
    assert isinstance(tp, torch.nn.Module) and tp.strategy == resolve_strategy(spec, strategy)
    x1, x2, w = inputs(spec, np.random.default_rng(0))
    out = tp(tensor(x1, dtype), tensor(x2, dtype), tensor(w, dtype))
    assert out.dtype == DTYPES[dtype] and out.device.type == "cpu"
    assert_close(out, reference(spec, x1, x2, w), dtype)
    if spec.weight_numel:  # without weights the internal Parameter is used
        internal = tp.weight.detach().double().numpy()
        assert_close(tp(tensor(x1, dtype), tensor(x2, dtype)), reference(spec, x1, x2, internal), dtype)


@pytest.mark.parametrize("batch", [(), (0,), (4,), (2, 3)])
@pytest.mark.parametrize("spec", [CGTP, GTP], ids=["cgtp", "gtp-fft"])
def test_batch_shapes(spec, batch):
    tp = build(spec)
    x1, x2, w = inputs(spec, np.random.default_rng(1), batch)
    t1, t2 = tensor(x1, requires_grad=True), tensor(x2, requires_grad=True)
    out = tp(t1, t2, tensor(w))
    assert out.shape == batch + (spec.irreps_out.dim,)
    assert_close(out, reference(spec, x1, x2, w))
    grad_x1, grad_x2 = torch.autograd.grad(out.sum(), (t1, t2))
    assert grad_x1.shape == t1.shape and grad_x2.shape == t2.shape


def test_batch_shapes_broadcast():
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=(2, 1, CGTP.irreps_in1.dim))
    x2 = rng.normal(size=(3, CGTP.irreps_in2.dim))
    w = rng.normal(size=(2, 3, CGTP.weight_numel))
    out = build(CGTP)(tensor(x1), tensor(x2), tensor(w))
    assert out.shape == (2, 3, CGTP.irreps_out.dim)
    assert_close(out, reference(CGTP, x1, x2, w))


@pytest.mark.parametrize("spec, strategy", [c for c in CASES if c.values[0].weight_numel])
def test_per_sample_weights(spec, strategy):
    rng = np.random.default_rng(3)
    x1, x2, w = inputs(spec, rng, batch=(2, 3), per_sample=True)
    out = build(spec, strategy)(tensor(x1), tensor(x2), tensor(w))
    assert_close(out, reference(spec, x1, x2, w))
    w_rows = w[:, :1]  # (2, 1, numel): one vector per row, broadcast over the columns
    assert_close(build(spec, strategy)(tensor(x1), tensor(x2), tensor(w_rows)), reference(spec, x1, x2, w_rows))


# -- derivatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_first_derivatives(spec, strategy, dtype):
    rng = np.random.default_rng(4)
    x1, x2, w = inputs(spec, rng, batch=(3,))
    g = rng.normal(size=(3, spec.irreps_out.dim))
    tp = build(spec, strategy, dtype)
    t1, t2 = tensor(x1, dtype, True), tensor(x2, dtype, True)
    if w is not None:
        with torch.no_grad():
            tp.weight.copy_(tensor(w, dtype))
    out = tp(t1, t2)
    (out * tensor(g, dtype)).sum().backward()
    grad_x1, grad_x2, grad_w = reference_grads(spec, x1, x2, w, g)
    assert_close(t1.grad, grad_x1, dtype)
    assert_close(t2.grad, grad_x2, dtype)
    if w is not None:
        assert_close(tp.weight.grad, grad_w, dtype)


@pytest.mark.parametrize("spec, strategy", CASES)
def test_second_derivatives(spec, strategy):
    rng = np.random.default_rng(5)
    x1, x2, w = inputs(spec, rng, batch=(3,))
    g = rng.normal(size=(3, spec.irreps_out.dim))
    v = rng.normal(size=x1.shape)
    tp = build(spec, strategy)
    t1, t2, tw = tensor(x1, requires_grad=True), tensor(x2, requires_grad=True), tensor(w, requires_grad=True)
    out = tp(t1, t2, tw)
    (grad_x1,) = torch.autograd.grad((out * tensor(g)).sum(), t1, create_graph=True)
    # <grad_x1, v> = sum(g * tp(v, x2, w)) by bilinearity: its derivatives are first derivatives at x1 = v
    wrt = (t1, t2) + ((tw,) if w is not None else ())
    second = torch.autograd.grad((grad_x1 * tensor(v)).sum(), wrt, allow_unused=True)
    _, expected_x2, expected_w = reference_grads(spec, v, x2, w, g)
    assert second[0] is None or float(second[0].abs().max()) == 0.0  # linear in x1: no x1-x1 term
    assert_close(second[1], expected_x2)
    if w is not None:
        assert_close(second[2], expected_w)


@pytest.mark.parametrize(
    "spec, strategy",
    [
        (TensorProductSpec.cgtp("1x0e + 1x1o", "1x1o", "1x0e + 1x1e + 1x1o"), "dense"),
        (TensorProductSpec.gtp("1x0e + 1x1o", "1x0e + 1x1o", "1x0e + 1x1o + 1x2e", weighted=True), "fft"),
        (TensorProductSpec.gtp("1x0e + 1x1o", "1x0e + 1x1o", "1x0e + 1x1o + 1x2e", weighted=True), "direct"),
        (TensorProductSpec.s2grid("1x0e + 1x1o", "1x0e + 1x1o", "1x0e + 1x1o + 1x2e", weighted=True), "matrix"),
        (TensorProductSpec.mtp("1x0e + 1x1o", "1x0e + 1x1o", "1x0e + 1x1o + 1x2e", weighted=True), "matmul"),
    ],
    ids=["cgtp", "gtp-fft", "gtp-direct", "s2grid", "mtp"],
)
def test_gradcheck_and_gradgradcheck(spec, strategy):
    tp = build(spec, strategy)
    x1, x2, w = (tensor(a, requires_grad=True) for a in inputs(spec, np.random.default_rng(6), batch=(2,)))
    assert torch.autograd.gradcheck(tp, (x1, x2, w))
    assert torch.autograd.gradgradcheck(tp, (x1, x2, w))


# -- symmetry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy", CASES)
def test_equivariance(spec, strategy):
    rng = np.random.default_rng(7)
    tp = build(spec, strategy)
    x1, x2, w = inputs(spec, rng)
    for improper in (False, True) if spec.o3_equivariant else (False,):  # mtp: rotations only
        R = so3.rand_matrix(rng=rng, improper=improper)
        D1, D2, Dout = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
        rotated = tp(tensor(x1 @ D1.T), tensor(x2 @ D2.T), tensor(w))
        assert_close(rotated, tp(tensor(x1), tensor(x2), tensor(w)).detach().numpy() @ Dout.T)


# -- the module ------------------------------------------------------------------------------------


def test_module_state_buffers_and_repr():
    tp = build(GTP, "fft", "float32")
    assert list(tp.state_dict()) == ["weight"]
    assert [name for name, _ in tp.named_parameters()] == ["weight"]
    assert tp.weight.shape == (GTP.weight_numel,) and tp.weight_numel == GTP.weight_numel and tp.spec is GTP
    assert tp.weight.dtype == torch.float32
    text = repr(tp)
    assert "gtp" in text and "strategy=fft" in text and f"weight_numel={GTP.weight_numel}" in text
    assert "dtype=float32" in text and "device=cpu" in text
    # The complex Fourier coefficients survive .double()/.float() (stored as their real view).
    x1, x2, w = inputs(GTP, np.random.default_rng(8))
    tp.double()
    assert tp.weight.dtype == torch.float64 and "dtype=float64" in repr(tp)
    assert_close(tp(tensor(x1), tensor(x2), tensor(w)), reference(GTP, x1, x2, w))
    tp.float()
    assert_close(tp(tensor(x1, "float32"), tensor(x2, "float32"), tensor(w, "float32")), reference(GTP, x1, x2, w), "float32")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        tp.to(torch.complex64)  # (16-bit dtypes are taken: tests/test_deployable_torch.py)
    assert tp.dtype == torch.float32 and tp.weight.dtype == torch.float32  # refused before any change


def test_generated_programs_hold_no_stacked_or_idle_reshapes_and_split_what_they_narrow():
    """Every reshape of a generated program changes its input's shape and reads something other
    than a reshape used by it alone, no tensor is narrowed twice along its last axis (one split
    instead) and no narrow keeps its whole axis; the rest is folded at generation. The results are
    the conformance suite's and the reference tests' above."""
    from tpcore_torch.codegen import SHAPE

    for param in CASES:
        spec, strategy = param.values
        tp = build(spec, strategy, "float32")
        for program in (tp.program_shared, tp.program_per_sample):
            narrows = [n for n in program.graph.nodes if n.op == "call_function" and n.target is torch.narrow]
            narrowed = [n.args[0] for n in narrows if n.args[1] in (-1, len(n.args[0].meta.get(SHAPE, ())) - 1)]
            assert len(narrowed) == len(set(narrowed)), param.id
            for node in narrows:
                source, dim, start, length = node.args
                shape = source.meta.get(SHAPE)
                assert not (shape and start == 0 and shape[dim] == length), (param.id, node.format_node())
            for node in program.graph.nodes:
                if node.op != "call_method" or node.target != "reshape":
                    continue
                source = node.args[0]
                stacked = source.op == "call_method" and source.target in ("reshape", "unflatten") and len(source.users) == 1
                idle = SHAPE in node.meta and source.meta.get(SHAPE) == node.meta[SHAPE]
                assert not stacked and not idle, (param.id, node.format_node())


SAVING_SPECS = {
    "uvw": TensorProductSpec.cgtp(*CGTP_CASES["uvw"]),
    "uvuv-unweighted": TensorProductSpec.cgtp(*CGTP_CASES["uvuv"], mode="uvuv"),
    "mixed": TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o",
                                    instructions=[(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", False), (0, 1, 1, "uvu", True)]),
    # folded per channel (tpcore_torch.folded.ChannelFoldedProduct)
    "uuu-mixed": TensorProductSpec.cgtp("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e",
                                        instructions=[(0, 0, 0, "uuu", True), (1, 1, 0, "uuu", False), (0, 1, 1, "uuu", True),
                                                      (1, 1, 2, "uuu", True)]),
}


@pytest.mark.parametrize(
    "strategy, name, per_sample",
    [(strategy, name, per_sample) for strategy in ("fused", "folded") for name, spec in SAVING_SPECS.items()
     for per_sample in (False, True) if (spec.weight_numel or not per_sample) and not (strategy == "folded" and per_sample)],
)  # (folded runs another strategy's program for per-sample weights, which cannot be folded)
def test_eager_fused_and_folded_keep_nothing_batch_sized_but_the_output(strategy, name, per_sample):
    """Eager ``fused`` and ``folded`` calls keep no intermediate that grows with the batch for the
    backward pass (their Functions keep the inputs; ``folded`` also its weights' matrix), and their
    values, gradients and second derivatives are the generated program's."""
    from tpcore.report.memory import _saved_bytes

    spec = SAVING_SPECS[name]
    tp = build(spec, strategy)
    rng = np.random.default_rng(12)

    def arrays(batch):
        x1, x2 = (torch.tensor(rng.normal(size=(batch, d))) for d in (spec.irreps_in1.dim, spec.irreps_in2.dim))
        shape = (batch, spec.weight_numel) if per_sample else (spec.weight_numel,)
        return x1, x2, torch.tensor(rng.normal(size=shape)) if spec.weight_numel else None

    kept = [_saved_bytes(tp, arrays(batch)) - batch * spec.irreps_out.dim * 8 for batch in (5, 50)]
    assert kept[0] == kept[1], kept

    x1, x2, w = arrays(5)
    leaves = [a.clone().requires_grad_() for a in (x1, x2, w) if a is not None]
    program = tp.program_per_sample if per_sample else tp.program_shared
    outputs = tp(*leaves), program(*leaves[:2], leaves[2] if w is not None else tp._anchor)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
    cotangent = torch.tensor(rng.normal(size=outputs[0].shape))
    grads = [torch.autograd.grad((o * cotangent).sum(), leaves, create_graph=True) for o in outputs]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # second derivatives: the gradients are bilinear in the other inputs
    second = [torch.autograd.grad(sum((g**2).sum() for g in gs), leaves) for gs in grads]
    for a, b in zip(*second):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_weight_initialisation_is_standard_normal():
    spec = TensorProductSpec.cgtp("4x0e + 4x1o + 4x2e", "4x0e + 4x1o", "4x0e + 4x1o + 4x2e")
    torch.manual_seed(0)
    w = build(spec).weight.detach()
    assert w.numel() == 448
    assert abs(float(w.mean())) < 0.15 and abs(float(w.std()) - 1.0) < 0.1


def test_spec_without_weights_has_no_parameters():
    spec = TensorProductSpec.s2grid(*CHANNELWISE["s2grid"])
    tp = build(spec)
    assert tp.weight is None and list(tp.parameters()) == [] and list(tp.state_dict()) == []
    x1, x2, _ = inputs(spec, np.random.default_rng(9))
    with pytest.raises(ValueError, match="no weights"):
        tp(tensor(x1), tensor(x2), torch.zeros(3, dtype=torch.float64))


def test_plain_import_of_the_plugin_imports_no_torch():
    code = (
        "import sys, tpcore.registry as r\n"
        "reg = r.get_registry()\n"
        "assert 'torch' in reg.backends, reg.plugins\n"
        "strategies = __import__('tpcore.plan').plan.STRATEGIES\n"
        "assert {(i.variant, i.name) for i in reg.implementations('torch')} >= {(v, s) for v in strategies for s in strategies[v]}\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TPCORE_BACKEND": ""})


def test_probe_reports_missing_torch(monkeypatch):
    from tpcore.devices import torch_device_kinds
    from tpcore_torch import plugin

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert plugin._probe() == "torch: not installed"
    assert torch_device_kinds() == ("cpu",)


def test_registration():
    reg = tpcore.registry.get_registry()
    backend = reg.backends["torch"]
    assert backend.priority == 20 and backend.default_dtype == "float32" and reg.reason("torch") is None
    for variant, strategies in STRATEGIES.items():
        impls = reg.implementations("torch", variant)[: len(strategies)]  # plugins' come after (priority 1000)
        assert [i.name for i in impls] == list(strategies) and [i.priority for i in impls] == list(range(len(strategies)))
        caps = impls[0].capabilities
        assert caps.grad_order == 2 and caps.jit and caps.per_sample_weights and caps.modes is None
        assert caps.dtypes == {"float32", "float64"} and "cpu" in caps.devices
    assert build(CGTP, dtype=None).weight.dtype == torch.float32  # the backend's default dtype


# -- errors ----------------------------------------------------------------------------------------


def test_wrong_last_dimension():
    tp = build(CGTP)
    x1, x2, w = (tensor(a) for a in inputs(CGTP, np.random.default_rng(10)))
    with pytest.raises(ValueError, match=rf"x1 has last dimension {CGTP.irreps_in1.dim + 1}, but irreps_in1"):
        tp(torch.zeros(5, CGTP.irreps_in1.dim + 1, dtype=torch.float64), x2, w)
    with pytest.raises(ValueError, match=r"x2 has last dimension 2, but irreps_in2"):
        tp(x1, torch.zeros(5, 2, dtype=torch.float64), w)


def test_dtype_mismatch():
    tp = build(CGTP, dtype="float32")
    x1, x2, w = inputs(CGTP, np.random.default_rng(11))
    with pytest.raises(TypeError, match="x1 has dtype float64, but this tensor product was built for float32"):
        tp(tensor(x1), tensor(x2, "float32"))
    with pytest.raises(TypeError, match="weights has dtype float64"):
        tp(tensor(x1, "float32"), tensor(x2, "float32"), tensor(w))


def test_wrong_weight_count():
    tp = build(CGTP)
    x1, x2, _ = (tensor(a) for a in inputs(CGTP, np.random.default_rng(12)))
    with pytest.raises(ValueError, match=rf"weights have shape \(3,\), but the spec needs \({CGTP.weight_numel},\)"):
        tp(x1, x2, torch.zeros(3, dtype=torch.float64))


def test_device_mismatch():
    tp = build(CGTP)
    x1, x2, w = (tensor(a) for a in inputs(CGTP, np.random.default_rng(13)))
    with pytest.raises(RuntimeError, match=r"x2 is on device meta, but this tensor product's coefficients are on cpu"):
        tp(x1, x2.to("meta"), w)
    with pytest.raises(RuntimeError, match=r"weights is on device meta.*x1 on cpu"):
        tp(x1, x2, w.to("meta"))


@pytest.mark.parametrize("device, match", [("tpu", "not a torch device"), ("mps", "not supported by the tpcore torch backend")])
def test_unknown_device(device, match):
    from tpcore_torch.module import TensorProduct

    with pytest.raises(ValueError, match=match):
        TensorProduct(CGTP, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_cuda_unavailable():
    from tpcore_torch.module import TensorProduct

    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        TensorProduct(CGTP, device="cuda:0")


def test_a_move_to_a_device_type_with_another_plan_generates_its_programs(monkeypatch):
    """``auto`` is decided per device type: ``.to()`` across types generates the new plan's programs
    (here "meta" is given its own rule, as "cuda" has on a GPU), and back again."""
    import tpcore.plan as plan_module

    spec = TensorProductSpec.cgtp(s2_irreps(1, mul=4), s2_irreps(1), s2_irreps(1, mul=4))
    cpu_rule = plan_module.auto_strategy
    first = cpu_rule(describe(spec))
    other = "dense" if first != "dense" else "block"
    monkeypatch.setattr(plan_module, "auto_strategy", lambda d, backend=None, device=None, **kw: other if device == "meta" else cpu_rule(d, backend, device, **kw))
    plan_module.lower.cache_clear()
    try:
        module = tpcore.build(spec, backend="torch")
        assert module.strategy == first
        x1, x2 = torch.randn(5, spec.irreps_in1.dim), torch.randn(5, spec.irreps_in2.dim)
        expected = module(x1, x2)
        state = {k: v.clone() for k, v in module.state_dict().items()}
        module.to("meta")
        assert module.strategy == other and module.device.type == "meta"
        assert module(x1.to("meta"), x2.to("meta")).shape == (5, spec.irreps_out.dim)
        module.to_empty(device="cpu")  # a meta tensor has no data to copy back
        assert module.strategy == first and module.plan.ops == plan_module.lower(module.spec, None, "cpu").ops
        module.load_state_dict(state)
        torch.testing.assert_close(module(x1, x2), expected)
        module.double()  # same device type: the constants are recomputed, the programs kept
        program = module.program_shared
        module.to(torch.float32)
        assert module.program_shared is program
        torch.testing.assert_close(module(x1, x2), expected)
    finally:
        plan_module.lower.cache_clear()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forward_and_device_mismatch():
    tp = build(GTP, "fft", device="cuda")
    x1, x2, w = inputs(GTP, np.random.default_rng(14))
    out = tp(tensor(x1).cuda(), tensor(x2).cuda(), tensor(w).cuda())
    assert out.device.type == "cuda"
    assert_close(out, reference(GTP, x1, x2, w))
    with pytest.raises(RuntimeError, match="x1 is on device cpu"):
        tp(tensor(x1), tensor(x2).cuda(), tensor(w).cuda())


# -- torch.compile ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy", CASES)
def test_compile_fullgraph(spec, strategy):
    torch._dynamo.reset()
    tp = build(spec, strategy)
    compiled = torch.compile(tp, fullgraph=True, backend="aot_eager")
    rng = np.random.default_rng(15)
    x1, x2, w = inputs(spec, rng, batch=(4,))
    t1 = tensor(x1, requires_grad=True)
    out = compiled(t1, tensor(x2), tensor(w))
    assert_close(out, reference(spec, x1, x2, w))
    g = rng.normal(size=out.shape)
    (grad_x1,) = torch.autograd.grad((out * tensor(g)).sum(), t1)
    assert_close(grad_x1, reference_grads(spec, x1, x2, w, g)[0])


def test_compile_new_batch_shapes_and_per_sample_weights():
    torch._dynamo.reset()
    compiled = torch.compile(build(GTP, "fft"), fullgraph=True, backend="aot_eager")
    rng = np.random.default_rng(16)
    for batch in [(3,), (7,), (0,), (2, 3)]:
        x1, x2, w = inputs(GTP, rng, batch=batch, per_sample=True)
        assert_close(compiled(tensor(x1), tensor(x2), tensor(w)), reference(GTP, x1, x2, w))


def test_compile_inductor():
    torch._dynamo.reset()
    spec = TensorProductSpec.cgtp("2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o + 1x1e")
    tp = build(spec)
    x1, x2, _ = inputs(spec, np.random.default_rng(17))
    out = torch.compile(tp, fullgraph=True)(tensor(x1), tensor(x2))
    assert_close(out, reference(spec, x1, x2, tp.weight.detach().numpy()))


# -- e3nn ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def float64_default():
    """e3nn computes its coefficients in the default dtype: build it in float64, not cast to it later."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def test_fully_connected_state_dict_from_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    irreps = ("2x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x1e", "2x0e + 1x1o + 2x1e + 1x2e + 1x2o")
    torch.manual_seed(1)
    with float64_default():
        e3nn_tp = o3.FullyConnectedTensorProduct(*irreps)
    tp = build(TensorProductSpec.cgtp(*irreps))
    result = tp.load_state_dict(e3nn_tp.state_dict(), strict=False)
    assert not [k for k in result.missing_keys + result.unexpected_keys if "weight" in k]
    assert torch.equal(tp.weight, e3nn_tp.weight)

    rng = np.random.default_rng(18)
    x1, x2, _ = inputs(tp.spec, rng)
    g = tensor(rng.normal(size=(5, tp.spec.irreps_out.dim)))
    results = []
    for module in (e3nn_tp, tp):
        a, b = tensor(x1, requires_grad=True), tensor(x2, requires_grad=True)
        out = module(a, b)
        results.append((out,) + torch.autograd.grad((out * g).sum(), (a, b, module.weight)))
    for expected, got in zip(*results):
        assert_close(got, expected.detach().numpy())


def test_uvu_per_sample_weights_equal_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    irreps_in1, irreps_in2, irreps_out = "2x0e + 2x1o + 2x2e", "1x0e + 1x1o", "2x0e + 2x1o + 2x1e + 2x2e"
    spec0 = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode="uvu")
    instructions = [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in spec0.paths]
    with float64_default():
        e3nn_tp = o3.TensorProduct(
            irreps_in1, irreps_in2, irreps_out, instructions, internal_weights=False, shared_weights=False
        )
    tp = build(TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode="uvu", instructions=instructions))
    assert tp.weight_numel == e3nn_tp.weight_numel
    rng = np.random.default_rng(19)
    x1, x2, w = inputs(tp.spec, rng, batch=(6,), per_sample=True)
    g = tensor(rng.normal(size=(6, tp.spec.irreps_out.dim)))
    results = []
    for module in (e3nn_tp, tp):
        args = [tensor(a, requires_grad=True) for a in (x1, x2, w)]
        out = module(*args)
        results.append((out,) + torch.autograd.grad((out * g).sum(), args))
    for expected, got in zip(*results):
        assert_close(got, expected.detach().numpy())


# -- DistributedDataParallel -----------------------------------------------------------------------

DDP_STEPS, DDP_LR, DDP_BATCH = 3, 0.1, 8


def _ddp_model():
    torch.manual_seed(0)
    spec = TensorProductSpec.cgtp("2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o + 1x1e")
    linear = torch.nn.Linear(3, spec.irreps_in1.dim, dtype=torch.float64)
    return torch.nn.ModuleDict({"linear": linear, "tp": build(spec)})


def _ddp_data():
    rng = np.random.default_rng(20)
    return tensor(rng.normal(size=(DDP_BATCH, 3))), tensor(rng.normal(size=(DDP_BATCH, 4)))


def _train(model, forward, a, b):
    optimizer = torch.optim.SGD(model.parameters(), lr=DDP_LR)
    for _ in range(DDP_STEPS):
        optimizer.zero_grad()
        loss = (forward(a, b).sum(-1) ** 2).mean()
        loss.backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _ddp_worker(rank, world_size, port, path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = _ddp_model()

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear, self.tp = model["linear"], model["tp"]

            def forward(self, a, b):
                return self.tp(self.linear(a), b)

        net = DistributedDataParallel(Net())
        a, b = _ddp_data()
        half = DDP_BATCH // world_size
        rows = slice(rank * half, (rank + 1) * half)
        params = _train(net, net, a[rows], b[rows])
        if rank == 0:
            torch.save({k.replace("module.", ""): v for k, v in params.items()}, path)
        dist.barrier()  # tear gloo down together: a rank leaving early can abort the other's exit
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_data_parallel_matches_single_process(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this torch build")
    path = tmp_path / "ddp.pt"
    for attempt in (1, 2):
        try:
            mp.spawn(_ddp_worker, args=(2, _free_port(), str(path)), nprocs=2, join=True)
            break
        except mp.ProcessExitedException as exc:
            # gloo's TCP transport can abort a worker from one of its own threads ("terminate called
            # without an active exception", SIGABRT, about one run in 20-50 on 2 busy cores;
            # pytorch/gloo#514): a killed worker is run again once. A Python error in a worker
            # raises ProcessRaisedException, which is never retried.
            if exc.signal_name is None or attempt == 2:
                raise
    ddp = torch.load(path)

    model = _ddp_model()
    single = _train(model, lambda a, b: model["tp"](model["linear"](a), b), *_ddp_data())
    assert set(ddp) == set(single) and "tp.weight" in single
    initial = _ddp_model().state_dict()
    for name, value in single.items():
        assert not torch.equal(value, initial[name])  # training moved it
        assert float((ddp[name] - value).abs().max()) <= 1e-6, name


@pytest.mark.parametrize("bad", [np.zeros((2, 13)), [[0.0] * 13] * 2, None, 1.5], ids=["numpy", "list", "None", "float"])
def test_wrong_array_type_names_the_argument_and_the_expected_type(bad):
    tp = build(CGTP)
    assert CGTP.irreps_in1.dim == 13
    x2 = tensor(np.zeros((2, CGTP.irreps_in2.dim)))
    with pytest.raises(TypeError, match=r"x1 is .*runs on torch tensors"):
        tp(bad, x2)


def test_a_module_pickled_before_plans_named_their_device_type_still_loads():
    """Modules saved by the previous version have ``_strategy`` (the strategy they ran) instead of
    ``_requested_strategy``/``_plan_device``."""
    import pickle

    spec = TensorProductSpec.cgtp(s2_irreps(1, mul=4), s2_irreps(1), s2_irreps(1, mul=4))
    module = tpcore.build(spec, backend="torch", impl="block")
    x1, x2 = torch.randn(3, spec.irreps_in1.dim), torch.randn(3, spec.irreps_in2.dim)
    expected = module(x1, x2)
    for name in ("_requested_strategy", "_plan_device"):  # the previous version's state instead
        del module.__dict__[name]
    module.__dict__["_strategy"] = "block"
    loaded = pickle.loads(pickle.dumps(module))
    assert loaded.strategy == "block" and loaded.plan.strategy == "block"
    torch.testing.assert_close(loaded(x1, x2), expected)
    loaded.double()
    assert loaded.dtype == torch.float64
