"""Tests for tpcore.so3: equality with e3nn (torch, float64) and mathematical identities."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from math import factorial, pi, sqrt

import numpy as np
import pytest

from tpcore import so3

TOL = 1e-12


def _sl(l: int) -> slice:
    """Slice of degree l in a concatenation of the blocks l = 0, 1, 2, ..."""
    return slice(l * l, (l + 1) ** 2)


def _triples(lmax: int):
    for l1 in range(lmax + 1):
        for l2 in range(lmax + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, lmax) + 1):
                yield l1, l2, l3


def _threej_000(l1: int, l2: int, l3: int) -> float:
    """Standard 3j symbol (l1 l2 l3; 0 0 0), closed form (zero for odd l1 + l2 + l3)."""
    J = l1 + l2 + l3
    if J % 2:
        return 0.0
    g = J // 2
    f = factorial
    sq = Fraction(f(J - 2 * l1) * f(J - 2 * l2) * f(J - 2 * l3), f(J + 1))
    ratio = Fraction(f(g), f(g - l1) * f(g - l2) * f(g - l3))
    return (-1) ** g * sqrt(float(sq)) * float(ratio)


@pytest.fixture(scope="module")
def e3nn_o3():
    pytest.importorskip("e3nn")
    import torch
    from e3nn import o3

    # e3nn builds its SO(3) generators in the default dtype: float32 would limit D to ~1e-6.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield o3
    torch.set_default_dtype(previous)


def _t(a):
    import torch

    return torch.tensor(np.asarray(a), dtype=torch.float64)


# ---------------------------------------------------------------- import hygiene and caching


def test_import_pulls_in_no_framework():
    code = (
        "import sys, tpcore.so3; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'jax', 'e3nn', 'e3nn_jax', 'scipy', 'cupy'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api():
    assert sorted(so3.__all__) == sorted(
        ["wigner_3j", "change_basis_real_to_complex", "spherical_harmonics", "rand_matrix", "angles_to_matrix",
         "matrix_to_angles", "wigner_D", "D_from_matrix", "s2_grid", "s2_grid_for_degree", "gaunt",
         "gaunt_factor", "wigner_6j", "wigner_6j_array", "sh_to_fourier", "fourier_to_sh"]
    )


@pytest.mark.parametrize(
    "make",
    [lambda: so3.wigner_3j(1, 2, 3), lambda: so3.gaunt(1, 1, 2), lambda: so3.s2_grid(3, 5)[2],
     lambda: so3.sh_to_fourier(2), lambda: so3.fourier_to_sh(2, 2)],
)
def test_cached_arrays_are_read_only(make):
    a = make()
    assert a is make() or np.shares_memory(a, make())
    with pytest.raises(ValueError):
        a[(0,) * a.ndim] = 1.0


# ---------------------------------------------------------------- Clebsch-Gordan


def test_wigner_3j_equals_e3nn(e3nn_o3):
    for l1, l2, l3 in _triples(6):
        np.testing.assert_allclose(
            so3.wigner_3j(l1, l2, l3), e3nn_o3.wigner_3j(l1, l2, l3).numpy(), rtol=0, atol=TOL,
            err_msg=f"wigner_3j({l1}, {l2}, {l3})",
        )


@pytest.mark.parametrize("ls", [(8, 8, 8), (7, 8, 3), (8, 1, 7), (2, 8, 8)])
def test_wigner_3j_equals_e3nn_high_l(e3nn_o3, ls):
    np.testing.assert_allclose(so3.wigner_3j(*ls), e3nn_o3.wigner_3j(*ls).numpy(), rtol=0, atol=TOL)


def test_change_basis_equals_e3nn_and_is_unitary(e3nn_o3):
    for l in range(7):
        Q = so3.change_basis_real_to_complex(l)
        np.testing.assert_allclose(Q, e3nn_o3.change_basis_real_to_complex(l).numpy(), atol=TOL)
        np.testing.assert_allclose(Q.conj().T @ Q, np.eye(2 * l + 1), atol=TOL)


def test_wigner_3j_orthogonality():
    for l1 in range(5):
        for l2 in range(5):
            Cs = {l3: so3.wigner_3j(l1, l2, l3) for l3 in range(abs(l1 - l2), l1 + l2 + 1)}
            for l3, C in Cs.items():
                assert np.linalg.norm(C) == pytest.approx(1.0, abs=TOL)
                gram = np.einsum("abk,abq->kq", C, C)
                np.testing.assert_allclose(gram, np.eye(2 * l3 + 1) / (2 * l3 + 1), atol=TOL)
                for l3b, Cb in Cs.items():
                    if l3b != l3:
                        np.testing.assert_allclose(np.einsum("abk,abq->kq", C, Cb), 0.0, atol=TOL)
            # completeness: the l3 blocks together form an orthogonal change of basis of l1 x l2
            full = np.concatenate([C * sqrt(2 * l3 + 1) for l3, C in Cs.items()], axis=2)
            full = full.reshape((2 * l1 + 1) * (2 * l2 + 1), -1)
            np.testing.assert_allclose(full @ full.T, np.eye(full.shape[0]), atol=TOL)


def test_wigner_3j_equivariance():
    R = so3.rand_matrix(3, rng=0)
    for l1, l2, l3 in _triples(4):
        C = so3.wigner_3j(l1, l2, l3)
        D1, D2, D3 = (so3.wigner_D(l, R) for l in (l1, l2, l3))
        rotated = np.einsum("zia,zjb,zkc,abc->zijk", D1, D2, D3, C)
        np.testing.assert_allclose(rotated, np.broadcast_to(C, rotated.shape), atol=TOL)


# ---------------------------------------------------------------- spherical harmonics


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("normalize", [True, False])
def test_spherical_harmonics_equal_e3nn(e3nn_o3, normalization, normalize):
    x = np.random.default_rng(1).normal(size=(40, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True) * (1.2 if normalize else 1.05)
    for l in range(11):
        ours = so3.spherical_harmonics(l, x, normalize=normalize, normalization=normalization)
        ref = e3nn_o3.spherical_harmonics(l, _t(x), normalize, normalization=normalization).numpy()
        np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL, err_msg=f"l={l}")
    ours = so3.spherical_harmonics([3, 0, 2], x, normalize, normalization)
    ref = e3nn_o3.spherical_harmonics([3, 0, 2], _t(x), normalize, normalization=normalization).numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


def test_spherical_harmonics_conventions():
    x = np.random.default_rng(2).normal(size=(7, 3))
    u = x / np.linalg.norm(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(so3.spherical_harmonics(1, x), sqrt(3) * u, atol=TOL)
    np.testing.assert_allclose(so3.spherical_harmonics(2, [0.0, 1.0, 0.0]), [0, 0, sqrt(5), 0, 0], atol=TOL)
    for l in range(9):
        y = so3.spherical_harmonics(l, x)
        np.testing.assert_allclose((y**2).sum(-1), 2 * l + 1, atol=1e-11)
        np.testing.assert_allclose(so3.spherical_harmonics(l, x, normalization="norm"), y / sqrt(2 * l + 1), atol=TOL)
        # normalize=False gives the homogeneous polynomial |x|^l Y(x/|x|); parity (-1)^l.
        r = np.linalg.norm(x, axis=-1, keepdims=True)
        np.testing.assert_allclose(so3.spherical_harmonics(l, x, normalize=False), r**l * y, rtol=1e-12, atol=TOL)
        np.testing.assert_allclose(so3.spherical_harmonics(l, -x), (-1) ** l * y, atol=TOL)
    assert so3.spherical_harmonics([1, 2], np.zeros((2, 4, 3))).shape == (2, 4, 8)
    np.testing.assert_array_equal(so3.spherical_harmonics([0, 1], np.zeros(3)), [1, 0, 0, 0])


def test_spherical_harmonics_equivariance():
    x = np.random.default_rng(3).normal(size=(20, 3))
    R = so3.rand_matrix(rng=3)
    ls = list(range(9))
    y, y_rot = so3.spherical_harmonics(ls, x), so3.spherical_harmonics(ls, x @ R.T)
    for l in ls:
        np.testing.assert_allclose(y_rot[:, _sl(l)], y[:, _sl(l)] @ so3.wigner_D(l, R).T, atol=1e-11)
        # O(3): Y_l carries parity (-1)^l
        D = so3.D_from_matrix(l, (-1) ** l, -R)
        np.testing.assert_allclose(so3.spherical_harmonics(l, -x @ R.T), y[:, _sl(l)] @ D.T, atol=1e-11)


# ---------------------------------------------------------------- rotations and Wigner D


def test_rand_matrix():
    R = so3.rand_matrix(100, rng=0)
    assert R.shape == (100, 3, 3)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=TOL)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=TOL)
    np.testing.assert_allclose(np.linalg.det(so3.rand_matrix(10, rng=0, improper=True)), -1.0, atol=TOL)
    np.testing.assert_array_equal(so3.rand_matrix(5, rng=7), so3.rand_matrix(5, rng=7))
    assert so3.rand_matrix().shape == (3, 3) and so3.rand_matrix((2, 4)).shape == (2, 4, 3, 3)
    # Haar: the mean of a uniform rotation matrix is zero
    assert np.abs(so3.rand_matrix(20000, rng=1).mean(0)).max() < 0.03


def test_angles_equal_e3nn(e3nn_o3):
    R = so3.rand_matrix((4, 5), rng=4)
    angles = so3.matrix_to_angles(R)
    for ours, ref in zip(angles, e3nn_o3.matrix_to_angles(_t(R))):
        np.testing.assert_allclose(ours, ref.numpy(), atol=TOL)
    np.testing.assert_allclose(so3.angles_to_matrix(*angles), R, atol=TOL)
    a, b, c = np.random.default_rng(4).uniform(-4, 4, size=(3, 6))
    ref = e3nn_o3.angles_to_matrix(_t(a), _t(b), _t(c)).numpy()
    np.testing.assert_allclose(so3.angles_to_matrix(a, b, c), ref, atol=TOL)
    assert so3.angles_to_matrix(0.1, np.zeros(3), 0.2).shape == (3, 3, 3)


@pytest.mark.parametrize("p", [1, -1])
def test_D_from_matrix_equals_e3nn(e3nn_o3, p):
    R = so3.rand_matrix((3, 4), rng=5)
    R = np.where(np.random.default_rng(5).random((3, 4, 1, 1)) < 0.5, R, -R)  # mix proper and improper
    for l in range(9):
        ref = e3nn_o3.Irrep(l, p).D_from_matrix(_t(R)).numpy()
        np.testing.assert_allclose(so3.D_from_matrix(l, p, R), ref, atol=TOL, err_msg=f"l={l}")
        proper = np.linalg.det(R) > 0
        np.testing.assert_allclose(so3.wigner_D(l, R[proper]), ref[proper], atol=TOL)


def test_wigner_D_is_an_orthogonal_representation():
    R1, R2 = so3.rand_matrix(10, rng=6), so3.rand_matrix(10, rng=7)
    eye = np.eye(3)
    for l in range(9):
        D1, D2 = so3.wigner_D(l, R1), so3.wigner_D(l, R2)
        np.testing.assert_allclose(so3.wigner_D(l, R1 @ R2), D1 @ D2, atol=TOL)
        np.testing.assert_allclose(D1 @ D1.transpose(0, 2, 1), np.broadcast_to(np.eye(2 * l + 1), D1.shape), atol=TOL)
        np.testing.assert_allclose(so3.wigner_D(l, R1.transpose(0, 2, 1)), D1.transpose(0, 2, 1), atol=TOL)
        np.testing.assert_allclose(so3.wigner_D(l, eye), np.eye(2 * l + 1), atol=TOL)
        for p in (1, -1):
            np.testing.assert_allclose(so3.D_from_matrix(l, p, -eye), p * np.eye(2 * l + 1), atol=TOL)
            np.testing.assert_allclose(so3.D_from_matrix(l, p, -R1), p * D1, atol=TOL)


# ---------------------------------------------------------------- grids


def test_s2_grid_layout():
    betas, alphas, points, weights = so3.s2_grid(4, 7)
    assert points.shape == (4, 7, 3) and weights.shape == (4, 7)
    assert np.all(np.diff(betas) > 0) and 0 < betas[0] and betas[-1] < pi
    np.testing.assert_allclose(alphas, 2 * pi * np.arange(7) / 7)
    b, a = betas[2], alphas[3]
    np.testing.assert_allclose(points[2, 3], [np.sin(b) * np.sin(a), np.cos(b), np.sin(b) * np.cos(a)], atol=TOL)
    assert weights.sum() == pytest.approx(4 * pi, abs=TOL)


@pytest.mark.parametrize("L", [0, 1, 2, 5, 10])
def test_s2_grid_integrates_sh_products_exactly(L):
    # (1/4pi) integral of Y_lm Y_l'm' = delta (component normalization), a degree-2L integrand
    _, _, points, weights = so3.s2_grid(*so3.s2_grid_for_degree(2 * L))
    Y = so3.spherical_harmonics(list(range(L + 1)), points.reshape(-1, 3))
    gram = np.einsum("n,na,nb->ab", weights.reshape(-1), Y, Y) / (4 * pi)
    np.testing.assert_allclose(gram, np.eye((L + 1) ** 2), atol=TOL)


@pytest.mark.parametrize("d", range(0, 9))
def test_s2_grid_for_degree_is_exact_and_minimal(d):
    res_beta, res_alpha = so3.s2_grid_for_degree(d)
    assert (res_beta, res_alpha) == (d // 2 + 1, d + 1)

    def integrate(rb, ra, f):
        _, _, p, w = so3.s2_grid(rb, ra)
        return np.sum(w * f(p[..., 0], p[..., 1], p[..., 2]))

    # exact on monomials x^i y^j z^k, i + j + k <= d: 4pi * (i-1)!!(j-1)!!(k-1)!!/(i+j+k+1)!! for even i,j,k
    def dfact(n):
        return 1 if n <= 0 else n * dfact(n - 2)

    for i in range(d + 1):
        for j in range(d + 1 - i):
            for k in range(d + 1 - i - j):
                exact = 0.0 if (i % 2 or j % 2 or k % 2) else 4 * pi * dfact(i - 1) * dfact(j - 1) * dfact(k - 1) / dfact(i + j + k + 1)
                got = integrate(res_beta, res_alpha, lambda x, y, z: x**i * y**j * z**k)
                assert got == pytest.approx(exact, abs=1e-12), (i, j, k)
    # minimal: one fewer alpha misses (x + i z)^d (integral 0, its real or imaginary part is a real
    # polynomial that fails); one fewer beta (n = res_beta - 1 nodes) misses y^(2n), of degree <= d
    if d >= 1:
        assert abs(integrate(res_beta, res_alpha - 1, lambda x, y, z: (x + 1j * z) ** d)) > 1e-3
    if res_beta >= 2:
        n = res_beta - 1
        assert abs(integrate(n, res_alpha, lambda x, y, z: y ** (2 * n)) - 4 * pi / (2 * n + 1)) > 1e-3


# ---------------------------------------------------------------- Gaunt


def test_gaunt_is_proportional_to_wigner_3j():
    for l1, l2, l3 in _triples(5):
        G, c = so3.gaunt(l1, l2, l3), so3.gaunt_factor(l1, l2, l3)
        np.testing.assert_allclose(G, c * so3.wigner_3j(l1, l2, l3), atol=TOL, err_msg=f"{(l1, l2, l3)}")
        expected = sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1)) * abs(_threej_000(l1, l2, l3))
        assert abs(c) == pytest.approx(expected, abs=TOL)
        if (l1 + l2 + l3) % 2:
            assert c == 0.0 and not G.any()


def test_gaunt_symmetry_and_special_cases():
    for l1, l2, l3 in _triples(4):
        G = so3.gaunt(l1, l2, l3)
        np.testing.assert_allclose(so3.gaunt(l2, l1, l3), G.transpose(1, 0, 2), atol=TOL)
        np.testing.assert_allclose(so3.gaunt(l1, l3, l2), G.transpose(0, 2, 1), atol=TOL)
        np.testing.assert_allclose(so3.gaunt(l3, l2, l1), G.transpose(2, 1, 0), atol=TOL)
    for l in range(5):
        np.testing.assert_allclose(so3.gaunt(0, l, l), np.eye(2 * l + 1)[None], atol=TOL)
    assert so3.gaunt(1, 1, 3).shape == (3, 3, 7) and not so3.gaunt(1, 1, 3).any()
    assert so3.gaunt_factor(1, 1, 3) == 0.0


def test_gaunt_equals_direct_integral():
    # against an independent, larger grid than the minimal one
    _, _, p, w = so3.s2_grid(12, 25)
    p, w = p.reshape(-1, 3), w.reshape(-1)
    Y = {l: so3.spherical_harmonics(l, p) for l in range(5)}
    for l1, l2, l3 in _triples(4):
        ref = np.einsum("n,na,nb,nc->abc", w, Y[l1], Y[l2], Y[l3]) / (4 * pi)
        np.testing.assert_allclose(so3.gaunt(l1, l2, l3), ref, atol=TOL)


# ---------------------------------------------------------------- 2D Fourier


def test_sh_to_fourier_reproduces_sh_on_the_torus():
    lmax = 4
    F = so3.sh_to_fourier(lmax)
    assert F.shape == ((lmax + 1) ** 2, 2 * lmax + 1, 2 * lmax + 1) and F.dtype == np.complex128
    rng = np.random.default_rng(8)
    theta, phi = rng.uniform(0, 2 * pi, size=(2, 30))
    pts = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1)
    Y = so3.spherical_harmonics(list(range(lmax + 1)), pts)
    u = np.arange(-lmax, lmax + 1)
    waves = np.exp(1j * (u[None, :, None] * theta[:, None, None] + u[None, None, :] * phi[:, None, None]))
    np.testing.assert_allclose(np.einsum("duv,nuv->nd", F, waves), Y, atol=TOL)
    # degree <= l in each angle
    for l in range(lmax + 1):
        block = np.abs(F[_sl(l)])
        outside = np.ones_like(block, dtype=bool)
        outside[:, lmax - l : lmax + l + 1, lmax - l : lmax + l + 1] = False
        assert block[outside].max(initial=0.0) < TOL


def test_fourier_to_sh_inverts_sh_to_fourier():
    x = np.random.default_rng(9).normal(size=16)
    H = np.einsum("d,duv->uv", x, so3.sh_to_fourier(3))
    np.testing.assert_allclose(np.einsum("uv,uvd->d", H, so3.fourier_to_sh(3, 3)).real, x, atol=TOL)
    # projecting onto a lower and a higher band limit truncates / zero-pads
    np.testing.assert_allclose(np.einsum("uv,uvd->d", H, so3.fourier_to_sh(3, 2)).real, x[:9], atol=TOL)
    np.testing.assert_allclose(np.einsum("uv,uvd->d", H, so3.fourier_to_sh(3, 5)).real, np.r_[x, np.zeros(20)], atol=TOL)


def test_fourier_convolution_equals_gaunt_product():
    rng = np.random.default_rng(10)
    x1, x2 = rng.normal(size=16), rng.normal(size=9)  # lmax 3 and 2
    H1 = np.einsum("d,duv->uv", x1, so3.sh_to_fourier(3))  # (7, 7)
    H2 = np.einsum("d,duv->uv", x2, so3.sh_to_fourier(2))  # (5, 5)
    H = np.zeros((11, 11), dtype=np.complex128)  # 2D linear convolution, frequencies -5..5
    for a in range(5):
        for b in range(5):
            H[a : a + 7, b : b + 7] += H2[a, b] * H1
    out = np.einsum("uv,uvd->d", H, so3.fourier_to_sh(5, 5))
    assert np.abs(out.imag).max() < TOL
    for l3 in range(6):
        ref = sum(
            np.einsum("abc,a,b->c", so3.gaunt(l1, l2, l3), x1[_sl(l1)], x2[_sl(l2)])
            for l1 in range(4)
            for l2 in range(3)
        )
        np.testing.assert_allclose(out.real[_sl(l3)], ref, atol=TOL, err_msg=f"l3={l3}")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: so3.wigner_3j(1, 1, 3), r"l1=1, l2=1, l3=3.*triangle"),
        (lambda: so3.wigner_3j(-1, 1, 1), "l1"),
        (lambda: so3.wigner_3j(1, 1.0, 1), "l2"),
        (lambda: so3.spherical_harmonics(2, np.zeros((4, 2))), r"x must have shape \(\.\.\., 3\)"),
        (lambda: so3.spherical_harmonics(2, np.zeros(3), normalization="unit"), "component.*norm.*integral"),
        (lambda: so3.spherical_harmonics([1, -2], np.zeros(3)), r"ls\[1\]"),
        (lambda: so3.wigner_D(1, -np.eye(3)), "R must be proper"),
        (lambda: so3.wigner_D(1, np.ones((3, 3))), "R must be orthogonal"),
        (lambda: so3.wigner_D(1, np.eye(4)), r"R must have shape"),
        (lambda: so3.D_from_matrix(1, 0, np.eye(3)), "p must be"),
        (lambda: so3.matrix_to_angles(-np.eye(3)), "R must be proper"),
        (lambda: so3.s2_grid(0, 3), "res_beta"),
        (lambda: so3.s2_grid(3, -1), "res_alpha"),
        (lambda: so3.s2_grid_for_degree(-1), "degree"),
        (lambda: so3.gaunt(1, -1, 1), "l2"),
        (lambda: so3.gaunt_factor(1, 1, -3), "l3"),
        (lambda: so3.sh_to_fourier(-1), "lmax"),
        (lambda: so3.fourier_to_sh(2, -1), "lmax_out"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
