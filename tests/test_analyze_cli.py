"""`tpcore analyze`: tables, the interactability PNG, the pruning benchmark, errors."""

import pytest

from tpcore.analysis import flops
from tpcore.cli import USAGE_ERROR, main
from tpcore.spec import TensorProductSpec

CGTP = ["analyze", "--variant", "cgtp", "--irreps-in1", "0e + 1o", "--irreps-in2", "0e + 1o", "--irreps-out", "0e + 1o + 1e"]
GTP = ["analyze", "--variant", "gtp", "--irreps-in1", "0e + 1o", "--irreps-in2", "0e + 1o", "--irreps-out", "0e + 1o + 2e"]


def test_analyze_cgtp_prints_paths_costs_and_the_antisymmetric_cross_product(capsys):
    assert main(CGTP) == 0
    out = capsys.readouterr().out
    spec = TensorProductSpec.cgtp("0e + 1o", "0e + 1o", "0e + 1o + 1e")
    for strategy, n in flops(spec).items():
        assert f"{n:,}" in out and strategy in out
    assert "antisymmetric (l1+l2+l3 odd): 1: 1o x 1o -> 1e" in out
    assert "4  1o x 1o -> 1e  odd" in out
    assert f"independent output irreps: {len(spec.paths)}" in out
    assert "1o         1   2 (1 odd)" in out  # interactability row of 1o


def test_analyze_gtp_reports_the_antisymmetric_interactions_it_lacks(capsys):
    assert main(GTP) == 0
    out = capsys.readouterr().out
    assert "antisymmetric (l1+l2+l3 odd): 0" in out
    assert "antisymmetric the inputs allow (any output), missing: 1: 1o x 1o -> 1e" in out


def test_analyze_plot_writes_the_interactability_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    path = tmp_path / "interactability.png"
    assert main([*CGTP, "--plot", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 100 and width > 100


def test_analyze_bench_prune_prints_the_ratio_from_one_run(capsys):
    assert main([*CGTP, "--bench-prune", "--backend", "numpy", "--batch", "16"]) == 0
    out = capsys.readouterr().out
    assert "unpruned  5 paths" in out and "pruned    3 paths" in out and "speedup" in out


def test_analyze_errors_name_the_problem(capsys):
    assert main([*GTP, "--bench-prune"]) == USAGE_ERROR
    assert "--bench-prune needs a cgtp spec" in capsys.readouterr().err
    bad = ["analyze", "--variant", "gtp", "--irreps-in1", "0e + 1o", "--irreps-in2", "0e + 1o", "--irreps-out", "0o"]
    assert main(bad) == USAGE_ERROR
    assert "tpcore analyze: error:" in capsys.readouterr().err
