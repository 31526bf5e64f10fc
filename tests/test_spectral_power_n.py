"""relu_power:n (n >= 3) with i.i.d. entries on the spectral rule, in multiprecision.

``sigma = c_mono z^n + c_rho rho_n(z)``; ``rho_n`` has a transform regularised by the Taylor
polynomial of degree ``n - 1``, the kernel's Hermite terms of order ``< n`` leave the rule as
power-sum polynomials in ``v`` (:mod:`compverify.numeric.spectral_power`).  Checked against
independent computations: the transform's constant by series plus oscillatory quadrature, the
moments and polynomials against exact sums over Rademacher atoms and a 2-D quadrature, derivatives
against finite differences, ``h`` against the exact 2^d sum and (d = 1) adaptive quadrature of the
kernel, ``C`` against the quasi-Monte Carlo rule.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import sympy

from compverify.numeric.sampled import WeightRuleTarget
from compverify.numeric.spectral import SpectralTarget, _Rademacher, _Uniform, spectral_target
from compverify.numeric.spectral_power import (
    OutsidePolynomial,
    cumulants,
    kernel_coefficients,
    monomial_moment,
    outside_C,
    taylor_terms,
    tilted_moments,
)
from compverify.numeric.targets import RademacherTarget
from compverify.symbolic.activations import as_activation
from compverify.symbolic.spectral import rho_norm, spectral_form


def _rho(n: int, z: float) -> float:
    return abs(z) ** n if n % 2 else z * abs(z) ** (n - 1)


@pytest.mark.parametrize("spec,n", [("relu_power:3", 3), ("relu_power:6", 6),
                                    ("Max(0, z)**4 + 3*Min(0, z)**4", 4),
                                    ("2*Max(0, z)**5 - Min(0, z)**5", 5)])
def test_form_rebuilds_sigma(spec, n):
    act = as_activation(spec)
    f = spectral_form(act.expr)
    assert f.power_n == n and not f.has_power and not f.has_even and not f.odd
    (z,) = act.expr.free_symbols
    for x in (-1.7, -0.4, 0.3, 2.2):
        want = float(act.expr.subs(z, x))
        assert abs(float(f.c_mono) * x**n + float(f.c_rho) * _rho(n, x) - want) < 1e-12 * (1 + abs(want))


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_rho_norm_against_the_integral(n):
    """``I_n = int_0^inf F_n(t) t^(-n-1) dt``: on [0, 1] the Taylor series of ``F_n`` term by term,
    on [1, inf) the cosine/sine part by oscillatory quadrature and the polynomial part exactly."""
    with mpmath.workdps(30):
        odd = n % 2 == 1
        # F_n = sum over k of (-1)^k t^(2k + e)/(2k + e)! with e = 0 (cos) or 1 (sin), the terms of
        # degree < n removed
        e = 0 if odd else 1
        first = (n + 1 - e) // 2
        head = mpmath.nsum(lambda k: (-1) ** k / (mpmath.factorial(2 * k + e) * (2 * k + e - n)),
                           [first, mpmath.inf])
        trig = mpmath.cos if odd else mpmath.sin
        osc = mpmath.quadosc(lambda t: trig(t) / t ** (n + 1), [1, mpmath.inf], omega=1)
        poly = mpmath.fsum((-1) ** k / (mpmath.factorial(2 * k + e) * (n - 2 * k - e))
                           for k in range(first))
        assert abs(head + osc - poly - mpmath.mpf(sympy.N(rho_norm(n), 40))) < mpmath.mpf(10) ** -25


def _rademacher_atoms(law, d):
    hi, lo = mpmath.mpf(law.m) + law.s, mpmath.mpf(law.m) - law.s
    return [np.array(a, dtype=object) for a in itertools.product((hi, lo), repeat=d)]


def _norm(w):
    return mpmath.sqrt(mpmath.fsum(x * x for x in w))


@pytest.mark.slow
@pytest.mark.parametrize("j", [0, 1, 2, 3])
def test_monomial_moments_against_exact_sums(j):
    law, d = _Rademacher(0.3, 0.5), 3
    with mpmath.workdps(40):
        atoms = _rademacher_atoms(law, d)
        for tau in [(), (1,), (2,), (1, 1), (3,), (2, 1), (1, 1, 1)]:
            exact = mpmath.fsum(mpmath.fprod(w[i] ** a for i, a in enumerate(tau)) * _norm(w) ** j
                                for w in atoms) / len(atoms)
            assert abs(monomial_moment(law, tau, j, d, 30) - exact) < mpmath.mpf(10) ** -28


@pytest.mark.slow
def test_monomial_moment_uniform_against_2d_quadrature():
    law = _Uniform(0.1, 0.6)
    a = law._a_mp()
    with mpmath.workdps(25):
        cuts = [law.lo, 0, law.hi]
        for tau in [(1,), (2,), (1, 1)]:
            def f(x, y, tau=tau):
                return (x ** tau[0] * (y ** tau[1] if len(tau) > 1 else 1)) * mpmath.sqrt(x * x + y * y)

            ref = mpmath.quad(f, cuts, cuts) / (2 * a) ** 2
            assert abs(monomial_moment(law, tau, 1, 2, 20) - ref) < mpmath.mpf(10) ** -18


@pytest.mark.slow
@pytest.mark.parametrize("n", [3, 4])
def test_outside_polynomial_against_exact_sums(n):
    """Each term ``|v|^j E[<w, v>^k |w|^j]`` alone, against the sum over the 2^d atoms."""
    law, d = _Rademacher(-0.2, 0.45), 3
    v = [mpmath.mpf(x) for x in (0.7, -0.3, 0.5)]
    with mpmath.workdps(40):
        atoms = _rademacher_atoms(law, d)
        for k in range(n + 1):
            j = n - k
            poly = OutsidePolynomial(law, n, d, [(k, mpmath.mpf(1))], 30)
            exact = mpmath.fsum(mpmath.fsum(a * b for a, b in zip(w, v, strict=True)) ** k
                                * _norm(w) ** j for w in atoms) / len(atoms) * _norm(v) ** j
            assert abs(poly.evaluate(v, 0)[0] - exact) < mpmath.mpf(10) ** -27


@pytest.mark.slow
def test_outside_polynomial_derivatives():
    law, d, n = _Uniform(0.2, 0.5), 3, 4
    with mpmath.workdps(40):
        coefs = kernel_coefficients(n, mpmath.mpf(1) / 2, mpmath.mpf(1) / 2)
        poly = OutsidePolynomial(law, n, d, coefs, 30)
        v = [mpmath.mpf(x) for x in (0.6, -0.25, 0.4)]
        h, g, H = poly.evaluate(v, 2)
        eps = mpmath.mpf(10) ** -12
        for i in range(d):
            vp, vm = list(v), list(v)
            vp[i] += eps
            vm[i] -= eps
            (hp, gp, _), (hm, gm, _) = poly.evaluate(vp, 1), poly.evaluate(vm, 1)
            assert abs((hp - hm) / (2 * eps) - g[i]) < mpmath.mpf(10) ** -20
            for l in range(d):
                assert abs((gp[l] - gm[l]) / (2 * eps) - H[l][i]) < mpmath.mpf(10) ** -20


@pytest.mark.slow
def test_outside_C_against_exact_sums():
    law, d, n = _Rademacher(0.25, 0.5), 3, 3
    with mpmath.workdps(40):
        coefs = kernel_coefficients(n, mpmath.mpf(1) / 2, mpmath.mpf(1) / 2)
        atoms = _rademacher_atoms(law, d)
        exact = mpmath.fsum(c * mpmath.fsum(mpmath.fsum(x * y for x, y in zip(w, u, strict=True)) ** k
                                            * (_norm(w) * _norm(u)) ** (n - k)
                                            for w in atoms for u in atoms)
                            for k, c in coefs) / len(atoms) ** 2
        assert abs(outside_C(law, n, d, coefs, 30) - exact) < mpmath.mpf(10) ** -27


@pytest.mark.parametrize("parity", [0, 1])
def test_taylor_terms_against_tilted_moments(parity):
    """``T = sum_(m <= n, m = parity) t^m E_tilt[X^m]/m!`` for the tilted Rademacher product law
    (enumerated), and its derivatives against finite differences."""
    law, d, n = _Rademacher(0.3, 0.5), 3, 5
    w1, t = mpmath.mpf("0.8"), mpmath.mpf("0.6")
    with mpmath.workdps(40):
        mom = tilted_moments(law, w1, n)
        kap = cumulants(mom)
        v = [mpmath.mpf(x) for x in (0.5, -0.8, 0.3)]
        T, g, H = taylor_terms(kap, v, t, parity, 2, mpmath.mpf(1))
        hi, lo = mpmath.mpf(law.m) + law.s, mpmath.mpf(law.m) - law.s
        p_hi = mpmath.exp(-w1 * w1 * hi * hi / 2)
        p_hi = p_hi / (p_hi + mpmath.exp(-w1 * w1 * lo * lo / 2))
        ref = mpmath.mpf(0)
        for w in itertools.product((hi, lo), repeat=d):
            prob = mpmath.fprod(p_hi if x == hi else 1 - p_hi for x in w)
            X = mpmath.fsum(a * b for a, b in zip(w, v, strict=True))
            ref += prob * mpmath.fsum(t**m * X**m / mpmath.factorial(m)
                                      for m in range(n + 1) if m % 2 == parity)
        assert abs(T - ref) < mpmath.mpf(10) ** -30
        eps = mpmath.mpf(10) ** -12
        for i in range(d):
            vp, vm = list(v), list(v)
            vp[i] += eps
            vm[i] -= eps
            (Tp, gp, _), (Tm, gm, _) = (taylor_terms(kap, x, t, parity, 1, mpmath.mpf(1)) for x in (vp, vm))
            assert abs((Tp - Tm) / (2 * eps) - g[i]) < mpmath.mpf(10) ** -20
            for l in range(d):
                assert abs((gp[l] - gm[l]) / (2 * eps) - H[l][i]) < mpmath.mpf(10) ** -20


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu_power:3", "relu_power:4"])
def test_rademacher_matches_exact_sum(spec):
    """h, gradient and Hessian against the exact 2^4 sum: the rule's estimate bounds the error,
    and the finer rule agrees to 1e-25 (measured: 1e-30), also next to an atom of the law (its
    terms taken through the closed-form kernel)."""
    d = 4
    t = SpectralTarget(spec, d, "rademacher", mean=0.25, scale=0.5)
    exact = RademacherTarget(spec, d, mean=0.25, scale=0.5)
    # a random direction and one 1e-4 from the atom (0.75, -0.25, 0.75, 0.75) (atoms within
    # ATOM_GAP of a direction are taken exactly)
    V = np.array([[0.4, -1.1, 0.3, 0.8], [0.75, -0.25, 0.75, 0.7501]])
    assert len(t.near_atoms(V)[1]) >= 1
    h, g, err = t.h_grad_estimate_mp(V, 30)
    he, ge, He = exact.h_mp(V, 30), exact.h_grad_mp(V, 30), exact.h_hess_mp(V, 30)
    assert all(abs(h[j] - he[j]) <= err[j] < 1e-6 for j in range(2))
    _, gc, Hc = t._eval_mp(V, 2, 30)
    hf = t.finer().h_mp(V, 30)  # the finer rule's Hessian costs most: values only
    for j in range(2):
        assert max(abs(gc[j][k] - ge[j][k]) for k in range(d)) < 1e-13  # measured 1e-15
        assert max(abs(Hc[j][k][l] - He[j][k][l]) for k in range(d) for l in range(d)) < 1e-11
        assert abs(hf[j] - he[j]) < 1e-25  # measured 1e-30
    assert t.C_mp(30) == exact.C_mp(30)  # the exact class sum


@pytest.mark.slow
def test_uniform_d1_against_quadrature():
    """d = 1: ``h(v) = E K(w, v)`` by adaptive quadrature of the closed-form kernel."""
    spec = "relu_power:3"
    t = SpectralTarget(spec, 1, "uniform", mean=0.25, scale=0.5)
    kernel = as_activation(spec).kernel
    V = np.array([[-1.3]])
    h, _, err = t.h_grad_estimate_mp(V, 25)
    with mpmath.workdps(35):
        v = mpmath.mpf(V[0, 0])

        def K(w):
            return mpmath.mpf(0) if w == 0 else kernel.value_mp(abs(w), abs(v), mpmath.sign(w * v), dps=35)

        ref = mpmath.quad(K, [t.law.lo, 0, t.law.hi]) / (2 * t.law._a_mp())
    assert abs(h[0] - ref) <= err[0] and abs(h[0] - ref) < 1e-10  # measured 1e-11


@pytest.mark.slow
def test_uniform_C_against_the_qmc_rule():
    spec, d = "relu_power:3", 3
    t = spectral_target(spec, d, "uniform", mean=0.2, scale=0.5)
    q = WeightRuleTarget(spec, d, "uniform", mean=0.2, scale=0.5)
    C, C_err = t.C_estimate_mp(20)
    assert C_err < 1e-8
    assert abs(float(C) - q.C()) < 3 * q.C_error() + float(C_err)
    # the float64 side of PowerSpectralTarget is the QMC rule; h agrees within its estimate
    V = np.array([[0.7, -0.4, 0.2]])
    assert abs(float(t.h_mp(V, 20)[0]) - t.h(V)[0]) < 3 * t.h_error(V)[0]
    assert math.isfinite(t.loss_error(np.array([0.5]), V))


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["z*Abs(z)", "Abs(z)**3"])
def test_atom_terms_of_a_form_without_its_top_monomial(spec):
    """``z|z|`` and ``|z|^3`` have no ``c^n`` term outside the rule (``c_mono = 0``): the atom
    correction must take the degree from the form, not from the largest nonzero term (it did:
    errors 1.4e-2 and 4.5e-2 next to an atom, against the exact 2^6 sum)."""
    d = 6
    t = SpectralTarget(spec, d, "rademacher", mean=0.25, scale=0.25)
    exact = RademacherTarget(spec, d, mean=0.25, scale=0.25)
    atom = np.full(d, 0.5)
    atom[0] = 0.0
    V = np.array([atom + 1e-3 * np.random.default_rng(0).standard_normal(d)])
    assert len(t.near_atoms(V)[0]) >= 1
    h = t.h(V)[0] if not t.power_n else t.h_mp(V, 20)[0]
    assert abs(float(h) - float(exact.h_mp(V, 20)[0])) < 1e-12  # measured 6e-15, 9e-15
