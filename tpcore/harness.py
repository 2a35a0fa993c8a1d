"""How generic code drives any backend: the :class:`Harness`.

The conformance suite (:mod:`tpcore.testing`), ``tpcore report`` and the asv benchmarks work on
numpy arrays and on tensor products of any backend. A backend tells them how to move arrays in and
out, how to wait for a result and how to differentiate, by registering ``Backend(harness=...)``: a
zero-argument callable returning a :class:`Harness` (it may import the framework; it is only called
once the backend is known to be usable). Get one with ``get_registry().harness(name)``.

Every function takes and returns backend arrays; ``w`` is ``None`` for a spec without weights.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class Harness:
    """Array conversion, synchronization and differentiation for one backend.

    Subclasses override what their framework does differently. The defaults fit a namespace that
    follows numpy's API and runs eagerly (numpy itself); :meth:`vjp_function` and
    :meth:`vjp2_function` raise :class:`NotImplementedError` with the reason when the backend has no
    gradients of that order, which is what the asv suite and the conformance suite expect.
    """

    #: the backend this harness drives
    backend: str = ""

    def __init__(self, xp: Any = np):
        self.xp = xp

    # -- arrays ---------------------------------------------------------------------------------

    def asarray(self, x: np.ndarray, dtype: str, device: str | None = None):
        """A backend array holding a copy of ``x`` with ``dtype`` on ``device`` (None: the default)."""
        return self.xp.array(np.asarray(x), dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        """A float64 numpy copy of the backend array ``x``."""
        return np.array(x, dtype=np.float64)

    def dtype_name(self, x) -> str:
        """The dtype name of the backend array ``x``: ``"float32"`` or ``"float64"``."""
        return np.dtype(x.dtype).name

    def device_name(self, x) -> str:
        """Where the backend array ``x`` lives: ``"cpu"``, ``"cuda:0"``, ``"gpu:0"``."""
        return "cpu"

    def sync(self, x):
        """``x`` once it is computed (for timing); eager frameworks return at once."""
        return x

    # -- functions ------------------------------------------------------------------------------

    def forward_function(self, tp) -> Callable:
        """``f(x1, x2, w) -> out``, compiled where the framework compiles."""
        return lambda x1, x2, w: tp(x1, x2, w)

    def vjp_function(self, tp) -> Callable:
        """``f(x1, x2, w, g) -> (gx1, gx2, gw)``: gradients of ``sum(g * tp(x1, x2, w))``.

        ``gw`` is None when ``w`` is None.
        """
        raise NotImplementedError(f"the {self.backend} backend computes no gradients")

    def vjp2_function(self, tp) -> Callable:
        """``f(x1, x2, w, g, h1, h2) -> (a1, a2, aw)``: second-order products.

        ``(a1, a2, aw)`` are the gradients wrt ``(x1, x2, w)`` of ``sum(h1 * gx1) + sum(h2 * gx2)``,
        where ``(gx1, gx2, _)`` is :meth:`vjp_function`'s result for ``g``.
        """
        raise NotImplementedError(f"the {self.backend} backend computes no second derivatives")


class NumpyHarness(Harness):
    """The harness of the numpy backend (forward only)."""

    backend = "numpy"


__all__ = ["Harness", "NumpyHarness"]
