"""The cupy backend: CupyTensorProduct run with numpy in CI, and through the registry on a CUDA GPU.

``CupyTensorProduct`` works over any numpy-like namespace, so its checks, batching, forward and
explicit vjp are tested here with ``xp=numpy`` against the float64 reference (gradients from the
reference on unit vectors, see tests/test_autodiff.py). The GPU section builds through
``tpcore.build(spec, backend="cupy")`` and runs only where cupy imports and a device works.
"""

import copy
import importlib.util
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
from test_autodiff import CASES, WEIGHTED_CASES, assert_close, inputs, reference_grads

import tpcore
from tpcore import TensorProductSpec, registry, s2_irreps
from tpcore.errors import BackendUnavailableError
from tpcore.plan import STRATEGIES
from tpcore.reference import reference
from tpcore_cupy import plugin
from tpcore_cupy.tensor_product import CupyTensorProduct

CGTP = CASES[0].values[0]  # uvw, weighted
GTP = next(c.values[0] for c in WEIGHTED_CASES if c.values[0].variant == "gtp")


def build(spec, strategy=None, dtype="float64"):
    return CupyTensorProduct(spec, np, dtype, strategy)


def vjp_check(tp, spec, x1, x2, w, dtype="float64", seed=10):
    """Forward and all gradients of ``tp.vjp`` against the reference, for inputs of batch ``(Z,)``."""
    out, vjp_fn = tp.vjp(x1, x2, w)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, reference(spec, x1, x2, w), dtype)
    g = np.random.default_rng(seed).normal(size=out.shape).astype(dtype)
    grads = vjp_fn(g)
    for got, expected, given in zip(grads, reference_grads(spec, x1, x2, w, g), (x1, x2, w)):
        if given is None:
            assert got is None
        else:
            assert got.dtype == np.dtype(dtype) and got.shape == given.shape
            assert_close(got, expected, dtype)


# -- numpy as the namespace: every variant x strategy -----------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_forward_matches_reference(spec, strategy, dtype):
    x1, x2, w = inputs(spec, np.random.default_rng(0), batch=(5,), dtype=dtype)
    out = build(spec, strategy, dtype)(x1, x2, w)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, reference(spec, x1, x2, w), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_vjp_matches_reference_gradients(spec, strategy, dtype):
    x1, x2, w = inputs(spec, np.random.default_rng(1), batch=(4,), dtype=dtype)
    vjp_check(build(spec, strategy, dtype), spec, x1, x2, w, dtype)


@pytest.mark.parametrize("variant, strategy", [(v, s) for v in ("gtp", "s2grid", "mtp") for s in STRATEGIES[v]])
def test_vjp_at_larger_degrees(variant, strategy):
    spec = getattr(TensorProductSpec, variant)(s2_irreps(3, mul=2), s2_irreps(3, mul=2), s2_irreps(6, mul=2), weighted=True)
    x1, x2, w = inputs(spec, np.random.default_rng(17), batch=(3,))
    vjp_check(build(spec, strategy), spec, x1, x2, w)


@pytest.mark.parametrize("spec, strategy", WEIGHTED_CASES)
def test_vjp_with_per_sample_weights(spec, strategy):
    x1, x2, w = inputs(spec, np.random.default_rng(2), batch=(3,), per_sample=True)
    vjp_check(build(spec, strategy), spec, x1, x2, w)


@pytest.mark.parametrize("spec", [CGTP, GTP], ids=["cgtp", "gtp"])
@pytest.mark.parametrize("batch", [(), (0,), (5,), (2, 3)])
def test_batch_shapes(spec, batch):
    tp = build(spec)
    x1, x2, w = inputs(spec, np.random.default_rng(3), batch=batch)
    out, vjp_fn = tp.vjp(x1, x2, w)
    expected = reference(spec, x1, x2, w)
    assert out.shape == expected.shape == batch + (spec.irreps_out.dim,)
    assert_close(out, expected)
    assert_close(tp(x1, x2, w), expected)
    g = np.random.default_rng(4).normal(size=out.shape)
    g1, g2, gw = vjp_fn(g)
    assert g1.shape == x1.shape and g2.shape == x2.shape and gw.shape == w.shape
    flat = lambda a, d: a.reshape(-1, d)  # noqa: E731
    expected = reference_grads(spec, flat(x1, x1.shape[-1]), flat(x2, x2.shape[-1]), w, flat(g, g.shape[-1]))
    assert_close(g1, expected[0].reshape(x1.shape))
    assert_close(g2, expected[1].reshape(x2.shape))
    assert_close(gw, expected[2])


