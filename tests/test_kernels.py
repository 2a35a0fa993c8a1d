"""Kernels: implementations that compute only the descriptors their ``accepts`` takes (issue 15, plugin granularity)."""

from typing import NamedTuple

import numpy as np
import pytest

from tpcore import TensorProductSpec, hookimpl
from tpcore.errors import CapabilityError
from tpcore.reference import oracle
from tpcore.registry import Backend, Implementation, build, register_plugin, select
from tpcore.testing import conformance_cases

UVU = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o + 2x1e", mode="uvu")
UVW = TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o", mode="uvw")
seen = []


def only_uvu(d):
    seen.append(d)
    return d.modes == {"uvu"}


class Built(NamedTuple):
    """What a factory returns: a callable (build checks a kernel's), labelled with who built it."""

    label: str
    spec: TensorProductSpec

    def __call__(self, x1, x2, weights=None):
        raise NotImplementedError


def general(spec, *, device, dtype):
    return Built("general", spec)


def kernel(spec, *, device, dtype):
    return Built("kernel", spec)


def plugin(accepts=only_uvu):
    class Plugin:
        @hookimpl
        def tpcore_register_backends(self, register):
            register(Backend("cpu", lambda: None))

        @hookimpl
        def tpcore_register_implementations(self, register):
            register(Implementation("cpu", "cgtp", "general", general, priority=10))
            register(Implementation("cpu", "cgtp", "uvu_kernel", kernel, priority=0, accepts=accepts))

    return Plugin()


def test_a_kernel_takes_the_descriptors_it_accepts_and_leaves_the_rest(entry_points):
    register_plugin(plugin(), name="cpu-plugin")
    assert build(UVU)[0] == "kernel"
    assert build(UVW)[0] == "general"
    assert seen and all(hasattr(d, "paths") and hasattr(d, "in1") for d in seen)  # it is shown the descriptor


def test_a_kernel_asked_for_by_name_that_declines_the_spec_says_so(entry_points):
    register_plugin(plugin(), name="cpu-plugin")
    with pytest.raises(CapabilityError, match="cpu/cgtp/uvu_kernel is a kernel for other descriptors"):
        select(UVW, impl="uvu_kernel")


def test_accepts_must_be_callable():
    with pytest.raises(TypeError, match="accepts must be None or a callable"):
        Implementation("cpu", "cgtp", "k", kernel, accepts=True)


def test_the_conformance_suite_runs_a_kernel_on_the_cases_it_accepts_only():
    cases = {c.case for c in conformance_cases(backend="example", impl="convolution")}
    assert cases == {"cgtp_conv_uvu"}


def test_the_example_kernel_equals_the_oracle_with_per_edge_weights():
    from tpcore.testing.catalogue import CASES_BY_ID

    spec = CASES_BY_ID["cgtp_conv_uvu"].spec
    tp = build(spec, backend="example", dtype="float64")
    assert type(tp).__name__ == "ConvolutionKernel"
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((5, spec.irreps_in1.dim)), rng.standard_normal((5, spec.irreps_in2.dim))
    w = rng.standard_normal((5, spec.weight_numel))
    np.testing.assert_allclose(tp(x1, x2, w), oracle(spec, x1, x2, w), atol=1e-12)
