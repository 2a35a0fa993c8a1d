"""The conformance suite: every registered implementation computes what its spec says.

For each usable implementation (backend x variant x impl) and each spec of a fixed catalogue
(:data:`~tpcore.testing.catalogue.CATALOGUE`: every cgtp mode, several multiplicities, both
parities, odd and even paths, L up to 6; gtp/s2grid/mtp unweighted and weighted for L = 1..6) it
checks the forward pass against the float64 :func:`tpcore.reference`, O(3) equivariance, batch
shapes (including empty and broadcast), dtype and device preservation, per-sample weights, first
and second derivatives where the implementation claims them, clear errors on bad input, and the
convolution op (:func:`tpcore.build_conv`) where the backend offers one.
Tolerances (:data:`TOLERANCES`) belong to the suite; known failures are declared in one TOML file
and show up as strict xfails. ``tpcore check`` runs it from the command line.

A plugin author's whole test file (see docs/conformance.md)::

    import pytest
    from tpcore.testing import conformance_params, run_case

    @pytest.mark.parametrize("case", conformance_params(backend="mybackend"))
    def test_conformance(case):
        run_case(case)

    # optional: its own declared failures, and the quick subset for a fast CI job
    # conformance_params(backend="mybackend", quick=True, known_failures="tests/known_failures.toml")

Importing this module imports no test or array framework; pytest is imported by
:func:`conformance_params` only, frameworks by the backends' harnesses when a check runs.
"""

from tpcore.testing.catalogue import CATALOGUE, Case
from tpcore.testing.checks import CHECKS, TOLERANCES, ConformanceError
from tpcore.testing.known_failures import KnownFailure, load_known_failures
from tpcore.testing.params import ConformanceCase, conformance_cases, conformance_params, run_case

__all__ = [
    "CATALOGUE",
    "Case",
    "CHECKS",
    "TOLERANCES",
    "ConformanceError",
    "ConformanceCase",
    "conformance_cases",
    "conformance_params",
    "run_case",
    "KnownFailure",
    "load_known_failures",
]
