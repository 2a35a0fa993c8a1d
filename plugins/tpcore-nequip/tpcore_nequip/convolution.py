"""NequIP's ``TensorProductScatter`` (gather the senders' features, the convolution product, sum
into the receivers) as one tpcore message-passing op, :class:`tpcore.torch.ConvolutionProduct`.

The seam is the one NequIP's own accelerations replace (``enable_OpenEquivariance``,
``enable_CuEquivariance``: a subclass of ``TensorProductScatter`` with the same call). Like theirs,
the module keeps a ``tp`` beside the fused op, here tpcore's exact adapter of e3nn's product
(:func:`tpcore.torch.from_e3nn`), which writes e3nn's state_dict keys; the op runs on that
adapter's built module, whose state is not persistent, so the state_dict is e3nn's ``tp.*`` alone
and checkpoints load both ways.
"""

from __future__ import annotations

import torch
from nequip.nn._tp_scatter_base import TensorProductScatter

import tpcore.torch as tt
from tpcore.torch import ConvolutionProduct


class TpcoreTensorProductScatter(TensorProductScatter):
    """``tp_scatter(x, edge_attr, edge_weight, edge_dst, edge_src)``: NequIP's call, one tpcore op."""

    def __init__(self, old: TensorProductScatter, impl: str | None = None, backend: str = "torch"):
        # TensorProductScatter.__init__ would build another e3nn product only to replace it
        torch.nn.Module.__init__(self)
        for name in ("feature_irreps_in", "irreps_edge_attr", "irreps_mid", "instructions", "model_dtype"):
            setattr(self, name, getattr(old, name))
        tp = old.tp if isinstance(old.tp, tt.TensorProduct) else tt.from_e3nn(old.tp, backend=backend, impl=impl)
        tp.train(old.tp.training)
        # registered before ``tp``: a dtype change reaches the op first, so it rebuilds its tables
        self.conv = ConvolutionProduct(tp._tp)
        self.tp = tp
        self.train(old.training)

    def forward(self, x, edge_attr, edge_weight, edge_dst, edge_src):
        return self.conv(x, edge_attr, edge_weight, edge_src, edge_dst)  # into x.size(0) receivers
