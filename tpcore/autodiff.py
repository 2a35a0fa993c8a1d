"""Reverse mode over a compiled :class:`~tpcore.program.Program`, for namespaces without autodiff (cupy, numpy).

:class:`ProgramVJP` runs the program's generated function in its tape form (every intermediate
value returned) and walks the resolved statements in reverse with one rule per statement kind;
params, per-sample equations and the pairwise split of einsums were settled once by
:func:`tpcore.program.resolve`, and each einsum's adjoint equations are derived once per equation.

Complex values (gtp only) carry cotangents in the *transpose* convention (JAX's): the cotangent
``c`` of a value ``v`` is defined by ``dL = Re(sum(c * dv))``. Every op is then complex-linear in
each argument and its rule is the plain transpose, with no conjugation anywhere:

* ``matmul``  ``v = x @ M``         ->  ``c_x = c_v @ M.T``
* ``fft_conv2d``  ``H = a * b`` (linear convolution, zero padded to ``size``)  ->  ``c_a`` is the
  correlation of ``c_H`` with ``b``: ``c_a[p] = sum_m c_H[m] b[m - p]``, computed as
  ``ifft2(fft2(c_H) * B_rev)`` cropped to ``a``'s shape, where ``B_rev[k] = B[-k] = N ifft2(b)[k]``
* ``real``  ``y = Re(v)``  ->  ``c_v = c_y``
* where a real value feeds a complex op (``x @ M`` with a complex ``M``), ``dL = Re(sum(c dx))``
  with ``dx`` real, so the real gradient is ``Re(c)``: the backward takes the real part of
  every cotangent that arrives at a real value.

(PyTorch's convention stores ``conj(c)`` instead; it gives the same real gradients.)
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from tpcore.execute import ArrayOps
from tpcore.program import Program, compile_function


class VJPOps(ArrayOps):
    """:class:`ArrayOps` plus the adjoints that need more than numpy's common API."""

    def __init__(self, xp):
        super().__init__(xp)
        self._scatter_cache: dict = {}

    def scatter_last(self, ct, index: np.ndarray, n: int):
        """Adjoint of ``x[..., index]`` for ``x (..., n)``: scatter-add ``ct`` on the last axis (``index`` of any shape).

        ``index`` is the plan's (host) constant. A permutation is undone by a gather with its
        inverse; any other index (repeated entries) by a matmul with its one-hot matrix, which adds
        exactly. Either is built once per index constant, size and dtype.
        """
        key = (id(index), n, ct.dtype)
        if key not in self._scatter_cache:
            flat = index.ravel()
            if len(flat) == n and np.array_equal(np.sort(flat), np.arange(n)):
                adjoint = ("gather", self.xp.asarray(np.argsort(flat)))
            else:
                one_hot = np.zeros((len(flat), n))
                one_hot[np.arange(len(flat)), flat] = 1.0
                adjoint = ("matmul", self.xp.asarray(one_hot, dtype=ct.real.dtype))
            self._scatter_cache[key] = (index, adjoint)  # keeps ``index`` alive, so its id stays unique
        kind, array = self._scatter_cache[key][1]
        ct = ct.reshape(ct.shape[: ct.ndim - index.ndim] + (index.size,))  # a multi-axis index: its axes flattened
        return ct[..., array] if kind == "gather" else ct @ array

    def fft_conv2d_adjoint(self, ct, other, size, shape):
        """Cotangent of one operand of ``fft_conv2d``, ``shape`` its shape; ``other`` the other one."""
        fft = self.xp.fft
        reversed_other = fft.ifft2(other, s=size) * (size[0] * size[1])  # the DFT of other[-k]
        return fft.ifft2(fft.fft2(ct) * reversed_other)[..., : shape[-2], : shape[-1]]

    def unbroadcast(self, ct, shape):
        """Sum ``ct`` over the axes that broadcasting added or stretched to reach it from ``shape``."""
        extra = ct.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and ct.shape[extra + i] != 1)
        return ct.sum(axis=axes).reshape(shape) if axes else ct

    def zeros_of(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)


@dataclasses.dataclass
class Tape:
    """What :meth:`ProgramVJP.backward` needs from a forward pass: every value by identifier."""

    values: dict
    output: str

    @property
    def out(self):
        return self.values[self.output]


