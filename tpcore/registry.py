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
:class:`PluginRegistrationError` instead, since its caller can act on it.

Selection (:func:`select`, :func:`build`): ``backend=None`` means ``TPCORE_BACKEND`` if set, else
the usable backends by ``priority`` (ties by name), taking the first that has an implementation of
the spec's variant with the requested capabilities. On a backend, ``impl=None`` takes the
implementation with the lowest ``priority`` among those whose capabilities are met.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import threading
from functools import partial
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable, Mapping

import pluggy

from tpcore import hookspecs
from tpcore.errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    CapabilityError,
    ImplementationNotFoundError,
    PluginRegistrationError,
    TpcoreError,
)

GROUP = "tpcore"
FIRST_PARTY_DISTRIBUTION = "tpcore"
DTYPES = ("float32", "float64")
ENV_BACKEND = "TPCORE_BACKEND"
ENV_PLUGINS = "TPCORE_PLUGINS"
ENV_DISABLE_AUTOLOAD = "TPCORE_DISABLE_PLUGIN_AUTOLOAD"
SOURCE_RUNTIME = "registered at runtime"
_FALSE_VALUES = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Backend:
    """An array framework tpcore can run on. ``probe()`` returns None if usable, else why not."""

    name: str
    probe: Callable[[], str | None]
    priority: int = 100
    default_dtype: str = "float32"
    dtypes: tuple[str, ...] = DTYPES
    devices: tuple[str, ...] = ("cpu",)
    description: str = ""
    #: zero-argument callable returning the backend's :class:`tpcore.harness.Harness` (may import
    #: the framework: it is only called once the backend is usable); None if it offers none
    harness: Callable[[], Any] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Backend name must be a non-empty string, got {self.name!r}")
        if not callable(self.probe):
            raise TypeError(f"Backend {self.name!r}: probe must be a callable returning None or a reason string")
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        object.__setattr__(self, "devices", tuple(self.devices))
        if self.default_dtype not in self.dtypes:
            raise ValueError(f"Backend {self.name!r}: default_dtype {self.default_dtype!r} is not in dtypes {self.dtypes}")


@dataclass(frozen=True)
class Capabilities:
    """What an implementation supports; ``modes=None`` means every connection mode."""

    modes: frozenset[str] | None = None
    dtypes: frozenset[str] = frozenset(DTYPES)
    devices: frozenset[str] = frozenset({"cpu"})
    grad_order: int = 0
    jit: bool = False
    per_sample_weights: bool = False

    def __post_init__(self):
        for name in ("modes", "dtypes", "devices"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"Capabilities.{name} must be a collection of strings, got the string {value!r}")
            if value is not None:
                object.__setattr__(self, name, frozenset(value))

    def unmet(self, modes: Iterable[str], dtype: str, device: str | None) -> list[str]:
        """The capabilities a request needs that this lacks, each as a readable phrase."""
        out = []
        missing = sorted(set(modes) - self.modes) if self.modes is not None else []
        if missing:
            out.append(f"mode {', '.join(missing)} (it has {_join(self.modes)})")
        if dtype not in self.dtypes:
            out.append(f"dtype {dtype} (it has {_join(self.dtypes)})")
        if device is not None and _device_kind(device) not in self.devices:
            out.append(f"device {device!r} (it has {_join(self.devices)})")
        return out


@dataclass(frozen=True)
class Implementation:
    """One way to compute a variant on a backend; ``factory(spec, *, device, dtype)`` builds it."""

    backend: str
    variant: str
    name: str
    factory: Callable[..., Callable]
    capabilities: Capabilities = field(default_factory=Capabilities)
    priority: int = 100
    description: str = ""

    def __post_init__(self):
        from tpcore.spec import VARIANTS

        if self.variant not in VARIANTS:
            raise ValueError(f"Implementation {self.key}: variant must be one of {', '.join(VARIANTS)}")
        if not isinstance(self.capabilities, Capabilities):
            raise TypeError(f"Implementation {self.key}: capabilities must be a tpcore.registry.Capabilities")
        if not callable(self.factory):
            raise TypeError(f"Implementation {self.key}: factory must be callable as factory(spec, *, device, dtype)")

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.variant}/{self.name}"


@dataclass
class PluginInfo:
    """Where a plugin came from and what it did: ``source`` is "dist version", an env var, or runtime."""

    name: str
    source: str
    module: str | None = None
    loaded: bool = True
    error: str | None = None
    #: disabled because it registered a backend or implementation name another plugin had taken
    conflict: bool = False
    notes: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    implementations: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.conflict:
            return "conflict"
        return "failed" if self.error else ("loaded" if self.loaded else "skipped")


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


