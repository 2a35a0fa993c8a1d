"""The plugin registry: loading, ordering, selection and its error messages.

Plugins are defined in the tests and added with ``register_plugin``; the ``entry_points`` fixture
(tests/conftest.py) replaces the installed entry points so only the test's plugins are loaded.
"""

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from tpcore import hookspecs
from tpcore.errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    CapabilityError,
    ImplementationNotFoundError,
    PluginRegistrationError,
    TpcoreError,
)
from tpcore.hookspecs import hookimpl
from tpcore.registry import (
    Backend,
    Capabilities,
    Implementation,
    available_backends,
    build,
    default_backend,
    get_registry,
    normalize_dtype,
    register_plugin,
    select,
)

ROOT = Path(__file__).resolve().parents[1]


class FakeSpec(NamedTuple):
    variant: str
    path_modes: frozenset = frozenset({"uvw"})


CGTP = FakeSpec("cgtp")


def usable():
    return None


def factory(spec, *, device, dtype):
    return ("built", spec, device, dtype)


def make_plugin(backends=(), impls=(), raise_in=None):
    class Plugin:
        @hookimpl
        def tpcore_register_backends(self, register):
            for b in backends:
                register(b)
            if raise_in == "backends":
                raise RuntimeError("boom in backends")

        @hookimpl
        def tpcore_register_implementations(self, register):
            for i in impls:
                register(i)
            if raise_in == "implementations":
                raise RuntimeError("boom in implementations")

    return Plugin()


def impl(backend, name="dense", variant="cgtp", priority=100, **caps):
    return Implementation(backend, variant, name, factory, Capabilities(**caps), priority=priority)


def add_backend(name, priority=100, probe=usable, impls=("dense",), **backend_kwargs):
    backend = Backend(name, probe, priority=priority, **backend_kwargs)
    return register_plugin(make_plugin([backend], [impl(name, n) for n in impls]), name=f"{name}-plugin")


class FakeDist(NamedTuple):
    name: str
    version: str


class FakeEntryPoint(NamedTuple):
    name: str
    value: str
    dist: FakeDist
    target: object
    group: str = "tpcore"

    def load(self):
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


# -- order and the default backend --------------------------------------------------------------


def test_default_order_is_priority_then_name_and_skips_unusable(entry_points):
    add_backend("beta", priority=20)
    add_backend("alpha", priority=20)
    add_backend("first", priority=10, probe=lambda: "first: not installed")
    add_backend("zeta", priority=30)
    assert list(get_registry().backends) == ["first", "alpha", "beta", "zeta"]
    assert available_backends() == ["alpha", "beta", "zeta"]
    assert default_backend() == "alpha"
    assert select(CGTP).backend == "alpha"


def test_tpcore_backend_env_picks_the_backend(entry_points, tpcore_env):
    add_backend("alpha", priority=1)
    add_backend("beta", priority=2)
    add_backend("broken", priority=3, probe=lambda: "broken: no device")
    tpcore_env.setenv("TPCORE_BACKEND", "beta")  # read at each call, not when plugins load
    assert default_backend() == "beta"
    assert select(CGTP).backend == "beta"
    tpcore_env.setenv("TPCORE_BACKEND", "nope")
    with pytest.raises(BackendNotFoundError, match=r"unknown backend 'nope' \(from TPCORE_BACKEND='nope'\)") as e:
        default_backend()
    assert "alpha: usable" in str(e.value) and "broken: not usable: broken: no device" in str(e.value)
    tpcore_env.setenv("TPCORE_BACKEND", "broken")
    with pytest.raises(BackendUnavailableError, match="broken: no device") as e:
        select(CGTP)
    assert "usable backends: alpha, beta" in str(e.value)


def test_no_usable_backend_is_an_error(entry_points):
    add_backend("gpu", probe=lambda: "gpu: no CUDA device")
    with pytest.raises(BackendUnavailableError, match="no usable tpcore backend") as e:
        default_backend()
    assert "gpu: not usable: gpu: no CUDA device" in str(e.value)


# -- unusable backends --------------------------------------------------------------------------


