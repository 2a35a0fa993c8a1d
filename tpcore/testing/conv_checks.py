"""The convolution op (:func:`tpcore.build_conv`) of every implementation whose backend offers one.

``conv(x1, x2, w, src, dst, nodes)[n] = sum over edges e with dst[e] == n of TP(x1[src[e]], x2[e], w[e])``
on the fixed :data:`GRAPH`: five nodes, seven edges (not as many as nodes), one node that neither
sends nor receives, and one edge present twice, which a scatter that overwrites instead of adding
gets wrong. Expected values are the float64 :func:`tpcore.reference` per edge summed with
``numpy.add.at``; derivatives are :mod:`tpcore.testing.reference_grads`' per edge (the op is a sum
of products, each linear in x1 and x2 and of degree one in each weight), gathered and summed the
same way, so no autodiff is trusted. The op is the backend's ``Backend.convolution`` around the
implementation's product (what ``build_conv(spec, backend, impl)`` returns), driven through the
backend's harness as a function of ``(x1, x2, w)`` with the graph fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tpcore.convolution import edge_groups
from tpcore.descriptor import describe
from tpcore.reference import reference
from tpcore.testing.common import Subject, built, group_elements, on, random_cotangent, random_inputs
from tpcore.testing.reference_grads import reference_vjp, reference_vjp2


@dataclass(frozen=True)
class Graph:
    """``edges`` pairs ``src[e] -> dst[e]`` between ``nodes`` nodes."""

    nodes: int
    src: tuple[int, ...]
    dst: tuple[int, ...]

    @property
    def edges(self) -> int:
        return len(self.src)

    def gather(self, x: np.ndarray, at: str = "src") -> np.ndarray:
        """Per edge, the row of its sender (``at="dst"``: of its receiver)."""
        return x[np.asarray(getattr(self, at), dtype=np.int64)]

    def scatter(self, rows: np.ndarray, into: str = "dst") -> np.ndarray:
        """Per node, the sum of the rows of the edges it receives (``into="src"``: sends)."""
        out = np.zeros((self.nodes,) + rows.shape[1:])
        np.add.at(out, np.asarray(getattr(self, into), dtype=np.int64), rows)
        return out


#: node 3 has no edge, the edge 1 -> 2 is there twice, 7 edges between 5 nodes
GRAPH = Graph(5, (0, 1, 1, 2, 4, 1, 0), (1, 2, 0, 4, 0, 2, 1))
EMPTY = Graph(5, (), ())


def reference_conv(spec, graph: Graph, x1, x2, w) -> np.ndarray:
    """The float64 convolution: the reference product per edge, summed into the receivers."""
    return graph.scatter(reference(spec, graph.gather(x1), x2, w))


def reference_conv_vjp(spec, graph: Graph, x1, x2, w, g):
    """``(gx1, gx2, gw)``: gradients of ``sum(g * conv(x1, x2, w))`` (``gw`` None without weights).

    Each edge's product sees its receiver's cotangent; a node's gradient sums those of the edges it sends.
    """
    gx1, gx2, gw = reference_vjp(spec, graph.gather(x1), x2, w, graph.gather(g, at="dst"))
    return graph.scatter(gx1, into="src"), gx2, gw


def reference_conv_vjp2(spec, graph: Graph, x1, x2, w, g, h1, h2):
    """The harness' second-order products (:meth:`tpcore.harness.Harness.vjp2_function`) of the convolution."""
    a1, a2, aw = reference_vjp2(spec, graph.gather(x1), x2, w, graph.gather(g, at="dst"), graph.gather(h1), h2)
    return graph.scatter(a1, into="src"), a2, aw


# -- the op as the harness' functions ---------------------------------------------------------

_OPS: dict = {}
_MAX_OPS = 32


class _Op:
    """The convolution of one implementation on one graph as ``op(x1, x2, w=None)``, and the
    harness' forward, vjp and vjp2 functions of it, made on first use and kept (compiled frameworks
    trace each once)."""

    def __init__(self, impl, spec, dtype, device, harness, graph: Graph):
        from tpcore.registry import get_registry

        # the implementation's own op (Implementation.convolution), else the registered wrap of its
        # product, as build_conv does (which would pick another implementation where a kernel's
        # factory fails), the product built once
        if impl.convolution is not None:
            conv = impl.convolution(spec, device=device, dtype=dtype)
        else:
            conv = get_registry().backends[impl.backend].convolution()(built(impl, spec, dtype, device, harness)[0])
        src, dst = (harness.asarray(np.asarray(i, dtype=np.int64), "int64", device) for i in (graph.src, graph.dst))
        self.harness, self._functions = harness, {}
        self.op = lambda x1, x2, w=None: conv(x1, x2, w, src, dst, graph.nodes)

    def function(self, kind: str):
        """``"forward"``, ``"vjp"`` or ``"vjp2"``: the harness' ``<kind>_function`` of the op."""
        if kind not in self._functions:
            self._functions[kind] = getattr(self.harness, f"{kind}_function")(self.op)
        return self._functions[kind]


def _op(impl, spec, dtype, device, harness, graph: Graph = GRAPH) -> _Op:
    key = (impl, spec, dtype, device, id(harness), graph)
    if key not in _OPS:
        if len(_OPS) >= _MAX_OPS:
            _OPS.pop(next(iter(_OPS)))
        _OPS[key] = _Op(impl, spec, dtype, device, harness, graph)
    return _OPS[key]


def _weight_layouts(impl, spec, graph: Graph) -> list[tuple[str, tuple]]:
    """``(label, weight batch shape)``: shared weights always; per-edge weights too (last) when the
    implementation claims per-sample weights, as the checks with one layout use."""
    per_edge = bool(spec.weight_numel and impl.capabilities.per_sample_weights)
    return [("shared weights", ())] + [("per-edge weights", (graph.edges,))] * per_edge


