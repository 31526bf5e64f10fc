"""The bad-input catalogue: every command and the public API, on inputs a user can get wrong.

Each command-line case runs ``compverify.cli.main`` in-process (in a fresh directory) and asserts
the documented exit status (2 for bad input, 1 for valid input the method cannot handle), exactly
one line on stderr naming the bad value, no traceback, no file left behind, and an answer within
a time limit.  Each API case asserts the documented exception and its message.  Cases are chosen
to be refused before any expensive work (piecewise kernels are derived only where the class
needs them), so the catalogue runs in seconds; a few run through a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compverify.cli import main
from compverify.errors import ComputationFailed, CompverifyError

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60.0  # seconds per case (a hang guard; most take milliseconds, the first imports)
SOLVE = ["solve", "--d", "2", "--M", "2", "--restarts", "1"]
POLY = ["--activation", "polynomial:0,0,1"]  # a kernel derived in 0.1 s


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_cli(argv, capsys, where: Path, *, status: int = 2, needle: str | None = None,
            limit: float = LIMIT) -> str:
    """Run the CLI in ``where``; check status, one stderr line with ``needle``, no files left."""
    before = listing(where)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.perf_counter()
    try:
        code = main([str(a) for a in argv])
    except _Timeout:
        pytest.fail(f"{argv} took more than {limit} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == status, f"{argv}: status {code}, stderr {err!r}"
    assert len(lines) == 1, f"{argv}: stderr is not one line: {err!r}"
    assert "Traceback" not in err
    if needle is not None:
        assert needle in lines[0], f"{argv}: {needle!r} not in {lines[0]!r}"
    assert listing(where) == before, f"{argv} left files: {listing(where) - before}"
    assert elapsed < limit
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh working directory holding a regular file and a few prepared targets."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a directory\n")
    (tmp_path / "dir").mkdir()
    return tmp_path


# ------------------------------------------------------------------------------ helpers for files
def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def fake_npz(path: Path, shapes: dict[str, tuple], descr: str = "<f8") -> Path:
    """An .npz whose headers claim ``shapes`` but hold almost no data."""
    import io

    with zipfile.ZipFile(path, "w") as zf:
        for name, shape in shapes.items():
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                buf, {"descr": descr, "fortran_order": False, "shape": shape})
            zf.writestr(f"{name}.npy", buf.getvalue() + b"\0" * 64)
    return path


def solve_result(path: Path, **changes) -> Path:
    """A minimal solve result for ``compverify frame`` (a regular simplex in R^2)."""
    from compverify import __version__

    c, s = "0.5", "0.8660254037844386"
    data = {"directions": [["1", "0"], [f"-{c}", s], [f"-{c}", f"-{s}"]], "dps": 30,
            "evidence": {"verified_digits": 20}, "version": __version__,
            "problem": {"d": 2, "M": 3}}
    for key, value in changes.items():
        if key == "verified_digits":
            data["evidence"]["verified_digits"] = value
        elif value is _DELETE:
            del data[key]
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return path


_DELETE = object()


# ================================================================ 1. output paths (every writer)
BAD_OUT_FILES = [  # (path, needle): each refused before any work
    ("/proc/x.json", "cannot create files"),
    ("/sys/x.json", "cannot create files"),
    ("file/x.json", "'file' is not a directory"),
    ("dir", "is a directory"),
    ("dir/", "is a directory"),
    ("missing/x.json", "does not exist"),
    ("missing/deeper/x.json", "does not exist"),
    ("/dev/null", "not a regular file"),
    ("", "must be a file name"),
]


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES)
def test_solve_out(out, needle, work, capsys):
    run_cli(SOLVE + ["--out", out], capsys, work, needle=needle)


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES[:7])
def test_solve_checkpoint(out, needle, work, capsys):
    run_cli(SOLVE + ["--checkpoint", out], capsys, work, needle=needle)


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES)
def test_conjecture_out(out, needle, work, capsys):
    run_cli(["conjecture", "--d", "2", "--M", "3", "--restarts", "1", "--out", out], capsys,
            work, needle=needle)


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES[:5])
def test_sparsity_out(out, needle, work, capsys):
    run_cli(["sparsity", "--law", "gaussian", "--out", out], capsys, work, needle=needle)


PRUNE_OUT = [("/proc/p", "cannot create files"), ("file", "exists and is not a directory"),
             ("file/p", "is not a directory"), ("missing/p", "does not exist")]


@pytest.mark.parametrize("out,needle", PRUNE_OUT)
def test_prune_out(out, needle, work, capsys):
    run_cli(["prune", "iid:gaussian", "--N", "8", "--d", "2", "--out", out], capsys, work,
            needle=needle)


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES[:5])
def test_prove_out(out, needle, work, capsys):
    solve_result(work / "r.json")
    run_cli(["prove", "r.json", "--out", out], capsys, work, needle=needle)


@pytest.mark.parametrize("out,needle", BAD_OUT_FILES[:5])
def test_lossless_match_out(out, needle, work, capsys):
    run_cli(["lossless", "match", "--out", out], capsys, work, needle=needle)


@pytest.mark.parametrize("out,needle", [("/proc/s", "cannot create files"),
                                        ("file", "exists and is not a directory"),
                                        ("missing/s", "does not exist")])
def test_lossless_spectra_out(out, needle, work, capsys):
    run_cli(["lossless", "spectra", "--activation", "polynomial:0,0,1", "--n", "16", "--out",
             out], capsys, work, needle=needle)


RATE_OUT = [("/proc/r", "cannot create files"), ("file/r", "is not a directory"),
            ("dir", "is a directory"), ("dir/", "is a directory"),
            ("missing/r", "does not exist"), ("", "is a directory or empty"),
            ("/sys/r.json", "cannot create files"), (".json", "empty file name")]


@pytest.mark.parametrize("out,needle", RATE_OUT)
def test_rate_out(out, needle, work, capsys):
    run_cli(["rate", "--d", "2", "--N", "8,16", "--samples", "2", "--out", out], capsys, work,
            needle=needle)


REPORT_OUT = [("/proc/rep", "cannot create files"), ("file", "exists and is not a directory"),
              ("file/rep", "is not a directory"), ("missing/rep", "does not exist"),
              ("dir", "pass --force")]


@pytest.mark.parametrize("out,needle", REPORT_OUT)
def test_report_out(out, needle, work, capsys):
    run_cli(["report", "--out", out], capsys, work, needle=needle)


@pytest.mark.slow
def test_rate_json_name_and_modes(work, capsys):
    """``--out r.json`` writes r.json (not r.json.json); new files get 0o666 & ~umask."""
    old = os.umask(0o027)
    try:
        assert main(["rate", "--activation", "polynomial:0,0,1", "--d", "2", "--N", "8,16",
                     "--samples", "2", "--restarts", "1", "--no-optimum", "--out",
                     "r.json"]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    names = sorted(p.name for p in work.iterdir() if p.name.startswith("r."))
    assert names == ["r.csv", "r.json", "r.png", "r.svg"]
    assert stat.S_IMODE((work / "r.json").stat().st_mode) == 0o640


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(mask, tmp_path):
    from compverify.io import atomic_write_text

    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_write_keeps_an_existing_mode(tmp_path):
    from compverify.io import atomic_write_text

    p = tmp_path / "a.txt"
    p.write_text("old")
    p.chmod(0o604)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(p.stat().st_mode) == 0o604


def test_report_directory_follows_the_umask(tmp_path):
    from compverify.report.output import staged_directory

    old = os.umask(0o022)
    try:
        with staged_directory(tmp_path / "out", force=False) as tmp:
            (tmp / "a").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


# ------------------------------------------------------------------ output paths: the public API
@pytest.mark.parametrize("path,needle", [
    ("/proc/x.json", "cannot create files"), ("missing/x.json", "does not exist"),
    ("file/x.json", "is not a directory"), ("dir", "is a directory"),
    (None, "got None"), (3, "got 3"), (b"x.json", "got b'x.json'"),
])
def test_api_check_output_file(path, needle, work):
    from compverify.io import check_output_file

    with pytest.raises(CompverifyError, match=needle):
        check_output_file(path)


@pytest.mark.parametrize("path,needle", [
    ("/proc/x.json", "cannot write"), ("missing/x.json", "cannot write"),
    ("dir", "is a directory"),
])
def test_api_atomic_write(path, needle, work):
    from compverify.io import atomic_write_json

    with pytest.raises(CompverifyError, match=needle):
        atomic_write_json(path, {"a": 1})
    assert not (work / "missing").exists()


def test_api_finite_network_save_does_not_create_directories(work):
    from compverify.numeric.targets import FiniteNetwork

    net = FiniteNetwork("polynomial:0,0,1", [1.0], [[1.0, 0.0]])
    with pytest.raises(CompverifyError, match="cannot write"):
        net.save("missing/net.npz")
    assert not (work / "missing").exists()


# ======================================================================== 2. sizes (memory)
@pytest.mark.parametrize("argv", [
    ["solve", "--d", "1000000", "--M", "3"],
    ["solve", "--d", "2", "--M", "100000"],
    ["solve", "--d", "100000", "--M", "1"],
    ["solve", "--d", "300", "--M", "300"],
    ["solve", "--d", "10", "--M", "3000", "--dps", "100"],
    ["conjecture", "--d", "2000", "--M", "2000"],
    ["conjecture", "--d", "1000", "--M", "5000"],
    ["rate", "--d", "2", "--N", "8,10000000000"],
    ["rate", "--d", "100000000", "--N", "8,16"],
    ["rate", "--d", "2", "--N", "8,16", "--M", "1000000"],
    ["solve", "--d", "2", "--M", "2", "--restarts", "1000000000"],
    ["sparsity", "iid:gaussian", "--N", "100000000000", "--d", "2"],
    ["prune", "iid:gaussian", "--N", "100000000000", "--d", "2", "--out", "p"],
    ["lossless", "spectra", "--activation", "polynomial:0,0,1", "--n", "16,10000000", "--out",
     "s"],
])
def test_memory_refused_before_work(argv, work, capsys):
    extra = POLY if argv[0] in ("solve", "conjecture", "rate") else []
    run_cli(argv + extra, capsys, work, needle="of memory, more than")


def test_memory_limit_from_the_environment(work, capsys, monkeypatch):
    monkeypatch.setenv("COMPVERIFY_MEMORY_LIMIT", "1K")
    run_cli(SOLVE + POLY, capsys, work, needle="1.0 KiB limit")


def test_memory_limit_variable_is_checked(work, capsys, monkeypatch):
    monkeypatch.setenv("COMPVERIFY_MEMORY_LIMIT", "lots")
    run_cli(SOLVE + POLY, capsys, work, needle="'lots'")


@pytest.mark.parametrize("shapes", [
    {"a": (10**11,), "W": (10**11, 2)},
    {"a": (4,), "W": (4, 10**12)},
    {"a": (10**6, 10**6), "W": (4, 2)},
])
def test_npz_header_claims_too_much(shapes, work, capsys):
    fake_npz(work / "big.npz", shapes)
    run_cli(["solve", "--M", "2", "--target", "big.npz"] + POLY, capsys, work,
            needle="of memory")


def test_api_memory_estimate_and_check():
    from compverify.numeric.objective import memory_estimate
    from compverify.validate import check_memory

    # P = M (d + 1) = 3e6 parameters: the float64 Hessian alone is 8 P^2 = 7.2e13 bytes
    assert memory_estimate(3, 10**6) >= 8 * (3 * 10**6) ** 2
    with pytest.raises(CompverifyError, match="of memory"):
        check_memory(memory_estimate(3, 10**6), "a solve with d = 10^6")


@pytest.mark.parametrize("d", [10**12, 10**15])
def test_api_huge_gaussian_target(d):
    from compverify.numeric.targets import isotropic

    with pytest.raises(CompverifyError, match=f"d = {d} needs about"):
        isotropic(d, "polynomial:0,0,1")


def test_api_solve_refuses_a_huge_problem():
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import solve
    from compverify.numeric.targets import isotropic

    problem = Problem("polynomial:0,0,1", isotropic(2, "polynomial:0,0,1"), 200000)
    with pytest.raises(CompverifyError, match="of memory"):
        solve(problem, restarts=1)


# ============================================================================ 3. expressions
BAD_EXPRESSIONS = [
    ("(z**64)**64", "total degree"),
    ("((z**4)**4)**4", "total degree"),
    ("z**17", "total degree"),
    ("(z**8)*(z**9)", "total degree"),
    ("exp((z**16)**2)", "total degree"),
    ("((9**64)**64)**64*z", "bits"),
    ("(9**64)**64*z", "bits"),
    ("z*" + "9" * 700, "bits"),
    ("z**1000", "exponent"),
    ("z**2**3**2", "exponent"),
    ("log(z)", "log(z)"),
    ("log(z**2)", "log"),
    ("log(Abs(z))", "log"),
    ("sqrt(z)", "sqrt(z)"),
    ("sqrt(z - 1)", "sqrt"),
    ("z**0.5", "not real"),
    ("z**(1/3)", "not real"),
    ("1/z", "may vanish"),
    ("z**-1", "may vanish"),
    ("tanh(z)/z", "may vanish"),
    ("1/(z - 1)", "may vanish"),
    ("1/(z**2 - 1)", "may vanish"),
    ("1/0", "division by zero"),
    ("0**-1", "division by zero"),
    ("exp(z**2)", "exp(c z^2)"),
    ("exp(z**2/100)", "exp(c z^2)"),
    ("exp(exp(z))", "diverges"),
    ("1/exp(-z**2)", "diverges"),
    ("z*exp(Abs(z)**2)", "diverges"),
    ("exp(-z)**z", "exponents must be constants"),
    ("lambda z: z", "Lambda 'lambda z: z'"),
    ("z if z > 0 else 0", "IfExp"),
    ("__import__('os').system('true')", "__import__"),
    ("z.real", "Attribute"),
    ("[z]", "List"),
    ("z @ z", "MatMult"),
    ("z % 2", "Mod"),
    ("z > 0", "Compare"),
    ("Max(z)", "at least 2 arguments"),
    ("exp()", "1 argument"),
    ("erf(z, z)", "1 argument"),
    ("tanh(z=1)", "keyword"),
    ("atan(z)", "'atan'"),
    ("Z + 1", "'Z'"),
    ("x", "unknown activation 'x'"),
    ("z +", "not a valid expression"),
    ("1*(" * 70 + "z" + ")" * 70, "nested too deeply"),
    ("2 + 3", "does not depend on z"),
    ("1e999 * z", "not finite"),
    ("'z'", "not a number"),
    ("True * z", "not a number"),
    ("z + " * 300 + "z", "characters long"),
    ("nosuch:1", "unknown activation 'nosuch:1'"),
    ("leaky_relu", "slope"),
    ("leaky_relu:x", "slope must be a finite number, got 'x'"),
    ("relu_power:9", "relu_power"),
    ("relu:3", "takes no parameter"),
    ("polynomial:0,0", "identically zero"),
    ("polynomial:" + ",".join(["1"] * 18), "above 16"),
    ("polynomial:1,nan", "'nan'"),
]


@pytest.mark.parametrize("text,needle", BAD_EXPRESSIONS)
def test_derive_bad_expression(text, needle, work, capsys):
    run_cli(["derive", text], capsys, work, needle=needle)


@pytest.mark.parametrize("text,needle", BAD_EXPRESSIONS[::6])
def test_solve_bad_activation(text, needle, work, capsys):
    run_cli(SOLVE + ["--activation", text], capsys, work, needle=needle)


@pytest.mark.parametrize("cmd", [["conjecture", "--d", "2"], ["rate", "--d", "2"]])
@pytest.mark.parametrize("text,needle", [("1/z", "may vanish"), ("exp(z**2)", "diverges")])
def test_sweeps_bad_activation(cmd, text, needle, work, capsys):
    run_cli(cmd + ["--activation", text], capsys, work, needle=needle)


@pytest.mark.parametrize("text,needle", BAD_EXPRESSIONS[:30])
def test_api_get_activation(text, needle):
    from compverify.symbolic import get_activation

    with pytest.raises(CompverifyError, match=None) as exc:
        get_activation(text)
    assert needle in str(exc.value)


@pytest.mark.parametrize("text", ["log(1 + exp(z))", "1/(1 + exp(-z))", "sqrt(z**2 + 1)",
                                  "exp(-z**2)", "z*exp(z)", "(z**4)**4", "exp(-exp(z))",
                                  "Abs(z)**0.5", "9**64*z", "1/(z**2 + 1)", "exp(z)**64",
                                  "tanh(z)**20", "Max(0, z)**8 * Abs(z)**8"])
def test_valid_expressions_are_kept(text):
    """The domain checks refuse only what has no Gaussian kernel: these stay accepted."""
    import mpmath

    from compverify.symbolic import parse_activation

    expr = parse_activation(text)
    f = __import__("sympy").lambdify(expr.free_symbols.pop(), expr, "mpmath")
    assert all(mpmath.isfinite(f(mpmath.mpf(x))) for x in (-3, -0.5, 0, 0.5, 3))


_ATOMS = st.sampled_from(["z", "1", "2", "0", "0.5", "-1", "64", "9", "1e308", "(", ")", "+",
                          "-", "*", "/", "**", ",", " ", "Max(", "Min(", "Abs(", "exp(", "log(",
                          "sqrt(", "tanh(", "erf(", "sign(", "Heaviside(", "lambda", ":", "x",
                          "__", ".", "'", "[", "]"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ATOMS, min_size=1, max_size=25).map("".join))
def test_fuzz_parser_grammar_tokens(text):
    """Any token soup parses to a finite real function of z or is refused with CompverifyError."""
    import mpmath
    import sympy

    from compverify.symbolic import parse_activation

    t0 = time.perf_counter()
    try:
        expr = parse_activation(text)
    except CompverifyError as exc:
        assert "\n" not in str(exc)
    else:  # the parser's promise: a finite real function on all of R
        f = sympy.lambdify(sympy.Symbol("z", real=True), expr, "mpmath")
        for x in ("-2.5", "-0.3", "0", "0.7", "4"):
            y = mpmath.mpmathify(f(mpmath.mpf(x)))
            assert isinstance(y, mpmath.mpf) and mpmath.isfinite(y), (text, x, y)
    assert time.perf_counter() - t0 < 10.0  # no hang (first call: imports)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_parser_any_text(text):
    from compverify.symbolic import get_activation

    try:
        get_activation(text)
    except CompverifyError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 70), st.integers(1, 70))
def test_fuzz_nested_powers(depth, e1, e2):
    """Nested powers are accepted exactly when their total degree is at most 16."""
    from compverify.symbolic import parse_activation
    from compverify.symbolic.parser import MAX_DEGREE, MAX_EXPONENT

    text = "z"
    for k in range(depth):
        text = f"({text})**{e1 if k % 2 == 0 else e2}"
    degree = 1
    for k in range(depth):
        e = e1 if k % 2 == 0 else e2
        degree *= e
        if e > MAX_EXPONENT:
            degree = float("inf")
    try:
        parse_activation(text)
        accepted = True
    except CompverifyError:
        accepted = False
    assert accepted == (degree <= MAX_DEGREE)


# ================================================================= 4. silent wrong answers
@pytest.mark.parametrize("act", ["sign", "polynomial:0,1", "polynomial:0,1,0,-2",
                                 "erf", "z**3", "z*Abs(z)"])
def test_odd_activation_with_mean_zero(act, work, capsys):
    run_cli(SOLVE + ["--activation", act], capsys, work, needle="identically zero")


@pytest.mark.parametrize("target", ["gaussian", "iid:gaussian"])
def test_odd_activation_gaussian_targets(target, work, capsys):
    run_cli(SOLVE + ["--activation", "sign", "--target", target], capsys, work,
            needle="identically zero")


@pytest.mark.parametrize("target", ["iid:rademacher", "iid:uniform"])
@pytest.mark.parametrize("act", ["polynomial:0,1", "polynomial:0,2,0,-1"])
def test_odd_activation_symmetric_iid_targets(act, target, work, capsys):
    run_cli(SOLVE + ["--activation", act, "--target", target], capsys, work,
            needle="zero function")


@pytest.mark.parametrize("arrays,needle", [
    ({"a": np.ones(4), "W": np.zeros((4, 2))}, "zero function"),
    ({"a": np.zeros(4), "W": np.ones((4, 2))}, "zero function"),
    ({"a": np.ones(4) + 1j, "W": np.ones((4, 2))}, "complex"),
    ({"a": np.ones(4), "W": np.ones((4, 2)) * (1 + 1j)}, "complex"),
    ({"a": np.array(["x"] * 4), "W": np.ones((4, 2))}, "dtype"),
    ({"a": np.ones(4), "W": np.full((4, 2), np.nan)}, "non-finite"),
    ({"a": np.ones(4), "W": np.full((4, 2), np.inf)}, "non-finite"),
    ({"a": np.ones(4), "W": np.ones(4)}, "shape"),
    ({"a": np.ones(3), "W": np.ones((4, 2))}, "length 3"),
    ({"a": np.ones(4)}, "lacks array(s) W"),
    ({"W": np.ones((4, 2))}, "lacks array(s) a"),
    ({"a": np.ones(0), "W": np.ones((0, 2))}, "at least one row"),
])
def test_npz_targets(arrays, needle, work, capsys):
    npz(work / "t.npz", **arrays)
    run_cli(["solve", "--M", "2", "--restarts", "1", "--target", "t.npz"] + POLY, capsys, work,
            needle=needle)


@pytest.mark.parametrize("content,needle", [(b"not a zip", "not a complete zip"),
                                            (b"PK\x03\x04broken", "not a")])
def test_npz_not_an_archive(content, needle, work, capsys):
    (work / "t.npz").write_bytes(content)
    run_cli(["solve", "--M", "2", "--target", "t.npz"] + POLY, capsys, work, needle=needle)


@pytest.mark.parametrize("option,value,needle", [
    ("--target-mean", "1e300", "'1e300'"), ("--target-mean", "-1e300", "'-1e300'"),
    ("--target-mean", "inf", "'inf'"), ("--target-mean", "nan", "'nan'"),
    ("--target-mean", "1e300,0", "'1e300'"), ("--target-mean", "abc", "'abc'"),
    ("--target-mean", "1,2,3", "3 entries"), ("--target-mean", "2,", "'2,'"),
    ("--target-scale", "0", "'0'"), ("--target-scale", "-1", "'-1'"),
    ("--target-scale", "1e300", "'1e300'"), ("--target-scale", "1e-300", "'1e-300'"),
    ("--target-scale", "1,2", "one number"), ("--target-scale", "x", "'x'"),
    ("--target-scale", "", "''"),
])
def test_target_options(option, value, needle, work, capsys):
    run_cli(SOLVE + POLY + ["--target", "gaussian", f"{option}={value}"], capsys, work,
            needle=needle)


@pytest.mark.parametrize("cmd", [["conjecture", "--d", "2"], ["rate", "--d", "2"]])
@pytest.mark.parametrize("option,value", [("--target-mean", "1e300"), ("--target-scale", "0")])
def test_target_options_in_sweeps(cmd, option, value, work, capsys):
    run_cli(cmd + ["--target", "gaussian", option, value], capsys, work, needle=repr(value))


@pytest.mark.parametrize("target,needle", [("iid:cauchy", "unknown target"),
                                           ("nosuch.npz", "does not exist"),
                                           ("dir.npz", "does not exist")])
def test_unknown_targets(target, needle, work, capsys):
    (work / "dir.npz").mkdir()
    run_cli(SOLVE + POLY + ["--target", target], capsys, work, needle=needle)


def test_api_odd_gaussian_target_refused():
    from compverify.numeric.targets import gaussian_target

    with pytest.raises(CompverifyError, match="identically zero"):
        gaussian_target("sign", 3)


def test_api_zero_finite_target_refused_by_solve():
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import float64_search, solve
    from compverify.numeric.targets import FiniteNetwork

    problem = Problem("polynomial:0,0,1", FiniteNetwork("polynomial:0,0,1", np.ones(3),
                                                        np.zeros((3, 2))), 2)
    for run in (lambda: solve(problem, restarts=1), lambda: float64_search(problem, 1)):
        with pytest.raises(CompverifyError, match="zero function"):
            run()


def test_api_series_order_refuses_a_huge_mean():
    from compverify.numeric.meanfield_series import series_order

    t0 = time.perf_counter()
    for u in (1e3, 1e300, float("inf")):
        with pytest.raises(CompverifyError, match="too large relative to the scale"):
            series_order(u, 30)
    assert time.perf_counter() - t0 < 1.0


# ---------------------------------------------------------------------- frame: file contents
@pytest.mark.parametrize("changes,needle", [
    ({"dps": 0}, "dps must be an integer in [15, 2000], got 0"),
    ({"dps": 10**9}, "got 1000000000"),
    ({"dps": -3}, "got -3"),
    ({"dps": "abc"}, "'abc'"),
    ({"dps": 15.5}, "15.5"),
    ({"dps": True}, "True"),
    ({"dps": None}, "None"),
    ({"verified_digits": -5}, "got -5"),
    ({"verified_digits": 1000}, "got 1000"),
    ({"verified_digits": "x"}, "'x'"),
    ({"verified_digits": 2.5}, "2.5"),
    ({"directions": []}, "non-empty"),
    ({"directions": [["1", "0"]]}, "at least 2 directions"),
    ({"directions": [["1", "0"], ["0"]]}, "different lengths"),
    ({"directions": [["1", "0"], ["nan", "1"]]}, "'nan' is not finite"),
    ({"directions": [["1", "0"], ["inf", "1"]]}, "'inf' is not finite"),
    ({"directions": [["1", "0"], ["0", "0"]]}, "zero vector"),
    ({"directions": [["1", "0"], ["one", "1"]]}, "'one' is not a number"),
    ({"directions": [["1", "0"], [[1], "1"]]}, "not a number"),
    ({"directions": "simplex"}, "non-empty list"),
    ({"version": "0.0.1"}, "0.0.1"),
    ({"directions": [["1", "0"]] * 100000}, "the frame of 100000 directions"),
    ({"dps": _DELETE}, "missing dps"),
])
def test_frame_file_contents(changes, needle, work, capsys):
    solve_result(work / "r.json", **changes)
    run_cli(["frame", "r.json"], capsys, work, needle=needle)


@pytest.mark.parametrize("setup,arg,needle", [
    (None, "dir", "is a directory"),
    (None, "missing.json", "does not exist"),
    (lambda w: (w / "r.json").write_text("{not json"), "r.json", "is not JSON"),
    (lambda w: (w / "r.json").write_text("[1, 2]"), "r.json", "not a compverify solve"),
    (lambda w: (w / "r.json").write_bytes(b"\xff\xfe"), "r.json", "is not JSON"),
    (lambda w: (w / "r.json").write_text("[" * 100000), "r.json", "is not JSON"),
    (None, "/dev/null", "not a regular file"),
])
def test_frame_file(setup, arg, needle, work, capsys):
    if setup:
        setup(work)
    run_cli(["frame", arg], capsys, work, needle=needle)


@pytest.mark.slow
def test_frame_accepts_the_valid_file(work, capsys):
    """The fixture itself is valid: the checks above are what refuses."""
    solve_result(work / "r.json")
    assert main(["frame", "r.json"]) == 0
    assert "verdict" in capsys.readouterr().out


# ============================================================ 5. integers and grids (parsing)
@pytest.mark.parametrize("argv,needle", [
    (SOLVE[:-2] + ["--restarts", "0"], "--restarts"),
    (SOLVE[:-2] + ["--restarts", "-1"], "--restarts"),
    (["solve", "--d", "0", "--M", "2"], "--d"),
    (["solve", "--d", "2", "--M", "0"], "--M"),
    (["solve", "--d", "2", "--M", "x"], "'x'"),
    (["solve", "--d", "2.5", "--M", "2"], "'2.5'"),
    (["solve", "--d", "2", "--M", "2", "--dps", "14"], "--dps"),
    (["solve", "--d", "2", "--M", "2", "--dps", "5000"], "--dps"),
    (["solve", "--d", "2", "--M", "2", "--seed", "-1"], "--seed"),
    (["solve", "--d", "2", "--M", "2", "--jobs", "0"], "--jobs"),
    (["solve", "--d", "2", "--M", "2", "--jobs", "100000"], "--jobs = 100000"),
    (["conjecture", "--d", "2", "--jobs", "100000"], "--jobs = 100000"),
    (["rate", "--N", "8:100000000"], "'8:100000000' has 99999993 values"),
    (["rate", "--d", "1:5000", "--N", "8,16"], "'1:5000' has 5000 values"),
    (["solve", "--d", "2", "--M", "2", "--method", "newton"], "newton"),
    (["solve", "--M", "2"], "--d is required"),
    (["solve", "--d", "2"], "--M"),
    (["solve", "--d", "2", "--M", "2", "--rule-points", "8"], "--rule-points"),
    (["nosuch"], "nosuch"),
    (["derive"], "ACTIVATION"),
    (["derive", "relu", "--format", "xml"], "xml"),
    (["frame"], "RESULT"),
    (["conjecture", "--d", "0:3"], "--d"),
    (["conjecture", "--d", "5:2"], "--d"),
    (["conjecture", "--d", "2", "--M", "d**d**d"], "d**d**d"),
    (["conjecture", "--d", "2", "--M", "__import__('os')"], "__import__"),
    (["conjecture", "--d", "2", "--dps", "3"], "--dps"),
    (["conjecture", "--d", "2", "--restarts", "0"], "--restarts"),
    (["conjecture", "--d", "x"], "'x'"),
    (["rate", "--N", "8"], "at least two values of N"),
    (["rate", "--N", "8,1e10"], "'8,1e10'"),
    (["rate", "--N", "0,8"], "--N"),
    (["rate", "--N", "8,-16"], "-16"),
    (["rate", "--d", "0,2"], "--d"),
    (["rate", "--samples", "1"], "--samples"),
    (["rate", "--M", "lots"], "lots"),
    (["report", "--config", "missing.toml"], "missing.toml"),
    (["report", "--progress", "fancy"], "fancy"),
])
def test_arguments(argv, needle, work, capsys):
    run_cli(argv, capsys, work, needle=needle)


@pytest.mark.parametrize("text,needle", [
    ("[report\n", "report.toml"),
    ("[report]\nseed = 'x'\n", "seed"),
    ("[nosuch]\n", "nosuch"),
])
def test_report_bad_config(text, needle, work, capsys):
    (work / "report.toml").write_text(text)
    run_cli(["report", "--config", "report.toml", "--out", "rep"], capsys, work, needle=needle)


# =============================================================================== 6. messages
def test_whitespace_is_quoted_as_given(work, capsys):
    line = run_cli(["derive", "lambda z: z"], capsys, work)
    assert "'lambda z: z'" in line and "lambdaz" not in line


def test_ctrl_c_before_any_checkpoint_names_no_file(work, capsys, monkeypatch):
    """Interrupted before a restart finished: no checkpoint exists, so none is named."""
    import compverify.numeric.solver as solver

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(solver, "_solve", interrupted)
    code = main(SOLVE + POLY + ["--out", "r.json"])
    err = capsys.readouterr().err
    assert code == 130
    assert not (work / "r.json.checkpoint.json").exists()
    assert "kept in" not in err and "nothing was kept" in err
    assert listing(work) == {"file", "dir"}


def test_computation_failure_is_status_1_not_bad_input():
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import _all_failed

    class R:
        message = "failed: pair (0, 1) is exactly parallel: the loss is not differentiable there"

    problem = Problem("polynomial:0,0,1", __import__(
        "compverify.numeric.targets", fromlist=["isotropic"]).isotropic(2, "polynomial:0,0,1"), 2)
    with pytest.raises(ComputationFailed, match="cannot neither|can neither reach"):
        _all_failed(problem, [R(), R()])


# ================================================================== 7. the real exit path
@pytest.mark.parametrize("argv,status,needle", [
    (["derive", "(z**64)**64"], 2, "total degree"),
    (["solve", "--d", "2", "--M", "2", "--out", "/proc/x.json"], 2, "cannot create files"),
    (["frame", "."], 2, "is a directory"),
])
@pytest.mark.slow
def test_subprocess_exit(argv, status, needle, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "compverify.cli", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == status
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ============================================== 8. valid input the solver cannot handle (slow)
@pytest.mark.slow
def test_step_with_two_neurons_is_a_computation_failure(work, capsys):
    """step at M = 2: the restarts end at v_2 = -v_1, where the loss is not differentiable; that
    is the method's limit, not bad input: status 1 and one line saying so."""
    run_cli(["solve", "--activation", "step", "--d", "2", "--M", "2", "--restarts", "2"], capsys,
            work, status=1, needle="not differentiable", limit=600)


