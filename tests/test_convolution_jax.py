"""tpcore.build_conv on jax in its grouped form (:class:`tpcore_jax.convolution.GroupedConvolution`).

Expected values: the float64 reference product per edge, summed into receivers with numpy. The
specs mix multiplicities and degrees across the ``x1`` segments, leave paths unweighted, share
output blocks between paths and leave one output block to no path.
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

import tpcore  # noqa: E402
from tpcore import TensorProductSpec  # noqa: E402
from tpcore.irreps import Irreps  # noqa: E402
from tpcore.reference import reference  # noqa: E402
from tpcore.testing.checks import TOLERANCES  # noqa: E402

pytestmark = pytest.mark.usefixtures("jax_x64")

SH = Irreps("0e + 1o + 2e")


def _per_path(irreps_in1: str, trained) -> TensorProductSpec:
    """One output block per path, as MACE builds its convolution; ``trained(k)`` says whether path ``k`` has weights."""
    x1 = Irreps(irreps_in1)
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(x1):
        for j, (_, ir_sh) in enumerate(SH):
            for ir_out in ir_in * ir_sh:
                if ir_out in SH:
                    instructions.append((i, j, len(out), "uvu", trained(len(out))))
                    out.append((mul, ir_out))
    return TensorProductSpec.cgtp(x1, SH, Irreps(out), mode="uvu", instructions=instructions)


SPECS = {
    "mixed": _per_path("4x0e + 2x1o + 3x2e", lambda k: True),
    "some-unweighted": _per_path("4x0e + 2x1o + 3x2e", lambda k: k % 3 != 1),
    # paths 2 and 3 add into one output block, the last block receives no path
    "shared-block": TensorProductSpec.cgtp(
        "4x0e + 2x1o", SH, "4x1o + 4x2e + 2x1o + 2x0e + 3x2o",
        mode="uvu", instructions=[(0, 1, 0, "uvu", True), (0, 2, 1, "uvu", False), (1, 0, 2, "uvu", True),
                                  (1, 2, 2, "uvu", True), (1, 1, 3, "uvu", True)],
    ),  # fmt: skip
}
SRC = np.array([0, 1, 1, 2, 4, 1, 0, 3])
DST = np.array([1, 2, 0, 4, 0, 2, 1, 1])
NODES = 5


def reference_conv(spec, x1, x2, w, src=SRC, dst=DST, nodes=NODES):
    out = np.zeros((nodes, spec.irreps_out.dim))
    np.add.at(out, dst, reference(spec, x1[src], x2, w))
    return out


def inputs(spec, seed, per_edge=True, dtype="float64", edges=len(SRC), nodes=NODES):
    """float64 arrays rounded to ``dtype`` (only the op's arithmetic is then measured)."""
    rng = np.random.default_rng(seed)
    shapes = ((nodes, spec.irreps_in1.dim), (edges, spec.irreps_in2.dim), ((edges,) if per_edge else ()) + (spec.weight_numel,))
    return [rng.normal(size=s).astype(dtype).astype(np.float64) for s in shapes]


def assert_close(actual, expected, dtype="float64"):
    error = np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max()
    assert error <= TOLERANCES[dtype], f"relative error {error:.2e} over {TOLERANCES[dtype]:.0e}"


@pytest.mark.parametrize("name, dtype", [(name, "float64") for name in SPECS] + [("some-unweighted", "float32")])
def test_grouped_convolution_sums_the_reference_messages(name, dtype):
    spec = SPECS[name]
    conv = tpcore.build_conv(spec, backend="jax", dtype=dtype)
    assert conv.strategy == "grouped"
    src, dst = jnp.asarray(SRC), jnp.asarray(DST)
    for per_edge in (True, False):
        x1, x2, w = inputs(spec, seed=1, per_edge=per_edge, dtype=dtype)
        expected = reference_conv(spec, x1, x2, w)
        args = [jnp.asarray(a, dtype) for a in (x1, x2, w)]
        out = conv(*args, src, dst, NODES)
        assert out.dtype == jnp.dtype(dtype) and out.shape == expected.shape
        assert_close(out, expected, dtype)


def test_an_empty_graph_gives_zeros_and_zero_gradients():
    spec = SPECS["some-unweighted"]
    conv = tpcore.build_conv(spec, backend="jax", dtype="float64")
    x1, x2, w = (jnp.asarray(a) for a in inputs(spec, seed=2, edges=0))
    none = jnp.zeros(0, jnp.int32)
    assert not conv(x1, x2, w, none, none, NODES).any()
    grads = jax.grad(lambda a, b, c: conv(a, b, c, none, none, NODES).sum(), argnums=(0, 1, 2))(x1, x2, w)
    assert [g.shape for g in grads] == [x1.shape, x2.shape, w.shape] and not any(g.any() for g in grads)


def test_vmap_over_a_batch_of_graphs():
    spec = SPECS["mixed"]
    conv = tpcore.build_conv(spec, backend="jax", dtype="float64")
    graphs = [inputs(spec, seed=s) for s in range(3)]
    rng = np.random.default_rng(3)
    srcs = np.stack([rng.permutation(SRC) for _ in graphs])
    dsts = np.stack([rng.permutation(DST) for _ in graphs])
    batched = [jnp.asarray(np.stack(arrays)) for arrays in zip(*graphs)]
    out = jax.jit(jax.vmap(lambda a, b, c, s, d: conv(a, b, c, s, d, NODES)))(*batched, jnp.asarray(srcs), jnp.asarray(dsts))
    for k, (x1, x2, w) in enumerate(graphs):
        assert_close(out[k], reference_conv(spec, x1, x2, w, srcs[k], dsts[k]))


def test_forward_over_reverse_equals_reverse_over_reverse():
    """The Hessian-vector product of a non-linear loss, by jvp of grad and by grad of grad (the
    linear identities of the second derivative are tests/test_convolution.py's)."""
    spec = SPECS["shared-block"]  # (weighted and unweighted paths, blocks shared and left empty)
    conv = tpcore.build_conv(spec, backend="jax", dtype="float64")
    x1, x2, w = (jnp.asarray(a) for a in inputs(spec, seed=4))
    rng = np.random.default_rng(5)
    g = jnp.asarray(rng.normal(size=(NODES, spec.irreps_out.dim)))
    tangents = tuple(jnp.asarray(rng.normal(size=a.shape)) for a in (x1, x2, w))
    src, dst = jnp.asarray(SRC), jnp.asarray(DST)

    def loss(a, b, c):
        return jnp.sum(jnp.tanh(conv(a, b, c, src, dst, NODES)) * g)

    gradient = jax.grad(loss, argnums=(0, 1, 2))
    forward_over_reverse = jax.jit(lambda *p: jax.jvp(gradient, p, tangents)[1])(x1, x2, w)
    along_tangents = jax.grad(lambda *p: sum(jnp.vdot(d, t) for d, t in zip(gradient(*p), tangents)), argnums=(0, 1, 2))
    reverse_over_reverse = jax.jit(along_tangents)(x1, x2, w)
    for a, b in zip(forward_over_reverse, reverse_over_reverse):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * float(jnp.abs(b).max()))


def test_weights_and_couplings_take_the_built_dtype():
    spec = SPECS["mixed"]
    conv = tpcore.build_conv(spec, backend="jax", dtype="float32")
    x1, x2, w = (jnp.asarray(a, "float32") for a in inputs(spec, seed=6, dtype="float32"))
    with pytest.raises(TypeError, match="weights has dtype float64, but this tensor product was built for float32"):
        conv(x1, x2, jnp.asarray(w, "float64"), jnp.asarray(SRC), jnp.asarray(DST), NODES)
    assert conv._coupling.dtype == jnp.float32