class ProgramVJP:
    """Reverse mode over a compiled :class:`~tpcore.program.Program`: ``(out, grads) = vjp(x1, x2, w, g)``.

    The forward is the program's generated function returning every intermediate value
    (:func:`~tpcore.program.compile_function` with ``tape=True``); the backward walks the resolved
    statements in reverse, one rule per statement kind, with the params bound at resolution.
    ``consts`` are the program's constants converted for ``ops`` (default: converted here to ``dtype``).
    """

    def __init__(self, program: Program, ops: VJPOps, consts: Mapping[str, Any] | None = None, dtype="float64"):
        self.program, self.ops = program, ops
        self.host = program.const_values()
        if consts is None:
            consts = {ident: ops.asarray(value, np.dtype(dtype)) for ident, value in self.host.items()}
        self.consts = {ident: consts[ident] for ident in program.consts}
        self.tape_function = compile_function(program, ops, self.consts, tape=True)
        active = {"x1", "x2", "w"}
        for s in program.statements:
            if active.intersection(s.args):
                active.add(s.out)
        self.active = frozenset(active)
        self.outs = tuple(s.out for s in program.statements)

    def forward(self, x1, x2, w=None) -> Tape:
        values = dict(self.consts, x1=x1, x2=x2, w=w)
        values.update(zip(self.outs, self.tape_function(x1, x2, w)))
        return Tape(values, self.program.output)

    def backward(self, tape: Tape, g):
        """``(g_x1, g_x2, g_w)``: the gradients of ``sum(g * out)`` wrt ``x1 (Z, dim1)``, ``x2``, ``w``."""
        return _Reverse(self, tape).run(g)

    def __call__(self, x1, x2, w, g):
        """``(out, (g_x1, g_x2, g_w))``; ``g_w`` has the shape of ``w`` (None without weights)."""
        tape = self.forward(x1, x2, w)
        return tape.out, self.backward(tape, g)


