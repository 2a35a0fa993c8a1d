"""A tpcore tensor product on ``e3nn_jax.IrrepsArray``: a pure function of its weights.

>>> tp = tpcore.jax.TensorProduct("8x0e + 8x1o", "0e + 1o + 2e", "8x0e + 8x1o", mode="uvu")   # doctest: +SKIP
>>> w = tp.init_weights(jax.random.PRNGKey(0))                                             # doctest: +SKIP
>>> out = tp.apply(w, x1, x2)          # IrrepsArray in, IrrepsArray out; jit/grad/vmap friendly

The object holds a spec and nothing trainable, so it sits inside flax/haiku modules the way
e3nn-jax's ``FunctionalLinear`` does: the module owns the parameter ``(weight_numel,)`` (or an MLP
produces per-edge weights ``(..., weight_numel)``) and calls ``apply``.

Ordering: inputs are read in the order of their own irreps (e3nn and e3nn-jax lay data out the
same way, ``[mul, 2l+1]`` per block). The output is in the spec's order, which is e3nn's
(``0o < 0e < 1o < 1e``); ``sort=True`` returns it sorted and regrouped the e3nn-jax way
(``0e, 0o, 1o, 1e``, equal neighbours merged), as ``e3nn_jax.tensor_product`` does.

:func:`tensor_product` is ``e3nn_jax.tensor_product`` with the same arguments, computed by tpcore.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import e3nn_jax
import jax
import jax.numpy as jnp
import numpy as np

from tpcore.adapter_specs import channelwise_spec
from tpcore.devices import jax_device_name
from tpcore.irreps import Irrep, Irreps, as_irreps, e3nn_jax_sort_key
from tpcore.spec import IRREP_NORMALIZATIONS, VARIANTS, TensorProductSpec, check_choice


class TensorProduct:
    """``apply(weights, x1, x2) -> IrrepsArray`` for one tpcore spec, on tpcore's jax backend.

    Give a :class:`~tpcore.spec.TensorProductSpec`, or irreps plus ``variant``: ``"cgtp"`` takes
    ``mode`` (``uvw`` fully connected, ``uvu`` channel-wise with weights, ``uvuv`` the weightless
    full product; ``irreps_out=None`` with ``uvuv`` is every product irrep) and optional e3nn
    ``instructions``; ``"gtp"``/``"s2grid"``/``"mtp"`` take spherical-signal irreps with equal
    multiplicities (an input of multiplicity 1, e.g. spherical harmonics, is repeated over the
    channels) and ``weighted``. ``impl`` picks a jax implementation from tpcore's registry.

    It pickles and deep-copies without its built functions (they are built again on first use,
    on the device named at construction).
    """

    def __init__(
        self,
        spec_or_irreps_in1,
        irreps_in2=None,
        irreps_out=None,
        *,
        variant: str = "cgtp",
        mode: str = "uvw",
        instructions=None,
        weighted: bool = True,
        impl: str | None = None,
        device=None,
        sort: bool = False,
    ):
        if isinstance(spec_or_irreps_in1, TensorProductSpec):
            self.spec, self._tiles = spec_or_irreps_in1, (1, 1)
            irreps_in1, irreps_in2 = self.spec.irreps_in1, self.spec.irreps_in2
        else:
            check_choice("variant", variant, VARIANTS)
            irreps_in1, irreps_in2 = _irreps(spec_or_irreps_in1, "irreps_in1"), _irreps(irreps_in2, "irreps_in2")
            irreps_out = None if irreps_out is None else _irreps(irreps_out, "irreps_out")
            if variant == "cgtp":
                self.spec = TensorProductSpec.cgtp(irreps_in1, irreps_in2, irreps_out, mode=mode, instructions=instructions)
            else:
                self.spec = channelwise_spec(variant, irreps_in1, irreps_in2, irreps_out, weighted)
            self._tiles = (self.spec.irreps_in1.dim // irreps_in1.dim, self.spec.irreps_in2.dim // irreps_in2.dim)
        self.irreps_in1, self.irreps_in2 = irreps_in1, irreps_in2
        self.impl, self.device, self.sort = impl, device, sort
        self._built = {}
        self._order, irreps_out = _output_order(self.spec.irreps_out, sort)
        self.irreps_out = e3nn_jax.Irreps(str(irreps_out))

    @property
    def weight_numel(self) -> int:
        return self.spec.weight_numel

    def init_weights(self, key, dtype=jnp.float32) -> jax.Array:
        """Standard-normal weights ``(weight_numel,)``, e3nn's initialization."""
        return jax.random.normal(key, (self.weight_numel,), dtype)

    def apply(self, weights, x1: e3nn_jax.IrrepsArray, x2: e3nn_jax.IrrepsArray) -> e3nn_jax.IrrepsArray:
        """The product of ``x1`` and ``x2`` with ``weights`` (None, ``(weight_numel,)`` or ``(..., weight_numel)``)."""
        a1 = _checked_array("x1", x1, self.irreps_in1)
        a2 = _checked_array("x2", x2, self.irreps_in2)
        if a1.dtype != a2.dtype:
            raise ValueError(f"x1 has dtype {a1.dtype}, but x2 has dtype {a2.dtype}; expected the same float dtype")
        a1, a2 = _repeat_channels(a1, self.irreps_in1, self._tiles[0]), _repeat_channels(a2, self.irreps_in2, self._tiles[1])
        if weights is not None:
            weights = jnp.asarray(weights, a1.dtype)
        function = self._function(a1.dtype)
        if self._order:  # the spec's blocks in e3nn-jax's order: a concatenation, not a permuting gather
            blocks = _output_blocks(function, a1, a2, weights)
            out = jnp.concatenate([blocks[i] for i in self._order], axis=-1)
        else:
            out = function(a1, a2, weights)
        return e3nn_jax.IrrepsArray(self.irreps_out, out)

    __call__ = apply

    def _function(self, dtype):
        name = jnp.dtype(dtype).name
        if name not in self._built:
            self._built[name] = _build(self.spec, self.impl, self.device, name)
        return self._built[name]

    def __getstate__(self):
        device = jax_device_name(self.device) if isinstance(self.device, jax.Device) else self.device
        return {**self.__dict__, "device": device, "_built": {}}

    def __repr__(self) -> str:
        return f"tpcore.jax.TensorProduct({self.spec}, irreps_out={self.irreps_out}, sort={self.sort})"


