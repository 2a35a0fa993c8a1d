"""Plugin loading, the backend/implementation registry, and :func:`build`.

Plugins are found the first time the registry is used (never at ``import tpcore``):

1. every entry point of the ``tpcore`` group (first-party backends use it too), unless
   ``TPCORE_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value, in which case only the entry points of
   the ``tpcore`` distribution itself are loaded;
2. the modules named, comma-separated, in ``TPCORE_PLUGINS``: an explicit request, so they are
   loaded whatever ``TPCORE_DISABLE_PLUGIN_AUTOLOAD`` says (unset the variable to drop them);
3. later, whatever :func:`register_plugin` adds at run time.

The hooks are pluggy ``historic`` hooks: a plugin's hooks run when it is registered, whether at
load or at run time. A plugin that fails to import (``sys.exit()`` included), implements an
unknown hook, or whose hook raises is recorded with its error and contributes nothing;
``tpcore backends`` shows it. When a loaded plugin registers a backend name or implementation key
that an earlier one took, the later plugin is disabled as a whole (status ``conflict``, the reason
naming both) and everything else keeps working; :func:`register_plugin` raises
:class:`PluginRegistrationError` instead, since its caller can act on it. A kernel whose
``accepts`` raises, or whose factory raises or returns something not callable, is taken out when
a selection meets it, with a note on its plugin, and the selection goes on without it.

Selection (:func:`select`, :func:`build`): ``backend=None`` means ``TPCORE_BACKEND`` if set, else
the usable backends by ``priority`` (ties by name), taking the first that has an implementation of
the spec's variant with the requested capabilities. On a backend, ``impl=None`` takes the
implementation with the lowest ``priority`` among those whose capabilities are met.
"""


from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Iterable

from tpcore.devices import device_kind, normalize_device
from tpcore.dtypes import DTYPES, normalize_dtype
from tpcore.errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    CapabilityError,
    ImplementationNotFoundError,
    TpcoreError,
)
from tpcore.loading import (
    ENV_DISABLE_AUTOLOAD,
    ENV_PLUGINS,
    FIRST_PARTY_DISTRIBUTION,
    GROUP,
    SOURCE_RUNTIME,
    PluginInfo,
    PluginLoader,
    exception_line,
)
from tpcore.registration import (
    Backend,
    Capabilities,
    Implementation,
    import_probe,
    names_or_all,
    plan_implementations,
)

ENV_BACKEND = "TPCORE_BACKEND"


@dataclass(frozen=True)
class BackendStatus:
    backend: Backend
    usable: bool
    reason: str | None
    plugin: PluginInfo
    implementations: tuple[Implementation, ...]

    @property
    def name(self) -> str:
        return self.backend.name


