"""SevenNet's convolution (gather the senders' features, the product, sum into the receivers) as one
tpcore message-passing op, :class:`tpcore.torch.ConvolutionProduct`.

The seam is SevenNet's own for fused convolutions (its FlashTP and OpenEquivariance switches):
``IrrepsScatterGatterFusedConvolution``, whose ``convolution`` is called as
``convolution(x, edge_filter, weight, edge_src, edge_dst) -> (nodes, irreps_out.dim)``, which is
tpcore's op's own call. :class:`FusedConvolution` is that ``convolution`` around tpcore's exact
adapter of e3nn's product (:func:`tpcore.torch.from_e3nn`); like every ``ConvolutionProduct``, its
state_dict is the product's, key for key, so checkpoints load both ways.
"""

from __future__ import annotations

import tpcore.torch as tt
from tpcore.torch import ConvolutionProduct


class FusedConvolution(ConvolutionProduct):
    """``convolution(x, edge_filter, weight, edge_src, edge_dst)``: SevenNet's fused call, one tpcore op
    (into ``x.size(0)`` receivers), in the product's train/eval mode."""

    def __init__(self, product: tt.TensorProduct):
        super().__init__(product)
        self.train(product.training)
