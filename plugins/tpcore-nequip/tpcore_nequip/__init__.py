"""NequIP (0.19) on tpcore: the ``enable_tpcore`` model modifier.

- :func:`enable_tpcore`: every e3nn tensor product of a built NequIP model (convolution,
  self-connection, gate) becomes tpcore's exact module, in place; ``impl=`` picks the implementation.
- Registered with NequIP as the modifier ``enable_tpcore`` (NequIP imports this package at
  ``import nequip`` through its ``nequip.extension`` entry point), so a config's ``modifiers:`` and
  ``nequip-compile --modifiers enable_tpcore`` apply it by name.
- :mod:`tpcore_nequip.benchmark`: e3nn NequIP and tpcore NequIP side by side (``scripts/nequip.sh``).
"""

from tpcore_nequip.modifier import enable_tpcore, register, tensor_products

register()

__all__ = ["enable_tpcore", "tensor_products", "register"]
