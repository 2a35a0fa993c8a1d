"""A program's output as its blocks, one array per block of ``irreps_out``, for jax's tracing.

Programs of ``block`` and ``dense`` end in the concatenation of the output's blocks. Traced into a
caller's computation, these blocks let jax drop what the caller never reads (a product whose
output is filtered afterwards), forward and in reverse, as e3nn-jax's chunks do. Where the blocks
are slices of one value (the paths of a coupling group, side by side along its last axis), they
are taken by one ``split``: its reverse is one concatenation, where the reverse of each slice is a
pad of the whole value, one per path, summed (on a CPU those pads cost as much as the products).
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from tpcore.program import Program, compile_function


def block_function(program: Program, ops, consts, sizes: list[int]) -> Callable | None:
    """``fn(x1, x2, w) -> blocks`` on flat inputs when ``program`` ends in the concatenation of the
    blocks of sizes ``sizes`` (each ``(Z, size)``); None otherwise."""
    last = program.statements[-1] if program.statements else None
    if last is None or last.kind != "concat" or last.out != program.output:
        return None
    if [program.shapes[a] for a in last.args] != [(None, n) for n in sizes]:
        return None
    tape = compile_function(program, ops, consts, tape=True)
    where = {s.out: k for k, s in enumerate(program.statements)}
    splits = _splits(program, last.args)

    def blocks(x1, x2, w):
        values = tape(x1, x2, w)
        pieces = {}
        for source, (bounds, names) in splits.items():
            parts = jnp.split(values[where[source]], bounds[1:-1], axis=-1)
            pieces.update(zip(names, parts))
        return tuple(pieces[a].reshape(len(pieces[a]), n) if a in pieces else values[where[a]] for a, n in zip(last.args, sizes))

    return blocks


def _splits(program: Program, blocks: tuple[str, ...]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """``{value: (bounds, blocks)}`` for each value whose last axis the blocks ``reshape(slice(value))``
    cover exactly, side by side (``bounds``: the slices' edges in order; ``blocks`` in that order)."""
    statements = {s.out: s for s in program.statements}
    by_source: dict[str, list] = {}
    for name in blocks:
        reshape = statements.get(name)
        piece = statements.get(reshape.args[0]) if reshape is not None and reshape.kind == "reshape" else None
        if piece is not None and piece.kind == "slice":
            by_source.setdefault(piece.args[0], []).append((piece.p.start, piece.p.stop, name))
    splits = {}
    for source, pieces in by_source.items():
        pieces.sort()
        starts, stops = [p[0] for p in pieces], [p[1] for p in pieces]
        if starts[0] == 0 and stops[-1] == program.shapes[source][-1] and starts[1:] == stops[:-1]:
            splits[source] = (np.array(starts + stops[-1:]), [p[2] for p in pieces])
    return splits
