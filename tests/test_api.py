"""The front door: ``import compverify as cv`` is cheap, and its functions give the library's answers."""

import subprocess
import sys

import mpmath
import pytest

import compverify as cv
from compverify.proofs_check.etf_value import best_on_etf


@pytest.mark.slow
def test_import_is_cheap_and_names_load_on_first_use():
    code = ("import sys, compverify as cv; assert 'sympy' not in sys.modules; "
            "assert 'mpmath' not in sys.modules; cv.Problem; assert 'sympy' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cv.nope  # noqa: B018


def test_derive_target_problem_solve_frame_report():
    # The simplex case: the solve's relative loss must equal the best value on the regular simplex
    # computed by an independent route (directions fixed to the catalogue's ETF, linear solve).
    kernel = cv.derive("relu")
    assert kernel.route == "piecewise-homogeneous"
    problem = cv.Problem("relu", cv.target("isotropic", d=2, activation="relu"), M=3)
    result = cv.solve(problem, restarts=4, dps=20, progress=False)
    assert isinstance(result, cv.SolveResult)
    assert result.evidence.verified_digits >= 15
    etf = best_on_etf(problem, dps=20)
    with mpmath.workdps(20):
        assert abs(etf.relative_value - result.relative_loss) < mpmath.mpf(10) ** -15
    frame = cv.frame_report(problem, result)
    assert frame["verdict"] == "ETF"
    single = cv.Problem("relu", cv.target("isotropic", d=2, activation="relu"), M=1)
    assert cv.frame_report(single, cv.solve(single, restarts=2, dps=20, progress=False)) is None


def test_target_checks_d_against_an_npz(tmp_path):
    import numpy as np

    path = tmp_path / "net.npz"
    np.savez(path, a=np.ones(3), W=np.eye(3))
    assert cv.target(str(path), activation="relu").d == 3
    with pytest.raises(cv.CompverifyError, match="d = 3"):
        cv.target(str(path), d=2, activation="relu")


def test_conjecture_takes_params_or_options_not_both():
    with pytest.raises(cv.CompverifyError, match="not both"):
        cv.conjecture(cv.SweepParams(), d="2")
