"""Gaussian weights on the spectral rule: a mean vector by reflection, exact scale, the routing of
smooth activations (float64 search on the Gauss rule, multiprecision on the spectral rule), and
the solver at a fixed point of the rotations about the mean."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from compverify.numeric.gauss_rule import GaussRuleTarget
from compverify.numeric.objective import Problem
from compverify.numeric.solver import _orth, solve
from compverify.numeric.spectral import GaussianSpectralTarget, SpectralTarget
from compverify.numeric.targets import from_options

V3 = np.array([[0.5, -0.2, 0.4], [1.2, 0.3, -0.7]])


@pytest.mark.slow
@pytest.mark.parametrize("mean,scale", [("0.3,0.1,-0.4", None), ("0.3", "0.6")])
def test_mean_vector_matches_the_series_route(mean, scale):
    """relu_power:2 with a (non-dyadic) mean: the spectral rule (rotated frame, finer rule) and the
    series in the mean (meanfield_series), two independent routes, at 30 digits.  Before the
    series read the mean as shortest decimals while its other terms used the floats (1e-17)."""
    ref = from_options("gaussian", d=3, mean=mean, scale=scale, activation="relu_power:2")
    mu = np.array([float(x) for x in mean.split(",")] * (3 if "," not in mean else 1))
    t = SpectralTarget("relu_power:2", 3, "gaussian", mean=mu, scale=scale)
    assert (t.rotation is not None) == ("," in mean)
    with mpmath.workdps(40):
        got, want = t.finer().h_mp(V3[:1], 30), ref.h_mp(V3[:1], 40)
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < mpmath.mpf(10) ** -29
        g, gw = t.h_grad_mp(V3[1:], 25), ref.h_grad_mp(V3[1:], 40)
        assert max(abs(a - b) for a, b in zip(g.ravel(), gw.ravel(), strict=True)) < 1e-15
    assert np.abs(t.h_hess(V3) - ref.h_hess(V3)).max() < 1e-11


@pytest.mark.slow
def test_rotated_frame_against_the_gauss_rule():
    mu = np.array([0.3, -0.1, 0.2])
    t = SpectralTarget("sigmoid", 3, "gaussian", mean=mu)
    g = GaussRuleTarget("sigmoid", 3, mean=mu)
    assert np.abs(t.h(V3) - g.h(V3)).max() < 1e-14
    assert np.abs(t.h_grad(V3) - g.h_grad(V3)).max() < 1e-14
    assert np.abs(t.h_hess(V3) - g.h_hess(V3)).max() < 1e-13
    assert abs(t.C() - g.C()) < 1e-13
    with pytest.raises(Exception, match="mean vector"):
        SpectralTarget("relu", 3, "uniform", mean=mu)


@pytest.mark.slow
def test_one_dimensional_tanh_against_adaptive_quadrature():
    """d = 1: ``h(v) = E_u E_z tanh(u z) tanh(v z)``, ``u ~ N(1/4, 1/4)``, by a 2-D mpmath quad."""
    with mpmath.workdps(25):
        m, s, v = mpmath.mpf(0.25), mpmath.mpf(0.5), mpmath.mpf(0.75)

        def f(u, z):
            return (mpmath.tanh(u * z) * mpmath.tanh(v * z)
                    * mpmath.exp(-((u - m) / s) ** 2 / 2 - z * z / 2) / (2 * mpmath.pi * s))

        ref = mpmath.quad(f, [-mpmath.inf, m, mpmath.inf], [-mpmath.inf, 0, mpmath.inf])
    t = SpectralTarget("tanh", 1, "gaussian", mean=np.array([0.25]), scale=0.5)
    h, _, est = t.finer().h_grad_estimate_mp(np.array([[0.75]]), 25)
    assert abs(h[0] - ref) < mpmath.mpf(10) ** -23 and abs(h[0] - ref) <= est[0] + 1e-24


@pytest.mark.slow
def test_routing_of_smooth_activations():
    t = from_options("isotropic", d=2, mean=None, scale=None, activation="gelu")
    assert isinstance(t, GaussianSpectralTarget) and t.rotation_invariant
    g = from_options("gaussian", d=3, mean="0.2,0.1,0", scale=None, activation="tanh")
    assert isinstance(g, GaussianSpectralTarget) and not g.rotation_invariant
    assert np.array_equal(g.h(V3), g.float_rule.h(V3))           # float64: the Gauss rule
    assert np.all(g.loss_error(np.ones(2), V3) < 1e-8)            # the spectral rule's estimate
    assert np.abs(g.h_mp(V3, 20) - g.float_rule.h(V3)).max() < 1e-8


def test_orth_drops_tangents_at_a_fixed_point():
    theta = np.array([0.4, 0.3, 0.3, 0.3])
    noise = np.array([[0.0], [1e-17], [-2e-17], [1e-17]])   # a rotation about the mean at v || mean
    assert _orth(noise, float(np.linalg.norm(theta))).shape[1] == 0
    real = np.array([[0.0], [1e-3], [-2e-3], [1e-3]])
    assert _orth(real, float(np.linalg.norm(theta))).shape[1] == 1


@pytest.mark.slow
def test_solve_at_a_fixed_point_of_the_symmetry():
    """tanh, mean 0.2 (1, 1, 1), M = 1: the optimal direction is the mean's, fixed by the rotations
    about it.  Newton converges (it stalled at |grad| ~ 1e-18 when the zero tangent was kept as a
    symmetry), and the spectral rule carries the digits (the Gauss rule allowed 5)."""
    t = from_options("gaussian", d=3, mean="0.2", scale=None, activation="tanh")
    res = solve(Problem("tanh", t, 1), restarts=2, seed=0, dps=24)
    ev = res.evidence
    assert ev.newton_converged and ev.symmetry_null_dim == 0
    assert ev.status.startswith("strict local minimum")
    assert ev.verified_digits >= 18
