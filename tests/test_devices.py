"""tpcore.devices: device names from strings or framework devices, and lazy framework conversions."""

import importlib.util

import pytest

from tpcore.devices import (
    device_kind,
    jax_device,
    jax_device_kinds,
    jax_device_name,
    normalize_device,
    torch_device,
    torch_device_kinds,
)


@pytest.mark.parametrize("given, name", [(None, None), ("cpu", "cpu"), (" CUDA:1 ", "cuda:1"), ("gpu", "gpu")])
def test_strings_normalize_to_lower_case_names(given, name):
    assert normalize_device(given) == name


def test_framework_devices_normalize_without_being_imported_here():
    torch = pytest.importorskip("torch")
    assert normalize_device(torch.device("cuda", 1)) == "cuda:1" and normalize_device(torch.device("cpu")) == "cpu"
    jax = pytest.importorskip("jax")
    assert normalize_device(jax.devices("cpu")[0]) == "cpu:0"


@pytest.mark.parametrize("bad", ["cuda:x", "", "cuda:1:2", "1"])
def test_a_malformed_name_error_names_the_argument_the_forms_and_the_given(bad):
    with pytest.raises(ValueError) as info:
        normalize_device(bad, argument="target")
    message = str(info.value)
    assert message.startswith("target must be None, a string 'kind' or 'kind:N'") and message.endswith(f"got {bad!r}")


def test_a_device_of_an_unknown_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"device must be None, a string .* got builtins.int 3"):
        normalize_device(3)


def test_kind_is_the_part_before_the_colon():
    assert device_kind("cuda:3") == "cuda" and device_kind("CPU") == "cpu"
    with pytest.raises(ValueError, match="device must name a device to have a kind; got None"):
        device_kind(None)


def test_torch_device_checks_the_kind_and_the_count():
    torch = pytest.importorskip("torch")
    assert torch_device(None) == torch.device("cpu") and torch_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'tpu' is not a torch device"):
        torch_device("tpu")
    with pytest.raises(ValueError, match="device 'meta' is not supported by the tpcore torch backend"):
        torch_device("meta")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(RuntimeError, match="cuda:99"):
        torch_device("cuda:99")
    assert count < 99


def test_jax_device_round_trips_through_its_name():
    jax = pytest.importorskip("jax")
    cpu = jax.devices("cpu")[0]
    assert jax_device("cpu") == cpu and jax_device(None) is None and jax_device(cpu) is cpu
    assert jax_device_name(cpu) == "cpu:0" and jax_device(jax_device_name(cpu)) == cpu
    with pytest.raises(ValueError, match="device 'tpu' is not a jax device tpcore supports"):
        jax_device("tpu")


def test_device_kinds_when_the_framework_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "jax") else real(name, *a))
    assert torch_device_kinds() == ("cpu",) and jax_device_kinds() == ("cpu",)