@pytest.mark.parametrize("spec", [CGTP, GTP], ids=["cgtp", "gtp"])
def test_broadcast_inputs_get_reduced_gradients(spec):
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=(2, 1, spec.irreps_in1.dim))
    x2 = rng.normal(size=(3, spec.irreps_in2.dim))
    w = rng.normal(size=(1, 3, spec.weight_numel))  # per sample, broadcast over the first axis
    tp = build(spec)
    out, vjp_fn = tp.vjp(x1, x2, w)
    assert out.shape == (2, 3, spec.irreps_out.dim)
    assert_close(out[1, 2], reference(spec, x1[1, 0], x2[2], w[0, 2]))
    g = rng.normal(size=out.shape)
    g1, g2, gw = vjp_fn(g)
    assert g1.shape == x1.shape and g2.shape == x2.shape and gw.shape == w.shape
    # the same calls on explicitly broadcast copies, then summed over the broadcast axes
    full = [np.broadcast_to(a, (2, 3, a.shape[-1])).reshape(6, -1) for a in (x1, x2, w)]
    e1, e2, ew = (a.reshape(2, 3, -1) for a in reference_grads(spec, *full, g.reshape(6, -1)))
    assert_close(g1, e1.sum(axis=1, keepdims=True))
    assert_close(g2, e2.sum(axis=0))
    assert_close(gw, ew.sum(axis=0, keepdims=True))


def test_shared_weights_broadcast_against_a_single_sample_x1():
    spec = CGTP
    rng = np.random.default_rng(6)
    x1 = rng.normal(size=(spec.irreps_in1.dim,))
    x2 = rng.normal(size=(4, spec.irreps_in2.dim))
    w = rng.normal(size=(spec.weight_numel,))
    out, vjp_fn = build(spec).vjp(x1, x2, w)
    g = rng.normal(size=out.shape)
    g1, g2, gw = vjp_fn(g)
    e1, e2, ew = reference_grads(spec, np.broadcast_to(x1, (4, x1.size)), x2, w, g)
    assert_close(g1, e1.sum(axis=0))
    assert_close(g2, e2)
    assert_close(gw, ew)


def test_vjp_without_weights_gives_none():
    spec = TensorProductSpec.s2grid("2x0e + 2x1o", "2x0e + 2x1o", "2x0e + 2x1o + 2x2e")
    x1, x2, _ = inputs(spec, np.random.default_rng(7))
    out, vjp_fn = build(spec).vjp(x1, x2)
    assert vjp_fn(np.ones_like(out))[2] is None


# -- errors ------------------------------------------------------------------------------------


def test_wrong_last_dimension():
    x1, x2, w = inputs(CGTP, np.random.default_rng(8))
    with pytest.raises(ValueError, match=f"x1 has last dimension {x1.shape[-1] + 1}, but irreps_in1"):
        build(CGTP)(np.zeros((4, x1.shape[-1] + 1)), x2, w)
    with pytest.raises(ValueError, match="x2 has last dimension 1, but irreps_in2"):
        build(CGTP).vjp(x1, np.zeros((4, 1)), w)


def test_wrong_weights():
    x1, x2, w = inputs(CGTP, np.random.default_rng(9))
    with pytest.raises(ValueError, match="weights are required"):
        build(CGTP)(x1, x2)
    with pytest.raises(ValueError, match=rf"weights have shape \(3,\), but the spec needs \({CGTP.weight_numel},\)"):
        build(CGTP).vjp(x1, x2, np.zeros(3))


