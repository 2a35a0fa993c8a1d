"""tpcore.torch is a drop-in for e3nn's TensorProduct family: same outputs, gradients and state_dict."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import tpcore  # noqa: E402
import tpcore.torch as tt  # noqa: E402
from tpcore.registry import get_registry  # noqa: E402

TOL64 = 1e-10
CGTP_IMPLS = [impl.name for impl in get_registry().implementations(backend="torch", variant="cgtp")]


def assert_close(actual, expected, tol=TOL64):
    actual, expected = actual.detach().numpy(), expected.detach().numpy()
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1.0)
    assert np.abs(actual - expected).max() <= tol * scale


def grads(module, *inputs, weight=None):
    """(output, gradients of sum(g * output) wrt the inputs and the weights) for a fixed random g."""
    inputs = [x.detach().requires_grad_() for x in inputs]
    weight = None if weight is None else weight.detach().requires_grad_()
    out = module(*inputs) if weight is None else module(*inputs, weight)
    g = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    wrt = inputs + ([weight] if weight is not None else [p for p in module.parameters()])
    return out, torch.autograd.grad((g * out).sum(), wrt)


@pytest.mark.parametrize("impl", CGTP_IMPLS)
def test_fully_connected_loads_e3nn_state_dict_and_matches(float64, impl):
    irreps = ("2x0e + 2x1o + 1x2e", "0e + 1o + 2e", "3x0e + 2x1o + 2x1e + 1x2e")
    ours, theirs = tt.FullyConnectedTensorProduct(*irreps, impl=impl), o3.FullyConnectedTensorProduct(*irreps)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.weight_numel == theirs.weight_numel
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, y = torch.randn(6, theirs.irreps_in1.dim), torch.randn(6, theirs.irreps_in2.dim)
    out, grad = grads(ours, x, y)
    out_ref, grad_ref = grads(theirs, x, y)
    assert_close(out, out_ref)
    for a, b in zip(grad, grad_ref):
        assert_close(a, b)
    assert_close(ours.output_mask, theirs.output_mask)


def _mode_instructions(irreps_in1, irreps_in2, mode, has_weight):
    """Every path of ``irreps_in1 x irreps_in2`` in one connection mode, with output irreps that fit it."""
    outs, instructions = [], []
    for i, (mul1, ir1) in enumerate(irreps_in1):
        for j, (mul2, ir2) in enumerate(irreps_in2):
            if mode in ("uuw", "uuu", "uvu<v", "u<vw") and mul1 != mul2:
                continue
            mul_out = {"uvw": 3, "uvu": mul1, "uvv": mul2, "uuw": 3 if has_weight else 1, "uuu": mul1,
                       "uvuv": mul1 * mul2, "uvu<v": mul1 * (mul1 - 1) // 2, "u<vw": 3}[mode]  # fmt: skip
            for ir in ir1 * ir2:
                instructions.append((i, j, len(outs), mode, has_weight))
                outs.append((mul_out, ir))
    return o3.Irreps(outs), instructions


@pytest.mark.parametrize("compile_right", [False, True])
@pytest.mark.parametrize("specialized", [True, False])
@pytest.mark.parametrize("mode", ["uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"])
def test_state_dict_goes_back_to_e3nn_strictly(float64, mode, specialized, compile_right):
    """tpcore's state_dict carries the constants of e3nn's generated code (which e3nn keeps in its
    own), with e3nn's keys and values, for every mode and e3nn's code-generation switches."""
    pairs = [("2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x2e"), ("3x0o + 3x1o + 3x2e", "2x0e + 2x1e + 2x2o + 2x1o")]
    for has_weight in [True] if mode in ("uvw", "u<vw") else [True, False]:
        for irreps_in1, irreps_in2 in pairs:
            irreps_in1, irreps_in2 = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2)
            irreps_out, instructions = _mode_instructions(irreps_in1, irreps_in2, mode, has_weight)
            if not instructions or (compile_right and mode in ("uvu<v", "u<vw")):  # (e3nn has no right() for these)
                continue
            theirs = o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, internal_weights=has_weight,
                                      compile_right=compile_right, _specialized_code=specialized)  # fmt: skip
            ours = tt.from_e3nn(theirs)
            expected, state = theirs.state_dict(), ours.state_dict()
            assert list(state) == list(expected)
            for key, value in expected.items():
                assert state[key].dtype == value.dtype and torch.allclose(state[key], value, rtol=0, atol=1e-15), key
            theirs.load_state_dict(state, strict=True)


def test_uvu_per_edge_weights_match_e3nn(float64):
    """The NequIP/MACE convolution: uvu instructions, shared_weights=False, one weight vector per edge."""
    irreps_in1, irreps_sh = o3.Irreps("4x0e + 3x1o + 2x2e"), o3.Irreps("0e + 1o + 2e")
    irreps_mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in1):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                instructions.append((i, j, len(irreps_mid), "uvu", True))
                irreps_mid.append((mul, ir_out))
    theirs = o3.TensorProduct(irreps_in1, irreps_sh, irreps_mid, instructions, shared_weights=False)
    ours = tt.TensorProduct(str(irreps_in1), str(irreps_sh), str(o3.Irreps(irreps_mid)), instructions, shared_weights=False)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert ours.internal_weights is False and ours.weight.numel() == 0
    edges = 9
    x, y, w = torch.randn(edges, irreps_in1.dim), torch.randn(edges, irreps_sh.dim), torch.randn(edges, theirs.weight_numel)
    out, grad = grads(ours, x, y, weight=w)
    out_ref, grad_ref = grads(theirs, x, y, weight=w)
    assert_close(out, out_ref)
    for a, b in zip(grad, grad_ref):
        assert_close(a, b)
    path = 4
    assert_close(ours.weight_view_for_instruction(path, w), theirs.weight_view_for_instruction(path, w))


def test_full_tensor_product_matches_e3nn(float64):
    ours = tt.FullTensorProduct("2x0e + 1x1o", "1o + 0e + 2e", filter_ir_out=["0e", "1o", "1e"])
    theirs = o3.FullTensorProduct("2x0e + 1x1o", "1o + 0e + 2e", filter_ir_out=["0e", "1o", "1e"])
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    x, y = torch.randn(4, 5), torch.randn(4, 9)
    assert_close(ours(x, y), theirs(x, y))


def test_swapped_into_e3nn_gate_points_network(float64, monkeypatch):
    """Replace e3nn's TP classes inside e3nn's own network: same outputs and parameter gradients."""
    gate_points = pytest.importorskip("e3nn.nn.models.gate_points_2101")
    kwargs = dict(
        irreps_in=None, irreps_hidden="4x0e + 4x0o + 2x1e + 2x1o", irreps_out="1x0o + 1x0e", irreps_node_attr=None,
        irreps_edge_attr=o3.Irreps.spherical_harmonics(2), layers=2, max_radius=2.0, number_of_basis=5,
        radial_layers=1, radial_neurons=8, num_neighbors=3.0, num_nodes=4.0,
    )  # fmt: skip
    theirs = gate_points.Network(**kwargs)
    monkeypatch.setattr(gate_points, "FullyConnectedTensorProduct", tt.FullyConnectedTensorProduct)
    monkeypatch.setattr(gate_points, "TensorProduct", tt.TensorProduct)
    ours = gate_points.Network(**kwargs)
    swapped = [m for m in ours.modules() if isinstance(m, tt.TensorProduct)]
    assert len(swapped) == 3 * 4  # sc, lin1, tp, lin2 in each of the 3 convolutions
    ours.load_state_dict(theirs.state_dict(), strict=True)

    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.3, -0.7, 0.4]])
    data = {"pos": pos, "batch": torch.zeros(len(pos), dtype=torch.long)}
    out, out_ref = ours(data), theirs(data)
    assert_close(out, out_ref)
    assert out_ref.abs().max() > 1e-3  # the comparison is not between zeros
    g_ours = torch.autograd.grad(out.square().sum(), list(ours.parameters()))
    g_theirs = torch.autograd.grad(out_ref.square().sum(), list(theirs.parameters()))
    for a, b in zip(g_ours, g_theirs):
        assert_close(a, b)


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_channelwise_variant_repeats_a_single_channel_input(float64, variant):
    """A multiplicity-1 input (spherical harmonics) is the C-channel signal with every channel equal."""
    tp = tt.TensorProduct("3x0e + 3x1o + 3x2e", "0e + 1o + 2e", "3x0e + 3x1o + 3x2e", [(0, 0, 0, "uvu", True)], shared_weights=False, variant=variant)
    assert tp.spec.variant == variant and str(tp.spec.irreps_in2) == "3x0e+3x1o+3x2e"
    x, y, w = torch.randn(5, 27), torch.randn(5, 9), torch.randn(5, tp.weight_numel)
    y_wide = torch.cat([y[:, :1].repeat(1, 3), y[:, 1:4].repeat(1, 3), y[:, 4:].repeat(1, 3)], dim=1)
    expected = np.stack([tpcore.reference(tp.spec, x[i].numpy(), y_wide[i].numpy(), w[i].numpy()) for i in range(5)])
    assert_close(tp(x, y, w), torch.from_numpy(expected))


def test_channelwise_variant_says_why_irreps_do_not_fit():
    with pytest.raises(ValueError, match="channel-wise"):
        tt.TensorProduct("3x0e + 2x1o", "0e + 1o", "3x0e + 2x1o", [(0, 0, 0, "uvu", True)], variant="gtp")


def test_errors_name_the_argument():
    instructions = [(0, 0, 0, "uvu", True)]
    tp = tt.TensorProduct("2x0e", "0e", "2x0e", instructions, shared_weights=False)
    x, y = torch.randn(3, 2), torch.randn(3, 1)
    with pytest.raises(RuntimeError, match="weight is required"):  # e3nn raises RuntimeError too
        tp(x, y)
    with pytest.raises(ValueError, match=r"weight has shape \[3, 5\].*\(\.\.\., 2\)"):
        tp(x, y, torch.randn(3, 5))
    shared = tt.TensorProduct("2x0e", "0e", "2x0e", instructions)
    with pytest.raises(ValueError, match=r"shared_weights=True expects \(2,\)"):
        shared(x, y, torch.randn(3, 2))
    with pytest.raises(ValueError, match="in1_var"):
        tt.TensorProduct("2x0e", "0e", "2x0e", instructions, in1_var=[2.0, 1.0])
    with pytest.raises(ValueError, match="internal_weights=True needs shared_weights=True"):
        tt.TensorProduct("2x0e", "0e", "2x0e", instructions, internal_weights=True, shared_weights=False)


def test_to_double_moves_the_computation(float64):
    tp = tt.FullyConnectedTensorProduct("2x0e + 1x1o", "0e + 1o", "1x0e + 1x1o", dtype="float32").double()
    assert tp.weight.dtype == torch.float64 and tp.output_mask.dtype == torch.float64
    assert tp(torch.randn(2, 5), torch.randn(2, 4)).dtype == torch.float64


# -- what training and deployment code does to a model ---------------------------------------------


def _adapters():
    conv = tt.TensorProduct(
        "3x0e + 3x1o", "0e + 1o + 2e", "3x0e + 3x1o + 3x1e + 3x2e + 3x2o",
        [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True), (1, 1, 2, "uvu", True),
         (0, 2, 3, "uvu", True), (1, 2, 4, "uvu", True)],
        shared_weights=False, internal_weights=False,
    )  # fmt: skip  (MACE's convolution: per-edge weights)
    return {
        "uvu-per-edge": (conv, True),
        "fc-internal": (tt.FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 1x1e"), False),
        "full-unweighted": (tt.FullTensorProduct("2x0e + 1x1o", "1x0e + 1x1o"), False),
        "s2grid-per-edge": (
            tt.TensorProduct("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x0e + 2x1o + 2x2e", [(0, 0, 0, "uuu", True)],
                             shared_weights=False, internal_weights=False, variant="s2grid"),
            True,
        ),  # fmt: skip
    }


ADAPTERS = ["uvu-per-edge", "fc-internal", "full-unweighted", "s2grid-per-edge"]


def _adapter_call(name, float64):
    tp, per_edge = _adapters()[name]
    x, y = torch.randn(4, tp.irreps_in1.dim), torch.randn(4, tp.irreps_in2.dim)
    args = (x, y, torch.randn(4, tp.weight_numel)) if per_edge else (x, y)
    return tp, args


def _save_load(tp):
    import io

    buffer = io.BytesIO()
    torch.save(tp, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapters_deepcopy_pickle_save_script_and_compile(float64, name):
    import copy
    import pickle

    tp, args = _adapter_call(name, float64)
    expected, expected_grads = grads(tp, *args[:2], weight=args[2] if len(args) > 2 else None)
    copies = {
        "deepcopy": copy.deepcopy(tp),
        "pickle": pickle.loads(pickle.dumps(tp)),
        "torch.save": _save_load(tp),
        "script": torch.jit.script(tp),
        "compile": torch.compile(tp, fullgraph=True, backend="aot_eager"),
    }
    for how, clone in copies.items():
        out, clone_grads = grads(clone, *args[:2], weight=args[2] if len(args) > 2 else None)
        assert_close(out, expected)
        for a, b in zip(clone_grads, expected_grads):
            assert_close(a, b)
    assert list(copies["pickle"].state_dict()) == list(tp.state_dict())


def test_e3nn_jit_compile_scripts_a_model_built_on_the_adapters(float64):
    from e3nn.util.jit import compile as e3nn_compile

    tp, args = _adapter_call("uvu-per-edge", float64)
    model = torch.nn.Sequential()  # e3nn's compile recurses into submodules and scripts marked ones
    model.add_module("tp", tp)
    compiled = e3nn_compile(copy_of(model))
    assert isinstance(compiled.tp, torch.jit.ScriptModule)
    assert_close(compiled.tp(*args), tp(*args))


def copy_of(module):
    import copy

    return copy.deepcopy(module)


def test_right_and_weight_views_match_e3nn(float64):
    irreps = ("2x0e + 1x1o", "0e + 1o", "1x0e + 2x1o + 1x1e")
    ours, theirs = tt.FullyConnectedTensorProduct(*irreps), o3.FullyConnectedTensorProduct(*irreps, compile_right=True)
    ours.load_state_dict(theirs.state_dict())
    y = torch.randn(3, theirs.irreps_in2.dim)
    assert_close(ours.right(y), theirs.right(y))
    x = torch.randn(3, theirs.irreps_in1.dim)
    assert_close(torch.einsum("ni,nij->nj", x, ours.right(y)), theirs(x, y))
    for a, b in zip(ours.weight_views(), theirs.weight_views()):
        assert_close(a, b)
    assert [k for k, *_ in ours.weight_views(yield_instruction=True)] == [k for k, *_ in theirs.weight_views(yield_instruction=True)]


def test_e3nn_code_generation_arguments_are_accepted(float64):
    irreps = ("2x0e + 1x1o", "0e + 1o", "1x0e + 2x1o")
    kwargs = {"compile_left_right": True, "compile_right": True, "_specialized_code": False, "_optimize_einsums": False}
    ours, theirs = tt.FullyConnectedTensorProduct(*irreps, **kwargs), o3.FullyConnectedTensorProduct(*irreps, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    x, y = torch.randn(3, 5), torch.randn(3, 4)
    assert_close(ours(x, y), theirs(x, y))


def test_weights_as_a_python_list(float64):
    irreps = ("1x0e", "0e", "1x0e")
    ours = tt.TensorProduct(*irreps, [(0, 0, 0, "uvw", True)], internal_weights=False)
    theirs = o3.TensorProduct(*irreps, [(0, 0, 0, "uvw", True)], internal_weights=False)
    x, y = torch.randn(2, 1), torch.randn(2, 1)
    assert_close(ours(x, y, [0.5]), theirs(x, y, torch.tensor([0.5])))


@pytest.mark.parametrize("irreps, filter_ir_out", [(("2x0e + 3x1o", "1x0e + 4x1e"), None), (("1x1o + 2x2e", "3x1o"), ["0e", "2e"])])
def test_elementwise_tensor_product_matches_e3nn(float64, irreps, filter_ir_out):
    ours = tt.ElementwiseTensorProduct(*irreps, filter_ir_out=filter_ir_out)
    theirs = o3.ElementwiseTensorProduct(*irreps, filter_ir_out=filter_ir_out)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    x, y = torch.randn(4, theirs.irreps_in1.dim), torch.randn(4, theirs.irreps_in2.dim)
    assert_close(ours(x, y), theirs(x, y))


def test_irreps_are_e3nns_when_e3nn_is_in_use_and_e3nn_blocks_are_read(float64):
    tp = tt.TensorProduct([(2, o3.Irrep("0e")), (1, o3.Irrep("1o"))], o3.Irreps("0e + 1o"), "2x0e + 1x1o", [(0, 0, 0, "uvu", True)])
    assert isinstance(tp.irreps_in1, o3.Irreps) and isinstance(tp.irreps_out, o3.Irreps)
    assert tp.irreps_in1 == o3.Irreps("2x0e + 1x1o")
    assert tp.irreps_in1.randn(3, -1).shape == (3, 5)


def test_e3nn_norm_built_on_the_adapter_traces(float64, monkeypatch):
    """e3nn's o3.Norm on tpcore's TensorProduct, eager and under torch.jit.trace (a bool of a traced
    tensor once broke the trace)."""
    import e3nn.o3._norm as norm_module

    monkeypatch.setattr(norm_module, "TensorProduct", tt.TensorProduct)
    norm = o3.Norm("2x0e + 3x1o")
    x = torch.randn(4, 11)
    expected = torch.cat([x[:, :2].abs(), x[:, 2:].reshape(4, 3, 3).norm(dim=-1)], dim=1)
    assert_close(norm(x), expected)
    traced = torch.jit.trace(norm, (x,))
    x2 = torch.randn(6, 11)
    assert_close(traced(x2), torch.cat([x2[:, :2].abs(), x2[:, 2:].reshape(6, 3, 3).norm(dim=-1)], dim=1))


@pytest.mark.parametrize("irreps_out, filter_ir_out", [(None, None), (None, ["0e", "1e", "2e"]), ("3x0e + 2x1e + 1x2e", None)])
@pytest.mark.parametrize("irrep_normalization", ["component", "norm"])
def test_tensor_square_matches_e3nn(float64, irreps_out, filter_ir_out, irrep_normalization):
    kw = {"irreps_out": irreps_out, "filter_ir_out": filter_ir_out, "irrep_normalization": irrep_normalization}
    theirs = o3.TensorSquare("3x0e + 2x1o + 1x2e", **kw)
    ours = tt.TensorSquare("3x0e + 2x1o + 1x2e", **kw)
    assert str(ours.irreps_out) == str(theirs.irreps_out) and ours.weight_numel == theirs.weight_numel
    if theirs.weight_numel:
        ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(5, theirs.irreps_in.dim)
    assert_close(ours(x), theirs(x))
    assert_close(torch.jit.script(ours)(x), theirs(x))


def test_every_e3nn_mode_with_variances_through_the_adapter(float64):
    irreps = ("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x1o + 3x1e + 2x0e")
    instructions = [(0, 0, 0, "uvv", True), (1, 1, 3, "u<vw", True), (1, 1, 2, "uvu<v", False), (0, 1, 1, "uvu", True)]
    variances = {"in1_var": [2.0, 0.5], "in2_var": torch.tensor([1.0, 3.0]), "out_var": [1.0, 0.5, 2.0, 0.25]}
    theirs = o3.TensorProduct(*irreps, instructions, **variances)
    ours = tt.TensorProduct(*irreps, instructions, **variances)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x, y = torch.randn(4, 12), torch.randn(4, 12)
    assert_close(ours(x, y), theirs(x, y))
    assert_close(torch.jit.script(ours)(x, y), theirs(x, y))


# -- e3nn's public surface, e3nn as the oracle --------------------------------------------------------

MODE_CASES = [  # (irreps_in1, irreps_in2, irreps_out, instruction): one per e3nn connection mode
    ("3x1o + 1x0e", "1x1o + 2x0e", "2x1e + 1x0e", (0, 0, 0, "uvw", True, 0.7)),
    ("3x1o + 1x0e", "1x1o + 2x0e", "3x1e + 1x0e", (0, 0, 0, "uvu", False, 0.7)),
    ("3x1o + 1x0e", "2x1o + 2x0e", "2x1e + 1x0e", (0, 0, 0, "uvv", True, 0.7)),
    ("3x1o + 1x0e", "3x1o + 2x0e", "2x1e + 1x0e", (0, 0, 0, "uuw", True, 0.7)),
    ("3x1o + 1x0e", "3x1o + 2x0e", "3x1e + 1x0e", (0, 0, 0, "uuu", True, 0.7)),
    ("3x1o + 1x0e", "2x1o + 2x0e", "6x1e + 1x0e", (0, 0, 0, "uvuv", True, 0.7)),
    ("3x1o + 1x0e", "3x1o + 2x0e", "3x1e + 1x0e", (0, 0, 0, "uvu<v", False, 0.7)),
    ("3x1o + 1x0e", "3x1o + 2x0e", "2x1e + 1x0e", (0, 0, 0, "u<vw", True, 0.7)),
    ("1x1o", "1x1o", "2x0e", (0, 0, 0, "u<vw", True, 1.0)),  # one channel: no pair u < v, nothing reached
]


@pytest.mark.parametrize("case", MODE_CASES, ids=[case[3][3] for case in MODE_CASES])
def test_instructions_output_mask_and_repr_are_e3nns(float64, case):
    *irreps, instruction = case
    kw = {"in1_var": [0.5, 2.0], "in2_var": [1.5, 1.0], "out_var": [3.0, 1.0], "path_normalization": "path"}
    if len(irreps[0].split("+")) == 1:
        kw = {}
    theirs = o3.TensorProduct(*irreps, [instruction], **kw)
    ours = tt.TensorProduct(*irreps, [instruction], **kw)
    for a, b in zip(ours.instructions, theirs.instructions):
        assert a[:5] == b[:5] and a.path_shape == b.path_shape
        assert a.path_weight == pytest.approx(b.path_weight, rel=1e-12)  # the final normalization, as in e3nn
    assert torch.equal(ours.output_mask, theirs.output_mask)
    assert repr(ours) == repr(theirs)


def test_optimization_flags_are_recorded_like_e3nns(float64):
    import e3nn

    irreps = ("4x1o", "4x1o", "4x1o")
    for kw in ({}, {"_specialized_code": False, "_optimize_einsums": False}):
        ours, theirs = tt.FullyConnectedTensorProduct(*irreps, **kw), o3.FullyConnectedTensorProduct(*irreps, **kw)
        assert (ours._specialized_code, ours._optimize_einsums) == (theirs._specialized_code, theirs._optimize_einsums)
    before = e3nn.get_optimization_defaults()
    try:
        e3nn.set_optimization_defaults(optimize_einsums=False)
        ours, theirs = tt.FullyConnectedTensorProduct(*irreps), o3.FullyConnectedTensorProduct(*irreps)
        assert (ours._specialized_code, ours._optimize_einsums) == (theirs._specialized_code, theirs._optimize_einsums)
    finally:
        e3nn.set_optimization_defaults(**before)


@pytest.mark.parametrize("shared_weights", [True, False])
def test_weights_as_a_list_of_per_instruction_tensors(float64, shared_weights):
    irreps = ("1e + 2e + 2x3o", "1e + 2e + 2x3o", "1e + 2e + 2x3o")
    kw = {"internal_weights": False, "shared_weights": shared_weights}
    ours, theirs = tt.FullyConnectedTensorProduct(*irreps, **kw), o3.FullyConnectedTensorProduct(*irreps, **kw)
    batch = () if shared_weights else (3,)
    weights = [torch.randn(batch + ins.path_shape) for ins in theirs.instructions if ins.has_weight]
    x, y = torch.randn(3, theirs.irreps_in1.dim), torch.randn(3, theirs.irreps_in2.dim)
    assert_close(ours(x, y, weights), theirs(x, y, weights))
    with pytest.raises(ValueError, match="weighted instructions"):
        ours(x, y, weights[:-1])


def test_right_is_scripted_with_the_module(float64):
    from e3nn.util.test import assert_auto_jitable

    irreps = ("2x0e + 1x1o", "0e + 1o", "1x0e + 2x1o + 1x1e")
    theirs = o3.FullyConnectedTensorProduct(*irreps, shared_weights=False, compile_right=True)
    ours = tt.FullyConnectedTensorProduct(*irreps, shared_weights=False)
    scripted = assert_auto_jitable(ours)  # e3nn's check: scripts it, and a wrong shape must raise
    y, w = torch.randn(3, 4), torch.randn(3, theirs.weight_numel)
    assert_close(scripted.right(y, w), theirs.right(y, w))


def test_state_dict_and_copies_after_e3nns_in_place_compile(float64):
    """e3nn.util.jit.compile scripts every submodule in place, the generated programs included;
    the model's state_dict stays e3nn's and it still deep-copies and changes dtype."""
    import copy

    from e3nn.util.jit import compile as e3nn_compile

    irreps = ("2x0e + 1x1o", "0e + 1o", "1x0e + 2x1o")
    theirs = o3.FullyConnectedTensorProduct(*irreps)
    ours = tt.FullyConnectedTensorProduct(*irreps, dtype="float32")
    ours.load_state_dict(theirs.state_dict())
    e3nn_compile(ours)  # in place, as e3nn's assert_auto_jitable does
    assert list(ours.state_dict()) == list(theirs.state_dict())
    fresh = tt.FullyConnectedTensorProduct(*irreps)
    fresh.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(fresh.state_dict(), strict=True)
    ours = copy.deepcopy(ours).double()
    ours.load_state_dict(theirs.state_dict())  # float64 weights: the comparison is at float64 precision
    x, y = torch.randn(3, 5), torch.randn(3, 4)
    assert_close(ours(x, y), theirs(x, y))


def test_visualize_draws_every_path_like_e3nn(float64):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    irreps = ("2x0e + 1x1o", "0e + 1o", "1x0e + 2x1o + 1x1e")
    drawn = []
    for tp in (tt.FullyConnectedTensorProduct(*irreps), o3.FullyConnectedTensorProduct(*irreps)):
        fig, ax = plt.subplots()
        assert tp.visualize(ax=ax) == (fig, ax)
        drawn.append((len(ax.patches), [t.get_text() for t in ax.texts]))
        plt.close(fig)
    assert drawn[0] == drawn[1]


@pytest.mark.parametrize("cls, args", [("FullyConnectedTensorProduct", ("2x0e + 1o", "2x0e + 1o", "0e + 2x1o")), ("TensorSquare", ("2x0e + 1o", "0e + 2x1o"))])
def test_same_seed_same_initial_weights_as_e3nn(float64, cls, args):
    """Construction draws from torch's generator exactly what e3nn's draws: a seeded model starts
    from e3nn's weights, and the random stream after it is e3nn's too."""
    drawn = []
    for module in (tt, o3):
        torch.manual_seed(3)
        tp = getattr(module, cls)(*args)
        drawn.append((tp.weight.detach().clone(), torch.randn(3)))
    assert torch.equal(drawn[0][0], drawn[1][0]) and torch.equal(drawn[0][1], drawn[1][1])


def test_full_tensor_product_of_irreps_with_empty_blocks_matches_e3nn(float64):
    irreps = ("2x0e + 0x1o + 1x0e", "1x1o + 0x2e")
    ours, theirs = tt.FullTensorProduct(*irreps), o3.FullTensorProduct(*irreps)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    x, y = torch.randn(3, 3), torch.randn(3, 3)
    assert_close(ours(x, y), theirs(x, y))


@pytest.mark.parametrize("name", ["fc-internal", "uvu-per-edge", "s2grid-per-edge"])
def test_trace_records_no_python_decision_on_traced_sizes(float64, name):
    """torch.jit.trace with TracerWarnings as errors (as e3nn's assert_auto_jitable traces): no
    shape check or broadcast rule turns a traced size into a Python bool (that was a SystemError from
    Tensor.__bool__), and the trace runs other batch shapes."""
    import warnings

    tp, _ = _adapter_call(name, float64)
    per_edge = tp.weight_numel and not tp.internal_weights

    def args(n, m):
        x, y = torch.randn(n, 1, tp.irreps_in1.dim), torch.randn(1, m, tp.irreps_in2.dim)
        return (x, y, torch.randn(n, m, tp.weight_numel)) if per_edge else (x, y)

    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(tp, args(3, 2))
    for n, m in ((3, 2), (4, 6)):
        given = args(n, m)
        assert_close(traced(*given), tp(*given))


def test_a_backend_without_torch_modules_is_refused_by_name():
    with pytest.raises(ValueError, match=r"backend='numpy': tpcore.torch's modules run on torch tensors, but the numpy backend builds"):
        tt.FullyConnectedTensorProduct("2x0e", "0e", "2x0e", backend="numpy")