class Registry(PluginLoader):
    """The loaded plugins, their backends and implementations. Get it from :func:`get_registry`."""

    def __init__(self):
        super().__init__()
        self._reasons: dict[str, str | None] = {}
        self._harnesses: dict[str, Any] = {}
        self._disabled: dict[str, str] = {}  # key of a broken kernel -> why it was taken out

    # -- what is registered ---------------------------------------------------------------------

    @property
    def backends(self) -> dict[str, Backend]:
        """Every registered backend, usable or not, in default order (priority, then name)."""
        return {b.name: b for b in sorted(self._backends.values(), key=lambda b: (b.priority, b.name))}

    def implementations(self, backend: str | None = None, variant: str | None = None) -> list[Implementation]:
        """Registered implementations, filtered, in backend order then variant, priority, name."""
        order = {name: i for i, name in enumerate(self.backends)}
        found = [
            i for i in self._impls.values()
            if (backend is None or i.backend == backend) and (variant is None or i.variant == variant)
        ]
        return sorted(found, key=lambda i: (order[i.backend], i.variant, i.priority, i.name))

    def reason(self, backend: str) -> str | None:
        """Why ``backend`` is not usable (its probe's one-line answer), or None if it is."""
        with self._lock:
            if backend not in self._reasons:
                try:
                    answer = self._backends[backend].probe()
                except (Exception, SystemExit) as exc:  # a broken probe makes its backend unusable, nothing more
                    answer = f"{backend}: probe raised {exception_line(exc)}"
                self._reasons[backend] = _probe_reason(backend, answer)
            return self._reasons[backend]

    def available(self) -> list[str]:
        return [name for name in self.backends if self.reason(name) is None]

    def status(self) -> list[BackendStatus]:
        """One row per registered backend, in default order: usable, reason, plugin, implementations."""
        return [
            BackendStatus(b, self.reason(name) is None, self.reason(name), self._plugins[self._backend_owner[name]],
                          tuple(self.implementations(name)))
            for name, b in self.backends.items()
        ]

    # -- selection ------------------------------------------------------------------------------

    def default_backend(self) -> str:
        env = os.environ.get(ENV_BACKEND, "").strip()
        if env:
            self._require_usable(env, f" (from {ENV_BACKEND}={env!r})")
            return env
        usable = self.available()
        if not usable:
            raise BackendUnavailableError("no usable tpcore backend\n" + self._describe_backends())
        return usable[0]

    def select(self, spec, backend=None, impl=None, device=None, dtype=None) -> Implementation:
        return self._resolve(spec, backend, impl, device, dtype)[0]

    def build(self, spec, backend=None, impl=None, device=None, dtype=None):
        while True:  # each pass that fails disables one kernel, so this ends
            chosen, device_, dtype_ = self._resolve(spec, backend, impl, device, dtype)
            if chosen.accepts is None:
                return chosen.factory(spec, device=device_, dtype=dtype_)
            try:
                built = chosen.factory(spec, device=device_, dtype=dtype_)
            except (Exception, SystemExit) as exc:
                self._disable(chosen, f"its factory raised {exception_line(exc)}")
                continue
            if not callable(built):
                self._disable(chosen, f"its factory returned {type(built).__name__} {_short(built)}, not a callable")
                continue
            return built

    def harness(self, backend: str):
        """The :class:`tpcore.harness.Harness` of a usable ``backend`` (created once, then cached)."""
        self._require_usable(backend)
        with self._lock:
            if backend not in self._harnesses:
                factory = self._backends[backend].harness
                if factory is None:
                    raise BackendUnavailableError(
                        f"backend {backend!r} registers no harness (Backend(harness=...)), so generic code "
                        "(tpcore check, tpcore report, asv) cannot drive it"
                    )
                try:
                    self._harnesses[backend] = factory()
                except (Exception, SystemExit) as exc:
                    raise BackendUnavailableError(
                        f"backend {backend!r}: its harness factory raised {exception_line(exc)}, so generic code "
                        "(tpcore check, tpcore report, asv) cannot drive it"
                    ) from exc
            return self._harnesses[backend]

    def _resolve(self, spec, backend, impl, device, dtype) -> tuple[Implementation, str | None, str]:
        if not hasattr(spec, "variant") or not hasattr(spec, "path_modes"):
            raise TypeError(f"expected a tpcore.TensorProductSpec, got {type(spec).__name__}")
        dtype = None if dtype is None else normalize_dtype(dtype)
        device = normalize_device(device)
        if backend is not None or os.environ.get(ENV_BACKEND, "").strip():
            names = [backend or self.default_backend()]
        else:
            names = [self.default_backend()] + self.available()[1:]
        first_error = None
        for name in names:
            try:
                return self._select_on(name, spec, impl, device, dtype)
            except TpcoreError as exc:
                first_error = first_error or exc
        raise first_error

    def _select_on(self, name, spec, impl, device, dtype) -> tuple[Implementation, str | None, str]:
        self._require_usable(name)
        dtype = dtype or self._backends[name].default_dtype
        variant = spec.variant
        candidates = self.implementations(name, variant)
        if not candidates:
            others = sorted({i.backend for i in self.implementations(variant=variant)}, key=list(self.backends).index)
            raise ImplementationNotFoundError(
                f"backend {name!r} has no implementation of variant {variant!r}\n"
                f"backends with a {variant} implementation:\n" + (self._describe_backends(others) or "  none")
            )
        if impl is not None:
            named = [c for c in candidates if c.name == impl]
            if not named:
                disabled = self._disabled.get(f"{name}/{variant}/{impl}")
                raise ImplementationNotFoundError(
                    f"backend {name!r} has no {variant} implementation named {impl!r}"
                    + (f": {disabled}" if disabled else "") + "\n"
                    f"{variant} implementations on {name}: {', '.join(c.name for c in candidates)}"
                )
            candidates = named
        modes = frozenset(spec.path_modes)
        capable = [c for c in candidates if not self._unmet(c, modes, dtype, device)]
        if not capable:
            raise CapabilityError(self._capability_message(name, variant, candidates, modes, dtype, device))
        for c in capable:
            if self.accepts(c, spec):
                return c, device, dtype
        declined = [self._disabled.get(c.key, f"{c.key} is a kernel for other descriptors") for c in capable]
        raise CapabilityError(f"no {variant} implementation on backend {name!r} accepts this spec ({spec}): "
                              + ", ".join(declined))

    def accepts(self, impl: Implementation, spec) -> bool:
        """Whether ``impl`` computes ``spec``: always, unless it is a kernel whose ``accepts`` declines
        the spec's descriptor. A kernel whose ``accepts`` raises is disabled (:meth:`_disable`) and
        takes nothing, wherever it is asked (``build``, the conformance suite, ``tpcore check``)."""
        if impl.accepts is None:
            return True
        from tpcore.descriptor import describe

        descriptor = describe(spec)  # outside the try: its errors are the spec's, not the kernel's
        try:
            return bool(impl.accepts(descriptor))
        except (Exception, SystemExit) as exc:
            self._disable(impl, f"its accepts raised {exception_line(exc)}")
            return False

    def _disable(self, impl: Implementation, reason: str) -> None:
        """Take a broken kernel out of the registry, recording why on its plugin (``tpcore backends`` shows it)."""
        with self._lock:
            if self._impls.get(impl.key) is not impl:
                return  # another thread got there first
            plugin = self._plugins[self._impl_owner.pop(impl.key)]
            del self._impls[impl.key]
            plugin.implementations.remove(impl.key)
            note = f"disabled kernel {impl.key}: {reason}"
            plugin.notes.append(note)
            self._disabled[impl.key] = f"{note} (plugin {plugin.name!r}, {plugin.source})"

    def _unmet(self, impl: Implementation, modes, dtype, device) -> list[str]:
        backend = self._backends[impl.backend]
        unmet = impl.capabilities.unmet(modes, dtype, device)
        if dtype not in backend.dtypes and not any(u.startswith("dtype") for u in unmet):
            unmet.append(f"dtype {dtype} (backend has {names_or_all(backend.dtypes)})")
        if device is not None and device_kind(device) not in backend.devices and not any(u.startswith("device") for u in unmet):
            unmet.append(f"device {device!r} (backend has {names_or_all(backend.devices)})")
        return unmet

    def _capability_message(self, name, variant, candidates, modes, dtype, device) -> str:
        wanted = f"mode {names_or_all(modes) or '(none)'}, dtype {dtype}" + (f", device {device!r}" if device else "")
        lines = [f"no {variant} implementation on backend {name!r} supports {wanted}:"]
        lines += [f"  {c.key} lacks " + "; ".join(self._unmet(c, modes, dtype, device)) for c in candidates]
        having = [i for i in self.implementations(variant=variant) if not self._unmet(i, modes, dtype, device)]
        lines.append(f"{variant} implementations that support {wanted}:")
        lines += [f"  {i.key} ({self._usable_phrase(i.backend)})" for i in having] or ["  none"]
        return "\n".join(lines)

    def _require_usable(self, name: str, via: str = "") -> None:
        if name not in self._backends:
            raise BackendNotFoundError(f"unknown backend {name!r}{via}\nregistered backends:\n" + self._describe_backends())
        reason = self.reason(name)
        if reason is not None:
            raise BackendUnavailableError(
                f"backend {name!r}{via} is not usable: {reason}\nusable backends: {', '.join(self.available()) or 'none'}"
            )

    def _usable_phrase(self, name: str) -> str:
        reason = self.reason(name)
        return "usable" if reason is None else f"not usable: {reason}"

    def _describe_backends(self, names: Iterable[str] | None = None) -> str:
        lines = [f"  {n}: {self._usable_phrase(n)}" for n in (self.backends if names is None else names)]
        if names is None:
            lines = lines or ["  none"]
            lines += [f"  (plugin {p.name!r} from {p.source} {p.status}: {p.error})" for p in self.plugins if p.error]
        return "\n".join(lines)


