"""The Gaunt (S2-grid / GTP) MACE: its convolution's math, irreps and O(3) equivariance in float64."""

import copy
import io
import math

import numpy as np
import pytest

pytest.importorskip("mace")

import torch  # noqa: E402
from e3nn import o3  # noqa: E402
from mace_helpers import CONFIG, assert_close, batch_of, frames, model, outputs  # noqa: E402

from tpcore_mace.gaunt import GAUNT_VARIANTS, gaunt_output_irreps  # noqa: E402


@pytest.fixture(scope="module")
def structures():
    return frames()


def gaunt_oracle(x, y, w, irreps_node, irreps_sh, irreps_out):
    """``(1/4pi) * integral of h (R . Y) Y_lm`` by Gauss-Legendre x uniform quadrature with e3nn's SH."""
    C = irreps_node[0].mul
    ones = torch.ones(x.shape[0], C, max(len(irreps_node), len(irreps_out)))
    w1, w2, wo = ones, w.reshape(-1, C, len(irreps_sh)), ones
    cos_beta, gl = np.polynomial.legendre.leggauss(12)
    alpha = 2 * math.pi * np.arange(24) / 24
    sb = np.sqrt(1 - cos_beta**2)
    points = np.stack([np.outer(sb, np.cos(alpha)), np.outer(sb, np.sin(alpha)), np.outer(cos_beta, np.ones_like(alpha))], -1)
    quad = torch.tensor(np.outer(gl, np.full(alpha.size, 2 * math.pi / alpha.size)).reshape(-1) / (4 * math.pi))
    r = torch.tensor(points.reshape(-1, 3))
    # e3nn's x, y, z -> its SH argument order (y, z, x) is handled by o3.spherical_harmonics itself
    Y = {l: o3.spherical_harmonics(l, r, normalize=True, normalization="component") for l in range(8)}

    def on_grid(values, irreps, weights):  # values (Z, C or 1 blocks) -> (Z, C, G)
        f = 0
        for k, ((mul, ir), s) in enumerate(zip(irreps, irreps.slices())):
            block = values[:, s].reshape(values.shape[0], mul, ir.dim)
            f = f + weights[:, :, k, None] * torch.einsum("zcm,gm->zcg", block, Y[ir.l])
        return f

    product = on_grid(x, irreps_node, w1) * on_grid(y, irreps_sh, w2)
    blocks = [wo[:, :, k, None] * torch.einsum("zcg,gm,g->zcm", product, Y[ir.l], quad) for k, (_, ir) in enumerate(irreps_out)]
    return torch.cat([b.reshape(b.shape[0], -1) for b in blocks], dim=-1)


@pytest.mark.parametrize("variant", GAUNT_VARIANTS)
def test_gaunt_convolution_is_the_weighted_gaunt_product(float64, variant):
    conv = model(variant).interactions[1].conv_tp
    node, sh, out = conv.irreps_in1, conv.irreps_in2, conv.irreps_out
    x, y, w = torch.randn(5, node.dim), torch.randn(5, sh.dim), torch.randn(5, conv.weight_numel)
    assert_close(conv(x, y, w), gaunt_oracle(x, y, w, node, sh, out) * conv.degree_scale)


def test_gaunt_convolution_has_unit_variance_per_degree(float64):
    """Like e3nn's normalized CG paths: unit-variance features, edge harmonics and weights in, unit variance out."""
    conv = model("s2grid").interactions[1].conv_tp
    n = 4000
    x = torch.randn(n, conv.irreps_in1.dim)
    y = o3.spherical_harmonics(conv.irreps_in2, torch.randn(n, 3), normalize=True, normalization="component")
    out = conv(x, y, torch.randn(n, conv.weight_numel))
    for (_, ir), s in zip(conv.irreps_out, conv.irreps_out.slices()):
        assert abs(float(out[:, s].std()) - 1.0) < 0.1, f"{ir}: std {float(out[:, s].std()):.3f}"


