"""``tpcore compare``: its workloads are the e3nn layers it names, and a tiny run prints the tables."""

import numpy as np
import pytest

from tpcore import reference
from tpcore.cli import main
from tpcore.report.compare import full_spec, workload

e3nn = pytest.importorskip("e3nn")
torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("float64")  # e3nn builds its CG tables in torch's default dtype


@pytest.mark.parametrize("L", [1, 2, 3])
def test_full_workload_is_e3nns_filtered_full_tensor_product(L):
    from e3nn import o3

    spec = full_spec(L)
    irreps = str(spec.irreps_in1)
    keep = [o3.Irrep(l, p) for l in range(L + 1) for p in (1, -1)]
    e3 = o3.FullTensorProduct(irreps, irreps, filter_ir_out=keep)
    rng = np.random.default_rng(L)
    x1, x2 = rng.normal(size=(2, 4, spec.irreps_in1.dim))
    ours = reference(spec, x1, x2)
    # e3nn sorts its output blocks; bring ours into that order block by block
    sorted_irreps, _, inv = spec.irreps_out.sort()
    slices = spec.irreps_out.slices()
    ours_sorted = np.concatenate([ours[:, slices[i]] for i in inv], axis=1)
    theirs = e3(torch.from_numpy(x1), torch.from_numpy(x2)).detach().numpy()
    assert str(sorted_irreps) == str(e3.irreps_out)
    np.testing.assert_allclose(ours_sorted, theirs, atol=1e-10 * np.abs(theirs).max())


def test_fc_workload_is_e3nns_fully_connected_layer():
    from e3nn import o3

    spec = workload("fc", 2)
    e3 = o3.FullyConnectedTensorProduct(str(spec.irreps_in1), str(spec.irreps_in2), str(spec.irreps_out))
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(3, spec.irreps_in1.dim))
    x2 = rng.normal(size=(3, spec.irreps_in2.dim))
    w = e3.weight.detach().numpy()
    theirs = e3(torch.from_numpy(x1), torch.from_numpy(x2)).detach().numpy()
    np.testing.assert_allclose(reference(spec, x1, x2, w), theirs, atol=1e-10 * np.abs(theirs).max())


def test_tiny_run_prints_speedups_against_the_peer(capsys):
    code = main(["compare", "--lmin", "1", "--lmax", "2", "--backends", "torch", "--workloads", "full,s2grid",
                 "--repeat", "1", "--batch", "8", "--timing-seconds", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "| torch | cgtp full: e3nn / tpcore |" in out
    assert "| torch | s2grid: tpcore cgtp fc / s2grid |" not in out  # fc was not measured
    assert "exponent fwd" in out


def test_cw_workload_has_the_gaunt_signature_and_paths():
    L = 3
    spec, gaunt = workload("cw", L), workload("s2grid", L)
    assert (spec.irreps_in1, spec.irreps_in2, spec.irreps_out) == (gaunt.irreps_in1, gaunt.irreps_in2, gaunt.irreps_out)
    even = {(l1, l2, l3) for l1 in range(L + 1) for l2 in range(L + 1) for l3 in range(abs(l1 - l2), min(l1 + l2, L) + 1)
            if (l1 + l2 + l3) % 2 == 0}  # fmt: skip
    assert {(p.ir_in1.l, p.ir_in2.l, p.ir_out.l) for p in spec.paths} == even
    assert {p.mode for p in spec.paths} == {"uuu"}


def test_channel_wise_variants_are_compared_with_the_channel_wise_cgtp(capsys):
    code = main(["compare", "--lmin", "1", "--lmax", "2", "--backends", "torch", "--workloads", "cw,s2grid",
                 "--repeat", "1", "--batch", "8", "--timing-seconds", "0.5"])
    out = capsys.readouterr().out
    assert code == 0 and "| torch | s2grid: tpcore cgtp uuu / s2grid |" in out


def test_bad_arguments_exit_2(capsys):
    assert main(["compare", "--backends", "numpy"]) == 2
    assert "--backends: numpy not among the backends with an e3nn peer: torch, jax" in capsys.readouterr().err
