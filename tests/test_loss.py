"""Population loss of a finite target: value, gradient, Hessian (float64, mpmath), Monte Carlo."""

import json

import mpmath
import numpy as np
import pytest
import sympy as sp

from compverify.errors import CompverifyError
from compverify.io import to_jsonable
from compverify.numeric.kernel_sums import constant_term, cross_term, kernel_matrix, self_term
from compverify.numeric.loss import (
    LossResult,
    combine_terms,
    gradient_formulas,
    instantiate_formula,
    population_loss,
    population_loss_mp,
)
from compverify.symbolic import get_activation

CLOSED = ["relu", "erf", "polynomial:1,0,-2,1"]


def _theta(b, V):
    return np.concatenate([b, np.ravel(V)])


def _split(t, M, d):
    return t[:M], t[M:].reshape(M, d)


@pytest.fixture
def problem(rng):
    N, M, d = 5, 3, 3
    return (rng.standard_normal(N), rng.standard_normal((N, d)), rng.standard_normal(M),
            rng.standard_normal((M, d)))


def _close(x, y, tol):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    assert np.max(np.abs(x - y)) <= tol * max(1.0, np.max(np.abs(y))), np.max(np.abs(x - y))


# --------------------------------------------------------------------------- float64 vs FD


def _fd(kern, a, W, b, V, eps=1e-6):
    M, d = V.shape
    t0 = _theta(b, V)
    n = t0.size
    g, H = np.zeros(n), np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = eps
        rp = population_loss(kern, a, W, *_split(t0 + e, M, d), order=1)
        rm = population_loss(kern, a, W, *_split(t0 - e, M, d), order=1)
        g[k] = (rp.value - rm.value) / (2 * eps)
        H[:, k] = (rp.grad - rm.grad) / (2 * eps)
    return g, H


@pytest.mark.slow
@pytest.mark.parametrize("spec", CLOSED)
def test_gradient_hessian_finite_differences(spec, problem):
    a, W, b, V = problem
    kern = get_activation(spec).kernel
    r = population_loss(kern, a, W, b, V, order=2)
    g, H = _fd(kern, a, W, b, V)
    _close(r.grad, g, 1e-6)
    _close(r.hessian, H, 1e-6)
    _close(r.hessian, r.hessian.T, 1e-13)
    assert r.grad_V.shape == V.shape and r.hessian.shape == (12, 12)


@pytest.mark.slow
def test_numeric_kernel_loss_small(rng):
    kern = get_activation("tanh").kernel
    a, W, b, V = (rng.standard_normal(2), rng.standard_normal((2, 2)), rng.standard_normal(2),
                  rng.standard_normal((2, 2)))
    r = population_loss(kern, a, W, b, V, order=2)
    g, H = _fd(kern, a, W, b, V, eps=1e-5)
    _close(r.grad, g, 1e-5)
    _close(r.hessian, H, 1e-4)
    assert r.kernel_route == kern.route


# -------------------------------------------------------------- mpmath.diff at 40 digits


@pytest.mark.parametrize("spec", CLOSED)
def test_mpmath_diff_40_digits(spec, rng):
    """Analytic gradient and Hessian (mp) against mpmath.diff of the mp loss, 35 digits agree."""
    kern = get_activation(spec).kernel
    N, M, d = 3, 2, 2
    a, W = rng.standard_normal(N), rng.standard_normal((N, d))
    b, V = rng.standard_normal(M), rng.standard_normal((M, d))
    t0 = [mpmath.mpf(x) for x in _theta(b, V)]
    n = len(t0)

    def at(k, x, order):
        t = list(t0)
        t[k] = x
        Vt = np.array(t[M:], dtype=object).reshape(M, d)
        # mpmath.diff raises the working precision: evaluate the loss at that precision
        return population_loss_mp(kern, a, W, t[:M], Vt, order=order, dps=mpmath.mp.dps,
                                  include_constant=False)

    r = population_loss_mp(kern, a, W, b, V, order=2, dps=40)
    assert r.precision == "mpmath, 40 digits"
    with mpmath.workdps(40):
        tol = mpmath.mpf(10) ** -35
        for k in range(n):
            dk = mpmath.diff(lambda x, k=k: at(k, x, 0).value, t0[k])
            assert abs(dk - r.grad[k]) <= tol * max(1, abs(dk)), (k, dk, r.grad[k])
            for m in range(n):
                dkm = mpmath.diff(lambda x, k=k, m=m: at(k, x, 1).grad[m], t0[k])
                assert abs(dkm - r.hessian[m, k]) <= tol * max(1, abs(dkm)), (m, k)
    # and the float64 result agrees with the mp one
    rf = population_loss(kern, a, W, b, V, order=2)
    _close(rf.hessian, r.hessian.astype(float), 1e-12)
    _close(rf.value, float(r.value), 1e-13)