def _inputs(spec, graph: Graph, seed: int, dtype: str, weight_batch=()):
    return random_inputs(spec, seed, dtype, batch=(graph.nodes,), batch2=(graph.edges,), weight_batch=weight_batch)


# -- the checks -------------------------------------------------------------------------------


def check_conv(impl, case, dtype: str, harness, device: str | None = None) -> float:
    """Values on :data:`GRAPH` (shared and per-edge weights), and zeros for every node of a graph without edges."""
    subject, spec = Subject(impl, case, dtype, "conv"), case.spec
    forward = _op(impl, spec, dtype, device, harness).function("forward")
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, spec, GRAPH)):
        x1, x2, w = _inputs(spec, GRAPH, 100 + seed, dtype, weight_batch)
        got = forward(*on(harness, dtype, device, x1, x2, w))
        error = max(error, subject.compare(f"output ({label})", got, reference_conv(spec, GRAPH, x1, x2, w), harness))
    label, weight_batch = _weight_layouts(impl, spec, EMPTY)[-1]
    x1, x2, w = _inputs(spec, EMPTY, 110, dtype, weight_batch)
    got = _op(impl, spec, dtype, device, harness, EMPTY).function("forward")(*on(harness, dtype, device, x1, x2, w))
    expected = np.zeros((EMPTY.nodes, spec.irreps_out.dim))
    return max(error, subject.compare(f"output on a graph without edges ({label})", got, expected, harness))


def check_conv_equivariance(impl, case, dtype: str, harness, device: str | None = None) -> float:
    """``conv(D1 x1, D2 x2, w) == D_out conv(x1, x2, w)``, both sides computed by the implementation."""
    subject, spec = Subject(impl, case, dtype, "conv_equivariance"), case.spec
    forward = _op(impl, spec, dtype, device, harness).function("forward")
    label, weight_batch = _weight_layouts(impl, spec, GRAPH)[-1]
    x1, x2, w = _inputs(spec, GRAPH, 120, dtype, weight_batch)
    out = harness.to_numpy(forward(*on(harness, dtype, device, x1, x2, w)))
    error = 0.0
    for element, R in group_elements(spec):
        D1, D2, Do = (irreps.D_from_matrix(R) for irreps in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
        rotated = forward(*on(harness, dtype, device, x1 @ D1.T, x2 @ D2.T, w))
        error = max(error, subject.compare(f"output ({label}) for inputs transformed by {element}", rotated, out @ Do.T, harness))
    return error


def check_conv_grad(impl, case, dtype: str, harness, device: str | None = None) -> float:
    """First derivatives wrt x1, x2 and the weights (shared and per-edge) via ``harness.vjp_function``."""
    subject, spec = Subject(impl, case, dtype, "conv_grad"), case.spec
    vjp = _op(impl, spec, dtype, device, harness).function("vjp")
    error = 0.0
    for seed, (label, weight_batch) in enumerate(_weight_layouts(impl, spec, GRAPH)):
        x1, x2, w = _inputs(spec, GRAPH, 130 + seed, dtype, weight_batch)
        g = random_cotangent(spec, 140 + seed, dtype, batch=(GRAPH.nodes,))
        grads = vjp(*on(harness, dtype, device, x1, x2, w, g))
        for name, got, expected in zip(("x1", "x2", "weights"), grads, reference_conv_vjp(spec, GRAPH, x1, x2, w, g)):
            error = max(error, subject.compare(f"gradient wrt {name} ({label})", got, expected, harness))
            if got is not None and harness.dtype_name(got) != dtype:
                raise subject.fail(f"gradient wrt {name} ({label}) has dtype {harness.dtype_name(got)}")
    return error


def check_conv_grad2(impl, case, dtype: str, harness, device: str | None = None) -> float:
    """Second derivatives (x1 with x2, either with the weights) via ``harness.vjp2_function``, with
    per-edge weights where claimed (as force training has them), else shared."""
    subject, spec = Subject(impl, case, dtype, "conv_grad2"), case.spec
    vjp2 = _op(impl, spec, dtype, device, harness).function("vjp2")
    label, weight_batch = _weight_layouts(impl, spec, GRAPH)[-1]
    x1, x2, w = _inputs(spec, GRAPH, 150, dtype, weight_batch)
    h1, h2, _ = _inputs(spec, GRAPH, 160, dtype)
    g = random_cotangent(spec, 170, dtype, batch=(GRAPH.nodes,))
    got = vjp2(*on(harness, dtype, device, x1, x2, w, g, h1, h2))
    expected = reference_conv_vjp2(spec, GRAPH, x1, x2, w, g, h1, h2)
    return max(subject.compare(f"second-order product wrt {name} ({label})", a, b, harness)
               for name, a, b in zip(("x1", "x2", "weights"), got, expected))


def applies(impl, case) -> bool:
    """The conv checks run where the implementation has an op of its own (``Implementation.convolution``)
    or its backend offers one (``Backend.convolution``), on the core cases whose op has a form of its
    own: the quick one of each variant (gather, product, scatter) and those in grouped form
    (``edge_groups``)."""
    from tpcore.registry import get_registry

    backend = get_registry().backends.get(impl.backend)
    offered = impl.convolution is not None or (backend is not None and backend.convolution is not None)
    return offered and case.core and (case.quick or _grouped(case.spec))


@lru_cache(maxsize=None)
def _grouped(spec) -> bool:
    return edge_groups(describe(spec)) is not None


__all__ = ["GRAPH", "EMPTY", "Graph", "reference_conv", "reference_conv_vjp", "reference_conv_vjp2", "applies",
           "check_conv", "check_conv_equivariance", "check_conv_grad", "check_conv_grad2"]
