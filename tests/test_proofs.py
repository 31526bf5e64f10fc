"""Proofs: ball enclosures against independent mpmath values, local and ETF proofs, certificates.

The independent references: the symbolic layer's derived kernels and the targets' SymPy closed
forms (not the hand-written formulas of numeric/rigorous_objective), and mpmath linear algebra at
two precisions; gradients and Hessians against mpmath finite differences.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import flint
import mpmath
import numpy as np
import pytest
from flint import arb

from compverify import __version__
from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.numeric import rigorous_objective as ro
from compverify.numeric.targets import from_options
from compverify.proofs_check import catalogue
from compverify.proofs_check import certificate_checker as checker
from compverify.proofs_check.counterexample import prove_etf_not_optimal
from compverify.proofs_check.local_proof import prove_local
from compverify.proofs_check.prover import prove_result
from compverify.symbolic import get_activation

DATA = Path(__file__).parent / "data"
SPECS = ["relu", "abs", pytest.param("step", marks=pytest.mark.slow),
         pytest.param("leaky_relu:0.1", marks=pytest.mark.slow),
         pytest.param("relu_power:2", marks=pytest.mark.slow)]  # each derivation takes ~10-40 s


def _mp_F(spec: str, G: list[list], dps: int):
    """``1' K^-1 1`` with the symbolic layer's kernel, mpmath at ``dps`` digits."""
    k = get_activation(spec).kernel
    M = len(G)
    with mpmath.workdps(dps):
        K = mpmath.matrix(M, M)
        for j in range(M):
            for l in range(M):
                K[j, l] = k.value_mp(1, 1, mpmath.mpf(G[j][l]), dps)
        w = mpmath.lu_solve(K, mpmath.matrix([1] * M))
        return sum(w)


def _mp_ratio(spec: str, d: int, dps: int):
    """``h0^2 / C`` from the target's SymPy closed forms (mpmath)."""
    t = from_options("isotropic", d=d, mean=None, scale=None, activation=spec)
    V = np.array([[mpmath.mpf(1)] + [mpmath.mpf(0)] * (d - 1)], dtype=object)
    with mpmath.workdps(dps):
        h = t.h_mp(V, dps)[0]
        return h * h / t.C_mp(dps)


def _mp_gram_of_angles(d: int, M: int, x: list, dps: int) -> list[list]:
    """Gram of the hyperspherical rows (u_1 = e_1, row j with min(j, d-1) angles), in mpmath."""
    with mpmath.workdps(dps):
        rows, pos = [[mpmath.mpf(1)] + [mpmath.mpf(0)] * (d - 1)], 0
        for j in range(1, M):
            k = min(j, d - 1)
            ang, pos = x[pos:pos + k], pos + k
            row, tail = [], mpmath.mpf(1)
            for t in ang:
                row.append(tail * mpmath.cos(t))
                tail *= mpmath.sin(t)
            rows.append(row + [tail] + [mpmath.mpf(0)] * (d - k - 1))
        return [[mpmath.fsum(a * b for a, b in zip(rows[j], rows[l], strict=True))
                 for l in range(M)] for j in range(M)]


def _relative_mp(spec: str, d: int, G: list[list], dps: int):
    with mpmath.workdps(dps):
        return 1 - _mp_ratio(spec, d, dps) * _mp_F(spec, G, dps)


def _contains(ball: arb, value, slack: float = 0.0) -> bool:
    """``|mid - value| <= rad + slack`` (the midpoint read with 90 digits)."""
    with mpmath.workdps(100):
        mid = mpmath.mpf(ball.mid().str(90, radius=False))
        rad = mpmath.mpf(ball.rad().str(5, radius=False))
        return abs(mid - value) <= rad + slack


