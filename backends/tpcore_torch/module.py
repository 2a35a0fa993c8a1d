"""``TensorProduct``: a tpcore plan compiled once into a ``torch.nn.Module``.

The plan's op list becomes generated code at construction (:mod:`.codegen`): one ``torch.fx``
program for shared weights and one for per-sample weights, sharing the coefficient buffers. The
buffers are non-persistent and follow ``.to()``/``.double()``/``.cuda()`` without entering the
``state_dict``; a dtype change recomputes them from the plan's float64 arrays instead of casting.
The weights, if any, are one Parameter ``weight`` of shape ``(weight_numel,)`` in e3nn's flat
layout, so a state_dict saved from e3nn's ``FullyConnectedTensorProduct`` (or ``TensorProduct``)
with the same irreps loads into it.

The module holds no module object, closure or framework handle: it deep-copies, pickles and
``torch.save``s as a whole; ``forward`` is scriptable by ``torch.jit.script`` and traceable by
``torch.compile(fullgraph=True)`` with internal, shared or per-sample weights. Eager calls of the
``fused`` strategy run :class:`.fused.FusedProduct`, and of ``folded`` with shared weights
:class:`.folded.FoldedProduct`, which keep only the inputs for backward.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from tpcore.devices import torch_device
from tpcore.dtypes import dtype_name, torch_dtype
from tpcore.plan import lower
from tpcore.spec import TensorProductSpec
from tpcore.validation import check_call, check_input_types

from .codegen import buffer_name, compile_plan, keep_constants_out_of_state_dict
from .folded import ChannelFoldedProduct, FoldedProduct
from .fused import FusedProduct
from .linecache_bound import forget_source_when_collected

COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
#: dtypes a module takes through ``.half()``, ``.bfloat16()`` or ``.to(dtype)``: its weights and
#: calls are in that dtype, its program computes in float32 (coefficients, FFTs and index sums
#: in 16 bits lose accuracy or have no CPU kernel)
LOW_PRECISION = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a module of ``dtype`` computes in: float32 for the 16-bit dtypes, else ``dtype``
    itself (float32 or float64; anything else raises naming the dtype)."""
    return torch.float32 if dtype in LOW_PRECISION else torch_dtype(dtype)


