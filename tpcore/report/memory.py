"""Peak memory of one forward+backward call, for ``tpcore compare`` and the asv suite.

Each backend is measured the way it can be measured, and :func:`peak_memory` says which way:

- torch on a CUDA device: ``torch.cuda.max_memory_allocated`` during the call, minus what was
  allocated before it (the inputs, the module's constants);
- torch on the CPU: the bytes autograd keeps for the backward pass, that is the distinct storages
  of the tensors saved during the forward that were computed from the inputs (the inputs
  themselves and constants such as Clebsch-Gordan tables excluded), plus the output. It is
  deterministic, unlike the process's RSS, and it is what grows with the batch;
- jax: XLA's compiled memory analysis of the jitted forward+backward (temporaries + outputs).

tpcore and its peer are always measured the same way, so their ratio is fair; numbers from two
backends are not comparable.
"""

from __future__ import annotations

#: how each backend's bytes are counted (the ``how`` of :func:`peak_memory`)
METHODS = {
    "torch:cuda": "torch.cuda.max_memory_allocated during forward+backward",
    "torch:cpu": "autograd's saved tensors computed from the inputs, plus the output",
    "jax": "XLA compiled memory analysis of forward+backward (temporaries + outputs)",
}


def peak_memory(prepared) -> tuple[int | None, str]:
    """``(bytes, how)`` for one forward+backward of a :class:`~tpcore.report.timing.Prepared`;
    bytes is None where the backend cannot tell (``how`` then says why)."""
    if prepared.backend == "torch":
        return _torch(prepared)
    if prepared.backend == "jax":
        return _jax(prepared), METHODS["jax"]
    return None, f"not measured on {prepared.backend}"


def _torch(prepared) -> tuple[int | None, str]:
    import torch

    x1 = prepared.inputs[0]
    if x1.device.type == "cuda":
        torch.cuda.synchronize(x1.device)
        before = torch.cuda.memory_allocated(x1.device)
        torch.cuda.reset_peak_memory_stats(x1.device)
        prepared.forward_backward()
        return torch.cuda.max_memory_allocated(x1.device) - before, METHODS["torch:cuda"]
    return _saved_bytes(prepared.tp, prepared.inputs), METHODS["torch:cpu"]


def _saved_bytes(tp, inputs) -> int:
    import torch

    leaves = [None if x is None else x.detach().requires_grad_(True) for x in inputs]
    excluded = {x.untyped_storage().data_ptr() for x in leaves if x is not None}
    saved: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if t.requires_grad and storage.data_ptr() not in excluded:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = tp(*leaves)
    if out.untyped_storage().data_ptr() not in saved:
        saved[out.untyped_storage().data_ptr()] = out.untyped_storage().nbytes()
    return sum(saved.values())


def _jax(prepared) -> int | None:
    if prepared.vjp_fn is None:
        return None
    try:
        analysis = prepared.vjp_fn.lower(*prepared.inputs, prepared.grad_out).compile().memory_analysis()
        return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)
    except Exception:  # not every jax build reports memory; the table then says "-"
        return None


__all__ = ["METHODS", "peak_memory"]
