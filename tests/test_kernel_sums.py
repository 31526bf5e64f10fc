"""Chain rule from (nu, nv, rho) to vectors: kernel matrices, cross and self terms (float, mp)."""

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.numeric.kernel_sums import (
    CrossTerm,
    constant_term,
    constant_term_mp,
    cross_term,
    cross_term_mp,
    kernel_matrix,
    kernel_matrix_mp,
    self_term,
    self_term_mp,
)
from compverify.symbolic import get_activation

# closed-form kernels of the symbolic layer, and one numeric kernel (small cases only)
CLOSED = ["relu", "erf", "polynomial:1,0,-2,1"]


class Square:
    """sigma(z) = z^2 by hand: k = nu^2 nv^2 (1 + 2 rho^2), K(u, v) = |u|^2 |v|^2 + 2 <u,v>^2.

    Independent of the symbolic layer: its vector derivatives are known in closed form, so it checks
    the chain rule without finite differences.
    """

    homogeneous_degree = 2

    def value(self, nu, nv, rho):
        return nu**2 * nv**2 * (1 + 2 * rho**2)

    def grad(self, nu, nv, rho):
        return (self.value(nu, nv, rho), 2 * nu * nv**2 * (1 + 2 * rho**2),
                2 * nu**2 * nv * (1 + 2 * rho**2), 4 * nu**2 * nv**2 * rho)

    def hess(self, nu, nv, rho):
        r2 = 1 + 2 * rho**2
        return (2 * nv**2 * r2, 4 * nu * nv * r2, 8 * nu * nv**2 * rho, 2 * nu**2 * r2,
                8 * nu**2 * nv * rho, 4 * nu**2 * nv**2 + 0 * rho)

    def value_mp(self, nu, nv, rho, dps):
        with mpmath.workdps(dps):
            return mpmath.mpf(self.value(nu, nv, rho))

    def grad_mp(self, nu, nv, rho, dps):
        with mpmath.workdps(dps):
            return tuple(mpmath.mpf(x) for x in self.grad(nu, nv, rho))

    def hess_mp(self, nu, nv, rho, dps):
        with mpmath.workdps(dps):
            return tuple(mpmath.mpf(x) for x in self.hess(nu, nv, rho))


@pytest.fixture
def problem(rng):
    N, M, d = 6, 3, 4
    return (rng.standard_normal(N), rng.standard_normal((N, d)), rng.standard_normal(M),
            rng.standard_normal((M, d)))


def _close(x, y, tol):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    assert np.max(np.abs(x - y)) <= tol * max(1.0, np.max(np.abs(y))), np.max(np.abs(x - y))


# ---------------------------------------------------------------- closed-form chain rule (Square)


def test_square_cross_term_closed_form(problem):
    a, W, _, V = problem
    ct = cross_term(Square(), a, W, V, order=2, block=4)
    G = V @ W.T  # <v_j, w_i>
    nw2 = (W * W).sum(1)
    h = (a * nw2) @ np.ones(len(a)) * (V * V).sum(1) + 2 * (G**2) @ a
    dh = 2 * (a @ nw2) * V + 4 * (G * a) @ W
    d2h = (2 * (a @ nw2) * np.eye(V.shape[1])[None]
           + 4 * np.einsum("i,ic,ie->ce", a, W, W)[None].repeat(V.shape[0], 0))
    _close(ct.h, h, 1e-12)
    _close(ct.dh, dh, 1e-12)
    _close(ct.d2h, d2h, 1e-12)


def test_square_self_term_closed_form(problem):
    _, _, b, V = problem
    st = self_term(Square(), b, V, order=2)
    G = V @ V.T
    n2 = np.diag(G)
    K = np.outer(n2, n2) + 2 * G**2
    _close(st.K, K, 1e-12)
    _close(st.value, b @ K @ b, 1e-12)
    # S = (sum b n^2)^2 + 2 |V' diag(b) V|_F^2 ;  dS/dv_j = 4 b_j (sum b n^2) v_j + 8 b_j (B v_j)
    B = V.T @ (b[:, None] * V)
    _close(st.grad_V, 4 * b[:, None] * (b @ n2) * V + 8 * b[:, None] * (V @ B), 1e-12)


