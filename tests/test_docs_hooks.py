"""docs/hooks.md documents every hook of tpcore/hookspecs.py and is the current rendering of the code."""

import importlib.util
from pathlib import Path

import pluggy
import pytest

from tpcore import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS_MD = ROOT / "docs" / "hooks.md"


def _load_hookdoc():
    """scripts/hookdoc.py, the generator (a script of the repository, not a module of the package)."""
    spec = importlib.util.spec_from_file_location("hookdoc", ROOT / "scripts" / "hookdoc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hookdoc = _load_hookdoc()


def _hooks_pluggy_knows() -> set[str]:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return {name for name in vars(pm.hook) if name.startswith(f"{hookspecs.PROJECT_NAME}_")}


def test_hookdoc_finds_every_hook_pluggy_knows():
    assert {f.__name__ for f in hookdoc.hookspec_functions()} == _hooks_pluggy_knows()


def test_every_hook_is_documented():
    text = HOOKS_MD.read_text()
    missing = sorted(name for name in _hooks_pluggy_knows() if f"### `{name}`" not in text)
    assert not missing, f"docs/hooks.md does not document the hook(s) {missing}; regenerate it with: {hookdoc.REGENERATE}"


def test_hooks_md_is_up_to_date():
    assert HOOKS_MD.read_text() == hookdoc.render(), (
        "docs/hooks.md is stale (tpcore/hookspecs.py, the registry dataclasses or tpcore/harness.py changed); "
        f"regenerate it with: {hookdoc.REGENERATE}"
    )


def test_rendering_fails_on_an_undocumented_field(monkeypatch):
    backend_docs = dict(hookdoc.FIELD_DOCS["Backend"])
    del backend_docs["probe"]
    monkeypatch.setitem(hookdoc.FIELD_DOCS, "Backend", backend_docs)
    with pytest.raises(ValueError, match=r"undocumented fields \['probe'\]"):
        hookdoc.render()


def test_reference_shows_signatures_and_parameters():
    text = HOOKS_MD.read_text()
    assert "tpcore_register_backends(register: Callable[[Backend], None]) -> None" in text
    assert "- **register**: call `register(Backend(...))` once per backend." in text


def test_the_generator_takes_a_path_and_nothing_else(tmp_path, monkeypatch, capsys):
    """``--help`` prints the usage instead of writing a file named ``--help``; other options are refused."""
    monkeypatch.chdir(tmp_path)
    assert hookdoc.main(["--help"]) == 0 and "usage:" in capsys.readouterr().out
    assert hookdoc.main(["-x"]) == 2 and "expected at most one path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert hookdoc.main(["hooks.md"]) == 0 and (tmp_path / "hooks.md").read_text() == HOOKS_MD.read_text()
