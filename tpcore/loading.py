"""Plugin loading: entry points, ``TPCORE_PLUGINS`` and run-time registration, through pluggy.

:class:`PluginLoader` holds what the plugins registered (backends, implementations, one
:class:`PluginInfo` per plugin); :class:`tpcore.registry.Registry` adds selection on top. The
rules (order, autoload, conflicts, errors) are in the docstring of :mod:`tpcore.registry`.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from typing import Any, Callable, Mapping

import pluggy

from tpcore import hookspecs
from tpcore.errors import PluginRegistrationError
from tpcore.registration import Backend, Implementation

GROUP = "tpcore"
FIRST_PARTY_DISTRIBUTION = "tpcore"
ENV_PLUGINS = "TPCORE_PLUGINS"
ENV_DISABLE_AUTOLOAD = "TPCORE_DISABLE_PLUGIN_AUTOLOAD"
SOURCE_RUNTIME = "registered at runtime"
_FALSE_VALUES = ("", "0", "false", "no", "off")


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



class PluginLoader:
    """The loaded plugins and what they registered; :class:`tpcore.registry.Registry` extends it."""

    def __init__(self):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._backends: dict[str, Backend] = {}
        self._impls: dict[str, Implementation] = {}
        self._backend_owner: dict[str, str] = {}  # backend name -> plugin name
        self._impl_owner: dict[str, str] = {}  # implementation key -> plugin name
        self._lock = threading.RLock()
        self._staging: _Staged | None = None  # the plugin being registered
        self._pm.add_hookcall_monitoring(self._before_hook, lambda *_: None)
        # The hooks are historic: every plugin registered from now on, at load or at run time, has
        # its hooks called at once with this callback.
        for hook, kind in _HOOKS.items():
            getattr(self._pm.hook, hook).call_historic(kwargs={"register": partial(self._stage, kind)})

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None):
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

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        return tuple(self._plugins.values())

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
            info.error = f"failed to import {module or name}: {exception_line(exc)}"
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
            info.error = f"{staged.hook or 'registration'} raised {exception_line(exc)}"
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
    """What one plugin's hooks registered, before :meth:`PluginLoader._commit` checks and adds it."""

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


def exception_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r})"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__



def _entry_points() -> list:
    seen, out = set(), []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        key = (ep.name, ep.value, None if dist is None else _canonical(dist.name))
        if key not in seen:
            seen.add(key)
            out.append(ep)
    return out




def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSE_VALUES


def _canonical(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _unique(existing: Mapping[str, Any], name: str) -> str:
    n = 2
    while f"{name}#{n}" in existing:
        n += 1
    return name if name not in existing else f"{name}#{n}"


