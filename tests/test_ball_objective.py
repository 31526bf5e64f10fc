"""The objective summed in python-flint balls (``evaluate_ball``, ``self_term_ball``) against
independent computations: the mpmath sums at a second, higher precision, and central finite
differences of the ball value at high precision."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from compverify.numeric.arb_arrays import to_arb_array, to_mpf_array
from compverify.numeric.kernel_sums import cross_term_ball, cross_term_mp, self_term_ball, self_term_mp
from compverify.numeric.objective import Problem
from compverify.numeric.targets import isotropic
from compverify.symbolic import get_activation


def _max_diff(x, y):
    xs, ys = np.ravel(np.asarray(x, dtype=object)), np.ravel(np.asarray(y, dtype=object))
    return max(abs(mpmath.mpf(a) - mpmath.mpf(b)) for a, b in zip(xs, ys, strict=True))


def test_arb_conversions_are_exact():
    with mpmath.workdps(60):
        xs = [mpmath.mpf(1) / 3, mpmath.mpf(-2) ** -300, mpmath.mpf(7) * 2**80, 0.1, 0]
        back = to_mpf_array(to_arb_array(xs))
        assert all(a == mpmath.mpf(b) for a, b in zip(back, xs, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "abs"])
def test_self_and_cross_terms_match_mpmath_at_a_higher_precision(spec):
    kern = get_activation(spec).kernel
    rng = np.random.default_rng(3)
    M, d = 5, 4
    b, V = rng.standard_normal(M), rng.standard_normal((M, d))
    V[2] = -1.5 * V[0]  # an exactly antiparallel pair
    a, W = rng.standard_normal(6), rng.standard_normal((6, d))
    ref = self_term_mp(kern, b, V, order=2, dps=60)
    got = self_term_ball(kern, b, V, order=2, dps=30)
    same = self_term_mp(kern, b, V, order=2, dps=30)
    cref = cross_term_mp(kern, a, W, V, order=2, dps=60)
    cgot = cross_term_ball(kern, a, W, V, order=2, dps=30)
    with mpmath.workdps(60):
        # as accurate as the mpmath sums at the same precision (the antiparallel pair's second
        # derivatives lose digits in both), and to 30 digits elsewhere
        for x, y, z in zip(ref, got, same, strict=True):
            tol = max(mpmath.mpf(10) ** -30, 10 * _max_diff(x, z))
            assert _max_diff(x, to_mpf_array(np.asarray(y, dtype=object))) < tol
        for x, y in zip(cref, cgot, strict=True):
            assert _max_diff(x, to_mpf_array(y)) < mpmath.mpf(10) ** -30


def test_evaluate_ball_matches_mpmath_and_finite_differences():
    p = Problem("relu", isotropic(3, "relu"), 3)
    rng = np.random.default_rng(5)
    theta = np.concatenate([rng.standard_normal(3), rng.standard_normal(9)])
    ref = p.evaluate_mp(theta, 2, 50, arithmetic="mpmath")
    got = p.evaluate_mp(theta, 2, 30)  # balls: the default for a closed-form kernel
    with mpmath.workdps(50):
        tol = mpmath.mpf(10) ** -29
        assert abs(ref.value - got.value) < tol
        assert _max_diff(ref.grad, got.grad) < tol
        assert _max_diff(ref.hess, got.hess) < tol
        # the gradient is the derivative of the ball value: central differences, step 1e-12
        h = mpmath.mpf(10) ** -12
        for i in (0, 4, 11):
            up, dn = np.array(theta, dtype=object), np.array(theta, dtype=object)
            up[i] = mpmath.mpf(theta[i]) + h
            dn[i] = mpmath.mpf(theta[i]) - h
            hi, lo = (to_mpf_array(p.evaluate_ball(x, 0, 45).value) for x in (up, dn))
            assert abs((hi - lo) / (2 * h) - got.grad[i]) < mpmath.mpf(10) ** -20


def test_unknown_arithmetic_is_refused():
    from compverify.errors import CompverifyError

    p = Problem("relu", isotropic(2, "relu"), 1)
    with pytest.raises(CompverifyError, match="arithmetic"):
        p.evaluate_mp(np.array([1.0, 1.0, 0.0]), 1, 20, arithmetic="decimal")
