"""Kernels at extreme norms and near rho = -1, against independent high-precision computations.

References: the closed forms typed here by hand and evaluated by mpmath at 400 digits (not the
compiled SymPy expressions), and mpmath quadrature of the defining integrals.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.symbolic import get_activation


def _erf_kernel(nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf) -> mpmath.mpf:
    """E[erf(X) erf(Y)] = (2/pi) asin(2 C / sqrt((1 + 2 nu^2)(1 + 2 nv^2))), C = nu nv rho."""
    return 2 / mpmath.pi * mpmath.asin(2 * nu * nv * rho / mpmath.sqrt((1 + 2 * nu**2) * (1 + 2 * nv**2)))


NORMS = [1e-300, 1e-150, 1e-20, 1.0, 1e20, 1e80, 1e154, 1e300]
RHOS = [-1.0, -1 + 1e-12, -0.3, 0.5, 1 - 1e-12, 1.0]


@pytest.mark.parametrize("rho", RHOS)
def test_erf_float64_kernel_over_the_float_range(rho: float) -> None:
    k = get_activation("erf").kernel
    for nu in NORMS:
        got = k.value(np.array(NORMS), nu, rho)
        with mpmath.workdps(400):
            want = [_erf_kernel(mpmath.mpf(a), mpmath.mpf(nu), mpmath.mpf(rho)) for a in NORMS]
        for g, w in zip(got, want, strict=True):
            assert abs(g - float(w)) <= 1e-13 * abs(w) + 1e-300, (nu, rho, g, w)


def test_erf_rho_partial_at_large_norms() -> None:
    k = get_activation("erf").kernel
    nu, nv, rho = 1e100, 3e99, 0.999
    with mpmath.workdps(400):
        d = mpmath.diff(lambda r: _erf_kernel(mpmath.mpf(nu), mpmath.mpf(nv), r), mpmath.mpf(rho))
    assert abs(k.grad(nu, nv, rho)[3] - float(d)) <= 1e-13 * abs(d)


@pytest.mark.slow
def test_gelu_value_at_large_norms_is_finite_and_right() -> None:
    k = get_activation("gelu").kernel
    # gelu(z) = z Phi(z); as the norms grow, k / (nu nv) -> E[relu(g1) relu(g2)] (homogeneity)
    rho = 0.3
    relu = (np.sqrt(1 - rho**2) + rho * (np.pi - np.arccos(rho))) / (2 * np.pi)
    for big in (1e80, 1e154):
        v = k.value(big, 1e-3 * big, rho)
        assert abs(v / (1e-3 * big * big) - relu) <= 1e-10


def test_population_loss_erf_with_a_huge_direction() -> None:
    from compverify.numeric.loss import population_loss, population_loss_mp

    a = np.array([1.0, -0.5])
    W = np.array([[1.0, 0.0], [0.0, 1e100]])
    b = np.array([0.7])
    V = np.array([[0.6, 0.8]])
    f = population_loss("erf", a, W, b, V, order=0).value
    m = population_loss_mp("erf", a, W, b, V, order=0, dps=30).value
    assert abs(f - float(m)) <= 1e-12 * abs(float(m))


def test_polynomial_kernel_overflow_raises() -> None:
    k = get_activation("polynomial:1,0,-2,1").kernel
    with pytest.raises(CompverifyError, match="beyond the float64 range"):
        k.value(1e200, 1e200, 0.5)
    # sigma = 1 - 2 z^2 + z^3: k = E sigma(X) sigma(Y); with nu nv = 1 the moments give
    # 1 - 2 nu^2 - 2 nv^2 + 4 nu^2 nv^2 + 8 (nu nv rho)^2 + 9 nu^3 nv^3 rho + 6 (nu nv rho)^3,
    # dominated by -2 nu^2 = -2e300 (nu^3 = 1e450 overflows in a naive float64 evaluation)
    v = k.value(1e150, 1e-150, 0.5)
    assert abs(v + 2e300) <= 1e-13 * 2e300


def _relu_power_quad(n: int, rho: mpmath.mpf) -> mpmath.mpf:
    """J_n(rho) = E[(g1)_+^n (g2)_+^n] by quadrature in polar coordinates: radial factor
    2^n n! / (2 pi) times the angular integral over the sector where both cosines are positive."""
    theta = mpmath.acos(rho)
    ang = mpmath.quad(lambda p: (mpmath.cos(p) * mpmath.cos(p - theta)) ** n,
                      [theta - mpmath.pi / 2, mpmath.pi / 2])
    return 2**n * mpmath.factorial(n) * ang / (2 * mpmath.pi)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "n"), [("relu", 1), ("relu_power:2", 2)])
@pytest.mark.parametrize("gap", ["1e-6", "1e-20"])
def test_closed_forms_keep_their_digits_as_rho_tends_to_minus_one(spec: str, n: int, gap: str) -> None:
    k = get_activation(spec).kernel
    with mpmath.workdps(70):
        rho = mpmath.mpf(-1) + mpmath.mpf(gap)
        want = _relu_power_quad(n, rho)
        got = k.value_mp(1, 1, rho, dps=50)
        assert abs(got - want) <= mpmath.mpf(10) ** -49 * abs(want)
        g = k.grad_mp(mpmath.mpf(2), mpmath.mpf(3), rho, dps=50)
        assert abs(g[0] - 6**n * want) <= mpmath.mpf(10) ** -49 * abs(6**n * want)
        assert abs(g[1] - n * 2 ** (n - 1) * 3**n * want) <= mpmath.mpf(10) ** -49 * abs(g[1])


@pytest.mark.slow
def test_piecewise_near_minus_one_float64_absolute_mp_relative() -> None:
    # float64 keeps the fast closed form there (the ball route is 20x slower in a search): its
    # error is absolute, below 1e-13 of the kernel's scale k(1, 1, 0); the mp value is relative.
    k = get_activation("relu_power:2").kernel
    scale = float(k.value(1.0, 1.0, 0.0))
    for gap in (1e-4, 1e-9, 1e-15):
        rho = -1 + gap  # the float; the reference at exactly that float
        with mpmath.workdps(60):
            want = _relu_power_quad(2, mpmath.mpf(rho))
        assert abs(k.value(1.0, 1.0, rho) - float(want)) <= 1e-13 * scale
        got = k.value_mp(mpmath.mpf(1), mpmath.mpf(1), mpmath.mpf(rho), dps=30)
        with mpmath.workdps(60):
            assert abs(got - want) <= mpmath.mpf(10) ** -29 * abs(want)


def test_numeric_float64_kernel_beyond_the_uniform_rule_matches_mp() -> None:
    # nu = 1e3 is beyond the float64 trapezoid (norm 16): the graded rule in float64 against the
    # mpmath graded rule at 20 digits (a second precision and arithmetic)
    k = get_activation("tanh").kernel
    got = float(k.value(1e3, 1.0, 0.5))
    want = k.value_mp(1e3, 1.0, 0.5, dps=20)
    assert abs(got - float(want)) <= 1e-12 * abs(float(want))


def test_numeric_kernel_refuses_non_finite_norms() -> None:
    k = get_activation("tanh").kernel
    with pytest.raises(CompverifyError, match="nu = nan"):
        k.value(float("nan"), 1.0, 0.5)
