"""tpcore.contraction: a pairwise einsum laid out once as a matrix product, checked against numpy's einsum."""

import itertools

import numpy as np
import pytest

from tpcore.contraction import PRODUCTS, apply_form, pairwise_form, transposed_pays
from tpcore.plan import STRATEGIES, lower
from tpcore.program import resolve
from tpcore.report.workloads import convolution_spec
from tpcore.irreps import s2_irreps
from tpcore import TensorProductSpec

# the plans' own pairwise equations and a few shapes of every kind of label
EQUATIONS = [
    "zui,ik->zuk", "zui,zvj->zuvij", "zui,zvik->zuvk", "zujk,zvj->zuvk", "puvw,zuvpk->zwk", "zuvk,uvwk->zwk",
    "zuk,uk->zuk", "zui,uvw->zivw", "uvw,zuvk->zwk", "ij,zj->zi", "zab,bc->zca", "xi,zi->zx", "zabc,c->zab",
    "zab,b->za", "zab,cb->zac", "zai,ij->zja", "zab,zc->zabc",
]  # fmt: skip


def arrays(equation: str, rng, batch: int, sizes: dict):
    subs = equation.split("->")[0].split(",")
    shapes = [tuple(None if c == "z" else sizes[c] for c in sub) for sub in subs]
    values = [rng.normal(size=[batch if c == "z" else sizes[c] for c in sub]) for sub in subs]
    return shapes, values


@pytest.mark.parametrize("equation", EQUATIONS)
@pytest.mark.parametrize("batch", [0, 1, 5])
def test_the_form_computes_einsum(equation, batch):
    rng = np.random.default_rng(sum(map(ord, equation)) + batch)
    labels = sorted(set(equation) - set(",->z"))
    for sizes in ({c: int(rng.integers(2, 5)) for c in labels}, {c: 1 for c in labels}, {c: int(rng.integers(1, 3)) for c in labels}):
        shapes, values = arrays(equation, rng, batch, sizes)
        form = pairwise_form(equation, shapes)
        expected = np.einsum(equation, *values)
        if form is None:  # a batched matrix product: left to einsum
            shared = set(equation.split(",")[0]) & set(equation.split(",")[1].split("->")[0]) & set(equation.split("->")[1])
            contracted = np.prod([sizes[c] for c in labels if c in equation.split(",")[0] and c in equation.split(",")[1].split("->")[0] and c not in equation.split("->")[1]])
            assert shared and contracted > 1, equation
            continue
        assert form.product in PRODUCTS
        np.testing.assert_allclose(apply_form(form, *values, np, batch), expected, rtol=1e-12, atol=1e-12)


def test_what_stays_an_einsum():
    assert pairwise_form("zui->zu", [(None, 2, 3)]) is None  # one operand
    assert pairwise_form("zii,zi->zi", [(None, 2, 2), (None, 2)]) is None  # a repeated label
    assert pairwise_form("zu,zv->zw", [(None, 2), (None, 3)]) is None  # an output label from nowhere
    assert pairwise_form("zu,zu->z", [(None, 2), (None, 1)]) is None  # broadcasting sizes
    assert pairwise_form("zui,zuj->zij", [(None, 4, 3), (None, 4, 2)]) is None  # batched over z: einsum's bmm


def test_steps_that_change_nothing_are_left_out():
    form = pairwise_form("zui,ik->zuk", [(None, 8, 3), (3, 5)])
    assert form.product == "matmul" and (form.a.perm, form.a.shape, form.b.perm, form.b.shape, form.shape, form.perm) == (None,) * 6
    outer = pairwise_form("zi,zj->zij", [(None, 3), (None, 4)])
    assert outer.product == "multiply" and outer.perm is None


def test_a_permutation_of_axes_of_size_one_is_a_reshape():
    rng = np.random.default_rng(5)
    for equation, shapes in [("zai,ij->zja", [(None, 1, 3), (3, 4)]), ("zab,bc->zca", [(None, 1, 2), (2, 3)]),
                             ("zab,zc->zcab", [(None, 2, 3), (None, 1)])]:
        form = pairwise_form(equation, shapes)
        assert form is not None and form.perm is None and form.a.perm is None and form.b.perm is None, (equation, form)
        for batch in (0, 1, 4):
            values = [rng.normal(size=[batch if n is None else n for n in shape]) for shape in shapes]
            np.testing.assert_allclose(apply_form(form, *values, np, batch), np.einsum(equation, *values), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES["cgtp"] if s not in ("auto", "fused")])  # fused has no einsum
def test_every_pairwise_statement_of_the_real_model_plans(strategy):
    """Every einsum statement of the plans of MACE's convolution, the fully connected layers and
    uuu, with its own shapes, computed by its form equals numpy's einsum."""
    specs = [
        convolution_spec(4, 2),
        TensorProductSpec.cgtp(s2_irreps(2, mul=3), s2_irreps(2, mul=2), s2_irreps(2, mul=3)),
        TensorProductSpec.cgtp(s2_irreps(2, mul=3), s2_irreps(2), s2_irreps(2, mul=3)),
        TensorProductSpec.cgtp(s2_irreps(2, mul=3), s2_irreps(2, mul=3), s2_irreps(2, mul=3), mode="uuu"),
    ]
    rng = np.random.default_rng(7)
    checked = 0
    for spec, per_sample in itertools.product(specs, (False, True)):
        program = resolve(lower(spec, strategy), per_sample)
        for s in program.statements:
            if s.kind != "einsum":
                continue
            shapes = [program.shapes[a] for a in s.args]
            form = pairwise_form(s.p.equation, shapes)
            if form is None:
                continue
            values = [rng.normal(size=[3 if n is None else n for n in shape]) for shape in shapes]
            np.testing.assert_allclose(apply_form(form, *values, np, 3), np.einsum(s.p.equation, *values), rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked > 0


def test_a_narrow_batched_product_is_computed_transposed():
    """MACE's coupling at 128 channels, ``(128, 3) @ (3, 4)`` per edge, runs as ``(4, 3) @ (3, 128)``."""
    shapes = [(None, 128, 3), (None, 1, 3, 4)]
    form = pairwise_form("zui,zvik->zuvk", shapes)
    assert form.product == "matmul_transposed"
    rng = np.random.default_rng(3)
    for batch in (0, 1, 6):
        a, b = rng.normal(size=(batch, 128, 3)), rng.normal(size=(batch, 1, 3, 4))
        np.testing.assert_allclose(apply_form(form, a, b, np, batch), np.einsum("zui,zvik->zuvk", a, b), rtol=1e-12, atol=1e-12)
    assert pairwise_form("zui,zvik->zuvk", [(None, 8, 3), (None, 1, 3, 4)]) is None  # 8 rows: alike, einsum's
    assert pairwise_form("zui,zvik->zuvk", [(None, 128, 3), (None, 4, 3, 4)]) is None  # 16 columns: alike
    assert transposed_pays(128, 5, 1) and not transposed_pays(32, 5, 1) and not transposed_pays(128, 3, 16)