# ------------------------------------------------------------------ finite differences (kernels)


def _fd_cross(kern, a, W, V, eps=1e-6):
    """Central differences of h and dh in each row v_j."""
    M, d = V.shape
    dh, d2h = np.zeros((M, d)), np.zeros((M, d, d))
    for j in range(M):
        for c in range(d):
            Vp, Vm = V.copy(), V.copy()
            Vp[j, c] += eps
            Vm[j, c] -= eps
            p, m = cross_term(kern, a, W, Vp, order=1), cross_term(kern, a, W, Vm, order=1)
            dh[j, c] = (p.h[j] - m.h[j]) / (2 * eps)
            d2h[j, :, c] = (p.dh[j] - m.dh[j]) / (2 * eps)
    return dh, d2h


@pytest.mark.slow
@pytest.mark.parametrize("spec", CLOSED)
def test_cross_term_finite_differences(spec, problem):
    a, W, _, V = problem
    kern = get_activation(spec).kernel
    ct = cross_term(kern, a, W, V, order=2)
    dh, d2h = _fd_cross(kern, a, W, V)
    _close(ct.dh, dh, 1e-6)
    _close(ct.d2h, d2h, 1e-6)
    assert np.allclose(ct.d2h, np.swapaxes(ct.d2h, 1, 2), rtol=1e-12, atol=1e-12)


def _fd_self(kern, b, V, eps=1e-6):
    M, d = V.shape
    theta = np.concatenate([b, V.ravel()])
    n = theta.size

    def at(t):
        st = self_term(kern, t[:M], t[M:].reshape(M, d), order=1)
        return st.value, np.concatenate([st.grad_b, st.grad_V.ravel()])

    g, H = np.zeros(n), np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = eps
        (vp, gp), (vm, gm) = at(theta + e), at(theta - e)
        g[k] = (vp - vm) / (2 * eps)
        H[:, k] = (gp - gm) / (2 * eps)
    return g, H


def _self_flat(st):
    M, _, d = st.hess_bV.shape
    H = np.block([[st.hess_bb, st.hess_bV.reshape(M, M * d)],
                  [st.hess_bV.reshape(M, M * d).T, st.hess_VV.reshape(M * d, M * d)]])
    return np.concatenate([st.grad_b, st.grad_V.ravel()]), H


@pytest.mark.parametrize("spec", CLOSED)
def test_self_term_finite_differences(spec, problem):
    _, _, b, V = problem
    kern = get_activation(spec).kernel
    st = self_term(kern, b, V, order=2)
    g, H = _self_flat(st)
    gf, Hf = _fd_self(kern, b, V)
    _close(g, gf, 1e-6)
    _close(H, Hf, 1e-6)
    _close(H, H.T, 1e-13)
    # diagonal: K(v, v) = k(|v|, |v|, 1) exactly
    n = np.linalg.norm(V, axis=1)
    _close(np.diag(st.K), kern.value(n, n, np.ones_like(n)), 1e-15)


def test_numeric_kernel_small_case(rng):
    """A numeric (quadrature) kernel goes through the same chain rule."""
    kern = get_activation("tanh").kernel
    a, W = rng.standard_normal(2), rng.standard_normal((2, 2))
    b, V = rng.standard_normal(2), rng.standard_normal((2, 2))
    ct = cross_term(kern, a, W, V, order=1)
    dh, _ = _fd_cross(kern, a, W, V, eps=1e-5)
    _close(ct.dh, dh, 1e-5)
    st = self_term(kern, b, V, order=1)
    x = np.tanh(rng.standard_normal((200_000, 2)) @ V.T)   # rough Monte Carlo of K(v_0, v_1)
    assert abs(st.K[0, 1] - np.mean(x[:, 0] * x[:, 1])) < 5 * np.std(x[:, 0] * x[:, 1]) / 447


# -------------------------------------------------------------------------- blocking, precision


