"""High-precision linear algebra (numeric.hplinalg) against matrices with known spectra.

The matrices are ``Q diag(lambda) Q'`` with ``Q`` the Cayley transform ``(I - K)(I + K)^-1`` of an
integer skew matrix (orthogonal to the working precision), so eigenvalues, solutions and
projectors are known independently of the code under test.
"""

import mpmath
import numpy as np
import pytest

from compverify.numeric import hplinalg

DPS = 50


def _orthogonal(n: int, seed: int) -> mpmath.matrix:
    rng = np.random.default_rng(seed)
    K = rng.integers(-3, 4, (n, n))
    K = mpmath.matrix((K - K.T).tolist())
    eye = mpmath.eye(n)
    return (eye - K) * mpmath.inverse(eye + K)


def _sym(Q: mpmath.matrix, ev: list) -> np.ndarray:
    return np.array((Q * mpmath.diag(ev) * Q.T).tolist(), dtype=object)


@pytest.mark.parametrize("seed", [1, 2])
def test_eigenvalues_with_null_space_and_clusters(seed):
    n = 24
    with mpmath.workdps(DPS + 10):
        Q = _orthogonal(n, seed)
        # a 5-fold zero (a symmetry null space), a cluster split at 1e-30 (wider than float64
        # resolves, narrower than its first delta), a triple eigenvalue, and isolated ones
        ev = ([mpmath.mpf(0)] * 5 + [1 + mpmath.mpf(10) ** -30 * i for i in range(4)]
              + [mpmath.mpf(3)] * 3 + [mpmath.mpf(i) / 7 - 2 for i in range(n - 12)])
        H = _sym(Q, ev)
    with mpmath.workdps(DPS):
        got = hplinalg.symmetric_eig(H, DPS).values
        err = max(abs(a - b) for a, b in zip(got, sorted(ev), strict=True))
    assert err < mpmath.mpf(10) ** -(DPS - 3)


def test_solve_refined_and_pseudo_inverse():
    n = 20
    with mpmath.workdps(DPS + 10):
        Q = _orthogonal(n, 3)
        ev = [mpmath.mpf(i + 1) / 3 for i in range(n)]
        H = _sym(Q, ev)
        rhs = np.array([mpmath.mpf(i) - 7 for i in range(n)], dtype=object)
        ref = mpmath.lu_solve(mpmath.matrix(H.tolist()), mpmath.matrix(rhs.tolist()))
        # singular: two zero eigenvalues, a right-hand side orthogonal to their eigenvectors
        ev0 = [mpmath.mpf(0)] * 2 + ev[2:]
        H0 = _sym(Q, ev0)
        coef = [0, 0] + [mpmath.mpf(j) / 5 + 1 for j in range(n - 2)]
        rhs0 = np.array((Q * mpmath.matrix(coef)).tolist(), dtype=object)[:, 0]
        ref0 = Q * mpmath.matrix([0, 0] + [c / e for c, e in zip(coef[2:], ev0[2:], strict=True)])
    with mpmath.workdps(DPS):
        x = hplinalg.solve_refined(H, rhs)
        assert max(abs(x[i] - ref[i]) for i in range(n)) < mpmath.mpf(10) ** -(DPS - 3)
        y = hplinalg.pinv_solve(H0, rhs0, rcut=1e-20)
        assert max(abs(y[i] - ref0[i]) for i in range(n)) < mpmath.mpf(10) ** -(DPS - 3)


def test_solve_refined_with_projector_matches_direct_solve():
    n, r = 16, 3
    with mpmath.workdps(DPS + 10):
        Q = _orthogonal(n, 4)
        ev = [mpmath.mpf(0)] * r + [mpmath.mpf(i + 2) for i in range(n - r)]
        H = _sym(Q, ev)
        T = np.array((Q[:, :r] * mpmath.matrix([[1, 2, 0], [0, 1, 1], [1, 1, 3]])).tolist(),
                     dtype=object)
        sigma = mpmath.mpf(5)
        A = mpmath.matrix(H.tolist()) + sigma * Q[:, :r] * Q[:, :r].T
        rhs = np.array([mpmath.mpf(i) / 3 + 1 for i in range(n)], dtype=object)
        ref = mpmath.lu_solve(A, mpmath.matrix(rhs.tolist()))
    with mpmath.workdps(DPS):
        basis = hplinalg.orthonormal_basis(T, 1e-10)
        Qmp = hplinalg.to_mp(basis)
        gram = Qmp.T.dot(Qmp)
        assert max(abs(gram[i, j] - (i == j)) for i in range(r) for j in range(r)) \
            < mpmath.mpf(10) ** -(DPS - 3)
        x = hplinalg.solve_refined(H, rhs, basis, sigma)
        assert max(abs(x[i] - ref[i]) for i in range(n)) < mpmath.mpf(10) ** -(DPS - 3)


def test_rank_deficient_basis_spans_the_columns():
    n = 12
    with mpmath.workdps(DPS + 10):
        Q = _orthogonal(n, 5)
        # four columns of rank two
        T = np.array((Q[:, :2] * mpmath.matrix([[1, 0, 1, 2], [0, 1, 1, -1]])).tolist(),
                     dtype=object)
        P_ref = np.array((Q[:, :2] * Q[:, :2].T).tolist(), dtype=object)
    with mpmath.workdps(DPS):
        basis = hplinalg.to_mp(hplinalg.orthonormal_basis(T, 1e-10))
        assert basis.shape == (n, 2)
        P = basis.dot(basis.T)
        assert max(abs(a - b) for a, b in zip(P.ravel(), P_ref.ravel(), strict=True)) \
            < mpmath.mpf(10) ** -(DPS - 3)


def test_a_cluster_refinement_cannot_split_ends_the_recursion(monkeypatch):
    """A 150 x 150 matrix with a 37-fold zero eigenvalue, every eigenvalue put in one cluster
    (as when a many-fold eigenvalue's block is rounding noise the iteration cannot split): the
    deviation comes back as one cluster at every level, which used to recurse without end.  It
    now ends as one block, its eigenvalues float64's of the deviation: compared with the known
    spectrum to float64 accuracy."""
    n, k = 150, 37
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.concatenate([np.zeros(k), rng.uniform(1.0, 3.0, n - k)])
    H = (Q * ev) @ Q.T
    H = (H + H.T) / 2
    monkeypatch.setattr(hplinalg, "_clusters", lambda lam, delta: [list(range(len(lam)))])
    with mpmath.workdps(30):
        got = hplinalg.symmetric_eig(H, 30).values
    assert len(got) == n
    want = np.sort(ev)
    assert np.max(np.abs(np.array([float(x) for x in got]) - want)) < 1e-12
    assert sum(1 for x in got if abs(x) < 1e-12) == k