class _Reverse:
    """One reverse pass over a tape: cotangents by identifier, one method per statement kind."""

    def __init__(self, vjp: ProgramVJP, tape: Tape):
        self.vjp, self.ops, self.values = vjp, vjp.ops, tape.values
        self.active = vjp.active
        self.per_sample = vjp.program.per_sample
        self.cts: dict[str, Any] = {}
        self.owned: set[str] = set()  # names whose cotangent buffer was allocated here (safe to update in place)

    def run(self, g):
        self.cts[self.vjp.program.output] = g
        for s in reversed(self.vjp.program.statements):
            ct = self.cts.pop(s.out, None)
            if ct is not None and s.out in self.active:
                getattr(self, "_" + s.kind)(s, s.p, ct, [self.values[a] for a in s.args])
        return self.grad("x1"), self.grad("x2"), self.grad("w")

    def grad(self, name):
        value = self.values[name]
        if value is None:
            return None
        if name not in self.cts:
            return self.ops.zeros_of(value.shape, value.dtype)
        return self.cts[name].astype(value.dtype, copy=False)

    def add(self, name, ct):
        if name not in self.active:
            return
        if ct.dtype.kind == "c" and self.values[name].dtype.kind != "c":
            ct = self.ops.real(ct)  # a real value feeding a complex op: dL = Re(c dx)
        if name in self.cts:
            self.cts[name] = self.cts[name] + ct
            self.owned.add(name)
        else:
            self.cts[name] = ct

    def add_slice(self, name, ct, where):
        if name not in self.active:
            return
        if name not in self.owned:
            value = self.values[name]
            self.cts[name] = self.cts[name].copy() if name in self.cts else self.ops.zeros_of(value.shape, value.dtype)
            self.owned.add(name)
        self.cts[name][where] += ct

    # -- the rules: _<kind>(op, params, cotangent of op.out, argument values) ----------------------

    def _block(self, s, p, ct, args):
        self.add_slice(s.args[0], ct.reshape(ct.shape[0], p.stop - p.start), (slice(None), slice(p.start, p.stop)))

    def _take(self, s, p, ct, args):
        index = self.vjp.host[s.args[1]]
        self.add(s.args[0], self.ops.scatter_last(ct, index, args[0].shape[-1]))

    def _slice(self, s, p, ct, args):
        self.add_slice(s.args[0], ct, (Ellipsis, slice(p.start, p.stop)))

    def _weights(self, s, p, ct, args):
        lead = (ct.shape[0],) if self.per_sample else ()
        where = (slice(None),) * len(lead) + (slice(p.start, p.stop),)
        self.add_slice(s.args[0], ct.reshape(lead + (p.stop - p.start,)), where)

    def _einsum(self, s, p, ct, args):
        for i, (equation, kept, own) in enumerate(_einsum_adjoints(p.equation)):
            if s.args[i] not in self.active:
                continue
            grad = self.ops.einsum(equation, *args[:i], *args[i + 1 :], ct)
            if kept != own:
                shape = [n if c in kept else 1 for c, n in zip(own, args[i].shape)]
                grad = self.ops.xp.broadcast_to(grad.reshape(shape), args[i].shape)
            self.add(s.args[i], self.ops.unbroadcast(grad, args[i].shape))

    def _weight_take(self, s, p, ct, args):
        w, index = args
        flat = index.reshape(-1)
        if self.per_sample:
            self.add(s.args[0], self.ops.segment_sum(ct.reshape(ct.shape[0], -1), flat, w.shape[-1]))
        else:
            self.add(s.args[0], self.ops.segment_sum(ct.reshape(1, -1), flat, w.shape[-1])[0])

    def _weight_fold(self, s, p, ct, args):
        w, index, target, value = args
        picked = ct.reshape(ct.shape[: ct.ndim - len(p.shape)] + (-1,))[..., target] * value
        if self.per_sample:
            self.add(s.args[0], self.ops.segment_sum(picked, index, w.shape[-1]))
        else:
            self.add(s.args[0], self.ops.segment_sum(picked[None], index, w.shape[-1])[0])

    def _rfft(self, s, p, ct, args):
        # y_m = sum_a x_a e^{-2 pi i m a / n}: the transpose is the full-length FFT of the cotangent
        n, x = p.n, args[0]
        padded = self.ops.xp.zeros(ct.shape[:-1] + (n,), dtype=ct.dtype)
        padded[..., : ct.shape[-1]] = ct
        self.add(s.args[0], self.ops.xp.fft.fft(padded, axis=-1)[..., : x.shape[-1]])

    def _irfft(self, s, p, ct, args):
        # x_a = (1/n) (Re F_0 + 2 Re sum_{m>0} F_m e^{2 pi i m a / n}): c_F = w_m ifft(c_x)_m, w = 1, 2, 2, ...
        n, F = p.n, args[0]
        c = self.ops.xp.fft.ifft(ct, axis=-1)[..., : F.shape[-1]]
        w = self.ops.xp.full(F.shape[-1], 2.0, dtype=ct.dtype)
        w[0] = 1.0
        if n % 2 == 0 and F.shape[-1] == n // 2 + 1:
            w[-1] = 1.0
        self.add(s.args[0], c * w)

    def _segment_sum(self, s, p, ct, args):
        self.add(s.args[0], ct[:, args[1]])

    def _matmul(self, s, p, ct, args):
        self.add(s.args[0], self.ops.matmul(ct, args[1].T))

    def _mul(self, s, p, ct, args):
        a, b = args
        self.add(s.args[0], self.ops.unbroadcast(ct * b, a.shape))
        self.add(s.args[1], self.ops.unbroadcast(ct * a, b.shape))

    def _add(self, s, p, ct, args):
        for name, a in zip(s.args, args):
            self.add(name, self.ops.unbroadcast(ct, a.shape))

    def _reshape(self, s, p, ct, args):
        self.add(s.args[0], ct.reshape(args[0].shape))

    def _zeros(self, s, p, ct, args):
        pass

    def _concat(self, s, p, ct, args):
        start = 0
        for name, a in zip(s.args, args):
            self.add(name, ct[..., start : start + a.shape[-1]])
            start += a.shape[-1]

    def _fft_conv2d(self, s, p, ct, args):
        size = tuple(p.size)
        for name, a, other in ((s.args[0], args[0], args[1]), (s.args[1], args[1], args[0])):
            if name in self.active:
                self.add(name, self.ops.unbroadcast(self.ops.fft_conv2d_adjoint(ct, other, size, a.shape[-2:]), a.shape))

    def _real(self, s, p, ct, args):
        self.add(s.args[0], ct)


@lru_cache(maxsize=1024)
def _einsum_adjoints(equation: str) -> tuple[tuple[str, str, str], ...]:
    """Per operand of ``equation``: ``(adjoint equation, kept subscripts, own subscripts)``.

    The adjoint contracts the other operands with the cotangent; an index of this operand only was
    summed in the forward, so its cotangent is constant along it (``kept`` lacks it).
    """
    inputs, output = equation.split("->")
    subscripts = inputs.split(",")
    adjoints = []
    for i, own in enumerate(subscripts):
        others = subscripts[:i] + subscripts[i + 1 :] + [output]
        if "." in own or len(set(own)) != len(own):
            raise NotImplementedError(f"einsum VJP needs distinct explicit subscripts, got {equation!r}")
        kept = "".join(c for c in own if any(c in t for t in others))
        adjoints.append((",".join(others) + "->" + kept, kept, own))
    return tuple(adjoints)


__all__ = ["VJPOps", "Tape", "ProgramVJP"]
