"""Irreducible representations of O(3) and their direct sums, in e3nn's string syntax.

An ``Irrep`` is a degree ``l >= 0`` and a parity ``p`` in {1, -1}, written ``"2e"`` / ``"1o"``.
An ``Irreps`` is a tuple of ``(mul, Irrep)`` blocks, written ``"8x0e + 4x1o"``. Data laid out
with an ``Irreps`` follows e3nn (torch): each block is ``[mul, 2l+1]`` flattened, blocks are
concatenated in order.

Ordering: ``Irrep`` compares as the tuple ``(l, p)``, so e3nn's sort order is
``0o < 0e < 1o < 1e < ...``. e3nn-jax sorts differently (``0e, 0o, 1o, 1e``: the parity
``(-1)^l`` first); :func:`e3nn_jax_sort_key` gives that order where interoperability needs it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Set
from typing import Iterable, NamedTuple

import numpy as np

# ASCII digits only: ``\d`` would also read "1x٣e" (an Arabic-Indic three) as 1x3e
_IRREP_RE = re.compile(r"^([0-9]+)([eoy])$")
_MUL_IR_RE = re.compile(r"^(?:([0-9]+)\s*x\s*)?([0-9]+[eoy])$")


class Irrep(tuple):
    """An irrep of O(3): degree ``l`` and parity ``p`` (``"1o"`` is ``Irrep(1, -1)``).

    ``"y"`` as parity means the spherical-harmonic parity ``(-1)^l`` (e3nn's convention).
    """

    def __new__(cls, l, p=None):  # noqa: E741 - physicists' name
        if p is None:
            if isinstance(l, Irrep):
                return l
            if isinstance(l, str):
                text = l.strip()
                m = _IRREP_RE.match(text)
                if m is None:
                    raise ValueError(f"cannot parse irrep {l!r}: expected <l><e|o|y> such as '1o' or '2e'")
                l, p = int(m.group(1)), {"e": 1, "o": -1, "y": (-1) ** int(m.group(1))}[m.group(2)]
            elif isinstance(l, tuple) and len(l) == 2:
                l, p = l
            else:
                raise ValueError(f"cannot make an Irrep from {l!r}")
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
            raise ValueError(f"irrep degree l must be a non-negative integer, got {l!r}")
        if p not in (1, -1):
            raise ValueError(f"irrep parity p must be 1 or -1, got {p!r}")
        return super().__new__(cls, (int(l), int(p)))

    @property
    def l(self) -> int:  # noqa: E743
        return self[0]

    @property
    def p(self) -> int:
        return self[1]

    @property
    def dim(self) -> int:
        return 2 * self.l + 1

    def __repr__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    __str__ = __repr__

    def __mul__(self, other: "Irrep"):
        """The irreps in ``self (x) other``: ``|l1-l2| <= l <= l1+l2`` with parity ``p1*p2``."""
        other = Irrep(other)
        p = self.p * other.p
        return [Irrep(l, p) for l in range(abs(self.l - other.l), self.l + other.l + 1)]

    def D_from_matrix(self, R):
        """Wigner D matrix of this irrep for O(3) element(s) ``R`` (..., 3, 3), as e3nn's."""
        from tpcore.so3 import D_from_matrix

        return D_from_matrix(self.l, self.p, R)


class _MulIrFields(NamedTuple):
    mul: int
    ir: Irrep


class MulIr(_MulIrFields):
    """One block ``mul x ir`` of an :class:`Irreps`: ``mul`` a non-negative integer (numpy integers
    are taken, bools, floats and strings refused), ``ir`` an :class:`Irrep` or anything it reads."""

    __slots__ = ()

    def __new__(cls, mul, ir):
        return super().__new__(cls, non_negative_int("multiplicity", mul), Irrep(ir))

    @property
    def dim(self) -> int:
        return self.mul * self.ir.dim

    def __repr__(self) -> str:
        return f"{self.mul}x{self.ir}"


class Irreps(tuple):
    """A direct sum of irreps, e.g. ``Irreps("8x0e + 4x1o")``; iterates over ``MulIr(mul, ir)``."""

    def __new__(cls, irreps=None):
        if irreps is None:
            return super().__new__(cls, ())
        if isinstance(irreps, Irreps):
            return irreps
        if isinstance(irreps, Irrep):
            return super().__new__(cls, (MulIr(1, irreps),))
        if isinstance(irreps, str):
            blocks = _parse(irreps)
        else:
            blocks = [_as_mul_ir(item) for item in _block_sequence(irreps)]
        return super().__new__(cls, tuple(blocks))

    @property
    def dim(self) -> int:
        return sum(mul_ir.dim for mul_ir in self)

    @property
    def num_irreps(self) -> int:
        return sum(mul for mul, _ in self)

    @property
    def lmax(self) -> int:
        if not self:
            raise ValueError("lmax of empty Irreps is undefined")
        return max(ir.l for _, ir in self)

    @property
    def ls(self) -> list[int]:
        return [ir.l for mul, ir in self for _ in range(mul)]

    def slices(self) -> list[slice]:
        """The slice of each block in the flat ``(..., dim)`` layout."""
        out, start = [], 0
        for mul_ir in self:
            out.append(slice(start, start + mul_ir.dim))
            start += mul_ir.dim
        return out

    def count(self, ir) -> int:  # type: ignore[override]
        ir = Irrep(ir)
        return sum(mul for mul, other in self if other == ir)

    def __contains__(self, ir) -> bool:  # type: ignore[override]
        ir = Irrep(ir)
        return any(other == ir for _, other in self)

    def __add__(self, other) -> "Irreps":
        return Irreps(tuple(self) + tuple(Irreps(other)))

    def __mul__(self, n: int) -> "Irreps":
        return Irreps(tuple(self) * n)

    def __getitem__(self, i):
        result = super().__getitem__(i)
        return Irreps(result) if isinstance(i, slice) else result

    def simplify(self) -> "Irreps":
        """Merge consecutive blocks of the same irrep and drop empty ones (e3nn's ``simplify``)."""
        out: list[MulIr] = []
        for mul, ir in self:
            if mul == 0:
                continue
            if out and out[-1].ir == ir:
                out[-1] = MulIr(out[-1].mul + mul, ir)
            else:
                out.append(MulIr(mul, ir))
        return Irreps(out)

    def sort(self) -> "SortResult":
        """Stable sort by irrep in e3nn's order; returns ``(irreps, p, inv)`` like e3nn.

        ``p[i]`` is the new position of block ``i``; ``inv[j]`` the old position of block ``j``.
        """
        inv = tuple(sorted(range(len(self)), key=lambda i: self[i].ir))
        p = tuple(inv.index(i) for i in range(len(self)))
        return SortResult(Irreps([self[i] for i in inv]), p, inv)

    def D_from_matrix(self, R) -> np.ndarray:
        """Block-diagonal representation matrix of O(3) element(s) ``R`` on this layout."""
        R = np.asarray(R, dtype=np.float64)
        out = np.zeros(R.shape[:-2] + (self.dim, self.dim))
        for (mul, ir), s in zip(self, self.slices()):
            D = ir.D_from_matrix(R)
            for u in range(mul):
                a = s.start + u * ir.dim
                out[..., a : a + ir.dim, a : a + ir.dim] = D
        return out

    def __repr__(self) -> str:
        return "+".join(repr(mul_ir) for mul_ir in self)

    __str__ = __repr__


class SortResult(NamedTuple):
    irreps: Irreps
    p: tuple
    inv: tuple


def e3nn_jax_sort_key(ir) -> tuple[int, int]:
    """Sort key of e3nn-jax: by ``l``, then the parity ``(-1)^l`` before the other one."""
    ir = Irrep(ir)
    return (ir.l, -ir.p * (-1) ** ir.l)


def s2_irreps(lmax: int, p: int = 1, mul: int = 1) -> Irreps:
    """Irreps of a signal on the sphere up to degree ``lmax``: ``mul x (l, p * (-1)^l)``.

    ``p=1`` gives ``0e + 1o + 2e + ...`` (a scalar field), ``p=-1`` gives ``0o + 1e + 2o + ...``
    (a pseudo-scalar field).
    """
    lmax = non_negative_int("lmax", lmax)
    mul = non_negative_int("mul", mul)
    if isinstance(p, bool) or p not in (1, -1):
        raise ValueError(f"p must be 1 or -1, got {p!r}")
    return Irreps([MulIr(mul, Irrep(l, p * (-1) ** l)) for l in range(lmax + 1)])


def non_negative_int(name: str, value) -> int:
    """``value`` as a Python int >= 0; a TypeError (not an integer) or ValueError (negative) naming ``name``.

    Accepts Python and numpy integers; rejects bools, floats (even ``2.0``) and strings.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a non-negative integer, got the bool {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a non-negative integer, got {type(value).__name__} {value!r}") from None
    if n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n}")
    return int(n)


_IRREPS_FORMS = "a string such as '8x0e + 4x1o', an Irrep, or a sequence of (mul, irrep) blocks"


def _block_sequence(irreps):
    """``irreps`` as a list of blocks, refusing what would be misread (a dict's values, a set's order)."""
    if isinstance(irreps, Mapping):
        raise TypeError(
            f"irreps must be {_IRREPS_FORMS}; got a {type(irreps).__name__} {irreps!r}, whose values would be "
            f"ignored (write it as a list of (mul, irrep) pairs, e.g. {[(m, k) for k, m in irreps.items()]!r})"
        )
    if isinstance(irreps, (Set, bytes)) or not isinstance(irreps, Iterable):
        raise TypeError(f"irreps must be {_IRREPS_FORMS}; got {type(irreps).__name__} {irreps!r}")
    return list(irreps)


def _as_mul_ir(item) -> MulIr:
    if isinstance(item, MulIr):
        return item
    if isinstance(item, Irrep):
        return MulIr(1, item)
    if isinstance(item, str):
        return _parse_block(item)
    if isinstance(item, tuple) and len(item) == 2:
        mul, ir = item
        if isinstance(ir, (str, Irrep)) or isinstance(mul, (int, float, np.number, np.bool_)):  # (mul, ir), not (l, p)
            try:
                return MulIr(mul, ir)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{err} in {item!r}") from None
        return MulIr(1, Irrep(item))
    raise ValueError(f"cannot read {item!r} as an irreps block: expected 'mulxir', (mul, ir) or an Irrep")


def _parse(text: str) -> list[MulIr]:
    text = text.strip()
    if not text:
        return []
    return [_parse_block(token) for token in text.split("+")]


def _parse_block(token: str) -> MulIr:
    m = _MUL_IR_RE.match(token.strip())
    if m is None:
        raise ValueError(
            f"cannot parse irreps token {token.strip()!r}: expected '<mul>x<l><e|o>' such as '8x0e' or '1o'"
        )
    mul = int(m.group(1)) if m.group(1) is not None else 1
    return MulIr(mul, Irrep(m.group(2)))


def as_irreps(value: Iterable | str, name: str = "irreps") -> Irreps:
    """``Irreps(value)`` with the argument's name in the error message."""
    try:
        return Irreps(value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None


def channel_index(irreps) -> np.ndarray:
    """Gather index from e3nn's layout (blocks ``[C, 2l+1]``) to channel-major ``[C, sum(2l+1)]``.

    ``irreps`` (tpcore's or e3nn's) has one multiplicity ``C``; ``x[..., channel_index(irreps)]``
    reshaped to ``(..., C, sum(2l+1))`` holds each channel's blocks side by side (the layout of the
    channel-wise variants), and ``np.argsort`` of it is the way back."""
    C = irreps[0].mul
    per_channel = sum(ir.dim for _, ir in irreps)
    index = np.empty(C * per_channel, dtype=np.int64)
    offset = 0
    for (mul, ir), s in zip(irreps, irreps.slices()):
        for c in range(C):
            index[c * per_channel + offset : c * per_channel + offset + ir.dim] = s.start + c * ir.dim + np.arange(ir.dim)
        offset += ir.dim
    return index
