"""``tpcore backends``: every registered backend, whether it is usable and why not, and the implementations."""

from __future__ import annotations

import argparse
import os

from tpcore.cli.common import table

HELP = "list the registered backends, whether they are usable and why not, and their implementations"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from tpcore.errors import TpcoreError
    from tpcore.registry import ENV_BACKEND, get_registry

    registry = get_registry()
    rows = []
    for s in registry.status():
        b = s.backend
        rows.append([b.name, "yes" if s.usable else "no", s.reason or "-", b.priority, _source(s.plugin),
                     ",".join(b.devices), ",".join(b.dtypes) + f" (default {b.default_dtype})"])
    print("Backends (default order: TPCORE_BACKEND, else by priority, then name)")
    print(table(["backend", "usable", "reason", "priority", "plugin (source)", "devices", "dtypes"], rows) or "  none registered")
    via = f" (from {ENV_BACKEND})" if os.environ.get(ENV_BACKEND, "").strip() else ""
    try:
        print(f"\nDefault backend: {registry.default_backend()}{via}")
    except TpcoreError as exc:
        print(f"\nDefault backend: none ({str(exc).splitlines()[0]})")
    impl_rows = [
        [i.backend, i.variant, i.name, i.priority, i.capabilities.grad_order, "yes" if i.capabilities.jit else "no",
         ",".join(sorted(i.capabilities.modes)) if i.capabilities.modes is not None else "all",
         ",".join(sorted(i.capabilities.dtypes)), ",".join(sorted(i.capabilities.devices)),
         "yes" if i.capabilities.per_sample_weights else "no"]
        for i in registry.implementations()
    ]
    print("\nImplementations")
    print(table(["backend", "variant", "impl", "priority", "grad", "jit", "modes", "dtypes", "devices",
                 "per-sample weights"], impl_rows) or "  none registered")
    remarks = [(p, p.error or "; ".join(p.notes)) for p in registry.plugins if p.error or p.notes]
    if remarks:
        print("\nPlugins")
        print(table(["plugin", "status", "source", "detail"], [[p.name, p.status, _source(p), d] for p, d in remarks]))
    return 0


def _source(plugin) -> str:
    return f"{plugin.name} ({plugin.source})"
