"""The interactability matrix as a PNG (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from tpcore.analysis.expressivity import interactability
from tpcore.spec import TensorProductSpec


def plot_interactability(spec: TensorProductSpec, path: str) -> str:
    """Write a heat map of the output irreps each pair of input blocks reaches to ``path``.

    Each cell shows the count, and ``(k odd)`` when ``k`` of those outputs come from antisymmetric
    paths; the colour bar gives the scale. Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = interactability(spec)
    rows, cols = matrix.counts.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * cols, 1.0 + 0.6 * rows), layout="constrained")
    image = ax.imshow(matrix.counts, cmap="viridis", vmin=0)
    fig.colorbar(image, ax=ax, label="output irreps reached")
    ax.set_xticks(range(cols), matrix.columns)
    ax.set_yticks(range(rows), matrix.rows)
    ax.set_xlabel("irreps_in2 block")
    ax.set_ylabel("irreps_in1 block")
    ax.set_title(f"{spec.variant} interactability", fontsize="medium")
    high = matrix.counts.max() / 2
    for i in range(rows):
        for j in range(cols):
            label = str(matrix.counts[i, j]) + (f"\n({matrix.antisymmetric[i, j]} odd)" if matrix.antisymmetric[i, j] else "")
            ax.text(j, i, label, ha="center", va="center", fontsize="x-small",
                    color="black" if matrix.counts[i, j] > high else "white")  # fmt: skip
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
