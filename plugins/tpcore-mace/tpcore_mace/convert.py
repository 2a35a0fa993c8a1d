"""e3nn tensor products inside a built model become tpcore's exact cgtp modules.

Each one goes through :func:`tpcore.torch.from_e3nn`, which takes e3nn's stored per-path factors
(``Instruction.path_weight``: normalizations, variances and path weights already combined) as
they are, so the result is e3nn's to round-off whatever settings built it.
"""

from __future__ import annotations

import torch

import tpcore.torch as tt


def _e3nn_tensor_product_class():
    import mace  # noqa: F401  (mace must be imported before e3nn 0.4.4 on torch 2.13)
    from e3nn import o3

    return o3.TensorProduct


def convert(model: torch.nn.Module, backend: str = "torch", impl: str | None = None) -> torch.nn.Module:
    """Swap every e3nn tensor product inside ``model`` for tpcore's exact cgtp module, in place.

    In a MACE/ScaleShiftMACE these are each interaction's ``conv_tp`` (``uvu``, per-edge weights
    from the radial MLP) and ``skip_tp`` (fully connected, internal weights); weights, dtype,
    device and train/eval mode are kept. ``backend``/``impl`` pick the tpcore implementation
    (``tpcore backends`` lists them). Returns ``model``.
    """
    e3nn_tp = _e3nn_tensor_product_class()
    targets = [(name, child) for name, child in model.named_modules() if name and isinstance(child, e3nn_tp)]
    if not targets:
        raise ValueError(f"model ({type(model).__name__}) holds no e3nn o3.TensorProduct to convert")
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        converted = tt.from_e3nn(child, backend=backend, impl=impl)
        converted.train(child.training)
        setattr(parent, attr, converted)
    return model