def test_dtype_mismatch():
    x1, x2, w = inputs(CGTP, np.random.default_rng(10))
    with pytest.raises(TypeError, match="x2 has dtype float64, but this tensor product was built for float32"):
        build(CGTP, dtype="float32")(x1.astype(np.float32), x2, w.astype(np.float32))


def test_inputs_of_another_array_type_name_the_argument():
    x1, x2, w = inputs(CGTP, np.random.default_rng(11))
    with pytest.raises(TypeError, match=r"x1 is a builtins.list, but this tensor product runs on numpy arrays: pass numpy arrays"):
        build(CGTP)(x1.tolist(), x2, w)
    with pytest.raises(TypeError, match="weights is a builtins.tuple"):
        build(CGTP).vjp(x1, x2, tuple(w))


def test_none_and_scalars_are_named():
    x1, x2, w = inputs(CGTP, np.random.default_rng(19))
    with pytest.raises(TypeError, match=r"^x2 is None, but this tensor product runs on numpy arrays: pass numpy arrays"):
        build(CGTP)(x1, None, w)
    with pytest.raises(TypeError, match=r"^x1 is a builtins.float, but this tensor product runs on numpy arrays"):
        build(CGTP).vjp(1.0, x2, w)


@pytest.mark.parametrize("dtype", ["int64", "float16", "complex64", "bool"])
def test_dtypes_build_rejects_are_never_suggested(dtype):
    x1, x2, w = inputs(CGTP, np.random.default_rng(20), dtype="float32")
    with pytest.raises(TypeError, match=rf"^weights has dtype {dtype}, but this tensor product was built for float32; "
                       r"cast weights to float32 \(tensor products are built for float32 or float64 only\)$"):  # fmt: skip
        build(CGTP, dtype="float32").vjp(x1, x2, w.astype(dtype))


def test_bad_cotangent():
    x1, x2, w = inputs(CGTP, np.random.default_rng(12))
    out, vjp_fn = build(CGTP).vjp(x1, x2, w)
    with pytest.raises(ValueError, match=rf"g has shape \(4, 3\), but the output it is the gradient of has shape \(4, {out.shape[1]}\)"):
        vjp_fn(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="g has dtype float32, but the output has dtype float64"):
        vjp_fn(np.zeros(out.shape, np.float32))
    with pytest.raises(TypeError, match="g is a builtins.list"):
        vjp_fn(out.tolist())


@pytest.mark.parametrize("spec, strategy", WEIGHTED_CASES[::2])
def test_pickle_and_deepcopy_rebuild_the_same_function(spec, strategy):
    tp = build(spec, strategy)
    x1, x2, w = inputs(spec, np.random.default_rng(21), batch=(3,), per_sample=True)
    out, vjp_fn = tp.vjp(x1, x2, w)
    g = np.random.default_rng(22).normal(size=out.shape)
    for clone in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):
        assert type(clone) is CupyTensorProduct and clone.ops.xp is np and clone.spec == spec
        assert (clone.plan.strategy, clone.dtype, clone.device) == (tp.plan.strategy, tp.dtype, tp.device)
        np.testing.assert_array_equal(clone(x1, x2, w), out)
        clone_out, clone_vjp = clone.vjp(x1, x2, w)
        np.testing.assert_array_equal(clone_out, out)
        for got, expected in zip(clone_vjp(g), vjp_fn(g)):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("strategy", [None, *STRATEGIES["cgtp"][1:]])
def test_strategy_names_the_plan_like_the_torch_and_jax_builds(strategy):
    """Issue 28 item 8: the numpy and cupy builds had no ``strategy``; torch's and jax's have."""
    from tpcore.plan import resolve_strategy

    tp = build(CGTP, strategy)
    assert tp.strategy == (strategy or resolve_strategy(CGTP)) == tp.plan.strategy
    assert pickle.loads(pickle.dumps(tp)).strategy == tp.strategy and f"strategy={tp.strategy!r}" in repr(tp)


