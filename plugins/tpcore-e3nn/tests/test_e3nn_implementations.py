"""The e3nn and e3nn-jax implementations against tpcore's float64 reference, built through the registry.

The conformance suite (test_conformance.py) checks much more; these checks pin down what this
plugin adds: the spec -> instructions/normalization mapping for every mode and normalization,
and the calling convention (batch shapes, shared and per-sample weights, weightless specs).
"""

import numpy as np
import pytest

import tpcore
from tpcore import TensorProductSpec, reference
from tpcore.registry import get_registry

TOL = {"float64": 1e-10, "float32": 1e-5}
MODES = ["uvw", "uvu", "uuw", "uuu", "uvuv"]


def _spec(mode, irrep_normalization="component", path_normalization="element", has_weight=True):
    """Two multiplicities, parities and degrees up to 3, unequal path weights."""
    m = 1 if mode == "uuw" and not has_weight else 2
    mul_out = m * m if mode == "uvuv" else m
    irreps_in1, irreps_in2 = f"{m}x0e + {m}x1o + {m}x2e", f"{m}x0e + {m}x1o"
    irreps_out = f"{mul_out}x0e + {mul_out}x1o + {mul_out}x1e + {mul_out}x2e + {mul_out}x3o"
    paths = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode=mode).paths
    instructions = [(p.i_in1, p.i_in2, p.i_out, mode, has_weight, 0.5 + k % 3) for k, p in enumerate(paths)]
    return TensorProductSpec.cgtp(
        irreps_in1, irreps_in2, irreps_out, mode=mode, instructions=instructions,
        irrep_normalization=irrep_normalization, path_normalization=path_normalization,
    )  # fmt: skip


class Torch:
    backend, impl = "torch", "e3nn"

    def __init__(self):
        self.torch = pytest.importorskip("torch")

    def to(self, x, dtype):
        return None if x is None else self.torch.tensor(x, dtype=getattr(self.torch, dtype))

    def call(self, tp, x1, x2, w, dtype):
        with self.torch.no_grad():
            return tp(self.to(x1, dtype), self.to(x2, dtype), self.to(w, dtype)).double().numpy()


class Jax:
    backend, impl = "jax", "e3nn_jax"

    def __init__(self):
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        self.jnp = jax.numpy

    def call(self, tp, x1, x2, w, dtype):
        to = lambda x: None if x is None else self.jnp.asarray(x, dtype=dtype)  # noqa: E731
        return np.asarray(tp(to(x1), to(x2), to(w)), dtype=np.float64)


@pytest.fixture(params=[Torch, Jax], ids=["torch-e3nn", "jax-e3nn_jax"])
def lib(request):
    lib = request.param()
    names = [i.name for i in get_registry().implementations(lib.backend, "cgtp")]
    if lib.impl not in names:
        pytest.fail(f"tpcore-e3nn is imported but {lib.backend}/cgtp/{lib.impl} is not registered (have {names})")
    return lib


def _check(lib, spec, batch_x1, batch_x2, weight_shape, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=batch_x1 + (spec.irreps_in1.dim,))
    x2 = rng.normal(size=batch_x2 + (spec.irreps_in2.dim,))
    w = rng.normal(size=weight_shape + (spec.weight_numel,)) if spec.weight_numel else None
    tp = tpcore.build(spec, backend=lib.backend, impl=lib.impl, dtype=dtype)
    got = lib.call(tp, x1, x2, w, dtype)
    expected = reference(spec, x1, x2, w)
    assert got.shape == expected.shape
    scale = max(np.max(np.abs(expected), initial=0.0), 1.0)
    assert np.max(np.abs(got - expected), initial=0.0) <= TOL[dtype] * scale


# uvw without weights is not a valid instruction (tpcore and e3nn reject it)
@pytest.mark.parametrize("mode, has_weight", [(m, w) for m in MODES for w in (True, False) if m != "uvw" or w])
def test_every_mode(lib, mode, has_weight):
    _check(lib, _spec(mode, has_weight=has_weight), (4,), (4,), ())


@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
def test_every_normalization(lib, irrep_normalization, path_normalization):
    spec = TensorProductSpec.cgtp(
        "2x0e + 1x0e + 3x1o + 1x2e", "1x0e + 2x1o", "3x0e + 2x1o + 2x1e + 1x2e",
        irrep_normalization=irrep_normalization, path_normalization=path_normalization,
    )  # fmt: skip
    _check(lib, spec, (3,), (3,), ())


@pytest.mark.parametrize(
    "batch_x1, batch_x2, weight_shape",
    [((), (), ()), ((0,), (0,), ()), ((2, 3), (3,), ()), ((5,), (5,), (5,)), ((2, 1), (1, 3), (2, 3))],
    ids=["unbatched", "empty", "broadcast", "per-sample", "per-sample-broadcast"],
)
def test_batch_shapes_and_weights(lib, batch_x1, batch_x2, weight_shape):
    _check(lib, _spec("uvu"), batch_x1, batch_x2, weight_shape)


def test_never_the_default():
    spec = _spec("uvw")
    for backend in ("torch", "jax"):
        if backend in get_registry().available():
            assert tpcore.registry.select(spec, backend=backend).name not in ("e3nn", "e3nn_jax")


def test_torch_weights_port_to_tpcore_and_float32_moves_to_float64_exactly():
    torch = pytest.importorskip("torch")
    spec = _spec("uvw")
    theirs = tpcore.build(spec, backend="torch", impl="e3nn", dtype="float32").double()
    ours = tpcore.build(spec, backend="torch", dtype="float64")
    assert list(theirs.state_dict()) == ["weight"]
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(4, spec.irreps_in1.dim)), rng.normal(size=(4, spec.irreps_in2.dim))
    with torch.no_grad():
        got = theirs(torch.tensor(x1), torch.tensor(x2)).numpy()
        ported = ours(torch.tensor(x1), torch.tensor(x2)).numpy()
    expected = reference(spec, x1, x2, theirs.weight.detach().numpy())
    assert np.max(np.abs(got - expected)) <= TOL["float64"] * np.max(np.abs(expected))
    assert np.max(np.abs(ported - expected)) <= TOL["float64"] * np.max(np.abs(expected))