def constant_tensor(value: np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    """A plan constant as the buffer the program reads: ints as long, complex as its real view."""
    value = np.array(value)  # a writable copy: torch warns on read-only numpy buffers
    if value.dtype.kind in "iu":
        return torch.as_tensor(value, dtype=torch.long, device=device)
    if value.dtype.kind == "c":
        return torch.view_as_real(torch.as_tensor(value, dtype=COMPLEX[dtype], device=device)).clone()
    return torch.as_tensor(value, dtype=dtype, device=device)


class TensorProduct(torch.nn.Module):
    """``tp(x1, x2, weights=None)`` for a :class:`~tpcore.spec.TensorProductSpec`.

    ``x1 (..., irreps_in1.dim)`` and ``x2 (..., irreps_in2.dim)`` broadcast over their batch shapes;
    ``weights`` of shape ``(weight_numel,)`` (shared) or ``(..., weight_numel)`` (one vector per
    sample) replace the internal ``weight`` Parameter for this call. The output is
    ``(*batch, irreps_out.dim)`` in the module's dtype and device.
    """

    # Python-side descriptions TorchScript must not compile.
    __jit_unused_properties__ = ["strategy", "plan", "dtype", "device"]

    def __init__(self, spec: TensorProductSpec, *, strategy: str | None = None, device=None, dtype="float32"):
        super().__init__()
        self.spec = spec
        self._requested_strategy = strategy
        self.weight_numel = spec.weight_numel
        self.dim_in1, self.dim_in2, self.dim_out = spec.irreps_in1.dim, spec.irreps_in2.dim, spec.irreps_out.dim
        dtype, device = torch_dtype(dtype), torch_device(device)
        # An empty buffer that carries the module's dtype and device through .to().
        self.register_buffer("_anchor", torch.zeros(0, dtype=dtype, device=device), persistent=False)
        self._generate_programs(dtype, device)
        if spec.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(spec.weight_numel, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        self.register_state_dict_post_hook(_drop_program_constants)
        self.register_load_state_dict_pre_hook(_match_program_constants)

    def _generate_programs(self, dtype: torch.dtype, device: torch.device) -> None:
        """The two programs, generated from the plan for ``device``'s type (``auto`` is measured
        per device type: :func:`tpcore.cost.auto_strategy`), with their coefficient buffers."""
        plan = lower(self.spec, self._requested_strategy, device.type)
        self._plan_device = device.type
        constants = torch.nn.Module()
        for name, value in plan.consts.items():
            constants.register_buffer(buffer_name(name), constant_tensor(value, compute_dtype(dtype), device), persistent=False)
        self.program_shared = compile_plan(plan, False, constants)
        # Without weights both programs are the same code, but never the same submodule: a module
        # registered under two names has its buffers swapped twice by ``torch.func.functional_call``
        # and left as the tracer's fake tensors afterwards (NequIP's train-time compile does that).
        self.program_per_sample = compile_plan(plan, self.spec.weight_numel > 0, constants)
        # eager calls of ``fused``, and of ``folded`` with shared weights, keep only their inputs for
        # backward (.fused, .folded)
        self._fused = plan.strategy == "fused" and "fused_i1" in plan.consts  # (a product of empty irreps has no terms)
        self._folded = plan.strategy == "folded" and bool({"T_index", "Tc_index"} & set(plan.consts))  # (without weights nothing is kept)

    def _apply(self, fn, recurse=True):
        # Module.to/.double()/.float()/.cuda() all come here. A dtype change recomputes the
        # coefficients from float64 instead of casting them, so a module built in float32 and
        # moved to float64 is as accurate as one built in float64. A move to another type of
        # device whose plan differs (``auto`` on a GPU) generates that plan's programs.
        before = self._anchor.dtype
        target = fn(self._anchor).dtype
        if target != before:
            compute_dtype(target)  # raise before any state changes
        super()._apply(fn, recurse)
        dtype, device = self._anchor.dtype, self._anchor.device
        if device.type != self._plan_device:
            old, new = self.plan, lower(self.spec, self._requested_strategy, device.type)
            if (new.ops, new.per_sample_ops) != (old.ops, old.per_sample_ops):
                self._generate_programs(dtype, device)
                return self
            self._plan_device = device.type
        if dtype != before:
            self._set_constants(compute_dtype(dtype), device)
        return self

    def __setstate__(self, state):
        # pickle, torch.load and deepcopy come here with the programs re-made from their code
        super().__setstate__(state)
        # a module saved before plans depended on the device type ran the strategy it names, on a CPU's plan
        self.__dict__.setdefault("_requested_strategy", self.__dict__.get("_strategy"))
        self.__dict__.setdefault("_plan_device", "cpu")
        self.__dict__.setdefault("_fused", False)  # (saved before ``fused`` and ``folded`` had their
        self.__dict__.setdefault("_folded", False)  # own autograd Functions)
        for program in (self.program_shared, self.program_per_sample):
            if isinstance(program, torch.fx.GraphModule):
                keep_constants_out_of_state_dict(program)
                forget_source_when_collected(program)  # (re-made programs have source of their own)

    def _set_constants(self, dtype: torch.dtype, device: torch.device) -> None:
        """Recompute every coefficient buffer of both programs from the plan's float64 arrays."""
        for name, value in self.plan.consts.items():
            tensor = constant_tensor(value, dtype, device)
            for program in {id(p): p for p in (self.program_shared, self.program_per_sample)}.values():
                if buffer_name(name) not in dict(program.named_buffers(recurse=False)):
                    continue
                if isinstance(program, torch.jit.ScriptModule):
                    # a program scripted in place (e3nn.util.jit.compile does that to submodules)
                    setattr(program, buffer_name(name), tensor)
                else:
                    program.register_buffer(buffer_name(name), tensor, persistent=False)

    @property
    def plan(self):
        """The lowered plan the programs were generated from (cached by spec, strategy and device type)."""
        return lower(self.spec, self._requested_strategy, self._plan_device)

    @property
    def strategy(self) -> str:
        return self.plan.strategy

    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def extra_repr(self) -> str:
        return (
            f"{self.spec.variant} {self.spec.irreps_in1} x {self.spec.irreps_in2} -> {self.spec.irreps_out}, "
            f"mode={self.spec.mode}, strategy={self.strategy}, weight_numel={self.weight_numel}, "
            f"dtype={str(self.dtype).removeprefix('torch.')}, device={self.device}"
        )

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        if weights is None:
            weights = self.weight
        if torch.jit.is_scripting():
            self._check_static(x1, x2, weights)
        elif not torch.jit.is_tracing():
            self._check_eager(x1, x2, weights)
        w = weights if weights is not None else self._anchor
        out_dtype = self._anchor.dtype
        if out_dtype == torch.float16 or out_dtype == torch.bfloat16:  # (LOW_PRECISION, spelled out for TorchScript)
            x1, x2, w = x1.float(), x2.float(), w.float()
        per_sample = w.dim() > 1
        x1, x2, w, batch = flatten_inputs(x1, x2, w, per_sample)
        # Under torch.jit.trace sizes are traced: no Python decision on them (a trace is of one shape).
        if self.dim_out == 0 or (not torch.jit.is_tracing() and x1.shape[0] == 0):
            # nothing to compute (and MKL's FFTs reject empty batches); zeros still connected to
            # every input, so gradients are zeros rather than missing
            return (x1.new_zeros(batch + [self.dim_out]) + 0 * (x1.sum() + x2.sum() + w.sum())).to(out_dtype)
        if self._fused and not torch.jit.is_scripting() and not torch.jit.is_tracing():
            out = self._fused_product(x1, x2, w, per_sample)
        elif self._folded and not per_sample and not torch.jit.is_scripting() and not torch.jit.is_tracing():
            out = self._folded_product(x1, x2, w)
        elif per_sample:
            out = self.program_per_sample(x1, x2, w)
        else:
            out = self.program_shared(x1, x2, w)
        return out.reshape(batch + [self.dim_out]).to(out_dtype)

    @torch.jit.unused
    def _fused_product(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor, per_sample: bool) -> torch.Tensor:
        """The ``fused`` program's result by :class:`~.fused.FusedProduct`, from the program's own
        constants; the program itself under ``torch.compile`` and ``torch.func`` (see :mod:`.fused`)."""
        program = self.program_per_sample if per_sample else self.program_shared
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return program(x1, x2, w)
        # (getattr: the program may have been scripted in place, as e3nn.util.jit.compile does)
        return FusedProduct.apply(x1, x2, w, getattr(program, _FUSED_I1), getattr(program, _FUSED_I2),
                                  getattr(program, _FUSED_WEIGHT, None), getattr(program, _FUSED_VALUE),
                                  getattr(program, _FUSED_K), self.dim_out)

    @torch.jit.unused
    def _folded_product(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The ``folded`` program's result by :class:`~.folded.FoldedProduct` (per channel by
        :class:`~.folded.ChannelFoldedProduct`): the weights folded into ``T`` as the program's
        ``weight_fold`` does; the program itself under ``torch.compile`` and ``torch.func``."""
        program = self.program_shared
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return program(x1, x2, w)
        if not hasattr(program, _TC_FOLD[0]):
            T = _fold_weights(program, w, _T_FOLD, (self.dim_in1 * self.dim_in2, self.dim_out))
            return FoldedProduct.apply(x1, x2, T)
        # folded per channel (tpcore.plan._lower_cgtp_folded_per_channel): every segment has u channels
        u = self.spec.irreps_in1[0].mul
        T = _fold_weights(program, w, _TC_FOLD, (u, (self.dim_in1 // u) * (self.dim_in2 // u), self.dim_out // u))
        out = ChannelFoldedProduct.apply(x1, x2, T, getattr(program, _X1_CHANNELS), getattr(program, _X2_CHANNELS))
        return out.reshape(x1.shape[0], self.dim_out).index_select(-1, getattr(program, _OUT_INDEX))

    @torch.jit.unused
    def _check_eager(self, x1, x2, weights) -> None:
        """The full check of a call (shapes, broadcasting, dtypes, devices), with errors naming each."""
        check_input_types(x1, x2, weights, "torch")
        given = {"x1": x1, "x2": x2} | ({} if weights is None else {"weights": weights})
        check_devices(given, self.device, "this tensor product's coefficients")
        check_call(
            self.spec,
            x1_shape=tuple(x1.shape),
            x2_shape=tuple(x2.shape),
            weights_shape=None if weights is None else tuple(weights.shape),
            dtypes={name: dtype_name(t) for name, t in given.items()},
            expected_dtype=dtype_name(self._anchor),
        )

    def _check_static(self, x1: torch.Tensor, x2: torch.Tensor, weights: Optional[torch.Tensor]) -> None:
        """The shape checks TorchScript can run (sizes only, never tensor values)."""
        if x1.dim() == 0 or x1.size(-1) != self.dim_in1:
            raise ValueError(f"x1 has shape {list(x1.shape)}, but irreps_in1 has dimension {self.dim_in1}")
        if x2.dim() == 0 or x2.size(-1) != self.dim_in2:
            raise ValueError(f"x2 has shape {list(x2.shape)}, but irreps_in2 has dimension {self.dim_in2}")
        if self.weight_numel > 0:
            if weights is None:
                raise ValueError(f"weights are required: weight_numel={self.weight_numel}")
            if weights.dim() == 0 or weights.size(-1) != self.weight_numel:
                raise ValueError(f"weights have shape {list(weights.shape)}, but weight_numel is {self.weight_numel}")


def check_devices(given: dict, device: torch.device, owner: str) -> None:
    """Every tensor of ``given`` (name -> tensor) on ``device``, else an error naming it and the others."""
    for name, tensor in given.items():
        if tensor.device != device:
            others = ", ".join(f"{n} on {t.device}" for n, t in given.items() if n != name)
            raise RuntimeError(f"{name} is on device {tensor.device}, but {owner} are on {device} ({others}); "
                               "move the inputs or the module with .to()")  # fmt: skip


PROGRAMS = ("program_shared", "program_per_sample")
#: the buffers of the ``fused`` program's constants (tpcore.plan.fused_entries)
_FUSED_I1, _FUSED_I2, _FUSED_WEIGHT, _FUSED_VALUE, _FUSED_K = (
    buffer_name(f"fused_{name}") for name in ("i1", "i2", "weight", "value", "k")
)
#: ... of the ``folded`` program's weight fold (index, target, value, constant part; tpcore.plan._lower_cgtp_folded)
_T_FOLD = tuple(buffer_name(name) for name in ("T_index", "T_target", "T_value", "T0"))
#: ... of it folded per channel, and its gathers (tpcore.plan._lower_cgtp_folded_per_channel)
_TC_FOLD = tuple(buffer_name(name) for name in ("Tc_index", "Tc_target", "Tc_value", "Tc0"))
_X1_CHANNELS, _X2_CHANNELS, _OUT_INDEX = (buffer_name(name) for name in ("x1_channel_index", "x2_channel_index", "out_index"))


def _fold_weights(program, w: torch.Tensor, names: tuple, shape: tuple) -> torch.Tensor:
    """``folded``'s matrix as the program's ``weight_fold`` (and ``add`` of the unweighted paths'
    constant part) makes it, from the program's buffers ``names`` = (index, target, value, constant)."""
    index, target, value, constant = names
    terms = w.index_select(0, getattr(program, index)) * getattr(program, value)
    T = w.new_zeros(int(np.prod(shape))).index_add(0, getattr(program, target), terms).reshape(shape)
    constant = getattr(program, constant, None)  # the paths without weights
    return T if constant is None else T + constant


def _drop_program_constants(module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: the programs' coefficient buffers stay out of the state_dict.

    They are non-persistent buffers of the generated GraphModules, but ``e3nn.util.jit.compile``
    replaces every submodule by its TorchScript module in place, and a scripted program's buffers
    are persistent again; without this hook such a model's state_dict would not load into a new one.
    """
    programs = tuple(prefix + name + "." for name in PROGRAMS)
    for key in [key for key in state_dict if key.startswith(programs)]:
        del state_dict[key]


def _match_program_constants(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    """Load pre-hook: a state_dict loads whether or not the programs were scripted in place.

    Program constants found in ``state_dict`` are dropped (the module computes its own); a program
    scripted in place (persistent buffers) is given its current constants, so none is missing.
    """
    for name in PROGRAMS:
        start = prefix + name + "."
        for key in [key for key in state_dict if key.startswith(start)]:
            del state_dict[key]
        program = module._modules.get(name)
        if isinstance(program, torch.jit.ScriptModule):
            for buffer, value in program.named_buffers(recurse=False):
                state_dict[start + buffer] = value


def flatten_inputs(x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor, per_sample: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[int]]:
    """``(x1, x2, w, batch)``: the inputs broadcast to their common batch shape and flattened to ``(Z, dim)``.

    ``w`` is flattened too when ``per_sample``, else returned as given. The batch shape comes from
    broadcasting the inputs' first columns, which ``torch.jit.trace`` records as tensor ops (a Python
    rule on traced sizes would be a TracerWarning, and a ``SystemError`` from ``Tensor.__bool__``
    where warnings are errors, as in e3nn's ``assert_auto_jitable``); TorchScript compiles it as is.
    Shapes that do not broadcast raise torch's error here; eager calls are checked before, with
    tpcore's (:func:`tpcore.validation.check_call`).
    """
    leading = x1[..., :1] + x2[..., :1]
    if per_sample:
        leading = leading + w[..., :1]
    batch = list(leading.shape[:-1])
    x1 = x1.expand(batch + [x1.shape[-1]]).unsqueeze(0).flatten(0, -2)
    x2 = x2.expand(batch + [x2.shape[-1]]).unsqueeze(0).flatten(0, -2)
    if per_sample:
        w = w.expand(batch + [w.shape[-1]]).unsqueeze(0).flatten(0, -2)
    return x1, x2, w, batch


def build(spec: TensorProductSpec, *, device=None, dtype="float32", strategy: str | None = None) -> TensorProduct:
    """The factory behind every torch Implementation."""
    return TensorProduct(spec, strategy=strategy, device=device, dtype=dtype)