class Registry:
    """The loaded plugins, their backends and implementations. Get it from :func:`get_registry`."""

    def __init__(self):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._backends: dict[str, Backend] = {}
        self._impls: dict[str, Implementation] = {}
        self._backend_owner: dict[str, str] = {}  # backend name -> plugin name
        self._impl_owner: dict[str, str] = {}  # implementation key -> plugin name
        self._reasons: dict[str, str | None] = {}
        self._harnesses: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._staging: _Staged | None = None  # the plugin being registered
        self._pm.add_hookcall_monitoring(self._before_hook, lambda *_: None)
        # The hooks are historic: every plugin registered from now on, at load or at run time, has
        # its hooks called at once with this callback.
        for hook, kind in _HOOKS.items():
            getattr(self._pm.hook, hook).call_historic(kwargs={"register": partial(self._stage, kind)})

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> "Registry":
        """A registry with the entry-point plugins and ``TPCORE_PLUGINS`` loaded."""
        environ = os.environ if environ is None else environ
        registry = cls()
        autoload = not _truthy(environ.get(ENV_DISABLE_AUTOLOAD))
        staged = []
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            source = f"{dist.name} {dist.version}" if dist is not None else "entry point"
            if not autoload and (dist is None or _canonical(dist.name) != FIRST_PARTY_DISTRIBUTION):
                note = f"not loaded: {ENV_DISABLE_AUTOLOAD} is set"
                registry._plugins[_unique(registry._plugins, ep.name)] = PluginInfo(ep.name, source, ep.value, False, notes=[note])
                continue
            staged.append(registry._add(ep.name, source, ep.value, ep.load))
        for module in (m.strip() for m in environ.get(ENV_PLUGINS, "").split(",")):
            if module:  # an explicit request: loaded whatever TPCORE_DISABLE_PLUGIN_AUTOLOAD says
                staged.append(registry._add(module, ENV_PLUGINS, module, lambda m=module: importlib.import_module(m)))
        registry._commit([s for s in staged if s is not None])
        return registry

    # -- what is registered ---------------------------------------------------------------------

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        return tuple(self._plugins.values())

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
                    answer = f"{backend}: probe raised {_exception_line(exc)}"
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
        chosen, device, dtype = self._resolve(spec, backend, impl, device, dtype)
        return chosen.factory(spec, device=device, dtype=dtype)

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
                        f"backend {backend!r}: its harness factory raised {_exception_line(exc)}, so generic code "
                        "(tpcore check, tpcore report, asv) cannot drive it"
                    ) from exc
            return self._harnesses[backend]

    def _resolve(self, spec, backend, impl, device, dtype) -> tuple[Implementation, str | None, str]:
        if not hasattr(spec, "variant") or not hasattr(spec, "path_modes"):
            raise TypeError(f"expected a tpcore.TensorProductSpec, got {type(spec).__name__}")
        dtype = None if dtype is None else normalize_dtype(dtype)
        device = None if device is None else _device_str(device)
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
                raise ImplementationNotFoundError(
                    f"backend {name!r} has no {variant} implementation named {impl!r}\n"
                    f"{variant} implementations on {name}: {', '.join(c.name for c in candidates)}"
                )
            candidates = named
        modes = frozenset(spec.path_modes)
        for c in candidates:
            if not self._unmet(c, modes, dtype, device):
                return c, device, dtype
        raise CapabilityError(self._capability_message(name, variant, candidates, modes, dtype, device))

    def _unmet(self, impl: Implementation, modes, dtype, device) -> list[str]:
        backend = self._backends[impl.backend]
        unmet = impl.capabilities.unmet(modes, dtype, device)
        if dtype not in backend.dtypes and not any(u.startswith("dtype") for u in unmet):
            unmet.append(f"dtype {dtype} (backend has {_join(backend.dtypes)})")
        if device is not None and _device_kind(device) not in backend.devices and not any(u.startswith("device") for u in unmet):
            unmet.append(f"device {device!r} (backend has {_join(backend.devices)})")
        return unmet

    def _capability_message(self, name, variant, candidates, modes, dtype, device) -> str:
        wanted = f"mode {_join(modes) or '(none)'}, dtype {dtype}" + (f", device {device!r}" if device else "")
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

    # -- plugins --------------------------------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str | None = None) -> PluginInfo:
        """Register ``plugin`` (a module or object with hook implementations) now; see register_plugin."""
        with self._lock:
            if self._pm.is_registered(plugin):
                raise PluginRegistrationError(f"{plugin!r} is already registered as plugin {self._pm.get_name(plugin)!r}")
            name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__qualname__}-{id(plugin):x}"
            if name in self._plugins:
                raise PluginRegistrationError(f"a plugin named {name!r} is already loaded (from {self._plugins[name].source})")
            staged = self._add(name, SOURCE_RUNTIME, getattr(plugin, "__module__", None), lambda: plugin)
            if staged is not None:
                clash = self._clash(staged)
                if clash is not None:
                    self._pm.unregister(name=name)
                    del self._plugins[name]
                    what, key, other = clash
                    a, b = self._plugins[other] if other != name else None, PluginInfo(name, SOURCE_RUNTIME)
                    first = f"by plugin {a.name!r} ({a.source})" if a else f"by plugin {name!r} itself"
                    raise PluginRegistrationError(
                        f"{what} {key!r} is registered twice:\n  {first}\n  by plugin {b.name!r} ({b.source})\n"
                        "register it under another name, or do not register the other plugin"
                    )
                self._commit([staged])
            return self._plugins[name]

    def _add(self, name: str, source: str, module: str | None, load: Callable[[], Any]) -> _Staged | None:
        """Import one plugin and register it with pluggy, which runs its (historic) hooks at once.

        Returns what its hooks registered, not yet committed; None, with the reason recorded on its
        :class:`PluginInfo`, if it failed (then it is unregistered again and contributes nothing).
        """
        info = PluginInfo(name, source, module)
        if name in self._plugins:
            info.name = _unique(self._plugins, name)
            info.error = f"a plugin named {name!r} is already loaded (from {self._plugins[name].source})"
        self._plugins[info.name] = info
        if info.error:
            return None
        try:
            plugin = load()
        except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end the program
            info.error = f"failed to import {module or name}: {_exception_line(exc)}"
            return None
        if self._pm.is_registered(plugin):
            info.loaded = False
            info.notes.append(f"already loaded as plugin {self._pm.get_name(plugin)!r}")
            return None
        staged = self._staging = _Staged(name)
        try:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            unknown = [hc.name for hc in self._pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
            info.error = (
                f"implements unknown hook(s) {', '.join(unknown)}; tpcore's hooks are {', '.join(_HOOKS)} "
                "(tpcore/hookspecs.py)" if unknown else f"failed to register: {exc}"
            )
        except (Exception, SystemExit) as exc:
            info.error = f"{staged.hook or 'registration'} raised {_exception_line(exc)}"
        finally:
            self._staging = None
        if info.error:
            if self._pm.get_plugin(name) is not None:
                self._pm.unregister(name=name)
            return None
        return staged

    def _stage(self, kind: type, obj: Any) -> None:
        """The ``register`` callback the hooks receive: collects ``obj`` for the plugin being registered."""
        if not isinstance(obj, kind):
            raise TypeError(f"register() expects a tpcore.registry.{kind.__name__}, got {type(obj).__name__}")
        if self._staging is None:
            raise PluginRegistrationError("register() was called after its hook returned; call it inside the hook")
        (self._staging.backends if kind is Backend else self._staging.implementations).append(obj)

    def _before_hook(self, hook_name: str, hook_impls, kwargs) -> None:
        if self._staging is not None:
            self._staging.hook = hook_name

    def _clash(self, staged: _Staged) -> tuple[str, str, str] | None:
        """``(what, key, owner)`` of the first name ``staged`` registers that is taken, or None."""
        mine: set[tuple[str, str]] = set()
        for what, keys, owners in (("backend", [b.name for b in staged.backends], self._backend_owner),
                                   ("implementation", [i.key for i in staged.implementations], self._impl_owner)):
            for key in keys:
                if key in owners:
                    return what, key, owners[key]
                if (what, key) in mine:
                    return what, key, staged.plugin
                mine.add((what, key))
        return None

    def _commit(self, batch: list[_Staged]) -> None:
        """Add the staged registrations, in order; a later plugin registering a taken name is disabled.

        Implementations are checked against the backends once the whole batch is in, so a plugin may
        add implementations to a backend that a plugin later in the batch registers.
        """
        for staged in batch:
            info, clash = self._plugins[staged.plugin], self._clash(staged)
            if clash is not None:
                what, key, other = clash
                info.conflict = True
                info.error = f"{what} {key!r} is already registered by " + (
                    "this plugin" if other == staged.plugin else f"plugin {other!r} ({self._plugins[other].source})"
                ) + f", so this plugin is disabled; {_conflict_hint(info)}"
                self._pm.unregister(name=staged.plugin)
                continue
            for b in staged.backends:
                self._backends[b.name], self._backend_owner[b.name] = b, staged.plugin
                info.backends.append(b.name)
            for i in staged.implementations:
                self._impls[i.key], self._impl_owner[i.key] = i, staged.plugin
                info.implementations.append(i.key)
        for staged in batch:
            info = self._plugins[staged.plugin]
            for i in staged.implementations if not info.error else ():
                if i.backend not in self._backends:
                    del self._impls[i.key], self._impl_owner[i.key]
                    info.implementations.remove(i.key)
                    info.notes.append(f"skipped implementation {i.key}: no loaded plugin registers backend {i.backend!r}")


@dataclass
class _Staged:
    """What one plugin's hooks registered, before :meth:`Registry._commit` checks and adds it."""

    plugin: str
    hook: str | None = None  # the hook running now, named in the error if it raises
    backends: list[Backend] = field(default_factory=list)
    implementations: list[Implementation] = field(default_factory=list)


#: the register hooks and what their ``register`` callback accepts
_HOOKS = {"tpcore_register_backends": Backend, "tpcore_register_implementations": Implementation}


def _conflict_hint(info: PluginInfo) -> str:
    if info.source == ENV_PLUGINS:
        return f"remove {info.module} from {ENV_PLUGINS} to silence this"
    return (f"uninstall one of the two distributions, or set {ENV_DISABLE_AUTOLOAD}=1 to load only tpcore's own "
            "entry points")


def _exception_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r})"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


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