def _build(spec: TensorProductSpec, impl, device, dtype: str):
    import tpcore.registry

    # The first call may be inside a user's jit: the coefficients must be constants, not tracers.
    with jax.ensure_compile_time_eval():
        return tpcore.registry.build(spec, backend="jax", impl=impl, device=device, dtype=dtype)


def tensor_product(x1, x2, *, filter_ir_out=None, irrep_normalization: str | None = None, regroup_output: bool = True):
    """``e3nn_jax.tensor_product(x1, x2, ...)`` computed by tpcore: every product irrep, unweighted.

    The arguments and the result are e3nn-jax 0.21's: ``filter_ir_out`` (irreps, or a list of
    irreps) keeps only those outputs; ``irrep_normalization`` is ``"component"``, ``"norm"`` or
    ``"none"`` (None: ``e3nn_jax.config("irrep_normalization")``); ``regroup_output=True`` regroups
    the inputs first and the sorted output after. Leading shapes broadcast and integer inputs become
    floats. Zero flags propagate as e3nn-jax's: an output chunk is flagged when every path into it
    has a flagged input, and a flagged chunk's data count as zeros. Given irreps instead of arrays
    for both inputs, it returns the output irreps.
    """
    if irrep_normalization is None:
        irrep_normalization = e3nn_jax.config("irrep_normalization")
    check_choice("irrep_normalization", irrep_normalization, IRREP_NORMALIZATIONS)
    keep = _filter_key(filter_ir_out)
    if not isinstance(x1, e3nn_jax.IrrepsArray) and not isinstance(x2, e3nn_jax.IrrepsArray):
        irreps1, irreps2 = (_e3nn_jax_irreps(x, name) for x, name in ((x1, "x1"), (x2, "x2")))
        if regroup_output:
            irreps1, irreps2 = irreps1.regroup(), irreps2.regroup()
        return _full_product(str(irreps1), str(irreps2), keep, irrep_normalization, regroup_output).irreps_out
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, e3nn_jax.IrrepsArray):
            raise TypeError(f"{name} must be an e3nn_jax.IrrepsArray (or both inputs irreps); got {type(x).__name__}")
    dtype = jnp.result_type(x1.dtype, x2.dtype)
    if not jnp.issubdtype(dtype, jnp.floating):  # e3nn-jax: integers become the default float type
        dtype = jnp.ones(()).dtype
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    if regroup_output:
        x1, x2 = x1.regroup(), x2.regroup()
    return _full_product(str(x1.irreps), str(x2.irreps), keep, irrep_normalization, regroup_output).apply(x1, x2)


class _Chunk(NamedTuple):
    """One output chunk of e3nn-jax's full product: ``mul x ir`` from chunk ``i1`` of x1 and ``i2`` of x2."""

    i1: int
    i2: int
    mul: int
    ir: Irrep


