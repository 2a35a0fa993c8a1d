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
"""

from __future__ import annotations

import e3nn_jax
import jax
import jax.numpy as jnp
import numpy as np

from tpcore.adapter_specs import channelwise_spec
from tpcore.irreps import Irreps, as_irreps, e3nn_jax_sort_key
from tpcore.spec import VARIANTS, TensorProductSpec, check_choice


class TensorProduct:
    """``apply(weights, x1, x2) -> IrrepsArray`` for one tpcore spec, on tpcore's jax backend.

    Give a :class:`~tpcore.spec.TensorProductSpec`, or irreps plus ``variant``: ``"cgtp"`` takes
    ``mode`` (``uvw`` fully connected, ``uvu`` channel-wise with weights, ``uvuv`` the weightless
    full product; ``irreps_out=None`` with ``uvuv`` is every product irrep) and optional e3nn
    ``instructions``; ``"gtp"``/``"s2grid"``/``"mtp"`` take spherical-signal irreps with equal
    multiplicities (an input of multiplicity 1, e.g. spherical harmonics, is repeated over the
    channels) and ``weighted``. ``impl`` picks a jax implementation from tpcore's registry.
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
        out = self._function(a1.dtype)(a1, a2, weights)
        if self._order is not None:
            out = out[..., self._order]
        return e3nn_jax.IrrepsArray(self.irreps_out, out)

    __call__ = apply

    def _function(self, dtype):
        name = jnp.dtype(dtype).name
        if name not in self._built:
            import tpcore.registry

            # The first call may be inside a user's jit: the coefficients must be constants, not tracers.
            with jax.ensure_compile_time_eval():
                self._built[name] = tpcore.registry.build(self.spec, backend="jax", impl=self.impl, device=self.device, dtype=name)
        return self._built[name]

    def __repr__(self) -> str:
        return f"tpcore.jax.TensorProduct({self.spec}, irreps_out={self.irreps_out}, sort={self.sort})"


def tensor_product(x1: e3nn_jax.IrrepsArray, x2: e3nn_jax.IrrepsArray) -> e3nn_jax.IrrepsArray:
    """Every product irrep of ``x1`` and ``x2``, unweighted: ``e3nn_jax.tensor_product(x1, x2)``.

    Like e3nn-jax (``regroup_output=True``), the inputs are regrouped first and the output is sorted
    and regrouped, so the numbers and their order are e3nn-jax's.
    """
    x1, x2 = x1.regroup(), x2.regroup()
    return _full_product(str(x1.irreps), str(x2.irreps)).apply(None, x1, x2)


_FULL_PRODUCTS: dict = {}


def _full_product(irreps_in1: str, irreps_in2: str) -> TensorProduct:
    key = (irreps_in1, irreps_in2)
    if key not in _FULL_PRODUCTS:
        _FULL_PRODUCTS[key] = TensorProduct(irreps_in1, irreps_in2, None, mode="uvuv", sort=True)
    return _FULL_PRODUCTS[key]


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
    """(index permutation of the last axis or None, output irreps) for the requested ordering."""
    if not sort:
        return None, irreps
    blocks = sorted(range(len(irreps)), key=lambda i: e3nn_jax_sort_key(irreps[i].ir))
    slices = irreps.slices()
    order = np.concatenate([np.arange(slices[i].start, slices[i].stop) for i in blocks]) if blocks else np.zeros(0, int)
    return order, Irreps([irreps[i] for i in blocks]).simplify()


def _repeat_channels(x: jax.Array, irreps: Irreps, tiles: int) -> jax.Array:
    """``x`` laid out for ``tiles x irreps``: each multiplicity-1 block repeated ``tiles`` times."""
    if tiles == 1:
        return x
    return jnp.concatenate([jnp.tile(x[..., s], (1,) * (x.ndim - 1) + (tiles,)) for s in irreps.slices()], axis=-1)


__all__ = ["TensorProduct", "tensor_product"]
