"""tpcore.jax inside e3nn-jax's networks: what its products trace to (not how fast they run).

e3nn-jax's networks call the full product on sorted, regrouped irreps, per edge under ``vmap``, and
filter its output afterwards; ``scripts/e3nn_jax_networks.py`` times two of them. These tests pin
the properties those timings rest on: no gathers (whose reverse is a scatter-add), outputs jax can
drop, one coupling per ``x1`` block with the edge harmonics, no axes of size 1 in the contractions,
``folded`` only where it multiplies few zeros, and the networks' numbers equal to e3nn-jax's.
"""

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
e3nn = pytest.importorskip("e3nn_jax")

import jax.numpy as jnp  # noqa: E402

import tpcore  # noqa: E402
import tpcore.jax as tj  # noqa: E402
from tpcore.cost import block_merges_x2  # noqa: E402
from tpcore.descriptor import describe  # noqa: E402
from tpcore.plan import lower, resolve_strategy  # noqa: E402
from tpcore.report.workloads import full_spec  # noqa: E402
from tpcore_jax.ops import without_unit_axes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("jax_x64")  # float64 throughout (tests/conftest.py)


def normal(irreps, seed, batch=(3,)):
    return e3nn.normal(irreps, jax.random.PRNGKey(seed), batch, dtype=jnp.float64)


def primitives(f, *args) -> Counter:
    """How many times each primitive occurs in ``f``'s jaxpr, nested jaxprs (jit, custom_jvp) included."""
    counts = Counter()

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else (value,):
                    if hasattr(sub, "eqns") or hasattr(sub, "jaxpr"):
                        walk(getattr(sub, "jaxpr", sub))

    walk(jax.make_jaxpr(f)(*args).jaxpr)
    return counts


@pytest.mark.parametrize("irreps2", ["0e + 1o + 2e", "2x0e + 2x1o"])
def test_rebound_product_under_vmap_has_no_gather_forward_or_reverse(irreps2):
    """The output is in e3nn-jax's order as computed (the spec's blocks are sorted), and the paths
    of one coupling are split apart, not gathered: nothing to scatter-add in the reverse pass."""
    x1, x2 = normal("2x0e + 2x1o + 1x2e", 0), normal(irreps2, 1)

    def energy(a, b):
        return jnp.sum(jax.vmap(lambda u, v: tj.tensor_product(u, v).array)(a, b) ** 2)

    for f in (lambda a, b: jax.vmap(lambda u, v: tj.tensor_product(u, v).array)(a, b), jax.grad(energy, argnums=(0, 1))):
        counts = primitives(f, x1, x2)
        assert not {"gather", "scatter", "scatter-add", "scatter_add"} & set(counts), counts


def test_sorted_adapter_output_is_concatenated_not_gathered():
    """``sort=True`` reorders the spec's blocks by concatenating them (the gathers left read the weights)."""
    x1, x2 = normal("2x0e + 1x1o", 0), normal("1x1o", 1)
    counts = []
    for sort in (False, True):
        tp = tj.TensorProduct("2x0e + 1x1o", "1x1o", "2x1o + 1x0e + 1x1e", mode="uvw", sort=sort)
        w = tp.init_weights(jax.random.PRNGKey(0), jnp.float64)
        counts.append(primitives(lambda a, b: tp.apply(w, a, b).array, x1, x2)["gather"])
    assert counts[1] == counts[0]


def dot_count(f, *args) -> int:
    """dot_generals jax lowers for ``f``: what is left once jax has dropped unused values."""
    return jax.jit(f).lower(*args).as_text().count("dot_general")


def test_outputs_filtered_afterwards_are_neither_computed_nor_differentiated():
    """As e3nn-jax's chunks: keeping 1o of ``(2x0e + 2x1o) x 1o`` leaves the 0e block's coupling only."""
    x1, x2 = normal("2x0e + 2x1o", 0), normal("1o", 1)

    def product(keep):
        def f(a, b):
            out = tj.tensor_product(a, b)
            return (out if keep is None else out.filter(keep=keep)).array

        return f

    for make in (lambda f: f, lambda f: jax.grad(lambda a, b: jnp.sum(f(a, b) ** 2), argnums=(0, 1))):
        everything, kept = dot_count(make(product(None)), x1, x2), dot_count(make(product("1o")), x1, x2)
        assert 0 < kept < everything
    out = tj.tensor_product(x1, x2)
    assert out.irreps == e3nn.tensor_product(x1, x2).irreps
    assert all(chunk is not None for chunk in out.chunks)


