"""``tpcore.torch.from_e3nn``: an e3nn module becomes the tpcore module computing the same, weights kept.

e3nn is the oracle: outputs and gradients (inputs and weights) in float64, for e3nn's classes and
normalizations, including per-block variances that e3nn folds into each instruction.
"""

import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import tpcore.torch as tt  # noqa: E402

TOL = 1e-12


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


def _conv(**kw):
    irreps_in1, irreps_sh = o3.Irreps("4x0e + 4x1o + 2x2e"), o3.Irreps("0e + 1o + 2e + 3o")
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in1):
        for j, (_, ir_edge) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_edge:
                if ir_out.l <= 2:
                    instructions.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    return o3.TensorProduct(irreps_in1, irreps_sh, o3.Irreps(out), instructions, shared_weights=False, internal_weights=False, **kw)


MODULES = {
    "mace-conv-uvu-per-edge": lambda: _conv(),
    "conv-norm-path": lambda: _conv(irrep_normalization="norm", path_normalization="path"),
    "fully-connected": lambda: o3.FullyConnectedTensorProduct("3x0e + 2x1o + 1x2e", "2x0e + 1x1o", "2x0e + 3x1o + 1x1e + 2x2e"),
    "fc-variances": lambda: o3.FullyConnectedTensorProduct(
        "2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o", in1_var=[2.0, 0.5], in2_var=[1.5, 3.0], out_var=[0.25, 4.0]
    ),
    "full": lambda: o3.FullTensorProduct("2x0e + 1x1o + 1x2e", "1x0e + 2x1o"),
    "elementwise": lambda: o3.ElementwiseTensorProduct("2x0e + 3x1o", "1x0e + 4x1e"),
    "path-weights": lambda: o3.TensorProduct(
        "2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o",
        [(0, 0, 0, "uvu", True, 0.3), (1, 1, 0, "uvu", True, 2.0), (1, 0, 1, "uuu", False, 0.7), (0, 1, 1, "uvw", True)],
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(MODULES))
def test_from_e3nn_is_exact(name):
    theirs = MODULES[name]()
    ours = tt.from_e3nn(theirs)
    assert ours.weight_numel == theirs.weight_numel
    assert (ours.shared_weights, ours.internal_weights) == (theirs.shared_weights, theirs.internal_weights)
    n = 5
    x = torch.randn(n, theirs.irreps_in1.dim, requires_grad=True)
    y = torch.randn(n, theirs.irreps_in2.dim, requires_grad=True)
    external = theirs.weight_numel > 0 and not theirs.internal_weights
    w = torch.randn(n if not theirs.shared_weights else 1, theirs.weight_numel).squeeze(0) if external else None
    if w is not None:
        w.requires_grad_()
    results = []
    for module in (theirs, ours):
        out = module(x, y) if w is None else module(x, y, w)
        g = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
        wrt = [x, y] + ([w] if w is not None else [p for p in module.parameters()])
        results.append([out] + list(torch.autograd.grad((g * out).sum(), wrt)))
    for a, b in zip(*results):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= TOL * max(1.0, b.abs().max().item())
    assert torch.equal(ours.output_mask, theirs.output_mask)


def test_from_e3nn_keeps_dtype_and_copies_weights():
    theirs = o3.FullyConnectedTensorProduct("2x0e", "1x0e", "1x0e").float()
    ours = tt.from_e3nn(theirs)
    assert ours.weight.dtype == torch.float32
    with torch.no_grad():
        ours.weight.add_(1.0)
    assert not torch.equal(ours.weight, theirs.weight)


def test_from_e3nn_refuses_what_it_cannot_convert():
    with pytest.raises(TypeError, match="needs an e3nn o3.TensorProduct"):
        tt.from_e3nn(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="TensorSquare"):
        tt.from_e3nn(o3.TensorSquare("2x0e + 1x1o"))
