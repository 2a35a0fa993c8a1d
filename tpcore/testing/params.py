"""Enumerating the suite over the registry (:func:`conformance_cases`, :func:`conformance_params`) and
running one item (:func:`run_case`).

An item is a :class:`ConformanceCase`: implementation key x check x catalogue case x dtype (x device).
Only usable backends are enumerated (an unusable one yields nothing; ``tpcore check`` says why);
checks an implementation cannot have (gradients without ``grad_order``, modes it lacks, dtypes it
does not claim, for a kernel the cases its ``accepts`` declines) are not enumerated at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tpcore.testing.catalogue import CASES_BY_ID, CATALOGUE
from tpcore.testing.checks import CHECKS
from tpcore.testing.known_failures import DEFAULT_FILE, KnownFailure, find, load_known_failures

_PRECISION = ("float64", "float32")  # most precise first
_EVERY_DTYPE_WHEN_QUICK = ("forward", "dtype_device")


@dataclass(frozen=True)
class ConformanceCase:
    """One check of one implementation on one catalogue case in one dtype; ``id`` reads
    ``torch/cgtp/dense-forward-cgtp_uvw_small-float32``."""

    key: str
    check: str
    case: str
    dtype: str
    device: str | None = None
    known_failure: KnownFailure | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return "-".join([self.key, self.check, self.case, self.dtype] + ([self.device] if self.device else []))

    def __str__(self) -> str:
        return self.id


def _dtypes(registry, impl) -> list[str]:
    claimed = set(impl.capabilities.dtypes) & set(registry.backends[impl.backend].dtypes)
    return [d for d in _PRECISION if d in claimed]


def conformance_cases(
    backend: str | None = None,
    variant: str | None = None,
    impl: str | None = None,
    quick: bool = False,
    dtype: str | None = None,
    checks=None,
    device: str | None = None,
    known_failures: str | Path | None = None,
    registry=None,
) -> list[ConformanceCase]:
    """Every applicable :class:`ConformanceCase` of the usable implementations, filtered.

    ``quick`` takes the quick subset of the catalogue; ``checks`` a collection of check names
    (default: all); ``known_failures`` an extra TOML file of declared failures added to tpcore's.
    In ``quick`` mode only the forward and dtype checks run in every dtype; the others run in the
    most precise one (the quick mode is for a fast overview; the tests run every dtype).
    """
    from tpcore.registry import get_registry

    registry = registry or get_registry()
    known = load_known_failures(DEFAULT_FILE) + (load_known_failures(known_failures) if known_failures else ())
    unknown = set(checks or ()) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(sorted(unknown))}; the checks are {', '.join(CHECKS)}")
    out = []
    for implementation in registry.implementations(backend=backend, variant=variant):
        if (impl is not None and implementation.name != impl) or registry.reason(implementation.backend) is not None:
            continue
        modes = implementation.capabilities.modes
        dtypes = _dtypes(registry, implementation)
        for case in CATALOGUE:
            if case.variant != implementation.variant or (quick and not case.quick):
                continue
            if modes is not None and not case.modes <= modes:
                continue
            if not registry.accepts(implementation, case.spec):
                continue  # a kernel is checked on the descriptors it accepts
            for check in CHECKS.values():
                if (checks and check.name not in checks) or not check.applies(implementation, case):
                    continue
                for d in dtypes if check.every_dtype and (not quick or check.name in _EVERY_DTYPE_WHEN_QUICK) else dtypes[:1]:
                    if dtype is not None and d != dtype:
                        continue
                    failure = find(known, implementation.key, check.name, case.id, d)
                    out.append(ConformanceCase(implementation.key, check.name, case.id, d, device, failure))
    return out


def conformance_params(backend: str | None = None, variant: str | None = None, impl: str | None = None,
                       quick: bool = False, **kwargs) -> list:
    """:func:`conformance_cases` as ``pytest.param`` objects with readable ids; declared known failures
    carry ``pytest.mark.xfail(reason=..., strict=True)``, so a fixed failure shows up as XPASS(strict)."""
    import pytest

    params = []
    for case in conformance_cases(backend, variant, impl, quick, **kwargs):
        marks = () if case.known_failure is None else (pytest.mark.xfail(reason=case.known_failure.reason, strict=True),)
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def run_case(case: ConformanceCase, registry=None) -> float:
    """Run one item; returns the max relative error, raises :class:`~tpcore.testing.ConformanceError`."""
    from tpcore.registry import get_registry

    registry = registry or get_registry()
    backend, variant, name = case.key.split("/")
    (implementation,) = [i for i in registry.implementations(backend, variant) if i.name == name]
    return CHECKS[case.check](implementation, CASES_BY_ID[case.case], case.dtype, registry.harness(backend), case.device)


__all__ = ["ConformanceCase", "conformance_cases", "conformance_params", "run_case"]
