"""Devices by name ("cpu", "cuda", "cuda:1", "gpu:0") and their conversions to framework devices.

A device is named ``kind`` or ``kind:index``; the kind is what capabilities list
(``Capabilities(devices={"cpu", "cuda"})``). :func:`normalize_device` accepts that string or a
framework's device object (``torch.device``, a ``jax.Device``, a ``cupy.cuda.Device``) and reads
it without importing any framework. The conversions (:func:`torch_device`, :func:`jax_device`)
import their framework when called; :func:`torch_device_kinds` and :func:`jax_device_kinds` tell
what an installation offers without importing it at all. Part of the public plugin API
(docs/plugins.md).
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
from pathlib import Path

_FORMS = "None, a string 'kind' or 'kind:N' such as 'cpu', 'cuda' or 'cuda:1', or a torch, jax or cupy device"
_NAME = re.compile(r"[a-z][a-z0-9_]*(:\d+)?")
#: the jax platforms tpcore builds for
JAX_PLATFORMS = ("cpu", "gpu")
# jax >= 0.4.30 gets its GPU support from separately installed PJRT plugins (jax-cuda12-plugin,
# jax-rocm60-plugin, ...); their presence tells "gpu" apart without importing jax.
_JAX_GPU_PLUGIN = re.compile(r"jax_(cuda|rocm)\d*_plugin$")


def normalize_device(device, argument: str = "device") -> str | None:
    """``device`` as a lower-case name "kind" or "kind:N"; None stays None (the backend's default)."""
    if device is None:
        return None
    if isinstance(device, str):
        name = device.strip().lower()
    elif isinstance(getattr(device, "type", None), str) and hasattr(device, "index"):  # torch.device
        name = device.type if device.index is None else f"{device.type}:{device.index}"
    elif isinstance(getattr(device, "platform", None), str) and isinstance(getattr(device, "id", None), int):  # jax
        name = f"{device.platform}:{device.id}"
    elif type(device).__module__.startswith("cupy") and isinstance(getattr(device, "id", None), int):
        name = f"cuda:{device.id}"
    else:
        raise TypeError(f"{argument} must be {_FORMS}; got {type(device).__module__}.{type(device).__qualname__} {device!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(f"{argument} must be {_FORMS}; got {device!r}")
    return name


def device_kind(device, argument: str = "device") -> str:
    """The kind of a device, the part before the colon: "cuda" for "cuda:1" or ``torch.device("cuda", 1)``."""
    name = normalize_device(device, argument)
    if name is None:
        raise ValueError(f"{argument} must name a device to have a kind; got None")
    return name.partition(":")[0]


def torch_device(device, argument: str = "device"):
    """A checked ``torch.device`` from None (cpu), "cpu", "cuda", "cuda:N" or a ``torch.device``."""
    import torch

    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{argument} {device!r} is not a torch device; expected None, 'cpu', 'cuda' or 'cuda:N' ({exc})") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(f"{argument} {device!r} is not supported by the tpcore torch backend; expected None, 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise RuntimeError(f"{argument} {device!r} was requested, but torch {torch.__version__} sees no CUDA device")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise RuntimeError(f"{argument} {device!r} was requested, but torch sees {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return dev


def jax_device(device, argument: str = "device"):
    """A ``jax.Device`` from None (the default device), "cpu", "cpu:0", "gpu", "gpu:1" or a Device.

    ``N`` in "gpu:N" counts the process's own devices of that platform (``jax.local_devices``). A
    ``jax.Device`` belongs to one process and does not pickle: built objects store
    :func:`jax_device_name` and look the device up again when they are loaded.
    """
    import jax

    if device is None or isinstance(device, jax.Device):
        return device
    text = str(device).strip().lower()
    platform, _, index = text.partition(":")
    listing = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
    if platform not in JAX_PLATFORMS or (index and not index.isdigit()):
        raise ValueError(
            f"{argument} {device!r} is not a jax device tpcore supports; expected None, 'cpu', 'cpu:N', 'gpu' or 'gpu:N' "
            f"(jax.devices(): {listing})"
        )
    try:
        found = jax.local_devices(backend=platform)
    except RuntimeError:  # jax raises when no backend of that platform is present
        found = []
    if not found:
        raise ValueError(f"{argument} {device!r} was requested, but jax has no {platform} device (jax.devices(): {listing})")
    if not index:
        return found[0]
    if int(index) >= len(found):
        have = ", ".join(f"{platform}:{i}" for i in range(len(found)))
        raise ValueError(
            f"{argument} {device!r} was requested, but jax has {len(found)} {platform} device(s): {have} "
            f"(jax.devices(): {listing})"
        )
    return found[int(index)]


def jax_device_name(device) -> str | None:
    """The name :func:`jax_device` reads back: None for None, else "<platform>:<index among the local devices>"."""
    import jax

    device = jax_device(device)
    if device is None:
        return None
    local = jax.local_devices(backend=device.platform)
    return f"{device.platform}:{local.index(device) if device in local else device.id}"


def torch_device_kinds() -> tuple[str, ...]:
    """("cpu", "cuda") when the installed torch is a CUDA build, else ("cpu",); never imports torch.

    Read from ``torch/version.py`` as text; whether a CUDA device is actually present is checked
    when something is built for one (:func:`torch_device`).
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return ("cpu",)
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return ("cpu",)
    cuda_build = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]", text, re.MULTILINE) is not None
    return ("cpu", "cuda") if cuda_build else ("cpu",)


def jax_device_kinds() -> tuple[str, ...]:
    """("cpu", "gpu") when a jax GPU plugin is installed, else ("cpu",); never imports jax.

    Whether a GPU is actually present is checked when something is built for one (:func:`jax_device`).
    """
    if importlib.util.find_spec("jax") is None:
        return ("cpu",)
    gpu = any(_JAX_GPU_PLUGIN.match(module.name) for module in pkgutil.iter_modules())
    return ("cpu", "gpu") if gpu else ("cpu",)


__all__ = [
    "normalize_device", "device_kind", "torch_device", "jax_device", "jax_device_name", "torch_device_kinds",
    "jax_device_kinds", "JAX_PLATFORMS",
]  # fmt: skip
