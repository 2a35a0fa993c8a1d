"""tpcore: equivariant tensor products written once as a spec, run on any registered backend.

>>> import tpcore
>>> spec = tpcore.TensorProductSpec.cgtp("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o")
>>> tp = tpcore.build(spec, backend="numpy")          # doctest: +SKIP
>>> out = tp(x1, x2, weights)                          # doctest: +SKIP

``import tpcore`` imports no array framework; backends load their framework when built.
"""

from tpcore.irreps import Irrep, Irreps, s2_irreps
from tpcore.spec import Path, TensorProductSpec

# Imported eagerly (numpy only) so that ``tpcore.reference`` is the function, not its module.
from tpcore.reference import oracle, reference  # noqa: E402

__version__ = "0.1.0"

_LAZY = {
    "build": "tpcore.registry",
    "build_conv": "tpcore.convolution",
    "available_backends": "tpcore.registry",
    "hookimpl": "tpcore.hookspecs",
    "lower": "tpcore.plan",
    "so3": None,
    "analysis": None,
}


def __getattr__(name):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'tpcore' has no attribute {name!r}")
    module = _LAZY[name]
    value = importlib.import_module(f"tpcore.{name}") if module is None else getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["Irrep", "Irreps", "s2_irreps", "Path", "TensorProductSpec", "reference", "oracle", *_LAZY]
