"""MACE (mace-torch) on tpcore.

- :func:`convert`: every e3nn tensor product of a built MACE becomes tpcore's exact cgtp module.
- :mod:`tpcore_mace.gaunt`: interaction blocks whose convolution is tpcore's S2-grid or GTP Gaunt
  product ("The Price of Freedom"); :func:`build_mace` builds a small ScaleShiftMACE of any variant.
- :mod:`tpcore_mace.data` and :mod:`tpcore_mace.experiment`: a local EMT data set and the training
  benchmark behind ``scripts/mace.sh``.

mace-torch 0.3.16 pins e3nn 0.4.4, which on torch 2.13 must be imported after mace: this package
imports mace first.
"""

import mace  # noqa: F401  (before e3nn)

from tpcore_mace.convert import convert
from tpcore_mace.models import VARIANTS, MACEConfig, build_mace, count_parameters

__all__ = ["convert", "build_mace", "MACEConfig", "VARIANTS", "count_parameters"]
