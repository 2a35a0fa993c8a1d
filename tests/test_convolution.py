"""tpcore.build_conv: message passing (gather, product, scatter-sum) on every backend and variant.

Expected values: the float64 reference product per edge, summed into receivers with numpy.
Derivatives: the op is linear in each of x1, x2 and the weights, so the directional derivative
along v of sum(g * conv(x1, x2, w)) in x1 is sum(g * reference_conv(v, x2, w)) exactly (and alike
for x2, w, and the mixed second derivatives), an identity independent of any autodiff.
"""

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, s2_irreps
from tpcore.reference import reference

pytestmark = pytest.mark.usefixtures("jax_x64")  # float64 throughout

SPECS = {
    "cgtp-uvu": TensorProductSpec.cgtp("3x0e + 3x1o", "1x0e + 1x1o + 1x2e", "3x0e + 3x1o + 3x1e + 3x2e + 3x2o", mode="uvu"),
    "cgtp-uvw": TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 1x1o + 1x1e"),
    "gtp": TensorProductSpec.gtp(s2_irreps(1, mul=2), s2_irreps(1, mul=2), s2_irreps(2, mul=2), weighted=True),
    "s2grid": TensorProductSpec.s2grid(s2_irreps(1, mul=2), s2_irreps(1, mul=2), s2_irreps(2, mul=2), weighted=True),
    "mtp": TensorProductSpec.mtp(s2_irreps(1, mul=2), s2_irreps(1, mul=2), s2_irreps(2, mul=2), weighted=True),
}
#: receivers 0..4 of five nodes: node 3 receives nothing, edge (1 -> 2) appears twice
SRC = np.array([0, 1, 1, 2, 4, 1, 0])
DST = np.array([1, 2, 0, 4, 0, 2, 1])
NODES = 5


def reference_conv(spec, x1, x2, w, src=SRC, dst=DST, nodes=NODES):
    messages = reference(spec, x1[src], x2, w)
    out = np.zeros((nodes, spec.irreps_out.dim))
    np.add.at(out, dst, messages)
    return out


def graph_inputs(spec, seed, per_edge=True, edges=len(SRC)):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=(NODES, spec.irreps_in1.dim))
    x2 = rng.normal(size=(edges, spec.irreps_in2.dim))
    w = rng.normal(size=((edges,) if per_edge else ()) + (spec.weight_numel,))
    return x1, x2, w


def backends():
    out = []
    for name in ("numpy", "torch", "jax"):
        try:
            __import__(name)
        except ImportError:
            continue
        out.append(name)
    return out


def build(name, backend):
    return tpcore.build_conv(SPECS[name], backend=backend, dtype="float64")


def call(conv, backend, x1, x2, w, src=SRC, dst=DST, nodes=NODES):
    harness = tpcore.registry.get_registry().harness(backend)
    arrays = [harness.asarray(a, "float64") for a in (x1, x2, w)]
    index = [_index(backend, i) for i in (src, dst)]
    return harness.to_numpy(conv(*arrays, *index, nodes))


def _index(backend, i):
    if backend == "torch":
        import torch

        return torch.as_tensor(i)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(i)
    return np.asarray(i)


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("name", list(SPECS))
def test_convolution_sums_the_reference_messages(name, backend):
    conv, spec = build(name, backend), SPECS[name]
    for per_edge in (True, False):
        x1, x2, w = graph_inputs(spec, seed=1, per_edge=per_edge)
        expected = reference_conv(spec, x1, x2, w)
        actual = call(conv, backend, x1, x2, w)
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
        assert np.all(actual[3] == 0)  # a node without edges receives nothing


@pytest.mark.parametrize("backend", backends())
def test_an_empty_graph_gives_zeros_for_every_node(backend):
    spec = SPECS["cgtp-uvu"]
    conv = build("cgtp-uvu", backend)
    x1, x2, w = graph_inputs(spec, seed=2, edges=0)
    out = call(conv, backend, x1, x2, w, src=np.zeros(0, np.int64), dst=np.zeros(0, np.int64))
    assert out.shape == (NODES, spec.irreps_out.dim) and not out.any()


