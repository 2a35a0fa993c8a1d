"""tpcore.dtypes: one normaliser for every dtype form, and framework conversions that import lazily."""

import subprocess
import sys

import numpy as np
import pytest

from tpcore.dtypes import DTYPES, dtype_name, jax_dtype, normalize_dtype, torch_dtype


@pytest.mark.parametrize("given", ["float32", " Float32 ", np.float32, np.dtype("float32"), "numpy.float32"])
def test_every_form_of_float32_normalizes_to_its_name(given):
    assert normalize_dtype(given) == "float32"


def test_framework_dtypes_normalize_by_name():
    torch = pytest.importorskip("torch")
    assert normalize_dtype(torch.float64) == "float64" and normalize_dtype(torch.float) == "float32"
    jnp = pytest.importorskip("jax.numpy")
    assert normalize_dtype(jnp.float32) == "float32"


@pytest.mark.parametrize("bad", ["float16", "int64", complex, None, 3])
def test_a_bad_dtype_error_names_the_argument_the_accepted_and_the_given(bad):
    with pytest.raises(ValueError) as info:
        normalize_dtype(bad, argument="x1.dtype")
    message = str(info.value)
    assert message.startswith(f"unsupported x1.dtype {bad!r}: x1.dtype must be float32 or float64")


def test_dtype_name_reads_any_framework_array():
    assert dtype_name(np.zeros(2, np.float32)) == "float32" and dtype_name(np.zeros(2, np.int64)) == "int64"
    torch = pytest.importorskip("torch")
    assert dtype_name(torch.zeros(2, dtype=torch.float64)) == "float64"
    assert dtype_name(torch.zeros(2, dtype=torch.complex64)) == "complex64"
    jnp = pytest.importorskip("jax.numpy")
    assert dtype_name(jnp.zeros(2, jnp.float32)) == "float32"


def test_torch_dtype_converts_every_form():
    torch = pytest.importorskip("torch")
    assert [torch_dtype(name) for name in DTYPES] == [torch.float32, torch.float64]
    assert torch_dtype(np.float64) is torch.float64 and torch_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match="unsupported dtype torch.float16: dtype must be float32 or float64"):
        torch_dtype(torch.float16)


def test_jax_dtype_refuses_float64_while_64_bit_types_are_off():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", False)
        assert jax_dtype("float32") == np.float32
        with pytest.raises(ValueError, match="dtype float64 was requested, but JAX is running with 64-bit types disabled"):
            jax_dtype(np.float64)
        jax.config.update("jax_enable_x64", True)
        assert jax_dtype("float64") == np.float64
    finally:
        jax.config.update("jax_enable_x64", before)


def test_importing_the_module_imports_no_framework():
    code = "import sys, tpcore.dtypes, tpcore.devices, tpcore.validation\nprint(sorted({'torch', 'jax', 'cupy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
