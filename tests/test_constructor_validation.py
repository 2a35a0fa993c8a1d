"""Constructors refuse what they would misread, with errors naming the argument, the expected and the actual value."""

import numpy as np
import pytest

from tpcore import Irrep, Irreps, TensorProductSpec, s2_irreps


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"mul": -3}, ValueError, ["mul", "non-negative integer", "-3"]),
        ({"mul": 2.5}, TypeError, ["mul", "non-negative integer", "2.5"]),
        ({"mul": 2.0}, TypeError, ["mul", "2.0"]),
        ({"mul": True}, TypeError, ["mul", "bool"]),
        ({"mul": "2"}, TypeError, ["mul", "'2'"]),
        ({"lmax": 1.5}, TypeError, ["lmax", "1.5"]),
        ({"p": True}, ValueError, ["p must be 1 or -1"]),
    ],
)
def test_s2_irreps_checks_its_arguments(kwargs, error, words):
    args = {"lmax": 2} | kwargs
    with pytest.raises(error) as err:
        s2_irreps(**args)
    for word in words:
        assert word in str(err.value)


def test_s2_irreps_accepts_numpy_integers_and_zero_channels():
    assert s2_irreps(np.int64(1), mul=np.int32(2)) == Irreps("2x0e + 2x1o")
    assert s2_irreps(1, mul=0).dim == 0


@pytest.mark.parametrize(
    "value, words",
    [
        ({"0e": 8}, ["dict", "values would be ignored", "[(8, '0e')]"]),
        (5, ["int 5", "a string such as"]),
        (2.5, ["float 2.5"]),
        ({"0e", "1o"}, ["set"]),
        (b"1x0e", ["bytes"]),
        ([(2.5, "0e")], ["multiplicity", "2.5"]),
        ([(True, "0e")], ["multiplicity", "True"]),
    ],
)
def test_irreps_refuses_values_it_would_misread(value, words):
    with pytest.raises(TypeError) as err:
        Irreps(value)
    for word in words:
        assert word in str(err.value)


def test_spec_constructors_name_the_irreps_argument():
    with pytest.raises(TypeError, match=r"irreps_in2: irreps must be .*got a dict"):
        TensorProductSpec.cgtp("1x0e", {"0e": 8}, "1x0e")
    with pytest.raises(TypeError, match=r"irreps_out: .*got int 5"):
        TensorProductSpec.s2grid(s2_irreps(1), s2_irreps(1), 5)


@pytest.mark.parametrize("text", ["1x\u0663e", "\u0661x1o", "\uff11x0e", "1x0e + 2x\u00b9o"])
def test_only_ascii_digits_parse(text):
    with pytest.raises(ValueError, match="cannot parse"):
        Irreps(text)



@pytest.mark.parametrize("text", ["\u0663e", "\uff11o", "\u00b2e"])
def test_irrep_parses_ascii_digits_only(text):
    with pytest.raises(ValueError, match="cannot parse irrep"):
        Irrep(text)


