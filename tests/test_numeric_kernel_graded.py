"""Numeric kernels (tanh, sigmoid, SiLU) where the uniform rules cannot go: large norms, rho near
+-1, in float64 and in mpmath, against independent computations (composite Gauss-Legendre,
the kernels' limits at extreme norms, Taylor expansions at tiny norms, the uniform mpmath rule,
a second precision)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.symbolic import get_activation
from compverify.symbolic.kernel import NUMERIC_FLOAT64_MAX_NORM

SQ2PI = math.sqrt(2 * math.pi)


def _breaks(c: float, w: float) -> np.ndarray:
    """``c`` and ``c +- w 4^j`` inside ``[-9, 9]``, with the ends."""
    pts = {-9.0, 9.0}
    if -9 < c < 9:
        pts.add(c)
    j = 0
    while w * 4.0**j < 18:
        pts.update(p for p in (c - w * 4.0**j, c + w * 4.0**j) if -9 < p < 9)
        j += 1
    return np.array(sorted(pts))


_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)


def _composite(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of 40-point Gauss-Legendre on each interval between the breaks."""
    lo, hi = breaks[:-1, None], breaks[1:, None]
    return ((hi + lo) / 2 + (hi - lo) / 2 * _GL_X).ravel(), ((hi - lo) / 2 * _GL_W).ravel()


def _nested_gauss_legendre(spec: str, a: float, b: float, r: float) -> float:
    """``E[sigma(a z1) sigma(b (r z1 + s z2))]`` by composite Gauss-Legendre on ``[-9, 9]^2``
    (a different rule from the kernels'), with intervals graded geometrically (ratio 4) towards
    ``z1 = 0`` (scale ``1/max(a, b |r|)``) and, at each ``z1``, towards the crossing
    ``z2 = -r z1 / s`` (scale ``1/(b s)``)."""
    f = get_activation(spec).numpy
    s = math.sqrt(1 - r * r)
    z1, w1 = _composite(_breaks(0.0, 1 / max(a, b * abs(r), 1.0)))
    total = 0.0
    for x, w in zip(z1, w1, strict=True):
        z2, w2 = _composite(_breaks(-r * x / s, 1 / max(b * s, 1.0)))
        inner = np.sum(w2 * np.asarray(f(b * (r * x + s * z2))) * np.exp(-z2 * z2 / 2))
        total += w * float(f(a * x)) * math.exp(-x * x / 2) * inner
    return total / (2 * math.pi)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "a", "b", "r"), [("tanh", 40.0, 30.0, 0.6),
                                                   ("sigmoid", 25.0, 60.0, -0.8),
                                                   ("silu", 30.0, 20.0, 0.3)])
def test_float64_beyond_the_uniform_rule_matches_gauss_legendre(spec: str, a: float, b: float,
                                                       r: float) -> None:
    assert max(a, b) > NUMERIC_FLOAT64_MAX_NORM
    got = float(get_activation(spec).kernel.value(a, b, r))
    want = _nested_gauss_legendre(spec, a, b, r)
    assert abs(got - want) <= 1e-9 * abs(want)


def _limit(spec: str, a: float, b: float, r: float) -> float:
    """The kernel as both norms tend to infinity: sigma(n z) tends to sign(z) (tanh), the step
    (sigmoid), n relu(z) (SiLU), with relative corrections O(1/n)."""
    if spec == "tanh":
        return 2 / math.pi * math.asin(r)
    if spec == "sigmoid":
        return 0.25 + math.asin(r) / (2 * math.pi)
    return a * b * (math.sqrt(1 - r * r) + (math.pi - math.acos(r)) * r) / (2 * math.pi)


def _taylor(spec: str, a: float, b: float, r: float) -> float:
    """The kernel at tiny norms from sigma's Taylor series (relative error O(norm^2))."""
    if spec == "tanh":
        return a * b * r
    if spec == "sigmoid":
        return 0.25 + a * b * r / 16
    return a * b * r / 4 + a * a * b * b * (1 + 2 * r * r) / 16


RHOS = [-1.0, -1 + 1e-12, -0.6, 0.0, 0.3, 0.999999, 1.0]


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["tanh", "sigmoid", "silu"])
def test_float64_grid_of_extreme_norms(spec: str) -> None:
    k = get_activation(spec).kernel
    for r in RHOS:
        for n in (1e-300, 1e-8):
            want = _taylor(spec, n, n, r)
            got = float(k.value(n, n, r))
            # relative, or absolute against the size E|sigma(X) sigma(Y)| where the value cancels
            size = 0.25 if spec == "sigmoid" else n * n
            assert abs(got - want) <= 1e-12 * max(abs(want), 1e-3 * size), (n, r)
        for n in (1e8, 1e300):
            if spec != "tanh" and n > 1e150 and r == -1:
                # sigma(n X) sigma(-n X) lives on |X| < 1e-300: below what the rule resolves
                with pytest.raises(CompverifyError, match=r"1(\.0)?e\+300.*(did not reach|underflows)"):
                    k.value(n, n, r)
                continue
            if spec == "silu" and n > 1e150:
                with pytest.raises(CompverifyError, match="beyond the float64 range"):
                    k.value(n, n, r)
                continue
            want = _limit(spec, n, n, r)
            got = float(k.value(n, n, r))
            # the limit's corrections are O(1/n) relative to the kernel's size (1 or n^2); where
            # the value cancels (tanh at rho = 0) the error is absolute, 1e-15 of that size
            size = n * n if spec == "silu" else 1.0
            assert abs(got - want) <= 1e-7 * abs(want) + size * max(1 / n, 1e-15), (n, r)
    # one huge norm and one tiny: sigma(a X) tends to its limit, sigma(b Y) to its linear term
    a, b, r = 1e300, 1e-300, 0.5
    got = float(k.value(a, b, r))
    want = {"tanh": b * r * math.sqrt(2 / math.pi),  # E[sign(X) b Y]
            "sigmoid": 0.25 + b * r / (4 * SQ2PI),  # E[1{X > 0} (1/2 + b Y / 4)]
            "silu": a * b * r / 4}[spec]  # E[a relu(X) b Y / 2]
    assert abs(got - want) <= 1e-9 * abs(want)


