"""tpcore.analysis: expressivity counts, antisymmetric paths, interactability, cost models."""

import numpy as np
import pytest

from tpcore import TensorProductSpec, reference, so3
from tpcore.analysis import (
    Interaction,
    antisymmetric_interactions,
    coefficient_bytes,
    compare_variants,
    flops,
    full_product_output_irreps,
    full_product_spec,
    growth_exponent,
    independent_output_irreps,
    interactability,
    interactions,
    missing_interactions,
    plan_coefficient_bytes,
    scaling,
)
from tpcore.irreps import Irrep
from tpcore.plan import STRATEGIES

CROSS = Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e"))


# -- expressivity ----------------------------------------------------------------------------------


def test_cgtp_output_irrep_counts_of_the_full_product_match_the_price_of_freedom():
    expected = [6, 19, 44, 85, 146, 231, 344, 489, 670, 891]  # the numbers, L = 1..10
    assert [full_product_output_irreps("cgtp", L) for L in range(1, 11)] == expected
    # the same from the selection rule alone: ordered (l1, l2) <= L, |l1 - l2| <= l3 <= l1 + l2
    brute = [
        sum(1 for l1 in range(L + 1) for l2 in range(L + 1) for l3 in range(2 * L + 1) if abs(l1 - l2) <= l3 <= l1 + l2)
        for L in range(1, 11)
    ]
    assert brute == expected


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_channelwise_variants_give_one_independent_output_per_degree(variant):
    for L in (1, 2):
        assert full_product_output_irreps(variant, L) == 2 * L + 1


def test_cross_product_path_is_antisymmetric_in_cgtp_and_absent_from_gaunt_variants():
    cgtp = TensorProductSpec.cgtp("0e + 1o", "0e + 1o", "0e + 1o + 1e", mode="uvw")
    assert CROSS in interactions(cgtp) and CROSS.antisymmetric
    assert antisymmetric_interactions(cgtp) == (CROSS,)
    for variant in ("gtp", "s2grid"):
        gaunt = full_product_spec(variant, 2)
        assert antisymmetric_interactions(gaunt) == ()
        lacking = [i for i in missing_interactions(gaunt, any_output=True) if i.antisymmetric]
        assert CROSS in lacking
        # the cgtp of the same inputs (every product irrep as output) lacks nothing
        full = full_product_spec("cgtp", 2)
        assert missing_interactions(full, any_output=True) == ()
        assert set(lacking) <= set(antisymmetric_interactions(full))


def test_the_cross_product_path_computes_a_cross_product():
    spec = TensorProductSpec.cgtp("1o", "1o", "1e", mode="uvuv")
    a, b = np.random.default_rng(0).standard_normal((2, 5, 3))
    out = reference(spec, a, b)
    ratio = out / np.cross(a, b)
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-10)
    np.testing.assert_allclose(reference(spec, b, a), -out, atol=1e-12)


@pytest.mark.parametrize("l1, l3", [(1, 1), (2, 1), (2, 3), (3, 2), (2, 2), (1, 2)])
def test_antisymmetric_means_the_coupling_changes_sign_when_equal_degree_inputs_swap(l1, l3):
    C = so3.wigner_3j(l1, l1, l3)
    swapped = C.transpose(1, 0, 2)
    interaction = Interaction(Irrep(l1, 1), Irrep(l1, 1), Irrep(l3, 1))
    sign = -1 if interaction.antisymmetric else 1
    np.testing.assert_allclose(swapped, sign * C, atol=1e-12)


@pytest.mark.parametrize("variant", ["gtp", "s2grid"])
def test_gaunt_products_are_symmetric_so_cannot_hold_antisymmetric_couplings(variant):
    spec = full_product_spec(variant, 2)
    a, b = np.random.default_rng(1).standard_normal((2, 4, spec.irreps_in1.dim))
    np.testing.assert_allclose(reference(spec, a, b), reference(spec, b, a), atol=1e-12)


def test_mtp_expresses_antisymmetric_couplings_only_into_parity_violating_outputs():
    rows = {r.variant: r for r in compare_variants(2)}
    assert rows["cgtp"].antisymmetric == 5 and rows["cgtp"].parity_violating == 0
    assert rows["gtp"].antisymmetric == rows["s2grid"].antisymmetric == 0
    assert rows["mtp"].antisymmetric == rows["mtp"].parity_violating == 5
    assert rows["cgtp"].independent_outputs == 19


def test_interactability_counts_follow_the_selection_rules():
    L = 3
    cg = interactability(full_product_spec("cgtp", L))
    gaunt = interactability(full_product_spec("gtp", L))
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            assert cg.counts[l1, l2] == 2 * min(l1, l2) + 1
            assert cg.antisymmetric[l1, l2] == min(l1, l2)
            assert gaunt.counts[l1, l2] == min(l1, l2) + 1
    assert gaunt.antisymmetric.sum() == 0
    assert cg.rows == ("0e", "1o", "2e", "3o")


def test_independent_outputs_of_a_fully_connected_cgtp_count_its_paths():
    spec = TensorProductSpec.cgtp("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 1x1e", mode="uvw")
    assert independent_output_irreps(spec) == len(spec.paths) == 5


# -- cost models -----------------------------------------------------------------------------------


def test_dense_cgtp_flops_are_the_coupling_block_sizes():
    L = 3
    expected = sum(
        2 * (2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1)
        for l1 in range(L + 1) for l2 in range(L + 1) for l3 in range(abs(l1 - l2), l1 + l2 + 1)
    )  # fmt: skip
    assert flops(full_product_spec("cgtp", L))["dense"] == expected


@pytest.mark.parametrize(
    "variant, strategy",
    [("cgtp", "block"), ("cgtp", "folded"), ("cgtp", "dense"), ("cgtp", "sparse"), ("gtp", "fft"), ("gtp", "direct"),
     ("s2grid", "matrix"), ("mtp", "matmul")],
)  # fmt: skip
def test_coefficient_memory_model_matches_the_lowered_plan(variant, strategy):
    if strategy not in STRATEGIES[variant]:
        pytest.skip(f"{variant} has no {strategy} strategy in this build")
    spec = full_product_spec(variant, 2)
    assert coefficient_bytes(spec)[strategy] == plan_coefficient_bytes(spec, strategy)
    assert coefficient_bytes(spec, itemsize=4)[strategy] == plan_coefficient_bytes(spec, strategy, itemsize=4)


def test_cost_models_grow_as_the_algorithms_say():
    Ls = [2, 4, 6, 8]
    cg, gtp, grid = scaling("cgtp", Ls), scaling("gtp", Ls), scaling("s2grid", Ls)
    dense, sparse = growth_exponent(Ls, cg["dense"]), growth_exponent(Ls, cg["sparse"])
    assert dense > sparse > growth_exponent(Ls, gtp["fft"]) > growth_exponent(Ls, grid["fft"])
    assert 4.5 < dense < 6.0 and 3.9 < sparse < 5.0  # O(L^6) and O(L^5), approached from below
    assert growth_exponent(Ls, grid["matrix"]) < 4.0
    assert all(d > s for d, s in zip(cg["dense"], cg["sparse"]))
    assert all(f < m for f, m in zip(grid["fft"], grid["matrix"]))


def test_growth_exponent_recovers_a_power_law():
    Ls = [2, 3, 5, 8]
    assert growth_exponent(Ls, [7 * L**3 for L in Ls]) == pytest.approx(3.0)
