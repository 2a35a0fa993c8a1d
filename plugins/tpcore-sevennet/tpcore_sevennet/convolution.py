"""SevenNet's convolution (gather the senders' features, the product, sum into the receivers) as one
tpcore message-passing op, :class:`tpcore.torch.ConvolutionProduct`.

The seam is SevenNet's own for fused convolutions (its FlashTP and OpenEquivariance switches):
``IrrepsScatterGatterFusedConvolution``, whose ``convolution`` is called as
``convolution(x, edge_filter, weight, edge_src, edge_dst) -> (nodes, irreps_out.dim)``.
:class:`FusedConvolution` is that ``convolution``. It keeps tpcore's exact adapter of e3nn's
product (:func:`tpcore.torch.from_e3nn`) as ``tp`` for its state, which is e3nn's, and writes it
without the ``tp.`` prefix, so the state_dict is the e3nn product's, key for key, and checkpoints
load both ways. The op runs on the adapter's built module (no persistent state of its own).
"""

from __future__ import annotations

import torch

import tpcore.torch as tt
from tpcore.torch import ConvolutionProduct

_STATE = "tp."


class FusedConvolution(torch.nn.Module):
    """``convolution(x, edge_filter, weight, edge_src, edge_dst)``: SevenNet's fused call, one tpcore op."""

    def __init__(self, product: tt.TensorProduct):
        super().__init__()
        # registered before ``tp``: a dtype change reaches the op first, so it rebuilds its tables
        self.conv = ConvolutionProduct(product._tp)
        self.tp = product
        self.train(product.training)
        self.register_state_dict_post_hook(_unprefix)
        self.register_load_state_dict_pre_hook(_prefix)

    def forward(self, x: torch.Tensor, edge_filter: torch.Tensor, weight: torch.Tensor, edge_src: torch.Tensor,
                edge_dst: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return self.conv(x, edge_filter, weight, edge_src, edge_dst)  # into x.size(0) receivers


def _unprefix(module, state_dict, prefix, local_metadata) -> None:
    start = prefix + _STATE
    for key in [key for key in state_dict if key.startswith(start)]:
        state_dict[prefix + key[len(start):]] = state_dict.pop(key)


def _prefix(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs) -> None:
    for key in [key for key in state_dict if key.startswith(prefix) and not key.startswith((prefix + _STATE, prefix + "conv."))]:
        state_dict[prefix + _STATE + key[len(prefix):]] = state_dict.pop(key)