def test_gaunt_block_has_one_output_block_per_degree(float64):
    C = CONFIG.channels
    for block in model("s2grid").interactions:
        conv = block.conv_tp
        assert conv.irreps_out == o3.Irreps(f"{C}x0e + {C}x1o + {C}x2e + {C}x3o")
        assert block.linear.irreps_in == conv.irreps_out
        assert conv.weight_numel == C * len(conv.irreps_in2) == block.conv_tp_weights.hs[-1]


def test_gaunt_output_irreps_refuses_unreachable_degrees():
    with pytest.raises(ValueError, match="does not reach"):
        gaunt_output_irreps(o3.Irreps("4x0e + 4x1o"), o3.Irreps("0e + 1o"), o3.Irreps("4x0e + 4x1e"))


def test_s2grid_and_gtp_mace_agree(float64, structures):
    """Two algorithms for one product: the same model output with the same seed."""
    batch = batch_of(structures)
    s2, gtp = outputs(model("s2grid"), batch), outputs(model("gtp"), batch)
    for key in ("energy", "forces", "stress"):
        assert_close(gtp[key], s2[key])


def transformed(structures, R):
    out = []
    for atoms in structures:
        a = atoms.copy()
        a.set_cell(np.asarray(a.cell) @ R.T, scale_atoms=False)
        a.positions = a.positions @ R.T
        a.arrays["REF_forces"] = a.arrays["REF_forces"] @ R.T
        out.append(a)
    return out


@pytest.mark.parametrize("variant", GAUNT_VARIANTS)
@pytest.mark.parametrize("proper", [True, False], ids=["rotation", "rotoinversion"])
def test_gaunt_mace_is_equivariant(float64, structures, variant, proper):
    torch.manual_seed(7)
    R = o3.rand_matrix().numpy() * (1 if proper else -1)
    m = model(variant)
    ref = outputs(m, batch_of(structures))
    rot = outputs(m, batch_of(transformed(structures, R)))
    Rt = torch.tensor(R)
    assert_close(rot["energy"], ref["energy"])
    assert_close(rot["forces"], ref["forces"] @ Rt.T)
    assert_close(rot["stress"], Rt @ ref["stress"] @ Rt.T)
    assert float(ref["forces"].abs().max()) > 1e-3  # a non-trivial check


@pytest.mark.parametrize("variant", GAUNT_VARIANTS)
def test_gaunt_mace_survives_deepcopy_and_torch_save(float64, structures, variant):
    m = model(variant)
    buffer = io.BytesIO()
    torch.save(m, buffer)
    buffer.seek(0)
    batch = batch_of(structures)
    expected = outputs(m, batch)
    for copied in (copy.deepcopy(m), torch.load(buffer, weights_only=False)):
        actual = outputs(copied, batch)
        for key in ("energy", "forces", "stress"):
            assert_close(actual[key], expected[key])


def test_fused_s2grid_convolution_sums_the_per_edge_gaunt_products(float64):
    """MACE's fused call ``conv_tp(h, Y, R, edge_index)`` equals the per-edge oracle summed into the
    receivers (a node without edges, a repeated edge); and it is what the s2grid MACE runs."""
    block = model("s2grid").interactions[1]
    conv = block.conv_tp
    assert block.conv_fusion
    node, sh, out = conv.irreps_in1, conv.irreps_in2, conv.irreps_out
    edge_index = torch.tensor([[0, 1, 1, 2, 4, 1, 0], [1, 2, 0, 4, 0, 2, 1]])
    x, y, w = torch.randn(5, node.dim), torch.randn(7, sh.dim), torch.randn(7, conv.weight_numel)
    messages = gaunt_oracle(x[edge_index[0]], y, w, node, sh, out) * conv.degree_scale
    expected = torch.zeros(5, out.dim, dtype=messages.dtype).index_add(0, edge_index[1], messages)
    assert_close(conv(x, y, w, edge_index), expected)
    assert float(expected.abs().max()) > 0.1 and not conv(x, y, w, edge_index)[3].any()