@pytest.mark.parametrize("spec", SPECS)
def test_kernel_and_ratio_enclose_the_symbolic_layer(spec):
    with flint.ctx.workprec(200):
        for rho in ("-0.9", "-0.3", "0.2", "0.77"):
            ball = ro.kernel(spec, arb(rho))
            with mpmath.workdps(60):
                ref = get_activation(spec).kernel.value_mp(1, 1, mpmath.mpf(rho), 50)
            assert _contains(ball, ref, 1e-45), (spec, rho, ball, ref)
            assert ball.rad() < 1e-55
        for d in (2, 3, 5):
            assert _contains(ro.loss_ratio(spec, d), _mp_ratio(spec, d, 50), 1e-45)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_value_at_the_simplex_encloses_mpmath_at_two_precisions(d):
    M = d + 1
    etf = catalogue.simplex(d, 60)
    rows = [[str(x) for x in r] for r in etf.vectors.tolist()]
    with mpmath.workdps(80):
        G = [[1 if j == k else -mpmath.mpf(1) / d for k in range(M)] for j in range(M)]
        v50, v80 = _relative_mp("relu", d, G, 50), _relative_mp("relu", d, G, 80)
        assert abs(v50 - v80) < mpmath.mpf(10) ** -45
    with flint.ctx.workprec(256):
        Gb = [[arb(1) if j == k else -arb(1) / d for k in range(M)] for j in range(M)]
        ball = ro.relative_value("relu", d, Gb)
    assert _contains(ball, v80, 1e-70)
    assert ball.rad() < 1e-70  # width reported by the proofs: 2 rad
    assert rows  # the catalogue built the simplex the Gram describes


def test_gradient_and_hessian_enclose_finite_differences():
    d, M, spec = 3, 4, "relu"
    with mpmath.workdps(60):
        x0 = [mpmath.mpf(v) for v in ("1.7", "2.1", "1.3", "2.0", "-1.9")]
        q = _mp_ratio(spec, d, 60)
    with flint.ctx.workprec(200):
        r, g, H = ro.relative_derivatives(spec, d, M, [arb(str(v)) for v in x0])

    def f(x):
        return 1 - q * _mp_F(spec, _mp_gram_of_angles(d, M, x, 60), 60)

    def shifted(steps):
        return [x0[i] + steps.get(i, 0) for i in range(5)]

    with mpmath.workdps(60):
        assert _contains(r, f(x0), 1e-50)
        h = mpmath.mpf(10) ** -12
        for a in range(5):  # central differences: error about h^2 |f'''| ~ 1e-24
            fd = (f(shifted({a: h})) - f(shifted({a: -h}))) / (2 * h)
            assert _contains(g[a], fd, 1e-20), (a, g[a], fd)
        h = mpmath.mpf(10) ** -8
        for a, b in ((0, 0), (1, 3), (4, 4), (2, 4)):
            if a == b:
                fd = (f(shifted({a: h})) - 2 * f(x0) + f(shifted({a: -h}))) / h ** 2
            else:
                fd = (f(shifted({a: h, b: h})) - f(shifted({a: h, b: -h}))
                      - f(shifted({a: -h, b: h})) + f(shifted({a: -h, b: -h}))) / (4 * h * h)
            assert _contains(H[a][b], fd, 1e-12), (a, b, H[a][b], fd)


def _simplex_result(d: int) -> dict:
    etf = catalogue.simplex(d, 50)
    rng = np.random.default_rng(d)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))  # any orientation
    with mpmath.workdps(50):
        Qm = mpmath.matrix(Q.tolist())
        rows = []
        for r in etf.vectors.tolist():
            v = mpmath.matrix([r]) * Qm
            n = mpmath.sqrt(sum(v[0, k] ** 2 for k in range(d)))
            rows.append([mpmath.nstr(v[0, k] / n, 45) for k in range(d)])
    return {"problem": {"activation": "relu", "d": d, "M": d + 1,
                        "target": {"family": "isotropic", "d": d, "mean": ["0.0"] * d,
                                   "scale": "1/sqrt(d)", "abar": "1"}},
            "directions": rows, "version": __version__, "dps": 40,
            "evidence": {"verified_digits": 40}, "frame": {"verdict": "ETF"}}


@pytest.mark.parametrize("d", [2, 3, 4])
def test_simplex_is_a_proved_strict_local_minimum(d):
    cert = prove_local(_simplex_result(d))
    assert checker.check(cert) == (True, "valid")
    with mpmath.workdps(60):
        lo, hi = (mpmath.mpf(v) for v in cert["claims"]["relative_value"])
        G = [[1 if j == k else -mpmath.mpf(1) / d for k in range(d + 1)] for j in range(d + 1)]
        ref = _relative_mp("relu", d, G, 60)
        assert lo <= ref <= hi and hi - lo < mpmath.mpf(10) ** -24
    assert cert["box"]["radius_log2"] <= -8
    assert float(cert["claims"]["hessian_min_eigenvalue_lower"]) > 0


