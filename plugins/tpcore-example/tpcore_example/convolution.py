"""A kernel for one kind of descriptor: MACE's convolution, read from the path-level descriptor.

MACE's interaction multiplies node features ``C x (l1)`` by the edge's spherical harmonics (one
channel per degree) in mode ``uvu``, each path into its own output block, with weights per edge.
:func:`accepts` says which descriptors are of that kind; for them, the paths that share an input
pair share one coupling step (their sparse couplings stacked along the output axis ``K``):

    t[z, i, K] = sum_j x2[z, j] C[i, j, K]          y[z, u, K] = sum_i x1[z, u, i] t[z, i, K]

and each path takes its columns of ``y`` times its weight ``W[z, u]``. Every other descriptor goes
to the backend's other implementations.
"""

import numpy as np

from tpcore.descriptor import describe
from tpcore.validation import flatten_call


def accepts(d) -> bool:
    """uvu paths only, all weighted, the second input one channel per block (edge harmonics)."""
    return (
        bool(d.paths)
        and d.modes == {"uvu"}
        and all(p.weight is not None for p in d.paths)
        and all(s.mul == 1 for s in d.in2)
    )


class ConvolutionKernel:
    """``tp(x1, x2, weights)`` on numpy arrays for a spec whose descriptor :func:`accepts` takes."""

    def __init__(self, spec, dtype):
        d = describe(spec)
        if not accepts(d):
            raise ValueError(f"the convolution kernel computes uvu products with edge harmonics, not {d}")
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.groups = []  # (x1 segment, x2 segment, stacked coupling, [(path, first column)])
        by_pair = {}
        for p in d.paths:
            by_pair.setdefault((p.in1, p.in2), []).append(p)
        for paths in by_pair.values():
            columns = np.cumsum([0] + [p.seg_out.dim for p in paths])
            C = np.concatenate([p.coupling.dense() for p in paths], axis=2).astype(self.dtype)
            self.groups.append((paths[0].seg1, paths[0].seg2, C, list(zip(paths, columns))))

    def __call__(self, x1, x2, weights):
        spec = self.spec
        call, x1, x2, w = flatten_call(spec, x1, x2, weights, np, expected_dtype=self.dtype.name)
        Z = call.batch_size
        w = np.broadcast_to(w, (Z, spec.weight_numel))  # shared weights: one row for every sample
        out = np.zeros((Z, spec.irreps_out.dim), dtype=self.dtype)
        for seg1, seg2, C, paths in self.groups:
            a = x1[:, seg1.start : seg1.stop].reshape(Z, seg1.mul, seg1.dim)
            t = np.einsum("zj,ijK->ziK", x2[:, seg2.start : seg2.stop], C)
            y = np.einsum("zui,ziK->zuK", a, t)
            for p, first in paths:
                W = w[:, p.weight.start : p.weight.stop]  # (Z, C): weight shape (C, 1) of uvu with one edge channel
                block = y[:, :, first : first + p.seg_out.dim] * W[:, :, None]
                out[:, p.seg_out.start : p.seg_out.stop] += block.reshape(Z, p.seg_out.size)
        return call.unflatten(out)


class KernelConvolution(ConvolutionKernel):
    """The kernel's own message-passing op (``Implementation.convolution``):
    ``conv(x1, x2, weights, src, dst, num_nodes, x2_index=None)`` sums each path's block into the receivers as it
    is made, so the ``(edges, irreps_out.dim)`` messages are never formed."""

    def __call__(self, x1, x2, weights, src, dst, num_nodes=None, x2_index=None):
        from tpcore.convolution import check_graph, index_bounds

        spec = self.spec
        n = check_graph(spec, x1.shape, x2.shape, None if weights is None else weights.shape,
                        {"src": src, "dst": dst, "x2_index": x2_index}, num_nodes, index_bounds)
        if x2_index is not None:
            x2 = x2[x2_index]  # node-node products: x2 per edge from its own rows
        for name, x in (("x1", x1), ("x2", x2), ("weights", weights)):
            if x is None or x.dtype != self.dtype:
                raise TypeError(f"{name} has dtype {getattr(x, 'dtype', None)}, but this convolution computes in {self.dtype}")
        E = x2.shape[0]
        w = np.broadcast_to(weights, (E, spec.weight_numel))
        out = np.zeros((n, spec.irreps_out.dim), dtype=self.dtype)
        for seg1, seg2, C, paths in self.groups:
            a = x1[src, seg1.start : seg1.stop].reshape(E, seg1.mul, seg1.dim)
            y = np.einsum("zui,ziK->zuK", a, np.einsum("zj,ijK->ziK", x2[:, seg2.start : seg2.stop], C))
            for p, first in paths:
                block = y[:, :, first : first + p.seg_out.dim] * w[:, p.weight.start : p.weight.stop, None]
                np.add.at(out[:, p.seg_out.start : p.seg_out.stop], dst, block.reshape(E, p.seg_out.size))
        return out
