"""Checkpoints of solve: an interrupted run resumes and gives the uninterrupted run's answer."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.io import exact_decode, exact_encode
from compverify.numeric import solver
from compverify.numeric.objective import Problem
from compverify.numeric.targets import FiniteNetwork, from_options

RESTARTS = 6


def _problem():
    # two basins (losses 0.2719, 0.3146): restarts, two Newton runs at least, and the check
    rng = np.random.default_rng(1)
    return Problem("relu", FiniteNetwork("relu", rng.standard_normal(6),
                                         rng.standard_normal((6, 3))), 2)


def _answer(res) -> dict:
    d = res.to_dict()
    d.pop("seconds")
    return d


class _Interrupt:
    """Wraps a function; raises KeyboardInterrupt on call number ``after + 1`` (Ctrl-C)."""

    def __init__(self, fn, after: int) -> None:
        self.fn, self.after, self.calls = fn, after, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return self.fn(*args, **kwargs)


def test_exact_encoding_round_trips_multiprecision_and_special_values():
    with mpmath.workdps(60):
        x = mpmath.mpf(1) / 3
    obj = {"x": x, "arr": np.array([x, -x], dtype=object), "f": np.array([[0.1, np.inf]]),
           "t": (1, None, "s", np.nan)}
    back = exact_decode(json.loads(json.dumps(exact_encode(obj))))
    assert back["x"] == x and back["x"] != mpmath.mpf(1) / 3  # all 60 digits, not 15
    assert back["arr"].dtype == object and list(back["arr"]) == [x, -x]
    assert back["f"].shape == (1, 2) and back["f"][0, 0] == 0.1 and back["f"][0, 1] == np.inf
    assert back["t"][:3] == [1, None, "s"] and np.isnan(back["t"][3])


@settings(max_examples=200, deadline=None)
@given(man=st.integers(-(2**400), 2**400), exp=st.integers(-3000, 3000),
       floats=st.lists(st.floats(allow_nan=False), max_size=5))
def test_exact_encoding_is_lossless_for_any_binary_value(man, exp, floats):
    with mpmath.workprec(max(abs(man).bit_length(), 1) + 5):
        x = mpmath.ldexp(mpmath.mpf(man), exp)  # exact: the precision holds the mantissa
    arr = np.array(floats, dtype=float)
    back = exact_decode(json.loads(json.dumps(exact_encode({"x": x, "a": arr}))))
    assert back["x"]._mpf_ == x._mpf_
    assert back["a"].tobytes() == arr.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("where, after", [("restarts", 2), ("newton", 3)])
def test_interrupted_solve_resumes_to_the_same_answer(tmp_path, monkeypatch, where, after):
    prob = _problem()
    evaluations = _Interrupt(prob.evaluate_mp, 10**6)
    monkeypatch.setattr(prob, "evaluate_mp", evaluations)
    ref = _answer(solver.solve(prob, restarts=RESTARTS, seed=0, dps=20))
    monkeypatch.undo()
    path = tmp_path / "ck.json"
    if where == "restarts":
        wrapped = _Interrupt(solver._local_search, after)
        monkeypatch.setattr(solver, "_local_search", wrapped)
    else:
        wrapped = _Interrupt(prob.evaluate_mp, after)
        monkeypatch.setattr(prob, "evaluate_mp", wrapped)
    with pytest.raises(KeyboardInterrupt):
        solver.solve(prob, restarts=RESTARTS, seed=0, dps=20, checkpoint=path)
    monkeypatch.undo()
    kept = json.loads(path.read_text())["entries"]
    n_restarts = sum(k.startswith("restart ") for k in kept)
    if where == "restarts":
        assert n_restarts == after  # Ctrl-C keeps every finished restart
    else:
        assert n_restarts == RESTARTS and any("newton" in k for k in kept)

    searches = _Interrupt(solver._local_search, 10**6)
    monkeypatch.setattr(solver, "_local_search", searches)
    resumed_evaluations = _Interrupt(prob.evaluate_mp, 10**6)
    monkeypatch.setattr(prob, "evaluate_mp", resumed_evaluations)
    resumed = solver.solve(prob, restarts=RESTARTS, seed=0, dps=20, checkpoint=path)
    assert searches.calls == RESTARTS - n_restarts  # only the missing restarts ran
    if where == "newton":  # Newton went on from its last kept step, not from its start
        steps = sum(exact_decode(v)["it"] for k, v in kept.items() if "newton" in k)
        assert steps >= 1
        assert resumed_evaluations.calls == evaluations.calls - steps
    assert _answer(resumed) == ref


def test_a_finished_checkpoint_replays_without_computing(tmp_path, monkeypatch):
    prob = _problem()
    path = tmp_path / "ck.json"
    first = solver.solve(prob, restarts=RESTARTS, seed=0, dps=20, checkpoint=path)
    newton = _Interrupt(solver._newton_mp, 0)  # any Newton step would raise
    monkeypatch.setattr(solver, "_newton_mp", newton)
    monkeypatch.setattr(solver, "_local_search", _Interrupt(solver._local_search, 0))
    again = solver.solve(prob, restarts=RESTARTS, seed=0, dps=20, checkpoint=path)
    assert _answer(again) == _answer(first) and newton.calls == 0


def test_checkpoint_of_another_solve_or_corrupt_is_refused(tmp_path):
    prob = _problem()
    path = tmp_path / "ck.json"
    solver.solve(prob, restarts=2, seed=0, dps=20, checkpoint=path)
    with pytest.raises(CompverifyError, match=r"another computation \(dps: 20 there, 25 here"):
        solver.solve(prob, restarts=2, seed=0, dps=25, checkpoint=path)
    other = Problem("relu", from_options("isotropic", d=3, mean=None, scale=None,
                                         activation="relu"), 2)
    with pytest.raises(CompverifyError, match="another computation"):
        solver.solve(other, restarts=2, seed=0, dps=20, checkpoint=path)
    path.write_text('{"format": "compverify-checkpoint-1", "key": ')
    with pytest.raises(CompverifyError, match="not readable"):
        solver.solve(prob, restarts=2, seed=0, dps=20, checkpoint=path)


@pytest.mark.slow
def test_cli_solve_interrupted_then_resumed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    argv = ["solve", "--d", "3", "--M", "2", "--restarts", "4", "--dps", "20", "--out", str(out)]
    assert main(argv) == 0
    ref = json.loads(out.read_text())
    ck = tmp_path / "r.json.checkpoint.json"
    assert not ck.exists()  # removed once the result is written
    out.unlink()
    capsys.readouterr()

    monkeypatch.setattr(solver, "_local_search", _Interrupt(solver._local_search, 2))
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"kept in {ck}" in err and ck.exists() and not out.exists()
    monkeypatch.undo()
    assert main(argv) == 0
    assert f"resuming from {ck}: 2 of 4 restarts done" in capsys.readouterr().err
    got = json.loads(out.read_text())
    for key in ("loss", "relative_loss", "b", "V", "evidence", "basins"):
        assert got[key] == ref[key], key
    assert not ck.exists()


def test_an_edited_npz_does_not_resume_from_the_old_networks_checkpoint(tmp_path, capsys):
    # same file name, N and d, other weights: the target's sha256 is in the key
    rng = np.random.default_rng(2)
    npz, out = tmp_path / "net.npz", tmp_path / "r.json"
    np.savez(npz, a=rng.standard_normal(5), W=rng.standard_normal((5, 3)))
    argv = ["solve", "--target", str(npz), "--M", "2", "--restarts", "2", "--dps", "20",
            "--checkpoint", str(tmp_path / "ck.json")]
    assert main(argv) == 0  # without --out the checkpoint is kept
    np.savez(npz, a=rng.standard_normal(5), W=rng.standard_normal((5, 3)))
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 2
    assert "another computation (solve.target.sha256:" in capsys.readouterr().err
    assert not out.exists()
