"""The product Gauss rule for Gaussian targets with smooth activations."""

from __future__ import annotations

import numpy as np
import pytest
from target_checks import check_derivatives, check_mp_matches_float

from compverify.numeric.gauss_rule import GaussRuleTarget
from compverify.numeric.objective import Problem
from compverify.numeric.sampled import InputRuleTarget
from compverify.numeric.solver import solve
from compverify.numeric.targets import from_options

SMALL = (48, 24)


@pytest.mark.parametrize("spec,mean", [("tanh", [0.3, 0.1, -0.2]), ("gelu", None),
                                       ("silu", [0.2, 0.2, 0.2])])
@pytest.mark.slow
def test_against_quasi_monte_carlo_over_the_inputs(spec, mean, rng):
    """An independent estimator (scrambled Sobol over x) agrees within its own 99% error."""
    t = GaussRuleTarget(spec, 3, mean=mean, nodes=SMALL)
    q = InputRuleTarget(spec, 3, mean=mean, points=2048, replicates=8, seed=3)
    V = rng.standard_normal((4, 3))
    assert np.all(np.abs(t.h(V) - q.h(V)) <= 1.5 * q.h_error(V) + t.h_error(V))
    assert abs(t.C() - q.C()) <= 1.5 * q.C_error() + t.C_error()


@pytest.mark.parametrize("spec", ["tanh", "gelu", "erf"])
def test_error_estimate_bounds_the_actual_error(spec, rng):
    """The estimate (coarse vs fine rule) is at least the fine rule's distance to a much finer one."""
    mean = [0.4, -0.3]
    t = GaussRuleTarget(spec, 2, mean=mean, nodes=SMALL)
    ref = GaussRuleTarget(spec, 2, mean=mean, nodes=(160, 8))
    V = rng.standard_normal((6, 2))
    assert np.all(np.abs(t.h(V) - ref.h(V)) <= t.h_error(V))
    assert np.max(t.h_error(V)) < 1e-3  # a small rule; the default (96 nodes) is near 1e-9
    assert abs(t.C() - ref.C()) <= t.C_error()


@pytest.mark.slow
@pytest.mark.parametrize("d", [1, 2, 4])
def test_derivatives_mp_and_the_axis(d, rng):
    t = GaussRuleTarget("gelu", d, mean=np.linspace(0.3, -0.2, d), nodes=(24, 12))
    V = rng.standard_normal((2, d))
    V = np.vstack([V, 0.7 * t.axis])  # a row along the mean: c = 0
    check_derivatives(t, V, atol_g=1e-8, atol_H=1e-6)
    check_mp_matches_float(t, V, rtol=(1e-13, 1e-11, 1e-10))


@pytest.mark.slow
def test_routes_and_solve_caps_digits():
    t = from_options("isotropic", d=2, mean=None, scale=None, activation="gelu")
    assert isinstance(t.float_rule, GaussRuleTarget)  # the float64 search runs on the Gauss rule
    # erf: its student kernel is closed form (gelu's is numeric, slow in mpmath)
    res = solve(Problem("erf", GaussRuleTarget("erf", 2, mean=[0.3, 0.0], nodes=(64, 8)), 2),
                restarts=2, seed=0, dps=20)
    ev = res.evidence
    assert ev.rule_error is not None
    assert 3 <= ev.verified_digits <= ev.rule_digits <= 16


def test_bad_inputs():
    from compverify.errors import CompverifyError

    with pytest.raises(CompverifyError, match="mean must have d = 3"):
        GaussRuleTarget("tanh", 3, mean=[0.1, 0.2])
    with pytest.raises(CompverifyError, match="nodes"):
        GaussRuleTarget("tanh", 3, nodes=(2, 8))
    with pytest.raises(CompverifyError, match="scale"):
        GaussRuleTarget("tanh", 3, scale=-1)
    t = GaussRuleTarget("tanh", 2, mean=[0.1, 0.0], nodes=(16, 4))
    with pytest.raises(CompverifyError, match="d = 2 columns"):
        t.h(np.zeros((1, 3)))
