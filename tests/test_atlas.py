"""The ETF atlas: its grid, resume, one real case against the value on the simplex, the CLI."""

from __future__ import annotations

import json

import mpmath
import pytest

from compverify.cli import main
from compverify.proofs_check.atlas import AtlasParams, atlas_grid, atlas_summary
from compverify.proofs_check.conjecture import run_sweep

# real ETFs with 2 <= d < M - 1, M <= 50 named in the issue and in Fickus & Mixon's table
# (arXiv:1504.00253): Paley / conference-matrix frames (M/2, M), Steiner frames and complements
NAMED_ETFS = {(3, 6), (5, 10), (7, 14), (9, 18), (13, 26), (15, 30), (19, 38), (21, 42),
              (23, 46), (25, 50), (6, 16), (10, 16), (7, 28), (21, 28), (15, 36), (21, 36)}


def test_grid_holds_the_dense_part_every_simplex_and_the_named_etfs():
    grid = atlas_grid()
    assert len(grid) == len(set(grid))
    dense = {(d, M) for d in range(2, 9) for M in range(d + 1, 2 * d + 3)}
    simplices = {(d, d + 1) for d in range(2, 50)}
    assert dense | simplices | NAMED_ETFS <= set(grid)
    for d, M in set(grid) - dense:
        assert M <= 50
        # Gerzon's bound for the frame and its Naimark complement
        assert M <= d * (d + 1) // 2 or M == d + 1
        assert M <= (M - d) * (M - d + 1) // 2 or M - d == 1
    params = [M * (d + 1) for d, M in grid]
    assert params == sorted(params)


def test_grid_cap_on_parameters():
    assert atlas_grid(max_params=16) == [(2, 3), (2, 4), (2, 5), (3, 4)]
    assert all(M * (d + 1) <= 100 for d, M in atlas_grid(max_params=100))


def _fake_case(params, d, M, *, jobs=1):
    return {"d": d, "M": M, "relative_loss": f"{1 / (d * M):.20f}",
            "frame": {"verdict": "neither"}, "result": {"dps": params.dps}}


def test_atlas_file_resumes(tmp_path):
    out = tmp_path / "atlas.json"
    params = AtlasParams(max_params=16, restarts=2, dps=20)
    first = run_sweep(params, out, progress="off", case_runner=_fake_case)
    assert first["complete"] and [tuple(c) for c in first["grid"]] == atlas_grid(max_params=16)

    def must_not_run(*a, **k):
        raise AssertionError("a finished case was recomputed")

    again = run_sweep(params, out, progress="off", case_runner=must_not_run)
    assert again == first
    assert [r["params"] for r in atlas_summary(again)] == [9, 12, 15, 16]


@pytest.mark.slow
def test_one_real_case_matches_the_value_on_the_simplex(tmp_path):
    """(2, 3): the solver's optimum against the best value on the simplex, computed on the fixed
    frame by an exact linear solve (no search), which must agree to the verified digits."""
    out = tmp_path / "atlas.json"
    sweep = run_sweep(AtlasParams(max_params=9, restarts=2, dps=20), out, progress="off")
    (row,) = atlas_summary(sweep)
    assert (row["d"], row["M"]) == (2, 3) and row["etf_built"] == "simplex"
    assert row["verified_digits"] >= 18
    with mpmath.workdps(30):
        gap = abs(mpmath.mpf(row["relative_loss"]) - mpmath.mpf(row["etf_relative_loss"]))
        assert gap <= mpmath.mpf(10) ** -17 * abs(mpmath.mpf(row["relative_loss"]))
    assert row["etf_gap_zero"] is True
    assert json.loads(out.read_text())["complete"] is True


@pytest.mark.parametrize("argv, fragment", [
    (["conjecture", "--atlas", "--d", "2"], "--atlas sets the grid"),
    (["conjecture", "--atlas-max-params", "9"], "--atlas-max-params needs --atlas"),
    (["conjecture", "--atlas", "--atlas-max-params", "0"], "--atlas-max-params"),
    (["conjecture", "--atlas", "--atlas-max-params", "1"], "no case"),
])
def test_cli_atlas_bad_input_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
