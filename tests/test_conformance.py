"""The conformance suite (tpcore.testing) over every first-party implementation.

Enumerated from the registry, so implementations added to numpy/torch/jax are covered without
editing this file. Budget: the whole file runs in under 3 minutes on 2 cores; every check runs
on the whole catalogue for numpy and torch, while jax, whose every new input signature is a jit
compilation, runs the quick subset of the catalogue (float32 gradients are left to
tests/test_backend_jax.py) plus the float64 forward pass on all of it, and the convolution op on
its default cgtp implementation only (the op is the same wrapper around every product; the
generic and the grouped form are both among its cases).
"""

import pytest

from tpcore.registry import get_registry
from tpcore.testing import conformance_params, run_case

#: tpcore's own plugins register under the distribution "tpcore"; third-party implementations on
#: the same backends (e.g. the e3nn plugin's) are tested by their own packages.
FIRST_PARTY = "tpcore"
CONV = {"conv", "conv_equivariance", "conv_grad", "conv_grad2"}


def _first_party_keys() -> set[str]:
    return {key for p in get_registry().plugins if p.source.split(" ")[0] == FIRST_PARTY for key in p.implementations}


def _params():
    keys = _first_party_keys()
    params = conformance_params(backend="numpy") + conformance_params(backend="torch")
    params += [p for p in conformance_params(backend="jax", quick=True) if p.values[0].check not in CONV
               and (p.values[0].dtype == "float64" or p.values[0].check not in ("grad", "per_sample_weights"))]
    params += conformance_params(backend="jax", variant="cgtp", impl="auto", checks=CONV, dtype="float64")
    params += [p for p in conformance_params(backend="jax", checks={"forward"}, dtype="float64")
               if p not in params]
    return [p for p in params if p.values[0].key in keys]


# the jax implementations claim float64, which needs jax's 64-bit types (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("jax_x64")


PARAMS = _params()


def test_every_usable_first_party_backend_is_covered():
    covered = {p.values[0].key.split("/")[0] for p in PARAMS}
    registry = get_registry()
    usable = {b for b in ("numpy", "torch", "jax") if b in registry.backends and registry.reason(b) is None}
    assert covered == usable
    assert {p.values[0].check for p in PARAMS if p.values[0].key.startswith("torch/")} == {
        "forward", "equivariance", "batch_shapes", "dtype_device", "per_sample_weights", "grad", "grad2", "bad_input",
        "conv", "conv_equivariance", "conv_grad", "conv_grad2"}


@pytest.mark.parametrize("case", PARAMS)
def test_conformance(case):
    run_case(case)
