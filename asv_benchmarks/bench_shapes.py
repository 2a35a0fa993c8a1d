"""asv benchmarks of the shapes real models use, tpcore beside its e3nn peer (``tpcore compare``'s shapes).

The shapes are :data:`tpcore.report.workloads.SHAPES` (fc8/fc16/fc32, fc_sh, the MACE convolutions
conv16/32/128 with per-edge weights, full, uuu). ``impl`` is ``tpcore`` (the backend's default
implementation) or ``peer`` (e3nn on torch, e3nn-jax on jax); a combination that cannot run, or an
``L`` past the shape's CPU limit, raises ``NotImplementedError`` in ``setup`` and asv skips it.
``TPCORE_ASV_PROFILE=quick`` keeps three shapes at ``L = 1`` on torch (CI stays within minutes).
"""

import os

from tpcore.report.compare import runs_at
from tpcore.report.memory import peak_memory
from tpcore.report.timing import prepare
from tpcore.report.workloads import SHAPES, peer_on

QUICK = os.environ.get("TPCORE_ASV_PROFILE", "full") == "quick"

BACKENDS = ["torch"] if QUICK else ["torch", "jax"]
IMPLS = ["tpcore", "peer"]
NAMES = ["fc8", "conv16", "uuu"] if QUICK else list(SHAPES)
LS = [1] if QUICK else [1, 2, 3, 4, 5, 6]
BATCH = 64 if QUICK else 1000
DTYPE = "float32"


def _prepare(backend, impl, name, L, batch):
    if not runs_at(name, L, None):
        raise NotImplementedError(f"{name} stops at L={SHAPES[name].max_L_cpu} on a CPU")
    return prepare(backend, SHAPES[name].spec(L), None if impl == "tpcore" else peer_on(backend), batch, DTYPE,
                   per_sample_weights=SHAPES[name].per_sample_weights)


class Shape:
    """Forward, forward+backward and peak memory of one shape at ``BATCH`` rows (edges)."""

    params = (BACKENDS, IMPLS, NAMES, LS)
    param_names = ("backend", "impl", "shape", "L")
    timeout = 300

    def setup(self, backend, impl, name, L):
        self.tp = _prepare(backend, impl, name, L, BATCH)

    def time_forward(self, backend, impl, name, L):
        self.tp.forward()

    def time_forward_backward(self, backend, impl, name, L):
        self.tp.forward_backward()

    def track_memory(self, backend, impl, name, L):
        """Bytes of one forward+backward, as :func:`tpcore.report.memory.peak_memory` counts them."""
        bytes_, _ = peak_memory(self.tp)
        if bytes_ is None:
            raise NotImplementedError(f"no memory measurement on {backend}")
        return bytes_

    track_memory.unit = "bytes"


class ShapeCall:
    """The overhead of one call: the forward of a single row."""

    params = Shape.params
    param_names = Shape.param_names
    timeout = 300

    def setup(self, backend, impl, name, L):
        self.tp = _prepare(backend, impl, name, L, 1)

    def time_batch1(self, backend, impl, name, L):
        self.tp.forward()
