"""cuEquivariance's own e3nn-compatible operations (its CG basis, normalization and weight order, in
the ``mul_ir`` layout) compute tpcore's specs: an independent check of the conventions that the
plugin's translation takes from tpcore's descriptor instead.

- ``cuet.FullyConnectedTensorProduct`` is the cgtp ``uvw`` spec (e3nn's FullyConnectedTensorProduct),
  weights in the same order;
- ``cuet.ChannelWiseTensorProduct`` (second input one channel per block, as in MACE) is a cgtp
  ``uvu`` spec with one output block per path, the blocks sorted by irrep (cuEquivariance's output
  order, which its weights follow), not e3nn's instruction order.
"""

import logging

import numpy as np
import pytest
import torch

from tpcore.reference import reference
from tpcore.spec import TensorProductSpec

cue = pytest.importorskip("cuequivariance")
cuet = pytest.importorskip("cuequivariance_torch")


@pytest.fixture(autouse=True)
def _no_opt_einsum_fx_warning():
    logging.disable(logging.WARNING)  # the naive method's note that an optional optimizer is missing
    yield
    logging.disable(logging.NOTSET)


def _compare(tp, spec):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((3, spec.irreps_in1.dim)), rng.standard_normal((3, spec.irreps_in2.dim))
    w = rng.standard_normal(spec.weight_numel)
    assert tp.weight_numel == spec.weight_numel
    got = tp(torch.from_numpy(x1), torch.from_numpy(x2), torch.from_numpy(w)[None]).detach().numpy()
    expected = reference(spec, x1, x2, w)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("a, b, c", [("2x0e + 1x1o + 1x2e", "1x0e + 2x1o", "1x0e + 2x1o + 1x1e + 1x2e"),
                                     ("1x0o + 2x1e + 1x2o", "2x0e + 1x1o + 1x2e", "1x0o + 1x0e + 2x1o + 1x1e + 1x2o")])
def test_fully_connected_is_the_uvw_spec(a, b, c):
    tp = cuet.FullyConnectedTensorProduct(
        cue.Irreps("O3", a), cue.Irreps("O3", b), cue.Irreps("O3", c),
        layout=cue.mul_ir, shared_weights=True, internal_weights=False, method="naive", dtype=torch.float64)  # fmt: skip
    _compare(tp, TensorProductSpec.cgtp(a, b, c))


def test_channelwise_is_the_uvu_spec_in_sorted_output_order():
    a, b = "2x0e + 2x1o + 2x2e", "1x0e + 1x1o + 1x2e"
    A, B = cue.Irreps("O3", a), cue.Irreps("O3", b)
    tp = cuet.ChannelWiseTensorProduct(A, B, layout=cue.mul_ir, shared_weights=True, internal_weights=False,
                                       method="naive", dtype=torch.float64)  # fmt: skip
    paths = [(i1, i2, ir3) for i1, (_, ir1) in enumerate(A) for i2, (_, ir2) in enumerate(B) for ir3 in ir1 * ir2]
    order = sorted(range(len(paths)), key=lambda n: paths[n][2])  # stable, as cue.Irreps.sort
    spec = TensorProductSpec.cgtp(
        a, b, " + ".join(f"{A[paths[n][0]].mul}x{paths[n][2]}" for n in order),
        instructions=[(paths[n][0], paths[n][1], k, "uvu", True) for k, n in enumerate(order)])  # fmt: skip
    assert str(tp.irreps_out).replace(" ", "") == str(spec.irreps_out).replace(" ", "")
    _compare(tp, spec)
