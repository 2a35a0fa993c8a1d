"""e3nn tensor products inside a built model become tpcore's exact cgtp modules.

Each one goes through :func:`tpcore.torch.from_e3nn`, which takes e3nn's stored per-path factors
(``Instruction.path_weight``: normalizations, variances and path weights already combined) as
they are, so the result is e3nn's to round-off whatever settings built it. An interaction's
convolution becomes tpcore's message-passing op (:func:`tpcore.build_conv`): the gather of the
senders' features, the product and the sum into receivers in one module, called through MACE's
own ``conv_fusion`` hook (the one its cuEquivariance and OpenEquivariance paths use).
"""

from __future__ import annotations

import torch

import tpcore.torch as tt
from tpcore.torch import ConvolutionProduct


def _e3nn_classes():
    import mace  # noqa: F401  (mace must be imported before e3nn 0.4.4 on torch 2.13)
    from e3nn import o3
    from mace.modules.blocks import InteractionBlock

    return o3.TensorProduct, InteractionBlock


class MACEConvolution(ConvolutionProduct):
    """An interaction's ``conv_tp`` as one op, with MACE's fused call
    ``conv_tp(node_feats, edge_attrs, tp_weights, edge_index) -> message`` (summed into the nodes).

    Its state_dict is the e3nn product's (same keys), so checkpoints move between both ways.
    """

    def forward(self, node_feats: torch.Tensor, edge_attrs: torch.Tensor, tp_weights: torch.Tensor,
                edge_index: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return self.convolve(node_feats, edge_attrs, tp_weights, edge_index[0], edge_index[1], node_feats.size(0))


def convert(model: torch.nn.Module, backend: str = "torch", impl: str | None = None, fuse: bool = True) -> torch.nn.Module:
    """Swap every e3nn tensor product inside ``model`` for tpcore's exact cgtp module, in place.

    In a MACE/ScaleShiftMACE these are each interaction's ``conv_tp`` (``uvu``, per-edge weights
    from the radial MLP) and ``skip_tp`` (fully connected, internal weights); weights, dtype,
    device and train/eval mode are kept. With ``fuse`` (the default) each ``conv_tp`` becomes a
    :class:`MACEConvolution` and its block calls it through ``conv_fusion``; without, only the
    product is swapped and MACE gathers and scatters around it. ``backend``/``impl`` pick the
    tpcore implementation (``tpcore backends`` lists them; the fused op is torch's). Returns ``model``.
    """
    e3nn_tp, interaction = _e3nn_classes()
    targets = [(name, child) for name, child in model.named_modules() if name and isinstance(child, e3nn_tp)]
    if not targets:
        raise ValueError(f"model ({type(model).__name__}) holds no e3nn o3.TensorProduct to convert")
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        converted = tt.from_e3nn(child, backend=backend, impl=impl)
        converted.train(child.training)
        if fuse and attr == "conv_tp" and isinstance(parent, interaction) and not hasattr(parent, "conv_fusion"):
            converted = MACEConvolution(converted)
            converted.train(child.training)
            parent.conv_fusion = "tpcore"
        setattr(parent, attr, converted)
    return model