@pytest.mark.slow
def test_exact_fit_reports_a_non_negative_loss(work, capsys):
    """relu at d = 1 is fitted exactly by M = 3 (|x| = relu(x) + relu(-x)): the loss, a squared
    distance, is reported >= 0; a negative computed value must lie within C 10^-digits of 0."""
    import mpmath

    assert main(["solve", "--d", "1", "--M", "3", "--restarts", "2", "--out", "r.json"]) == 0
    capsys.readouterr()
    data = json.loads((work / "r.json").read_text())
    loss, C = mpmath.mpf(data["loss"]), mpmath.mpf(data["C"])
    assert loss >= 0 and mpmath.mpf(data["relative_loss"]) >= 0
    neg = data["evidence"]["negative_loss"]
    if neg is not None:
        assert loss == 0
        assert -mpmath.mpf(neg) <= C * mpmath.mpf(10) ** -data["evidence"]["verified_digits"]


@pytest.mark.parametrize("mean,scale,needle", [
    ("1e300", None, "'1e300'"), ([0.0, 1e300], None, "'1e+300'"), (None, "1e-300", "'1e-300'"),
    (None, 0.0, "'0.0'"), ("nan", None, "'nan'"),
])
def test_api_from_options_target_numbers(mean, scale, needle):
    from compverify.numeric.targets import from_options

    with pytest.raises(CompverifyError, match=None) as exc:
        from_options("gaussian", d=2, mean=mean, scale=scale, activation="polynomial:0,0,1")
    assert needle in str(exc.value)


def test_api_overflowing_target_refused_by_solve():
    """A target built directly (no option check) whose C overflows float64 is refused."""
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import solve
    from compverify.numeric.targets import gaussian_target

    act = "polynomial:0,0,0,1"
    target = gaussian_target(act, 2, mean=np.full(2, 1e300))
    with pytest.raises(CompverifyError, match="not finite"):
        solve(Problem(act, target, 2), restarts=1)


def test_closed_stdout_pipe_is_quiet(tmp_path):
    """``compverify targets | head``: the reader has closed the pipe; no traceback, status 141.

    The read end is closed before the command writes (it is still importing), so every write
    meets the closed pipe, whatever the output's size.
    """
    env = {**os.environ, "COMPVERIFY_CACHE": "off"}
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "compverify.cli", "targets"], cwd=tmp_path, env=env,
                            stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    os.close(read_end)
    stderr = proc.stderr.read().decode()
    status = proc.wait(timeout=LIMIT)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert status == 141, (status, stderr)
