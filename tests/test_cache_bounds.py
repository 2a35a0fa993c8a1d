"""Every cache in the spec layer is bounded: building many distinct specs cannot grow memory forever.

Counted with ``cache_info`` (not RSS, which the allocator and frameworks make noisy).
"""

import importlib
import pkgutil

import numpy as np

import tpcore
from tpcore import TensorProductSpec, reference, s2_irreps
from tpcore.plan import lower

#: the modules of the spec layer whose caches this guards (frameworks' backends are separate)
MODULES = ["tpcore.plan", "tpcore.reference", "tpcore.coefficients", "tpcore.spec", "tpcore.cgtp_paths"] + [
    f"tpcore.so3.{m.name}" for m in pkgutil.iter_modules(importlib.import_module("tpcore.so3").__path__)
]


def _caches():
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", None) == name:
                yield f"{name}.{attr}", value


def test_every_cache_has_a_size_bound():
    caches = dict(_caches())
    assert "tpcore.plan.lower" in caches and "tpcore.so3.clebsch_gordan._wigner_3j" in caches
    unbounded = [name for name, f in caches.items() if f.cache_info().maxsize is None]
    assert unbounded == []


def _distinct_specs(n):
    """``n`` distinct specs of every variant (distinct multiplicities, so none is cached twice)."""
    for k in range(n):
        variant = ("cgtp", "gtp", "s2grid", "mtp")[k % 4]
        if variant == "cgtp":
            yield TensorProductSpec.cgtp(f"{k + 1}x0e + 1x1o", "1x0e + 1x1o", f"{k % 5 + 1}x0e + 2x1o")
        else:
            L = k % 3 + 1
            irreps = s2_irreps(L, mul=k // 4 + 1)
            yield getattr(TensorProductSpec, variant)(irreps, irreps, s2_irreps(L + 1, mul=k // 4 + 1))


def test_300_distinct_specs_leave_every_cache_within_its_bound():
    for spec in _distinct_specs(300):
        lower(spec)
        x1, x2 = np.ones((2, spec.irreps_in1.dim)), np.ones((2, spec.irreps_in2.dim))
        reference(spec, x1, x2, np.ones(spec.weight_numel) if spec.weight_numel else None)
    sizes = {name: f.cache_info() for name, f in _caches()}
    assert sizes["tpcore.plan.lower"].currsize == sizes["tpcore.plan.lower"].maxsize == 256
    assert sizes["tpcore.reference._reference_function"].currsize == 64
    for name, info in sizes.items():
        assert info.currsize <= info.maxsize, name


def test_the_plan_cache_is_the_one_tpcore_exports():
    assert tpcore.lower is lower
