"""A pairwise einsum as one matrix product: the permutes and reshapes around it, decided once.

``einsum`` parses its equation and plans its permutes on every call (about 8 us of a 10 us call
at batch 1 in torch, against 2 us for ``matmul``), and lays a batched product out with its first
operand on the left. A program's einsums are pairwise and their shapes known when it is built
(:mod:`tpcore.program`), so :func:`pairwise_form` decides the layout once: each operand's labels
split into batch (in both operands and the output), contracted (in both, not the output), left or
right (in one operand and the output) and summed (in one operand only); the operands are summed
over their own summed labels, permuted to ``(batch, left, contracted)`` and ``(batch, contracted,
right)``, merged to two or three axes, multiplied, and the result split and permuted to the
output's order. With nothing contracted (or only axes of size 1) the product is a broadcast
multiply instead.

A product batched over the rows is computed transposed, ``(b' a')``, where that pays: MKL's
batched GEMM of ``(M, K) @ (K, N)`` with a narrow ``N`` (2-15 columns) and ``M >= 16`` rows ran
2.4-6x slower than the same product as ``(N, K) @ (K, M)`` (1000 batches on one CPU thread; the
coupling of MACE's convolution at 128 channels, ``(128, 3) @ (3, 4)`` per edge: 0.83 ms against
0.11 ms), while at 16 columns or more, or under 16 rows, the two ran alike (:func:`transposed_pays`).
Other batched products stay einsums (:func:`pairwise_form` returns None): einsum chooses among
``bmm`` and its own special cases, and a ``bmm`` of a hundred thousand tiny matrices (a batch of
rows times channels) took up to 4x its time on MACE's convolution. A permutation that moves only
axes of size 1 is a reshape, and steps that would not change anything are left out (``None``).

Shapes use ``None`` for the batch axis, whose size is known only at call time: a merged size is
then ``(None, n)``, the batch times ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

Size = tuple  # (None, n): the batch times n; (n,): n


@dataclass(frozen=True)
class Operand:
    """How one operand is laid out for the product: sum ``summed`` axes, permute, reshape."""

    summed: tuple[int, ...]
    perm: tuple[int, ...] | None
    shape: tuple[Size, ...] | None


#: how the laid-out operands multiply: ``matmul`` (``a' @ b'``), ``matmul_transposed`` (``b' @ a'``,
#: with ``a'`` laid out ``(batch, contracted, left)`` and ``b'`` ``(batch, right, contracted)``), or
#: ``multiply`` (broadcast, nothing contracted)
PRODUCTS = ("matmul", "matmul_transposed", "multiply")


@dataclass(frozen=True)
class PairwiseForm:
    """``out = split(product(a', b'))``, permuted by ``perm`` (``product`` one of :data:`PRODUCTS`)."""

    a: Operand
    b: Operand
    product: str
    shape: tuple[Size, ...] | None  # the product split into batch, left and right axes (right, left transposed)
    perm: tuple[int, ...] | None


def pairwise_form(equation: str, shapes, min_rows: int = 16) -> PairwiseForm | None:
    """The layout of ``einsum(equation, a, b)`` as a matrix product, or None where einsum must stay
    (not two operands, a label repeated in an operand or absent from the inputs, sizes that
    broadcast, a batched product that does not pay transposed). ``min_rows``: see
    :func:`transposed_pays`."""
    inputs, output = equation.split("->")
    subs = inputs.split(",")
    if len(subs) != 2 or len(shapes) != 2 or any(len(s) != len(set(s)) for s in (*subs, output)):
        return None
    (sa, sb), (ha, hb) = subs, shapes
    if len(sa) != len(ha) or len(sb) != len(hb) or not set(output) <= set(sa) | set(sb):
        return None
    size = dict(zip(sa, ha))
    for c, n in zip(sb, hb):
        if c in size and size[c] != n:
            return None  # broadcasting sizes: einsum's rules
        size[c] = n
    batch = [c for c in sa if c in sb and c in output]
    contracted = [c for c in sa if c in sb and c not in output]
    left = [c for c in sa if c not in sb and c in output]
    right = [c for c in sb if c not in sa and c in output]

    def operand(sub: str, order: list[str], shape: tuple[Size, ...]) -> Operand:
        summed = tuple(k for k, c in enumerate(sub) if c not in order)
        kept = [c for c in sub if c in order]
        perm = tuple(kept.index(c) for c in order)
        unchanged = tuple(_single(size[c]) for c in order)
        if moves_only_units(kept, order):
            return Operand(summed, None, None if shape == tuple(_single(size[c]) for c in kept) else shape)
        return Operand(summed, perm, None if shape == unchanged else shape)

    def moves_only_units(before: list[str], after: list[str]) -> bool:
        """A permutation that keeps the order of every axis but those of size 1 is a reshape."""
        return [c for c in before if size[c] != 1] == [c for c in after if size[c] != 1]

    def merged(*groups: list[str]) -> tuple[Size, ...]:
        return tuple(_merge([size[c] for c in group]) for group in groups)

    n_contracted = _merge([size[c] for c in contracted])
    order = batch + left + right  # of the product's axes
    if n_contracted == (1,):  # nothing contracted, or only axes of size 1: a broadcast multiply
        # each operand permuted to the output's order, with size-1 axes for the other's labels: the
        # product comes out laid out as the output, and no reshape merges a permuted operand's axes
        # (that would copy it; the multiply reads strided operands as they are)
        product, order = "multiply", list(output)

        def spread(sub: str) -> Operand:
            labels = [c for c in output if c in sub] + contracted
            return operand(sub, labels, tuple(_single(size[c]) if c in sub else (1,) for c in output))

        a, b = spread(sa), spread(sb)
        product_shape = tuple(_single(size[c]) for c in order)
    elif batch:
        if len(batch) > 1 or size[batch[0]] is not None:
            return None  # batched over more than the rows: tiny matrices, einsum's own paths
        (L,), (K,), (R,) = merged(left, contracted, right)
        if not transposed_pays(L, K, R, min_rows):
            return None
        product, order = "matmul_transposed", batch + right + left
        a = operand(sa, batch + contracted + left, merged(batch, contracted, left))
        b = operand(sb, batch + right + contracted, merged(batch, right, contracted))
        product_shape = merged(batch, right, left)
    elif len(contracted) == 1 and operand(sa, left + contracted, ()).perm is None:
        # (left..., K) @ (K, R): matmul folds a's leading axes into its rows, no reshape of a
        # (a permuted a would be expanded into a bmm of tiny matrices instead: 11x slower)
        product = "matmul"
        a = operand(sa, left + contracted, tuple(_single(size[c]) for c in left + contracted))
        b = operand(sb, contracted + right, merged(contracted, right))
        product_shape = tuple(_single(size[c]) for c in left) + merged(right)
    else:
        product = "matmul"
        a = operand(sa, left + contracted, merged(left, contracted))
        b = operand(sb, contracted + right, merged(contracted, right))
        product_shape = merged(left, right)
    split = tuple(_single(size[c]) for c in order)
    perm = tuple(order.index(c) for c in output)
    if moves_only_units(order, list(output)):
        split, perm = tuple(_single(size[c]) for c in output), tuple(range(len(output)))
    return PairwiseForm(
        a, b, product, None if split == product_shape else split, None if perm == tuple(range(len(perm))) else perm
    )


def transposed_pays(rows: int, inner: int, columns: int, min_rows: int = 16) -> bool:
    """Whether a batched ``(rows, inner) @ (inner, columns)`` runs faster as its transpose
    (measured with MKL on one CPU thread, 1000 batches: see the module's docstring).

    ``min_rows`` is the fewest rows where it pays: 16 with MKL (torch); XLA's CPU dots (jax) ran 16
    and 32 rows faster as given, forward and backward, and 128 rows 1.1-5x faster transposed, so
    the generated array programs pass 128 (:data:`tpcore.program.TRANSPOSE_MIN_ROWS`).
    """
    if columns == 1:
        return rows >= max(128, min_rows) and inner >= 5  # 8-9x there; 0.4-0.9x for fewer rows or a shorter inner axis
    return 2 <= columns < 16 and rows >= min_rows


def _single(n) -> Size:
    return (None, 1) if n is None else (n,)


def _merge(sizes: list) -> Size:
    """The size of axes merged into one: ``(None, n)`` when the batch is among them."""
    n = 1
    for s in sizes:
        n *= 1 if s is None else s
    return (None, n) if None in sizes else (n,)


def sizes(shape: tuple[Size, ...], batch, times) -> list:
    """The reshape sizes of a form's ``shape``: ``(n,)`` is ``n``, ``(None, 1)`` is ``batch`` and
    ``(None, n)`` is ``times(batch, n)`` (``batch`` a number, a graph node or source text)."""
    return [size[0] if size[0] is not None else batch if size[1] == 1 else times(batch, size[1]) for size in shape]


def apply_form(form: PairwiseForm, a, b, xp, batch: int):
    """``einsum`` by the form, in array namespace ``xp`` (numpy-like: ``sum``, ``transpose``,
    ``reshape``, ``matmul``) for a batch of ``batch`` rows."""

    def shape_of(shape):
        return tuple(sizes(shape, batch, lambda z, n: z * n))

    def lay(x, op: Operand):
        if op.summed:
            x = xp.sum(x, axis=op.summed)
        if op.perm is not None:
            x = xp.transpose(x, op.perm)
        return x if op.shape is None else xp.reshape(x, shape_of(op.shape))

    a, b = lay(a, form.a), lay(b, form.b)
    if form.product == "matmul":
        out = xp.matmul(a, b)
    else:
        out = xp.matmul(b, a) if form.product == "matmul_transposed" else a * b
    if form.shape is not None:
        out = xp.reshape(out, shape_of(form.shape))
    return out if form.perm is None else xp.transpose(out, form.perm)


__all__ = ["PRODUCTS", "Operand", "PairwiseForm", "apply_form", "pairwise_form", "sizes", "transposed_pays"]
