"""A Clebsch-Gordan tensor product written from the definition: one numpy einsum per path.

For each path ``mul_in1 x ir_in1 (x) mul_in2 x ir_in2 -> mul_out x ir_out`` of the spec,

    out[z, w, k] += sum  W[z, ...] * c * C[i, j, k] * x1[z, u, i] * x2[z, v, j]

with ``C = tpcore.so3.wigner_3j(l1, l2, l3)``, ``c = path.normalization`` and the channel indices
``u, v, w`` tied together as the path's connection mode says (EINSUM below).
"""

import numpy as np

from tpcore.so3 import wigner_3j
from tpcore.validation import flatten_call

# (with weights, without weights); the weights always carry the batch index z here
EINSUM = {
    "uvw": ("zuvw,ijk,zui,zvj->zwk", None),
    "uvu": ("zuv,ijk,zui,zvj->zuk", "ijk,zui,zvj->zuk"),
    "uuw": ("zuw,ijk,zui,zuj->zwk", "ijk,zui,zuj->zk"),
    "uuu": ("zu,ijk,zui,zuj->zuk", "ijk,zui,zuj->zuk"),
    "uvuv": ("zuv,ijk,zui,zvj->zuvk", "ijk,zui,zvj->zuvk"),
}


class EinsumTensorProduct:
    """``tp(x1, x2, weights=None)`` on numpy arrays, for a cgtp spec."""

    def __init__(self, spec, dtype):
        if spec.variant != "cgtp":
            raise ValueError(f"the einsum implementation computes cgtp specs, got a {spec.variant} spec")
        self.spec = spec
        self.dtype = np.dtype(dtype)
        # coefficients in the working dtype, computed once per built object
        self.coefficients = [
            (p.normalization * wigner_3j(p.ir_in1.l, p.ir_in2.l, p.ir_out.l)).astype(self.dtype) for p in spec.paths
        ]

    def __call__(self, x1, x2, weights=None):
        spec = self.spec
        x1, x2, weights = (None if a is None else np.asarray(a) for a in (x1, x2, weights))
        # tpcore's checks and error messages, then the inputs broadcast and flattened to (Z, dim)
        call, x1, x2, weights = flatten_call(spec, x1, x2, weights, np, expected_dtype=self.dtype.name)
        Z = call.batch_size
        if spec.weight_numel and not call.per_sample_weights:
            weights = np.broadcast_to(weights, (Z, spec.weight_numel))  # EINSUM's weights carry z
        in1, in2, out_slices = spec.irreps_in1.slices(), spec.irreps_in2.slices(), spec.irreps_out.slices()
        out = np.zeros((Z, spec.irreps_out.dim), dtype=self.dtype)
        for path, coefficient in zip(spec.paths, self.coefficients):
            if 0 in (path.mul_in1, path.mul_in2, path.mul_out):
                continue  # an empty block (e.g. "0x1o"): nothing to read or write, no weights
            a = x1[:, in1[path.i_in1]].reshape(Z, path.mul_in1, path.ir_in1.dim)
            b = x2[:, in2[path.i_in2]].reshape(Z, path.mul_in2, path.ir_in2.dim)
            with_weights, without_weights = EINSUM[path.mode]
            if path.has_weight:
                w = weights[:, path.weight_slice].reshape((Z,) + path.weight_shape)
                contribution = np.einsum(with_weights, w, coefficient, a, b)
            else:
                contribution = np.einsum(without_weights, coefficient, a, b)
            out[:, out_slices[path.i_out]] += contribution.reshape(Z, path.mul_out * path.ir_out.dim)
        return call.unflatten(out)
