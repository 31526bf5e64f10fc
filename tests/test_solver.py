"""The solver: a closed-form optimum to 40 digits, honest verified digits, determinism, CLI."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest

from compverify.cli import main
from compverify.numeric.objective import Problem
from compverify.numeric.solver import solve
from compverify.numeric.targets import from_options


def _quadratic_optimum(d: int, M: int, dps: int) -> mpmath.mpf:
    """sigma = z^2, isotropic target: f = x'Ax with A = I/d, g = x'Bx with rank B <= M, and
    E[(x'(A - B)x)^2] = 2 ||A - B||_F^2 + tr(A - B)^2. By symmetry and convexity in the
    eigenvalues, B = beta P (P a rank-M projector), beta = (2/d + 1)/(M + 2)."""
    with mpmath.workdps(dps):
        d_, M_ = mpmath.mpf(d), mpmath.mpf(M)
        beta = (2 / d_ + 1) / (M_ + 2)
        return 2 * M_ * (1 / d_ - beta) ** 2 + 2 * (d_ - M_) / d_**2 + (1 - M_ * beta) ** 2


def _problem(spec="polynomial:0,0,1", d=3, M=2):
    return Problem(spec, from_options("isotropic", d=d, mean=None, scale=None, activation=spec), M)


def test_quadratic_optimum_to_40_digits():
    res = solve(_problem(), restarts=4, seed=0, dps=50)
    ref = _quadratic_optimum(3, 2, 60)
    with mpmath.workdps(60):
        assert abs(res.loss - ref) < mpmath.mpf(10) ** -40
        # C-bar = 2 ||A||^2 + tr(A)^2 = 2/d + 1
        assert abs(res.relative_loss - ref / (mpmath.mpf(2) / 3 + 1)) < mpmath.mpf(10) ** -40


@pytest.mark.slow
def test_verified_digits_are_honest():
    prob = _problem("relu", 3, 4)
    lo = solve(prob, restarts=4, seed=1, dps=30)
    hi = solve(prob, restarts=4, seed=1, dps=70)
    vd = lo.evidence.verified_digits
    assert vd >= 20
    with mpmath.workdps(80):
        err = abs(lo.loss - hi.loss) / abs(hi.loss)
        assert err <= mpmath.mpf(10) ** (-vd + 1), (vd, err)


def test_summary_names_a_possible_run_away():
    # gelu/silu solves stop at |v| ~ 1e2 where the loss still falls toward a scaled relu; the
    # summary says so for a non-homogeneous activation only (scale is a symmetry for relu)
    import dataclasses

    res = solve(_problem("relu", 2, 1), restarts=2, seed=0, dps=20)
    assert res.runaway_norm() is None and "infinity" not in res.summary()
    big = dataclasses.replace(res, V=res.V * 100)
    assert big.runaway_norm() is None  # relu: homogeneous
    silu = dataclasses.replace(big, problem={**res.problem, "activation": "silu"})
    assert silu.runaway_norm() == pytest.approx(100 * float(mpmath.norm(list(res.V[0]))))
    assert "infimum at |v| -> infinity" in silu.summary()


def test_same_seed_same_answer():
    prob = _problem("relu", 2, 3)
    a = solve(prob, restarts=6, seed=3, dps=20, jobs=1).to_dict()
    b = solve(prob, restarts=6, seed=3, dps=20, jobs=2).to_dict()
    for key in ("loss", "relative_loss", "directions", "b", "basins"):
        assert a[key] == b[key], key


def test_reduced_equals_full_at_optimal_coefficients(rng):
    prob = _problem("relu", 3, 4)
    V = rng.standard_normal((4, 3))
    red = prob.reduced(V, 1)
    theta = prob.join(prob.optimal_coefficients(V), V)
    assert float(red.value) == pytest.approx(float(prob.value(theta)), rel=1e-12)


def test_cli_solve_json_round_trip(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["solve", "--d", "2", "--M", "3", "--restarts", "3", "--dps", "25",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    for key in ("problem", "loss", "relative_loss", "coefficients", "directions", "b", "V",
                "evidence", "basins", "seed", "dps", "restarts", "version", "frame"):
        assert key in data, key
    assert isinstance(data["loss"], str) and len(data["loss"].replace("-", "")) >= 20
    with mpmath.workdps(25):
        U = [[mpmath.mpf(x) for x in row] for row in data["directions"]]
        for row in U:
            assert abs(sum(x * x for x in row) - 1) < mpmath.mpf(10) ** -20
    assert data["frame"]["verdict"] == "ETF"  # M = d + 1 for ReLU: the simplex
    # the optimum is the simplex, so the gap to the catalogue's ETF is zero to the verified digits
    fr = data["frame"]
    assert fr["etf_gap_zero_within_uncertainty"] is True
    assert abs(float(fr["etf_gap"])) <= float(fr["etf_gap_uncertainty"]) < 1e-10


@pytest.mark.parametrize("argv", [
    ["solve", "--d", "0", "--M", "2"], ["solve", "--d", "2", "--M", "0"],
    ["solve", "--d", "2", "--M", "2", "--dps", "10"],
    ["solve", "--d", "2", "--M", "2", "--dps", "100000"],
    ["solve", "--d", "2", "--M", "2", "--restarts", "0"],
    ["solve", "--d", "3", "--M", "2", "--target", "gaussian", "--target-mean", "1,2"],
    ["solve", "--d", "3", "--M", "2", "--target", "gaussian", "--target-scale", "-1"],
    ["solve", "--d", "3", "--M", "2", "--target", "missing.npz"],
])
def test_cli_solve_bad_input(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


def test_cli_solve_npz_dimension_mismatch(tmp_path, capsys):
    p = tmp_path / "t.npz"
    np.savez(p, a=np.ones(4) / 4, W=np.random.default_rng(0).standard_normal((4, 3)))
    assert main(["solve", "--d", "2", "--M", "2", "--target", str(p)]) == 2
    assert "d = 3" in capsys.readouterr().err


def _two_basin_problem():
    # a random finite relu network, N = 6, d = 3, compressed to M = 2: 12 restarts find two
    # basins (losses 0.2719 and 0.3146)
    from compverify.numeric.targets import FiniteNetwork

    rng = np.random.default_rng(1)
    return Problem("relu", FiniteNetwork("relu", rng.standard_normal(6),
                                         rng.standard_normal((6, 3))), 2)


@pytest.mark.slow
def test_polish_that_leaves_its_basin_returns_its_start(monkeypatch):
    # Newton has no line search; a run that ends above its start (measured for gelu: to the zero
    # network) must return the start, not converged.  The run-off is injected: Newton "converges"
    # to b = 0, whose loss is C
    from compverify.numeric import solver

    prob = _two_basin_problem()
    res = solve(prob, restarts=4, seed=0, dps=20)
    theta0 = np.array([float(x) for x in prob.join(res.b, res.V)])

    def run_off(problem, theta, dps, p, max_iter, pairs=()):
        b, V = problem.split(theta)
        return problem.join(b * 0, V), 3, True, ({"dps": p, "step": mpmath.mpf(1)},)

    monkeypatch.setattr(solver, "_newton_mp", run_off)
    pol = solver.polish(prob, theta0, 20)
    assert not pol.converged and pol.history[-1]["left_basin"]
    assert pol.history[-1]["loss_rise"] > 0
    with mpmath.workdps(30):
        assert abs(pol.loss - prob.value_mp(theta0, 30)) < mpmath.mpf(10) ** -25  # the start
        assert pol.loss < prob.C_mp(30) / 2


@pytest.mark.slow
def test_search_on_a_coarser_rule_polishes_the_basins_it_cannot_order():
    # a target whose float64 search runs on a coarser rule (float_rule) with a loss error wider
    # than the gap between the two basins: both are polished, and the lower polished one is kept
    prob = _two_basin_problem()
    plain = solve(prob, restarts=12, seed=0, dps=20)
    assert [b.polished_loss is not None for b in plain.basins] == [True, False]

    class CoarseRule:
        @staticmethod
        def loss_error(b, V):
            return 0.05  # twice this covers the basins' gap 0.043, not a wider one

    prob.target.float_rule = CoarseRule()
    wide = solve(prob, restarts=12, seed=0, dps=20)
    assert [b.polished_loss is not None for b in wide.basins] == [True, True]
    assert wide.loss == plain.loss and wide.loss < wide.basins[1].polished_loss


def test_progress_shows_the_restarts_on_a_terminal(monkeypatch, capsys):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    prob = _problem("relu", 2, 1)
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        solve(prob, restarts=3, seed=0, dps=20)  # progress=None: a bar only on a terminal
        text = stream.getvalue()
        assert ("restarts" in text and "0/3" in text) == shown, text  # leave=False: no 3/3


@pytest.mark.slow
@pytest.mark.parametrize("spec, M, n_basins", [("erf", 2, 2), ("abs", 3, 2)])
def test_basins_identify_a_neurons_sign_symmetry(spec, M, n_basins):
    # erf is odd ((b, v) and (-b, -v) are one neuron), abs even ((b, v) and (b, -v)): their copies
    # are one basin (before: erf 5 "basins" of which 4 had loss 0.0137175, abs 6 of 2 values)
    from compverify.numeric.targets import FiniteNetwork
    from compverify.symbolic import get_activation

    rng = np.random.default_rng(0)
    for _ in range({"erf": 2, "abs": 3}[spec]):  # the networks measured (third and fourth draws)
        W, a = rng.standard_normal((5, 3)), rng.standard_normal(5)
    net = FiniteNetwork(spec, a, W)
    res = solve(Problem(spec, net, M), restarts=12, seed=0, dps=20)
    values = [round(b.loss, 8) for b in res.basins]
    assert len(values) == len(set(values)) == n_basins, values
    assert sum(b.count for b in res.basins) == 12
    assert get_activation(spec).parity == (-1 if spec == "erf" else 1)
