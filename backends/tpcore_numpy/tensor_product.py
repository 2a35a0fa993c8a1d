""":class:`NumpyTensorProduct`: a plan executed with numpy, described like the torch and jax builds."""

from __future__ import annotations

from tpcore.execute import PlanFunction


class NumpyTensorProduct(PlanFunction):
    """``tp(x1, x2, weights=None)`` on numpy arrays (see :class:`tpcore.execute.PlanFunction`).

    ``strategy`` is the lowering strategy its plan used, ``auto`` resolved, as on the torch and jax
    builds; it pickles and deep-copies as ``(spec, strategy, dtype)``.
    """

    @property
    def strategy(self) -> str:
        return self.plan.strategy

    def __repr__(self) -> str:
        return (f"NumpyTensorProduct({self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> "
                f"{self.spec.irreps_out}, strategy={self.strategy}, dtype={self.dtype.name})")