def test_float64_extreme_norms_quick() -> None:
    k = get_activation("tanh").kernel
    got = k.value(np.array([1e300, 1e-150, 1e8]), np.array([1e300, 1e-150, 1e-8]), -0.7)
    assert abs(got[0] - _limit("tanh", 1e300, 1e300, -0.7)) <= 1e-12
    want = _taylor("tanh", 1e-150, 1e-150, -0.7)
    assert want != 0 and abs(got[1] - want) <= 1e-12 * abs(want)
    want = -0.7e-8 * math.sqrt(2 / math.pi)  # E[sign(X) 1e-8 Y]
    assert abs(got[2] - want) <= 1e-7 * abs(want)
    with pytest.raises(CompverifyError, match=r"1e\+300.*beyond the float64 range"):
        get_activation("silu").kernel.value(1e300, 1e300, 0.5)


def test_float64_graded_gradient_and_hessian_match_the_uniform_rule() -> None:
    # at moderate norms both float64 rules apply: the graded one against the uniform trapezoid
    for spec in ("tanh", "silu"):
        q = get_activation(spec).kernel._quad
        a, b, r = 3.0, 2.0, 0.4
        want = [float(v) for v in q.numpy(np.array(a), np.array(b), np.array(r), 2)]
        got = q._graded_float64(a, b, r, 2)
        size = max(abs(y) for y in want)  # the uniform rule's error is absolute
        for x, y in zip(got, want, strict=True):
            assert abs(x - y) <= 1e-12 * size


def test_float64_gradient_beyond_16_against_finite_differences() -> None:
    k = get_activation("sigmoid").kernel
    a, b, r = 40.0, 30.0, 0.2
    g = k.grad(a, b, r)
    for i, d in enumerate(((1e-3, 0, 0), (0, 1e-3, 0), (0, 0, 1e-4))):
        hi = float(k.value(a + d[0], b + d[1], r + d[2]))
        lo = float(k.value(a - d[0], b - d[1], r - d[2]))
        fd = (hi - lo) / (2 * sum(d))
        assert abs(float(g[i + 1]) - fd) <= 1e-5 * abs(fd) + 1e-9


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "order"), [("tanh", 2), ("sigmoid", 0), ("silu", 1)])
def test_mp_graded_rule_matches_the_uniform_rule_to_the_digits_asked(spec: str, order: int) -> None:
    q = get_activation(spec).kernel._quad
    a, b, r = mpmath.mpf(3), mpmath.mpf(2), mpmath.mpf("0.4")
    with mpmath.workdps(25):  # 15 digits asked (10 guard digits)
        uniform = q.mp(a, b, r, order)
        graded = q.mp_graded(a, b, r, order)
        for x, y in zip(graded, uniform, strict=True):
            assert abs(x - y) <= mpmath.mpf(10) ** -15 * abs(y)


@pytest.mark.slow
def test_mp_hard_point_two_precisions_and_gauss_legendre() -> None:
    # tanh(10, 10, 0.5): the uniform rule would need 2487 x 2155 nodes at 30 digits
    k = get_activation("tanh").kernel
    with mpmath.workdps(40):
        v20 = k.value_mp(10, 10, 0.5, dps=20)
        v30 = k.value_mp(10, 10, 0.5, dps=30)
        assert abs(v20 - v30) <= mpmath.mpf(10) ** -20 * abs(v30)
    assert abs(float(v30) - _nested_gauss_legendre("tanh", 10.0, 10.0, 0.5)) <= 1e-10


@pytest.mark.slow
def test_mp_near_rho_minus_one_and_at_it() -> None:
    # rho = -1 + 1e-12: s = sqrt(1 - rho^2) ~ 1.4e-6 computed from the exact rho; the value is
    # within O(s) of the one-dimensional limit at rho = -1, and two precisions agree
    k = get_activation("silu").kernel
    with mpmath.workdps(40):
        rho = mpmath.mpf(-1) + mpmath.mpf(10) ** -12
        near20 = k.value_mp(300, 200, rho, dps=20)
        near25 = k.value_mp(300, 200, rho, dps=25)
        at = k.value_mp(300, 200, -1, dps=20)
        assert abs(near20 - near25) <= mpmath.mpf(10) ** -20 * abs(near25)
        assert abs(near20 - at) <= 1e-4 * abs(at)

