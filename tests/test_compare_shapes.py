"""The real-model shapes of ``tpcore compare`` and asv: each is the e3nn layer it names, built by e3nn's
own API (the independent check); the cells below target are found on synthetic measurements."""

import numpy as np
import pytest

from tpcore.report.compare import TARGETS, Row, runs_at, tables, worst_cells
from tpcore.report.workloads import SHAPES, shape

e3nn = pytest.importorskip("e3nn")
torch = pytest.importorskip("torch")
from e3nn import o3  # noqa: E402


pytestmark = pytest.mark.usefixtures("float64")  # e3nn builds its CG tables in torch's default dtype


def irreps(mul: int, L: int) -> str:
    return " + ".join(f"{mul}x{l}{'eo'[l % 2]}" for l in range(L + 1))


def e3nn_convolution(mul: int, L: int) -> o3.TensorProduct:
    """MACE's interaction convolution as MACE builds it (mace/modules/irreps_tools.py, tp_out_irreps_with_instructions)."""
    irreps_in1, irreps_sh = o3.Irreps(irreps(mul, 1)), o3.Irreps.spherical_harmonics(L)
    out, instructions = [], []
    for i, (m, ir_in) in enumerate(irreps_in1):
        for j, (_, ir_edge) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_edge:
                if ir_out.l <= L:
                    instructions.append((i, j, len(out), "uvu", True))
                    out.append((m, ir_out))
    return o3.TensorProduct(irreps_in1, irreps_sh, o3.Irreps(out), instructions, shared_weights=False,
                            internal_weights=False)


def e3nn_channelwise(mul: int, L: int) -> o3.TensorProduct:
    x = o3.Irreps(irreps(mul, L))
    instructions = [(i, j, k, "uuu", True) for i, (_, a) in enumerate(x) for j, (_, b) in enumerate(x)
                    for k, (_, c) in enumerate(x) if c in a * b]  # fmt: skip
    return o3.TensorProduct(x, x, x, instructions)


E3NN = {
    "fc8": lambda L: o3.FullyConnectedTensorProduct(irreps(8, L), irreps(8, L), irreps(8, L)),
    "fc16": lambda L: o3.FullyConnectedTensorProduct(irreps(16, L), irreps(16, L), irreps(16, L)),
    "fc32": lambda L: o3.FullyConnectedTensorProduct(irreps(32, L), irreps(32, L), irreps(32, L)),
    "fc_sh": lambda L: o3.FullyConnectedTensorProduct(irreps(8, L), o3.Irreps.spherical_harmonics(L), irreps(8, L)),
    "conv16": lambda L: e3nn_convolution(16, L),
    "conv32": lambda L: e3nn_convolution(32, L),
    "conv128": lambda L: e3nn_convolution(128, L),
    "full": lambda L: o3.FullTensorProduct(irreps(1, L), irreps(1, L), filter_ir_out=[o3.Irrep(l, p) for l in range(L + 1) for p in (1, -1)]),
    "uuu": lambda L: e3nn_channelwise(8, L),
}


def test_every_shape_has_an_e3nn_twin_here():
    assert set(E3NN) == set(SHAPES)


@pytest.mark.parametrize("name", list(SHAPES))
def test_tpcore_builds_the_same_layer_as_e3nn(name):
    """tpcore's torch module of the shape, on e3nn's inputs and weights, gives e3nn's output."""
    import tpcore

    L = 1 if name == "fc32" else 2
    spec, theirs = shape(name).spec(L), E3NN[name](L)
    assert (str(spec.irreps_in1), str(spec.irreps_in2)) == (str(theirs.irreps_in1), str(theirs.irreps_in2))
    assert spec.weight_numel == theirs.weight_numel
    rng = np.random.default_rng(0)
    x1, x2 = (torch.from_numpy(rng.normal(size=(5, d))) for d in (spec.irreps_in1.dim, spec.irreps_in2.dim))
    per_sample = SHAPES[name].per_sample_weights
    assert per_sample == (not theirs.shared_weights)
    args = (x1, x2)
    if spec.weight_numel:
        w = torch.from_numpy(rng.normal(size=(5, spec.weight_numel) if per_sample else (spec.weight_numel,)))
        args = (x1, x2, w)
    expected = (theirs(*args) if per_sample or not spec.weight_numel else theirs(x1, x2, w)).detach().numpy()
    ours = tpcore.build(spec, backend="torch", dtype="float64")
    got = ours(*args).detach().numpy()
    if name == "full":  # e3nn sorts the output blocks of a FullTensorProduct; bring ours into that order
        _, _, inv = spec.irreps_out.sort()
        slices = spec.irreps_out.slices()
        got = np.concatenate([got[:, slices[i]] for i in inv], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-10 * np.abs(expected).max())


def test_large_fully_connected_shapes_stop_early_on_a_cpu_only():
    assert runs_at("fc32", 4, None) and not runs_at("fc32", 5, None) and not runs_at("fc32", 5, "cpu")
    assert runs_at("fc32", 6, "cuda") and runs_at("fc8", 6, None) and runs_at("s2grid", 8, None)
    assert runs_at("fc32", 6, None, capped=False) and runs_at("fc32", 6, "cpu", capped=False)


