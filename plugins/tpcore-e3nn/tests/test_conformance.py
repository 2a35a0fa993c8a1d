"""The conformance suite over the two implementations this plugin adds (and nothing else).

torch/cgtp/e3nn takes the whole catalogue; jax/cgtp/e3nn_jax the quick subset, because XLA compiles
every (spec, dtype, transformation) anew: the full catalogue passes too, but takes several times longer.
"""

import pytest

from tpcore.testing import conformance_params, run_case

CASES = conformance_params(backend="torch", impl="e3nn") + conformance_params(backend="jax", impl="e3nn_jax", quick=True)


@pytest.mark.parametrize("case", CASES)
def test_conformance(case):
    run_case(case)
