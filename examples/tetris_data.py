"""3D tetris: eight four-block pieces, two of them mirror images, in random orientations.

Framework-neutral (numpy) parts of the example: the data, the batching, and the irreps and
instructions the torch and jax models share.

Why the pieces: a rotation-invariant classifier can tell every piece apart, except the chiral pair
``chiral_left`` / ``chiral_right``, which only differ by a mirror. Telling those apart needs a
pseudoscalar (``0o``) feature, i.e. a triple product of edge vectors, which only the
Clebsch-Gordan product's antisymmetric paths (``l1 + l2 + l3`` odd, e.g. the cross product
``1o x 1o -> 1e``) can build. The Gaunt products (gtp, s2grid) keep only the symmetric paths, so
their networks are O(3)-invariant and must give mirror images the same answer: 7/8 at best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tetris_chirality import SHAPES

from tpcore.irreps import Irreps
from tpcore.so3 import rand_matrix

#: the pieces of tetris_chirality.py (the e3nn tetris shapes), with the mirror pair named by hand
_NAMES = {"chiral_1": "chiral_left", "chiral_2": "chiral_right"}
PIECES = {_NAMES.get(name, name): cubes.tolist() for name, cubes in SHAPES.items()}
CLASSES = tuple(PIECES)
CHIRAL_PAIR = (0, 1)
SH_IRREPS = Irreps("1x0e + 1x1o + 1x2e")
NUM_BASIS = 8
MAX_RADIUS = 1.5


def hidden_irreps(variant: str, channels: int) -> Irreps:
    """Node features of every layer.

    The channel-wise variants (gtp, s2grid, mtp) need a spherical signal ``C x (0e + 1o + 2e)``.
    cgtp gets that signal plus its odd twin ``C x (0o + 1e + 2o)``: the odd half holds the
    pseudotensors that only the antisymmetric CG paths can fill; a Gaunt product maps even signals
    to even signals, so for gtp/s2grid that half would stay zero and is left out.
    """
    even = f"{channels}x0e + {channels}x1o + {channels}x2e"
    if variant != "cgtp":
        return Irreps(even)
    return Irreps(f"{even} + {channels}x0o + {channels}x1e + {channels}x2o").sort().irreps


def uvu_instructions(irreps: Irreps, irreps_sh: Irreps = SH_IRREPS) -> list[tuple]:
    """NequIP's convolution: every path ``irreps x irreps_sh -> irreps``, channel-wise with weights."""
    return [
        (i1, i2, io, "uvu", True)
        for i1, (_, ir1) in enumerate(irreps)
        for i2, (_, ir2) in enumerate(irreps_sh)
        for io, (_, ir3) in enumerate(irreps)
        if ir3 in ir1 * ir2
    ]


@dataclass
class Batch:
    """Graphs concatenated: ``pos (N, 3)``, edges ``src -> dst``, ``graph`` (node -> piece), ``labels``."""

    pos: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    graph: np.ndarray
    labels: np.ndarray

    @property
    def num_graphs(self) -> int:
        return len(self.labels)


def _bonds(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges between blocks closer than MAX_RADIUS in the undistorted piece.

    Edges come from the template, not from the noisy positions, so every batch of the same pieces
    has the same number of edges and jax compiles the training step once.
    """
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    src, dst = np.nonzero((d > 0) & (d < MAX_RADIUS))
    return src, dst


def make_dataset(copies: int, seed: int, noise: float = 0.05) -> list[Batch]:
    """``copies`` batches, each holding every piece once, randomly rotated, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(copies):
        rotations = rand_matrix(len(PIECES), rng=rng)
        pos, src, dst, graph = [], [], [], []
        for g, (coords, R) in enumerate(zip(PIECES.values(), rotations)):
            coords = np.asarray(coords, dtype=np.float64)
            s, d = _bonds(coords)
            offset = 4 * g
            centred = coords - coords.mean(axis=0)
            pos.append(centred @ R.T + noise * rng.standard_normal(coords.shape))
            src.append(s + offset), dst.append(d + offset), graph.append(np.full(4, g))
        batches.append(Batch(np.concatenate(pos), np.concatenate(src), np.concatenate(dst), np.concatenate(graph), np.arange(len(PIECES))))
    return batches


def merge(batches: list[Batch]) -> Batch:
    """One batch holding several, with node and graph indices shifted."""
    pos, src, dst, graph, labels = [], [], [], [], []
    nodes = graphs = 0
    for b in batches:
        pos.append(b.pos), src.append(b.src + nodes), dst.append(b.dst + nodes)
        graph.append(b.graph + graphs), labels.append(b.labels)
        nodes, graphs = nodes + len(b.pos), graphs + b.num_graphs
    return Batch(*(np.concatenate(a) for a in (pos, src, dst, graph, labels)))


def minibatches(dataset: list[Batch], per_batch: int, rng: np.random.Generator) -> list[Batch]:
    """The dataset shuffled into merged batches of ``per_batch`` copies (equal sizes, so one jit)."""
    order = rng.permutation(len(dataset))
    return [merge([dataset[i] for i in order[k : k + per_batch]]) for k in range(0, len(order) - per_batch + 1, per_batch)]


def radial_basis(lengths: np.ndarray | object, xp) -> object:
    """Gaussians of the edge length on [0, MAX_RADIUS] (``xp``: numpy, torch or jax.numpy)."""
    centres = xp.linspace(0.0, MAX_RADIUS, NUM_BASIS)
    width = MAX_RADIUS / NUM_BASIS
    return xp.exp(-(((lengths[:, None] - centres) / width) ** 2)) * 1.5


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy over all pieces, accuracy on the chiral pair)."""
    chiral = np.isin(labels, CHIRAL_PAIR)
    return float(np.mean(predicted == labels)), float(np.mean(predicted[chiral] == labels[chiral]))