# ----------------------------------------------------------------- Monte Carlo over inputs x


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "erf"])
def test_loss_equals_monte_carlo(spec, rng):
    """L_N = E_x[(f_N - g)^2] against 10^6 Gaussian inputs: within 4 standard errors.

    Seeded (conftest rng), so the check is deterministic; the standard error is at most 0.5 % of
    the loss, so agreement is a real test of the kernel sums.
    """
    act = get_activation(spec)
    N, M, d = 20, 3, 5
    a = rng.standard_normal(N) / N
    W = rng.standard_normal((N, d)) / np.sqrt(d)
    b = rng.standard_normal(M) / M
    V = rng.standard_normal((M, d)) / np.sqrt(d)
    exact = population_loss(act, a, W, b, V, order=0).value
    n, sums = 1_000_000, []
    for _ in range(4):
        X = rng.standard_normal((n // 4, d))
        sums.append((act.numpy(X @ W.T) @ a - act.numpy(X @ V.T) @ b) ** 2)
    q = np.concatenate(sums)
    est, se = q.mean(), q.std(ddof=1) / np.sqrt(n)
    assert se < 5e-3 * exact
    assert abs(exact - est) < 4 * se, (exact, est, se)


# ------------------------------------------------------------------------- structure


def test_constant_included_or_excluded(problem):
    a, W, b, V = problem
    kern = get_activation("relu").kernel
    full = population_loss(kern, a, W, b, V, order=1)
    part = population_loss(kern, a, W, b, V, order=1, include_constant=False)
    C = a @ kernel_matrix(kern, W) @ a
    assert full.constant_included and full.constant == pytest.approx(C, rel=1e-13)
    assert full.value == pytest.approx(C + part.value, rel=1e-13)
    assert not part.constant_included and part.constant is None
    assert part.value == part.theta_part == pytest.approx(full.theta_part, rel=1e-13)
    assert any("excluded" in note for note in part.notes)
    np.testing.assert_allclose(full.grad, part.grad, rtol=1e-13)


def test_target_itself_has_zero_loss(problem):
    a, W, _, _ = problem
    for spec in CLOSED:
        r = population_loss(spec, a, W, a, W, order=1)
        assert abs(r.value) < 1e-12 * abs(r.constant)
        assert np.max(np.abs(r.grad)) < 1e-12 * max(1, abs(r.constant))


@pytest.mark.parametrize("spec", ["relu", "polynomial:1,0,-2,1"])
def test_blocked_equals_unblocked(spec, rng):
    a, W = rng.standard_normal(23), rng.standard_normal((23, 4))
    b, V = rng.standard_normal(3), rng.standard_normal((3, 4))
    ref = population_loss(spec, a, W, b, V, order=2, block=23, jobs=1)
    for block, jobs in [(1, 1), (4, 2), (7, 1)]:
        r = population_loss(spec, a, W, b, V, order=2, block=block, jobs=jobs)
        assert r.value == pytest.approx(ref.value, rel=1e-13)
        np.testing.assert_allclose(r.hessian, ref.hessian, rtol=1e-12, atol=1e-13)
        assert r.n_blocks == -(-23 // block)


def test_combine_terms_serves_other_targets(problem):
    """The assembly a mean-field objective uses: C - 2 b.h(V) + S(b, V) from its parts."""
    a, W, b, V = problem
    kern = get_activation("erf").kernel
    ct = cross_term(kern, a, W, V, order=2)
    st = self_term(kern, b, V, order=2)
    C = constant_term(kern, a, W)
    theta_part, value, gb, gV, H = combine_terms(b, ct, st, 2, constant=C)
    r = population_loss(kern, a, W, b, V, order=2)
    assert value == pytest.approx(r.value, rel=1e-14)
    np.testing.assert_allclose(H, r.hessian, rtol=1e-14)
    np.testing.assert_allclose(gV, r.grad_V, rtol=1e-14)


def test_result_evidence_and_json(problem):
    a, W, b, V = problem
    r = population_loss("relu", a, W, b, V, order=2, block=2)
    assert isinstance(r, LossResult) and r.precision == "float64"
    assert (r.N, r.M, r.d, r.order, r.n_blocks) == (5, 3, 3, 2, 3)
    assert 0 < r.max_abs_rho_target <= 1 and 0 < r.max_abs_rho_self <= 1
    assert r.min_norm_V == pytest.approx(np.linalg.norm(V, axis=1).min())
    data = json.loads(json.dumps(to_jsonable(r)))
    assert float(data["value"]) == r.value and len(data["hessian"]) == 12
    rm = population_loss_mp("relu", a, W, b, V, order=1, dps=25)
    data = to_jsonable(rm)
    assert data["precision"] == "mpmath, 25 digits" and data["hessian"] is None


def test_zero_neuron_and_parallel_neurons(problem):
    a, W, b, V = problem
    V0 = V.copy()
    V0[2] = 0.0
    r0 = population_loss("relu", a, W, b, V0, order=0)       # relu(0) = 0: the neuron is absent
    r2 = population_loss("relu", a, W, b[:2], V0[:2], order=0)
    assert r0.value == pytest.approx(r2.value, rel=1e-13)
    with pytest.raises(CompverifyError, match="V row 2 has zero norm"):
        population_loss("relu", a, W, b, V0, order=1)
    Vp = V.copy()
    Vp[1] = 2.5 * Vp[0]   # coinciding directions: finite Hessian for ReLU
    r = population_loss("relu", a, W, b, Vp, order=2)
    assert np.all(np.isfinite(r.hessian)) and r.max_abs_rho_self == 1.0


# ------------------------------------------------------------------- symbolic formulas


def test_gradient_formulas_evaluate_to_the_numeric_gradient(rng):
    act = get_activation("relu")
    N, M, d = 2, 2, 2
    a, W = rng.standard_normal(N), rng.standard_normal((N, d))
    b, V = rng.standard_normal(M), rng.standard_normal((M, d))
    r = population_loss(act, a, W, b, V, order=1)
    f = gradient_formulas()
    nw, nv = np.linalg.norm(W, axis=1), np.linalg.norm(V, axis=1)
    A, B, Wi, Vi = (sp.IndexedBase(s) for s in ("a", "b", "w", "v"))
    NW, NV, RWV, RVV = (sp.IndexedBase(s) for s in ("norm_w", "norm_v", "rho_wv", "rho_vv"))
    Ns, Ms, jj, cc = sp.symbols("N M j c", integer=True, positive=True)

    def evaluate(expr, idx):
        e = instantiate_formula(expr, act).subs({Ns: N, Ms: M, **idx}).doit()
        reps = {}
        for i in range(N):
            reps[A[i + 1]] = a[i]
            reps[NW[i + 1]] = nw[i]
            for c in range(d):
                reps[Wi[i + 1, c + 1]] = W[i, c]
            for j in range(M):
                reps[RWV[i + 1, j + 1]] = W[i] @ V[j] / (nw[i] * nv[j])
        for j in range(M):
            reps[B[j + 1]] = b[j]
            reps[NV[j + 1]] = nv[j]
            for c in range(d):
                reps[Vi[j + 1, c + 1]] = V[j, c]
            for m in range(M):
                reps[RVV[j + 1, m + 1]] = 1 if j == m else V[j] @ V[m] / (nv[j] * nv[m])
        return float(e.xreplace(reps).evalf(30))

    for j in range(M):
        assert evaluate(f["dL/db_j"], {jj: j + 1}) == pytest.approx(r.grad_b[j], rel=1e-10)
        for c in range(d):
            val = evaluate(f["dL/dv_j"], {jj: j + 1, cc: c + 1})
            assert val == pytest.approx(r.grad_V[j, c], rel=1e-10, abs=1e-12)
    assert r"\rho" in f["dL/dv_j"].latex and "k_{" in f["dL/dv_j"].latex


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, message", [
    ({"a": np.ones(4)}, r"a has length 4 but W has 5 rows"),
    ({"b": np.ones(2)}, r"b has length 2 but V has 3 rows"),
    ({"V": np.ones((3, 2))}, r"V must have d = 3 columns"),
    ({"W": np.full((5, 3), np.inf)}, r"W has a non-finite entry at index \(0, 0\): inf"),
    ({"b": np.array([1.0, np.nan, 0.0])}, r"b has a non-finite entry at index \(1,\): nan"),
    ({"order": -1}, r"order must be 0, 1 or 2"),
    ({"block": 0}, r"block must be an integer >= 1"),
])
def test_bad_input(kwargs, message, problem):
    a, W, b, V = problem
    args = {"a": a, "W": W, "b": b, "V": V, **kwargs}
    extra = {k: args.pop(k) for k in ("order", "block") if k in args}
    with pytest.raises(CompverifyError, match=message):
        population_loss("relu", args["a"], args["W"], args["b"], args["V"], **extra)


def test_bad_input_mp(problem):
    a, W, b, V = problem
    with pytest.raises(CompverifyError, match=r"dps must be an integer"):
        population_loss_mp("relu", a, W, b, V, dps=0)
    with pytest.raises(CompverifyError, match=r"b has a non-finite entry"):
        population_loss_mp("relu", a, W, [1, "nan", 2], V)
    with pytest.raises(CompverifyError):
        population_loss("no_such_activation", a, W, b, V)