def test_compare_runs_a_named_shape_past_its_cpu_degree(monkeypatch, capsys):
    """``--workloads fc32 --lmin 5`` measures fc32 at L = 5 on a CPU; the default list stops it at 4."""
    from tpcore.cli import main
    from tpcore.report import compare

    seen = []

    def measure(backends, workloads, Ls, *args, capped=True, **kwargs):
        seen.append([(w, L) for w in workloads for L in Ls if compare.runs_at(w, L, None, capped)])
        return {}, {}

    monkeypatch.setattr(compare, "measure", measure)
    monkeypatch.setattr(compare, "tables", lambda *args: [])
    assert main(["compare", "--backends", "torch", "--workloads", "fc32", "--lmin", "5", "--lmax", "5"]) == 0
    assert main(["compare", "--backends", "torch", "--lmin", "5", "--lmax", "5"]) == 0
    assert seen[0] == [("fc32", 5)] and ("fc32", 5) not in seen[1] and ("fc8", 5) in seen[1]


def _row(backend, workload, impl, fwd, bwd=None, batch1=None, memory=None, L=1):
    times = {(L, "fwd"): fwd} | ({(L, "fwd+bwd"): bwd} if bwd else {}) | ({(L, "batch1"): batch1} if batch1 else {})
    return Row(backend, workload, impl, times, {L: memory} if memory else {}, "synthetic")


def test_worst_cells_lists_every_ratio_below_its_target_worst_first():
    rows = [
        _row("torch", "fc8", None, fwd=1.0, bwd=1.0, batch1=1.0, memory=100),
        _row("torch", "fc8", "e3nn", fwd=2.5, bwd=1.2, batch1=0.5, memory=100),  # fwd ok, bwd 1.2, batch1 0.5
        _row("jax", "conv16", None, fwd=1.0, bwd=1.0),
        _row("jax", "conv16", "e3nn_jax", fwd=1.4, bwd=3.0),  # fwd 1.4 < 1.5
        _row("jax", "s2grid", None, fwd=9.0),  # no peer: never a cell
        _row("jax", "full", None, fwd=1.0),  # peer missing: no cell
    ]
    cells = worst_cells(rows, [1])
    assert [(c.backend, c.workload, c.metric, round(c.ratio, 2)) for c in cells] == [
        ("torch", "fc8", "batch1", 0.5), ("torch", "fc8", "fwd+bwd", 1.2), ("jax", "conv16", "fwd", 1.4)]  # 0.5, 0.8, 0.93 of target
    assert all(c.target == TARGETS[c.backend, c.metric] for c in cells)
    assert str(cells[0]) == "torch fc8 L=1 batch1: 0.50 (target >= 1)"
    text = "\n\n".join(tables(rows, {}, [1], 8))
    assert "### worst cells: 3 below target" in text and "- torch fc8 L=1 batch1: 0.50 (target >= 1)" in text
    assert "| torch | cgtp fc8: e3nn / tpcore | 2.50 |" in text


def test_peak_memory_counts_what_autograd_keeps_on_a_cpu():
    from tpcore.report.memory import METHODS, peak_memory
    from tpcore.report.timing import prepare

    small, large = (prepare("torch", shape("conv16").spec(1), None, n, per_sample_weights=True) for n in (8, 64))
    (a, how), (b, _) = peak_memory(small), peak_memory(large)
    assert how == METHODS["torch:cpu"]
    assert 0 < a < b and b >= 64 * small.spec.irreps_out.dim * 4  # at least the float32 output


@pytest.mark.parametrize("name", ["fc8", "fc_sh", "conv16"])
def test_cuequivariance_peer_builds_the_same_product(name):
    """cuEquivariance's fully connected product is e3nn's on the same weights; its convolution has the
    shape's inputs, weight count and output dimension (its blocks are sorted, its normalization its own)."""
    pytest.importorskip("cuequivariance_torch", reason="cuequivariance-torch is not installed (extra: cueq)")
    from tpcore.report import cue_peer

    spec = shape(name).spec(2)
    ours = cue_peer.build(name, spec, dtype="float64")
    rng = np.random.default_rng(1)
    x1, x2 = (torch.from_numpy(rng.normal(size=(4, d))) for d in (spec.irreps_in1.dim, spec.irreps_in2.dim))
    per_sample = SHAPES[name].per_sample_weights
    w = torch.from_numpy(rng.normal(size=(4, spec.weight_numel) if per_sample else (spec.weight_numel,)))
    got = ours(x1, x2, w).detach().numpy()
    assert got.shape == (4, spec.irreps_out.dim)
    if not per_sample:
        expected = E3NN[name](2)(x1, x2, w).detach().numpy()
        np.testing.assert_allclose(got, expected, atol=1e-10 * np.abs(expected).max())


def test_cuequivariance_peer_refuses_what_it_has_no_module_for():
    pytest.importorskip("cuequivariance_torch", reason="cuequivariance-torch is not installed (extra: cueq)")
    from tpcore.report import cue_peer

    with pytest.raises(NotImplementedError, match="no module for the uuu shape"):
        cue_peer.build("uuu", shape("uuu").spec(1))