BAD_INDICES = [
    (dict(src=SRC.astype(np.float64)), TypeError, r"src has dtype float64; indices must be int32 or int64"),
    (dict(dst=DST[:-1]), ValueError, r"dst has shape \(6,\), but there are 7 edges"),
    (dict(src=np.where(SRC == 4, 5, SRC)), ValueError, r"src holds indices from 0 to 5, but x1 has 5 rows: every src must be in \[0, 5\)"),
    (dict(dst=np.where(DST == 4, -1, DST)), ValueError, r"dst holds indices from -1 to 2, but num_nodes is 5: every dst must be in \[0, 5\)"),
    (dict(nodes=3), ValueError, r"dst holds indices from 0 to 4, but num_nodes is 3"),
]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("bad, error, message", BAD_INDICES, ids=["dtype", "length", "src-range", "negative-dst", "num-nodes"])
def test_bad_indices_are_errors_naming_the_argument(backend, bad, error, message):
    spec = SPECS["cgtp-uvu"]
    conv = build("cgtp-uvu", backend)
    x1, x2, w = graph_inputs(spec, seed=3)
    harness = tpcore.registry.get_registry().harness(backend)
    args = dict(src=SRC, dst=DST, nodes=NODES) | bad
    index = [_index(backend, args[k]) for k in ("src", "dst")]
    with pytest.raises(error, match=message):
        conv(*[harness.asarray(a, "float64") for a in (x1, x2, w)], *index, args["nodes"])


def _dot(a, b):
    return float((a * b).sum())


@pytest.mark.parametrize("name", ["cgtp-uvu", "s2grid"])
def test_torch_first_and_second_derivatives_are_the_linear_identities(name):
    """<d/dx1 sum(g conv), v> = sum(g conv_ref(v, x2, w)) (and alike for x2, and for w where the
    product is linear in it); the mixed second derivative along (h in x1, v in x2) is
    sum(g conv_ref(h, v, w)): forces train through their double backward."""
    torch = pytest.importorskip("torch")
    spec = SPECS[name]
    conv = build(name, "torch")
    x1, x2, w = graph_inputs(spec, seed=4)
    rng = np.random.default_rng(5)
    g = rng.normal(size=(NODES, spec.irreps_out.dim))
    v1, v2, vw, h = rng.normal(size=x1.shape), rng.normal(size=x2.shape), rng.normal(size=w.shape), rng.normal(size=x1.shape)
    t = [torch.tensor(a, requires_grad=True) for a in (x1, x2, w)]
    src, dst = torch.as_tensor(SRC), torch.as_tensor(DST)
    loss = (conv(*t, src, dst, NODES) * torch.as_tensor(g)).sum()
    grads = torch.autograd.grad(loss, t, create_graph=True)
    linear_in_w = spec.variant == "cgtp"  # (the channel-wise variants weight inputs and output: cubic in w)
    for grad, direction, args in list(zip(grads, (v1, v2, vw), ((v1, x2, w), (x1, v2, w), (x1, x2, vw))))[: 3 if linear_in_w else 2]:
        expected = float((g * reference_conv(spec, *args)).sum())
        assert abs(_dot(grad.detach().numpy(), direction) - expected) <= 1e-10 * max(1.0, abs(expected))
    (mixed,) = torch.autograd.grad((grads[0] * torch.as_tensor(h)).sum(), t[1])
    expected = float((g * reference_conv(spec, h, v2, w)).sum())
    assert abs(_dot(mixed.numpy(), v2) - expected) <= 1e-10 * max(1.0, abs(expected))


