"""Matching roots re-solved independently at higher precision; certificates that must fail when wrong.

The re-solve uses ``mpmath.findroot`` (its own Newton, numerical Jacobian) at 60 digits on the
moments written by hand through Phi and phi; the copies are checked by quadrature of the indicators.
"""

import mpmath
import pytest

from compverify.numeric.lossless_matching import BinarySystem, hidden_system, last_system, solve_system
from compverify.numeric.lossless_moments import gaussian_moments
from compverify.proofs_check.lossless_certificates import analytic_bound, check_certificate, interval_bound


def _indicator_moments(s1, s2, b, tau):
    """``(d1, d2, d3)`` of ``b(1[x<s1] + 1[x>s2])`` by quadrature of the indicators."""
    ivs = [(-mpmath.inf, s1 / tau), (s2 / tau, mpmath.inf)]

    def E(f):
        return b * sum(mpmath.quad(lambda x: f(x) * mpmath.npdf(x), iv) for iv in ivs)
    d0 = E(lambda x: 1)
    e2 = E(lambda x: x * x - 1)
    return [E(lambda x: x) / tau, e2 / tau**2, (b - 2 * d0) * e2 / tau**2]


@pytest.fixture(scope="module")
def relu_hidden():
    m = gaussian_moments("relu", 1, dps=30)
    return m, solve_system(hidden_system(m), dps=30, starts=8, seed=1)


def test_relu_hidden_root_resolved_at_higher_precision(relu_hidden):
    m, sol = relu_hidden
    assert len(sol.roots) >= 1
    root = sol.roots[0]
    assert root.exact and root.digits >= 28
    with mpmath.workdps(60):
        target = [mpmath.mpf(1) / 2, 1 / mpmath.sqrt(2 * mpmath.pi),
                  1 - 1 / mpmath.pi]

        def F(s1, s2, b):  # hand-written through Phi and phi (independent of the SymPy forms)
            p1, p2 = mpmath.npdf(s1), mpmath.npdf(s2)
            d0 = b * (mpmath.ncdf(s1) + 1 - mpmath.ncdf(s2))
            d2 = b * (s2 * p2 - s1 * p1)
            return [b * (p2 - p1) - target[0], d2 - target[1], (b - 2 * d0) * d2 - target[2]]
        start = [mpmath.mpf(float(v)) for v in root.x]
        x = mpmath.findroot(F, start)
        for a, r in zip(x, root.x, strict=True):
            assert abs(a - r) < mpmath.mpf(10)**-27


def test_copies_solve_the_squared_system(relu_hidden):
    m, sol = relu_hidden
    v = m.values
    with mpmath.workdps(30):
        for copy in sol.roots[0].copies:
            d1, d2, d3 = _indicator_moments(*copy, mpmath.mpf(1))
            assert abs(d1**2 - v["d1"]**2) < 1e-20
            assert abs(d2**2 - v["d2"]**2) < 1e-20
            assert abs(d3 - v["d3"]) < 1e-20


def test_root_jacobian_singular_values_are_those_of_finite_differences(relu_hidden):
    _, sol = relu_hidden
    system = sol.system
    root = sol.roots[0]
    with mpmath.workdps(30):
        x = mpmath.matrix(root.x)
        h = mpmath.mpf(10)**-10
        cols = []
        for j in range(3):
            e = mpmath.matrix(3, 1)
            e[j] = h
            cols.append((system.residual_mp(x + e) - system.residual_mp(x - e)) / (2 * h))
        J = mpmath.matrix([[cols[j][i] for j in range(3)] for i in range(3)])
        sv = sorted(mpmath.svd_r(J, compute_uv=False), reverse=True)
        for a, b in zip(sv, root.singular_values, strict=True):
            assert abs(a - b) < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("spec,documented", [("erf", "0.0181"), ("tanh", "0.0173")])
def test_odd_activation_hidden_layer_has_analytic_certificate(spec, documented):
    """The bound of docs/lossless.md (first layer, tau0 = 1, |b| <= 20); tanh's moments come
    from quadrature, so its bound also carries their error estimates."""
    m = gaussian_moments(spec, 1, dps=30)
    assert abs(m.values["d2"]) <= m.error["d2"] and m.values["d3"] > 0
    cert = analytic_bound(m.values["d2"], m.values["d3"], 20.0, float(m.error["d2"]),
                          float(m.error["d3"]))
    assert cert["proved"]
    bound = mpmath.mpf(cert["bound"])
    assert mpmath.nstr(bound, 3) == documented
    # the bound is true: over random points with |b| <= 20 the residual is never below it
    system = hidden_system(m)
    import numpy as np
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = np.sort(rng.uniform(-6, 6, 2))
        b = rng.uniform(-20, 20)
        F = system.residual([s[0], s[1], b])
        assert max(abs(F[1]), abs(F[2])) >= float(bound) * (1 - 1e-9)


def test_analytic_bound_refuses_when_it_does_not_hold():
    m = gaussian_moments("relu", 1, dps=30)  # |d3| < B |d2|: no conclusion
    assert not analytic_bound(m.values["d2"], m.values["d3"], 20.0)["proved"]


def _small_last_system():
    m = gaussian_moments("relu", "0.5838193701035489", dps=30)
    full = last_system(m, 1)
    return BinarySystem(full.kind, full.tau, full.equations, full.targets, full.b,
                        ((0.1, 0.4), (0.5, 0.9), (1.0, 1.6)), "piece")


def test_interval_certificate_checks_and_fails_when_tampered():
    system = _small_last_system()
    cert = interval_bound(system, max_pieces=3000)
    assert cert["proved"]
    assert check_certificate(cert)
    # the bound is a true lower bound of max |F| at sample points of the box
    import numpy as np
    rng = np.random.default_rng(1)
    pts = rng.uniform([0.1, 0.5, 1.0], [0.4, 0.9, 1.6], size=(100, 3))
    assert min(np.max(np.abs(system.residual(x))) for x in pts) >= float(cert["bound"])
    wrong = dict(cert, bound=str(10 * float(max(np.max(np.abs(system.residual(x))) for x in pts))))
    assert not check_certificate(wrong)
    missing = dict(cert, _pieces=cert["_pieces"][1:])
    assert not check_certificate(missing)


@pytest.mark.slow
def test_last_layer_relu_has_no_root_and_positive_least_squares_residual():
    m = gaussian_moments("relu", "0.5838193701035489", dps=20)
    sol = solve_system(last_system(m, 1), dps=20, starts=6, seed=0)
    assert not sol.roots
    assert sol.least_squares is not None and sol.least_squares.residual > mpmath.mpf("0.01")
