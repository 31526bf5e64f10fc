"""The PQ index and the retained-count claim, checked by brute force over all subsets."""

import math

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.numeric.pq_index import row_sparsity, sparsity, sparsity_mp


def _index_direct(w, p, q):
    n = len(w)
    lp = sum(abs(x) ** p for x in w) ** (1 / p)
    lq = sum(abs(x) ** q for x in w) ** (1 / q)
    return 1 - n ** (1 / q - 1 / p) * lp / lq


def _least_admissible(w, p, eta):
    """min |S| over all S with ||w_{S^c}||_p^p <= eta ||w_S||_p^p (brute force, 2^n subsets)."""
    n = len(w)
    a = [abs(x) ** p for x in w]
    best = n
    for mask in range(1 << n):
        s_in = sum(a[i] for i in range(n) if mask >> i & 1)
        s_out = sum(a[i] for i in range(n) if not mask >> i & 1)
        if s_out <= eta * s_in * (1 + 1e-12) and bin(mask).count("1") < best:
            best = bin(mask).count("1")
    return best


CASES = [(0.5, 1.0, 0.0), (0.5, 1.0, 0.1), (0.3, 0.8, 0.0), (0.25, 1.5, 0.5), (1.0, 2.0, 0.05)]


@pytest.mark.parametrize("p,q,eta", CASES)
def test_retained_count_claim_by_brute_force(p, q, eta):
    rng = np.random.default_rng(3)
    tight = 0
    for trial in range(40):
        n = int(rng.integers(1, 10))
        kind = trial % 4
        if kind == 0:
            w = rng.standard_normal(n)
        elif kind == 1:
            w = rng.standard_normal(n) * (rng.random(n) < 0.4)
            if not w.any():
                w[0] = 1.0
        elif kind == 2:
            w = np.round(rng.standard_normal(n), 1) + 0.0  # ties
            if not w.any():
                w[0] = 0.5
        else:
            w = rng.laplace(size=n) ** 3
        s = sparsity(w, str(p), str(q), str(eta))
        least = _least_admissible(w, p, eta)
        assert least >= s.retained_bound, (w, least, s)
        assert 0 <= s.retained_bound <= n
        tight += least == s.retained_bound
    assert tight > 0  # the bound is attained on some vectors: it is not vacuous


def test_index_range_and_extremes():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        w = rng.standard_normal(n)
        s = sparsity(w, "0.5", "1")
        assert -1e-14 <= s.pq_index <= 1 - n ** (1 - 2) + 1e-14
        assert s.pq_index == pytest.approx(_index_direct(w, 0.5, 1.0), abs=1e-13)
    eq = sparsity(np.full(7, -2.5), "0.5", "1")
    assert abs(eq.pq_index) < 1e-14 and eq.retained_bound == 7
    one = sparsity(np.array([0, 0, 4.0, 0, 0]), "0.5", "1")
    assert one.pq_index == pytest.approx(1 - 5 ** (1 - 2), abs=1e-15)
    assert one.retained_bound == 1
    empty = row_sparsity(np.ones((1, 3)), np.zeros((1, 3), bool), "0.5", "1")
    assert empty[1][0] == 0 and empty[3][0] == 0


def test_mpmath_agrees_with_float64_and_direct_formula():
    rng = np.random.default_rng(9)
    w = rng.standard_normal(25)
    f = sparsity(w, "0.5", "1", "0.2")
    m = sparsity_mp(w, "0.5", "1", "0.2", dps=40)
    assert m.verified_digits >= 39
    assert float(m.pq_index) == pytest.approx(f.pq_index, rel=1e-12)
    assert m.retained_bound == f.retained_bound
    with mpmath.workdps(50):
        vals = [mpmath.mpf(x) for x in w]
        lp = mpmath.fsum(abs(x) ** 0.5 for x in vals) ** 2
        lq = mpmath.fsum(abs(x) for x in vals)
        om = mpmath.mpf(25) ** (1 - 2) * lp / lq
        x = 25 * (mpmath.mpf("1.2")) ** (mpmath.mpf(1) / (mpmath.mpf("0.5") - 1)) * om ** 1
        assert abs(m.one_minus_index - om) < mpmath.mpf(10) ** -38
        assert abs(m.retained_real - x) < mpmath.mpf(10) ** -36
        assert m.retained_bound == min(25, int(mpmath.ceil(x)))


def test_ceil_near_an_integer_is_taken_exactly():
    # equal magnitudes: x = n exactly, float64 could land on n + 1e-15 and round up to n + 1
    for n in range(1, 30):
        s = sparsity(np.full(n, 0.1), "0.3", "0.7")
        assert s.retained_bound == n
        assert math.isclose(s.retained_real, n, rel_tol=1e-12)


@pytest.mark.parametrize("p,q,eta,msg", [("1", "1", "0", "p must be < q"),
                                         ("0", "1", "0", "p must be > 0"),
                                         ("-0.5", "1", "0", "p must be > 0"),
                                         ("0.5", "1", "-1", "eta must be >= 0"),
                                         ("x", "1", "0", "p must be a real number")])
def test_bad_exponents(p, q, eta, msg):
    with pytest.raises(CompverifyError, match=msg):
        sparsity(np.ones(3), p, q, eta)


def test_brute_force_helper_is_exhaustive():
    # the helper sees every subset: with eta = 0 and no zeros the only admissible S is everything
    assert _least_admissible([1.0, 2.0, 3.0], 0.5, 0.0) == 3
    assert _least_admissible([1.0, 0.0, 0.0], 0.5, 0.0) == 1
