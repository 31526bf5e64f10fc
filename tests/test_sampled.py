"""Quadrature-rule targets: against exact targets and joint Monte Carlo; honest error estimates."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
from target_checks import check_derivatives, check_mp_matches_float

from compverify.cli import main
from compverify.numeric.objective import Problem
from compverify.numeric.sampled import InputRuleTarget, WeightRuleTarget
from compverify.numeric.solver import solve
from compverify.numeric.targets import GaussianTarget, RademacherTarget, from_options


def _joint_mc(act, target, V, n, rng):
    """E_{w,x}[sigma(<w,x>) sigma(<v,x>)] by plain Monte Carlo over weights and inputs together."""
    out = []
    X = rng.standard_normal((n, target.d))
    W = target.sample(n, int(rng.integers(1 << 30))).W
    s_wx = act.numpy(np.sum(W * X, axis=1))
    for v in V:
        y = s_wx * act.numpy(X @ v)
        out.append((y.mean(), y.std() / math.sqrt(n)))
    return out


def _covered(est, err, ref, ref_err=0.0, slack=1.5):
    return abs(est - ref) <= slack * err + 5 * ref_err


def test_weight_rule_error_estimate_is_honest_against_the_exact_sum(rng):
    """d = 10 Rademacher: the sampled rule vs the exact 2^10 sum, at 12 directions."""
    act_spec, d = "relu", 10
    exact = RademacherTarget(act_spec, d, mean=0.1)
    rule = WeightRuleTarget(act_spec, d, "rademacher", mean=0.1, points=256, replicates=8)
    V = rng.standard_normal((12, d))
    h, err, ref = rule.h(V), rule.h_error(V), exact.h(V)
    assert np.all(err > 0)
    covered = sum(_covered(a, e, r) for a, e, r in zip(h, err, ref, strict=True))
    assert covered >= 11  # a 99% half-width, with slack 1.5
    assert np.max(np.abs(h - ref)) < 1e-2
    assert _covered(rule.C(), rule.C_error(), exact.C())


def test_input_rule_error_estimate_is_honest_against_the_closed_form(rng):
    """ReLU with a mean: the input rule vs the series (exact to 30 digits)."""
    d, mu = 3, np.array([0.2, -0.1, 0.3])
    exact = GaussianTarget("relu", d, mean=mu)
    rule = InputRuleTarget("relu", d, mean=mu, points=1024, replicates=8)
    V = rng.standard_normal((10, d))
    h, err, ref = rule.h(V), rule.h_error(V), exact.h(V)
    assert sum(_covered(a, e, r) for a, e, r in zip(h, err, ref, strict=True)) >= 9
    assert _covered(rule.C(), rule.C_error(), exact.C())


@pytest.mark.parametrize("spec,target,mean,d", [("tanh", "gaussian", "0.3", 3),
                                                ("gelu", "isotropic", None, 3),
                                                ("relu", "iid:uniform", "0.1", 3),
                                                ("abs", "iid:rademacher", "0.1", 14)])
@pytest.mark.slow
def test_rules_against_joint_monte_carlo(spec, target, mean, d, rng):
    t = from_options(target, d=d, mean=mean, scale=None, activation=spec)
    assert hasattr(t, "loss_error")
    V = rng.standard_normal((2, d))
    for est, err, (ref, se) in zip(t.h(V), t.h_error(V), _joint_mc(t.activation, t, V, 1_000_000, rng),
                                   strict=True):
        assert _covered(est, err, ref, se)


def test_rule_derivatives_and_mp_path(rng):
    for t in (InputRuleTarget("gelu", 2, mean=[0.3, 0.1], points=64, replicates=2),
              WeightRuleTarget("relu", 2, "uniform", mean=0.2, points=64, replicates=2)):
        V = rng.standard_normal((2, 2))
        check_derivatives(t, V, atol_g=1e-8, atol_H=1e-7)
        check_mp_matches_float(t, V)


def test_same_seed_same_rule_and_bad_rule_options():
    a = WeightRuleTarget("relu", 3, "uniform", points=64, replicates=3, seed=7)
    b = WeightRuleTarget("relu", 3, "uniform", points=64, replicates=3, seed=7)
    assert np.array_equal(a.W, b.W)
    from compverify.errors import CompverifyError

    with pytest.raises(CompverifyError, match="power of 2"):
        WeightRuleTarget("relu", 3, "uniform", points=100)
    with pytest.raises(CompverifyError, match="replicates"):
        WeightRuleTarget("relu", 3, "uniform", replicates=1)


@pytest.mark.slow
def test_solver_caps_verified_digits_by_the_rule():
    t = WeightRuleTarget("relu", 2, "uniform", mean=0.2, points=64, replicates=4)
    res = solve(Problem("relu", t, 2), restarts=3, seed=0, dps=20)
    ev = res.evidence
    assert ev.rule_error is not None and ev.rule_error > 0
    # the claimed digits never exceed what the rule's error leaves
    with mpmath.workdps(30):
        assert mpmath.mpf(10) ** -ev.verified_digits >= ev.rule_error / abs(res.loss) / 10
    assert ev.verified_digits <= ev.rule_digits < 10
    assert "quadrature rule" in res.summary()


@pytest.mark.slow
def test_cli_solve_iid_uniform(tmp_path):
    out = tmp_path / "u.json"
    assert main(["solve", "--activation", "relu", "--d", "2", "--M", "1", "--target", "iid:uniform",
                 "--rule-points", "64", "--restarts", "2", "--dps", "15", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["evidence"]["rule_error"] is not None
    assert data["evidence"]["verified_digits"] <= data["evidence"]["rule_digits"]
    assert data["problem"]["target"]["family"] == "iid:uniform"
    assert data["problem"]["target"]["points"] == 64
    assert "frame" not in data  # M = 1: no frame
    assert main(["solve", "--d", "2", "--M", "1", "--target", "iid:uniform", "--rule-points", "100"]) == 2
