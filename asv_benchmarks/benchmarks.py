"""asv benchmarks of tpcore: every backend x variant x L x batch, plus implementations side by side.

The pattern is scipy's ``XPBenchmark``: the backend is a parameter, ``setup`` builds the tensor
product with ``tpcore.build``, moves inputs with the backend's Harness, compiles and runs it once,
and raises ``NotImplementedError`` (asv's "skip") where the combination does not exist; each timed
call blocks until the device is done (``Harness.sync``). The workloads come from
:mod:`tpcore.report.workloads`, the same ones ``tpcore report`` measures.

Parameters are fixed lists, not read from the registry, so that graphs line up across commits.
``TPCORE_ASV_PROFILE=quick`` shrinks them for CI (docs/benchmarks.md).
"""

import os

from tpcore.registry import get_registry
from tpcore.report.timing import prepare
from tpcore.report.workloads import workload_spec

QUICK = os.environ.get("TPCORE_ASV_PROFILE", "full") == "quick"

BACKENDS = ["numpy", "torch", "jax"] if QUICK else ["numpy", "torch", "jax", "cupy"]
VARIANTS = ["cgtp", "gtp", "s2grid", "mtp"]
LS = [1, 2] if QUICK else [1, 2, 3, 4, 5, 6, 7, 8]
BATCHES = [64] if QUICK else [1000, 10000]
#: "variant/impl" pairs compared by Implementations; a backend without one skips it
IMPLS = ["cgtp/dense", "cgtp/sparse", "cgtp/block", "cgtp/folded", "cgtp/e3nn", "cgtp/e3nn_jax", "gtp/fft", "gtp/direct",
         "s2grid/matrix", "s2grid/fft", "mtp/matmul"]
IMPL_LS = [2] if QUICK else LS
DTYPE = "float32"

# Probing the backends imports their frameworks once here, in the process asv forks each
# benchmark from, instead of once per benchmark and parameter set (seconds each).
get_registry().available()


class TensorProduct:
    """The variant's default implementation on each backend: time, peak memory, error."""

    params = (BACKENDS, VARIANTS, LS, BATCHES)
    param_names = ("backend", "variant", "L", "batch")
    timeout = 300  # setup compiles and builds coefficients

    def setup(self, backend, variant, L, batch):
        self.tp = prepare(backend, workload_spec(variant, L), None, batch, DTYPE)

    def time_forward(self, backend, variant, L, batch):
        self.tp.forward()

    def peakmem_forward(self, backend, variant, L, batch):
        self.tp.forward()

    def track_max_error(self, backend, variant, L, batch):
        """max |out - reference| / max |reference| of a float32 run against the float64 reference."""
        return self.tp.max_error()

    track_max_error.unit = "relative error"


class TensorProductBackward:
    """Forward and backward (input and weight gradients) of the default implementation."""

    params = TensorProduct.params
    param_names = TensorProduct.param_names
    timeout = 300

    def setup(self, backend, variant, L, batch):
        self.tp = prepare(backend, workload_spec(variant, L), None, batch, DTYPE)
        if self.tp.vjp_fn is None:
            raise NotImplementedError(self.tp.no_grad_reason)

    def time_forward_backward(self, backend, variant, L, batch):
        self.tp.forward_backward()


class Flops:
    """FLOPs per sample of the strategy the backend picks by default (tpcore.analysis.flops)."""

    params = (BACKENDS, VARIANTS, LS)
    param_names = ("backend", "variant", "L")

    def setup(self, backend, variant, L):
        from tpcore.errors import TpcoreError
        from tpcore.registry import get_registry

        self.spec = workload_spec(variant, L)
        try:
            self.impl = get_registry().select(self.spec, backend=backend, dtype=DTYPE).name
        except TpcoreError as exc:
            raise NotImplementedError(str(exc).splitlines()[0]) from exc

    def track_flops(self, backend, variant, L):
        from tpcore.analysis import implementation_flops

        return implementation_flops(self.spec, self.impl)

    track_flops.unit = "FLOPs per sample"


class Implementations:
    """Implementations of a variant side by side, by name, e3nn peers included (cgtp workload)."""

    params = (BACKENDS, IMPLS, IMPL_LS)
    param_names = ("backend", "implementation", "L")
    timeout = 300

    def setup(self, backend, implementation, L):
        variant, impl = implementation.split("/")
        self.tp = prepare(backend, workload_spec(variant, L), impl, BATCHES[0], DTYPE)

    def time_forward(self, backend, implementation, L):
        self.tp.forward()
