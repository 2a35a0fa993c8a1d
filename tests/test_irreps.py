import pytest

from tpcore import Irrep, Irreps, s2_irreps
from tpcore.irreps import e3nn_jax_sort_key


def test_parse_and_dim():
    irreps = Irreps("8x0e + 4x1o + 2e")
    assert [(mul, str(ir)) for mul, ir in irreps] == [(8, "0e"), (4, "1o"), (1, "2e")]
    assert irreps.dim == 8 + 12 + 5
    assert irreps.num_irreps == 13
    assert irreps.lmax == 2
    assert str(irreps) == "8x0e+4x1o+1x2e"
    assert [(s.start, s.stop) for s in irreps.slices()] == [(0, 8), (8, 20), (20, 25)]


def test_y_parity_and_tuple_forms():
    assert Irrep("3y") == Irrep(3, -1)
    assert Irrep("2y") == Irrep(2, 1)
    assert Irreps([(2, (1, -1)), "0e"]) == Irreps("2x1o + 0e")


@pytest.mark.parametrize(
    "text, token", [("8x0e + 4x1q", "4x1q"), ("3x", "3x"), ("x1o", "x1o"), ("1o + + 2e", ""), ("-1x0e", "-1x0e")]
)
def test_bad_strings_name_the_token(text, token):
    with pytest.raises(ValueError) as err:
        Irreps(text)
    assert repr(token) in str(err.value)


def test_bad_irrep_values():
    with pytest.raises(ValueError, match="parity"):
        Irrep(1, 0)
    with pytest.raises(ValueError, match="degree"):
        Irrep(-1, 1)


def test_simplify_and_sort_follow_e3nn():
    irreps = Irreps("1x1e + 2x0e + 3x0e + 0x2e + 1x0o + 1x1o")
    assert str(irreps.simplify()) == "1x1e+5x0e+1x0o+1x1o"
    result = irreps.sort()
    assert str(result.irreps) == "1x0o+2x0e+3x0e+1x1o+1x1e+0x2e"
    assert [irreps[i] for i in result.inv] == list(result.irreps)
    assert [result.irreps[result.p[i]] for i in range(len(irreps))] == list(irreps)


def test_sort_equals_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    text = "1x1e + 2x0e + 3x2o + 1x0o + 1x1o + 4x0e"
    ours, theirs = Irreps(text).sort(), o3.Irreps(text).sort()
    assert str(ours.irreps) == str(theirs.irreps)
    assert tuple(ours.p) == tuple(theirs.p) and tuple(ours.inv) == tuple(theirs.inv)


def test_e3nn_jax_order():
    e3nn_jax = pytest.importorskip("e3nn_jax")
    irs = ["1e", "0o", "1o", "0e", "2o", "2e"]
    ours = sorted(irs, key=e3nn_jax_sort_key)
    theirs = [str(ir) for _, ir in e3nn_jax.Irreps("+".join(irs)).sort().irreps]
    assert ours == theirs


def test_s2_irreps():
    assert str(s2_irreps(3)) == "1x0e+1x1o+1x2e+1x3o"
    assert str(s2_irreps(2, p=-1, mul=4)) == "4x0o+4x1e+4x2o"
    with pytest.raises(ValueError, match="lmax"):
        s2_irreps(-1)


def test_irrep_product():
    assert [str(ir) for ir in Irrep("1o") * Irrep("1o")] == ["0e", "1e", "2e"]
    assert [str(ir) for ir in Irrep("2e") * Irrep("1o")] == ["1o", "2o", "3o"]


@pytest.mark.parametrize("mul, error, shown", [
    (-3, ValueError, "-3"),
    ("a", TypeError, "str 'a'"),
    (2.5, TypeError, "float 2.5"),
    (True, TypeError, "bool True"),
    (False, TypeError, "bool False"),
])
def test_mulir_refuses_multiplicities_that_are_not_non_negative_integers(mul, error, shown):
    """Issue 28 item 5: ``MulIr(-3, ...)`` gave an Irreps of dimension -3 (a weighted gtp had weight_numel -18)."""
    from tpcore.irreps import MulIr

    with pytest.raises(error, match="multiplicity must be a non-negative integer") as err:
        Irreps([MulIr(mul, Irrep("0e"))])
    assert shown in str(err.value)
    with pytest.raises(error, match=f"multiplicity .* in \\({mul!r}, '0e'\\)"):
        Irreps([(mul, "0e")])


def test_mulir_takes_numpy_integers_as_python_ints():
    import numpy as np

    from tpcore.irreps import MulIr

    block = MulIr(np.int64(3), "1o")
    assert block == (3, Irrep(1, -1)) and type(block.mul) is int and block.dim == 9
    assert Irreps([block, MulIr(np.int32(0), Irrep("0e"))]).dim == 9
