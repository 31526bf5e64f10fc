"""The conjecture sweep: grid parsing, checkpoint/resume, the table, the command line."""

from __future__ import annotations

import json

import pytest

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.proofs_check import conjecture as cj
from compverify.proofs_check.conjecture import (
    SweepParams,
    eval_width,
    expand_grid,
    format_table,
    parse_dims,
    run_sweep,
)

# --------------------------------------------------------------------------------------- grid


@pytest.mark.parametrize("spec, expected", [
    ("2:6", (2, 3, 4, 5, 6)),
    ("3", (3,)),
    ("2,3,5", (2, 3, 5)),
    ("2:4, 7", (2, 3, 4, 7)),
    ("2:10:4", (2, 6, 10)),
    ("3,2:4", (3, 2, 4)),          # repeats dropped, order kept
])
def test_parse_dims(spec, expected):
    assert parse_dims(spec) == expected


@pytest.mark.parametrize("spec", ["", "0", "2:1", "a", "2:x", "1:2:0", "2,,3", "1:2:3:4", "-1"])
def test_parse_dims_rejects(spec):
    with pytest.raises(CompverifyError):
        parse_dims(spec)


@pytest.mark.parametrize("expr, d, value", [
    ("d+1", 3, 4), ("2*d", 3, 6), ("d*(d+1)/2", 4, 10), ("d*(d+1)//2", 3, 6),
    ("(d+1)//2", 4, 2), ("-d + 10", 3, 7), ("7", 9, 7), ("2 * (d - 1) + 1", 5, 9),
])
def test_eval_width(expr, d, value):
    assert eval_width(expr, d) == value


@pytest.mark.parametrize("expr", [
    "__import__('os').system('true')", "d**2", "d.real", "x+1", "open('f')", "[d]",
    "d if d else 1", "lambda: 1", "1.5*d", "True", "d; d", "d == 1", "'d'", "(d for d in [1])",
    "d @ d", "d % 2", "d << 1", "~d",
])
def test_eval_width_rejects_unsafe_or_unsupported(expr):
    with pytest.raises(CompverifyError, match="not (allowed|valid)"):
        eval_width(expr, 3)


def test_eval_width_never_calls_eval(monkeypatch):
    import builtins

    def no_eval(*a, **k):  # pragma: no cover - the point is that it is not called
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", no_eval)
    assert eval_width("d*(d+1)/2", 5) == 15


def test_eval_width_exact_division():
    with pytest.raises(CompverifyError, match="not an integer"):
        eval_width("d/2", 3)
    with pytest.raises(CompverifyError, match="division by zero"):
        eval_width("d/(d-3)", 3)


def test_expand_grid_skips_nonpositive_and_keeps_small_M():
    cases, skipped = expand_grid((2, 3), "d-2, 1, d:d+1")
    assert cases == [(2, 1), (2, 2), (2, 3), (3, 1), (3, 3), (3, 4)]
    assert skipped == [{"d": 2, "M": 0, "from": "d-2", "note": "M = 0 < 1: skipped"}]


def test_header_rejects_an_empty_grid():
    with pytest.raises(CompverifyError, match="no case"):
        SweepParams(d="2", M="d-5").header()


# ---------------------------------------------------------------------- sweep mechanics (fake)


def _fake_case(params, d, M, *, jobs=1):
    """A deterministic stand-in for run_case (the solver itself is tested elsewhere)."""
    rel = f"{1 / (d * M + params.seed + 1):.20f}"
    return {"d": d, "M": M, "relative_loss": rel,
            "frame": {"verdict": "ETF" if M == d + 1 else "neither",
                      "etf_relative_loss": rel if M == d + 1 else None,
                      "etf_gap": "0.0" if M == d + 1 else None,
                      "etf": {"construction": "simplex"} if M == d + 1 else None,
                      "etf_existence": "exists" if M == d + 1 else "does not exist"},
            "result": {"dps": params.dps}}


class _Interrupt:
    def __init__(self, after):
        self.after, self.calls = after, 0

    def __call__(self, params, d, M, *, jobs=1):
        if self.calls == self.after:
            raise KeyboardInterrupt
        self.calls += 1
        return _fake_case(params, d, M, jobs=jobs)


PARAMS = SweepParams(activation="relu", d="2:3", M="d+1,d+2,d-3", restarts=2, dps=20)