# -- module-level API ---------------------------------------------------------------------------

_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use and cached (see :func:`reset_registry`)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Registry.load()
        return _registry


def reset_registry() -> None:
    """Forget the loaded registry; the next use reloads plugins (reads the environment again)."""
    global _registry
    with _registry_lock:
        _registry = None


def register_plugin(plugin: Any, name: str | None = None) -> PluginInfo:
    """Add a plugin (module, class or object with ``@hookimpl`` functions) at run time.

    Its hooks are called at once. Errors inside them are recorded on the returned
    :class:`PluginInfo` (``.error``), like for any plugin; a duplicate name raises.
    """
    return get_registry().add_plugin(plugin, name)


def available_backends() -> list[str]:
    """Names of the usable backends, in default order (``priority``, then name)."""
    return get_registry().available()


def default_backend() -> str:
    """``TPCORE_BACKEND`` if set (it must be registered and usable), else the first usable backend."""
    return get_registry().default_backend()


def select(spec, backend: str | None = None, impl: str | None = None, device=None, dtype=None) -> Implementation:
    """The implementation :func:`build` would use for these arguments; raises if there is none.

    ``dtype``: None (the backend's ``default_dtype``), "float32"/"float64", a numpy dtype or type,
    or a framework dtype such as ``torch.float32``. ``device``: None (the backend's default),
    or a string such as "cpu", "cuda" or "cuda:1" (checked by the part before the colon).
    """
    return get_registry().select(spec, backend, impl, device, dtype)


