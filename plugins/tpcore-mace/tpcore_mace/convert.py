"""e3nn tensor products inside a built model become tpcore's exact cgtp modules.

e3nn (0.4.4 as pinned by mace-torch, up to 0.6) keeps in ``Instruction.path_weight`` the *final*
path factor ``sqrt(alpha)``, with the irrep and path normalization, the input/output variances and
the user's path weight already multiplied in; it does not store which normalization produced it.
:func:`from_e3nn` therefore reconstructs the spec: it looks for the named normalization pair that
reproduces every stored factor (to 1e-12, relative), so the tpcore spec reads like the e3nn call
that made the module; when none does (custom path weights or variances), it passes the factors
through unchanged (normalizations ``"none"``, path weight ``factor**2``, whose square root tpcore
takes). Either way the coupling coefficients are e3nn's to round-off.
"""

from __future__ import annotations

import itertools
import math

import torch

import tpcore.torch as tt
from tpcore.spec import IRREP_NORMALIZATIONS, PATH_NORMALIZATIONS, TensorProductSpec

#: relative tolerance for recognizing e3nn's stored path factors as a named normalization
_FACTOR_RTOL = 1e-12


def _e3nn_tensor_product_class():
    # mace must be imported before e3nn on torch 2.13 (it patches what e3nn 0.4.4 needs)
    import mace  # noqa: F401
    from e3nn import o3

    return o3.TensorProduct


def is_e3nn_tensor_product(module) -> bool:
    """True for e3nn's ``o3.TensorProduct`` and its subclasses (FullyConnected, Full, Elementwise)."""
    return isinstance(module, _e3nn_tensor_product_class())


def e3nn_spec_arguments(module) -> dict:
    """``TensorProduct`` arguments (irreps, instructions, normalizations) that rebuild ``module`` exactly."""
    if not is_e3nn_tensor_product(module):
        raise TypeError(f"module must be an e3nn o3.TensorProduct (or a subclass); got {type(module).__name__}")
    irreps = [str(module.irreps_in1), str(module.irreps_in2), str(module.irreps_out)]
    instructions = [(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight) for i in module.instructions]
    factors = [float(i.path_weight) for i in module.instructions]
    for irrep_norm, path_norm in itertools.product(IRREP_NORMALIZATIONS, PATH_NORMALIZATIONS):
        spec = TensorProductSpec.cgtp(*irreps, instructions=instructions, irrep_normalization=irrep_norm, path_normalization=path_norm)
        if all(math.isclose(p.normalization, f, rel_tol=_FACTOR_RTOL, abs_tol=0.0) for p, f in zip(spec.paths, factors)):
            return dict(zip(("irreps_in1", "irreps_in2", "irreps_out"), irreps), instructions=instructions,
                        irrep_normalization=irrep_norm, path_normalization=path_norm)  # fmt: skip
    negative = [f for f in factors if f < 0]
    if negative:
        raise ValueError(f"module has negative path factors {negative}; tpcore's path_weight enters under a square root")
    instructions = [ins + (f * f,) for ins, f in zip(instructions, factors)]
    return dict(zip(("irreps_in1", "irreps_in2", "irreps_out"), irreps), instructions=instructions,
                irrep_normalization="none", path_normalization="none")  # fmt: skip


def from_e3nn(module, *, backend: str = "torch", impl: str | None = None) -> tt.TensorProduct:
    """The :class:`tpcore.torch.TensorProduct` computing what the e3nn ``module`` computes, weights kept.

    Internal weights are copied (and keep ``requires_grad``); external ones (``internal_weights=False``,
    MACE's convolution) stay the caller's, in the same flat layout. dtype and device are the module's.
    """
    args = e3nn_spec_arguments(module)
    anchor = module.output_mask
    tp = tt.TensorProduct(
        **args,
        internal_weights=module.internal_weights,
        shared_weights=module.shared_weights,
        backend=backend,
        impl=impl,
        dtype=anchor.dtype,
        device=anchor.device,
    )
    if tp.weight_numel != module.weight_numel:
        raise AssertionError(f"rebuilt module has {tp.weight_numel} weights, e3nn's has {module.weight_numel}")
    tp.load_state_dict(module.state_dict(), strict=True)
    if isinstance(module.weight, torch.nn.Parameter) and isinstance(tp.weight, torch.nn.Parameter):
        tp.weight.requires_grad_(module.weight.requires_grad)
    tp.train(module.training)
    return tp


def convert(model: torch.nn.Module, backend: str = "torch", impl: str | None = None) -> torch.nn.Module:
    """Swap every e3nn tensor product inside ``model`` for tpcore's exact cgtp module, in place.

    In a MACE/ScaleShiftMACE these are each interaction's ``conv_tp`` (``uvu``, per-edge weights
    from the radial MLP) and ``skip_tp`` (fully connected, internal weights). Returns ``model``.
    """
    targets = [(name, child) for name, child in model.named_modules() if name and is_e3nn_tensor_product(child)]
    if not targets:
        raise ValueError(f"model ({type(model).__name__}) holds no e3nn o3.TensorProduct to convert")
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, from_e3nn(child, backend=backend, impl=impl))
    return model
