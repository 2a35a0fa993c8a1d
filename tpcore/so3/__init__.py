"""SO(3)/O(3) math in float64 numpy, numerically equal to e3nn's conventions.

Real Clebsch-Gordan coefficients, real spherical harmonics (y is the polar axis, l=1 ~ (x, y, z)),
Wigner D matrices, S2 quadrature grids, Gaunt coefficients, Wigner 6j symbols and the SH <-> 2D-Fourier change of basis.
Everything expensive is cached and returned read-only. Imports only numpy and the standard library.
"""

from .clebsch_gordan import change_basis_real_to_complex, wigner_3j
from .fourier import fourier_to_sh, sh_to_fourier
from .gaunt import gaunt, gaunt_factor
from .grids import s2_grid, s2_grid_for_degree
from .racah import wigner_6j, wigner_6j_array
from .rotations import angles_to_matrix, matrix_to_angles, rand_matrix
from .spherical_harmonics import spherical_harmonics
from .wigner_d import D_from_matrix, wigner_D

__all__ = [
    "wigner_3j",
    "change_basis_real_to_complex",
    "spherical_harmonics",
    "rand_matrix",
    "angles_to_matrix",
    "matrix_to_angles",
    "wigner_D",
    "D_from_matrix",
    "s2_grid",
    "s2_grid_for_degree",
    "gaunt",
    "gaunt_factor",
    "wigner_6j",
    "wigner_6j_array",
    "sh_to_fourier",
    "fourier_to_sh",
]
