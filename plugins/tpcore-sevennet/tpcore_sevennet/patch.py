"""SevenNet's tensor products on tpcore, swapped where SevenNet's own accelerator switches swap them.

SevenNet builds each layer's product from a class attribute called with e3nn's arguments:
``IrrepsConvolution.convolution_cls(**convolution_kwargs)`` (a ``uvu`` product of node features and
edge harmonics with per-edge weights from the radial network) and, with ``self_connection_type:
nequip``, ``SelfConnectionIntro.fc_tensor_product_cls`` (features times the one-hot species,
fully connected). Its cuEquivariance, FlashTP and OpenEquivariance switches
(``sevenn.model_build.patch_modules``) replace ``convolution_cls`` before the layers are
instantiated; SevenNet has no entry point for another switch, so :func:`patch` takes the model
after it is built and converts each e3nn product in place with :func:`tpcore.torch.from_e3nn`
(the same numbers, the same state_dict), and sets the class attribute so a layer instantiated
later is built on tpcore too. Each built convolution then becomes what FlashTP and
OpenEquivariance make of it, SevenNet's ``IrrepsScatterGatterFusedConvolution``, with tpcore's
message-passing op (:class:`tpcore_sevennet.convolution.FusedConvolution`) as its
``convolution``: gather, product and scatter in one op, the same state_dict.
"""

from __future__ import annotations

import copy
import functools

import torch

import tpcore.torch as tt
from tpcore_sevennet.convolution import FusedConvolution


def _layers() -> dict:
    """SevenNet's layer class -> (its product attribute, the class attribute that builds it, tpcore's class)."""
    from sevenn.nn.convolution import IrrepsConvolution
    from sevenn.nn.self_connection import SelfConnectionIntro

    return {
        IrrepsConvolution: ("convolution", "convolution_cls", tt.TensorProduct),
        SelfConnectionIntro: ("fc_tensor_product", "fc_tensor_product_cls", tt.FullyConnectedTensorProduct),
    }


def patch(model: torch.nn.Module, *, backend: str = "torch", impl: str | None = None, fuse: bool = True) -> torch.nn.Module:
    """Run every convolution (and nequip-style self-connection) product of a SevenNet model on tpcore, in place.

    ``model`` is a built ``AtomGraphSequential`` (``SevenNetCheckpoint.build_model()``, a
    calculator's ``.model``, a trainer's model) or any module holding SevenNet layers, with e3nn
    products (built without ``enable_cueq``/``enable_flash``/``enable_oeq``). Each product becomes
    tpcore's exact cgtp module with its weights, dtype, device and train/eval mode; the model's
    parameters and state_dict keep their names and load into the e3nn model both ways. A layer
    not yet instantiated gets the tpcore class only. With ``fuse`` (the default) each built
    convolution layer inside ``model`` becomes SevenNet's fused convolution on tpcore's
    message-passing op (same parameters, same state_dict); without, SevenNet gathers and
    scatters around the product. ``backend``/``impl`` pick the tpcore implementation (``tpcore
    backends`` lists them). Patching twice changes nothing. Returns ``model``.
    """
    from e3nn import o3
    from sevenn.nn.convolution import IrrepsConvolution, IrrepsScatterGatterFusedConvolution

    layers = _layers()
    found = 0
    for name, layer in list(model.named_modules()):
        if isinstance(layer, IrrepsScatterGatterFusedConvolution) and isinstance(layer.convolution, FusedConvolution):
            found += 1  # patched before
            continue
        spec = next((v for cls, v in layers.items() if isinstance(layer, cls)), None)
        if spec is None:
            continue
        attr, cls_attr, tpcore_cls = spec
        product = getattr(layer, attr)
        if product is not None and not isinstance(product, tt.TensorProduct):
            if not isinstance(product, o3.TensorProduct):
                raise ValueError(
                    f"{name or type(model).__name__}.{attr} is a {type(product).__module__}.{type(product).__name__}, "
                    "but patch converts e3nn's o3.TensorProduct: build the model without enable_cueq")
            converted = tt.from_e3nn(product, backend=backend, impl=impl)
            converted.train(product.training)
            setattr(layer, attr, converted)
        setattr(layer, cls_attr, functools.partial(tpcore_cls, backend=backend, impl=impl))
        found += 1
        if fuse and name and type(layer) is IrrepsConvolution and layer.convolution is not None:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            parent._modules[attr] = _fused(layer, IrrepsScatterGatterFusedConvolution)
    if not found:
        raise ValueError(
            f"model ({type(model).__name__}) holds no SevenNet IrrepsConvolution or SelfConnectionIntro to patch "
            "(a model built with enable_flash or enable_oeq has fused convolutions instead)")
    return model


def _fused(layer: torch.nn.Module, fused_cls: type) -> torch.nn.Module:
    """``layer`` (an IrrepsConvolution with a tpcore product) as SevenNet's fused convolution on tpcore.

    As SevenNet's ``from_irreps_convolution`` makes it, but sharing ``layer``'s modules and
    parameters rather than deep copies of them, so optimizers and references held keep working.
    """
    fused = fused_cls.__new__(fused_cls)
    fused.__dict__ = {k: copy.copy(v) if isinstance(v, dict) else v for k, v in layer.__dict__.items()}
    fused._out_dim = layer.convolution_kwargs["irreps_out"].dim
    fused.convolution = FusedConvolution(layer.convolution)
    fused.convolution_cls = functools.partial(_fused_convolution, layer.convolution_cls)
    return fused


def _fused_convolution(product_cls, **kwargs) -> FusedConvolution:
    return FusedConvolution(product_cls(**kwargs))
