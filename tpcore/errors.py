"""Errors raised by tpcore's plugin registry and backend selection.

Every error is a :class:`TpcoreError` and also a builtin exception of the matching kind, so that
``except LookupError`` or ``except ValueError`` keeps working for code that does not know tpcore.
Messages are multi-line: the first line says what went wrong, the following lines list what is
available instead and why the rest is not.
"""

from __future__ import annotations


class TpcoreError(Exception):
    """Base class of tpcore's own errors."""


class BackendUnavailableError(TpcoreError, RuntimeError):
    """A backend was asked for that cannot be used (not installed, no device, failed to load)."""


class BackendNotFoundError(BackendUnavailableError, LookupError):
    """A backend was asked for by a name that no loaded plugin registers."""


class ImplementationNotFoundError(TpcoreError, LookupError):
    """No implementation of the spec's variant, or none by the requested name, on a backend."""


class CapabilityError(TpcoreError, ValueError):
    """Implementations exist, but none has a capability the request needs (mode, dtype, device)."""


class PluginRegistrationError(TpcoreError, ValueError):
    """Two plugins registered the same backend or implementation, or a plugin could not be added."""


__all__ = [
    "TpcoreError",
    "BackendUnavailableError",
    "BackendNotFoundError",
    "ImplementationNotFoundError",
    "CapabilityError",
    "PluginRegistrationError",
]