def build(spec, backend: str | None = None, impl: str | None = None, device=None, dtype=None):
    """Build the tensor product ``spec`` on a backend: :func:`select`, then the implementation's factory."""
    return get_registry().build(spec, backend, impl, device, dtype)


# -- helpers ------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _probe_reason(backend: str, answer: Any) -> str | None:
    """A probe's answer as :meth:`Registry.reason` reports it: None (usable) or one non-empty line."""
    if answer is None:
        return None
    if not isinstance(answer, str):
        return f"{backend}: its probe returned {answer!r}; a probe returns None when usable, else a reason string"
    lines = answer.strip().splitlines()
    return lines[0].strip() if lines else f"{backend}: not usable (its probe returned an empty reason)"


__all__ = [
    "Backend",
    "Capabilities",
    "Implementation",
    "PluginInfo",
    "BackendStatus",
    "Registry",
    "get_registry",
    "reset_registry",
    "register_plugin",
    "available_backends",
    "default_backend",
    "select",
    "build",
    "normalize_dtype",
    "DTYPES",
    "import_probe",
    "plan_implementations",
    "GROUP",
    "FIRST_PARTY_DISTRIBUTION",
    "ENV_BACKEND",
    "ENV_PLUGINS",
    "ENV_DISABLE_AUTOLOAD",
    "SOURCE_RUNTIME",
]