def test_a_pickle_keeps_the_device_index(monkeypatch):
    fake = types.ModuleType("fakecupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.ndarray, fake.cuda = _OnDevice0, types.SimpleNamespace(Device=_FakeDevice)
    monkeypatch.setitem(sys.modules, "fakecupy", fake)
    clone = pickle.loads(pickle.dumps(CupyTensorProduct(CGTP, fake, "float32", device=1)))
    assert clone.ops.xp is fake and clone.device == 1 and clone.dtype == np.float32


class _FakeDevice:
    """``cupy.cuda.Device`` for the device bookkeeping test: a context that sets the current device."""

    current = 0

    def __init__(self, id=None):
        self.id = _FakeDevice.current if id is None else id

    def __enter__(self):
        self.saved, _FakeDevice.current = _FakeDevice.current, self.id
        return self

    def __exit__(self, *exc):
        _FakeDevice.current = self.saved


class _OnDevice0(np.ndarray):
    @property
    def device(self):
        return types.SimpleNamespace(id=0)


class _OnDevice1(_OnDevice0):
    @property
    def device(self):
        return types.SimpleNamespace(id=1)


def test_device_bookkeeping_with_a_cupy_like_namespace(monkeypatch):
    fake = types.ModuleType("fakecupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.ndarray, fake.cuda = _OnDevice0, types.SimpleNamespace(Device=_FakeDevice)
    monkeypatch.setitem(sys.modules, "fakecupy", fake)  # a namespace is known by its import name
    monkeypatch.setattr(_FakeDevice, "current", 1)
    spec = CGTP
    tp = CupyTensorProduct(spec, fake, "float64")
    assert tp.device == 1 and CupyTensorProduct(spec, fake, "float64", device=0).device == 0
    x1, x2, w = inputs(spec, np.random.default_rng(18))
    out, vjp_fn = tp.vjp(x1.view(_OnDevice1), x2.view(_OnDevice1), w.view(_OnDevice1))
    assert_close(out, reference(spec, x1, x2, w))
    assert_close(vjp_fn(np.ones(out.shape).view(_OnDevice1))[2], reference_grads(spec, x1, x2, w, np.ones(out.shape))[2])
    with pytest.raises(ValueError, match="x2 is on cuda:0, but this tensor product was built for cuda:1"):
        tp(x1.view(_OnDevice1), x2.view(_OnDevice0), w.view(_OnDevice1))
    with pytest.raises(TypeError, match=r"x1 is a numpy.ndarray, but this tensor product runs on fakecupy arrays: pass fakecupy arrays"):
        tp(x1, x2.view(_OnDevice1), w.view(_OnDevice1))


# -- the plugin: probe and registration (no GPU needed) --------------------------------------------


@pytest.fixture
def cupy_registry(tpcore_env):
    """A fresh registry with the cupy plugin (from its entry point, or added here until it has one)."""
    reg = registry.get_registry()
    if "cupy" not in reg.backends:
        registry.register_plugin(plugin, name="cupy")
    return reg


def _find_spec_without_cupy(real=importlib.util.find_spec):
    return lambda name, *args, **kwargs: None if name == "cupy" else real(name, *args, **kwargs)


def _fake_cupy(monkeypatch, device_count):
    """A stand-in ``cupy`` module that is installed, imports, and whose device query does ``device_count()``."""
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    fake.zeros = lambda *a, **k: pytest.fail("the probe allocated although no device was found")
    fake.float32 = np.float32
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: object() if name == "cupy" else None)


def test_probe_reports_missing_cupy(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_without_cupy())
    assert plugin._probe() == "cupy: not installed"


def test_probe_reports_a_device_error(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version\nmore")

    _fake_cupy(monkeypatch, no_driver)
    assert plugin._probe() == (
        "cupy: no CUDA device (cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version)"
    )


def test_probe_reports_zero_devices_and_a_broken_install(monkeypatch):
    _fake_cupy(monkeypatch, lambda: 0)
    assert plugin._probe() == "cupy: no CUDA device (0 devices found)"
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes ``import cupy`` raise ImportError
    assert plugin._probe().startswith("cupy: import failed (ModuleNotFoundError: import of cupy halted")


def test_registration(cupy_registry):
    backend = cupy_registry.backends["cupy"]
    assert (backend.priority, backend.default_dtype, backend.devices) == (30, "float32", ("cuda",))
    for variant, strategies in STRATEGIES.items():
        impls = cupy_registry.implementations("cupy", variant)
        assert [(i.name, i.priority) for i in impls] == [(s, rank) for rank, s in enumerate(strategies)]
        for i in impls:
            caps = i.capabilities
            assert caps.modes is None and caps.dtypes == {"float32", "float64"} and caps.devices == {"cuda"}
            assert caps.grad_order == 1 and not caps.jit and caps.per_sample_weights


def test_unusable_cupy_is_never_the_default(cupy_registry, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_without_cupy())
    assert cupy_registry.reason("cupy") == "cupy: not installed"
    assert "cupy" not in registry.available_backends()
    assert registry.default_backend() != "cupy"
    with pytest.raises(BackendUnavailableError, match="backend 'cupy' is not usable: cupy: not installed"):
        tpcore.build(CGTP, backend="cupy")


def test_device_strings():
    assert plugin._device_index(None) is None and plugin._device_index("cuda") is None
    assert plugin._device_index("CUDA:1") == 1
    with pytest.raises(ValueError, match="device 'cpu' is not a CUDA device"):
        plugin._device_index("cpu")


def test_importing_the_plugin_imports_no_cupy():
    code = "import sys, tpcore_cupy.plugin; print(sorted(m for m in ('cupy', 'tpcore_cupy.tensor_product') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- on a CUDA device, through the registry --------------------------------------------------------

GPU_REASON = plugin._probe()
gpu = pytest.mark.skipif(GPU_REASON is not None, reason=str(GPU_REASON))


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, strategy", CASES)
def test_gpu_forward_and_vjp(cupy_registry, spec, strategy, dtype):
    import cupy

    tp = tpcore.build(spec, backend="cupy", impl=strategy, dtype=dtype)
    assert isinstance(tp, CupyTensorProduct) and tp.ops.xp is cupy
    x1, x2, w = inputs(spec, np.random.default_rng(13), batch=(6,), per_sample=bool(spec.weight_numel), dtype=dtype)
    args = [None if a is None else cupy.asarray(a) for a in (x1, x2, w)]
    out = tp(*args)
    assert isinstance(out, cupy.ndarray) and out.dtype == np.dtype(dtype)
    assert_close(cupy.asnumpy(out), reference(spec, x1, x2, w), dtype)
    out, vjp_fn = tp.vjp(*args)
    g = np.random.default_rng(14).normal(size=out.shape).astype(dtype)
    grads = vjp_fn(cupy.asarray(g))
    for got, expected in zip(grads, reference_grads(spec, x1, x2, w, g)):
        if expected is None:
            assert got is None
        else:
            assert isinstance(got, cupy.ndarray) and got.dtype == np.dtype(dtype)
            assert_close(cupy.asnumpy(got), expected, dtype)


@gpu
def test_gpu_default_dtype_batch_shapes_and_numpy_inputs(cupy_registry):
    import cupy

    tp = tpcore.build(GTP, backend="cupy")
    assert tp.dtype == np.float32
    for batch in [(), (0,), (2, 3)]:
        x1, x2, w = (cupy.asarray(a) for a in inputs(GTP, np.random.default_rng(15), batch=batch, dtype="float32"))
        out, vjp_fn = tp.vjp(x1, x2, w)
        assert out.shape == batch + (GTP.irreps_out.dim,)
        assert [a.shape for a in vjp_fn(cupy.ones_like(out))] == [x1.shape, x2.shape, w.shape]
    x1, x2, w = inputs(GTP, np.random.default_rng(16), dtype="float32")
    with pytest.raises(TypeError, match="x1 is a numpy.ndarray, but this tensor product runs on cupy arrays: pass cupy arrays"):
        tp(x1, cupy.asarray(x2), cupy.asarray(w))