def import_probe(module: str) -> str | None:
    """A ``Backend.probe`` for a framework: None if ``module`` imports, else why not, in one line.

    Checks ``find_spec`` first, so a framework that is not installed is never imported; a broken
    install is a state to report ("torch: import failed (OSError: ...)"), not a crash.
    """
    if importlib.util.find_spec(module) is None:
        return f"{module}: not installed"
    try:
        importlib.import_module(module)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        return f"{module}: import failed ({type(exc).__name__}: {(lines[0] if lines else '')[:160]})"
    return None


def plan_implementations(backend: str, build: Callable[..., Any], capabilities: Capabilities, how: str) -> list[Implementation]:
    """One :class:`Implementation` per variant and lowering strategy of :data:`tpcore.plan.STRATEGIES`.

    For a backend that executes tpcore's plans: each is named after its strategy, with priority
    its rank (the variant's first strategy is its default), and built by
    ``build(spec, *, device, dtype, strategy)``. ``how`` ends the description ("as a torch.nn.Module").
    """
    from tpcore.plan import STRATEGIES

    return [
        Implementation(
            backend=backend,
            variant=variant,
            name=strategy,
            factory=partial(build, strategy=strategy),
            capabilities=capabilities,
            priority=rank,
            description=f"{variant} plan, {strategy} strategy, {how}",
        )
        for variant, strategies in STRATEGIES.items()
        for rank, strategy in enumerate(strategies)
    ]


