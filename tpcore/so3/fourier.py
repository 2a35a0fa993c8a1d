r"""Change of basis between spherical harmonics and 2D Fourier series on the torus (Gaunt TP, Luo et al. 2024).

The sphere point :math:`p(\theta, \phi) = (\sin\theta\sin\phi, \cos\theta, \sin\theta\cos\phi)`
(``theta`` = beta, polar angle from +y; ``phi`` = alpha) is extended to the torus
:math:`\theta, \phi \in [0, 2\pi)`. As :math:`Y_l` is a homogeneous polynomial of degree l in p,
:math:`Y_{lm}(\theta, \phi)` is a trigonometric polynomial of degree <= l in each angle:

.. math:: Y_{lm}(\theta, \phi) = \sum_{u, v = -L}^{L} F_{lm, u, v}\, e^{i(u\theta + v\phi)}.

The product of two such functions is the 2D linear convolution of their coefficients; the result is
mapped back to SH coefficients with the exact sphere integral of :func:`fourier_to_sh`.
"""

from __future__ import annotations

import functools
from math import pi

import numpy as np

from ._util import as_degree, readonly
from .spherical_harmonics import spherical_harmonics

__all__ = ["sh_to_fourier", "fourier_to_sh"]


@functools.lru_cache(maxsize=16)  # (lmax+1)^2 (2lmax+1)^2 complex: 176 MB at lmax = 40
def _sh_to_fourier(lmax: int) -> np.ndarray:
    n = 2 * lmax + 1
    angles = 2 * pi * np.arange(n) / n
    theta, phi = angles[:, None], angles[None, :]
    points = np.stack(
        np.broadcast_arrays(np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)), axis=-1
    )
    Y = spherical_harmonics(list(range(lmax + 1)), points, normalize=False)  # (n, n, D)
    # n samples per axis resolve the 2 lmax + 1 frequencies -lmax..lmax exactly (no aliasing): the
    # coefficients are the 2D DFT (an FFT), frequency u at index u mod n, shifted to u + lmax.
    F = np.fft.fft2(np.ascontiguousarray(Y.transpose(2, 0, 1)), axes=(1, 2)) / (n * n)
    return readonly(np.ascontiguousarray(np.fft.fftshift(F, axes=(1, 2))))


def sh_to_fourier(lmax: int) -> np.ndarray:
    r"""Fourier coefficients ``F`` (complex128, ((lmax+1)^2, 2lmax+1, 2lmax+1)) of the SH, cached, read-only.

    Rows are the component-normalized SH ``l = 0..lmax`` concatenated; index ``u + lmax`` (``v + lmax``)
    is the frequency in theta (phi):
    :math:`Y_{lm}(\theta, \phi) = \sum_{u,v} F[lm, u+L, v+L]\, e^{i(u\theta + v\phi)}`, exact.
    Computed by a DFT on the uniform (2lmax+1)^2 torus grid, which is exact for this band limit.
    A function with SH coefficients ``x`` has Fourier coefficients ``einsum("d,duv->uv", x, F)``.
    """
    return _sh_to_fourier(as_degree("lmax", lmax))


def _sin_integral(k: np.ndarray) -> np.ndarray:
    r""":math:`I(k) = \int_0^\pi e^{ik\theta}\sin\theta\,d\theta = (J(k+1) - J(k-1)) / 2i`,
    :math:`J(m) = \int_0^\pi e^{im\theta} d\theta = \pi` if m = 0 else :math:`((-1)^m - 1)/(im)`."""

    def J(m: np.ndarray) -> np.ndarray:
        safe = np.where(m == 0, 1, m)
        return np.where(m == 0, pi + 0j, ((-1.0) ** np.abs(m) - 1) / (1j * safe))

    return (J(k + 1) - J(k - 1)) / 2j


@functools.lru_cache(maxsize=16)
def _fourier_to_sh(lmax_in: int, lmax_out: int) -> np.ndarray:
    F = _sh_to_fourier(lmax_out)  # (D, u', v')
    u = np.arange(-lmax_in, lmax_in + 1)
    u_out = np.arange(-lmax_out, lmax_out + 1)
    I = _sin_integral(u[:, None] + u_out[None, :])  # (u, u')
    # integral over phi of e^{i(v + v') phi} = 2 pi delta(v' = -v); with the 1/4pi prefactor:
    # M[u, v, lm] = 1/2 sum_u' I(u + u') F[lm, u', -v].
    T = 0.5 * np.tensordot(I, F[:, :, ::-1], axes=(1, 1)).transpose(0, 2, 1)  # [a, v, d]; column v + lmax_out
    M = np.zeros((2 * lmax_in + 1, 2 * lmax_in + 1, F.shape[0]), dtype=np.complex128)
    lm = min(lmax_in, lmax_out)
    M[:, lmax_in - lm : lmax_in + lm + 1, :] = T[:, lmax_out - lm : lmax_out + lm + 1, :]
    return readonly(M)


def fourier_to_sh(lmax_in: int, lmax_out: int) -> np.ndarray:
    r"""Projection ``M`` (complex128, (2lmax_in+1, 2lmax_in+1, (lmax_out+1)^2)) from Fourier to SH coefficients.

    For :math:`h(\theta, \phi) = \sum_{u,v=-L_{in}}^{L_{in}} H[u, v] e^{i(u\theta + v\phi)}`, the torus
    extension of a real function on the sphere,

    .. math:: \mathrm{Re} \sum_{uv} H[u, v]\, M[u, v, lm] = \frac1{4\pi} \int_0^{2\pi}\!\!\int_0^\pi
              h(\theta, \phi)\, Y_{lm}(\theta, \phi) \sin\theta\, d\theta\, d\phi

    (component-normalized :math:`Y_{lm}`, l <= lmax_out), exactly: closed form
    :math:`M[u, v, lm] = \frac12 \sum_{u'} I(u + u')\, F[lm, u', -v]` with ``F = sh_to_fourier(lmax_out)``
    and :math:`I(k) = \int_0^\pi e^{ik\theta}\sin\theta\, d\theta`. Cached, read-only.
    """
    return _fourier_to_sh(as_degree("lmax_in", lmax_in), as_degree("lmax_out", lmax_out))
