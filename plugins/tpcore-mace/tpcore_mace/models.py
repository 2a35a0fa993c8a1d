"""Small ScaleShiftMACE models in the four variants the benchmark compares.

| variant    | convolution                                   | built by                                  |
|------------|-----------------------------------------------|-------------------------------------------|
| ``e3nn``   | e3nn's CG ``TensorProduct`` (MACE as shipped) | mace-torch                                |
| ``cgtp``   | tpcore's exact CG module                      | mace-torch, then :func:`tpcore_mace.convert` |
| ``s2grid`` | tpcore's Gaunt product on a sphere grid       | :mod:`tpcore_mace.gaunt` interaction blocks |
| ``gtp``    | tpcore's Gaunt product via 2D Fourier         | :mod:`tpcore_mace.gaunt` interaction blocks |

``e3nn`` and ``cgtp`` built with the same seed hold the same weights and compute the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

VARIANTS = ("e3nn", "cgtp", "s2grid", "gtp")


@dataclass(frozen=True)
class MACEConfig:
    """The hyperparameters of a small MACE (defaults sized for a CPU benchmark)."""

    r_max: float = 4.2  # first two fcc shells of Cu, Ag and Au
    channels: int = 16
    max_L: int = 2  # hidden irreps C x (0e + 1o + 2e ...); at 1 the Gaunt product has too few paths to win
    max_ell: int = 3  # edge spherical harmonics up to max_ell
    correlation: int = 2
    num_interactions: int = 2
    num_bessel: int = 8
    num_polynomial_cutoff: int = 5
    radial_MLP: tuple = (32, 32, 32)
    MLP_irreps: str = "16x0e"
    residual: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def hidden_irreps(self) -> str:
        return " + ".join(f"{self.channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(self.max_L + 1))

    def as_dict(self) -> dict:
        return asdict(self)


def build_mace(
    variant: str,
    atomic_numbers,
    atomic_energies,
    avg_num_neighbors: float,
    config: MACEConfig = MACEConfig(),
    scale: float = 1.0,
    shift: float = 0.0,
    seed: int = 0,
    impl: str | None = None,
):
    """A ``ScaleShiftMACE`` whose convolution is ``variant`` (see the module table), in torch's default dtype."""
    import mace  # noqa: F401  (before e3nn)
    from e3nn import o3
    from mace.modules import RealAgnosticInteractionBlock, RealAgnosticResidualInteractionBlock, ScaleShiftMACE

    from tpcore_mace.convert import convert
    from tpcore_mace.gaunt import gaunt_interaction_class

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    if variant in ("s2grid", "gtp"):
        interaction = gaunt_interaction_class(variant, config.residual)
    else:
        interaction = RealAgnosticResidualInteractionBlock if config.residual else RealAgnosticInteractionBlock
    torch.manual_seed(seed)
    model = ScaleShiftMACE(
        r_max=config.r_max,
        num_bessel=config.num_bessel,
        num_polynomial_cutoff=config.num_polynomial_cutoff,
        max_ell=config.max_ell,
        interaction_cls=interaction,
        interaction_cls_first=interaction,
        num_interactions=config.num_interactions,
        num_elements=len(atomic_numbers),
        hidden_irreps=o3.Irreps(config.hidden_irreps),
        MLP_irreps=o3.Irreps(config.MLP_irreps),
        atomic_energies=np.asarray(atomic_energies, dtype=float),
        avg_num_neighbors=float(avg_num_neighbors),
        atomic_numbers=list(atomic_numbers),
        correlation=config.correlation,
        gate=torch.nn.functional.silu,
        radial_MLP=list(config.radial_MLP),
        atomic_inter_scale=float(scale),
        atomic_inter_shift=float(shift),
        **config.extra,
    )
    if variant == "cgtp":
        convert(model, impl=impl)
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
