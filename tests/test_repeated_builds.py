"""Repeated builds of one spec leave nothing behind once the built objects are gone (issue 28 item 12).

torch: torch.fx kept the generated source of every program in ``linecache`` (two entries per
build, 11 MB over 1000 builds). jax: ``jnp.einsum`` makes a new ``jax.jit`` on every call, and jax
cached each trace of it, so every traced build added entries to jax's own caches (9 MB over 450).
"""

import gc
import linecache

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec

SPEC = TensorProductSpec.cgtp("2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o")


def _fx_entries() -> int:
    from torch.fx import graph_module

    return sum(key.startswith("<eval_with_key>.") for key in linecache.cache) + len(graph_module._loader.eval_cache)


def test_the_source_of_a_collected_fx_program_is_forgotten():
    torch = pytest.importorskip("torch")
    from tpcore_torch.linecache_bound import forget_source_when_collected

    class Scale(torch.nn.Module):
        def forward(self, x):
            return 2 * x + 1

    gc.collect()  # programs of earlier tests, collected now rather than while this one counts
    gc.disable()
    try:
        before = _fx_entries()
        program = torch.fx.symbolic_trace(Scale())
        key = type(program).forward.__code__.co_filename
        assert _fx_entries() == before + 2  # linecache and torch.fx's loader
    finally:
        gc.enable()
    forget_source_when_collected(torch.nn.Sequential(program))  # submodules are found
    forget_source_when_collected(program)  # once is enough
    assert "2 * x" in "".join(linecache.getlines(key))  # readable while the program lives
    del program
    gc.collect()
    assert _fx_entries() == before and key not in linecache.cache


def test_a_module_without_generated_code_is_left_alone():
    torch = pytest.importorskip("torch")
    from tpcore_torch.linecache_bound import forget_source_when_collected

    before = dict(linecache.cache)
    forget_source_when_collected(torch.nn.Linear(2, 2))
    assert linecache.cache.keys() == before.keys()


def test_repeated_torch_builds_keep_no_source():
    pytest.importorskip("torch")
    tpcore.build(SPEC, backend="torch")
    gc.collect()
    before = _fx_entries()
    for _ in range(5):
        tpcore.build(SPEC, backend="torch")
    gc.collect()
    assert _fx_entries() == before


def test_repeated_jax_builds_add_no_entries_to_jax_trace_caches():
    jax = pytest.importorskip("jax")
    pjit = pytest.importorskip("jax._src.pjit")
    cache = pjit._infer_params_cached  # jax's cache of traces, per jitted function and signature
    spec = TensorProductSpec.cgtp("0e", "0e", "0e")
    x = np.ones((2, 1), np.float32)

    def build_and_call():
        tp = tpcore.build(spec, backend="jax", impl="dense")  # an einsum per path
        jax.block_until_ready(tp(x, x, np.ones(1, np.float32)))

    jax.clear_caches()  # a cache filled to its maxsize by earlier tests evicts, and counts nothing
    build_and_call()
    gc.collect()
    before = cache.cache_info().currsize
    for _ in range(2):
        build_and_call()
    gc.collect()
    assert cache.cache_info().currsize == before
