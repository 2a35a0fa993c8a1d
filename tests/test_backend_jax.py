"""The jax backend, built through the registry, against the float64 reference, e3nn-jax and mathematics.

Expected gradients come from the reference without autodiff (tests/test_autodiff.py's
``reference_grads``): the tensor product is bilinear in (x1, x2) and each weight coordinate enters
with power one. Second derivatives follow from the same identity: ``<grad_x1 f, v>`` is
``sum(g * tp(v, x2, w))``, whose derivatives are first derivatives at ``x1 = v``.
"""

import copy
import functools
import importlib.metadata
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_autodiff import CASES, WEIGHTED_CASES, assert_close, inputs, reference_grads

import tpcore
from tpcore import TensorProductSpec, registry, so3
from tpcore.irreps import e3nn_jax_sort_key
from tpcore.plan import STRATEGIES, resolve_strategy
from tpcore.reference import reference

jax = pytest.importorskip("jax")
jnp = jax.numpy

from tpcore_jax import plugin  # noqa: E402
from tpcore_jax.tensor_product import TensorProduct  # noqa: E402


def _core_cases():
    """The first case of each variant x strategy x mode x weighted: enough for checks of how the
    function transforms (jit, vmap, per-sample weights, float32 and second derivatives); forward,
    equivariance and float64 first derivatives take every case."""
    seen = set()
    for case in CASES:
        spec, strategy = case.values
        key = (spec.variant, strategy, spec.mode, spec.weighted)
        if key not in seen:
            seen.add(key)
            yield case


CORE_CASES = list(_core_cases())
GRAD_CASES = [pytest.param(*c.values, "float64", id=f"{c.id}-float64") for c in CASES] + [
    pytest.param(*c.values, "float32", id=f"{c.id}-float32") for c in CORE_CASES
]
# One weighted case per variant and cgtp mode, default strategy: the per-edge weight derivatives.
PER_EDGE_CASES = list({(c.values[0].variant, c.values[0].mode): c for c in reversed(CORE_CASES) if c.values[0].weight_numel}.values())
# One case per variant, default strategy: pickling.
VARIANT_CASES = list({c.values[0].variant: c for c in reversed(CORE_CASES)}.values())
CGTP = CASES[0].values[0]  # uvw, weighted
GTP = next(c.values[0] for c in WEIGHTED_CASES if c.values[0].variant == "gtp")
DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


