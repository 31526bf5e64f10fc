"""The series route for homogeneous sigma with a Gaussian mean, against independent integrals."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate
from target_checks import check_derivatives, check_mp_matches_float

from compverify.numeric.meanfield_series import HomogeneousMeanSeries, series_order
from compverify.numeric.objective import Problem
from compverify.numeric.targets import GaussianTarget, from_options
from compverify.symbolic import get_activation


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "leaky_relu:0.3", "relu_power:2"])
def test_h_against_a_2d_integral_over_the_weights(spec):
    """d = 2: h(v) = E_w K(w, v) by adaptive 2-D quadrature over w of the symbolic layer's kernel.

    The kernel route (E over w of the derived closed-form kernel) is independent of the series,
    which never uses the kernel.
    """
    mu, s = np.array([0.3, -0.4]), 0.6
    act = get_activation(spec)
    t = GaussianTarget(act, 2, mean=mu, scale="0.6")
    assert "series" in t.method
    v = np.array([0.7, 0.2])
    nv = float(np.linalg.norm(v))

    def integrand(y, x):
        nw = math.hypot(x, y)
        if nw == 0:
            return 0.0
        rho = min(1.0, max(-1.0, (x * v[0] + y * v[1]) / (nw * nv)))
        dens = math.exp(-((x - mu[0]) ** 2 + (y - mu[1]) ** 2) / (2 * s * s)) / (2 * math.pi * s * s)
        return float(act.kernel.value(nw, nv, rho)) * dens

    ref, err = integrate.dblquad(integrand, mu[0] - 7 * s, mu[0] + 7 * s, mu[1] - 7 * s,
                                 mu[1] + 7 * s, epsabs=1e-11, epsrel=1e-11)
    assert t.h(v[None, :])[0] == pytest.approx(ref, rel=1e-8, abs=1e-9)


@pytest.mark.slow
def test_C_against_a_2d_integral_over_the_inputs():
    """d = 2, ReLU: C = E_x fbar(x)^2 with fbar(x) = |x| F(<mu, x>/|x|), F(m) = m Phi(m/s) + s phi(m/s)."""
    from scipy.stats import norm

    mu, s = np.array([0.3, -0.4]), 0.6
    t = GaussianTarget("relu", 2, mean=mu, scale="0.6")

    def integrand(p, r):  # polar coordinates in x
        m = mu[0] * math.cos(p) + mu[1] * math.sin(p)
        F = m * norm.cdf(m / s) + s * norm.pdf(m / s)
        return (r * F) ** 2 * r * math.exp(-r * r / 2) / (2 * math.pi)

    ref, _ = integrate.dblquad(integrand, 0, 12, -math.pi, math.pi, epsabs=1e-13, epsrel=1e-13)
    assert t.C() == pytest.approx(ref, rel=1e-11)


def test_derivatives_by_finite_differences_and_float_vs_mp(rng):
    t = GaussianTarget("relu", 3, mean=[0.3, -0.2, 0.5], scale="0.6")
    V = rng.standard_normal((3, 3))
    check_derivatives(t, V, atol_g=1e-9, atol_H=1e-8)
    check_mp_matches_float(t, V, dps=40, rtol=(1e-14, 1e-12, 1e-10))
    # mp derivatives against mp finite differences (step 1e-20 at 60 digits)
    with mpmath.workdps(60):
        Vm = np.vectorize(mpmath.mpf, otypes=[object])(V)
        step = mpmath.mpf(10) ** -20
        for k in range(3):
            E = np.zeros_like(Vm)
            E[:, k] = step
            fd = (t.h_mp(Vm + E, 60) - t.h_mp(Vm - E, 60)) / (2 * step)
            for j in range(3):
                assert abs(fd[j] - t.h_grad_mp(Vm, 60)[j, k]) < mpmath.mpf(10) ** -30


def test_precision_claim_two_working_precisions():
    """G and C at 30 digits agree with 80 digits to 29 digits: the tail bound is honest."""
    ser = HomogeneousMeanSeries(1, 1, 0, d=4, mu=["0.5", "0.5", "-0.5", "0.1"], s="0.5", abar="1")
    with mpmath.workdps(90):
        for tt in ("0.3", "-0.7", "0.0"):
            a, b = ser.G_mp(mpmath.mpf(tt), 30), ser.G_mp(mpmath.mpf(tt), 80)
            for x, y in zip(a, b, strict=True):
                assert abs(x - y) <= mpmath.mpf(10) ** -29 * max(1, abs(y))
        assert abs(ser.C_mp(30) - ser.C_mp(80)) <= mpmath.mpf(10) ** -29
        assert ser.tail_bound(30)["G"] < mpmath.mpf(10) ** -34


def test_order_grows_with_the_mean_and_the_precision():
    assert series_order(1.0, 30)[0] < series_order(3.0, 30)[0] < series_order(3.0, 100)[0]
    assert series_order(0.0, 30) == (0, 10)


def test_isotropic_limit_and_d1():
    """A tiny mean reproduces the closed form for mu = 0; d = 1 is a two-point sphere."""
    d = 3
    iso = from_options("isotropic", d=d, mean=None, scale=None, activation="relu")
    tiny = GaussianTarget("relu", d, mean=[1e-12, 0, 0])
    v = np.array([[0.3, -1.1, 0.4]])
    assert tiny.h(v)[0] == pytest.approx(iso.h(v)[0], rel=1e-10)
    assert tiny.C() == pytest.approx(iso.C(), rel=1e-10)
    # d = 1: h(v) = E_w E_x[sigma(w x) sigma(v x)], x ~ N(0,1), w ~ N(m, s^2): a 2-D integral
    t1 = GaussianTarget("relu", 1, mean=[0.4], scale="0.8")
    for v1 in (0.9, -1.3):
        def integrand(x, w, v1=v1):
            return (max(w * x, 0) * max(v1 * x, 0) * math.exp(-x * x / 2 - (w - 0.4) ** 2 / 1.28)
                    / (2 * math.pi * 0.8))

        lo, hi = (0, 10) if v1 > 0 else (-10, 0)
        ref, _ = integrate.dblquad(integrand, -7, 7, lo, hi, epsabs=1e-13)
        assert t1.h(np.array([[v1]]))[0] == pytest.approx(ref, rel=1e-9)


def test_finite_n_objective_approaches_the_mean_field(rng):
    """The realization's objective at a fixed theta tends to the mean-field one (N = 4^k)."""
    act = get_activation("relu")
    t = GaussianTarget(act, 3, mean=[0.2, 0.2, 0.2])
    P = Problem(act, t, 2)
    theta = rng.standard_normal(P.n_params)
    errs = [abs(P.sampled(4**k, seed=k).value(theta) - P.value(theta)) for k in (2, 4, 6)]
    assert errs[2] < errs[0] and errs[2] < 5e-3


@pytest.mark.slow
def test_solve_with_a_mean_verifies_its_digits():
    from compverify.numeric.solver import solve

    t = GaussianTarget("relu", 2, mean=[0.3, 0.0])
    res = solve(Problem("relu", t, 2), restarts=4, seed=0, dps=20)
    assert res.evidence.verified_digits >= 18
    # an independent float64 evaluation of the loss at the answer agrees
    b = np.array([float(x) for x in res.b])
    V = np.array([[float(x) for x in row] for row in res.V])
    P = Problem("relu", t, 2)
    assert P.value(P.join(b, V)) == pytest.approx(float(res.loss), rel=1e-9, abs=1e-14)


def test_a_mean_too_large_for_the_series_is_refused():
    from compverify.errors import CompverifyError

    with pytest.raises(CompverifyError, match="too large relative to the scale"):
        from_options("gaussian", d=2, mean="100", scale=None, activation="relu")
