"""The tetris chirality example: CGTP features separate mirror images, Gaunt TP features cannot."""

import sys
from pathlib import Path

import numpy as np
import pytest

from tpcore import TensorProductSpec, reference, s2_irreps, so3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from tetris_chirality import (  # noqa: E402 - examples/ is not a package
    MIRROR_PAIR,
    SHAPES,
    even_paths_only,
    feature_model,
    mirror_gap,
    pseudoscalar_mask,
)

MIRROR = np.diag([1.0, -1.0, 1.0])
GAUNT = ["gtp", "s2grid"]


def _features(model):
    return np.array([model.features(positions) for positions in SHAPES.values()])


def test_the_chiral_pair_are_mirror_images():
    a, b = (SHAPES[name] for name in MIRROR_PAIR)
    np.testing.assert_array_equal(a @ MIRROR, b)


@pytest.mark.parametrize("variant", ["cgtp", *GAUNT])
def test_features_are_invariant_under_rotations(variant):
    model = feature_model(variant)
    R = so3.rand_matrix(rng=0)
    for positions in SHAPES.values():
        np.testing.assert_allclose(model.features(positions @ R.T), model.features(positions), atol=1e-10)


def test_cgtp_pseudoscalars_change_sign_between_mirror_images_and_separate_them():
    model = feature_model("cgtp")
    mask = pseudoscalar_mask(model)
    assert mask.any()
    a, b = (model.features(SHAPES[name]) for name in MIRROR_PAIR)
    np.testing.assert_allclose(a[~mask], b[~mask], atol=1e-10)  # true scalars agree
    np.testing.assert_allclose(a[mask], -b[mask], atol=1e-10)  # pseudoscalars flip
    assert np.abs(a[mask]).max() > 1.0  # the triple products of the bond chain, nonzero
    features = _features(model)
    distances = np.abs(features[:, None] - features[None]).max(axis=-1)
    assert distances[~np.eye(len(SHAPES), dtype=bool)].min() > 1.0  # all eight shapes apart


@pytest.mark.parametrize("variant", GAUNT)
def test_gaunt_features_separate_every_shape_except_the_mirror_pair(variant):
    model = feature_model(variant)
    features = _features(model)
    scale = np.abs(features).max()
    assert mirror_gap(model) <= 1e-10 * scale
    distances = np.abs(features[:, None] - features[None]).max(axis=-1)
    names = list(SHAPES)
    pair = {names.index(n) for n in MIRROR_PAIR}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if {i, j} != pair:
                assert distances[i, j] > 1e-3 * scale, (names[i], names[j])


@pytest.mark.parametrize("variant", GAUNT)
def test_gaunt_products_commute_with_reflections_of_scalar_fields(variant):
    """The proof's step: Gaunt(D(g) a, D(g) b) = D(g) Gaunt(a, b) for every g in O(3), reflections included."""
    spec = getattr(TensorProductSpec, variant)(s2_irreps(2), s2_irreps(2), s2_irreps(4))
    a, b = np.random.default_rng(0).standard_normal((2, 3, spec.irreps_in1.dim))
    D_in, D_out = spec.irreps_in1.D_from_matrix(MIRROR), spec.irreps_out.D_from_matrix(MIRROR)
    np.testing.assert_allclose(reference(spec, a @ D_in.T, b @ D_in.T), reference(spec, a, b) @ D_out.T, atol=1e-10)


@pytest.mark.parametrize("variant", GAUNT)
def test_gaunt_products_of_scalar_fields_have_no_pseudoscalar_output(variant):
    with pytest.raises(ValueError, match="parity"):
        getattr(TensorProductSpec, variant)(s2_irreps(2), s2_irreps(2), "0o")


def test_cgtp_without_its_antisymmetric_paths_is_as_blind_as_the_gaunt_tp():
    model = even_paths_only(feature_model("cgtp"))
    assert not any(p.is_antisymmetric for p in model.first.paths + model.second.paths)
    features = _features(model)
    assert mirror_gap(model) <= 1e-12 * np.abs(features).max()
    assert np.abs(features[:, pseudoscalar_mask(model)]).max() <= 1e-12