@pytest.fixture(scope="module", autouse=True)
def x64():
    """64-bit types on for this module (float64 needs them), restored afterwards."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.fixture
def x64_off():
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", True)


def jax_registry():
    """The process registry with the jax backend (registered at run time while no entry point lists it)."""
    reg = registry.get_registry()
    if "jax" not in reg.backends:
        registry.register_plugin(plugin, name="tpcore_jax")
    return reg


def build(spec, strategy=None, dtype="float64", **kwargs):
    jax_registry()
    return tpcore.build(spec, backend="jax", impl=strategy, dtype=dtype, **kwargs)


@functools.lru_cache(maxsize=None)
def built(spec, strategy, dtype="float64"):
    """A tensor product shared between tests: it is pure, and sharing keeps its compilations."""
    return build(spec, strategy, dtype)


def jarrays(*arrays, dtype="float64"):
    return tuple(None if a is None else jnp.asarray(a, dtype=DTYPES[dtype]) for a in arrays)


# -- registration ----------------------------------------------------------------------------------


def test_registration_and_capabilities():
    reg = jax_registry()
    backend = reg.backends["jax"]
    assert backend.priority == 10 and backend.default_dtype == "float32" and reg.reason("jax") is None
    assert "cpu" in backend.devices and set(backend.devices) <= {"cpu", "gpu"}
    for variant, strategies in STRATEGIES.items():
        impls = reg.implementations("jax", variant)[: len(strategies)]  # plugins' come after (priority 1000)
        assert [i.name for i in impls] == list(strategies) and [i.priority for i in impls] == list(range(len(strategies)))
        caps = impls[0].capabilities
        assert caps.modes is None and caps.dtypes == {"float32", "float64"} and caps.devices == set(backend.devices)
        assert caps.grad_order == 2 and caps.jit and caps.per_sample_weights
    tp = build(CGTP, dtype=None)  # the backend's default dtype
    assert isinstance(tp, TensorProduct) and tp.dtype == np.float32 and tp.strategy == resolve_strategy(CGTP, backend="jax")


def test_entry_point_is_declared():
    found = [ep for ep in importlib.metadata.entry_points(group=registry.GROUP) if ep.name == "jax"]
    if not found:
        pytest.xfail('pyproject.toml does not list jax = "tpcore_jax.plugin" in [project.entry-points.tpcore] yet')
    assert found[0].value == "tpcore_jax.plugin"


def test_plugin_and_probe_import_no_jax():
    code = textwrap.dedent(
        """
        import importlib.util, sys
        import tpcore.registry as r
        from tpcore.devices import jax_device_kinds
        from tpcore_jax import plugin
        reg = r.get_registry()
        if "jax" not in reg.backends:
            r.register_plugin(plugin, name="tpcore_jax")
        strategies = __import__("tpcore.plan").plan.STRATEGIES
        assert {(i.variant, i.name) for i in reg.implementations("jax")} >= {(v, s) for v in strategies for s in strategies[v]}
        assert "jax" not in sys.modules, "registration imported jax"
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "jax" else real(name, *a)
        assert plugin._probe() == "jax: not installed" and jax_device_kinds() == ("cpu",)
        assert "jax" not in sys.modules, "the probe imported jax"
        """
    )
    env = {**os.environ, "TPCORE_BACKEND": "", "TPCORE_PLUGINS": "", "TPCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_built_object_attributes_and_constants():
    tp = build(GTP, "direct", "float32", device="cpu:0")
    assert tp.spec is GTP and tp.weight_numel == GTP.weight_numel and tp.dtype == np.float32
    assert tp.strategy == "direct" and tp.device == jax.devices("cpu")[0]
    text = repr(tp)
    assert "gtp" in text and "strategy=direct" in text and "dtype=float32" in text and "device=cpu:0" in text
    # The coefficients were converted once, at build time, to the working dtype on the device.
    assert tp.consts and all(isinstance(c, jax.Array) for c in tp.consts.values())
    assert {str(c.dtype) for c in tp.consts.values()} <= {"float32", "complex64", "int32"}
    assert all(c.devices() == {jax.devices("cpu")[0]} for c in tp.consts.values())
    x1, x2, w = inputs(GTP, np.random.default_rng(15), dtype="float32")
    out = tp(*jarrays(x1, x2, w, dtype="float32"))
    assert out.devices() == {jax.devices("cpu")[0]}
    assert_close(out, reference(GTP, x1, x2, w), "float32")


# -- forward ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_forward_matches_reference(spec, strategy, dtype):
    tp = built(spec, strategy, dtype)
    x1, x2, w = inputs(spec, np.random.default_rng(0), batch=(4,), dtype=dtype)
    out = tp(*jarrays(x1, x2, w, dtype=dtype))
    assert out.dtype == DTYPES[dtype] and out.devices() == {jax.devices()[0]}
    assert_close(out, reference(spec, x1, x2, w), dtype)


@pytest.mark.parametrize("spec, strategy", CORE_CASES)
def test_jit_and_vmap(spec, strategy):
    tp = built(spec, strategy)
    x1, x2, w = inputs(spec, np.random.default_rng(1), batch=(4,))

    @jax.jit
    def under_jit(x1, x2, w):
        return (
            tp(x1, x2, w),
            jax.vmap(tp, in_axes=(0, 0, None))(x1, x2, w),  # one sample per call
            jax.vmap(tp, in_axes=(None, 0, None))(x1, x2, w),  # every x1 with one x2 per call
        )

    batched, per_sample, outer = under_jit(*jarrays(x1, x2, w))
    assert_close(batched, reference(spec, x1, x2, w))
    assert_close(per_sample, reference(spec, x1, x2, w))
    assert_close(outer, reference(spec, x1[None], x2[:, None], w))


def test_jit_does_not_retrace_for_the_same_shapes():
    tp = build(GTP, "fft")
    traces = []

    def traced(*args):
        traces.append(1)
        return tp(*args)

    f = jax.jit(traced)
    rng = np.random.default_rng(2)
    for _ in range(3):
        f(*jarrays(*inputs(GTP, rng, batch=(3,))))
    assert len(traces) == 1


@pytest.mark.parametrize("batch", [(), (0,), (4,), (2, 3)])
@pytest.mark.parametrize("spec", [CGTP, GTP], ids=["cgtp", "gtp-fft"])
def test_batch_shapes(spec, batch):
    tp = built(spec, STRATEGIES[spec.variant][0])
    x1, x2, w = inputs(spec, np.random.default_rng(3), batch)
    j1, j2, jw = jarrays(x1, x2, w)
    out = tp(j1, j2, jw)
    assert out.shape == batch + (spec.irreps_out.dim,)
    assert_close(out, reference(spec, x1, x2, w))
    grad_x1, grad_x2 = jax.jit(jax.grad(lambda a, b: tp(a, b, jw).sum(), argnums=(0, 1)))(j1, j2)
    assert grad_x1.shape == j1.shape and grad_x2.shape == j2.shape


def test_batch_shapes_broadcast():
    rng = np.random.default_rng(4)
    x1 = rng.normal(size=(2, 1, CGTP.irreps_in1.dim))
    x2 = rng.normal(size=(3, CGTP.irreps_in2.dim))
    w = rng.normal(size=(2, 3, CGTP.weight_numel))
    out = build(CGTP)(*jarrays(x1, x2, w))
    assert out.shape == (2, 3, CGTP.irreps_out.dim)
    assert_close(out, reference(CGTP, x1, x2, w))


@pytest.mark.parametrize("spec, strategy", [c for c in CORE_CASES if c.values[0].weight_numel])
def test_per_sample_weights(spec, strategy):
    tp = built(spec, strategy)
    x1, x2, w = inputs(spec, np.random.default_rng(5), batch=(2, 3), per_sample=True)
    w_rows = w[:, :1]  # (2, 1, numel): one vector per row, broadcast over the columns

    @jax.jit
    def calls(x1, x2, w, w_rows):
        return tp(x1, x2, w), tp(x1, x2, w_rows), jax.vmap(tp)(x1[0], x2[0], w[0])  # vmap over the weights too

    full, rows, mapped = calls(*jarrays(x1, x2, w, w_rows))
    assert_close(full, reference(spec, x1, x2, w))
    assert_close(rows, reference(spec, x1, x2, w_rows))
    assert_close(mapped, reference(spec, x1[0], x2[0], w[0]))


def test_float32_with_64_bit_types_off(x64_off):
    tp = build(GTP, "fft", dtype=None)  # the default, float32
    x1, x2, w = inputs(GTP, np.random.default_rng(6), dtype="float32")
    out = jax.jit(tp)(*jarrays(x1, x2, w, dtype="float32"))
    assert out.dtype == jnp.float32
    assert_close(out, reference(GTP, x1, x2, w), "float32")


def test_float64_without_x64_says_how_to_enable_it(x64_off):
    with pytest.raises(ValueError, match=r'jax.config.update\("jax_enable_x64", True\)'):
        build(CGTP, dtype="float64")


# -- derivatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy, dtype", GRAD_CASES)
def test_first_derivatives(spec, strategy, dtype):
    rng = np.random.default_rng(7)
    x1, x2, w = inputs(spec, rng, batch=(4,), dtype=dtype)
    g = rng.normal(size=(4, spec.irreps_out.dim)).astype(dtype)
    tp = built(spec, strategy, dtype)
    argnums = (0, 1, 2) if w is not None else (0, 1)
    grad = jax.jit(jax.grad(lambda a, b, c, g: jnp.sum(g * tp(a, b, c)), argnums=argnums))
    grads = grad(*jarrays(x1, x2, w, g, dtype=dtype))
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        assert got.dtype == DTYPES[dtype]
        assert_close(got, expected, dtype)


@pytest.mark.parametrize("spec, strategy", CORE_CASES)
def test_second_derivatives(spec, strategy):
    rng = np.random.default_rng(8)
    x1, x2, w = inputs(spec, rng, batch=(4,))
    g, v, d = rng.normal(size=(4, spec.irreps_out.dim)), rng.normal(size=x1.shape), rng.normal(size=x2.shape)
    tp = built(spec, strategy)
    argnums = (0, 1, 2) if w is not None else (0, 1)

    @jax.jit
    def derivatives(x1, x2, w, g, v, d):
        def grad_x1(a, b, c):
            return jax.grad(lambda a: jnp.sum(g * tp(a, b, c)))(a)

        # Forward over reverse: grad_x1 is linear in x2 and constant in x1.
        _, along_x2 = jax.jvp(lambda b: grad_x1(x1, b, w), (x2,), (d,))
        _, along_x1 = jax.jvp(lambda a: grad_x1(a, x2, w), (x1,), (v,))
        # Reverse over reverse: <grad_x1 f, v> = sum(g * tp(v, x2, w)).
        second = jax.grad(lambda a, b, c: jnp.sum(grad_x1(a, b, c) * v), argnums=argnums)(x1, x2, w)
        return along_x2, along_x1, second

    along_x2, along_x1, second = derivatives(*jarrays(x1, x2, w, g, v, d))
    assert_close(along_x2, reference_grads(spec, x1, d, w, g)[0])
    assert float(jnp.max(jnp.abs(along_x1))) == 0.0
    _, expected_x2, expected_w = reference_grads(spec, v, x2, w, g)
    assert float(jnp.max(jnp.abs(second[0]))) == 0.0
    assert_close(second[1], expected_x2)
    if w is not None:
        assert_close(second[2], expected_w)


@pytest.mark.parametrize("spec, strategy", PER_EDGE_CASES)
def test_per_sample_weight_derivatives(spec, strategy):
    """First and second derivatives with per-edge weights ``(N, weight_numel)``, under jit and vmap.

    Expected values: first derivatives from the reference (``reference_grads``, per sample); mixed
    second derivatives from the identity ``<grad_x1 f, v> = sum(g * tp(v, x2, w))``; the weights'
    Hessian along ``u`` by a central difference of the reference's weight gradient, which is exact
    here: each weight coordinate enters with power one, so that gradient is a polynomial of degree
    at most two along any line.
    """
    rng = np.random.default_rng(16)
    x1, x2, w = inputs(spec, rng, batch=(5,), per_sample=True)
    g, v, u = rng.normal(size=(5, spec.irreps_out.dim)), rng.normal(size=x1.shape), rng.normal(size=w.shape)
    tp = built(spec, strategy)

    def f(a, b, c, g):
        return jnp.sum(g * tp(a, b, c))

    @jax.jit
    def derivatives(x1, x2, w, g, v, u):
        first = jax.grad(f, argnums=(0, 1, 2))(x1, x2, w, g)
        per_edge = jax.vmap(jax.grad(f, argnums=2))(x1, x2, w, g)  # one weight gradient per edge
        mixed = jax.grad(lambda b, c: jnp.sum(jax.grad(f)(x1, b, c, g) * v), argnums=(0, 1))(x2, w)
        _, hessian_u = jax.jvp(lambda c: jax.grad(f, argnums=2)(x1, x2, c, g), (w,), (u,))
        return first, per_edge, mixed, hessian_u

    first, per_edge, mixed, hessian_u = derivatives(*jarrays(x1, x2, w, g, v, u))
    expected = reference_grads(spec, x1, x2, w, g)
    for got, want in zip(first, expected):
        assert got.shape == want.shape
        assert_close(got, want)
    assert_close(per_edge, expected[2])
    _, mixed_x2, mixed_w = reference_grads(spec, v, x2, w, g)
    assert_close(mixed[0], mixed_x2)
    assert_close(mixed[1], mixed_w)
    h = 0.5
    central = (reference_grads(spec, x1, x2, w + h * u, g)[2] - reference_grads(spec, x1, x2, w - h * u, g)[2]) / (2 * h)
    assert_close(hessian_u, central)


def test_per_sample_weights_mapped_over_an_edge_axis():
    """vmap over edges with one weight vector each, shared weights broadcast, and a batch of graphs."""
    spec = CGTP
    tp = built(spec, STRATEGIES["cgtp"][0])
    rng = np.random.default_rng(17)
    x1, x2, w = inputs(spec, rng, batch=(3, 4), per_sample=True)  # 3 graphs x 4 edges
    per_edge = jax.jit(jax.vmap(jax.vmap(tp)))(*jarrays(x1, x2, w))
    assert_close(per_edge, reference(spec, x1, x2, w))
    per_graph = jax.jit(jax.vmap(tp))(*jarrays(x1, x2, w))  # (4, numel) weights inside each call
    assert_close(per_graph, reference(spec, x1, x2, w))


# -- pickling and deep copies ------------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy", VARIANT_CASES)
def test_pickle_and_deepcopy_rebuild_a_pure_function(spec, strategy):
    tp = build(spec, strategy, "float64", device="cpu:0")
    x1, x2, w = inputs(spec, np.random.default_rng(18), batch=(3,), per_sample=bool(spec.weight_numel))
    args = jarrays(x1, x2, w)
    out = tp(*args)
    deep, loaded = copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))
    for clone in (deep, loaded):
        assert type(clone) is TensorProduct and clone.spec == spec and clone.strategy == tp.strategy
        assert clone.dtype == np.float64 and clone.device == jax.devices("cpu")[0]
        assert all(c.devices() == {jax.devices("cpu")[0]} for c in clone.consts.values())
        np.testing.assert_array_equal(clone(*args), out)
    # Still a pure function: jit of grad of vmap, against the reference.
    g = np.random.default_rng(19).normal(size=out.shape)
    grad = jax.jit(jax.grad(lambda a, b, c: jnp.sum(g * jax.vmap(loaded)(a, b, c)), argnums=(0, 1)))
    for got, expected in zip(grad(*args), reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)


def test_a_pickle_loads_in_another_process(tmp_path):
    """A jax Device does not pickle across processes: the name does, and the loader finds the device again."""
    rng = np.random.default_rng(19)
    x1, x2, w = inputs(GTP, rng, batch=(3,), per_sample=True)
    tps = [build(GTP, "fft", "float64", device="cpu:0"), build(CGTP, None, "float32")]
    args = [jarrays(x1, x2, w), jarrays(*inputs(CGTP, rng, batch=(3,)), dtype="float32")]
    expected = [np.asarray(jax.jit(tp)(*a)) for tp, a in zip(tps, args)]
    path = tmp_path / "tps.pickle"
    path.write_bytes(pickle.dumps((tps, [[np.asarray(a) for a in arg] for arg in args], expected)))
    code = textwrap.dedent(
        f"""
        import pickle, jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        tps, args, expected = pickle.loads(open({str(path)!r}, "rb").read())
        assert tps[0].device == jax.devices("cpu")[0] and tps[1].device is None, [tp.device for tp in tps]
        for tp, arg, want in zip(tps, args, expected):
            np.testing.assert_array_equal(jax.jit(tp)(*arg), want)
            jax.grad(lambda a: tp(a, *arg[1:]).sum())(arg[0])
        """
    )
    env = {**os.environ, "TPCORE_BACKEND": "", "TPCORE_PLUGINS": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# -- symmetry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, strategy", CASES)
def test_equivariance(spec, strategy):
    rng = np.random.default_rng(9)
    tp = built(spec, strategy)
    x1, x2, w = inputs(spec, rng)
    for improper in (False, True) if spec.o3_equivariant else (False,):  # mtp: rotations only
        R = so3.rand_matrix(rng=rng, improper=improper)
        D1, D2, Dout = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
        rotated = tp(*jarrays(x1 @ D1.T, x2 @ D2.T, w))
        assert_close(rotated, np.asarray(tp(*jarrays(x1, x2, w))) @ Dout.T)


# -- e3nn-jax --------------------------------------------------------------------------------------


def e3nn_jax_permutation(spec):
    """``perm`` with ``tpcore_out[..., perm] == e3nn_jax.tensor_product(x1, x2)`` for a full-product spec.

    ``spec`` is ``TensorProductSpec.cgtp(irreps_in1, irreps_in2, None, mode="uvuv")``: one output
    block per (in1 block, in2 block, irrep) path, its rows ``u * mul2 + v``, blocks sorted in e3nn's
    (torch) order. e3nn-jax regroups each input (a stable sort in ITS order 0e < 0o < 1o < 1e, then
    merging equal neighbours), loops over the regrouped pairs and their product irreps, and stable
    sorts the output chunks in its order; rows of a chunk run over the (merged) input rows a, then b.
    Each output component is labelled by its input rows, irrep and m on both sides and matched.
    """

    def regroup(irreps):
        blocks = sorted(
            ((ir, [(i, u) for u in range(mul)]) for i, (mul, ir) in enumerate(irreps) if mul),
            key=lambda block: e3nn_jax_sort_key(block[0]),
        )
        merged = []
        for ir, rows in blocks:
            if merged and merged[-1][0] == ir:
                merged[-1] = (ir, merged[-1][1] + rows)
            else:
                merged.append((ir, rows))
        return merged

    chunks = [
        (ir, [(a, b) for a in rows1 for b in rows2])
        for ir1, rows1 in regroup(spec.irreps_in1)
        for ir2, rows2 in regroup(spec.irreps_in2)
        for ir in ir1 * ir2
    ]
    chunks.sort(key=lambda chunk: e3nn_jax_sort_key(chunk[0]))
    theirs = [(a, b, ir, m) for ir, rows in chunks for a, b in rows for m in range(ir.dim)]

    ours = {}
    slices = spec.irreps_out.slices()
    for p in spec.paths:
        assert p.mode == "uvuv" and p.mul_out == p.mul_in1 * p.mul_in2, "a full-product spec is expected"
        for u in range(p.mul_in1):
            for v in range(p.mul_in2):
                for m in range(p.ir_out.dim):
                    label = ((p.i_in1, u), (p.i_in2, v), p.ir_out, m)
                    assert label not in ours
                    ours[label] = slices[p.i_out].start + (u * p.mul_in2 + v) * p.ir_out.dim + m
    assert len(ours) == spec.irreps_out.dim == len(theirs), "the outputs cannot be matched one to one"
    return np.array([ours[label] for label in theirs])


def test_e3nn_jax_permutation_by_hand():
    # e3nn puts 0o before 0e, e3nn-jax 0e before 0o: the two scalars swap.
    spec = TensorProductSpec.cgtp("1x0e + 1x0o", "1x0e", None, mode="uvuv")
    assert str(spec.irreps_out) == "1x0o+1x0e"
    assert e3nn_jax_permutation(spec).tolist() == [1, 0]
    # x1 = [a (2e), b (2o), c (2e)]: e3nn orders the outputs b | a | c, e3nn-jax merges a and c: a, c | b.
    spec = TensorProductSpec.cgtp("1x2e + 1x2o + 1x2e", "1x0e", None, mode="uvuv")
    assert str(spec.irreps_out) == "1x2o+1x2e+1x2e"
    assert e3nn_jax_permutation(spec).tolist() == list(range(5, 15)) + list(range(5))
    perm = e3nn_jax_permutation(TensorProductSpec.cgtp("2x1e + 1x0o + 1x1e", "1x0e + 1x1o", None, mode="uvuv"))
    assert sorted(perm) == list(range(len(perm)))


E3NN_JAX_CASES = [
    ("2x0e + 1x1o", "2x1o + 1x2e"),
    ("1x1o + 2x0o + 1x0e + 1x1o", "1x0e + 1x1e"),  # unsorted, repeated and 0o/0e: reordering matters
    ("1x2e + 1x3o", "1x1o + 2x2o"),
]


@pytest.mark.parametrize("irreps_in1, irreps_in2", E3NN_JAX_CASES)
def test_full_product_matches_e3nn_jax(irreps_in1, irreps_in2):
    e3nn = pytest.importorskip("e3nn_jax")
    # e3nn-jax's default irrep normalization is "component" (e3nn_jax.config, _src/config.py), the
    # same as tpcore's cgtp default; it is passed explicitly so a changed default cannot hide here.
    # Its clebsch_gordan is e3nn's wigner_3j in the same real basis, so only the layout differs.
    assert e3nn.config("irrep_normalization") == "component"
    spec = TensorProductSpec.cgtp(irreps_in1, irreps_in2, None, mode="uvuv")
    x1, x2, _ = inputs(spec, np.random.default_rng(10), batch=(3,))

    @jax.jit
    def theirs(x1, x2):
        a, b = e3nn.IrrepsArray(str(spec.irreps_in1), x1), e3nn.IrrepsArray(str(spec.irreps_in2), x2)
        return e3nn.tensor_product(a, b, irrep_normalization="component")

    expected = theirs(*jarrays(x1, x2))
    assert expected.irreps == e3nn.Irreps(str(spec.irreps_out)).regroup()
    ours = build(spec)(*jarrays(x1, x2))
    assert_close(np.asarray(ours)[..., e3nn_jax_permutation(spec)], np.asarray(expected.array, dtype=np.float64))


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_wrong_last_dimension(jit):
    tp = build(CGTP)
    f = jax.jit(tp) if jit else tp
    x1, x2, w = jarrays(*inputs(CGTP, np.random.default_rng(11)))
    with pytest.raises(ValueError, match=rf"x1 has last dimension {CGTP.irreps_in1.dim + 1}, but irreps_in1"):
        f(jnp.zeros((4, CGTP.irreps_in1.dim + 1)), x2, w)
    with pytest.raises(ValueError, match=r"x2 has last dimension 2, but irreps_in2"):
        f(x1, jnp.zeros((4, 2)), w)


def test_dtype_mismatch():
    tp = build(CGTP, dtype="float32")
    x1, x2, w = inputs(CGTP, np.random.default_rng(12))
    with pytest.raises(TypeError, match="x1 has dtype float64, but this tensor product was built for float32"):
        tp(*jarrays(x1), *jarrays(x2, w, dtype="float32"))
    with pytest.raises(TypeError, match="weights has dtype float64"):
        jax.jit(tp)(*jarrays(x1, x2, dtype="float32"), *jarrays(w))


def test_wrong_or_missing_weights():
    tp = build(CGTP)
    x1, x2, _ = jarrays(*inputs(CGTP, np.random.default_rng(13)))
    with pytest.raises(ValueError, match=rf"weights have shape \(3,\), but the spec needs \({CGTP.weight_numel},\)"):
        tp(x1, x2, jnp.zeros(3))
    with pytest.raises(ValueError, match="weights are required"):
        tp(x1, x2)
    spec = TensorProductSpec.s2grid("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e")
    with pytest.raises(ValueError, match="no weights"):
        build(spec)(*jarrays(*inputs(spec, np.random.default_rng(14))[:2]), jnp.zeros(3))


@pytest.mark.parametrize(
    "given, described, under_jit",
    [
        (lambda a: a.tolist(), "a builtins.list", True),  # jit passes the list on, its items traced
        (lambda a: None, "None", True),
        (lambda a: 2.0, "a builtins.float", False),  # jit makes a float a scalar array, refused for its shape
    ],
    ids=["list", "None", "float"],
)
def test_non_arrays_are_named_with_the_array_type_expected(given, described, under_jit):
    tp = build(CGTP)
    x1, x2, w = jarrays(*inputs(CGTP, np.random.default_rng(20)))
    message = rf"^x1 is {described}, but this tensor product runs on jax arrays: pass jax arrays \(e.g. jax.numpy.asarray\(x1\)\)"
    for f in (tp, jax.jit(tp)) if under_jit else (tp,):
        with pytest.raises(TypeError, match=message):
            f(given(np.asarray(x1)), x2, w)


def test_numpy_inputs_are_jax_inputs_and_torch_tensors_are_named():
    tp = build(CGTP)
    x1, x2, w = inputs(CGTP, np.random.default_rng(21))
    assert_close(tp(x1, x2, w), reference(CGTP, x1, x2, w))
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^weights is a torch.Tensor, but this tensor product runs on jax arrays"):
        tp(x1, x2, torch.as_tensor(w))


@pytest.mark.parametrize("dtype", ["int32", "float16", "complex64", "bool"])
def test_dtypes_build_rejects_are_never_suggested(dtype):
    tp = build(CGTP, dtype="float32")
    x1, x2, w = jarrays(*inputs(CGTP, np.random.default_rng(22)), dtype="float32")
    with pytest.raises(TypeError, match=rf"^x2 has dtype {dtype}, but this tensor product was built for float32; "
                       r"cast x2 to float32 \(tensor products are built for float32 or float64 only\)"):  # fmt: skip
        tp(x1, x2.astype(dtype), w)


@pytest.mark.parametrize(
    "device, match",
    [("tpu", "not a jax device tpcore supports"), ("cpu:7", "jax has 1 cpu device"), ("gpu", "jax has no gpu device")],
)
def test_unknown_device_lists_jax_devices(device, match):
    if device == "gpu" and any(d.platform == "gpu" for d in jax.devices()):
        device, match = "gpu:99", "gpu device"
    with pytest.raises(ValueError, match=match) as info:
        TensorProduct(CGTP, device=device)
    assert f"jax.devices(): {jax.devices()[0].platform}:0" in str(info.value)


# -- several devices -------------------------------------------------------------------------------


def test_batch_sharded_over_two_cpu_devices():
    code = textwrap.dedent(
        """
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        import tpcore
        from tpcore import TensorProductSpec, registry, s2_irreps
        from tpcore.devices import jax_device_kinds
        from tpcore_jax import plugin

        assert len(jax.devices()) == 2, jax.devices()
        if "jax" not in registry.get_registry().backends:
            registry.register_plugin(plugin, name="tpcore_jax")
        spec = TensorProductSpec.gtp(s2_irreps(2, mul=2), s2_irreps(1, mul=2), s2_irreps(3, mul=2), weighted=True)
        tp = jax.jit(tpcore.build(spec, backend="jax", impl="fft"))
        rng = np.random.default_rng(0)
        x1 = rng.normal(size=(8, spec.irreps_in1.dim)).astype(np.float32)
        x2 = rng.normal(size=(8, spec.irreps_in2.dim)).astype(np.float32)
        w = rng.normal(size=spec.weight_numel).astype(np.float32)

        mesh = Mesh(np.array(jax.devices()), ("batch",))
        batch = NamedSharding(mesh, PartitionSpec("batch"))
        out = tp(jax.device_put(x1, batch), jax.device_put(x2, batch), jax.device_put(w, NamedSharding(mesh, PartitionSpec())))
        assert len(out.sharding.device_set) == 2 and out.sharding.is_equivalent_to(batch, out.ndim), out.sharding
        assert [s.data.shape for s in out.addressable_shards] == [(4, spec.irreps_out.dim)] * 2

        single = tp(jax.device_put(x1, jax.devices()[0]), jax.device_put(x2, jax.devices()[0]), w)
        assert single.sharding.device_set == {jax.devices()[0]}
        scale = max(1.0, float(np.abs(single).max()))
        assert float(np.abs(np.asarray(out) - np.asarray(single)).max()) <= 1e-6 * scale
        expected = tpcore.reference(spec, x1, x2, w)
        assert float(np.abs(np.asarray(out) - expected).max()) <= 1e-5 * max(1.0, float(np.abs(expected).max()))
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "TPCORE_BACKEND": "", "TPCORE_PLUGINS": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_block_differentiates_as_dense_with_every_order_and_vmap():
    """``block`` keeps its forward and takes ``dense``'s derivatives (a custom JVP, measured cheaper)."""
    spec = TensorProductSpec.cgtp("2x0e + 2x1o + 1x2e", "1x0e + 1x1o", "2x0e + 2x1o + 1x2e", mode="uvw")
    tp = build(spec, "block")
    assert all(isinstance(f, jax.custom_jvp) for f in tp.functions.values())
    assert not isinstance(build(spec, "dense").functions[False], jax.custom_jvp)
    rng = np.random.default_rng(11)
    x1, x2, w = inputs(spec, rng, batch=(3,))
    g, v = rng.normal(size=(3, spec.irreps_out.dim)), rng.normal(size=x1.shape)
    f = lambda a, b, c: jnp.sum(jnp.asarray(g) * tp(a, b, c))  # noqa: E731
    a1, a2, a3 = jarrays(x1, x2, w)
    for got, expected in zip(jax.grad(f, argnums=(0, 1, 2))(a1, a2, a3), reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)
    second = jax.grad(lambda b: jnp.sum(jax.grad(f)(a1, b, a3) * jnp.asarray(v)))(a2)
    assert_close(second, reference_grads(spec, v, x2, w, g)[1])
    _, along = jax.jvp(lambda b: jax.grad(f)(a1, b, a3), (a2,), (a2,))
    assert_close(along, reference_grads(spec, x1, x2, w, g)[0])
    per_row = jax.vmap(lambda a, b: tp(a, b, a3))(a1, a2)
    assert_close(per_row, reference(spec, x1, x2, w))


def test_folded_runs_its_per_sample_program_with_that_programs_derivatives():
    """``folded`` cannot fold per-sample weights: it runs jax's ``auto`` pick for them (``block`` for
    MACE's convolution), differentiated as that strategy is (``dense``'s custom JVP)."""
    from tpcore.report.workloads import convolution_spec

    spec = convolution_spec(2, 1)
    tp = build(spec, "folded")
    assert tp.plan.program_strategy(True) == "block" and tp.plan.program_strategy(False) == "folded"
    assert isinstance(tp.functions[True], jax.custom_jvp) and not isinstance(tp.functions[False], jax.custom_jvp)
    rng = np.random.default_rng(13)
    x1, x2, w = inputs(spec, rng, batch=(4,), per_sample=True)
    g = rng.normal(size=(4, spec.irreps_out.dim))
    f = lambda a, b, c: jnp.sum(jnp.asarray(g) * tp(a, b, c))  # noqa: E731
    for got, expected in zip(jax.grad(f, argnums=(0, 1, 2))(*jarrays(x1, x2, w)), reference_grads(spec, x1, x2, w, g)):
        assert_close(got, expected)
