"""The hooks a tpcore plugin implements (pluggy project name and entry-point group: ``tpcore``).

A plugin is a module (or any object) with functions marked ``@tpcore.hookimpl`` whose names are
the hooks below. It reaches tpcore through the ``tpcore`` entry-point group of its distribution,
through the ``TPCORE_PLUGINS`` environment variable, or through
:func:`tpcore.registry.register_plugin` at run time. See docs/plugins.md for a walk-through.

Both hooks use the register style: they receive a ``register`` callback and call it once per
object, so a plugin reads like a declaration and an error names the plugin that caused it.

Both hooks are pluggy ``historic`` hooks: each plugin's hooks are called once, when the plugin is
registered (when the registry is first used, never at ``import tpcore``, or at
:func:`~tpcore.registry.register_plugin`). What they register is committed once every plugin of
the load has run, so an implementation may name a backend that another plugin registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from tpcore.registry import Backend, Implementation

PROJECT_NAME = "tpcore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(historic=True)
def tpcore_register_backends(register: Callable[["Backend"], None]) -> None:
    """Register the backends (array frameworks) this plugin provides.

    Called once per plugin, when the plugin is registered (``historic``: a plugin registered at run
    time is called too). Not ``firstresult``: every plugin's implementation runs.

    :param register: call ``register(Backend(...))`` once per backend. A backend's ``name`` is
        global: a plugin registering a name that an earlier plugin took is disabled as a whole, with
        a reason naming both that ``tpcore backends`` lists (``register_plugin`` raises
        :class:`tpcore.errors.PluginRegistrationError` instead).
    :return: nothing; the return value is ignored.

    ``Backend.probe`` is how tpcore tells whether the backend is usable: a callable that returns
    ``None`` when it is, else a one-line reason such as ``"jax: not installed"`` or
    ``"cupy: no CUDA device (cudaErrorInsufficientDriver)"``. The probe is called lazily (when a
    backend is listed or selected) and must not import a framework that is not installed: check with
    ``importlib.util.find_spec("jax") is None`` first, and only then import it to look for a device.
    This hook itself must not import the framework either; do that in the implementation factories.
    An exception raised by this hook is recorded as the plugin's error (shown by
    ``tpcore backends``) and the plugin contributes nothing; tpcore keeps working.
    """


@hookspec(historic=True)
def tpcore_register_implementations(register: Callable[["Implementation"], None]) -> None:
    """Register implementations of tensor-product variants on registered backends.

    Called once per plugin, when the plugin is registered, right after its
    ``tpcore_register_backends`` (``historic``). A plugin may add implementations to a backend that
    another plugin registers (e.g. an e3nn plugin adding a ``cgtp`` implementation to the ``torch``
    backend): the backend is looked up once every plugin of the load has registered. Not
    ``firstresult``.

    :param register: call ``register(Implementation(...))`` once per implementation. The triple
        ``(backend, variant, name)`` is global: a plugin registering one that an earlier plugin took
        is disabled as a whole, as for backends.
    :return: nothing; the return value is ignored.

    ``Implementation.factory(spec, *, device, dtype)`` builds the tensor product for a spec; it is
    only called by :func:`tpcore.build`, after the backend's probe said it is usable and the
    implementation's ``Capabilities`` (modes, dtypes, devices) were checked, and it is the place to
    import the framework. An implementation naming a backend that no loaded plugin registers is
    skipped with a note on the plugin. An exception raised by this hook is recorded as the plugin's
    error and the plugin contributes nothing (neither backends nor implementations).
    """


__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "tpcore_register_backends", "tpcore_register_implementations"]
