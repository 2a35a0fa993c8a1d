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