def test_unusable_backend_reports_its_reason(entry_points):
    add_backend("cpu", priority=1)
    add_backend("gpu", probe=lambda: "gpu: no CUDA device\nsecond line is dropped")
    with pytest.raises(BackendUnavailableError) as e:
        build(CGTP, backend="gpu")
    assert str(e.value).splitlines() == ["backend 'gpu' is not usable: gpu: no CUDA device", "usable backends: cpu"]
    status = {s.name: s for s in get_registry().status()}
    assert status["gpu"].usable is False and status["gpu"].reason == "gpu: no CUDA device"
    assert status["cpu"].usable is True and status["cpu"].plugin.source == "registered at runtime"


def test_a_probe_that_raises_makes_only_its_backend_unusable(entry_points):
    def probe():
        raise ImportError("libcuda.so not found")

    add_backend("cpu")
    add_backend("gpu", probe=probe)
    assert available_backends() == ["cpu"]
    assert get_registry().reason("gpu") == "gpu: probe raised ImportError: libcuda.so not found"


def test_probe_runs_lazily_and_once(entry_points):
    calls = []
    add_backend("cpu", probe=lambda: calls.append(1))
    assert calls == []
    available_backends(), available_backends(), select(CGTP)
    assert calls == [1]


def test_unknown_backend_lists_registered_ones_and_failed_plugins(entry_points):
    entry_points.append(FakeEntryPoint("jax", "tpcore_jax.plugin", FakeDist("tpcore", "0.1.0"), ImportError("no jax")))
    add_backend("cpu")
    add_backend("gpu", probe=lambda: "gpu: no device")
    with pytest.raises(BackendNotFoundError) as e:
        select(CGTP, backend="jax")
    assert isinstance(e.value, LookupError) and isinstance(e.value, BackendUnavailableError)
    text = str(e.value)
    assert "unknown backend 'jax'" in text and "cpu: usable" in text and "gpu: not usable: gpu: no device" in text
    assert "plugin 'jax' from tpcore 0.1.0 failed: failed to import tpcore_jax.plugin: ImportError: no jax" in text


# -- implementations and capabilities -----------------------------------------------------------


def test_default_impl_is_lowest_priority_that_meets_the_capabilities(entry_points):
    backend = Backend("cpu", usable)
    register_plugin(make_plugin([backend], [
        impl("cpu", "fast", priority=0, modes={"uvw"}),
        impl("cpu", "general", priority=10),
        impl("cpu", "slow", priority=20),
    ]), name="cpu-plugin")
    assert select(CGTP).name == "fast"
    assert select(FakeSpec("cgtp", frozenset({"uvu"}))).name == "general"
    assert select(CGTP, impl="slow").name == "slow"


def test_missing_capability_names_it_and_lists_implementations_that_have_it(entry_points):
    register_plugin(make_plugin([Backend("cpu", usable, priority=1)], [impl("cpu", "dense", modes={"uvw", "uuu"})]))
    register_plugin(make_plugin([Backend("gpu", usable, devices=("cpu", "cuda"))], [impl("gpu", "all", devices={"cpu", "cuda"})]))
    register_plugin(make_plugin([Backend("far", lambda: "far: not installed")], [impl("far", "x")]))
    spec = FakeSpec("cgtp", frozenset({"uvu", "uvw"}))
    with pytest.raises(CapabilityError) as e:
        select(spec, backend="cpu")
    assert isinstance(e.value, ValueError)
    lines = str(e.value).splitlines()
    assert lines[0] == "no cgtp implementation on backend 'cpu' supports mode uvu, uvw, dtype float32:"
    assert lines[1] == "  cpu/cgtp/dense lacks mode uvu (it has uuu, uvw)"
    assert "  gpu/cgtp/all (usable)" in lines and "  far/cgtp/x (not usable: far: not installed)" in lines
    with pytest.raises(CapabilityError, match=r"lacks device 'cuda:1' \(it has cpu\)"):
        select(CGTP, backend="cpu", device="cuda:1")
    assert select(CGTP, backend="gpu", device="cuda:1").key == "gpu/cgtp/all"
    register_plugin(make_plugin([Backend("f32", usable)], [impl("f32", dtypes={"float32"})]))
    with pytest.raises(CapabilityError, match=r"lacks dtype float64 \(it has float32\)"):
        select(CGTP, backend="f32", dtype="float64")


def test_backend_none_falls_back_to_the_next_backend_that_can(entry_points):
    register_plugin(make_plugin([Backend("first", usable, priority=1)], [impl("first", modes={"uvw"})]))
    register_plugin(make_plugin([Backend("second", usable, priority=2)], [impl("second")]))
    assert select(FakeSpec("cgtp", frozenset({"uuu"}))).backend == "second"
    with pytest.raises(CapabilityError, match="backend 'first'"):
        select(FakeSpec("cgtp", frozenset({"uuu"})), backend="first")


