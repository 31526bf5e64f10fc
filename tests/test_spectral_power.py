"""The degree-2 part of the spectral route: relu_power:2 = z^2/2 + z|z|/2 with i.i.d. entries.

``z|z| = (4/pi) int (w z - sin w z)/w^3 dw``; its frequency integrand is third order near the axes,
so the odd part of the law's log-MGF enters less its linear term (``_Law.o3``).  Checked against
independent computations: direct quadrature of the transform, mpmath differences of the log-MGF,
the exact 2^d sum over Rademacher atoms, closed forms for d = 1 uniform entries, and the Gaussian
law's series route.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate

from compverify.numeric.spectral import SpectralTarget, _Rademacher, _Uniform, supports
from compverify.numeric.targets import RademacherTarget, from_options
from compverify.symbolic.activations import get_activation
from compverify.symbolic.spectral import spectral_form

RELU2 = "relu_power:2"


@pytest.mark.parametrize("spec,csq,czabs", [(RELU2, 0.5, 0.5), ("z*Abs(z)", 0.0, 1.0)])
def test_degree_two_form_and_its_density(spec, csq, czabs):
    f = spectral_form(get_activation(spec).expr)
    assert (float(f.c_square), float(f.c_zabs)) == (csq, czabs) and f.has_power
    assert supports(spec) and not supports("z**2*Abs(z) + z")
    for z in (-1.7, 0.3, 2.4):
        # int q3(w) (w z - sin w z) dw = c_zabs z|z|; split where the integrand changes scale
        def integrand(w, z=z):
            return float(f.q3(np.array([w]))[0]) * (w * z - math.sin(w * z))

        # the tail w > 50 is c_zabs (4/pi) z int w^-2 (oscillating part below 1e-8)
        val = sum(integrate.quad(integrand, a, b, limit=800)[0] for a, b in ((0, 1), (1, 50)))
        val += czabs * (4 / math.pi) * z / 50 - czabs * (4 / math.pi) * integrate.quad(
            lambda w, z=z: math.sin(w * z) / w**3, 50, np.inf, limit=800)[0]
        assert abs(val - czabs * z * abs(z)) < 1e-8


def _odd_part_mp(law, w1, beta):
    def log_mgf(b):
        return mpmath.log(law.expect_mp(lambda w: mpmath.exp(-w1 * w1 * w * w / 2 - b * w)))

    return (log_mgf(beta) - log_mgf(-beta)) / 2


@pytest.mark.slow
@pytest.mark.parametrize("law", [_Rademacher(0.3, 0.5), _Uniform(0.2, 0.4)], ids=["rademacher", "uniform"])
def test_odd_part_less_its_linear_term(law):
    """``O - beta lam`` and ``O' - lam`` (third and second order at small beta) against the tilted
    log-MGF in mpmath at 60 digits (``O'`` by numerical differentiation)."""
    w1 = np.array([0.01, 0.7, 2.0])
    beta = w1[:, None] * np.array([1e-4, 0.03, 0.3, 1.0, 3.0])[None, :]
    _, O, _, O1, *_ = law.eo(w1, beta)
    o3, do, _ = law.o3(w1, beta, O, O1)
    with mpmath.workdps(60):  # the references are differences of O(1) numbers down to 1e-25
        for i, j in np.ndindex(beta.shape):
            wm, bm = mpmath.mpf(w1[i]), mpmath.mpf(beta[i, j])
            tilt = [law.expect_mp(lambda w, k=k, wm=wm: w**k * mpmath.exp(-wm * wm * w * w / 2))
                    for k in (0, 1)]
            lam = -tilt[1] / tilt[0]  # O'(0) = -E_tilt w
            ref = _odd_part_mp(law, wm, bm) - bm * lam
            dref = mpmath.diff(lambda b, wm=wm: _odd_part_mp(law, wm, b), bm) - lam
            # relative 1e-9: the uniform law's tilted moments come from a 48-node rule
            assert abs(o3[i, j] - ref) <= 1e-9 * abs(ref), (w1[i], beta[i, j])
            assert abs(do[i, j] - dref) <= 1e-9 * abs(dref), (w1[i], beta[i, j])


@pytest.mark.slow
def test_rademacher_matches_exact_sum():
    """d = 6 against the exact 2^6 sum: a generic direction, the mean direction (an atom, taken
    exactly) and one 1e-3 from it; float64 with derivatives, and mpmath with the finer rule."""
    d = 6
    V = np.array([[0.5, -0.2, 0.4, 0.1, 0.3, -0.6], [1.0] * 6, [1.0] * 5 + [1.001]])
    t = SpectralTarget(RELU2, d, "rademacher", mean=0.125, scale=0.25)
    ex = RademacherTarget(RELU2, d, mean=0.125, scale=0.25)
    h, err = t.h(V), t.h_error(V)
    assert np.all(np.abs(h - ex.h(V)) <= 1e-15 * np.abs(h) + 1e-16)
    assert np.all(np.abs(h - ex.h(V)) <= err)
    assert np.abs(t.h_grad(V) - ex.h_grad(V)).max() < 1e-14
    assert np.abs(t.h_hess(V) - ex.h_hess(V)).max() < 1e-13
    fine = t.finer()
    got, want = fine.h_mp(V[:2], 30), ex.h_mp(V[:2], 40)
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < mpmath.mpf(10) ** -29
    g, gw = fine.h_grad_mp(V[:1], 30), ex.h_grad_mp(V[:1], 40)
    assert max(abs(a - b) for a, b in zip(g.ravel(), gw.ravel(), strict=True)) < mpmath.mpf(10) ** -28


@pytest.mark.slow
def test_uniform_one_dimensional_closed_form():
    """d = 1: ``K(u, v) = (3/2) u^2 v^2`` when ``u v > 0``, else 0, so ``h`` and ``C`` are integrals
    of polynomials over the box's two halves.  The uniform law's rule converges algebraically
    (ridges at the box's edges): float64 about 1e-10, the finer rule about 1e-12, both within the
    estimates."""
    t = SpectralTarget(RELU2, 1, "uniform", mean=0.25, scale=0.5)
    with mpmath.workdps(30):
        lo, hi = mpmath.mpf(t.law.lo), mpmath.mpf(t.law.hi)
        pos, neg = hi**3 / 3 / (hi - lo), -(lo**3) / 3 / (hi - lo)  # E u^2 1{u > 0}, 1{u < 0}
        C = mpmath.mpf(3) / 2 * (pos**2 + neg**2)
        for v in (0.7, -1.3):
            ref = mpmath.mpf(3) / 2 * mpmath.mpf(v) ** 2 * (pos if v > 0 else neg)
            V = np.array([[v]])
            assert abs(t.h(V)[0] - ref) <= t.h_error(V)[0]
            assert abs(t.h(V)[0] - ref) < 1e-9
            assert abs(t.finer().h_mp(V, 25)[0] - ref) < 1e-11
        assert abs(t.C_mp(20) - C) <= t.C_error() and abs(t.C_mp(20) - C) < 1e-10


def test_gaussian_law_matches_the_series_route():
    """The Gaussian law through the spectral rule (a check: its closed/series route is
    :mod:`compverify.numeric.meanfield_series`)."""
    d = 3
    t = SpectralTarget(RELU2, d, "gaussian", mean=0.3, scale=0.6)
    ref = from_options("gaussian", d=d, mean="0.3", scale="0.6", activation=RELU2)
    V = np.array([[0.4, -0.9, 0.2], [1.0, 1.0, 1.0]])
    assert np.abs(t.h(V) - ref.h(V)).max() < 1e-13
    assert np.abs(t.h_grad(V) - ref.h_grad(V)).max() < 1e-13


def test_routing():
    for target, d in (("iid:uniform", 3), ("iid:rademacher", 13)):
        t = from_options(target, d=d, mean="0.1", scale=None, activation=RELU2)
        assert isinstance(t, SpectralTarget) and t.form.has_power


@pytest.mark.slow
def test_solve_verified_digits_against_the_exact_sum():
    """d = 4, M = 2, Rademacher: the spectral target's solve (rule refined by the finer rule)
    against the loss at the returned point from the exact 2^4 sum; the claimed digits hold."""
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import solve

    t = SpectralTarget(RELU2, 4, "rademacher", mean=0.25, scale=0.5)
    res = solve(Problem(RELU2, t, 2), restarts=1, seed=0, dps=20)
    exact = Problem(RELU2, RademacherTarget(RELU2, 4, mean=0.25, scale=0.5), 2)
    with mpmath.workdps(40):
        actual = abs(exact.value_mp(exact.join(res.b, res.V), dps=40) - res.loss)
        assert res.evidence.verified_digits >= 18  # measured: 20, actual error 6e-24
        assert actual <= abs(res.loss) * mpmath.mpf(10) ** -res.evidence.verified_digits


@pytest.mark.slow
def test_arb_and_mpmath_arithmetic_agree():
    import compverify.numeric.spectral as sp

    t = SpectralTarget(RELU2, 2, "uniform", mean=-0.1)
    V = np.array([[0.7, -0.4], [-0.3, -0.9]])
    assert t.arith.name == "arb"
    a = t.h_hess_mp(V, 30)
    t.arith = sp._MpArith
    b = t.h_hess_mp(V, 30)
    with mpmath.workdps(40):
        assert max(abs(x - y) for x, y in zip(a.ravel(), b.ravel(), strict=True)) < mpmath.mpf(10) ** -29
