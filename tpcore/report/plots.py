"""PNG plots of the report (matplotlib with the Agg backend, imported only when plotting).

- ``time_vs_L.png`` / ``time_vs_L_backward.png``: one panel per variant, forward (or forward +
  backward) time in ms on a log axis against ``L``, a line per backend/implementation, with the
  e3nn peers drawn dashed in every panel so each variant is read against e3nn's full CGTP.
- ``time_vs_expressivity.png``: forward time against the number of interactions
  ``ir_in1 x ir_in2 -> ir_out`` the workload couples (log-log): what a millisecond buys.

A row whose times are doubtful (:attr:`~tpcore.report.measure.Row.time_doubts`) is left out of
every plot, and each plot's title says how many were: a line through a disturbed point would
draw the load, not the implementation. When every row a plot could draw is doubtful, it draws them
all and its title says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tpcore.report.measure import Row
from tpcore.report.workloads import PEERS


def write_plots(rows: Sequence[Row], out_dir: Path, batch: int, dtype: str) -> list[Path]:
    """Write every plot into ``out_dir``; returns their paths (none if nothing was measured)."""
    import matplotlib

    matplotlib.use("Agg")
    timed = [r for r in rows if r.forward_s]
    if not timed:
        return []
    base = f"batch {batch}, {dtype}"
    forward, what = _reliable(timed, base)
    paths = [_time_vs_L(forward, out_dir / "time_vs_L.png", "forward_s", f"Forward time ({what})")]
    backward = [r for r in timed if r.forward_backward_s]
    if backward:
        backward, what_backward = _reliable(backward, base)
        paths.append(_time_vs_L(backward, out_dir / "time_vs_L_backward.png", "forward_backward_s",
                                f"Forward + backward time ({what_backward})"))
    paths.append(_time_vs_expressivity(forward, out_dir / "time_vs_expressivity.png", f"Forward time vs expressivity ({what})"))
    return paths


def _reliable(rows: Sequence[Row], what: str) -> tuple[list[Row], str]:
    """The rows a plot draws and its title's note: the rows whose times are not doubtful, or all
    of them, said so, when every one is (a plot of nothing would hide that the run was disturbed)."""
    kept = [r for r in rows if not r.time_doubts]
    if not kept:
        return list(rows), f"{what}; all {len(rows)} doubtful"
    return kept, what + (f"; {len(rows) - len(kept)} doubtful left out" if len(kept) < len(rows) else "")


def _series(rows: Sequence[Row], attr: str, x_attr: str = "L") -> dict[str, tuple[list, list]]:
    series: dict[str, tuple[list, list]] = {}
    for r in sorted(rows, key=lambda r: (r.label, r.L)):
        value = getattr(r, attr)
        if value:
            xs, ys = series.setdefault(r.label, ([], []))
            xs.append(getattr(r, x_attr))
            ys.append(value * 1e3)
    return series


def _time_vs_L(rows: Sequence[Row], path: Path, attr: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(r.variant for r in rows if r.impl not in PEERS)) or ["cgtp"]
    peers = _series([r for r in rows if r.impl in PEERS], attr)
    ncols = min(2, len(variants))
    nrows = -(-len(variants) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4.2 * nrows), squeeze=False)
    for ax, variant in zip(axes.flat, variants):
        for label, (xs, ys) in _series([r for r in rows if r.variant == variant and r.impl not in PEERS], attr).items():
            ax.plot(xs, ys, marker="o", label=label)
        for label, (xs, ys) in peers.items():
            ax.plot(xs, ys, linestyle="--", marker="x", color="gray" if "jax" not in label else "black", label=f"{label} (peer)")
        ax.set_yscale("log")
        ax.set_title(variant)
        ax.set_xlabel("L (max degree of inputs and output)")
        ax.set_ylabel("time per call [ms]")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(variants):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _time_vs_expressivity(rows: Sequence[Row], path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for label, (xs, ys) in _series(rows, "forward_s", "interactions").items():
        ax.plot(xs, ys, marker="o", linestyle="--" if label.split("/")[-1] in PEERS else "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("interactions: distinct ir_in1 x ir_in2 -> ir_out couplings (one point per L)")
    ax.set_ylabel("forward time per call [ms]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["write_plots"]
