"""FLOPs and coefficient memory of a spec's strategies, and their growth with ``L``.

The model itself is the core's :mod:`tpcore.cost` (read off the path-level descriptor, so the
strategy choice in :mod:`tpcore.plan` uses the same numbers); this module applies it to specs and
adds what analysis needs: the FLOPs of a registered implementation, the plan's actual coefficient
bytes, and the scaling of the full products with ``L``.
"""

from __future__ import annotations

import numpy as np

from tpcore import cost
from tpcore.cost import MODEL_STRATEGIES, channelwise_flops
from tpcore.descriptor import describe
from tpcore.irreps import s2_irreps
from tpcore.spec import TensorProductSpec


def flops(spec: TensorProductSpec) -> dict[str, int]:
    """FLOPs per sample of each modelled strategy of ``spec`` (see :data:`MODEL_STRATEGIES`)."""
    return cost.flops(describe(spec))


def coefficient_bytes(spec: TensorProductSpec, itemsize: int = 8) -> dict[str, int]:
    """Bytes of the float coefficient tables of each modelled strategy, at ``itemsize`` per float."""
    return cost.coefficient_bytes(describe(spec), itemsize)


def implementation_flops(spec: TensorProductSpec, impl: str) -> int:
    """FLOPs per sample of implementation ``impl`` of ``spec``: its strategy's model (``auto``
    resolved), or for implementations the models do not cover (plugins) the variant's first."""
    from tpcore.plan import STRATEGIES, resolve_strategy

    counts = flops(spec)
    strategy = resolve_strategy(spec, impl) if impl in STRATEGIES[spec.variant] else impl
    return int(counts.get(strategy, next(iter(counts.values()))))


def plan_coefficient_bytes(spec: TensorProductSpec, strategy: str | None = None, itemsize: int = 8) -> int:
    """Bytes of the float/complex coefficient arrays of the spec's lowered plan (index arrays excluded)."""
    from tpcore.plan import lower

    total = 0
    for value in lower(spec, strategy).consts.values():
        if value.dtype.kind in "fc":
            total += value.size * itemsize * (2 if value.dtype.kind == "c" else 1)
    return total


# -- growth with L --------------------------------------------------------------------------------


def full_product_spec(variant: str, L: int, channels: int = 1) -> TensorProductSpec:
    """The variant's product of two signals ``s2_irreps(L)`` with every output up to ``2L``.

    cgtp: e3nn's ``FullTensorProduct`` (one output irrep per path); gtp/s2grid/mtp: the channel-wise
    product into ``s2_irreps(2L)``. Used to compare variants at equal inputs.
    """
    x = s2_irreps(L, mul=channels)
    if variant == "cgtp":
        if channels != 1:
            raise ValueError(f"the cgtp full product mixes channels (uvuv); use channels=1, got {channels}")
        return TensorProductSpec.cgtp(x, x, None, mode="uvuv")
    return getattr(TensorProductSpec, variant)(x, x, s2_irreps(2 * L, mul=channels))


def scaling(variant: str, Ls, channels: int = 1) -> dict[str, list[int]]:
    """FLOPs per sample of each modelled strategy of :func:`full_product_spec` for each ``L`` in ``Ls``.

    Channel-wise variants are costed from their degrees alone, without building the spec (whose
    path factors are expensive at large ``L``).
    """
    table: dict[str, list[int]] = {s: [] for s in MODEL_STRATEGIES[variant]}
    for L in Ls:
        if variant == "cgtp":
            costs = flops(full_product_spec(variant, L, channels))
        else:
            x = s2_irreps(L, mul=channels)
            costs = channelwise_flops(variant, x, x, s2_irreps(2 * L, mul=channels), channels)
        for strategy, n in costs.items():
            table[strategy].append(n)
    return table


def growth_exponent(Ls, costs) -> float:
    """Least-squares slope of ``log(cost)`` against ``log(L)``: cost ~ L^slope over that range."""
    slope, _ = np.polyfit(np.log(np.asarray(Ls, dtype=float)), np.log(np.asarray(costs, dtype=float)), 1)
    return float(slope)
