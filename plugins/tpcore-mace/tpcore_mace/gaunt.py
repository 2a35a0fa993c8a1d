"""MACE interaction blocks whose convolution is tpcore's Gaunt product (S2 grid or 2D Fourier).

"The Price of Freedom" (ICML 2025) replaces MACE's Clebsch-Gordan convolution by the channel-wise
Gaunt product of the node features with the edge's spherical harmonics. Here, per edge ``ij``:

    m_ij = s_l * Gaunt(h_j, R(r_ij) * Y(r_ij))          (channel-wise)

``R (C x n_sh)`` is the per-edge weight per channel and degree of the harmonics that MACE's radial
MLP outputs (``weight_numel = C * n_sh``): the edge filter is a radially modulated spherical
signal per channel, as in the Gaunt tensor product paper's convolution. The message is linear in
the radial weights, so it vanishes at the cutoff like the CG model's (weights on both inputs and
the output would make it cubic there and mute the second neighbour shell). ``s_l`` is a constant
per output degree that plays e3nn's path normalization: unit-variance inputs give unit-variance
outputs (without it the second layer's messages start about 3x larger than the CG model's). Then
come MACE's own linear and skip connection.

The CG convolution outputs one block per path (several blocks of one degree, e.g. ``3 x 16x1o``);
the Gaunt product sums the paths of a degree, so its output, and the input of the linear after it,
has one block per degree: ``16x0e + 16x1o + 16x2e + 16x3o``. Only the paths with ``l1 + l2 + l3``
even exist (no cross-product-like paths); with MACE's default irreps (node features
``0e + 1o + 2e``, harmonics ``0e + 1o + 2e + 3o``, targets ``0e + 1o + 2e + 3o``) those are exactly the
CG convolution's paths.
"""

from __future__ import annotations

from mace.modules.blocks import RealAgnosticInteractionBlock, RealAgnosticResidualInteractionBlock
from mace.modules.wrapper_ops import Linear

import torch
from e3nn import nn, o3

import tpcore.torch as tt

GAUNT_VARIANTS = ("s2grid", "gtp")


