"""Derived kernels against independent 2-D numerical integration and the SPEC A2 reference table."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

from compverify.symbolic import NU, NV, RHO, get_activation

# SPEC A2 reference closed forms (theta = arccos rho): the independent reference the issue names.
REFERENCE = {
    "relu": lambda a, b, r: a * b * (mpmath.sqrt(1 - r**2) + (mpmath.pi - mpmath.acos(r)) * r)
    / (2 * mpmath.pi),
    "abs": lambda a, b, r: 2 / mpmath.pi * a * b * (mpmath.sqrt(1 - r**2) + r * mpmath.asin(r)),
    "step": lambda a, b, r: (mpmath.pi - mpmath.acos(r)) / (2 * mpmath.pi),
    "sign": lambda a, b, r: 2 / mpmath.pi * mpmath.asin(r),
    "erf": lambda a, b, r: 2 / mpmath.pi * mpmath.asin(
        2 * a * b * r / mpmath.sqrt((1 + 2 * a**2) * (1 + 2 * b**2))),
}


def _kernel_mp(spec: str, a, b, r, dps: int):
    k = get_activation(spec).kernel
    f = sympy.lambdify((NU, NV, RHO), k.expr, "mpmath")
    with mpmath.workdps(dps):
        return f(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r))


def _npdf(x):
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


def _ncdf(x):
    return mpmath.ncdf(x)


# E_Z[sigma(m + s Z)] for Z ~ N(0, 1), from textbook Gaussian integrals (independent of the
# derivation routes under test): used as the inner integral of the 2-D reference.
def _relu_mean(m, s):
    return m * _ncdf(m / s) + s * _npdf(m / s)


def _relu2_mean(m, s):
    return (m * m + s * s) * _ncdf(m / s) + m * s * _npdf(m / s)


INNER = {
    "relu": _relu_mean,
    "abs": lambda m, s: _relu_mean(m, s) + _relu_mean(-m, s),
    "leaky_relu:0.2": lambda m, s: _relu_mean(m, s) - _relu_mean(-m, s) / 5,
    "relu_power:2": _relu2_mean,
    "erf": lambda m, s: mpmath.erf(m / mpmath.sqrt(1 + 2 * s * s)),
    "polynomial:1,-1,0,2": lambda m, s: 1 - m + 2 * (m**3 + 3 * m * s * s),
}


def _quad_kernel(spec, sigma, a, b, r, dps: int):
    """E[sigma(a z1) sigma(b (r z1 + s z2))]: the z2 integral in closed form (INNER), the z1
    integral by mpmath quadrature split at the kink z1 = 0."""
    with mpmath.workdps(dps):
        a, b, r = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r)
        s = mpmath.sqrt(1 - r * r)
        inner = INNER[spec]
        # sigma(b t) with t ~ N(r z1, s^2): E = inner(b r z1, b s) for the degree-1 and erf cases;
        # relu_power:2 is homogeneous of degree 2, handled by the same formula in (b r z1, b s)
        f = lambda z1: sigma(a * z1) * inner(b * r * z1, b * s) * _npdf(z1)  # noqa: E731
        return mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf])


SIGMAS = {
    "relu": lambda z: max(z, 0),
    "abs": lambda z: abs(z),
    "leaky_relu:0.2": lambda z: z if z > 0 else z / 5,
    "relu_power:2": lambda z: max(z, 0) ** 2,
    "erf": mpmath.erf,
    "polynomial:1,-1,0,2": lambda z: 1 - z + 2 * z**3,
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(SIGMAS))
def test_closed_form_matches_2d_quadrature(spec, rng):
    """At >= 30 digits (quadrature at 35) for random (nu, nv, rho)."""
    a, b = rng.uniform(0.3, 2.0, 2)
    r = rng.uniform(-0.95, 0.95)
    ref = _quad_kernel(spec, SIGMAS[spec], a, b, r, 35)
    got = _kernel_mp(spec, a, b, r, 40)
    with mpmath.workdps(40):
        assert abs(got - ref) <= mpmath.mpf(10) ** -30 * max(1, abs(ref))


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "abs", "step", "sign", "erf"])
@pytest.mark.parametrize("r", [0.37, 1 - 1e-8, -1 + 1e-8, 1.0, -1.0])
def test_reference_table(spec, r):
    a, b = 1.3, 0.7
    with mpmath.workdps(50):
        ref = REFERENCE[spec](mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r))
        got = _kernel_mp(spec, a, b, r, 50)
        assert abs(got - ref) <= mpmath.mpf(10) ** -40


def test_near_pm1_against_quadrature():
    """rho within 1e-8 of +-1: the derived ReLU kernel vs direct quadrature (1-D, exact split)."""
    for r in (1 - 1e-8, -1 + 1e-8):
        ref = _quad_kernel("relu", SIGMAS["relu"], 1.1, 0.9, r, 35)
        got = _kernel_mp("relu", 1.1, 0.9, r, 40)
        with mpmath.workdps(40):
            assert abs(got - ref) <= mpmath.mpf(10) ** -28


@pytest.mark.slow
def test_relu_power_3_is_cho_saul():
    """Arc-cosine kernel of degree 3 (Cho & Saul 2009): E = J_3(theta) / (2 pi) for unit norms,
    J_3 = 15 sin - 11 sin^3 + (pi - theta)(9 cos + 6 cos^3)."""
    r = 0.3
    with mpmath.workdps(40):
        th = mpmath.acos(r)
        s, c = mpmath.sin(th), mpmath.cos(th)
        ref = (15 * s - 11 * s**3 + (mpmath.pi - th) * (9 * c + 6 * c**3)) / (2 * mpmath.pi)
        got = _kernel_mp("relu_power:3", 1, 1, r, 40)
        assert abs(got - ref) < mpmath.mpf(10) ** -35


@pytest.mark.slow
def test_routes_and_steps(fresh_derivation):
    routes = {"relu": "piecewise-homogeneous", "sign": "piecewise-homogeneous",
              "polynomial:0,0,1": "polynomial-moments", "erf": "price", "tanh": "numeric",
              "gelu": "price-2", "silu": "numeric", "Max(0,z)**3 - z": "numeric",
              "3*erf(2*z)": "price", "1/3 + z/5 + 2*z*erf(3*z/2)": "price-2"}
    for spec, route in routes.items():
        k = get_activation(spec).kernel
        assert k.route == route, spec
        assert k.steps and all(st.description and st.latex for st in k.steps)
        assert (k.expr is None) == (route == "numeric")


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["gelu", "1/3 + z/5 + 2*z*erf(3*z/2)", "z*erf(z)"])
def test_price2_kernel_against_quadrature(spec):
    """sigma = c0 + c1 z + c2 z erf(a z): the closed form against the numeric route's mpmath
    quadrature of E[sigma(X) sigma(Y)] at 30 digits for gelu, 20 for the others (measured: equal
    at 30 digits for all three), including a large norm and a correlation near 1."""
    from compverify.symbolic.derivation import _numeric_route
    from compverify.symbolic.kernel import Kernel

    act = get_activation(spec)
    k = act.kernel
    assert k.route == "price-2"
    numeric = Kernel(_numeric_route(act.expr, "reference"), act.expr)
    dps = 30 if spec == "gelu" else 20  # the quadrature at 30 digits takes 3 times longer
    for nu, nv, rho in ((0.7, 1.3, 0.4), (2.5, 0.3, -0.8), (1.0, 1.0, 0.999)):
        with mpmath.workdps(dps + 10):
            a, b = k.value_mp(nu, nv, rho, dps=dps), numeric.value_mp(nu, nv, rho, dps=dps)
            assert abs(a - b) < mpmath.mpf(10) ** (3 - dps) * max(1, abs(b))


@pytest.mark.slow
def test_polynomial_degree6_and_scaled_erf_by_monte_carlo(rng):
    """Independent Monte Carlo (1e6 samples, 5 standard errors)."""
    n = 1_000_000
    z1, z2 = rng.standard_normal((2, n))
    a, b, r = 0.8, 0.6, 0.4
    X, Y = a * z1, b * (r * z1 + math.sqrt(1 - r * r) * z2)
    for spec, f in [("polynomial:0.5,1,0,0,0,0,-0.2", lambda t: 0.5 + t - 0.2 * t**6),
                    ("3*erf(2*z)", lambda t: 3 * np.vectorize(math.erf)(2 * t))]:
        prod = f(X) * f(Y)
        k = float(get_activation(spec).kernel.value(a, b, r))
        assert abs(k - prod.mean()) < 5 * prod.std() / math.sqrt(n), spec
