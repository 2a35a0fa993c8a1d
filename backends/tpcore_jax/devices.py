"""jax devices by name: ``"cpu"``, ``"cpu:0"``, ``"gpu"``, ``"gpu:1"``.

A ``jax.Device`` belongs to one process and does not pickle; built objects store :func:`device_name`
and look the device up again with :func:`jax_device` when they are loaded.
"""

from __future__ import annotations

import jax

PLATFORMS = ("cpu", "gpu")


def jax_device(device) -> jax.Device | None:
    """A ``jax.Device`` from None (the default device), "cpu", "cpu:0", "gpu", "gpu:1" or a Device.

    ``N`` in "gpu:N" counts the process's own devices of that platform (``jax.local_devices``).
    """
    if device is None or isinstance(device, jax.Device):
        return device
    text = str(device).strip().lower()
    platform, _, index = text.partition(":")
    listing = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
    if platform not in PLATFORMS or (index and not index.isdigit()):
        raise ValueError(
            f"device {device!r} is not a jax device tpcore supports; expected None, 'cpu', 'cpu:N', 'gpu' or 'gpu:N' "
            f"(jax.devices(): {listing})"
        )
    try:
        found = jax.local_devices(backend=platform)
    except RuntimeError:  # jax raises when no backend of that platform is present
        found = []
    if not found:
        raise ValueError(f"device {device!r} was requested, but jax has no {platform} device (jax.devices(): {listing})")
    if not index:
        return found[0]
    if int(index) >= len(found):
        have = ", ".join(f"{platform}:{i}" for i in range(len(found)))
        raise ValueError(f"device {device!r} was requested, but jax has {len(found)} {platform} device(s): {have} (jax.devices(): {listing})")
    return found[int(index)]


def device_name(device) -> str | None:
    """The name :func:`jax_device` reads back: None for None, else "<platform>:<index among the local devices>"."""
    device = jax_device(device)
    if device is None:
        return None
    local = jax.local_devices(backend=device.platform)
    return f"{device.platform}:{local.index(device) if device in local else device.id}"
