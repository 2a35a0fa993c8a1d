"""The message-passing step: gather the senders' features, the ``uvu`` product with per-edge weights,
sum into the receivers. ``impl="tpcore"`` is :func:`tpcore.build_conv` on ``backend``;
``impl="e3nn"`` is e3nn's ``o3.TensorProduct`` between ``index_select`` and ``index_add`` (torch only),
as MACE and NequIP run it. Three phases: forward, forward+backward (gradients in node features,
edge features and weights), and the force double backward (the gradient in the weights of the
squared gradient in the edge features). The graph: ``EDGES`` random edges, 16 per node.
"""

from __future__ import annotations

import os

import numpy as np

from asv_benchmarks.bench_convolution import IRREPS_IN1, IRREPS_SH, convolution_irreps

EDGES = 500 if os.environ.get("TPCORE_ASV_PROFILE", "full") == "quick" else 4000
NODES = EDGES // 16


class _MessagePassingSetup:
    params = (["torch", "jax"], ["tpcore", "e3nn"])
    param_names = ["backend", "impl"]
    timeout = 300

    def setup(self, backend, impl):
        import tpcore
        from tpcore.registry import get_registry
        from tpcore.spec import TensorProductSpec

        if impl == "e3nn" and backend != "torch":
            raise NotImplementedError("e3nn's TensorProduct is a torch module")
        if backend not in get_registry().available():
            raise NotImplementedError(f"backend {backend} is not usable here: {get_registry().reason(backend)}")
        irreps_out, instructions = convolution_irreps()
        spec = TensorProductSpec.cgtp(IRREPS_IN1, IRREPS_SH, irreps_out, mode="uvu", instructions=instructions)
        rng = np.random.default_rng(0)
        arrays = (rng.standard_normal((NODES, spec.irreps_in1.dim)), rng.standard_normal((EDGES, spec.irreps_in2.dim)),
                  rng.standard_normal((EDGES, spec.weight_numel)))  # fmt: skip
        src, dst = rng.integers(0, NODES, EDGES), np.sort(np.arange(EDGES) % NODES)
        make = _torch_phases if backend == "torch" else _jax_phases
        if impl == "e3nn":
            conv = _e3nn_step(str(irreps_out), instructions, NODES)
        else:
            conv = tpcore.build_conv(spec, backend=backend, dtype="float32")
        self.phases = make(conv, arrays, src, dst)
        for run in self.phases.values():
            run()  # compile / warm up


class MessagePassing(_MessagePassingSetup):
    def time_forward(self, backend, impl):
        self.phases["forward"]()

    def time_forward_backward(self, backend, impl):
        self.phases["forward_backward"]()

    def time_force_double_backward(self, backend, impl):
        self.phases["double_backward"]()


def _e3nn_step(irreps_out: str, instructions, nodes: int):
    try:
        from e3nn import o3
    except ImportError:
        raise NotImplementedError("e3nn is not installed") from None
    import torch

    tp = o3.TensorProduct(IRREPS_IN1, IRREPS_SH, irreps_out, instructions, shared_weights=False).to(torch.float32)

    def step(x, y, w, src, dst, n):
        messages = tp(x.index_select(0, src), y, w)
        return messages.new_zeros((n, messages.shape[1])).index_add(0, dst, messages)

    return step


def _torch_phases(conv, arrays, src, dst) -> dict:
    import torch

    x, y, w = (torch.as_tensor(a, dtype=torch.float32) for a in arrays)
    src, dst = torch.as_tensor(src), torch.as_tensor(dst)

    def forward():
        with torch.no_grad():
            conv(x, y, w, src, dst, NODES)

    def forward_backward():
        t = [a.detach().requires_grad_(True) for a in (x, y, w)]
        torch.autograd.grad((conv(*t, src, dst, NODES) ** 2).sum(), t)

    def double_backward():
        t = [a.detach().requires_grad_(True) for a in (x, y, w)]
        (gy,) = torch.autograd.grad((conv(*t, src, dst, NODES) ** 2).sum(), t[1], create_graph=True)
        torch.autograd.grad((gy**2).sum(), t[2])

    return {"forward": forward, "forward_backward": forward_backward, "double_backward": double_backward}


def _jax_phases(conv, arrays, src, dst) -> dict:
    import jax
    import jax.numpy as jnp

    x, y, w = (jnp.asarray(a, dtype=jnp.float32) for a in arrays)
    src, dst = jnp.asarray(src), jnp.asarray(dst)

    def loss(a, b, c):
        return (conv(a, b, c, src, dst, NODES) ** 2).sum()

    forward = jax.jit(lambda a, b, c: conv(a, b, c, src, dst, NODES))
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    double = jax.jit(jax.grad(lambda a, b, c: (jax.grad(loss, argnums=1)(a, b, c) ** 2).sum(), argnums=2))
    return {
        "forward": lambda: forward(x, y, w).block_until_ready(),
        "forward_backward": lambda: jax.block_until_ready(grads(x, y, w)),
        "double_backward": lambda: double(x, y, w).block_until_ready(),
    }
