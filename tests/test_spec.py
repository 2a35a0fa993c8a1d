import numpy as np
import pytest

from tpcore import TensorProductSpec, s2_irreps


def test_default_paths_follow_e3nn_order_and_rules():
    spec = TensorProductSpec.cgtp("1x0e + 1x1o", "1x1o", "1x0e + 1x1e + 1x1o + 1x2e")
    got = [(str(p.ir_in1), str(p.ir_in2), str(p.ir_out)) for p in spec.paths]
    assert got == [("0e", "1o", "1o"), ("1o", "1o", "0e"), ("1o", "1o", "1e"), ("1o", "1o", "2e")]
    assert [p.is_antisymmetric for p in spec.paths] == [False, False, True, False]


def test_weight_slices_are_contiguous_in_path_order():
    spec = TensorProductSpec.cgtp("2x0e + 3x1o", "4x0e + 1x1o", "5x0e + 6x1o")
    start = 0
    for p in spec.paths:
        assert p.weight_slice == slice(start, start + int(np.prod(p.weight_shape)))
        assert p.weight_shape == (p.mul_in1, p.mul_in2, p.mul_out)
        start = p.weight_slice.stop
    assert spec.weight_numel == start


def test_mode_multiplicity_rules():
    spec = TensorProductSpec.cgtp("2x0e + 3x1o", "1x0e + 1x1o", "2x0e + 3x1o + 2x1o", mode="uvu")
    assert all(p.mul_out == p.mul_in1 for p in spec.paths)
    with pytest.raises(ValueError, match="mul_out == mul_in1"):
        TensorProductSpec.cgtp("2x0e", "1x0e", "3x0e", mode="uvu", instructions=[(0, 0, 0)])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode must be one of"):
        TensorProductSpec.cgtp("0e", "0e", "0e", mode="xyz")
    with pytest.raises(ValueError, match="irreps_in2"):
        TensorProductSpec.cgtp("0e", "1q", "0e")
    with pytest.raises(ValueError, match=r"instructions\[0\].*not allowed"):
        TensorProductSpec.cgtp("1o", "1o", "1o", instructions=[(0, 0, 0)])
    with pytest.raises(ValueError, match=r"i_out=3 is out of range"):
        TensorProductSpec.cgtp("1o", "1o", "0e", instructions=[(0, 0, 3)])
    with pytest.raises(ValueError, match="path_normalization"):
        TensorProductSpec.cgtp("0e", "0e", "0e", path_normalization="sum")


def test_with_paths_keeps_normalization_and_renumbers():
    spec = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o + 2x1e")
    mask = [k % 2 == 0 for k in range(len(spec.paths))]
    small = spec.with_paths(mask)
    kept = [p for p, m in zip(spec.paths, mask) if m]
    assert [p.normalization for p in small.paths] == [p.normalization for p in kept]
    assert small.weight_numel == sum(p.weight_numel for p in kept)
    assert small.paths[0].weight_slice.start == 0
    with pytest.raises(ValueError, match="mask has 2 entries"):
        spec.with_paths([True, False])
    with pytest.raises(ValueError, match="needs a cgtp spec"):
        TensorProductSpec.s2grid(s2_irreps(1), s2_irreps(1), s2_irreps(2)).with_paths([])


def test_spec_is_hashable_and_equal_by_value():
    a = TensorProductSpec.cgtp("2x0e + 1x1o", "1x1o", "1x1o + 1x0e")
    b = TensorProductSpec.cgtp("2x0e+1x1o", "1x1o", "1x1o+1x0e")
    assert a == b and hash(a) == hash(b)


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_channelwise_validation(variant):
    make = getattr(TensorProductSpec, variant)
    spec = make("3x0e + 3x1o + 3x2e", "3x0e + 3x1o", "3x0e + 3x1o + 3x2e + 3x3o")
    assert spec.channels == 3 and spec.weight_numel == 0
    assert make("3x0e + 3x1o", "3x0e + 3x1o", "3x0e + 3x2e", weighted=True).weight_numel == 3 * (2 + 2 + 2)
    with pytest.raises(ValueError, match="same multiplicity"):
        make("3x0e + 3x1o", "2x0e + 2x1o", "3x0e")
    with pytest.raises(ValueError, match="mixes parities"):
        make("1x0e + 1x1e", "1x0e", "1x0e")
    with pytest.raises(ValueError, match="no component above l=2"):
        make("1x0e + 1x1o", "1x0e + 1x1o", s2_irreps(3))
    with pytest.raises(ValueError, match="parity"):
        make("1x0e + 1x1o", "1x0o + 1x1e", "1x0e + 1x1o")


def test_gaunt_variants_have_only_even_paths():
    spec = TensorProductSpec.gtp(s2_irreps(2), s2_irreps(2), s2_irreps(4))
    assert all(not p.is_antisymmetric for p in spec.paths)
    mtp = TensorProductSpec.mtp(s2_irreps(2), s2_irreps(2), s2_irreps(4))
    assert any(p.is_antisymmetric for p in mtp.paths)
    assert not mtp.o3_equivariant
