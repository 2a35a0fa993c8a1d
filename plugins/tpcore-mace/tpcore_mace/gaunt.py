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

from typing import Optional

import numpy as np
from mace.modules.blocks import RealAgnosticInteractionBlock, RealAgnosticResidualInteractionBlock
from mace.modules.wrapper_ops import Linear

import torch
from e3nn import nn, o3

import tpcore.torch as tt
from tpcore import so3
from tpcore.irreps import channel_index

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
        # the filter's degree per harmonic component, and its channel-major -> e3nn order
        degree = np.concatenate([np.full(ir.dim, k) for k, (_, ir) in enumerate(self.irreps_in2)])
        self.register_buffer("sh_degree", torch.as_tensor(degree, dtype=torch.long), persistent=False)
        self.register_buffer("filter_order", torch.as_tensor(np.argsort(channel_index(filter_irreps)), dtype=torch.long), persistent=False)

    @property
    def weight_numel(self) -> int:
        return self.channels * len(self.irreps_in2)

    def edge_filter(self, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``R * Y`` laid out as ``C x irreps_sh`` (e3nn's layout: one ``[C, 2l+1]`` block per degree)."""
        w = weight.reshape(weight.shape[:-1] + (self.channels, -1)).index_select(-1, self.sh_degree)  # (..., C, dim_sh)
        return (w * y.unsqueeze(-2)).flatten(-2).index_select(-1, self.filter_order)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tp(x, self.edge_filter(y, weight)) * self.degree_scale


class FusedGauntConvolution(GauntConvolution):
    """The S2-grid Gaunt convolution summed into the receivers as one op (MACE's ``conv_fusion`` call).

    ``conv(h, Y, R, edge_index)`` is ``sum over edges (s -> r) of GauntConvolution(h[s], Y, R)`` into
    node ``r``, computed where each part is cheapest: the senders' features go to the sphere grid
    once per node, not per edge; the edge filter ``R * Y`` goes there as ``R`` times the grid values
    of each degree of ``Y`` (``n_sh`` numbers per channel, not ``(l+1)^2``); the products are summed
    on the grid into the receivers and projected back once per node. The grid and its quadrature
    are the s2grid product's own (:func:`tpcore.so3.s2_grid_for_degree` of ``l1 + l2 + l3``), so the
    result is the product's to round-off. ``conv(x, y, weight)`` without ``edge_index`` is the
    per-edge product, as in :class:`GauntConvolution`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("out_order", torch.as_tensor(np.argsort(channel_index(self.irreps_out)), dtype=torch.long), persistent=False)
        self.register_buffer("node_order", torch.as_tensor(channel_index(self.tp.spec.irreps_in1), dtype=torch.long), persistent=False)
        self._grid_tables()

    def _grid_tables(self) -> None:
        """``grid_node (d1, G)``, ``grid_sh (d_sh, n_sh * G)`` (block ``k``: degree ``k``'s rows) and
        ``grid_out (G, d_out)`` from float64, in ``degree_scale``'s dtype."""
        node, sh, out = self.irreps_in1, self.irreps_in2, self.irreps_out
        _, _, points, weights = so3.s2_grid(*so3.s2_grid_for_degree(node.lmax + sh.lmax + out.lmax))
        points, weights = points.reshape(-1, 3), weights.reshape(-1)

        def values(irreps):  # (G, dim of one channel)
            return so3.spherical_harmonics([ir.l for _, ir in irreps], points)

        grid_sh = np.zeros((sh.dim, len(sh), len(points)))
        for k, ((_, ir), s) in enumerate(zip(sh, sh.slices())):
            grid_sh[s, k] = so3.spherical_harmonics(ir.l, points).T
        tables = {"grid_node": values(node).T, "grid_sh": grid_sh.reshape(sh.dim, -1),
                  "grid_out": values(out) * weights[:, None] / (4 * np.pi)}  # fmt: skip
        for name, value in tables.items():
            self.register_buffer(name, torch.as_tensor(value, dtype=self.degree_scale.dtype, device=self.degree_scale.device), persistent=False)

    def _apply(self, fn, recurse=True):
        before = self.degree_scale.dtype
        super()._apply(fn, recurse)
        if self.degree_scale.dtype != before:
            self._grid_tables()  # recomputed from float64, never cast
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, edge_index: Optional[torch.Tensor] = None) -> torch.Tensor:
        if edge_index is None:
            return self.tp(x, self.edge_filter(y, weight)) * self.degree_scale
        sender, receiver = edge_index[0], edge_index[1]
        nodes, edges, C = x.size(0), y.size(0), self.channels
        grid = self.grid_node.size(1)
        f_node = x.index_select(1, self.node_order).view(nodes, C, -1).matmul(self.grid_node)  # (nodes, C, G)
        f_sh = y.matmul(self.grid_sh).view(edges, -1, grid)  # (edges, n_sh, G)
        f_edge = weight.view(edges, C, -1).bmm(f_sh)  # (edges, C, G): the filter R * Y on the grid
        summed = f_edge.new_zeros([nodes, C, grid]).index_add(0, receiver, f_node.index_select(0, sender) * f_edge)
        out = summed.matmul(self.grid_out).view(nodes, -1).index_select(1, self.out_order)
        return out * self.degree_scale


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
        if self.variant == "s2grid":
            # gather, product and sum in one op, called by MACE's conv_fusion hook
            self.conv_tp = FusedGauntConvolution(self.edge_irreps, self.edge_attrs_irreps, irreps_mid, self.variant, self.backend, self.impl)
            self.conv_fusion = "tpcore"
        else:
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
