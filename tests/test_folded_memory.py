"""The folded cgtp strategy estimates its memory before allocating, refuses above a limit, and auto avoids it there."""

import time
import tracemalloc

import numpy as np
import pytest

from tpcore import TensorProductSpec, s2_irreps
from tpcore.plan import FOLDED_MAX_BYTES, FOLDED_MAX_BYTES_ENV, folded_bytes, folded_max_bytes, lower, resolve_strategy


def _plan_bytes(plan) -> int:
    """Bytes of the folded program's own arrays: scatter index/target/value, the constant part, and
    the matrix rebuilt per call (the size of the constant part or of ``weight_fold``'s output)."""
    consts = {name: a for name, a in plan.consts.items() if not name.startswith("per_sample_")}
    fold = [op for op in plan.ops if op.kind == "weight_fold"]
    rebuilt = 8 * int(np.prod(dict(fold[0].params)["shape"])) if fold else 0
    return sum(a.nbytes for name, a in consts.items() if name.startswith("T")) + rebuilt


@pytest.mark.parametrize(
    "spec",
    [
        TensorProductSpec.cgtp(s2_irreps(2, mul=3), s2_irreps(1), s2_irreps(2, mul=2)),
        TensorProductSpec.cgtp("2x0e + 1x1o", "2x1o", None, mode="uvuv"),
        TensorProductSpec.cgtp("2x0e + 2x1o", "1x0e + 1x1o", "2x0e + 2x1o",
                               instructions=[(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", False), (0, 1, 1, "uvu", True)]),
    ],
    ids=["weighted", "unweighted", "mixed"],
)
def test_the_estimate_is_what_the_folded_plan_allocates(spec):
    assert folded_bytes(spec) == _plan_bytes(lower(spec, "folded"))


def test_explicit_folded_is_refused_before_allocating():
    spec = TensorProductSpec.cgtp(s2_irreps(4, mul=32), s2_irreps(4, mul=32), s2_irreps(4, mul=32))
    assert folded_bytes(spec) > 8 * 800**3  # the dense (800*800, 800) matrix alone is 4 GB
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as err:
            lower(spec, "folded")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20 and time.perf_counter() - start < 30
    message = str(err.value)
    for words in ("'folded'", "GiB", "(800*800, 800)", "256.0 MiB", "'block'", FOLDED_MAX_BYTES_ENV, "FOLDED_MAX_BYTES"):
        assert words in message
    assert resolve_strategy(spec) != "folded"


def test_the_limit_is_read_from_the_environment(monkeypatch):
    linear = TensorProductSpec.cgtp("64x0e + 64x1o", "1x0e", "64x0e + 64x1o")
    need = folded_bytes(linear)
    monkeypatch.setenv(FOLDED_MAX_BYTES_ENV, str(need - 1))
    assert folded_max_bytes() == need - 1
    with pytest.raises(ValueError, match="strategy 'folded' would allocate"):
        lower(linear, "folded")
    monkeypatch.setenv(FOLDED_MAX_BYTES_ENV, f"{need:.6e}")
    assert lower(linear, "folded").strategy == "folded"


def test_the_limit_can_be_raised_for_an_explicit_request(monkeypatch):
    spec = TensorProductSpec.cgtp("3x0e + 3x1o", "1x0e + 2x1o", "3x0e + 3x1o + 1x1e")
    monkeypatch.setenv(FOLDED_MAX_BYTES_ENV, "1000")
    with pytest.raises(ValueError, match="above the limit of 1000 bytes"):
        lower(spec, "folded")
    monkeypatch.setenv(FOLDED_MAX_BYTES_ENV, "1e9")
    assert lower(spec, "folded").strategy == "folded"


@pytest.mark.parametrize("value", ["lots", "-5", "nan", "inf"])
def test_a_bad_limit_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(FOLDED_MAX_BYTES_ENV, value)
    with pytest.raises(ValueError, match=f"{FOLDED_MAX_BYTES_ENV} must be a number of bytes.*{value!r}"):
        folded_max_bytes()


def test_default_limit():
    assert FOLDED_MAX_BYTES == 256 * 2**20