@pytest.mark.parametrize(
    "instruction, error, words",
    [
        ((0.7, 0, 0), TypeError, ["instructions[0]", "i_in1", "integer", "0.7"]),
        ((0, 0, True), TypeError, ["i_out", "bool True"]),
        ((0, "0", 0), TypeError, ["i_in2", "'0'"]),
        ((0, 0, 0, "uvw", "no"), TypeError, ["instructions[0]", "has_weight", "True or False", "'no'"]),
        ((0, 0, 0, "uvw", 1), TypeError, ["has_weight", "int 1"]),
        ((0, 0, 0, "uvw", True, -1), ValueError, ["instructions[0]", "path_weight", ">= 0", "-1.0"]),
        ((0, 0, 0, "uvw", True, float("nan")), ValueError, ["path_weight", "finite", "nan"]),
        ((0, 0, 0, "uvw", True, float("inf")), ValueError, ["path_weight", "inf"]),
        ((0, 0, 0, "uvw", True, "2"), TypeError, ["path_weight", "real number", "'2'"]),
    ],
)
def test_instruction_fields_are_checked_not_coerced(instruction, error, words):
    with pytest.raises(error) as err:
        TensorProductSpec.cgtp("1x0e", "1x0e", "1x0e", instructions=[instruction])
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "instructions, words",
    [
        ([5], ["instructions[0] must be a tuple (i_in1, i_in2, i_out[, mode[, has_weight[, path_weight]]])", "int 5"]),
        ([(0, 0, 0), None], ["instructions[1] must be a tuple", "NoneType None"]),
        (["000"], ["instructions[0] must be a tuple", "str '000'"]),
        (5, ["instructions must be None or a sequence of tuples (i_in1, i_in2, i_out", "int 5"]),
    ],
)
def test_an_instruction_that_is_not_a_tuple_is_named(instructions, words):
    """Issue 28 item 11: ``instructions=[5]`` raised "'int' object is not iterable", naming no argument."""
    with pytest.raises(TypeError) as err:
        TensorProductSpec.cgtp("0e", "0e", "0e", instructions=instructions)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: TensorProductSpec.cgtp("99999999999999999999x0e", "0e", "0e"),
         ["irreps_in1 = 99999999999999999999x0e has dimension 99999999999999999999", "2**31 - 1 = 2147483647"]),
        (lambda: TensorProductSpec.cgtp("0e", "0e", "2147483648x0e", mode="uvw"),
         ["irreps_out = 2147483648x0e has dimension 2147483648"]),
        (lambda: TensorProductSpec.cgtp("2000x0e", "2000x0e", "1000x0e"),  # 4e9 weights, dimensions of 2000
         ["this cgtp spec has weight_numel 4000000000", "2**31 - 1"]),
        (lambda: TensorProductSpec.gtp(s2_irreps(1, mul=2**31), s2_irreps(1, mul=2**31), s2_irreps(1, mul=2**31)),
         ["irreps_in1 = 2147483648x0e+2147483648x1o has dimension 8589934592"]),
    ],
)
def test_specs_too_large_for_any_array_are_refused_at_construction(make, words):
    """Issue 28 item 11: a multiplicity of 1e20 was accepted (weight_numel 1e20) and failed later inside numpy."""
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_a_spec_just_below_the_size_bound_is_accepted():
    from tpcore.paths import MAX_SIZE

    assert MAX_SIZE == 2**31 - 1
    spec = TensorProductSpec.cgtp("46340x0e", "1x0e", "46340x0e", mode="uvw")  # 46340**2 weights, just below
    assert spec.weight_numel == 46340**2 <= MAX_SIZE


def test_instruction_fields_accept_numpy_scalars_and_zero_path_weight():
    spec = TensorProductSpec.cgtp("1x0e", "1x0e", "1x0e", instructions=[(np.int64(0), 0, 0, "uvw", np.bool_(True), 0)])
    assert spec.paths[0].normalization == 0.0 and spec.weight_numel == 1


@pytest.mark.parametrize(
    "mask, error, words",
    [
        ("10100", TypeError, ["mask", "sequence of 5 booleans", "str '10100'"]),
        (["1", "0", "1", "0", "0"], TypeError, ["mask[0]", "bool", "'1'"]),
        ([1, 0, 2, 0, 0], TypeError, ["mask[2]", "2"]),
        ([True, False, None, True, True], TypeError, ["mask[2]", "None"]),
        (7, TypeError, ["mask", "int 7"]),
        ([True, False], ValueError, ["mask has 2 entries", "5 paths"]),
    ],
)
def test_with_paths_refuses_masks_it_would_misread(mask, error, words):
    spec = TensorProductSpec.cgtp("1x0e + 1x1o", "1x1o", "1x0e + 1x1e + 1x1o + 1x2e + 1x2e")
    assert len(spec.paths) == 5
    with pytest.raises(error) as err:
        spec.with_paths(mask)
    for word in words:
        assert word in str(err.value)


def test_with_paths_accepts_bools_numpy_bools_and_zero_one():
    spec = TensorProductSpec.cgtp("1x0e + 1x1o", "1x1o", "1x0e + 1x1e + 1x1o")
    n = len(spec.paths)
    expected = spec.with_paths([k % 2 == 0 for k in range(n)])
    assert spec.with_paths(np.arange(n) % 2 == 0) == expected
    assert spec.with_paths([1 - k % 2 for k in range(n)]) == expected


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_weighted_must_be_a_bool(variant):
    with pytest.raises(TypeError, match="weighted must be True or False, got str 'no'"):
        getattr(TensorProductSpec, variant)(s2_irreps(1), s2_irreps(1), s2_irreps(2), weighted="no")
