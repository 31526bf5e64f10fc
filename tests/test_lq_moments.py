"""E|w|^p of the weight laws against quadrature at a second precision; the PQ index's population
limit against seeded samples (delta-method tolerance computed here, independently)."""

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.symbolic.lq_moments import (
    abs_moment_mp,
    get_law,
    population_one_minus_index,
)


def _density(spec):
    """Densities written here from their textbook definitions (not the module's SymPy ones)."""
    if spec == "gaussian":
        return lambda x: mpmath.npdf(x)
    if spec == "laplace":
        return lambda x: mpmath.exp(-abs(x)) / 2
    if spec.startswith("student-t:"):
        nu = mpmath.mpf(spec.split(":")[1])
        c = mpmath.gamma((nu + 1) / 2) / (mpmath.sqrt(nu * mpmath.pi) * mpmath.gamma(nu / 2))
        return lambda x: c * (1 + x * x / nu) ** (-(nu + 1) / 2)
    raise AssertionError(spec)


def _quad_moment(spec, p, dps):
    """E|w|^p by mpmath quadrature (or the atoms' finite sum) at ``dps`` digits."""
    with mpmath.workdps(dps):
        pm = mpmath.mpf(p)
        if spec == "uniform":
            return mpmath.quad(lambda x: abs(x) ** pm / 2, [-1, 0, 1])
        if spec == "rademacher":
            return (abs(mpmath.mpf(-1)) ** pm + abs(mpmath.mpf(1)) ** pm) / 2
        if spec.startswith("bernoulli-gaussian:"):
            pi = mpmath.mpf(spec.split(":")[1])
            g = 2 * mpmath.quad(lambda x: x ** pm * mpmath.npdf(x), [0, mpmath.inf])
            return (1 - pi) * 0 + pi * g
        f = _density(spec)
        return 2 * mpmath.quad(lambda x: x ** pm * f(x), [0, 1, mpmath.inf])


LAWS = ["gaussian", "laplace", "uniform", "rademacher", "student-t:3", "student-t:5/2",
        "bernoulli-gaussian:0.1"]


@pytest.mark.parametrize("spec", LAWS)
@pytest.mark.parametrize("p", ["0.5", "1", "1.5", "0.25"])
def test_abs_moment_matches_quadrature_at_a_second_precision(spec, p):
    value = abs_moment_mp(spec, p, 30)
    ref = _quad_moment(spec, p, 45)
    with mpmath.workdps(45):
        assert abs(value - ref) <= mpmath.mpf(10) ** -27 * abs(ref)


def test_student_t_needs_nu_above_p():
    with pytest.raises(CompverifyError, match="infinite"):
        abs_moment_mp("student-t:3", "3", 20)
    with pytest.raises(CompverifyError, match="NU > 0"):
        get_law("student-t:-1")
    with pytest.raises(CompverifyError, match="PI in"):
        get_law("bernoulli-gaussian:1.5")
    with pytest.raises(CompverifyError, match="unknown law"):
        get_law("cauchy")


def test_population_limit_is_verified_at_two_precisions():
    r = population_one_minus_index("laplace", "0.5", "1", dps=40)
    # (Gamma(3/2))^2 / Gamma(2) = pi/4, checked here with mpmath's own constant
    with mpmath.workdps(40):
        assert abs(r.value - mpmath.pi / 4) < mpmath.mpf(10) ** -38
    assert r.verified_digits >= 38
    d = r.to_dict()
    assert d["population_one_minus_index"].startswith("0.78539816339744830961566084581987")
    assert {d["law"], d["p"], d["q"], d["dps"]} == {"laplace", "0.5", "1", 40}


@pytest.mark.parametrize("spec", ["gaussian", "laplace", "student-t:5", "bernoulli-gaussian:0.3"])
def test_finite_n_pq_index_converges_to_the_population_limit(spec):
    """1 - I of n draws: within 5 delta-method standard errors of the limit at n = 2e5, and the
    error at n = 2e5 is smaller than the typical error at n = 200 (1/sqrt(n) shrinking)."""
    p, q = 0.5, 1.0
    limit = float(population_one_minus_index(spec, "0.5", "1", dps=20).value)
    law = get_law(spec)
    rng = np.random.default_rng(7)

    def one_minus(w):
        n = w.size
        a = np.abs(w)
        return n ** (1 / q - 1 / p) * np.sum(a ** p) ** (1 / p) / np.sum(a ** q) ** (1 / q)

    w = law.sample(200_000, rng)
    a = np.abs(w)
    mp_, mq = np.mean(a ** p), np.mean(a ** q)
    g = mp_ ** (1 / p) / mq ** (1 / q)
    grad = np.array([g / (p * mp_), -g / (q * mq)])
    se = np.sqrt(grad @ np.cov(np.vstack([a ** p, a ** q])) @ grad / w.size)
    assert abs(one_minus(w) - limit) < 5 * se
    small = [abs(one_minus(law.sample(200, rng)) - limit) for _ in range(50)]
    assert abs(one_minus(w) - limit) < np.median(small)
