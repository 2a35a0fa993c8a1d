"""MACE interaction blocks whose convolution is tpcore's Gaunt product (S2 grid or 2D Fourier).

"The Price of Freedom" (ICML 2025) replaces MACE's Clebsch-Gordan convolution by the channel-wise
Gaunt product of the node features with the edge's spherical harmonics. Here, per edge ``ij``:

    m_ij = w_out * Gaunt(w_1 * h_j, w_2 * Y(r_ij))      (every factor channel-wise, per degree)

with ``w_1 (C x n_node)``, ``w_2 (C x n_sh)`` and ``w_out (C x n_out)`` the per-edge weights that MACE's
radial MLP outputs (``weight_numel = C * (n_node + n_sh + n_out)``), then MACE's own linear and
skip connection. As e3nn normalizes each CG path, each output degree of the Gaunt product is scaled
by a constant so that unit-variance inputs give unit-variance outputs (:class:`GauntConvolution`):
without it the layer-2 messages start about 3x larger than the CG model's. The CG convolution outputs one block per path (several blocks of one degree, e.g.
``3 x 16x1o``); the Gaunt product sums the paths of a degree, so its output, and the input of the
linear after it, has one block per degree: ``16x0e + 16x1o + 16x2e + 16x3o``. Only the paths with
``l1 + l2 + l3`` even exist (no cross-product-like paths), which MACE's default irreps already
satisfy (node features ``0e + 1o + ...``, edge harmonics ``0e + 1o + 2e + ...``).
"""

from __future__ import annotations

from mace.modules.blocks import RealAgnosticInteractionBlock, RealAgnosticResidualInteractionBlock
from mace.modules.wrapper_ops import Linear

import torch
from e3nn import nn, o3

import tpcore.torch as tt

GAUNT_VARIANTS = ("s2grid", "gtp")


class GauntConvolution(torch.nn.Module):
    """``tp(x, y, w) * degree_scale``: a tpcore channel-wise product with per-degree output normalization.

    A Gaunt path ``l1 x l2 -> l3`` couples through ``c * wigner_3j`` (``c`` is the spec's
    ``Path.normalization``); for inputs with unit-variance components (component-normalized
    spherical harmonics, unit-variance features and weights) its output components have variance
    ``c**2 / (2 l3 + 1)``, so degree ``l3`` is divided by ``sqrt(sum over its paths of c**2 / (2 l3 + 1))``.
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, variant: str, backend: str = "torch", impl: str | None = None):
        super().__init__()
        self.tp = tt.TensorProduct(
            str(irreps_in1), str(irreps_in2), str(irreps_out),
            # the channel-wise variants compute every path at once; the instruction only says "weighted"
            instructions=[(0, 0, 0, "uvu", True)],
            shared_weights=False, internal_weights=False, variant=variant, backend=backend, impl=impl,
        )  # fmt: skip
        self.irreps_in1, self.irreps_in2, self.irreps_out = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2), o3.Irreps(irreps_out)
        variance = [0.0] * len(self.irreps_out)
        for p in self.tp.spec.paths:
            variance[p.i_out] += p.normalization**2 / p.ir_out.dim
        scale = [torch.full((mul * ir.dim,), v**-0.5) for (mul, ir), v in zip(self.irreps_out, variance)]
        self.register_buffer("degree_scale", torch.cat(scale))

    @property
    def weight_numel(self) -> int:
        return self.tp.weight_numel

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tp(x, y, weight) * self.degree_scale


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
