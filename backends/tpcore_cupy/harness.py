"""The cupy backend's :class:`~tpcore.harness.Harness`: CUDA arrays and the explicit ``tp.vjp``.

Also usable over numpy (``CupyHarness(numpy)``), which is how the cupy code path is tested on CPU.
"""

from __future__ import annotations

import numpy as np

from tpcore.harness import Harness


class CupyHarness(Harness):
    backend = "cupy"

    def __init__(self, xp=None):
        if xp is None:
            import cupy as xp
        super().__init__(xp)

    def asarray(self, x, dtype, device=None):
        if self.xp is np:
            return np.array(x, dtype=dtype)
        index = None if device in (None, "cuda") else int(str(device).partition(":")[2])
        with self.xp.cuda.Device(index if index is not None else self.xp.cuda.runtime.getDevice()):
            return self.xp.array(np.asarray(x), dtype=dtype)

    def to_numpy(self, x):
        host = x if self.xp is np else self.xp.asnumpy(x)
        return np.array(host, dtype=np.float64)

    def device_name(self, x):
        return "cpu" if self.xp is np else f"cuda:{x.device.id}"

    def sync(self, x):
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()
        return x

    def vjp_function(self, tp):
        def vjp(x1, x2, w, g):
            _, pullback = tp.vjp(x1, x2, w)
            return pullback(g)

        return vjp
