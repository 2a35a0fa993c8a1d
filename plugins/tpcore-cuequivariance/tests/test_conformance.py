"""tpcore's conformance suite over torch/cgtp/cuequivariance, on every catalogue case it accepts.

The full catalogue, not the quick subset: values, equivariance, batch shapes, dtypes, per-sample
weights, first and second derivatives against the float64 reference (tpcore.testing).
"""

import pytest

from tpcore.testing import conformance_params, run_case

CASES = conformance_params(backend="torch", impl="cuequivariance")


@pytest.mark.parametrize("case", CASES)
def test_conformance(case):
    run_case(case)