def test_jax_derivatives_are_the_linear_identities_under_jit():
    jax = pytest.importorskip("jax")
    spec = SPECS["cgtp-uvu"]
    conv = build("cgtp-uvu", "jax")
    x1, x2, w = graph_inputs(spec, seed=6)
    rng = np.random.default_rng(7)
    g, v1, h, v2 = (rng.normal(size=s) for s in ((NODES, spec.irreps_out.dim), x1.shape, x1.shape, x2.shape))
    src, dst = jax.numpy.asarray(SRC), jax.numpy.asarray(DST)

    def loss(a, b, c):
        return (conv(a, b, c, src, dst, NODES) * g).sum()

    grad_x1 = jax.jit(jax.grad(loss))(x1, x2, w)
    assert abs(float((np.asarray(grad_x1) * v1).sum()) - float((g * reference_conv(spec, v1, x2, w)).sum())) <= 1e-10 * NODES
    mixed = jax.jit(jax.grad(lambda a, b, c: (jax.grad(loss)(a, b, c) * h).sum(), argnums=1))(x1, x2, w)
    expected = float((g * reference_conv(spec, h, v2, w)).sum())
    assert abs(float((np.asarray(mixed) * v2).sum()) - expected) <= 1e-10 * max(1.0, abs(expected))


def test_torch_convolution_scripts_pickles_and_exports():
    import io
    import pickle

    torch = pytest.importorskip("torch")
    spec = SPECS["cgtp-uvu"]
    conv = build("cgtp-uvu", "torch")
    x1, x2, w = (torch.as_tensor(a) for a in graph_inputs(spec, seed=8))
    src, dst = torch.as_tensor(SRC), torch.as_tensor(DST)
    expected = conv(x1, x2, w, src, dst, NODES)
    buffer = io.BytesIO()
    torch.save(conv, buffer)
    buffer.seek(0)
    for copy in (pickle.loads(pickle.dumps(conv)), torch.load(buffer, weights_only=False), torch.jit.script(conv)):
        torch.testing.assert_close(copy(x1, x2, w, src, dst, NODES), expected, rtol=0, atol=1e-12)
    edges = torch.export.Dim("edges")
    exported = torch.export.export(conv, (x1, x2, w, src, dst, NODES), dynamic_shapes=({}, {0: edges}, {0: edges}, {0: edges}, {0: edges}, None))
    torch.testing.assert_close(exported.module()(x1, x2, w, src, dst, NODES), expected, rtol=0, atol=1e-12)


# -- torch's grouped form (uvu on multiplicity-1 edge features: MACE's, NequIP's, SevenNet's) -------

#: mixed multiplicities, two paths into one output block, one path unweighted
GROUPED = TensorProductSpec.cgtp(
    "4x0e + 2x1o + 3x2e", "1x0e + 1x1o + 1x2e", "4x0e + 2x1o + 2x0e + 3x2e + 3x1o + 3x3e + 4x1o",
    mode="uvu", instructions=[(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True), (1, 2, 1, "uvu", False), (1, 1, 2, "uvu", True),
                              (2, 0, 3, "uvu", True), (2, 1, 4, "uvu", False), (2, 2, 5, "uvu", True), (0, 1, 6, "uvu", True)],
)  # fmt: skip


def _torch_inputs(spec, seed, per_edge, dtype="float64"):
    torch = pytest.importorskip("torch")
    x1, x2, w = graph_inputs(spec, seed, per_edge=per_edge)
    return [torch.tensor(a, dtype=getattr(torch, dtype)) for a in (x1, x2, w)], (x1, x2, w)


