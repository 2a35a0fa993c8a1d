"""``tpcore.torch.TensorProduct``: e3nn's ``o3.TensorProduct`` computed by tpcore (see :mod:`tpcore.torch`)."""

from __future__ import annotations

import math
import sys
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union  # noqa: F401 (TorchScript reads annotations here)

import torch

from tpcore.adapter_specs import adapter_irreps, channelwise_spec
from tpcore.dtypes import normalize_dtype, torch_dtype
from tpcore.irreps import Irreps
from tpcore.spec import VARIANTS, TensorProductSpec, check_choice

#: submodules of e3nn's TensorProduct whose buffers are generated-code constants
_E3NN_CODEGEN_MODULES = ("_compiled_main_left_right", "_compiled_main_right")


class Instruction(NamedTuple):
    """e3nn's ``Instruction``: ``path_weight`` is the path's final normalization factor, as in e3nn."""

    i_in1: int
    i_in2: int
    i_out: int
    connection_mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple


class TensorProduct(torch.nn.Module):
    """e3nn's ``o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, ...)`` on tpcore.

    ``instructions`` are e3nn's tuples ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])``
    with any of e3nn's modes (``uvw uvu uvv uuw uuu uvuv uvu<v u<vw``). ``shared_weights`` defaults to True and
    ``internal_weights`` to ``shared_weights`` (as in e3nn): internal weights are the Parameter
    ``weight``; external ones are passed as ``tp(x, y, weight)``, shaped ``(weight_numel,)`` when
    shared, else ``(..., weight_numel)`` broadcasting against the batch (one vector per edge).
    ``in1_var``/``in2_var``/``out_var`` are e3nn's per-block variances (they enter the paths'
    normalization, as in e3nn).

    ``variant`` other than ``"cgtp"`` builds the channel-wise spec of that variant from the irreps
    (each a spherical signal such as ``"8x0e + 8x1o + 8x2e"``, equal multiplicities; an input of
    multiplicity 1, e.g. spherical harmonics, is repeated over the channels), weighted when any
    instruction has weights. ``backend``/``impl``/``device``/``dtype`` go to :func:`tpcore.build`;
    ``dtype=None`` is torch's default dtype, like e3nn.

    The module deep-copies, pickles and ``torch.save``s whole, is scripted by ``torch.jit.script``
    (and by e3nn's ``e3nn.util.jit.compile``: it carries e3nn's ``script`` compile mode) and
    compiles with ``torch.compile(fullgraph=True)``.
    """

    #: e3nn's compile-mode mark (``e3nn.util.jit.compile_mode("script")``), read by e3nn's compile
    __e3nn_compile_mode__ = "script"
    __jit_unused_properties__: List[str] = []

    def __init__(
        self,
        irreps_in1,
        irreps_in2,
        irreps_out,
        instructions: Sequence[tuple],
        in1_var=None,
        in2_var=None,
        out_var=None,
        irrep_normalization: str | None = None,
        path_normalization: str | None = None,
        internal_weights: bool | None = None,
        shared_weights: bool | None = None,
        compile_left_right: bool = True,
        compile_right: bool = False,
        normalization=None,
        _specialized_code: bool | None = None,
        _optimize_einsums: bool | None = None,
        *,
        variant: str = "cgtp",
        backend: str = "torch",
        impl: str | None = None,
        dtype=None,
        device=None,
    ):
        super().__init__()
        # compile_left_right / compile_right / _specialized_code / _optimize_einsums steer e3nn's
        # code generation; tpcore always generates one program per weight kind, so they are accepted
        # and have no effect. ``normalization`` is e3nn's old name of irrep_normalization.
        if normalization is not None:
            if irrep_normalization is not None and irrep_normalization != normalization:
                raise ValueError(f"normalization={normalization!r} and irrep_normalization={irrep_normalization!r} disagree")
            irrep_normalization = normalization
        check_choice("variant", variant, VARIANTS)
        self.irreps_in1 = adapter_irreps(irreps_in1, "irreps_in1")
        self.irreps_in2 = adapter_irreps(irreps_in2, "irreps_in2")
        self.irreps_out = adapter_irreps(irreps_out, "irreps_out")
        instructions = [tuple(ins) for ins in instructions]
        irrep_normalization = irrep_normalization or "component"
        path_normalization = path_normalization or "element"

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights and any(_has_weight(ins) for ins in instructions)
        if internal_weights and not shared_weights:
            raise ValueError("internal_weights=True needs shared_weights=True (one weight vector held by the module)")
        self.shared_weights, self.internal_weights = shared_weights, internal_weights
        # e3nn keeps its code-generation choices (defaulting to e3nn.get_optimization_defaults());
        # tpcore records them for code that reads them and otherwise ignores them
        defaults = _e3nn_optimization_defaults()
        self._specialized_code = bool(defaults["specialized_code"] if _specialized_code is None else _specialized_code)
        self._optimize_einsums = bool(defaults["optimize_einsums"] if _optimize_einsums is None else _optimize_einsums)
        self._compile_left_right, self._compile_right = bool(compile_left_right), bool(compile_right)

        if variant == "cgtp":
            self.spec = TensorProductSpec.cgtp(
                self.irreps_in1, self.irreps_in2, self.irreps_out, mode="uvw", instructions=instructions,
                path_normalization=path_normalization, irrep_normalization=irrep_normalization,
                in1_var=_variances(in1_var), in2_var=_variances(in2_var), out_var=_variances(out_var),
            )  # fmt: skip
        else:
            given = [name for name, var in (("in1_var", in1_var), ("in2_var", in2_var), ("out_var", out_var)) if var is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: per-block variances apply to variant='cgtp' only, not {variant!r}")
            self.spec = channelwise_spec(variant, self.irreps_in1, self.irreps_in2, self.irreps_out, any(_has_weight(i) for i in instructions))
        self.variant = variant
        self.instructions = [
            Instruction(p.i_in1, p.i_in2, p.i_out, p.mode, p.has_weight, p.normalization, _shape(p))
            for p in self.spec.paths
        ]
        dtype = torch.get_default_dtype() if dtype is None else torch_dtype(dtype)
        import tpcore.registry

        # The built module draws weights of its own, which the adapter drops: drawn on a forked
        # generator, so that the adapter's one draw below is e3nn's (same seed, same initial weights)
        forked = [torch.device(device)] if device is not None and torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            built = tpcore.registry.build(self.spec, backend=backend, impl=impl, device=device, dtype=normalize_dtype(dtype))
        if not isinstance(built, torch.nn.Module):
            raise ValueError(
                f"backend={backend!r}: tpcore.torch's modules run on torch tensors, but the {backend} backend builds "
                f"a {type(built).__name__}; use a torch backend (backend='torch'), or tpcore.build(spec, backend={backend!r}) "
                "for a plain function"
            )
        # The adapter always passes the weights (its own Parameter or the caller's), so the built
        # module's own weight Parameter goes: the state_dict is then exactly e3nn's.
        for name, _ in list(built.named_parameters(recurse=False)):
            delattr(built, name)
            built.register_parameter(name, None)
        self._tp = built
        self.weight_numel = self.spec.weight_numel
        self._dim_in1 = self.irreps_in1.dim
        kw = {"dtype": dtype, "device": device}
        # e3nn layers feed multiplicity-1 inputs (spherical harmonics) to channel-wise variants,
        # whose spec needs every channel: an index that repeats them, applied only when needed
        self._tiled = (self.spec.irreps_in1.dim != self.irreps_in1.dim, self.spec.irreps_in2.dim != self.irreps_in2.dim)
        self.register_buffer("_tile_index1", _tile_index(self.irreps_in1, self.spec.irreps_in1, device), persistent=False)
        self.register_buffer("_tile_index2", _tile_index(self.irreps_in2, self.spec.irreps_in2, device), persistent=False)

        if internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(self.weight_numel, **kw))
        else:
            self.register_buffer("weight", torch.empty(0, **kw))
        self.register_buffer("output_mask", _output_mask(self.instructions, self.irreps_out, **kw))
        # e3nn users read these as e3nn's Irreps (``.randn``, isinstance checks): when e3nn is
        # already imported, that is what they get; tpcore never imports e3nn itself.
        self.irreps_in1, self.irreps_in2, self.irreps_out = (
            _public_irreps(irreps) for irreps in (self.irreps_in1, self.irreps_in2, self.irreps_out)
        )
        self.register_state_dict_post_hook(_add_e3nn_codegen_state)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        # e3nn's state_dict also holds the Wigner 3j constants of its generated code (tpcore's
        # writes them too, :func:`_add_e3nn_codegen_state`); tpcore computes its own, so those
        # keys are accepted and ignored.
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        codegen = tuple(prefix + name + "." for name in _E3NN_CODEGEN_MODULES)
        unexpected_keys[:] = [key for key in unexpected_keys if not key.startswith(codegen)]

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """e3nn's call: ``x (..., irreps_in1.dim)``, ``y (..., irreps_in2.dim)`` -> ``(..., irreps_out.dim)``."""
        return self._product(x, y, weight)

    def _product(self, x: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor]) -> torch.Tensor:
        w = self._weights(weight)
        if self._tiled[0]:
            x = x.index_select(-1, self._tile_index1)
        if self._tiled[1]:
            y = y.index_select(-1, self._tile_index2)
        return self._tp(x, y, w)

    @torch.jit.export
    def right(self, y: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """e3nn's ``right``: the operator ``(..., irreps_in1.dim, irreps_out.dim)`` that ``x`` multiplies.

        ``tp(x, y, w) == torch.einsum("...i,...ij->...j", x, tp.right(y, w))``.
        """
        w = self._weights(weight)
        eye = torch.eye(self._dim_in1, dtype=y.dtype, device=y.device)
        if self._tiled[0]:
            eye = eye.index_select(-1, self._tile_index1)
        if self._tiled[1]:
            y = y.index_select(-1, self._tile_index2)
        if w is not None and w.dim() > 1:
            w = w.unsqueeze(-2)
        return self._tp(eye, y.unsqueeze(-2), w)

    def _weights(self, weight: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The weights of a call: ``weight`` checked against e3nn's rules, or the internal Parameter."""
        if self.weight_numel == 0:
            return None
        if weight is None:
            if not self.internal_weights:
                shape = f"({self.weight_numel},)" if self.shared_weights else f"(..., {self.weight_numel})"
                raise RuntimeError(f"weight is required: this TensorProduct has internal_weights=False; pass a tensor of shape {shape}")
            return self.weight
        if not torch.jit.is_scripting() and not isinstance(weight, torch.Tensor):
            weight = self._weights_from_python(weight)
        if torch.jit.is_tracing():
            return weight  # traced sizes are tensors: a check here would be a Python bool of one
        if self.shared_weights and (weight.dim() != 1 or weight.size(0) != self.weight_numel):
            raise ValueError(f"weight has shape {list(weight.shape)}, but shared_weights=True expects ({self.weight_numel},)")
        if not self.shared_weights and (weight.dim() < 2 or weight.size(-1) != self.weight_numel):
            raise ValueError(
                f"weight has shape {list(weight.shape)}, but shared_weights=False expects (..., {self.weight_numel}) "
                "with at least one batch dimension"
            )
        return weight

    @torch.jit.unused
    def _weights_from_python(self, weight) -> torch.Tensor:
        """Weights given as a list (e3nn accepts them): one tensor per weighted instruction, shaped
        ``path_shape`` (shared) or ``(..., *path_shape)``, concatenated as e3nn does; or numbers."""
        if isinstance(weight, (list, tuple)) and weight and all(isinstance(w, torch.Tensor) for w in weight):
            shapes = [ins.path_shape for ins in self.instructions if ins.has_weight]
            if len(weight) != len(shapes):
                raise ValueError(f"weight is a list of {len(weight)} tensors, but there are {len(shapes)} weighted instructions (shapes {shapes})")
            flat = []
            for k, (w, shape) in enumerate(zip(weight, shapes)):
                if tuple(w.shape[w.dim() - len(shape):]) != tuple(shape):
                    raise ValueError(f"weight[{k}] has shape {list(w.shape)}, but its instruction's path_shape is {shape}")
                flat.append(w.reshape(tuple(w.shape[: w.dim() - len(shape)]) + (math.prod(shape),)))
            return torch.cat(flat, dim=-1)
        try:
            return torch.as_tensor(weight, dtype=self.output_mask.dtype, device=self.output_mask.device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"weight must be a torch.Tensor, a list of tensors (one per weighted instruction) or a list of numbers; "
                f"got {type(weight).__name__}: {exc}"
            ) from None

    @torch.jit.unused
    def weight_view_for_instruction(self, instruction: int, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The weights of one cgtp instruction, shaped ``(..., *path_shape)`` (e3nn's method)."""
        path = self.spec.paths[instruction]
        if not path.has_weight:
            raise ValueError(f"instructions[{instruction}] = {self.instructions[instruction]} has no weights")
        weight = self._weights(weight)
        return weight[..., path.weight_slice].reshape(weight.shape[:-1] + path.weight_shape)

    @torch.jit.unused
    def weight_views(self, weight: torch.Tensor | None = None, yield_instruction: bool = False) -> Iterator:
        """Each weighted instruction's weights, shaped ``(..., *path_shape)`` (e3nn's method).

        With ``yield_instruction=True`` yields ``(index, instruction, view)``.
        """
        for k, ins in enumerate(self.instructions):
            if ins.has_weight:
                view = self.weight_view_for_instruction(k, weight)
                yield (k, ins, view) if yield_instruction else view

    @torch.jit.unused
    def visualize(self, weight: Optional[torch.Tensor] = None, plot_weight: bool = True, aspect_ratio=1, ax=None):
        """e3nn's ``visualize``: the paths drawn with matplotlib, returns ``(fig, ax)``.

        Drawn by e3nn's own method (it reads only the public ``irreps_*``, ``instructions``,
        ``internal_weights`` and ``weight_view_for_instruction``), so it needs e3nn and matplotlib.
        """
        return _e3nn_tensor_product_class().visualize(self, weight=weight, plot_weight=plot_weight, aspect_ratio=aspect_ratio, ax=ax)

    def __repr__(self) -> str:
        # e3nn's one-line form ("paths" counts the entries of every path's weight shape, as e3nn does)
        npath = sum(math.prod(ins.path_shape) for ins in self.instructions)
        variant = "" if self.variant == "cgtp" else f" | variant={self.variant}"
        return (
            f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} -> "
            f"{self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights{variant})"
        )

# -- helpers -------------------------------------------------------------------------------------


def _add_e3nn_codegen_state(module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: e3nn's generated-code constants join the state_dict, which then loads
    into e3nn's own module with ``strict=True`` (:mod:`tpcore.torch.e3nn_state`)."""
    if module.variant != "cgtp":
        return
    from tpcore.torch.e3nn_state import codegen_state

    state = codegen_state(
        module.irreps_in1, module.irreps_in2, module.irreps_out, module.instructions,
        specialized_code=module._specialized_code, compile_left_right=getattr(module, "_compile_left_right", True),
        compile_right=getattr(module, "_compile_right", False),
        dtype=module.output_mask.dtype, device=module.output_mask.device,
    )  # fmt: skip
    for key, value in state.items():
        state_dict[prefix + key] = value



def _e3nn_optimization_defaults() -> dict:
    """e3nn's ``get_optimization_defaults()`` when e3nn is imported, else its documented defaults."""
    e3nn = sys.modules.get("e3nn")
    if e3nn is not None and hasattr(e3nn, "get_optimization_defaults"):
        return e3nn.get_optimization_defaults()
    return {"specialized_code": True, "optimize_einsums": True}


def _e3nn_tensor_product_class():
    """e3nn's own ``o3.TensorProduct`` class, found through its base class: code that rebinds the
    name ``TensorProduct`` in e3nn's modules to tpcore's class still reaches e3nn's."""
    try:
        import e3nn.o3  # noqa: F401
        from e3nn.util.codegen import CodeGenMixin
    except ImportError as exc:
        raise ImportError(f"TensorProduct.visualize draws with e3nn's code: install e3nn ({exc})") from None
    for cls in CodeGenMixin.__subclasses__():
        if cls.__name__ == "TensorProduct" and cls.__module__.startswith("e3nn.o3."):
            return cls
    raise ImportError(f"e3nn {getattr(sys.modules.get('e3nn'), '__version__', '?')} has no o3.TensorProduct built on CodeGenMixin")


def _public_irreps(irreps: Irreps):
    """e3nn's ``o3.Irreps`` of the same blocks when e3nn is imported, else tpcore's."""
    e3nn_o3 = sys.modules.get("e3nn.o3")
    return e3nn_o3.Irreps(str(irreps)) if e3nn_o3 is not None else irreps


def _has_weight(ins: tuple) -> bool:
    return bool(ins[4]) if len(ins) > 4 else (ins[3] if len(ins) > 3 else "uvw") != "uvuv"


def _shape(path) -> tuple:
    """e3nn's ``path_shape`` of an unweighted path (the shape its weights would have)."""
    from tpcore.cgtp_paths import WEIGHT_SHAPES

    return WEIGHT_SHAPES[path.mode](path.mul_in1, path.mul_in2, path.mul_out)


def _variances(var):
    """e3nn's variances as plain floats (e3nn accepts tensors too); None stays None (ones)."""
    if isinstance(var, torch.Tensor):
        return [float(v) for v in var.detach().reshape(-1).tolist()]
    return var


def _tile_index(irreps: Irreps, widened: Irreps, device) -> torch.Tensor:
    """Positions in ``irreps`` that lay it out as ``widened`` (each multiplicity-1 block repeated)."""
    if widened.dim == irreps.dim:
        return torch.arange(irreps.dim, device=device)
    parts = []
    for (mul, ir), s, (wide, _) in zip(irreps, irreps.slices(), widened):
        parts.append(torch.arange(s.start, s.stop, device=device).repeat(wide // mul))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)


def _output_mask(instructions, irreps_out, dtype, device) -> torch.Tensor:
    """e3nn's ``output_mask``: 1 on output blocks reached by an instruction of non-zero
    ``path_weight`` and non-empty ``path_shape`` (e3nn's rule, so e.g. ``uvu<v`` of a single channel reaches nothing)."""
    reached = {ins.i_out for ins in instructions if ins.path_weight != 0 and 0 not in ins.path_shape}
    parts = [torch.full((mul * ir.dim,), float(i in reached), dtype=dtype, device=device) for i, (mul, ir) in enumerate(irreps_out)]
    return torch.cat(parts) if parts else torch.ones(0, dtype=dtype, device=device)
