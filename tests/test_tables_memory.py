"""gtp, s2grid and mtp refuse, before allocating, coefficient tables past ``tpcore.plan.TABLES_MAX_BYTES`` (issue 28 item 2)."""

import time
import tracemalloc

import pytest

from tpcore import TensorProductSpec, build, s2_irreps, so3
from tpcore.coefficients import gtp_from_fourier, mtp_basis
from tpcore.cost import channelwise_tables
from tpcore.plan import TABLES_MAX_BYTES, TABLES_MAX_BYTES_ENV, check_tables_size, lower, tables_max_bytes
from tpcore.registry import get_registry

#: the specs of the issue: each allocated until MemoryError (gtp passed 6 GiB after 16 s)
HUGE = {
    "gtp_l200": (TensorProductSpec.gtp, "1x200e", "1x0e", "1x200e", "96.8 GiB for the spherical harmonics' Fourier coefficients up to l = 200"),
    "s2grid_l200": (TensorProductSpec.s2grid, "1x200e", "1x0e", "1x200e", "spherical harmonics on the 201x401 grid (l <= 200)"),
    "gtp_l60_l60": (TensorProductSpec.gtp, "1x60e", "1x60e", "1x120e", "Fourier coefficients up to l = 120"),
    "mtp_l200": (TensorProductSpec.mtp, "1x200e", "1x0e", "1x200e", "(10201, 10201, 401) matrix embedding"),
}


@pytest.mark.parametrize("name", HUGE)
def test_huge_gaunt_specs_are_refused_before_anything_is_allocated(name, tpcore_env):
    constructor, in1, in2, out, largest = HUGE[name]
    spec = constructor(in1, in2, out)
    get_registry()  # load the plugins outside the measurement
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as err:
            build(spec, backend="numpy")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20 and time.perf_counter() - start < 2
    message = str(err.value)
    for words in ("GiB of coefficient tables", largest, "above the limit of 2.0 GiB", TABLES_MAX_BYTES_ENV,
                  "tpcore.plan.TABLES_MAX_BYTES"):
        assert words in message


def _clear_table_caches():
    for cached in (so3.fourier._sh_to_fourier, so3.fourier._fourier_to_sh, gtp_from_fourier, mtp_basis, so3.grids._s2_grid, lower):
        cached.cache_clear()


@pytest.mark.parametrize("variant, strategy, L", [("gtp", "fft", 6), ("gtp", "direct", 6), ("s2grid", "matrix", 6),
                                                  ("s2grid", "fft", 6), ("mtp", "matmul", 5)])
def test_the_estimate_is_the_size_of_what_lowering_allocates(variant, strategy, L):
    """The estimate against the peak that tracemalloc measures while the plan is lowered from cold caches."""
    spec = getattr(TensorProductSpec, variant)(s2_irreps(L), s2_irreps(L), s2_irreps(2 * L))
    estimate = sum(channelwise_tables(spec, strategy).values())
    _clear_table_caches()
    tracemalloc.start()
    try:
        lower(spec, strategy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        _clear_table_caches()
    assert 0.5 * estimate < peak < 3 * estimate


@pytest.mark.parametrize("variant", ["gtp", "s2grid", "mtp"])
def test_degrees_up_to_ten_are_far_below_the_limit(variant):
    spec = getattr(TensorProductSpec, variant)(s2_irreps(10), s2_irreps(10), s2_irreps(20))
    for strategy in {"gtp": ("fft", "direct"), "s2grid": ("matrix", "fft"), "mtp": ("matmul",)}[variant]:
        check_tables_size(spec, strategy)
        assert sum(channelwise_tables(spec, strategy).values()) < TABLES_MAX_BYTES / 16


def test_the_limit_is_read_from_the_environment(monkeypatch):
    spec = TensorProductSpec.gtp(s2_irreps(2), s2_irreps(1), s2_irreps(3))
    monkeypatch.setenv(TABLES_MAX_BYTES_ENV, "1000")
    assert tables_max_bytes() == 1000
    lower.cache_clear()
    with pytest.raises(ValueError, match="above the limit of 1000 bytes"):
        lower(spec)
    monkeypatch.setenv(TABLES_MAX_BYTES_ENV, "1e9")
    assert lower(spec).strategy == "fft"
    monkeypatch.setenv(TABLES_MAX_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=f"{TABLES_MAX_BYTES_ENV} must be a number of bytes.*'lots'"):
        tables_max_bytes()


def test_default_limit():
    assert TABLES_MAX_BYTES == 2 * 2**30