@pytest.mark.slow
def test_relu_d3_M6_etf_not_optimal_against_mpmath():
    result = json.loads((DATA / "relu_d3_M6_solve.json").read_text())
    cert = prove_etf_not_optimal(result)
    assert checker.check(cert) == (True, "valid")
    # independent: mpmath over all 32 switchings of the icosahedral ETF
    etf = catalogue.icosahedral(40)
    V = np.array(etf.vectors.tolist(), dtype=object)
    with mpmath.workdps(40):
        G0 = [[sum(a * b for a, b in zip(V[j], V[k], strict=True)) for k in range(6)]
              for j in range(6)]
        vals = []
        for mask in range(32):
            s = [1] + [-1 if (mask >> (j - 1)) & 1 else 1 for j in range(1, 6)]
            vals.append(_relative_mp("relu", 3, [[s[j] * s[k] * G0[j][k] for k in range(6)]
                                                 for j in range(6)], 40))
        best = min(vals)
        lo, hi = (mpmath.mpf(v) for v in cert["claims"]["relative_value_etf_best"])
        assert lo <= best <= hi
        assert mpmath.mpf(cert["claims"]["relative_value_point"][1]) < lo
    assert mpmath.mpf(cert["claims"]["relative_value_point"][0]) == pytest.approx(
        float(result["relative_loss"]), rel=1e-12)


# ------------------------------------------------------------------ tampering


@pytest.fixture(scope="module")
def local_cert():
    return prove_local(_simplex_result(2))


def _redigest(cert: dict) -> dict:
    cert["digest"] = checker.digest(cert)
    return cert


def _bump_digit(text: str) -> str:
    i = max(k for k, ch in enumerate(text) if ch.isdigit() and ch != "0")
    return text[:i] + str(int(text[i]) - 1) + text[i + 1:]


def test_edited_certificate_fails_on_the_digest(local_cert):
    c = copy.deepcopy(local_cert)
    c["claims"]["relative_value"][1] = _bump_digit(c["claims"]["relative_value"][1])
    ok, why = checker.check(c)
    assert not ok and why.startswith("digest")


@pytest.mark.parametrize("edit", ["value_hi", "value_lo", "mu", "center", "radius", "kraw"])
def test_edited_numbers_fail_on_the_mathematics_too(local_cert, edit):
    c = copy.deepcopy(local_cert)
    cl = c["claims"]
    if edit == "value_hi":
        cl["relative_value"][1] = _bump_digit(cl["relative_value"][1])
    elif edit == "value_lo":
        cl["relative_value"][0] = _bump_digit(cl["relative_value"][0])
    elif edit == "mu":
        cl["hessian_min_eigenvalue_lower"] = "5"  # far above the true smallest eigenvalue
    elif edit == "center":  # a box that does not contain the critical point
        c["box"]["center"][0][0] += c["box"]["center"][0][0] // 100
    elif edit == "radius":
        c["box"]["radius_log2"] = -1
    else:
        cl["krawczyk_image_radius_upper"] = _bump_digit(cl["krawczyk_image_radius_upper"])
    ok, why = checker.check(_redigest(c))
    assert not ok, edit
    assert "digest" not in why


def test_bundle_with_a_certificate_removed_fails():
    result = json.loads((DATA / "relu_d3_M6_solve.json").read_text())
    proof = prove_result(result)
    assert proof.status == "proved: the ETF is not optimal"
    b = copy.deepcopy(proof.certificate)
    assert checker.check(b) == (True, "valid")
    b["certificates"].pop()
    ok, why = checker.check(_redigest(b))
    assert not ok and "statuses" in why


def test_etf_certificate_with_a_wrong_sign_pattern_fails():
    result = json.loads((DATA / "relu_d3_M6_solve.json").read_text())
    c = prove_etf_not_optimal(result)
    S = c["etf"]["sign_pattern"]
    S[0][1] = S[1][0] = -S[0][1]
    ok, why = checker.check(_redigest(c))
    assert not ok and "sign_pattern" in why


