"""Registers the cupy backend: every variant and lowering strategy on CUDA, with an explicit ``vjp``.

Nothing here imports cupy unless ``find_spec`` says it is installed: the probe then imports it and
touches a device, because ``import cupy`` succeeds on machines without a usable GPU (the first
device call raises, e.g. ``cudaErrorInsufficientDriver``). Such a cupy is reported unusable, so the
default backend never falls on it.
"""

from __future__ import annotations

from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, import_probe, plan_implementations

_CAPABILITIES = Capabilities(
    modes=None,
    dtypes=frozenset({"float32", "float64"}),
    devices=frozenset({"cuda"}),
    grad_order=1,  # tp.vjp(x1, x2, weights) -> (out, vjp_fn)
    jit=False,
    per_sample_weights=True,
)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def _probe() -> str | None:
    reason = import_probe("cupy")
    if reason is not None:
        return reason
    import cupy

    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "cupy: no CUDA device (0 devices found)"
        cupy.zeros(1, dtype=cupy.float32).sum().item()
    except Exception as exc:
        return f"cupy: no CUDA device ({_short(exc)})"
    return None


def _device_index(device) -> int | None:
    """None (the current device) for None or "cuda", else the index of "cuda:<index>"."""
    text = None if device is None else str(device).strip().lower()
    if text is None or text == "cuda":
        return None
    kind, _, index = text.partition(":")
    if kind != "cuda" or not index.isdigit():
        raise ValueError(f"device {device!r} is not a CUDA device: the cupy backend expects 'cuda' or 'cuda:<index>'")
    return int(index)


def _build(spec, *, device, dtype, strategy):
    import cupy

    from .tensor_product import CupyTensorProduct

    return CupyTensorProduct(spec, cupy, dtype, strategy, device=_device_index(device))


def _harness():
    from .harness import CupyHarness

    return CupyHarness()


@hookimpl
def tpcore_register_backends(register):
    register(
        Backend(
            name="cupy",
            probe=_probe,
            priority=30,
            default_dtype="float32",
            devices=("cuda",),
            description="CuPy on a CUDA GPU: cupy arrays in and out, tp.vjp for gradients (no autodiff).",
            harness=_harness,
        )
    )


@hookimpl
def tpcore_register_implementations(register):
    for implementation in plan_implementations("cupy", _build, _CAPABILITIES, "executed with cupy (explicit vjp)"):
        register(implementation)
