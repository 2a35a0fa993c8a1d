"""Drop-in replacements for e3nn's ``o3.TensorProduct`` family, computed by tpcore.

Swap ``from e3nn.o3 import FullyConnectedTensorProduct`` for
``from tpcore.torch import FullyConnectedTensorProduct`` and an e3nn model keeps its outputs and
its trained weights: the constructors take e3nn's arguments, ``tp(x, y, weight=None)`` is e3nn's
call, and the ``state_dict`` has e3nn's keys (``weight``: the Parameter in e3nn's flat layout, or an
empty buffer when the weights are external; ``output_mask``: e3nn's persistent buffer), so
``load_state_dict(e3nn_module.state_dict(), strict=True)`` works both ways (the state_dict also
carries the Wigner 3j constants e3nn's generated code keeps, with e3nn's keys and values; tpcore
ignores them on loading and computes its own).

Beyond e3nn: ``variant="gtp" | "s2grid" | "mtp"`` computes the channel-wise Gaunt / matrix
product of two spherical signals instead (every path at once; the instructions only say whether it is
weighted), and ``backend``/``impl`` pick any tpcore implementation from the registry.

``ConvolutionProduct(product)`` makes the message-passing op (:func:`tpcore.build_conv`) of a
product built here, e.g. one converted with ``from_e3nn``; its ``state_dict`` is the product's.

This module imports torch; ``import tpcore`` never imports it.
"""

from tpcore.torch.layers import (
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    TensorSquare,
    from_e3nn,
)
from tpcore.torch.module import Instruction, TensorProduct
from tpcore_torch.convolution import ConvolutionProduct

__all__ = [
    "TensorProduct", "FullyConnectedTensorProduct", "FullTensorProduct", "ElementwiseTensorProduct", "TensorSquare",
    "Instruction", "from_e3nn", "ConvolutionProduct",
]  # fmt: skip
