import pytest

from tpcore.testing import conformance_params, run_case


@pytest.mark.parametrize("case", conformance_params(backend="example"))
def test_conformance(case):
    run_case(case)
