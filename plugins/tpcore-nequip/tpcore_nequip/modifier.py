"""The ``enable_tpcore`` model modifier: NequIP's e3nn tensor products become tpcore's.

A NequIP GNN holds three kinds of e3nn tensor product: each convolution's
``TensorProductScatter.tp`` (``uvu``, per-edge weights from the radial MLP), the self-connection
``sc`` (a ``FullyConnectedTensorProduct`` with the node types) and the gate's ``mul`` (an
``ElementwiseTensorProduct``). Each goes through :func:`tpcore.torch.from_e3nn`, which keeps e3nn's
per-path factors, weights, dtype and device, so the model computes what it computed before. Each
``TensorProductScatter`` (gather, product, scatter) becomes one tpcore message-passing op
(:class:`tpcore_nequip.convolution.TpcoreTensorProductScatter`), the seam NequIP's own
accelerations replace.

The converted modules write e3nn's state_dict keys (and the constants of e3nn's generated code),
so a checkpoint of a modified model loads strictly into the unmodified one and back. That is what
NequIP needs of a non-persistent modifier: a checkpoint trained with it is rebuilt without it
(``nequip-package``, ``nequip-compile`` of a ``.ckpt``) and loads e3nn's modules from tpcore's
state. The modules are therefore replaced outright rather than kept beside tpcore's.
"""

from __future__ import annotations

import torch

#: compile modes the modifier is tested in (NequIP's metadata for acceleration modifiers)
COMPILE_MODES = ["eager", "compile", "aotinductor"]


def _e3nn_tensor_product_class() -> type:
    from e3nn import o3

    return o3.TensorProduct


def tensor_products(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Every e3nn ``o3.TensorProduct`` (subclasses included) inside ``model``, by qualified name."""
    e3nn_tp = _e3nn_tensor_product_class()
    return {name: m for name, m in model.named_modules() if name and isinstance(m, e3nn_tp)}


def enable_tpcore(model: torch.nn.Module, impl: str | None = None, backend: str = "torch", fuse: bool = True) -> torch.nn.Module:
    """Swap every e3nn tensor product inside ``model`` for tpcore's exact module, in place.

    ``impl`` names a tpcore implementation (``tpcore backends``: ``folded``, ``fused``, ...; None
    lets tpcore choose per product). With ``fuse`` (the default) each convolution's
    ``TensorProductScatter`` becomes one tpcore op (gather, product and scatter); without, only its
    product is swapped and NequIP gathers and scatters around it. Weights, dtype, device and
    train/eval mode are kept. Returns ``model``. A model already swapped is returned as it is; one
    with no e3nn tensor product and none of tpcore's raises ``ValueError``.
    """
    import tpcore.torch as tt

    targets = tensor_products(model)
    if not targets and not any(isinstance(m, tt.TensorProduct) for m in model.modules()):
        raise ValueError(f"enable_tpcore: model ({type(model).__name__}) holds no e3nn o3.TensorProduct to swap")
    if fuse:
        _fuse_convolutions(model, impl, backend)
        targets = tensor_products(model)
    for name, old in targets.items():
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = tt.from_e3nn(old, backend=backend, impl=impl)
        new.train(old.training)
        parent._modules[attr] = new
    return model


def _fuse_convolutions(model: torch.nn.Module, impl: str | None, backend: str) -> None:
    try:
        from nequip.nn._tp_scatter_base import TensorProductScatter
    except ImportError:
        return  # not a NequIP model: only its products are swapped
    from tpcore_nequip.convolution import TpcoreTensorProductScatter

    for name, old in list(model.named_modules()):
        if name and type(old) is TensorProductScatter:  # (not OpenEquivariance's, cuEquivariance's, ours)
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            parent._modules[attr] = TpcoreTensorProductScatter(old, impl=impl, backend=backend)


def _enable_tpcore(cls, model, impl=None, backend="torch", fuse=True):
    """Swap NequIP's e3nn tensor products (convolution, self-connection, gate) for tpcore's exact
    modules, each convolution's gather, product and scatter for one tpcore op, on any device.
    Options: ``impl`` (a tpcore implementation name), ``backend``, ``fuse`` (False: products only)."""
    return enable_tpcore(model, impl=impl, backend=backend, fuse=fuse)


def register() -> bool:
    """Offer :func:`enable_tpcore` as NequIP's model modifier ``enable_tpcore``; True once it is.

    NequIP finds modifiers only as decorated classmethods of the module classes inside a model
    (``nequip.model.modify_utils.get_all_modifiers``) and has no registry for them, so the modifier
    is added to ``TensorProductScatter``, the class that carries NequIP's own accelerations
    (``enable_OpenEquivariance``, ``enable_CuEquivariance``): every NequIP GNN has one. Called once
    at ``import nequip`` through NequIP's extension entry point; False when NequIP is not installed.
    """
    try:
        from nequip.nn._tp_scatter_base import TensorProductScatter
        from nequip.nn.model_modifier_utils import model_modifier
    except ImportError:
        return False
    if "enable_tpcore" not in vars(TensorProductScatter):
        modifier = model_modifier(persistent=False, private=False, unsupported_devices=[], supported_compile_modes=COMPILE_MODES)
        TensorProductScatter.enable_tpcore = modifier(classmethod(_enable_tpcore))
    return True
