"""The error-rate experiment: exponent against a larger independent draw, sup vs brute force, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compverify.cli import main
from compverify.numeric.experiments import run_rate, sup_deviation
from compverify.numeric.targets import from_options


@pytest.mark.slow
def test_exponent_within_ci_of_larger_independent_draw():
    small = run_rate("relu", "isotropic", [3], [50, 200, 800], samples=4, seed=1, restarts=3,
                     optimum=False)
    large = run_rate("relu", "isotropic", [3], [50, 200, 800, 3200], samples=8, seed=99,
                     restarts=3, optimum=False)
    lo, hi = small["fit"]["N_exponent_ci"]
    assert lo <= large["fit"]["N_exponent"] <= hi, (small["fit"], large["fit"])
    assert small["fit"]["d_exponent"] is None and small["fit"]["d_exponent_ci"] is None


@pytest.mark.slow
def test_sup_vs_dense_sampling_of_the_sphere():
    t = from_options("isotropic", d=3, mean=None, scale=None, activation="relu")
    fin = t.sample(60, 5)
    sup = sup_deviation(fin, t, restarts=6, seed=0)
    U = np.random.default_rng(7).standard_normal((20_000, 3))
    U /= np.linalg.norm(U, axis=1)[:, None]
    brute = np.max(np.abs(fin.h(U) - t.h(U)))
    assert sup >= brute - 1e-12  # a maximiser beats every sample
    assert sup <= 1.05 * brute   # and 20 000 samples come close to the sup in d = 3


@pytest.mark.slow
def test_resume_gives_the_same_json(tmp_path):
    kw = dict(samples=2, seed=4, restarts=2, M="d+1")
    full = run_rate("relu", "isotropic", [2], [16, 64], checkpoint=tmp_path / "a.json", **kw)
    # an interrupted run: only the first point was written
    part = json.loads((tmp_path / "a.json").read_text())
    part["points"] = part["points"][:1]
    part["partial"] = True
    for k in ("fit", "fit_shift", "quantity"):
        part.pop(k, None)
    (tmp_path / "b.json").write_text(json.dumps(part))
    resumed = run_rate("relu", "isotropic", [2], [16, 64], checkpoint=tmp_path / "b.json", **kw)
    assert json.dumps(resumed, sort_keys=True) == json.dumps(full, sort_keys=True)


@pytest.mark.parametrize("argv", [["rate", "--d", "x"], ["rate", "--N", "0,10"],
                                  ["rate", "--samples", "1"], ["rate", "--d", "0"],
                                  ["rate", "--N", "10"]])
def test_cli_rate_bad_input(argv, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


@pytest.mark.slow
def test_cli_rate_writes_outputs(tmp_path, capsys):
    stem = tmp_path / "r"
    assert main(["rate", "--d", "2", "--N", "16,64", "--samples", "2", "--restarts", "2",
                 "--out", str(stem)]) == 0
    for ext in ("json", "csv", "png", "svg"):
        assert (tmp_path / f"r.{ext}").stat().st_size > 0
    assert "N^" in capsys.readouterr().out


@pytest.mark.slow
def test_rule_target_error_is_recorded():
    """A quadrature-rule target (iid:uniform) records its h error; an exact target records None."""
    from compverify.numeric.experiments import run_rate

    r = run_rate("relu", "iid:uniform", [2], [16, 64], samples=2, seed=0, restarts=2,
                 progress=False, optimum=False)
    errs = [p["target_h_error"] for p in r["points"]]
    assert all(e is not None and 0 < e < 1e-3 for e in errs)
    assert all(p["mean_delta"] > 3 * p["target_h_error"] for p in r["points"]) and not r["warnings"]
    r = run_rate("relu", "isotropic", [2], [16, 64], samples=2, seed=0, restarts=2,
                 progress=False, optimum=False)
    assert all(p["target_h_error"] is None for p in r["points"])
