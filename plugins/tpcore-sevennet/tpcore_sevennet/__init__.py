"""SevenNet (sevenn) on tpcore.

- :func:`patch`: every convolution product (and nequip-style self-connection product) of a built
  SevenNet model becomes tpcore's exact cgtp module, in place, state_dict unchanged.
- :func:`deploy`: SevenNet's serial LAMMPS TorchScript deploy of a checkpoint, on tpcore;
  :func:`deployable` makes the frozen TorchScript module of a built model.

sevenn is imported when these are called, not when this package is.
"""

from tpcore_sevennet.deploy import deploy, deployable
from tpcore_sevennet.patch import patch

__all__ = ["patch", "deploy", "deployable"]
