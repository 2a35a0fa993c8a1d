"""pytest plugin: run e3nn's own test files with tpcore's tensor-product classes in e3nn's place.

Loaded by ``scripts/e3nn_suite.sh`` with ``-p e3nn_suite_patch``. After collection (so the tests'
parameters are built by e3nn, as upstream collects them), every name under which e3nn code or a
test module can reach ``TensorProduct``, ``FullyConnectedTensorProduct``, ``FullTensorProduct``,
``ElementwiseTensorProduct`` or ``TensorSquare`` is rebound to ``tpcore.torch``'s class of the same
name: e3nn's own modules (``e3nn.o3``, ``e3nn.o3._tensor_product._sub``, ``e3nn.o3._norm``,
``e3nn.o3._reduce``, ``e3nn.nn._gate``, ``e3nn.nn.models.*``, ...) and the collected test modules. So
e3nn's classes built on them (``Norm``, ``ReducedTensorProducts``, ``Gate``, ``NormActivation``, the
gate_points networks) run on tpcore.

The tests in the declared list (``e3nn_suite_known.toml``, next to this file) are marked
``xfail(strict=True)`` with their reason: they test e3nn's code-generation internals, and one that
starts passing fails the run so that the list only shrinks. The suite (``e3nn`` or ``e3nn_jax``) is
chosen with ``--tpcore-suite``; ``--tpcore-no-patch`` runs the tests against the original library.
"""

from __future__ import annotations

import os
import sys
import tomllib

import pytest

TORCH_NAMES = ("TensorProduct", "FullyConnectedTensorProduct", "FullTensorProduct", "ElementwiseTensorProduct", "TensorSquare")
KNOWN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "e3nn_suite_known.toml")


def pytest_addoption(parser):
    group = parser.getgroup("tpcore")
    group.addoption("--tpcore-suite", choices=("e3nn", "e3nn_jax"), default="e3nn", help="which library's tests these are")
    group.addoption("--tpcore-no-patch", action="store_true", help="run against the original library (the baseline)")


def _replacements(suite: str) -> list[tuple[object, object]]:
    """(original object, tpcore's replacement) pairs for the suite."""
    if suite == "e3nn":
        import e3nn.o3
        import tpcore.torch

        return [(getattr(e3nn.o3, name), getattr(tpcore.torch, name)) for name in TORCH_NAMES]
    import e3nn_jax
    import tpcore.jax

    return [(e3nn_jax.tensor_product, tpcore.jax.tensor_product)]


def _rebind(modules, pairs) -> int:
    """Rebind, in each module's globals, every name bound to an original object; the count rebound."""
    by_id = {id(orig): new for orig, new in pairs}
    count = 0
    for module in modules:
        namespace = getattr(module, "__dict__", None)
        if namespace is None:
            continue
        for name, value in list(namespace.items()):
            new = by_id.get(id(value))
            if new is not None:
                setattr(module, name, new)
                count += 1
    return count


def pytest_collection_modifyitems(session, config, items):
    known = _known(config.getoption("--tpcore-suite"))
    for item in items:
        reason = _lookup(known, item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=f"declared: {reason}", strict=True, raises=None))
    if config.getoption("--tpcore-no-patch"):
        return
    suite = config.getoption("--tpcore-suite")
    pairs = _replacements(suite)
    prefix = suite + "."
    library = [m for name, m in list(sys.modules.items()) if name == suite or name.startswith(prefix)]
    tests = {id(item.module): item.module for item in items if getattr(item, "module", None) is not None}
    count = _rebind(library + list(tests.values()), pairs)
    config._tpcore_rebound = count


def _known(suite: str) -> dict[str, str]:
    """The declared list of the suite: test node id (or a prefix ending in ``[``) -> reason."""
    with open(KNOWN, "rb") as f:
        table = tomllib.load(f).get(suite, {})
    return {entry["test"]: entry["reason"] for entry in table.get("internals", [])}


def _lookup(known: dict[str, str], nodeid: str) -> str | None:
    if nodeid in known:
        return known[nodeid]
    base = nodeid.split("[", 1)[0]
    return known.get(base)


def pytest_report_header(config):
    if config.getoption("--tpcore-no-patch"):
        return "tpcore suite: baseline, the original library's classes"
    return f"tpcore suite: {config.getoption('--tpcore-suite')}'s tensor products replaced by tpcore's after collection"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = terminalreporter.stats
    counts = {key: len(stats.get(key, [])) for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")}
    rebound = getattr(config, "_tpcore_rebound", 0)
    terminalreporter.write_line(
        f"tpcore {config.getoption('--tpcore-suite')} suite: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors, {counts['skipped']} skipped, {counts['xfailed']} declared (xfailed), "
        f"{counts['xpassed']} declared but passing; {rebound} names rebound to tpcore"
    )
