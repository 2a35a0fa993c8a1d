"""The generated source torch.fx keeps for a program lives as long as the program, not the process.

``torch.fx.GraphModule.recompile`` registers the code it generates in :mod:`linecache` and in
torch.fx's loader (``torch.fx.graph_module._loader.eval_cache``) under a key unique to that
compilation (``"<eval_with_key>.N"``), so that tracebacks and ``torch.jit.script`` can read it,
and never removes either: every build added two entries (the shared- and per-sample-weight
programs), 11 MB over 1000 builds of one spec. :func:`forget_source_when_collected` removes a
program's entries when the program is garbage-collected, so memory follows the live programs.
"""

from __future__ import annotations

import linecache
import sys
import weakref

#: the keys torch.fx makes for one compilation; content-addressed keys (torch's metadata-enriched
#: mode) may be shared by equal programs, so they are left alone (equal code adds no entry)
_UNIQUE_KEY_PREFIX = "<eval_with_key>."
_watched: set[str] = set()


def forget_source_when_collected(*modules) -> None:
    """Drop the linecache and torch.fx loader entries of the generated code of ``modules`` (and of
    every GraphModule inside them) once that GraphModule is garbage-collected.

    While the module lives its source stays readable (tracebacks, ``inspect``, ``torch.jit.script``).
    Calling it again on the same module, or on a module without generated code, does nothing.
    """
    for root in modules:
        for module in root.modules():
            key = _source_key(module)
            if key is not None and key not in _watched:
                _watched.add(key)
                weakref.finalize(module, _forget, key).atexit = False


def _source_key(module) -> str | None:
    """The linecache key of the code torch.fx compiled for ``module``'s forward, if it made one."""
    code = getattr(getattr(type(module), "forward", None), "__code__", None)
    key = getattr(code, "co_filename", None)
    return key if isinstance(key, str) and key.startswith(_UNIQUE_KEY_PREFIX) else None


def _forget(key: str) -> None:
    _watched.discard(key)
    linecache.cache.pop(key, None)
    loader = getattr(sys.modules.get("torch.fx.graph_module"), "_loader", None)
    cache = getattr(loader, "eval_cache", None)
    if isinstance(cache, dict):
        cache.pop(key, None)


__all__ = ["forget_source_when_collected"]