def test_blocks_are_the_output_split_by_irreps():
    spec = tpcore.TensorProductSpec.cgtp("2x0e + 1x1o", "1x1o + 1x2e", None, mode="uvuv")
    tp = tpcore.build(spec, backend="jax", dtype="float64")
    x1, x2 = normal("2x0e + 1x1o", 0, (2, 3)).array, normal("1x1o + 1x2e", 1, (2, 3)).array
    blocks = tp.blocks(x1, x2)
    assert [b.shape[-1] for b in blocks] == [mul * ir.dim for mul, ir in spec.irreps_out]
    np.testing.assert_allclose(np.concatenate(blocks, axis=-1), tp(x1, x2), rtol=1e-12, atol=1e-12)


def test_reverse_of_a_coupling_group_concatenates_instead_of_padding_each_path():
    spec = tpcore.TensorProductSpec.cgtp("4x0e + 4x1o + 4x2e", "1x1o + 1x2e", None, mode="uvuv")
    tp = tpcore.build(spec, backend="jax", dtype="float64", impl="block")
    x1, x2 = normal("4x0e + 4x1o + 4x2e", 0).array, normal("1x1o + 1x2e", 1).array
    counts = primitives(jax.grad(lambda a, b: jnp.sum(tp(a, b) ** 2), argnums=(0, 1)), x1, x2)
    # pads only as the reverse of taking the input blocks (3 of x1, x2 whole), none per path (16)
    assert counts["split"] >= 1 and counts["pad"] <= 4 < len(spec.paths)


def test_block_couples_each_x1_block_with_all_of_the_edge_harmonics():
    """x2 of one channel per block, no weights: one coupling per x1 block, not per input pair."""
    spec = tpcore.TensorProductSpec.cgtp("4x0e + 4x1o + 4x2e", "1x1o + 1x2e + 1x3o", None, mode="uvuv")
    assert block_merges_x2(describe(spec))
    ops = lower(spec, "block", backend="jax").ops
    assert sum(op.kind == "matmul" for op in ops) == 3 and not any(op.kind == "take" for op in ops)
    assert not block_merges_x2(describe(tpcore.TensorProductSpec.cgtp("4x0e + 4x1o", "2x1o + 2x2e", None, mode="uvuv")))


def test_einsum_drops_axes_of_size_one():
    a, b = jnp.ones((5, 4, 3)), jnp.ones((5, 1, 3, 7))
    equation, operands, shape = without_unit_axes("zui,zvik->zuvk", (a, b))
    assert equation == "zui,zik->zuk" and [x.shape for x in operands] == [(5, 4, 3), (5, 3, 7)] and shape == (5, 4, 1, 7)
    assert without_unit_axes("zui,zvik->zuvk", (a, jnp.ones((5, 2, 3, 7))))[2] is None


@pytest.mark.parametrize(
    ("spec", "strategy"),
    [
        (full_spec(1), "folded"),
        (full_spec(2), "folded"),
        (full_spec(3), "block"),  # folding multiplies 3.3x block's FLOPs
        (tpcore.TensorProductSpec.cgtp("16x0e", "16x0e", "256x0e", mode="uvuv"), "block"),  # 241x
        (tpcore.TensorProductSpec.cgtp("4x0e", "1x1o + 1x2e", "4x1o + 4x2e", mode="uvuv"), "block"),
    ],
)
def test_jax_folds_products_without_weights_only_where_the_fold_multiplies_few_zeros(spec, strategy):
    assert resolve_strategy(spec, None, backend="jax") == strategy
    assert resolve_strategy(spec, None, backend="torch") == "folded"  # torch's rule is measured apart


def _networks_module():
    spec = importlib.util.spec_from_file_location("e3nn_jax_networks", ROOT / "scripts" / "e3nn_jax_networks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("network", ["message passing", "transformer"])
def test_e3nn_jax_networks_give_the_same_energies_and_forces(network):
    networks = _networks_module()
    positions, species, senders, receivers = networks.graph(configs=2, nodes=6, seed=1)
    params = networks.init(network, "tiny", positions, species, senders, receivers)
    assert networks.check(network, "tiny", positions, species, senders, receivers, params) < 1e-9