@pytest.mark.parametrize("per_edge", [True, False], ids=["per-edge", "shared"])
def test_torch_grouped_form_sums_the_reference_messages(per_edge):
    torch = pytest.importorskip("torch")
    conv = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    assert conv.strategy == "grouped"
    (x1, x2, w), arrays = _torch_inputs(GROUPED, 11, per_edge)
    expected = reference_conv(GROUPED, *arrays)
    out = conv(x1, x2, w, torch.as_tensor(SRC), torch.as_tensor(DST), NODES)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    # the internal weights when none are given, and int32 indices
    conv.product.weight.data = torch.as_tensor(arrays[2] if not per_edge else arrays[2][0])
    out = conv(x1, x2, None, torch.as_tensor(SRC, dtype=torch.int32), torch.as_tensor(DST, dtype=torch.int32), NODES)
    expected = reference_conv(GROUPED, arrays[0], arrays[1], conv.product.weight.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_torch_grouped_coefficients_follow_dtype_changes_from_float64():
    """Built in float32 and moved to float64, the coefficients are float64's (recomputed, not cast);
    in 16 bits the convolution computes in float32 through the product, as the product does."""
    torch = pytest.importorskip("torch")
    conv = tpcore.build_conv(GROUPED, backend="torch", dtype="float32").double()
    (x1, x2, w), arrays = _torch_inputs(GROUPED, 12, True)
    expected = reference_conv(GROUPED, *arrays)
    out = conv(x1, x2, w, torch.as_tensor(SRC), torch.as_tensor(DST), NODES)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    half = conv.bfloat16()
    assert half.strategy != "grouped"
    low = half(*(t.bfloat16() for t in (x1, x2, w)), torch.as_tensor(SRC), torch.as_tensor(DST), NODES)
    assert low.dtype == torch.bfloat16
    np.testing.assert_allclose(low.float().numpy(), expected, rtol=0.05, atol=0.05 * np.abs(expected).max())


def test_torch_grouped_second_derivatives_equal_the_generic_form():
    """Forces' training gradient: d/dw of |d loss / d x2|^2 by the grouped ops' double backward
    equals the same through the generic gather-product-scatter (itself checked above by the linear
    identities)."""
    torch = pytest.importorskip("torch")
    grouped = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    generic = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    generic.grouped = False
    (x1, x2, w), _ = _torch_inputs(GROUPED, 13, True)
    src, dst = torch.as_tensor(SRC), torch.as_tensor(DST)
    results = []
    for conv in (grouped, generic):
        t = [a.clone().requires_grad_(True) for a in (x1, x2, w)]
        loss = (conv(*t, src, dst, NODES) ** 2).sum()
        (g2,) = torch.autograd.grad(loss, t[1], create_graph=True)
        results.append(torch.autograd.grad((g2**2).sum(), [t[0], t[2]]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_torch_convolution_state_dict_is_the_products():
    torch = pytest.importorskip("torch")
    conv = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    assert list(conv.state_dict()) == list(conv.product.state_dict()) == ["weight"]
    other = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    other.load_state_dict(conv.state_dict(), strict=True)
    other.load_state_dict({"product.weight": conv.product.weight.detach()}, strict=True)  # checkpoints saved with the prefix
    assert torch.equal(other.product.weight, conv.product.weight)


def test_torch_grouped_form_traces_symbolically_and_compiles():
    """make_fx (symbolic) and torch.compile(fullgraph) through the force double backward."""
    torch = pytest.importorskip("torch")
    from torch.fx.experimental.proxy_tensor import make_fx

    conv = tpcore.build_conv(GROUPED, backend="torch", dtype="float64")
    (x1, x2, w), _ = _torch_inputs(GROUPED, 14, True)
    src, dst = torch.as_tensor(SRC), torch.as_tensor(DST)

    state = dict(conv.named_buffers()) | dict(conv.named_parameters())

    def force_loss_grad(state, a, b, c, s, d):
        b, c = b.detach().requires_grad_(True), c.detach().requires_grad_(True)
        out = torch.func.functional_call(conv, state, (a, b, c, s, d, None))  # num_nodes: x1.size(0), symbolic
        (g2,) = torch.autograd.grad((out**2).sum(), b, create_graph=True)
        return torch.autograd.grad((g2**2).sum(), c)[0]

    expected = force_loss_grad(state, x1, x2, w, src, dst)
    traced = make_fx(force_loss_grad, tracing_mode="symbolic")(state, x1, x2, w, src, dst)
    more = torch.arange(3) % NODES  # three more edges: the trace is not of one edge count
    src2, dst2, x2b, wb = torch.cat([src, more]), torch.cat([dst, more]), torch.cat([x2, x2[:3]]), torch.cat([w, w[:3]])
    torch.testing.assert_close(traced(state, x1, x2b, wb, src2, dst2), force_loss_grad(state, x1, x2b, wb, src2, dst2), rtol=1e-12, atol=1e-12)
    assert all(t.__class__ is torch.Tensor or isinstance(t, torch.nn.Parameter) for t in conv.state_dict().values())
    compiled = torch.compile(lambda a, b, c, s, d: conv(a, b, c, s, d, NODES), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x1, x2, w, src, dst), conv(x1, x2, w, src, dst, NODES), rtol=1e-12, atol=1e-12)


def test_an_implementation_brings_its_own_convolution():
    """``Implementation.convolution``: the example plugin's kernel builds its own op (each path's
    block summed into the receivers as it is made), checked like every other."""
    pytest.importorskip("tpcore_example")
    spec = SPECS["cgtp-uvu"]
    conv = tpcore.build_conv(spec, backend="example", impl="convolution", dtype="float64")
    assert type(conv).__name__ == "KernelConvolution"
    x1, x2, w = graph_inputs(spec, seed=15)
    expected = reference_conv(spec, x1, x2, w)
    np.testing.assert_allclose(conv(x1, x2, w, SRC, DST, NODES), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    with pytest.raises(ValueError, match=r"src holds indices from 0 to 5"):
        conv(x1, x2, w, np.where(SRC == 4, 5, SRC), DST, NODES)


# -- node-node products: x2 gathered per edge too ---------------------------------------------------


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("name", ["cgtp-uvu", "cgtp-uvw", "s2grid"])
def test_x2_gathered_per_edge_is_the_convolution_of_the_gathered_rows(name, backend):
    """``x2_index``: edge e reads ``x2[x2_index[e]]`` (here the receiver's row): the same as passing
    those rows per edge, and errors name ``x2_index``."""
    spec = SPECS[name]
    conv = build(name, backend)
    x1, _, w = graph_inputs(spec, seed=16)
    node_x2 = graph_inputs(spec, seed=18, edges=NODES)[1]  # x2 with one row per node
    harness = tpcore.registry.get_registry().harness(backend)
    arrays = [harness.asarray(a, "float64") for a in (x1, node_x2, w)]
    src, dst = _index(backend, SRC), _index(backend, DST)
    out = harness.to_numpy(conv(*arrays, src, dst, NODES, x2_index=dst))
    expected = reference_conv(spec, x1, node_x2[DST], w)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    with pytest.raises(ValueError, match=r"x2_index holds indices from 0 to 5, but x2 has 5 rows: every x2_index must be in \[0, 5\)"):
        conv(*arrays, src, dst, NODES, x2_index=_index(backend, np.where(DST == 4, 5, DST)))
    with pytest.raises(ValueError, match=r"x2_index has shape \(6,\), but there are 7 edges \(src has shape \(7,\)\)"):
        conv(*arrays, src, dst, NODES, x2_index=_index(backend, DST[:-1]))


def test_the_example_kernels_own_op_gathers_x2_too():
    pytest.importorskip("tpcore_example")
    spec = SPECS["cgtp-uvu"]
    conv = tpcore.build_conv(spec, backend="example", impl="convolution", dtype="float64")
    x1, _, w = graph_inputs(spec, seed=17)
    node_x2 = graph_inputs(spec, seed=19, edges=NODES)[1]
    expected = reference_conv(spec, x1, node_x2[SRC], w)
    np.testing.assert_allclose(conv(x1, node_x2, w, SRC, DST, NODES, x2_index=SRC), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
