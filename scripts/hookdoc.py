"""Renders docs/hooks.md, the plugin hook reference, from the code it documents.

The hooks come from :mod:`tpcore.hookspecs` (signature, pluggy options, docstring), the types a
plugin registers from the dataclasses in :mod:`tpcore.registration` (field, type, default) with the
meanings in :data:`FIELD_DOCS`, and the harness contract from :class:`tpcore.harness.Harness`.
tests/test_docs_hooks.py regenerates the page and fails if the committed one differs, so the
reference cannot drift from the code. A docs generator, not part of the installed package.
Regenerate with::

    python scripts/hookdoc.py docs/hooks.md
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path

REGENERATE = "python scripts/hookdoc.py docs/hooks.md"

#: what each field of the registered dataclasses means; rendering fails if a field is missing here
FIELD_DOCS = {
    "Backend": {
        "name": "global name, e.g. `\"torch\"`; used by `build(spec, backend=...)` and `TPCORE_BACKEND`",
        "probe": "`() -> None` if usable, else a one-line reason such as `\"cupy: no CUDA device\"`. Called lazily, "
        "at most once per registry; an exception makes the backend unusable with the exception as reason. "
        "**Must not import a framework that is not installed** (ask `importlib.util.find_spec` first)",
        "priority": "default order of backends: lower first, ties by name (tpcore's jax 10, torch 20, numpy 90)",
        "default_dtype": "dtype used when `build(..., dtype=None)`; must be in `dtypes`",
        "dtypes": "dtype names the backend handles (`\"float32\"`, `\"float64\"`)",
        "devices": "device kinds, e.g. `(\"cpu\", \"cuda\")`; `build(device=\"cuda:1\")` is checked by the part before `:`",
        "description": "one line for `tpcore backends`",
        "harness": "zero-argument callable returning the backend's `Harness` (below), or None; called once the "
        "backend is usable, so it may import the framework. Without one, the conformance suite, `tpcore check`, "
        "`tpcore report` and the benchmarks cannot drive the backend",
        "convolution": "zero-argument callable returning `wrap(product) -> conv`: the message-passing op "
        "(`tpcore.build_conv`, `tpcore/convolution.py`) of a product built on this backend, or None if the backend "
        "offers none; called once the backend is usable",
    },
    "Capabilities": {
        "modes": "cgtp connection modes supported (e3nn's `uvw`, `uvu`, `uvv`, `uuw`, `uuu`, `uvuv`, `uvu<v`, `u<vw`); None means every mode. "
        "The channel-wise variants (gtp, s2grid, mtp) have the single mode `uuu`",
        "dtypes": "dtype names the implementation computes in",
        "devices": "device kinds it runs on",
        "grad_order": "0: forward only; 1: first derivatives; 2: second derivatives too (checked by the conformance suite)",
        "jit": "whether the built object compiles (jax.jit, torch.compile)",
        "per_sample_weights": "whether `weights` of shape `(..., weight_numel)` (one vector per sample) are accepted",
    },
    "Implementation": {
        "backend": "the name of a registered backend (possibly another plugin's)",
        "variant": "one of `cgtp`, `gtp`, `s2grid`, `mtp`",
        "name": "unique on its backend and variant, e.g. `\"dense\"`; chosen with `build(spec, impl=...)`",
        "factory": "`factory(spec, *, device, dtype) -> tp`; `device` is None or a string such as `\"cuda:1\"`, "
        "`dtype` is `\"float32\"` or `\"float64\"`. Called only after the capabilities were checked; the place "
        "to import the framework. `tp(x1, x2, weights=None)` returns `(*batch, irreps_out.dim)`",
        "capabilities": "a `Capabilities`, checked by `build()` before the factory is called",
        "priority": "among the implementations of one backend and variant that meet a request, the lowest wins",
        "description": "one line for `tpcore backends`",
        "convolution": "`convolution(spec, *, device, dtype) -> conv`: the implementation's own message-passing op "
        "(`conv(x1, x2, weights, src, dst, num_nodes, x2_index=None)`, e.g. a kernel that gathers, multiplies and scatters without "
        "forming the per-edge messages); `tpcore.build_conv` calls it when it selects this implementation. It must "
        "check its indices as `tpcore.convolution.check_graph` does. None: the backend's `convolution` wraps the product",
        "accepts": "None, or `accepts(descriptor) -> bool` on the spec's `tpcore.descriptor.Descriptor`: a *kernel* "
        "that computes only the products it accepts; `build` then passes over it for the others, and the "
        "conformance suite checks it on the catalogue cases it accepts",
    },
}


def hookspec_functions() -> list:
    """The hook specifications of :mod:`tpcore.hookspecs`, in the order they are defined."""
    from tpcore import hookspecs

    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [f for f in vars(hookspecs).values() if inspect.isfunction(f) and hasattr(f, marker)]


def render() -> str:
    """The markdown of docs/hooks.md."""
    from tpcore import harness, hookspecs, registry

    parts = [
        "# Hook reference",
        f"<!-- Generated from tpcore/hookspecs.py, tpcore/registration.py and tpcore/harness.py by scripts/hookdoc.py; "
        f"do not edit. Regenerate with: {REGENERATE} -->",
        "A walk-through from an empty directory to a conformance-checked plugin is in "
        "[plugins.md](plugins.md). This page is the reference.",
        _rst_to_markdown(inspect.getdoc(hookspecs)),
        "## Hooks",
    ]
    for function in hookspec_functions():
        parts.append(_render_hook(function, getattr(function, f"{hookspecs.PROJECT_NAME}_spec")))
    parts.append("## What a plugin registers")
    parts.append(
        "All three are frozen dataclasses defined in `tpcore.registration`; import them from `tpcore.registry`, "
        "which re-exports them (see the public plugin API in [plugins.md](plugins.md))."
    )
    for cls in (registry.Backend, registry.Capabilities, registry.Implementation):
        parts.append(_render_dataclass(cls))
    parts.append(_render_harness(harness.Harness))
    return "\n\n".join(parts) + "\n"


def _render_hook(function, options: dict) -> str:
    flags = ", ".join(f"`{name}`" for name, value in options.items() if value is True) or "none"
    return "\n\n".join(
        [f"### `{function.__name__}`", f"```python\n{_signature(function)}\n```", f"pluggy options: {flags}.",
         _rst_to_markdown(inspect.getdoc(function))]
    )  # fmt: skip


def _render_dataclass(cls) -> str:
    docs = FIELD_DOCS[cls.__name__]
    fields = dataclasses.fields(cls)
    undocumented = [f.name for f in fields if f.name not in docs]
    stale = sorted(set(docs) - {f.name for f in fields})
    if undocumented or stale:
        raise ValueError(
            f"scripts/hookdoc.py FIELD_DOCS[{cls.__name__!r}] is out of date: undocumented fields {undocumented}, "
            f"entries for fields that no longer exist {stale}"
        )
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in fields:
        cells = [f"`{f.name}`", f"`{_clean(str(f.type))}`", _default(f), docs[f.name]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return f"### `{cls.__name__}`\n\n{_rst_to_markdown(inspect.getdoc(cls))}\n\n" + "\n".join(rows)


def _render_harness(cls) -> str:
    parts = [
        "## The harness contract",
        _rst_to_markdown(inspect.getdoc(sys.modules[cls.__module__])),
        f"### `{cls.__module__}.{cls.__name__}`",
        _rst_to_markdown(inspect.getdoc(cls)),
    ]
    for name, member in vars(cls).items():
        if inspect.isfunction(member) and not name.startswith("_"):
            doc = re.sub(r"\n(?=.)", "\n  ", _rst_to_markdown(inspect.getdoc(member)))
            parts.append(f"- `{_signature(member, skip_self=True)}`" + (f"\n\n  {doc}" if doc else ""))
    return "\n\n".join(parts)


def _signature(function, skip_self: bool = False) -> str:
    params = []
    for p in inspect.signature(function).parameters.values():
        if skip_self and p.name == "self":
            continue
        text = p.name if p.annotation is inspect.Parameter.empty else f"{p.name}: {_clean(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        params.append(text)
    returns = inspect.signature(function).return_annotation
    tail = "" if returns is inspect.Signature.empty else f" -> {_clean(returns)}"
    return f"{function.__name__}({', '.join(params)}){tail}"


def _clean(annotation) -> str:
    """An annotation as written, without the quotes of forward references."""
    return str(annotation).replace("'", "").replace('"', "")


def _default(field) -> str:
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory.__name__}()`"
    if field.default is dataclasses.MISSING:
        return "required"
    if isinstance(field.default, frozenset):  # sorted: a set's repr changes with hash randomization
        return "`{" + ", ".join(repr(v) for v in sorted(field.default)) + "}`"
    return f"`{field.default!r}`"


def _rst_to_markdown(text: str | None) -> str:
    """The reST of a docstring as markdown: roles and double backticks to code, fields to bullets."""
    if not text:
        return ""
    text = re.sub(r":(?:class|func|meth|mod|data|attr|exc):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    text = re.sub(r"^:param (\w+):", r"- **\1**:", text, flags=re.MULTILINE)
    text = re.sub(r"^:returns?:", r"- **returns**:", text, flags=re.MULTILINE)
    return text


USAGE = "usage: python scripts/hookdoc.py [PATH]  (write the hook reference to PATH; default: print it)"


def main(argv: list[str] | None = None) -> int:
    """Write the rendered reference to the path given (default: print it)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(f"hookdoc.py: expected at most one path, got {' '.join(argv)}\n{USAGE}", file=sys.stderr)
        return 2
    text = render()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