class _FullProduct:
    """The unweighted product of two irreps in e3nn-jax's layout, and how zero flags pass through it.

    e3nn-jax makes one chunk ``mul1*mul2 x ir`` per (chunk of x1, chunk of x2, ir in ir1 x ir2),
    in that loop order, then stable-sorts the chunks (0e < 0o < 1o < 1e) and, with
    ``regroup_output``, merges equal neighbours. The spec's output blocks are the chunks already
    sorted (chunks of multiplicity 0 have no data and no path), so its output is e3nn-jax's as it
    comes: merging neighbours moves no data, and no column is permuted (a permutation is a gather,
    whose reverse is a scatter-add: under ``vmap`` and in the backward pass the slowest ops on a CPU).
    """

    def __init__(self, irreps1: str, irreps2: str, keep: tuple[str, ...] | None, irrep_normalization: str, regroup: bool):
        in1, in2 = as_irreps(irreps1, "x1.irreps"), as_irreps(irreps2, "x2.irreps")
        self.chunks = [
            _Chunk(i1, i2, m1 * m2, ir)
            for i1, (m1, ir1) in enumerate(in1)
            for i2, (m2, ir2) in enumerate(in2)
            for ir in ir1 * ir2
            if keep is None or str(ir) in keep
        ]
        order = sorted(range(len(self.chunks)), key=lambda k: e3nn_jax_sort_key(self.chunks[k].ir))
        self.spec = _chunk_spec(in1, in2, [self.chunks[k] for k in order], irrep_normalization)
        self._product = None if self.spec is None else TensorProduct(self.spec)
        self._block = {k: n for n, k in enumerate(k for k in order if self.chunks[k].mul)}  # chunk -> spec output block
        self.groups = _groups(self.chunks, order, regroup)
        self.irreps_out = e3nn_jax.Irreps([(sum(self.chunks[k].mul for k in g), str(self.chunks[g[0]].ir)) for g in self.groups])

    def zero_flags(self, flags1, flags2) -> tuple[bool, ...]:
        """An output chunk is zero when each chunk merged into it has a zero-flagged input."""
        return tuple(all(flags1[self.chunks[k].i1] or flags2[self.chunks[k].i2] for k in group) for group in self.groups)

    def apply(self, x1: e3nn_jax.IrrepsArray, x2: e3nn_jax.IrrepsArray) -> e3nn_jax.IrrepsArray:
        """The product as e3nn-jax returns it: an ``IrrepsArray`` made of its chunks (``from_chunks``).

        e3nn-jax's operations on an ``IrrepsArray`` (``filter``, ``regroup``, ``concatenate``,
        slicing) work on its chunks, so a chunk the network drops afterwards is never computed, nor
        differentiated; tpcore's blocks (:meth:`tpcore_jax.TensorProduct.blocks`) keep that.
        """
        a1, a2 = _zeroed(x1), _zeroed(x2)
        lead = jnp.broadcast_shapes(a1.shape[:-1], a2.shape[:-1])
        blocks = () if self._product is None else _output_blocks(self._product._function(a1.dtype), a1, a2, None)
        flags = self.zero_flags(x1.zero_flags, x2.zero_flags)

        def block(k):
            mul, dim = self.chunks[k].mul, self.chunks[k].ir.dim
            return blocks[self._block[k]].reshape(lead + (mul, dim)) if mul else jnp.zeros(lead + (0, dim), a1.dtype)

        chunks = [
            None if flag else jnp.concatenate([block(k) for k in group], axis=-2) if len(group) > 1 else block(group[0])
            for group, flag in zip(self.groups, flags)
        ]
        return e3nn_jax.from_chunks(self.irreps_out, chunks, lead, a1.dtype)


def _output_blocks(function, x1, x2, weights) -> list:
    """The output of a built jax function as one array per block of its spec's ``irreps_out``:
    the jax backend's blocks (:meth:`tpcore_jax.TensorProduct.blocks`), else slices of the output."""
    if hasattr(function, "blocks"):
        return list(function.blocks(x1, x2, weights))
    out = function(x1, x2, weights)
    starts = np.cumsum([0] + [b.mul * b.ir.dim for b in function.spec.irreps_out])
    return [out[..., a:b] for a, b in zip(starts[:-1], starts[1:])]


def _groups(chunks: list[_Chunk], order: list[int], regroup: bool) -> list[list[int]]:
    """The chunks (indices) of each output chunk, in sorted ``order``; regrouped, equal neighbours
    merge and multiplicity-0 chunks vanish, as in ``e3nn_jax.Irreps.regroup``."""
    if not regroup:
        return [[k] for k in order]
    groups: list[list[int]] = []
    for k in order:
        if groups and chunks[groups[-1][0]].ir == chunks[k].ir:
            groups[-1].append(k)
        elif chunks[k].mul:
            groups.append([k])
    return groups


