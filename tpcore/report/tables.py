"""The report's table as Markdown (``report.md``) and as a self-contained HTML page (``report.html``).

Both render the same :func:`table_cells`; the HTML embeds the plots as base64 PNG data URIs so the
one file can be mailed or attached to a CI run. The last column, "doubts", names why a row's
numbers cannot be trusted (:attr:`~tpcore.report.measure.Row.doubts`); :func:`reliability` says it
for the whole run in one line.
"""

from __future__ import annotations

import base64
import html
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

from tpcore.report.measure import Row
from tpcore.report.workloads import PEERS

HEADERS = ("backend", "variant", "impl", "L", "interactions", "FLOPs/sample", "max rel. error", "correct",
           "fwd ms", "fwd+bwd ms", "spread", "GFLOP/s", "% of peak", *(f"fwd / {p}" for p in PEERS), "doubts")


def table_cells(rows: Sequence[Row]) -> list[list[str]]:
    """One list of formatted cells per row, in :data:`HEADERS` order."""
    return [_cells(r) for r in rows]


def _cells(r: Row) -> list[str]:
    if r.error:
        return [r.backend, r.variant, r.impl, str(r.L), str(r.interactions), "-", r.error, "-", *["-"] * (6 + len(PEERS))]
    peak = f"{100 * r.gflops / r.peak_gflops:.1f}" if r.gflops and r.peak_gflops else "-"
    return [
        r.backend, r.variant, r.impl, str(r.L), str(r.interactions), f"{r.flops:,}", f"{r.max_error:.1e}",
        "yes" if r.correct else f"NO (tolerance {r.tolerance:.0e})", _ms(r.forward_s), _ms(r.forward_backward_s),
        " / ".join(f"{100 * s:.0f}%" for s in (r.forward_spread, r.forward_backward_spread) if s is not None) or "-",
        f"{r.gflops:.2f}" if r.gflops else "-", peak, *(f"{r.ratios[p]:.2f}" if p in r.ratios else "-" for p in PEERS),
        "; ".join(r.doubts.values()) or "-",
    ]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g}"


def reliability(rows: Sequence[Row], cpus: int | None = None) -> str:
    """One line: how many measured rows are doubtful and why, with the load average during the run."""
    measured = [r for r in rows if r.forward_s]
    doubtful = [r for r in measured if r.doubts]
    loads = [r.load_average for r in rows if r.load_average is not None]
    load = "load average unknown"
    if loads:
        spanned = f"{min(loads):.1f}" if min(loads) == max(loads) else f"{min(loads):.1f}-{max(loads):.1f}"
        load = f"load average {spanned} during the run on {cpus or os.cpu_count()} CPUs"
    if not doubtful:
        return f"reliability: all {len(measured)} measured rows reliable ({load})"
    kinds = Counter(kind for r in doubtful for kind in r.doubts)
    why = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    return f"reliability: {len(doubtful)} of {len(measured)} measured rows unreliable ({why}; {load}): see the doubts column"


def markdown(rows: Sequence[Row], header_lines: Sequence[str], plots: Sequence[Path]) -> str:
    """``report.md``: the settings, the table, and links to the plots next to it."""
    lines = ["# tpcore report", "", *header_lines, "", "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---:" if h not in ("backend", "variant", "impl", "correct", "doubts") else "---" for h in HEADERS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in table_cells(rows)]
    lines += ["", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    return "\n".join(lines)


def html_page(rows: Sequence[Row], header_lines: Sequence[str], plots: Sequence[Path]) -> str:
    """``report.html``: the same content with the PNG plots embedded (no external files)."""
    head = "".join(f"<li>{html.escape(line.lstrip('- '))}</li>" for line in header_lines)
    th = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        f"<tr class=\"{_html_class(r)}\">" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for r, cells in zip(rows, table_cells(rows))
    )
    images = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode("ascii")}"><figcaption>{html.escape(p.stem)}</figcaption></figure>'
        for p in plots
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tpcore report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }}
td:nth-child(-n+3), th {{ text-align: left; }}
tr.bad {{ background: #fdd; }}
tr.doubtful {{ background: #ffc; }}
tr.doubtful td:last-child {{ font-weight: bold; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>tpcore report</h1>
<ul>{head}</ul>
<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>
{images}
</body></html>
"""


def _html_class(r: Row) -> str:
    if not r.correct and not r.error:
        return "bad"
    return "doubtful" if r.doubts else ""


__all__ = ["HEADERS", "table_cells", "reliability", "markdown", "html_page"]