@pytest.mark.parametrize("spec", ["relu", "erf"])
def test_blocked_equals_unblocked(spec, rng):
    kern = get_activation(spec).kernel
    a, W, V = rng.standard_normal(37), rng.standard_normal((37, 5)), rng.standard_normal((4, 5))
    ref = cross_term(kern, a, W, V, order=2, block=37, jobs=1)
    for block, jobs in [(1, 1), (5, 1), (5, 2), (16, 3), (1000, 2)]:
        ct = cross_term(kern, a, W, V, order=2, block=block, jobs=jobs)
        for x, y in zip(ct, ref, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13)
    assert constant_term(kern, a, W, block=6) == pytest.approx(
        constant_term(kern, a, W, block=100), rel=1e-13)


@pytest.mark.parametrize("spec", CLOSED)
def test_mpmath_matches_float(spec, problem):
    a, W, b, V = problem
    kern = get_activation(spec).kernel
    cf, cm = cross_term(kern, a, W, V, order=2), cross_term_mp(kern, a, W, V, order=2, dps=30)
    for x, y in zip(cm, cf, strict=True):
        assert all(isinstance(t, mpmath.mpf) for t in np.ravel(x))
        _close(x.astype(float), y, 1e-12)
    sf, sm = self_term(kern, b, V, order=2), self_term_mp(kern, b, V, order=2, dps=30)
    for x, y in zip(sm, sf, strict=True):
        _close(np.asarray(x, dtype=float), y, 1e-12)
    _close(kernel_matrix_mp(kern, W, V, dps=20).astype(float), kernel_matrix(kern, W, V), 1e-13)
    _close(float(constant_term_mp(kern, a, W, dps=30)), constant_term(kern, a, W), 1e-13)


def test_kernel_matrix_pairs_and_diagonal(rng):
    kern = get_activation("relu").kernel
    U = rng.standard_normal((5, 3))
    K = kernel_matrix(kern, U)
    n = np.linalg.norm(U, axis=1)
    for i in range(5):
        for j in range(5):
            rho = 1.0 if i == j else U[i] @ U[j] / (n[i] * n[j])
            assert K[i, j] == pytest.approx(float(kern.value(n[i], n[j], rho)), rel=1e-13)
    assert np.allclose(K, K.T, rtol=1e-14)


# ------------------------------------------------------------------------------ singular points


def test_zero_target_row_is_the_limit(rng):
    kern = get_activation("polynomial:1,0,-2,1").kernel  # sigma(0) = 1: a zero neuron counts
    a, W, V = rng.standard_normal(4), rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    W0, Wt = W.copy(), W.copy()
    W0[2] = 0.0
    Wt[2] = 1e-9 * rng.standard_normal(3)
    c0, ct = cross_term(kern, a, W0, V, order=2), cross_term(kern, a, Wt, V, order=2)
    for x, y in zip(c0, ct, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-7)


@pytest.mark.slow
def test_zero_compressed_row(rng):
    a, W, V = rng.standard_normal(4), rng.standard_normal((4, 3)), rng.standard_normal((3, 3))
    V[1] = 0.0
    relu = get_activation("relu")
    ct = cross_term(relu, a, W, V, order=0)
    assert ct.h[1] == 0.0 and np.all(np.isfinite(ct.h))
    with pytest.raises(CompverifyError, match=r"V row 1 has zero norm"):
        cross_term(relu, a, W, V, order=1)
    with pytest.raises(CompverifyError, match=r"V row 1 has zero norm"):
        self_term(relu, np.ones(3), V, order=1)
    # homogeneous of degree 3 > 2: the derivatives at the zero row are their limit, 0
    cube = get_activation("relu_power:3")
    ct = cross_term(cube, a, W, V, order=2)
    assert np.all(ct.dh[1] == 0) and np.all(ct.d2h[1] == 0)
    dh, d2h = _fd_cross(cube, a, W, V, eps=1e-5)
    _close(ct.dh, dh, 1e-6)
    _close(ct.d2h, d2h, 1e-5)
    st = self_term(cube, rng.standard_normal(3), V, order=2)
    assert np.all(np.isfinite(st.hess_VV)) and np.all(st.hess_VV[1] == 0)