def test_resume_gives_the_same_json(tmp_path):
    full, part = tmp_path / "full.json", tmp_path / "part.json"
    run_sweep(PARAMS, full, progress="off", case_runner=_fake_case)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(PARAMS, part, progress="off", case_runner=_Interrupt(after=1))
    saved = json.loads(part.read_text())
    assert [(c["d"], c["M"]) for c in saved["cases"]] == [(2, 3)]
    assert saved["complete"] is False
    calls = []

    def counting(params, d, M, *, jobs=1):
        calls.append((d, M))
        return _fake_case(params, d, M, jobs=jobs)

    run_sweep(PARAMS, part, progress="off", case_runner=counting, jobs=3)
    assert calls == [(2, 4), (3, 4), (3, 5)]            # the finished case is not redone
    assert part.read_bytes() == full.read_bytes()
    data = json.loads(full.read_text())
    assert data["complete"] is True and data["failed"] == []
    assert data["skipped"] == [{"d": 2, "M": -1, "from": "d-3", "note": "M = -1 < 1: skipped"},
                               {"d": 3, "M": 0, "from": "d-3", "note": "M = 0 < 1: skipped"}]


def test_resume_with_other_parameters_is_an_error(tmp_path):
    out = tmp_path / "s.json"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(PARAMS, out, progress="off", case_runner=_Interrupt(after=1))
    other = SweepParams(**{**PARAMS.__dict__, "dps": 25})
    with pytest.raises(CompverifyError, match="different parameters.*dps"):
        run_sweep(other, out, progress="off", case_runner=_fake_case)
    # the same grid written differently is the same sweep
    same = SweepParams(**{**PARAMS.__dict__, "d": "2,3"})
    run_sweep(same, out, progress="off", case_runner=_fake_case)


def test_not_a_sweep_file(tmp_path):
    out = tmp_path / "x.json"
    out.write_text('{"cases": []}')
    with pytest.raises(CompverifyError, match="not a compverify conjecture sweep"):
        run_sweep(PARAMS, out, progress="off", case_runner=_fake_case)
    out.write_text("{")
    with pytest.raises(CompverifyError, match="invalid JSON"):
        run_sweep(PARAMS, out, progress="off", case_runner=_fake_case)


def test_failed_case_is_recorded_and_retried(tmp_path):
    out = tmp_path / "s.json"

    def flaky(params, d, M, *, jobs=1):
        if (d, M) == (3, 4):
            raise RuntimeError("boom")
        return _fake_case(params, d, M)

    data = run_sweep(PARAMS, out, progress="off", case_runner=flaky)
    assert data["failed"] == [{"d": 3, "M": 4, "error": "RuntimeError: boom"}]
    assert not data["complete"]
    assert "failed" in format_table(data)
    data = run_sweep(PARAMS, out, progress="off", case_runner=_fake_case)
    assert data["complete"] and data["failed"] == []


def test_progress_lines_and_table(tmp_path):
    import io

    stream = io.StringIO()
    data = run_sweep(PARAMS, None, progress="lines", stream=stream, case_runner=_fake_case)
    assert "[1/4] d = 2, M = 3" in stream.getvalue()
    table = format_table(data)
    lines = table.splitlines()
    assert lines[0].split() == ["d", "M", "relative", "loss", "verdict", "ETF", "known?", "ETF",
                                "gap", "proof"]
    assert "yes (simplex)" in lines[2] and "ETF" in lines[2]
    assert any(ln.startswith("skipped: d = 2") for ln in lines)


def test_strip_volatile_keys():
    assert cj._strip_timing({"a": 1, "seconds": {"x": "1"}, "jobs": 4, "b": [{"time": 1}]}) == \
        {"a": 1, "b": [{}]}


# ------------------------------------------------------------------------------ command line


@pytest.mark.parametrize("argv, fragment", [
    (["--d", "0:3"], "--d values must be"),
    (["--d", "2:x"], "--d item"),
    (["--M", "__import__('os')"], "call is not allowed"),
    (["--M", "d**2"], "not allowed"),
    (["--d", "2", "--M", "d-9"], "no case"),
    (["--restarts", "0"], "--restarts"),
    (["--dps", "5"], "--dps"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_input_exit_2(argv, fragment, capsys):
    assert main(["conjecture", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err


def test_cli_resume_mismatch_exit_2(tmp_path, capsys):
    out = tmp_path / "s.json"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(PARAMS, out, progress="off", case_runner=_Interrupt(after=1))
    assert main(["conjecture", "--d", "2:3", "--M", "d+1", "--restarts", "2", "--dps", "20",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different parameters" in err
