"""docs/plugins.md shows plugins/tpcore-example file for file, and the example plugin works as the guide says."""

import importlib.metadata
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tpcore
from tpcore import registry
from tpcore.cli import main as tpcore_main

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "plugins" / "tpcore-example"
#: a fenced code block preceded by ``<!-- file: PATH -->``, PATH relative to plugins/tpcore-example
FILE_BLOCK = re.compile(r"^<!-- file: (\S+) -->\n```[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _guide_files() -> dict[str, str]:
    blocks = FILE_BLOCK.findall(GUIDE.read_text())
    paths = [path for path, _ in blocks]
    assert len(paths) == len(set(paths)), f"docs/plugins.md shows a file twice: {paths}"
    return dict(blocks)


def _example_sources() -> list[str]:
    """The example's code and configuration (everything but its README and build leftovers)."""
    return sorted(
        str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*")
        if p.is_file() and p.suffix in (".py", ".toml") and not any(part.endswith((".egg-info", "__pycache__", "build")) for part in p.parts)
    )  # fmt: skip


def test_guide_blocks_are_the_example_files():
    blocks = _guide_files()
    assert blocks, "docs/plugins.md has no '<!-- file: PATH -->' code blocks"
    for path, text in blocks.items():
        file = EXAMPLE / path
        assert file.is_file(), f"docs/plugins.md shows {path}, which plugins/tpcore-example does not have"
        assert text == file.read_text(), f"docs/plugins.md's block for {path} differs from plugins/tpcore-example/{path}"


def test_guide_shows_every_example_file():
    missing = sorted(set(_example_sources()) - set(_guide_files()))
    assert not missing, f"plugins/tpcore-example has files docs/plugins.md does not show: {missing}"


@pytest.fixture
def example_plugin(entry_points):
    """The example plugin registered at run time on a registry without any other plugin."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from tpcore_example import plugin
    finally:
        sys.path.remove(str(EXAMPLE))
    info = registry.register_plugin(plugin, name="example")
    assert info.error is None, info.error
    return plugin


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weight_batch", [(), (3,)], ids=["shared", "per-sample"])
def test_example_builds_and_matches_the_reference(example_plugin, dtype, weight_batch):
    spec = tpcore.TensorProductSpec.cgtp("2x0e + 1x1o + 1x2e", "1x0e + 2x1o", "2x0e + 1x1o + 2x1e + 1x2e + 1x3o")
    tp = tpcore.build(spec, backend="example", dtype=dtype)
    assert type(tp).__module__ == "tpcore_example.einsum_tp"
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(3, spec.irreps_in1.dim)), rng.normal(size=(1, spec.irreps_in2.dim))
    w = rng.normal(size=weight_batch + (spec.weight_numel,))
    x1, x2, w = (a.astype(dtype).astype(np.float64) for a in (x1, x2, w))  # the reference sees the same numbers
    got = tp(x1.astype(dtype), x2.astype(dtype), w.astype(dtype))
    expected = tpcore.reference(spec, x1, x2, w)
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= {"float32": 1e-5, "float64": 1e-10}[dtype] * np.max(np.abs(expected))


def test_example_harness_refuses_gradients(example_plugin):
    spec = tpcore.TensorProductSpec.cgtp("1x0e", "1x0e", "1x0e")
    harness = registry.get_registry().harness("example")
    with pytest.raises(NotImplementedError, match="example"):
        harness.vjp_function(tpcore.build(spec, backend="example"))


def test_installed_example_is_listed_and_built(tpcore_env, capsys):
    try:
        importlib.metadata.distribution("tpcore-example")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tpcore-example is not installed (pip install -e plugins/tpcore-example)")
    assert tpcore_main(["backends"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^\s+example\s+yes\s.*tpcore-example", listing, re.MULTILINE), listing
    assert re.search(r"^\s+example\s+cgtp\s+einsum\s", listing, re.MULTILINE), listing
    spec = tpcore.TensorProductSpec.cgtp("2x0e + 1x1o", "1x0e + 1x1o", "2x0e + 1x1o + 1x1e")
    assert type(tpcore.build(spec, backend="example")).__name__ == "EinsumTensorProduct"


def _public_api() -> set[str]:
    """The modules docs/plugins.md's "public plugin API" section lists (each bullet's backticked ``tpcore...`` names)."""
    text = GUIDE.read_text()
    section = text[text.index("## The public plugin API"):]
    section = section[: section.index("\n## ", 1)]
    bullets = [line for line in section.splitlines() if line.startswith("- ") or line.startswith("  ")]
    return set(re.findall(r"`(tpcore(?:\.\w+)*)`", "\n".join(bullets)))


def _tpcore_imports(package: Path) -> dict[str, set[str]]:
    """``{module tpcore... or tpcore_...: files importing it}`` over a plugin's package code."""
    import ast

    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                if name.split(".")[0] == "tpcore" or name.startswith("tpcore_"):
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_public_api_section_lists_the_plugin_modules():
    assert {"tpcore.registry", "tpcore.dtypes", "tpcore.devices", "tpcore.validation", "tpcore.harness",
            "tpcore.testing"} <= _public_api()  # fmt: skip


@pytest.mark.parametrize("plugin", ["tpcore-e3nn/tpcore_e3nn", "tpcore-example/tpcore_example", "tpcore-mace/tpcore_mace",
                                    "tpcore-cuequivariance/tpcore_cuequivariance", "tpcore-nequip/tpcore_nequip",
                                    "tpcore-sevennet/tpcore_sevennet"])
def test_first_party_plugins_import_only_the_public_api(plugin):
    own = Path(plugin).name
    outside = {
        name: files for name, files in _tpcore_imports(ROOT / "plugins" / plugin).items()
        if name.split(".")[0] != own and name not in _public_api()
    }  # fmt: skip
    assert not outside, f"plugins/{plugin} imports what docs/plugins.md's public plugin API does not list: {outside}"
