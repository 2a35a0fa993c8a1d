"""``tpcore report`` on a tiny configuration: files written, one row per measurement, correct numbers."""

from __future__ import annotations

import re

import pytest

from tpcore.cli import main
from tpcore.report.tables import HEADERS
from tpcore.analysis import interactions
from tpcore.report.workloads import workload_spec
from tpcore.spec import VARIANTS
from tpcore.testing.checks import TOLERANCES


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pytest.importorskip("torch", reason="the tiny report runs numpy and torch")
    out = tmp_path_factory.mktemp("report")
    code = main(["report", "--out", str(out), "--lmax", "2", "--batch", "16", "--repeat", "1",
                 "--backends", "numpy,torch", "--timing-seconds", "1"])
    return code, out


def _table_rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert tuple(header) == HEADERS
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


def test_report_writes_table_html_and_plots(report):
    code, out = report
    assert code == 0
    for name in ("report.md", "report.html", "time_vs_L.png", "time_vs_L_backward.png", "time_vs_expressivity.png"):
        assert (out / name).stat().st_size > 1000, name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3, "the HTML embeds its plots"
    assert 'src="time_vs' not in html, "the HTML must not link files next to it"


def test_report_has_a_correct_row_per_backend_variant_and_L(report):
    _, out = report
    rows = _table_rows((out / "report.md").read_text())
    measured = {(r["backend"], r["variant"], r["L"]) for r in rows}
    for backend in ("numpy", "torch"):
        for variant in VARIANTS:
            for L in ("1", "2"):
                assert (backend, variant, L) in measured
    for r in rows:
        error = float(r["max rel. error"])  # a number, not an error message
        assert 0 <= error <= TOLERANCES["float32"], r
        assert r["correct"] == "yes"
        assert float(r["fwd ms"]) > 0
        assert int(r["interactions"]) == len(interactions(workload_spec(r["variant"], int(r["L"]))))
        assert int(r["FLOPs/sample"].replace(",", "")) > 0
    torch_rows = [r for r in rows if r["backend"] == "torch"]
    assert all(float(r["fwd+bwd ms"]) > 0 for r in torch_rows), "torch has gradients"
    assert all(r["fwd+bwd ms"] == "-" for r in rows if r["backend"] == "numpy"), "numpy has none"


def test_ratios_against_e3nn_when_the_plugin_is_installed(report):
    _, out = report
    rows = _table_rows((out / "report.md").read_text())
    peers = [r for r in rows if r["impl"] == "e3nn"]
    if not peers:
        pytest.skip("the e3nn plugin (plugins/tpcore-e3nn) is not installed")
    assert all(float(r["fwd / e3nn"]) == pytest.approx(1.0) for r in peers), "the peer against itself"
    others = [r for r in rows if r["impl"] != "e3nn"]
    assert all(re.fullmatch(r"\d+\.\d\d", r["fwd / e3nn"]) for r in others)


def test_report_rejects_bad_options(capsys):
    assert main(["report", "--variants", "cgtp,nope", "--out", "unused"]) == 2
    assert "--variants: nope not among the variants: cgtp, gtp, s2grid, mtp" in capsys.readouterr().err