def test_missing_variant_lists_backends_that_have_it(entry_points):
    add_backend("cpu", priority=1)
    register_plugin(make_plugin([Backend("grid", lambda: "grid: not installed")], [impl("grid", "matrix", variant="s2grid")]))
    with pytest.raises(ImplementationNotFoundError) as e:
        select(FakeSpec("s2grid"), backend="cpu")
    assert str(e.value).splitlines() == [
        "backend 'cpu' has no implementation of variant 's2grid'",
        "backends with a s2grid implementation:",
        "  grid: not usable: grid: not installed",
    ]


def test_unknown_impl_name_lists_the_impls(entry_points):
    add_backend("cpu", impls=("dense", "sparse"))
    with pytest.raises(ImplementationNotFoundError, match="cgtp implementations on cpu: dense, sparse"):
        select(CGTP, impl="fft")


def test_build_calls_the_factory_with_normalized_device_and_dtype(entry_points):
    add_backend("cpu", default_dtype="float64")
    assert build(CGTP) == ("built", CGTP, None, "float64")
    assert build(CGTP, device="cpu", dtype=np.float32) == ("built", CGTP, "cpu", "float32")


def test_implementations_query(entry_points):
    add_backend("b", priority=2, impls=("y", "x"))
    add_backend("a", priority=1)
    keys = [i.key for i in get_registry().implementations()]
    assert keys == ["a/cgtp/dense", "b/cgtp/x", "b/cgtp/y"]
    assert [i.key for i in get_registry().implementations(backend="b", variant="cgtp")] == ["b/cgtp/x", "b/cgtp/y"]
    assert get_registry().implementations(variant="gtp") == []


# -- plugin loading -----------------------------------------------------------------------------


def test_duplicate_backend_names_both_plugins_and_changes_nothing(entry_points):
    add_backend("cpu")
    with pytest.raises(PluginRegistrationError) as e:
        register_plugin(make_plugin([Backend("cpu", usable)]), name="copycat")
    text = str(e.value)
    assert "backend 'cpu' is registered twice" in text
    assert "plugin 'cpu-plugin' (registered at runtime)" in text and "plugin 'copycat' (registered at runtime)" in text
    assert [p.name for p in get_registry().plugins] == ["cpu-plugin"]
    register_plugin(make_plugin([Backend("other", usable)]), name="copycat")  # the name is free again


def test_duplicate_implementation_names_both_plugins(entry_points):
    add_backend("cpu")
    with pytest.raises(PluginRegistrationError, match=r"implementation 'cpu/cgtp/dense' is registered twice"):
        register_plugin(make_plugin(impls=[impl("cpu", "dense")]), name="extra")


def test_a_conflicting_entry_point_is_disabled_and_the_first_one_kept(entry_points):
    for dist in ("tpcore", "tpcore-fork"):
        plugin = make_plugin([Backend("torch", usable)], [impl("torch", dist)])
        entry_points.append(FakeEntryPoint(f"torch-{dist}", "x", FakeDist(dist, "1.0"), plugin))
    plugins = {p.name: p for p in get_registry().plugins}
    fork = plugins["torch-tpcore-fork"]
    assert fork.status == "conflict" and fork.backends == [] and fork.implementations == []
    assert fork.error.startswith("backend 'torch' is already registered by plugin 'torch-tpcore' (tpcore 1.0), "
                                 "so this plugin is disabled; uninstall one of the two distributions")
    assert [i.key for i in get_registry().implementations()] == ["torch/cgtp/tpcore"]
    assert select(CGTP).key == "torch/cgtp/tpcore"


def _write_module(tmp_path, tpcore_env, name, body):
    (tmp_path / f"{name}.py").write_text(inspect.cleandoc(body))
    tpcore_env.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


NUMPY_LIKE = FakeEntryPoint("numpy", "tpcore_numpy.plugin", FakeDist("tpcore", "0.1.0"),
                            make_plugin([Backend("numpy", usable, priority=90)], [impl("numpy", "dense")]))