def _chunk_spec(in1: Irreps, in2: Irreps, chunks: list[_Chunk], irrep_normalization: str) -> TensorProductSpec | None:
    """The uvuv spec with one output block per chunk of positive multiplicity, in the order given; None without any."""
    index1 = {i: n for n, i in enumerate(i for i, (mul, _) in enumerate(in1) if mul)}
    index2 = {i: n for n, i in enumerate(i for i, (mul, _) in enumerate(in2) if mul)}
    kept = [(i1, i2, mul, ir) for i1, i2, mul, ir in chunks if mul]
    if not kept:
        return None
    return TensorProductSpec.cgtp(
        Irreps([b for b in in1 if b.mul]),
        Irreps([b for b in in2 if b.mul]),
        Irreps([(mul, ir) for _, _, mul, ir in kept]),
        mode="uvuv",
        instructions=[(index1[i1], index2[i2], k, "uvuv", False) for k, (i1, i2, _, _) in enumerate(kept)],
        irrep_normalization=irrep_normalization,
    )


@functools.lru_cache(maxsize=128)
def _full_product(irreps1: str, irreps2: str, keep, irrep_normalization: str, regroup: bool) -> _FullProduct:
    return _FullProduct(irreps1, irreps2, keep, irrep_normalization, regroup)


def _filter_key(filter_ir_out) -> tuple[str, ...] | None:
    """``filter_ir_out`` as e3nn-jax reads it (irreps string, Irrep, or a list of irreps), as sorted names."""
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, (str, e3nn_jax.Irreps)):
        irreps = [mul_ir.ir for mul_ir in e3nn_jax.Irreps(filter_ir_out)]
    elif isinstance(filter_ir_out, e3nn_jax.Irrep):
        irreps = [filter_ir_out]
    else:
        irreps = [e3nn_jax.Irrep(ir) for ir in filter_ir_out]
    return tuple(sorted({str(ir) for ir in irreps}))


def _e3nn_jax_irreps(value, name: str) -> e3nn_jax.Irreps:
    try:
        return e3nn_jax.Irreps(value)
    except Exception as exc:
        raise TypeError(f"{name} must be an e3nn_jax.IrrepsArray or irreps; got {value!r} ({exc})") from None


def _zeroed(x: e3nn_jax.IrrepsArray) -> jax.Array:
    """``x.array`` with its zero-flagged chunks set to zero: e3nn-jax skips them whatever they hold."""
    if not any(x.zero_flags):
        return x.array
    mask = _flag_mask([mul_ir.dim for mul_ir in x.irreps], x.zero_flags)
    return jnp.where(mask, jnp.zeros((), x.dtype), x.array)


def _flag_mask(dims, flags) -> np.ndarray:
    return np.repeat(np.asarray(flags, dtype=bool), np.asarray(dims, dtype=int)) if dims else np.zeros(0, bool)


def _checked_array(name: str, x, irreps: Irreps) -> jax.Array:
    if not isinstance(x, e3nn_jax.IrrepsArray):
        raise TypeError(f"{name} must be an e3nn_jax.IrrepsArray with irreps {irreps}; got {type(x).__name__}")
    if _irreps(x.irreps, name) != irreps:
        raise ValueError(f"{name} has irreps {x.irreps}, but this tensor product expects {irreps}")
    return x.array


def _irreps(value, name: str) -> Irreps:
    """tpcore ``Irreps`` from a string, blocks, or an e3nn-jax ``Irreps`` (read through its string)."""
    return as_irreps(str(value) if isinstance(value, e3nn_jax.Irreps) else value, name)


def _output_order(irreps: Irreps, sort: bool):
    """(the spec's output blocks in the requested order, or None for the spec's own; output irreps)."""
    if not sort:
        return None, irreps
    blocks = sorted(range(len(irreps)), key=lambda i: e3nn_jax_sort_key(irreps[i].ir))
    return blocks, Irreps([irreps[i] for i in blocks]).simplify()


def _repeat_channels(x: jax.Array, irreps: Irreps, tiles: int) -> jax.Array:
    """``x`` laid out for ``tiles x irreps``: each multiplicity-1 block repeated ``tiles`` times."""
    if tiles == 1:
        return x
    return jnp.concatenate([jnp.tile(x[..., s], (1,) * (x.ndim - 1) + (tiles,)) for s in irreps.slices()], axis=-1)


__all__ = ["TensorProduct", "tensor_product"]