def test_global_tree_with_a_box_removed_fails(local_cert):
    lc = copy.deepcopy(local_cert)
    lc["neuron_order"] = [0, 1, 2]
    lc = _redigest(lc)
    g = {"format": checker.FORMAT, "kind": "global minimum", "prec_bits": 64,
         "problem": lc["problem"], "domain": [["0", "403/64"], ["0", "403/64"]],
         "degenerate_cos_delta": "0.9990234375", "tree": "10", "leaf_status": "s",
         "local_certificates": [lc], "claims": {}}
    ok, why = checker.check(_redigest(g))
    assert not ok and "tree" in why  # "10": the root split, its right half never covered


# ------------------------------------------------------------------ CLI and bad input


def test_cli_prove_and_certify(tmp_path, capsys):
    res = tmp_path / "r.json"
    res.write_text(json.dumps(_simplex_result(3)))
    cert = tmp_path / "c.json"
    assert main(["prove", str(res), "--out", str(cert)]) == 0
    out = capsys.readouterr().out
    assert "proved strict local minimum" in out and "status:" in out
    assert main(["certify", str(cert)]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    data = json.loads(cert.read_text())
    data["certificates"][0]["claims"]["relative_value"][0] = "0.5"
    cert.write_text(json.dumps(data))
    assert main(["certify", str(cert)]) == 1
    assert capsys.readouterr().out.startswith("invalid: ")


def test_cli_bad_input(tmp_path, capsys):
    assert main(["certify", str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["certify", str(bad)]) == 2
    assert main(["prove", str(bad)]) == 2
    old = _simplex_result(2)
    old["version"] = "0.0.1"
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old))
    assert main(["prove", str(p)]) == 2
    assert "0.0.1" in capsys.readouterr().err
    other = _simplex_result(2)
    other["problem"]["activation"] = "tanh"
    with pytest.raises(CompverifyError, match="tanh"):
        prove_local(other)
    meaned = _simplex_result(2)
    meaned["problem"]["target"]["mean"] = ["0.1", "0"]
    with pytest.raises(CompverifyError, match="mean"):
        prove_local(meaned)
    assert checker.check({"format": checker.FORMAT, "kind": "nope"})[0] is False


def test_report_atlas_and_sweep_field():
    from compverify.proofs_check.conjecture import format_table
    from compverify.report.section_proofs import proofs_piece, proofs_section

    solve = _simplex_result(2)
    sweep_case = {"d": 3, "M": 6, "relative_loss": "0.00238", "frame": {"verdict": "neither"},
                  "result": json.loads((DATA / "relu_d3_M6_solve.json").read_text())}
    from compverify.proofs_check.prover import proof_fields

    sweep_case.update(proof_fields({**sweep_case["result"], "frame": sweep_case["frame"]}))
    assert sweep_case["proof"] == "proved: the ETF is not optimal"
    piece = proofs_piece({"solve": [solve], "conjecture": {"cases": [sweep_case]}})
    statuses = [c["proof"] for c in piece["cases"]]
    assert statuses == ["proved strict local minimum", "proved: the ETF is not optimal"]
    table = proofs_section(piece).blocks[1]
    assert table.rows[0][4] == "proved strict local minimum"
    assert table.rows[1][5].startswith("[0.0023806678616617053681992")
    assert table.rows[0][5].startswith("[0.0017581003142029014673315")
    text = format_table({"grid": [[3, 6]], "cases": [sweep_case]})
    assert "proved: the ETF is not optimal" in text


def test_report_documents_the_checker_step_by_step():
    """The proofs section lists the checker's steps (issue: "documented line by line in the
    report"), the same seven as docs/proofs.md, in the checker's order."""
    from pathlib import Path

    from compverify.report.document import Items
    from compverify.report.section_proofs import CHECKER_STEPS, proofs_section

    items = [b for b in proofs_section({"cases": []}).blocks if isinstance(b, Items)]
    assert len(items) == 1 and len(items[0].items) == len(CHECKER_STEPS) == 7
    assert "digest" in CHECKER_STEPS[0] and "prec_bits" in CHECKER_STEPS[1]
    doc = (Path(__file__).parents[1] / "docs" / "proofs.md").read_text()
    steps = doc.split("only (no solver, no prover). Step by step:")[1].split("The tests edit")[0]
    for i, key in enumerate(["digest", "prec_bits", "Krawczyk", "switchings", "tile", "bundle",
                             "general"], 1):
        assert f"{i}. " in steps and key in CHECKER_STEPS[i - 1]
