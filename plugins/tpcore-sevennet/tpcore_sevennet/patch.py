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
later is built on tpcore too.
"""

from __future__ import annotations

import functools

import torch

import tpcore.torch as tt


def _layers() -> dict:
    """SevenNet's layer class -> (its product attribute, the class attribute that builds it, tpcore's class)."""
    from sevenn.nn.convolution import IrrepsConvolution
    from sevenn.nn.self_connection import SelfConnectionIntro

    return {
        IrrepsConvolution: ("convolution", "convolution_cls", tt.TensorProduct),
        SelfConnectionIntro: ("fc_tensor_product", "fc_tensor_product_cls", tt.FullyConnectedTensorProduct),
    }


def patch(model: torch.nn.Module, *, backend: str = "torch", impl: str | None = None) -> torch.nn.Module:
    """Run every convolution (and nequip-style self-connection) product of a SevenNet model on tpcore, in place.

    ``model`` is a built ``AtomGraphSequential`` (``SevenNetCheckpoint.build_model()``, a
    calculator's ``.model``, a trainer's model) or any module holding SevenNet layers, with e3nn
    products (built without ``enable_cueq``/``enable_flash``/``enable_oeq``). Each product becomes
    tpcore's exact cgtp module with its weights, dtype, device and train/eval mode; the model's
    parameters and state_dict keep their names and load into the e3nn model both ways. A layer
    not yet instantiated gets the tpcore class only. ``backend``/``impl`` pick the tpcore
    implementation (``tpcore backends`` lists them). Patching twice changes nothing. Returns ``model``.
    """
    from e3nn import o3

    layers = _layers()
    found = 0
    for name, layer in list(model.named_modules()):
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
    if not found:
        raise ValueError(
            f"model ({type(model).__name__}) holds no SevenNet IrrepsConvolution or SelfConnectionIntro to patch "
            "(a model built with enable_flash or enable_oeq has fused convolutions instead)")
    return model