def normalize_dtype(dtype) -> str:
    """The name, "float32" or "float64", of a dtype given as a string, numpy dtype or type, or framework dtype."""
    if isinstance(dtype, str):
        text = dtype
    elif isinstance(getattr(dtype, "name", None), str):  # numpy (and cupy, jax array) dtypes
        text = dtype.name
    elif isinstance(getattr(getattr(dtype, "dtype", None), "name", None), str):  # jax.numpy.float32
        text = dtype.dtype.name
    elif isinstance(dtype, type):  # numpy.float32
        text = dtype.__name__
    else:  # torch.float32 prints as "torch.float32"
        text = str(dtype)
    name = text.strip().lower().rsplit(".", 1)[-1]
    if name not in DTYPES:
        raise ValueError(
            f"unsupported dtype {dtype!r}; tpcore accepts {' or '.join(DTYPES)}, as a string, a numpy dtype or type, "
            "or a framework dtype such as torch.float32 (None means the backend's default)"
        )
    return name


# -- helpers ------------------------------------------------------------------------------------


def _entry_points() -> list:
    seen, out = set(), []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        key = (ep.name, ep.value, None if dist is None else _canonical(dist.name))
        if key not in seen:
            seen.add(key)
            out.append(ep)
    return out


def _probe_reason(backend: str, answer: Any) -> str | None:
    """A probe's answer as :meth:`Registry.reason` reports it: None (usable) or one non-empty line."""
    if answer is None:
        return None
    if not isinstance(answer, str):
        return f"{backend}: its probe returned {answer!r}; a probe returns None when usable, else a reason string"
    lines = answer.strip().splitlines()
    return lines[0].strip() if lines else f"{backend}: not usable (its probe returned an empty reason)"


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSE_VALUES


def _canonical(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _unique(existing: Mapping[str, Any], name: str) -> str:
    n = 2
    while f"{name}#{n}" in existing:
        n += 1
    return name if name not in existing else f"{name}#{n}"


def _device_str(device) -> str:
    return device if isinstance(device, str) else str(device)


def _device_kind(device: str) -> str:
    return device.split(":", 1)[0].strip().lower()


def _join(items: Iterable[str] | None) -> str:
    return "all" if items is None else ", ".join(sorted(items))


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
]
