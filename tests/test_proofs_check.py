"""Frames: catalogue ETFs to 30 digits, verdicts on constructed examples, certified bounds, CLI."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest

from compverify._version import __version__
from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.proofs_check import catalogue
from compverify.proofs_check.certificates import distance_bounds
from compverify.proofs_check.frames import diagnostics, frame_block
from compverify.proofs_check.verdict import classify

BUILDS = [lambda: catalogue.simplex(2, 40), lambda: catalogue.simplex(5, 40),
          lambda: catalogue.icosahedral(40), lambda: catalogue.paley(5, 40),
          lambda: catalogue.paley(13, 40), lambda: catalogue.paley(9, 40),
          lambda: catalogue.naimark_complement(catalogue.icosahedral(40)),
          lambda: catalogue.naimark_complement(catalogue.paley(13, 40))]


@pytest.mark.parametrize("build", BUILDS)
def test_catalogue_is_etf_to_30_digits(build):
    etf = build()
    fd = diagnostics(etf.vectors, dps=40)
    eps = mpmath.mpf(10) ** -30
    with mpmath.workdps(40):
        assert fd.tightness_defect < eps
        assert fd.equiangularity_spread < eps
        assert abs(fd.coherence - fd.welch_bound) < eps
        assert abs(fd.frame_potential - fd.frame_potential_bound) < eps
    assert classify(fd, 1e-25) == "ETF"


def test_sign_pattern_test():
    C = catalogue.paley_conference(5)
    S = C.copy()
    assert catalogue.sign_pattern_test(S, 3)["carries_etf"]
    rng = np.random.default_rng(3)
    R = np.triu(rng.choice([-1, 1], size=(6, 6)), 1)
    R = R + R.T
    # a random pattern carries one only if it is switching-equivalent to Paley's: compare with the
    # spectrum computed independently in float64
    ev = np.linalg.eigvalsh(np.eye(6) + R / np.sqrt(5))
    expected = bool(np.sum(np.abs(ev) < 1e-9) == 3)
    assert catalogue.sign_pattern_test(R, 3)["carries_etf"] == expected
    with pytest.raises(CompverifyError):
        catalogue.sign_pattern_test(np.ones((3, 3)), 2)


def _harmonic(M, d):
    k = np.arange(M)
    cols = []
    for j in range(1, d // 2 + 1):
        cols += [np.cos(2 * np.pi * j * k / M), np.sin(2 * np.pi * j * k / M)]
    return np.array(cols).T[:, :d] / np.sqrt(d / 2)


def test_verdicts_on_constructed_examples():
    # harmonic frame (M = 5, d = 2... use d = 4, M = 7): tight, not equiangular
    U = _harmonic(7, 4)
    b = frame_block(U, verified_digits=28, dps=30)
    assert b["verdict"] == "tight, not equiangular"
    # a perturbed ETF: neither, with a positive certified lower bound
    rng = np.random.default_rng(0)
    E = catalogue.paley(5, 20).as_float()
    P = E + 0.03 * rng.standard_normal(E.shape)
    b = frame_block(P, verified_digits=28, dps=30)
    assert b["verdict"] == "neither"
    assert b["distance_lower_bound_etf"] > 0 and b["distance_lower_bound_tight"] > 0
    # four of the six icosahedral lines: equiangular, not tight
    b = frame_block(catalogue.icosahedral(30).vectors[:4], verified_digits=28, dps=30)
    assert b["verdict"] == "equiangular, not tight"
    # repeated direction: degenerate; M <= d: degenerate
    R = np.vstack([E[:4], E[:1]])
    assert frame_block(R, verified_digits=28, dps=30)["verdict"] == "degenerate"
    assert frame_block(np.eye(3), verified_digits=28, dps=30)["verdict"] == "degenerate"


@pytest.mark.parametrize("seed", range(4))
def test_lower_bounds_never_exceed_true_distance(seed):
    """A known ETF's Gram lies in E and F: its distance bounds both from above."""
    rng = np.random.default_rng(seed)
    E = catalogue.simplex(4, 20).as_float() if seed % 2 else catalogue.paley(5, 20).as_float()
    d = E.shape[1]
    P = E + rng.uniform(0.01, 0.3) * rng.standard_normal(E.shape)
    P /= np.linalg.norm(P, axis=1)[:, None]
    G, H = P @ P.T, E @ E.T
    b = distance_bounds(G, d)
    true_upper = np.linalg.norm(G - H)
    assert 0 <= b.lower_bound_etf <= true_upper + 1e-12
    assert 0 <= b.lower_bound_tight <= true_upper + 1e-12
    # and the certified bound is close to the solver's primal distance (it is a sharp bound)
    assert b.lower_bound_etf <= b.primal_distance_etf + 1e-7
    assert b.lower_bound_etf >= 0.99 * b.primal_distance_etf - 1e-6


def test_existence_table():
    assert catalogue.existence(3, 6)["status"] == "exists"
    assert catalogue.existence(4, 11)["status"] == "does not exist"  # Gerzon: 11 > 10
    assert catalogue.existence(5, 10)["status"] == "exists"
    assert catalogue.existence(4, 8)["status"] == "does not exist"   # 8 != 2 mod 4
    assert catalogue.existence(3, 3)["status"] == "not applicable"
    assert catalogue.lookup(5, 10, dps=20).name == "paley(9)"  # GF(9) arithmetic
    assert catalogue.existence(27, 40)["status"] == "does not exist"  # complement (13, 40) fails
    assert catalogue.existence(23, 46)["status"] == "exists"  # Mathon 1978


def test_bad_inputs():
    with pytest.raises(CompverifyError, match="row 1 is zero"):
        diagnostics(np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(CompverifyError, match="M >= 2"):
        diagnostics(np.array([[1.0, 0.0]]))
    with pytest.raises(CompverifyError, match="2-D"):
        diagnostics(np.array([1.0, 0.0]))


def _result_json(tmp_path, U, version=__version__):
    data = {"problem": {"d": U.shape[1], "M": U.shape[0]}, "version": version, "dps": 30,
            "evidence": {"verified_digits": 28},
            "directions": [[mpmath.nstr(x, 30) for x in row] for row in U]}
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    return p


def test_cli_frame(tmp_path, capsys):
    U = catalogue.simplex(3, 30).vectors
    p = _result_json(tmp_path, U)
    assert main(["frame", str(p)]) == 0
    assert "verdict: ETF" in capsys.readouterr().out
    assert main(["frame", str(p), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "ETF"


def test_cli_frame_bad_files(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{\"a\": 1}")
    (tmp_path / "y.json").write_text("not json")
    old = _result_json(tmp_path, catalogue.simplex(2, 30).vectors, version="0.0.1")
    for path in (tmp_path / "x.json", tmp_path / "y.json", old, tmp_path / "missing.json"):
        assert main(["frame", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err and "\n" not in err and "Traceback" not in err
