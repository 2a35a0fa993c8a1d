"""Specs for the e3nn-style adapters (:mod:`tpcore.torch`, :mod:`tpcore.jax`), framework-free."""

from __future__ import annotations

from tpcore.irreps import Irreps, MulIr
from tpcore.spec import TensorProductSpec


def channelwise_spec(variant: str, irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, weighted: bool):
    """The ``variant`` (gtp, s2grid, mtp) spec; an input whose multiplicities are all 1 is widened.

    e3nn layers multiply features by spherical harmonics of multiplicity 1; a channel-wise variant
    needs one multiplicity, so such an input is repeated over the channels (the adapters repeat
    its values to match).
    """
    channels = {mul for mul, _ in irreps_in1 + irreps_in2 + irreps_out if mul != 1}
    if len(channels) > 1:
        raise ValueError(
            f"variant={variant!r} acts channel-wise and needs one multiplicity (or 1 for an input to repeat): got "
            f"irreps_in1={irreps_in1}, irreps_in2={irreps_in2}, irreps_out={irreps_out}"
        )
    C = channels.pop() if channels else 1

    def widened(irreps):
        return Irreps([MulIr(C, ir) for _, ir in irreps]) if all(mul == 1 for mul, _ in irreps) else irreps

    return getattr(TensorProductSpec, variant)(widened(irreps_in1), widened(irreps_in2), irreps_out, weighted=weighted)
