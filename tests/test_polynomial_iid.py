"""Exact i.i.d. targets for polynomial sigma (numeric/polynomial_iid.py) against independent sums.

References: the exact 2^d sum over sign patterns (RademacherTarget), the closed form for Gaussian
weights derived along another route (GaussianTarget, symbolic.meanfield.polynomial_gaussian), a
tensor Gauss-Legendre rule over the uniform law's box (exact for polynomials of the degree
involved), Monte Carlo over the weights, finite differences, and a rank-M matrix approximation
solved by hand.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from target_checks import check_derivatives, check_mp_matches_float

from compverify.numeric.objective import Problem
from compverify.numeric.polynomial_iid import PolynomialIidTarget
from compverify.numeric.sampled import WeightRuleTarget
from compverify.numeric.solver import solve
from compverify.numeric.spectral import PowerSpectralTarget
from compverify.numeric.targets import FiniteNetwork, GaussianTarget, RademacherTarget, from_options
from compverify.symbolic.activations import get_activation

CUBIC = "polynomial:1,0,-2,1"
QUARTIC = "polynomial:0.5,1,0.25,0,-0.125"


def _max_diff(a, b) -> mpmath.mpf:
    return max(abs(x - y) for x, y in zip(np.ravel(a), np.ravel(b), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("spec", [CUBIC, QUARTIC])
def test_rademacher_equals_exact_sum_to_40_digits(spec):
    # dyadic mean and scale: both targets hold them exactly, so they must agree to every digit
    d, rng = 5, np.random.default_rng(7)
    V = rng.normal(size=(3, d)) / math.sqrt(d)
    t = PolynomialIidTarget(spec, d, "rademacher", mean=0.25, scale=0.75)
    r = RademacherTarget(spec, d, mean=0.25, scale=0.75)
    with mpmath.workdps(50):
        for a, b in ((t.h_mp(V, 45), r.h_mp(V, 45)), (t.h_grad_mp(V, 45), r.h_grad_mp(V, 45)),
                     (t.h_hess_mp(V, 45), r.h_hess_mp(V, 45))):
            assert _max_diff(a, b) < mpmath.mpf(10) ** -40
        assert abs(t.C_mp(45) - r.C_mp(45)) < mpmath.mpf(10) ** -40
    assert np.allclose(t.h_hess(V), r.h_hess(V), rtol=1e-12, atol=1e-13)
    assert t.C() == pytest.approx(r.C(), rel=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["polynomial:0,0,1", CUBIC, QUARTIC])
def test_gaussian_law_equals_gaussian_closed_form(spec):
    # the same target reached by two derivations: power sums of v vs invariants |v|^2, <mu, v>
    d, m, s = 4, 0.375, 0.625   # dyadic: GaussianTarget reads its mean as a binary float
    rng = np.random.default_rng(11)
    V = rng.normal(size=(2, d)) / 2
    t = PolynomialIidTarget(spec, d, "gaussian", mean=m, scale=s)
    g = GaussianTarget(spec, d, mean=np.full(d, m), scale="0.625")
    with mpmath.workdps(50):
        assert _max_diff(t.h_hess_mp(V, 45), g.h_hess_mp(V, 45)) < mpmath.mpf(10) ** -40
        assert _max_diff(t.h_grad_mp(V, 45), g.h_grad_mp(V, 45)) < mpmath.mpf(10) ** -40
        assert _max_diff(t.h_mp(V, 45), g.h_mp(V, 45)) < mpmath.mpf(10) ** -40
        assert abs(t.C_mp(45) - g.C_mp(45)) < mpmath.mpf(10) ** -40


def _uniform_gauss_legendre(spec, d, m, s, n):
    """The tensor Gauss-Legendre rule (n nodes per coordinate) over the box of the uniform law."""
    x, w = np.polynomial.legendre.leggauss(n)
    nodes = m + s * math.sqrt(3) * x
    W = np.array(list(itertools.product(nodes, repeat=d)))
    a = np.array([np.prod(c) for c in itertools.product(w / 2, repeat=d)])
    return FiniteNetwork(spec, a, W)


@pytest.mark.slow
@pytest.mark.parametrize("spec,d", [(CUBIC, 2), (CUBIC, 3), (QUARTIC, 2)])
def test_uniform_equals_gauss_legendre(spec, d):
    # K(w, v) is a polynomial of degree <= 4 in each entry of w: 3 nodes integrate it exactly
    m, s = 0.2, 0.7
    rng = np.random.default_rng(d)
    V = rng.normal(size=(3, d))
    t = PolynomialIidTarget(spec, d, "uniform", mean=m, scale=s)
    ref = _uniform_gauss_legendre(spec, d, m, s, 3)
    assert np.allclose(t.h(V), ref.h(V), rtol=1e-12, atol=1e-13)
    assert np.allclose(t.h_grad(V), ref.h_grad(V), rtol=1e-12, atol=1e-13)
    assert np.allclose(t.h_hess(V), ref.h_hess(V), rtol=1e-12, atol=1e-13)
    assert t.C() == pytest.approx(ref.C(), rel=1e-12)


def test_uniform_matches_monte_carlo_over_weights():
    # h(v) = E_w K(w, v): the mean over 40000 sampled neurons, within 5 standard errors
    spec, d = QUARTIC, 6
    t = PolynomialIidTarget(spec, d, "uniform", mean=0.1)
    v = np.random.default_rng(3).normal(size=(1, d)) / math.sqrt(d)
    W = t.sample(40000, seed=5).W
    nw, nv = np.linalg.norm(W, axis=1), np.linalg.norm(v)
    K = get_activation(spec).kernel.value(nw, np.full_like(nw, nv), W @ v[0] / (nw * nv))
    se = K.std(ddof=1) / math.sqrt(K.size)
    assert abs(K.mean() - t.h(v)[0]) < 5 * se
    # the sample is the law's: a QMC rule over the same law agrees within its half-width
    qmc = WeightRuleTarget(spec, d, "uniform", mean=0.1, points=1024, replicates=8)
    assert abs(qmc.h(v)[0] - t.h(v)[0]) <= qmc.h_error(v)[0]


def test_derivatives_and_precisions():
    t = PolynomialIidTarget(QUARTIC, 3, "uniform", mean=-0.3, scale=0.5)
    V = np.random.default_rng(2).normal(size=(3, 3))
    check_derivatives(t, V, atol_g=1e-7, atol_H=1e-6)
    check_mp_matches_float(t, V)
    with mpmath.workdps(60):
        assert _max_diff(t.h_hess_mp(V, 30), t.h_hess_mp(V, 50)) < mpmath.mpf(10) ** -29


@pytest.mark.slow
def test_routing():
    def route(target, d, spec=CUBIC, **kw):
        return from_options(target, d=d, mean="0.1", scale=None, activation=spec, **kw)

    assert isinstance(route("iid:uniform", 3), PolynomialIidTarget)
    assert isinstance(route("iid:rademacher", 13), PolynomialIidTarget)
    assert isinstance(route("iid:rademacher", 4), RademacherTarget)    # the exact 2^d sum
    assert isinstance(route("iid:uniform", 3, rule_points=64), WeightRuleTarget)
    assert isinstance(route("iid:uniform", 3, spec="relu_power:3"), PowerSpectralTarget)
    assert isinstance(route("iid:uniform", 3, spec="relu_power:3", rule_points=64), WeightRuleTarget)
    assert "closed form" in route("iid:uniform", 3).describe()["method"]


@pytest.mark.slow
def test_quadratic_uniform_solve_to_40_digits():
    # sigma = z^2: f(x) = x'Ax with A = E[w w'] = s^2 I + m^2 11'. The best rank-M g = x'Bx
    # minimises 2 ||A - B||_F^2 + tr(A - B)^2: B keeps the top M eigenvectors of A with
    # eigenvalues lambda_i + r/2, r = (sum of the other eigenvalues) / (1 + M/2).
    d, M, m = 3, 2, 0.3
    spec = "polynomial:0,0,1"
    target = from_options("iid:uniform", d=d, mean=str(m), scale=None, activation=spec)
    res = solve(Problem(spec, target, M), restarts=4, seed=0, dps=50)
    with mpmath.workdps(60):
        s2, mm = mpmath.mpf(1) / d, mpmath.mpf("0.3") ** 2
        lam = sorted([s2 + d * mm] + [s2] * (d - 1), reverse=True)
        r = sum(lam[M:]) / (1 + mpmath.mpf(M) / 2)
        ref = 2 * (M * r**2 / 4 + sum(x**2 for x in lam[M:])) + r**2
        assert abs(res.loss - ref) < mpmath.mpf(10) ** -40
        assert res.evidence.verified_digits >= 40
