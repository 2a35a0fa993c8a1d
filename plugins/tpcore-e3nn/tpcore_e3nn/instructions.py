"""A cgtp spec as the arguments of e3nn's ``o3.TensorProduct`` and e3nn-jax's legacy equivalent.

Both libraries take the spec's irreps in the spec's order (no sorting), one instruction
``(i_in1, i_in2, i_out, mode, has_weight, path_weight)`` per path, and compute each path's
normalization themselves from ``irrep_normalization`` and ``path_normalization``, exactly as
tpcore does (tpcore/cgtp_paths.py). So the spec's *own* choices are passed through, and each
path's ``path_weight`` only carries what the instructions alone cannot say (see
:func:`e3nn_instructions`): the plugin then checks tpcore's normalization instead of copying it.

Pure Python: importing this module imports neither framework.
"""

from __future__ import annotations

from tpcore.cgtp_paths import FAN_IN
from tpcore.spec import TensorProductSpec


def check_cgtp(spec: TensorProductSpec, library: str) -> None:
    if spec.variant != "cgtp":
        raise ValueError(
            f"{library} computes Clebsch-Gordan tensor products only: expected a cgtp spec, got a {spec.variant} spec"
        )


def e3nn_instructions(spec: TensorProductSpec) -> list[tuple]:
    """One e3nn instruction per path, in the spec's order, so the flat weight layouts coincide.

    e3nn derives each path's factor ``sqrt(alpha * path_weight)`` from the fan-in of the
    instructions it is given. A spec whose paths were masked (``with_paths``, ``prune``) keeps its
    original factors instead, so the ``path_weight`` passed is the square of the spec's factor
    relative to the factor of the same instructions built afresh with ``path_weight = 1``: e3nn's
    result is then the spec's factor exactly when e3nn and tpcore agree on the fresh instructions
    (which is what is checked). For an unmasked spec this is the spec's own ``path_weight``.
    """
    fresh = TensorProductSpec.cgtp(
        spec.irreps_in1, spec.irreps_in2, spec.irreps_out,
        instructions=[(p.i_in1, p.i_in2, p.i_out, p.mode, p.has_weight, 1.0) for p in spec.paths],
        irrep_normalization=spec.irrep_normalization, path_normalization=spec.path_normalization,
    )
    return [
        (p.i_in1, p.i_in2, p.i_out, p.mode, p.has_weight, (p.normalization / q.normalization) ** 2)
        for p, q in zip(spec.paths, fresh.paths)
    ]


def e3nn_arguments(spec: TensorProductSpec) -> dict:
    """Keyword arguments of ``e3nn.o3.TensorProduct`` for ``spec`` (weights passed at call time)."""
    check_cgtp(spec, "e3nn")
    return dict(_layer_arguments(spec), internal_weights=False)


def e3nn_jax_arguments(spec: TensorProductSpec) -> dict:
    """Keyword arguments of ``e3nn_jax.legacy.FunctionalTensorProduct`` for ``spec``.

    e3nn-jax knows path normalizations ``element`` and ``path`` only. tpcore's (and e3nn's)
    ``none`` divides by 1 where ``element`` divides an output block's paths by their total fan-in;
    e3nn-jax multiplies each output block by its ``out_var``, so ``none`` is ``element`` with
    ``out_var`` set to that fan-in. ``gradient_normalization="path"`` puts the whole normalization
    in the forward pass (as e3nn does) instead of in the weights' initial scale.
    """
    check_cgtp(spec, "e3nn-jax")
    arguments = dict(_layer_arguments(spec), gradient_normalization="path")
    if spec.path_normalization == "none":
        arguments["path_normalization"] = "element"
        arguments["out_var"] = [float(_fan_in(spec, i_out) or 1) for i_out in range(len(spec.irreps_out))]
    return arguments


def _layer_arguments(spec: TensorProductSpec) -> dict:
    """The arguments e3nn's and e3nn-jax's layers share: irreps, instructions, normalizations."""
    return dict(
        irreps_in1=str(spec.irreps_in1),
        irreps_in2=str(spec.irreps_in2),
        irreps_out=str(spec.irreps_out),
        instructions=e3nn_instructions(spec),
        irrep_normalization=spec.irrep_normalization,
        path_normalization=spec.path_normalization,
    )


def _fan_in(spec: TensorProductSpec, i_out: int) -> int:
    """e3nn's ``element`` divisor of output block ``i_out``: the summed ``num_elements`` of its paths."""
    return sum(FAN_IN[p.mode](p.mul_in1, p.mul_in2) for p in spec.paths if p.i_out == i_out)