def test_parallel_pairs_relu(rng):
    """Coinciding/antipodal neurons: rho = +-1 exactly; ReLU's K is C^2 there, k_rhorho is not."""
    kern = get_activation("relu").kernel
    V = rng.standard_normal((3, 3))
    V[1] = 2.0 * V[0]
    V[2] = -0.5 * V[0]
    b = rng.standard_normal(3)
    st = self_term(kern, b, V, order=2)
    g, H = _self_flat(st)
    gf, Hf = _fd_self(kern, b, V, eps=1e-6)
    _close(g, gf, 1e-6)
    _close(H, Hf, 1e-4)   # K has a |angle|^3 term at rho = 1: finite differences are O(eps)
    a, W = rng.standard_normal(3), rng.standard_normal((3, 3))
    W[0] = 4.0 * V[0]
    ct = cross_term(kern, a, W, V, order=2)
    dh, d2h = _fd_cross(kern, a, W, V)
    _close(ct.dh, dh, 1e-6)
    _close(ct.d2h, d2h, 1e-4)


@pytest.mark.slow
def test_parallel_pairs_nondifferentiable_kernel(rng):
    """sign: k_rho is infinite at rho = 1, the loss has no gradient at coinciding neurons."""
    V = rng.standard_normal((2, 3))
    V[1] = 3.0 * V[0]
    sign = get_activation("sign")
    st = self_term(sign, np.ones(2), V, order=0)
    assert np.all(np.isfinite(st.K))
    with pytest.raises(CompverifyError, match=r"not differentiable"):
        self_term(sign, np.ones(2), V, order=1)


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, message", [
    (lambda k, a, W, V: cross_term(k, a, W[:-1], V), r"a has length 6 but W has 5 rows"),
    (lambda k, a, W, V: cross_term(k, a, W, V[:, :2]), r"V must have d = 4 columns"),
    (lambda k, a, W, V: cross_term(k, a, W, V, order=3), r"order must be 0, 1 or 2, got 3"),
    (lambda k, a, W, V: cross_term(k, a, W, V, block=0), r"block must be an integer >= 1, got 0"),
    (lambda k, a, W, V: cross_term(k, a, W, V, jobs=0), r"jobs must be an integer >= 1, got 0"),
    (lambda k, a, W, V: cross_term(k, a, W.ravel(), V), r"W must be 2-dimensional"),
    (lambda k, a, W, V: cross_term(k, a, W, V[:0]), r"V must be non-empty"),
    (lambda k, a, W, V: self_term(k, a, V), r"b has length 6 but V has 3 rows"),
    (lambda k, a, W, V: cross_term_mp(k, a, W, V, dps=-3), r"dps must be an integer"),
    (lambda k, a, W, V: cross_term_mp(k, a, W, [[1, 2, "x", 4]]), r"V has a non-real entry"),
    (lambda k, a, W, V: cross_term_mp(k, a, W, [[1, 2, mpmath.inf, 4]]),
     r"V has a non-finite entry at index \(0, 2\)"),
    (lambda k, a, W, V: kernel_matrix(k, W, V[:, :3]), r"V must have shape"),
    (lambda k, a, W, V: cross_term(object(), a, W, V), r"kernel must be"),
])
def test_bad_input(call, message, problem):
    a, W, _, V = problem
    with pytest.raises(CompverifyError, match=message):
        call(get_activation("relu"), a, W, V)


def test_non_finite_weight_named(problem):
    a, W, _, V = problem
    W = W.copy()
    W[1, 2] = np.nan
    with pytest.raises(CompverifyError, match=r"W has a non-finite entry at index \(1, 2\): nan"):
        cross_term("relu", a, W, V)
    a = a.copy()
    a[0] = np.inf
    with pytest.raises(CompverifyError, match=r"a has a non-finite entry at index \(0,\): inf"):
        cross_term("relu", a, np.ones((6, 4)), V)


def test_cross_term_namedtuple(problem):
    a, W, _, V = problem
    h, dh, d2h = cross_term("relu", a, W, V, order=1)
    assert isinstance(cross_term("relu", a, W, V), CrossTerm)
    assert h.shape == (3,) and dh.shape == (3, 4) and d2h is None