class GauntConvolution(torch.nn.Module):
    """``conv(h, Y, R) = Gaunt(h, R * Y) * degree_scale``: the Gaunt convolution of one interaction.

    ``h (..., C x irreps_node)``, ``Y (..., irreps_sh)`` (multiplicity 1) and ``R (..., C * n_sh)``
    (channel-major: ``R[..., c * n_sh + k]`` weighs degree block ``k`` of channel ``c``). A Gaunt path
    ``l1 x l2 -> l3`` couples through ``c * wigner_3j`` (``c`` is tpcore's ``Path.normalization``);
    for unit-variance inputs its output components have variance ``c**2 / (2 l3 + 1)``, so degree
    ``l3`` is divided by ``sqrt(sum over its paths of c**2 / (2 l3 + 1))``.
    """

    def __init__(self, irreps_node, irreps_sh, irreps_out, variant: str, backend: str = "torch", impl: str | None = None):
        super().__init__()
        self.irreps_in1, self.irreps_in2, self.irreps_out = o3.Irreps(irreps_node), o3.Irreps(irreps_sh), o3.Irreps(irreps_out)
        if any(mul != 1 for mul, _ in self.irreps_in2):
            raise ValueError(f"irreps_sh = {self.irreps_in2} must have multiplicity 1 (the edge's spherical harmonics)")
        self.channels = self.irreps_in1[0].mul
        filter_irreps = o3.Irreps([(self.channels, ir) for _, ir in self.irreps_in2])
        self.tp = tt.TensorProduct(
            str(self.irreps_in1), str(filter_irreps), str(self.irreps_out),
            # the channel-wise variants compute every path at once; the instruction only says "unweighted"
            instructions=[(0, 0, 0, "uvu", False)], variant=variant, backend=backend, impl=impl,
        )  # fmt: skip
        variance = [0.0] * len(self.irreps_out)
        for p in self.tp.spec.paths:
            variance[p.i_out] += p.normalization**2 / p.ir_out.dim
        scale = [torch.full((mul * ir.dim,), v**-0.5) for (mul, ir), v in zip(self.irreps_out, variance)]
        self.register_buffer("degree_scale", torch.cat(scale))

    @property
    def weight_numel(self) -> int:
        return self.channels * len(self.irreps_in2)

    def edge_filter(self, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``R * Y`` laid out as ``C x irreps_sh`` (e3nn's layout: one ``[C, 2l+1]`` block per degree)."""
        w = weight.reshape(weight.shape[:-1] + (self.channels, len(self.irreps_in2)))
        blocks = [w[..., k, None] * y[..., None, s] for k, s in enumerate(self.irreps_in2.slices())]
        return torch.cat([b.flatten(-2) for b in blocks], dim=-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tp(x, self.edge_filter(y, weight)) * self.degree_scale


def gaunt_output_irreps(irreps_node: o3.Irreps, irreps_sh: o3.Irreps, target_irreps: o3.Irreps) -> o3.Irreps:
    """The Gaunt product's output: one ``C x ir`` block per degree of ``target_irreps`` it reaches."""
    channels = {mul for mul, _ in irreps_node}
    if len(channels) != 1:
        raise ValueError(f"node features {irreps_node} need one multiplicity (the channels) for a Gaunt convolution")
    C = channels.pop()
    reached = {
        ir
        for _, ir1 in irreps_node
        for _, ir2 in irreps_sh
        for ir in ir1 * ir2
        if (ir1.l + ir2.l + ir.l) % 2 == 0
    }
    out = [(C, ir) for _, ir in target_irreps if ir in reached]
    missing = [str(ir) for _, ir in target_irreps if ir not in reached]
    if missing:
        raise ValueError(
            f"target irreps {target_irreps} have {', '.join(missing)}, which the Gaunt product of {irreps_node} "
            f"and {irreps_sh} does not reach (only l1 + l2 + l3 even paths exist); use hidden irreps 0e + 1o + 2e + ..."
        )
    return o3.Irreps(out)


class GauntConvolutionMixin:
    """Rebuilds a MACE interaction's ``conv_tp``, ``conv_tp_weights`` and ``linear`` around the Gaunt product.

    Subclasses set ``variant`` (``"s2grid"`` or ``"gtp"``); ``backend``/``impl`` pick the tpcore
    implementation. Everything else (``linear_up``, ``skip_tp``, ``forward``) is MACE's.
    """

    variant: str = "s2grid"
    backend: str = "torch"
    impl: str | None = None

    def _setup(self) -> None:
        super()._setup()
        irreps_mid = gaunt_output_irreps(self.edge_irreps, self.edge_attrs_irreps, self.target_irreps)
        self.conv_tp = GauntConvolution(self.edge_irreps, self.edge_attrs_irreps, irreps_mid, self.variant, self.backend, self.impl)
        input_dim = self.edge_feats_irreps.num_irreps
        self.conv_tp_weights = nn.FullyConnectedNet(
            [input_dim] + self.radial_MLP + [self.conv_tp.weight_numel], torch.nn.functional.silu
        )
        self.linear = Linear(irreps_mid, self.irreps_out, internal_weights=True, shared_weights=True, cueq_config=None)


# Module-level classes (not made on the fly) so that models holding them pickle. MACE decides
# whether the first layer has a self-connection from "Residual" in the class name.
class S2GridResidualInteractionBlock(GauntConvolutionMixin, RealAgnosticResidualInteractionBlock):
    variant = "s2grid"


class GTPResidualInteractionBlock(GauntConvolutionMixin, RealAgnosticResidualInteractionBlock):
    variant = "gtp"


class S2GridInteractionBlock(GauntConvolutionMixin, RealAgnosticInteractionBlock):
    variant = "s2grid"


class GTPInteractionBlock(GauntConvolutionMixin, RealAgnosticInteractionBlock):
    variant = "gtp"


_CLASSES = {
    ("s2grid", True): S2GridResidualInteractionBlock,
    ("gtp", True): GTPResidualInteractionBlock,
    ("s2grid", False): S2GridInteractionBlock,
    ("gtp", False): GTPInteractionBlock,
}


def gaunt_interaction_class(variant: str, residual: bool = True):
    """The MACE interaction block class with a ``variant`` (``"s2grid"`` or ``"gtp"``) convolution."""
    if variant not in GAUNT_VARIANTS:
        raise ValueError(f"variant must be one of {GAUNT_VARIANTS}; got {variant!r}")
    return _CLASSES[variant, bool(residual)]
