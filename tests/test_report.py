"""``tpcore report`` on a tiny configuration: files written, one row per measurement, correct numbers;
its reliability flags on rows made by hand, and where it stops."""

from __future__ import annotations

import io
import os
import re

import pytest

from tpcore.cli import main
from tpcore.report.measure import (
    DOUBTFUL_PEER,
    OVER_PEAK,
    SLOW_FORWARD,
    SPREAD,
    SPREAD_LIMIT,
    CaseKey,
    Row,
    _fill_ratios,
    measure,
)
from tpcore.report.tables import HEADERS, html_page, markdown, reliability, table_cells
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


def test_report_ends_with_a_line_on_its_reliability(report, capsys):
    _, out = report
    text = (out / "report.md").read_text()
    assert re.search(r"^- reliability: (all \d+ measured rows reliable|\d+ of \d+ measured rows unreliable) \(", text, re.M)
    assert "load average" in text


# -- reliability: rows made by hand, with the timings of a loaded machine (issue 28, R) ------------


def _row(impl="auto", backend="torch", L=1, fwd=1e-3, fwd_bwd=2e-3, spread=(0.05, 0.05), flops=1000, peak=100.0,
         load=0.5) -> Row:
    return Row(backend, "cgtp", impl, L, 1000, "float32", interactions=4, flops=flops, max_error=1e-7, tolerance=1e-4,
               forward_s=fwd, forward_backward_s=fwd_bwd, forward_spread=spread[0], forward_backward_spread=spread[1],
               peak_gflops=peak, load_average=load)


def test_a_quiet_row_has_no_doubts():
    assert _row().doubts == {}


def test_rows_a_loaded_machine_produced_are_doubtful():
    """What `tpcore report` printed under load: each must name why it cannot be trusted."""
    spread = _row(spread=(1.56, 12.61))
    assert spread.doubts == {SPREAD: "fwd spread 156%, fwd+bwd spread 1261%"}
    slow_forward = _row(fwd=3.9e-3, fwd_bwd=0.27e-3)
    assert slow_forward.doubts == {SLOW_FORWARD: "fwd 3.9 ms > fwd+bwd 0.27 ms"}
    over_peak = _row(flops=150_000, fwd=1e-3, peak=100.0)  # 150 GFLOP/s against a 100 GFLOP/s matmul
    assert over_peak.doubts == {OVER_PEAK: "150% of peak"}
    assert _row(spread=(SPREAD_LIMIT, None)).doubts == {}, "the limit itself is still trusted"


def test_a_ratio_to_a_doubtful_peer_is_doubtful_too():
    peer, other, quiet_peer_L2, other_L2 = (_row("e3nn", spread=(8.93, 0.1)), _row(fwd=1e-5), _row("e3nn", L=2),
                                           _row(L=2))
    _fill_ratios([peer, other, quiet_peer_L2, other_L2])
    assert other.ratios["e3nn"] == pytest.approx(0.01) and other.doubts == {DOUBTFUL_PEER: "e3nn row doubtful"}
    assert other.time_doubts == {}, "its own times are fine"
    assert list(peer.doubts) == [SPREAD], "the peer is not doubtful of itself"
    assert other_L2.doubts == {}


def test_the_table_flags_doubtful_rows_and_says_how_many_and_why():
    rows = [_row(), _row(L=2, spread=(1.56, 0.1), load=3.5), _row(L=3, fwd=3.9e-3, fwd_bwd=0.27e-3, load=5.25),
            Row("numpy", "cgtp", "auto", 4, 1000, "float32", error="skipped: too slow")]
    cells = table_cells(rows)
    assert [c[-1] for c in cells] == ["-", "fwd spread 156%", "fwd 3.9 ms > fwd+bwd 0.27 ms", "-"]
    assert all(len(c) == len(HEADERS) for c in cells) and HEADERS[-1] == "doubts"
    line = reliability(rows, cpus=2)
    assert line == ("reliability: 2 of 3 measured rows unreliable (1 spread over 50%, 1 forward slower than "
                    "forward+backward; load average 0.5-5.2 during the run on 2 CPUs): see the doubts column")
    assert reliability(rows[:1], cpus=2) == "reliability: all 1 measured rows reliable (load average 0.5 during the run on 2 CPUs)"
    md = markdown(rows, [f"- {line}"], [])
    assert "| fwd spread 156% |" in md and f"- {line}" in md
    page = html_page(rows, [line], [])
    assert page.count('<tr class="doubtful">') == 2 and "<td>fwd 3.9 ms &gt; fwd+bwd 0.27 ms</td>" in page


