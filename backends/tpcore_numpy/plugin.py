"""Registers the numpy backend: every variant, every lowering strategy, float32 and float64."""

from __future__ import annotations

from functools import partial

from tpcore.harness import NumpyHarness
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, Implementation

_CAPABILITIES = Capabilities(
    modes=None,
    dtypes=frozenset({"float32", "float64"}),
    devices=frozenset({"cpu"}),
    grad_order=0,
    jit=False,
    per_sample_weights=True,
)


def _build(spec, *, device, dtype, strategy):
    import numpy as np

    from tpcore.execute import ArrayOps, PlanFunction

    return PlanFunction(spec, ArrayOps(np), dtype, strategy)


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="numpy",
            probe=lambda: None,
            priority=90,
            default_dtype="float64",
            description="NumPy on the CPU; no gradients. Always available.",
            harness=NumpyHarness,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    from tpcore.plan import STRATEGIES

    for variant, strategies in STRATEGIES.items():
        for rank, strategy in enumerate(strategies):
            register(
                Implementation(
                    backend="numpy",
                    variant=variant,
                    name=strategy,
                    factory=partial(_build, strategy=strategy),
                    capabilities=_CAPABILITIES,
                    priority=rank,
                    description=f"{variant} plan, {strategy} strategy, executed with numpy",
                )
            )