COPYCATS = {
    "backend": 'register_backends(register):\n    register(Backend("numpy", lambda: None))',
    "implementation": 'register_implementations(register):\n'
                      '    register(Implementation("numpy", "cgtp", "dense", lambda s, **k: None, Capabilities()))',
}


@pytest.mark.parametrize("what", COPYCATS)
def test_a_tpcore_plugins_module_taking_a_registered_name_is_disabled_not_fatal(entry_points, tpcore_env, tmp_path,
                                                                                 capsys, what):
    """Issue 16 item 3: every build raised PluginRegistrationError, even ``backend="numpy"``."""
    entry_points.append(NUMPY_LIKE)
    header = "from tpcore import hookimpl\nfrom tpcore.registry import Backend, Capabilities, Implementation\n\n"
    _write_module(tmp_path, tpcore_env, "copycat_plugin", header + "@hookimpl\ndef tpcore_" + COPYCATS[what])
    tpcore_env.setenv("TPCORE_PLUGINS", "copycat_plugin")
    assert build(CGTP, backend="numpy") == ("built", CGTP, None, "float32")
    assert build(CGTP) == ("built", CGTP, None, "float32")
    copycat = {p.name: p for p in get_registry().plugins}["copycat_plugin"]
    assert copycat.status == "conflict"
    assert "already registered by plugin 'numpy' (tpcore 0.1.0), so this plugin is disabled" in copycat.error
    assert copycat.error.endswith("remove copycat_plugin from TPCORE_PLUGINS to silence this")
    from tpcore.cli import main

    assert main(["backends"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["copycat_plugin", "conflict"])
    assert "already registered by plugin 'numpy'" in row


def test_tpcore_plugins_load_even_when_autoload_is_disabled(entry_points, tpcore_env, tmp_path):
    _write_module(tmp_path, tpcore_env, "explicit_plugin", """
        from tpcore import hookimpl
        from tpcore.registry import Backend

        @hookimpl
        def tpcore_register_backends(register):
            register(Backend("explicit", lambda: None))
    """)
    tpcore_env.setenv("TPCORE_PLUGINS", "explicit_plugin")
    tpcore_env.setenv("TPCORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "explicit" in get_registry().backends


def test_implementations_may_name_a_backend_of_a_later_plugin_of_the_same_load(entry_points):
    entry_points.append(FakeEntryPoint("extras", "x", FakeDist("extras", "1.0"), make_plugin(impls=[impl("late")])))
    entry_points.append(FakeEntryPoint("late", "x", FakeDist("late", "1.0"), make_plugin([Backend("late", usable)])))
    assert [i.key for i in get_registry().implementations()] == ["late/cgtp/dense"]
    assert {p.name: p for p in get_registry().plugins}["extras"].implementations == ["late/cgtp/dense"]


@pytest.mark.parametrize("answer, reason", [
    ("", "empty: not usable (its probe returned an empty reason)"),
    ("  \n ", "empty: not usable (its probe returned an empty reason)"),
    (False, "empty: its probe returned False; a probe returns None when usable, else a reason string"),
])
def test_a_probe_answering_an_empty_or_odd_reason_makes_the_backend_unusable(entry_points, capsys, answer, reason):
    """Issue 16 item 2: a probe returning "" raised IndexError in every selection and in `tpcore backends`."""
    add_backend("cpu", priority=50)
    add_backend("empty", priority=1, probe=lambda: answer)
    assert get_registry().reason("empty") == reason
    assert default_backend() == "cpu" and select(CGTP).backend == "cpu"
    from tpcore.cli import main

    assert main(["backends"]) == 0
    assert reason in capsys.readouterr().out


def test_a_plugin_calling_sys_exit_at_import_is_a_failed_plugin(entry_points, tpcore_env, tmp_path):
    """Issue 16 item 14: ``sys.exit(3)`` in a plugin ended `tpcore backends` and made build raise SystemExit."""
    _write_module(tmp_path, tpcore_env, "exiting_plugin", "import sys\nsys.exit(3)")
    entry_points.append(NUMPY_LIKE)
    tpcore_env.setenv("TPCORE_PLUGINS", "exiting_plugin")
    assert build(CGTP) == ("built", CGTP, None, "float32")
    info = {p.name: p for p in get_registry().plugins}["exiting_plugin"]
    assert info.status == "failed"
    assert info.error == "failed to import exiting_plugin: SystemExit: the plugin called sys.exit(3)"


def test_sys_exit_in_a_hook_or_a_probe_is_recorded(entry_points):
    class Exits:
        @hookimpl
        def tpcore_register_backends(self, register):
            raise SystemExit(4)

    info = register_plugin(Exits(), name="exits")
    assert info.error == "tpcore_register_backends raised SystemExit: the plugin called sys.exit(4)"
    add_backend("cpu", probe=lambda: sys.exit("no"))
    assert get_registry().reason("cpu") == "cpu: probe raised SystemExit: the plugin called sys.exit('no')"


@pytest.mark.parametrize("harness, message", [
    (None, "registers no harness"),
    (lambda: 1 / 0, "its harness factory raised ZeroDivisionError: division by zero"),
])
def test_a_missing_or_broken_harness_is_a_backend_error(entry_points, harness, message):
    add_backend("cpu", harness=harness)
    with pytest.raises(BackendUnavailableError, match=message):
        get_registry().harness("cpu")


def test_the_register_callback_only_works_inside_the_hook(entry_points):
    kept = []

    class Keeps:
        @hookimpl
        def tpcore_register_backends(self, register):
            kept.append(register)

    register_plugin(Keeps(), name="keeps")
    with pytest.raises(PluginRegistrationError, match="after its hook returned"):
        kept[0](Backend("late", usable))


@pytest.mark.parametrize("raise_in", ["backends", "implementations"])
def test_plugin_that_raises_during_registration_is_recorded_not_fatal(entry_points, raise_in):
    add_backend("good")
    info = register_plugin(make_plugin([Backend("bad", usable)], [impl("bad")], raise_in=raise_in), name="bad-plugin")
    assert info.status == "failed"
    assert info.error == f"tpcore_register_{raise_in} raised RuntimeError: boom in {raise_in}"
    assert list(get_registry().backends) == ["good"]  # the failed plugin contributes nothing
    assert select(CGTP).backend == "good"


def test_registering_a_wrong_object_is_a_plugin_error(entry_points):
    class Plugin:
        @hookimpl
        def tpcore_register_backends(self, register):
            register("numpy")

    info = register_plugin(Plugin(), name="wrong")
    assert info.error == "tpcore_register_backends raised TypeError: register() expects a tpcore.registry.Backend, got str"


def test_misspelled_hook_is_a_plugin_error(entry_points):
    class Plugin:
        @hookimpl
        def tpcore_register_backend(self, register):
            pass

    info = register_plugin(Plugin(), name="typo")
    assert info.error == ("implements unknown hook(s) tpcore_register_backend; tpcore's hooks are "
                          "tpcore_register_backends, tpcore_register_implementations (tpcore/hookspecs.py)")
    assert get_registry()._pm.get_plugin("typo") is None  # pm.check_pending found it; it was unregistered


def test_implementation_for_an_unregistered_backend_is_skipped_with_a_note(entry_points):
    add_backend("cpu")
    info = register_plugin(make_plugin(impls=[impl("cpu", "extra"), impl("jax", "extra")]), name="extras")
    assert info.error is None and info.implementations == ["cpu/cgtp/extra"]
    assert info.notes == ["skipped implementation jax/cgtp/extra: no loaded plugin registers backend 'jax'"]


def test_entry_point_that_fails_to_import_is_recorded(entry_points):
    entry_points.append(FakeEntryPoint("broken", "broken.plugin", FakeDist("broken-dist", "2.0"), ModuleNotFoundError("No module named 'broken'")))
    entry_points.append(FakeEntryPoint("cpu", "cpu.plugin", FakeDist("cpu-dist", "1.0"), make_plugin([Backend("cpu", usable)], [impl("cpu")])))
    assert available_backends() == ["cpu"]
    plugins = {p.name: p for p in get_registry().plugins}
    assert plugins["broken"].status == "failed" and plugins["broken"].source == "broken-dist 2.0"
    assert "ModuleNotFoundError: No module named 'broken'" in plugins["broken"].error
    assert plugins["cpu"].source == "cpu-dist 1.0" and plugins["cpu"].backends == ["cpu"]


def test_tpcore_plugins_imports_modules(entry_points, tpcore_env, tmp_path):
    (tmp_path / "my_tp_plugin.py").write_text(inspect.cleandoc('''
        from tpcore import hookimpl
        from tpcore.registry import Backend, Capabilities, Implementation

        @hookimpl
        def tpcore_register_backends(register):
            register(Backend("mine", lambda: None, priority=5))

        @hookimpl
        def tpcore_register_implementations(register):
            register(Implementation("mine", "cgtp", "dense", lambda spec, *, device, dtype: "mine", Capabilities()))
    '''))
    tpcore_env.syspath_prepend(str(tmp_path))
    tpcore_env.setenv("TPCORE_PLUGINS", "my_tp_plugin, missing_tp_plugin")
    assert available_backends() == ["mine"]
    assert build(CGTP) == "mine"
    plugins = {p.name: p for p in get_registry().plugins}
    assert plugins["my_tp_plugin"].source == "TPCORE_PLUGINS"
    assert plugins["missing_tp_plugin"].status == "failed"
    assert "failed to import missing_tp_plugin: ModuleNotFoundError" in plugins["missing_tp_plugin"].error
    sys.modules.pop("my_tp_plugin", None)


@pytest.mark.parametrize("value, third_party_loaded", [("1", False), ("true", False), ("0", True), ("", True)])
def test_disable_autoload_keeps_only_first_party_entry_points(entry_points, tpcore_env, value, third_party_loaded):
    entry_points.append(FakeEntryPoint("numpy", "tpcore_numpy.plugin", FakeDist("tpcore", "0.1.0"), make_plugin([Backend("np", usable)])))
    entry_points.append(FakeEntryPoint("extra", "extra.plugin", FakeDist("tpcore-extra", "3.1"), make_plugin([Backend("ext", usable)])))
    tpcore_env.setenv("TPCORE_DISABLE_PLUGIN_AUTOLOAD", value)
    assert ("ext" in get_registry().backends) is third_party_loaded
    assert "np" in get_registry().backends
    extra = {p.name: p for p in get_registry().plugins}["extra"]
    assert extra.status == ("loaded" if third_party_loaded else "skipped")
    if not third_party_loaded:
        assert extra.notes == ["not loaded: TPCORE_DISABLE_PLUGIN_AUTOLOAD is set"]


def test_the_installed_numpy_backend_is_found_through_its_entry_point(tpcore_env):
    assert "numpy" in available_backends()
    info = {p.name: p for p in get_registry().plugins}["numpy"]
    assert info.source.startswith("tpcore ") and info.module == "tpcore_numpy.plugin"


BROKEN_KERNELS = {
    "accepts raises": ("lambda d: 1 / 0", "return None", "its accepts raised ZeroDivisionError: division by zero"),
    "factory raises": ("lambda d: True", "raise RuntimeError('no device here')", "its factory raised RuntimeError: no device here"),
    "factory returns a non-callable": ("lambda d: True", "return 42", "its factory returned int 42, not a callable"),
}


@pytest.mark.parametrize("broken", BROKEN_KERNELS)
def test_a_broken_kernel_is_disabled_and_recorded_against_its_plugin(tpcore_env, tmp_path, capsys, broken):
    """Issue 28 item 1: every ``build(spec, backend="numpy")`` failed with an error naming no plugin."""
    from tpcore import TensorProductSpec
    from tpcore.cli import main

    accepts, body, reason = BROKEN_KERNELS[broken]
    _write_module(tmp_path, tpcore_env, "broken_kernel_plugin", f"""
        from tpcore import hookimpl
        from tpcore.registry import Capabilities, Implementation

        def factory(spec, *, device, dtype):
            {body}

        @hookimpl
        def tpcore_register_implementations(register):
            register(Implementation("numpy", "cgtp", "kernel", factory, Capabilities(), priority=-1, accepts={accepts}))
    """)
    tpcore_env.setenv("TPCORE_PLUGINS", "broken_kernel_plugin")
    spec = TensorProductSpec.cgtp("1x0e + 1x1o", "1x1o", "1x0e + 1x1o")
    assert "numpy/cgtp/kernel" in [i.key for i in get_registry().implementations()]
    tp = build(spec, backend="numpy")
    x1, x2 = np.ones((2, 4)), np.ones((2, 3))
    assert tp(x1, x2, np.ones(spec.weight_numel)).shape == (2, 4)
    assert select(spec, backend="numpy").key == "numpy/cgtp/auto"
    info = {p.name: p for p in get_registry().plugins}["broken_kernel_plugin"]
    assert info.status == "loaded" and info.implementations == []
    assert info.notes == [f"disabled kernel numpy/cgtp/kernel: {reason}"]
    with pytest.raises(ImplementationNotFoundError, match=f"named 'kernel': disabled kernel numpy/cgtp/kernel: {reason} "
                       r"\(plugin 'broken_kernel_plugin', TPCORE_PLUGINS\)"):
        build(spec, backend="numpy", impl="kernel")
    assert main(["backends"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["broken_kernel_plugin", "loaded"])
    assert f"disabled kernel numpy/cgtp/kernel: {reason}" in row


def test_a_kernel_whose_accepts_raises_stops_no_conformance_run(entry_points):
    """The suite (and ``tpcore check``) asks every kernel which cases it takes: one whose ``accepts``
    raises is disabled there as ``build`` disables it, and the run goes on without it."""
    from tpcore.testing.params import conformance_cases

    kernel = Implementation("cpu", "cgtp", "kernel", factory, Capabilities(), priority=-1, accepts=lambda d: 1 / 0)
    info = register_plugin(make_plugin([Backend("cpu", usable)], [kernel]), name="cpu-plugin")
    assert conformance_cases(backend="cpu") == []
    assert info.notes == ["disabled kernel cpu/cgtp/kernel: its accepts raised ZeroDivisionError: division by zero"]


def test_a_kernel_is_not_blamed_for_a_spec_the_descriptor_refuses(entry_points):
    """The descriptor is made outside the kernel's ``accepts``: an error of the spec stays the spec's."""
    kernel = Implementation("cpu", "cgtp", "kernel", factory, Capabilities(), priority=-1, accepts=lambda d: True)
    info = register_plugin(make_plugin([Backend("cpu", usable)], [kernel, impl("cpu")]), name="cpu-plugin")
    with pytest.raises(AttributeError):
        build(CGTP)  # a FakeSpec has no irreps to describe
    assert info.notes == [] and "cpu/cgtp/kernel" in info.implementations


# -- dtypes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, name", [
    ("float32", "float32"), ("float64", "float64"), (" Float64 ", "float64"), ("torch.float32", "float32"),
    (np.float32, "float32"), (np.float64, "float64"), (np.dtype("float32"), "float32"), (np.dtype("<f8"), "float64"),
])
def test_dtype_normalization(dtype, name):
    assert normalize_dtype(dtype) == name


def test_framework_dtypes_normalize_by_name():
    torch = pytest.importorskip("torch")
    assert normalize_dtype(torch.float32) == "float32" and normalize_dtype(torch.double) == "float64"
    jnp = pytest.importorskip("jax.numpy")
    assert normalize_dtype(jnp.float32) == "float32" and normalize_dtype(jnp.zeros(1, "float32").dtype) == "float32"


@pytest.mark.parametrize("bad", ["float16", "int32", float, 3, None, "bfloat16"])
def test_bad_dtype_lists_accepted_values(bad):
    with pytest.raises(ValueError, match="tpcore accepts float32 or float64"):
        normalize_dtype(bad)


def test_bad_dtype_in_build_is_a_value_error(entry_points):
    add_backend("cpu")
    with pytest.raises(ValueError, match="unsupported dtype 'float16'"):
        build(CGTP, dtype="float16")


# -- hygiene ------------------------------------------------------------------------------------


def test_import_registry_imports_no_framework():
    code = (
        "import sys, tpcore.registry, tpcore.cli, tpcore.hookspecs, tpcore.errors\n"
        "print(sorted(m for m in ('torch', 'jax', 'jaxlib', 'cupy', 'e3nn', 'e3nn_jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_every_hook_is_a_documented_stub_and_in_the_plugin_guide():
    hooks = [name for name in dir(hookspecs) if name.startswith("tpcore_")]
    assert hooks == ["tpcore_register_backends", "tpcore_register_implementations"]
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for name in hooks:
        fn = getattr(hookspecs, name)
        assert "firstresult" in inspect.getdoc(fn) and "Called" in inspect.getdoc(fn)
        assert list(inspect.signature(fn).parameters) == ["register"]
        assert f"`{name}(register)`" in guide


def test_errors_are_builtin_exceptions_too():
    assert issubclass(BackendUnavailableError, (TpcoreError, RuntimeError))
    assert issubclass(ImplementationNotFoundError, LookupError) and issubclass(CapabilityError, ValueError)
    assert importlib.import_module("tpcore").hookimpl is hookimpl