def test_plots_leave_out_rows_whose_times_are_doubtful(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from tpcore.report import plots

    drawn = []
    monkeypatch.setattr(plots, "_time_vs_L", lambda rows, path, attr, title: drawn.append((rows, title)) or path)
    monkeypatch.setattr(plots, "_time_vs_expressivity", lambda rows, path, title: drawn.append((rows, title)) or path)
    good, noisy, slow_forward = _row(), _row(L=2, spread=(12.61, 0.1)), _row(L=3, fwd=3.9e-3, fwd_bwd=0.27e-3)
    plots.write_plots([good, noisy, slow_forward], tmp_path, 1000, "float32")
    assert len(drawn) == 3 and all(rows == [good] for rows, _ in drawn)
    assert all("2 doubtful left out" in title for _, title in drawn)
    drawn.clear()  # every row doubtful: drawn all the same, and said so
    plots.write_plots([noisy], tmp_path, 1000, "float32")
    assert len(drawn) == 3 and all(rows == [noisy] and "all 1 doubtful" in title for rows, title in drawn)


# -- when to stop, and memory (issue 28, items 3 and 4) --------------------------------------------


def _fake_timings(monkeypatch, median_s: float, spread: float = 0.0):
    from tpcore.report import timing

    seen = []

    def interleaved(calls, **kwargs):
        seen.append(len(calls))
        return {key: timing.Timing(median_s, median_s * (1 - spread / 2), median_s * (1 + spread / 2), 5) for key in calls}

    monkeypatch.setattr(timing, "interleaved", interleaved)
    monkeypatch.setattr(timing, "matmul_call", lambda backend: None)
    return seen


def test_measure_stops_once_every_case_is_too_slow(tpcore_env, monkeypatch):
    """`report --lmax 1000000000` kept building specs for every L after each case was skipped."""
    seen = _fake_timings(monkeypatch, median_s=2.0)
    rows = measure([CaseKey("numpy", "mtp", None)], range(1, 10**9), batch=8, dtype="float32", repeat=1,
                   max_call_s=1.0, stream=io.StringIO())
    assert [r.L for r in rows] == [1] and seen == [1]


def test_report_says_where_it_stopped_and_how_reliable_it_was(tpcore_env, monkeypatch, tmp_path, capsys):
    _fake_timings(monkeypatch, median_s=2.0, spread=0.8)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.9, 2.0, 1.0))
    assert main(["report", "--out", str(tmp_path), "--backends", "numpy", "--variants", "mtp", "--lmax", "12",
                 "--batch", "8", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == ("reliability: 1 of 1 measured rows unreliable (1 spread over 50%; load "
                                             f"average 3.9 during the run on {os.cpu_count()} CPUs): see the doubts column")
    text = (tmp_path / "report.md").read_text()
    assert "- stopped after L=1: every implementation took over --max-call-seconds 1 per call" in text
    assert "| fwd spread 80% |" in text


def test_an_implementation_out_of_memory_is_its_rows_error_without_a_traceback(tpcore_env, monkeypatch, capsys):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 29.1 TiB for an array with shape (1000000000000, 4) and data type float64")

    _fake_timings(monkeypatch, median_s=1e-3)
    monkeypatch.setattr("tpcore.report.timing.prepare", out_of_memory)
    rows = measure([CaseKey("numpy", "mtp", None)], [1], batch=8, dtype="float32", repeat=1)
    assert rows[0].error == "out of memory at batch 8: Unable to allocate 29.1 TiB for an array with shape " \
                            "(1000000000000, 4) and data type float64"
    assert "Traceback" not in capsys.readouterr().err
