"""Proofs beyond the centred isotropic case, and the global (2, 3) certificate.

References are independent of numeric/rigorous_general: the symbolic layer's kernels
(``Kernel.value_mp``), the targets' own mpmath evaluation (``FiniteNetwork``, ``GaussianTarget``)
and the solver's reduced objective ``Problem.reduced_mp`` at 50 and 80 digits; derivatives
against central finite differences of that mpmath value.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import flint
import mpmath
import numpy as np
import pytest
from flint import arb, arb_mat

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork
from compverify.numeric.objective import Problem
from compverify.numeric.rigorous_general import GeneralObjective, polynomial_kernel_terms
from compverify.numeric.targets.gaussian import GaussianTarget
from compverify.proofs_check import certificate_checker as checker
from compverify.proofs_check.local_proof import prove_local_at
from compverify.symbolic import get_activation
from compverify.symbolic.ball import to_mpf

DATA = Path(__file__).parent / "data"
V3 = [["0.5", "0.25"], ["-0.75", "0.5"], ["0.125", "-1"]]
A3 = ["1", "0.5", "-0.25"]
POLY = "polynomial:0,1,1,1"


def _rows_mp(obj: GeneralObjective, x: list, dps: int) -> np.ndarray:
    """The chart's rows in mpmath (an independent transcription of the charts)."""
    with mpmath.workdps(dps + 10):
        x = [mpmath.mpf(t) for t in x]
        if obj.chart == "sphere":
            return np.array([[mpmath.cos(t), mpmath.sin(t)] for t in x], dtype=object)
        o = int(obj.chart.split(":")[1])
        it = iter(x)
        return np.array([[next(it) if k <= min(j + o, obj.d - 1) else mpmath.mpf(0)
                          for k in range(obj.d)] for j in range(obj.M)], dtype=object)


def _case(kind: str):
    """``(objective, point, independent mpmath r(x) at dps)`` for one kind of problem."""
    if kind in ("relu-finite", "poly-finite"):
        spec = "relu" if kind == "relu-finite" else POLY
        chart = "sphere" if spec == "relu" else "lower:2"
        obj = GeneralObjective(spec, 2, 2, {"family": "finite", "V": V3, "a": A3}, chart)
        net = FiniteNetwork(spec, [float(Fraction(t)) for t in A3],
                            [[float(Fraction(t)) for t in r] for r in V3])
        x = [0.3, 2.0] if spec == "relu" else [0.3, 0.2, -0.4, 0.1]
    else:
        mean = [0.0, 0.0] if kind == "poly-centred" else [0.5, -0.25]
        mm = sum(Fraction(m) ** 2 for m in mean)
        obj = GeneralObjective(POLY, 2, 2, {"family": "gaussian", "mean_norm_squared": str(mm),
                                            "scale": "1/sqrt(d)", "abar": "1"},
                               "lower:0" if mm == 0 else "lower:1")
        # the objective's frame has the mean along e_1: the same problem as mean (|mean|, 0)
        net = GaussianTarget(POLY, 2, mean=[float(mpmath.sqrt(mm.numerator / mm.denominator)),
                                            0.0] if mm else None)
        x = [0.7, -0.4, 0.3] if mm == 0 else [0.7, 0.2, -0.4, 0.3]
    prob = Problem(obj.spec, net, obj.M)

    def r_mp(xx: list, dps: int):
        L = prob.reduced_mp(_rows_mp(obj, xx, dps), dps=dps).value
        with mpmath.workdps(dps):
            return L / net.C_mp(dps)

    return obj, x, r_mp, (kind == "poly-mean")


@pytest.mark.slow  # SymPy derivations and mpmath reduced objectives: 5-60 s
@pytest.mark.parametrize("spec", ["polynomial:0,1,1,1", "polynomial:1,0,-2,1"])
def test_polynomial_kernel_terms_match_the_symbolic_kernel(spec):
    """The (|u|^2, |v|^2, <u, v>) polynomial equals the symbolic kernel at 50 and 80 digits."""
    terms = polynomial_kernel_terms(spec)
    k = get_activation(spec).kernel
    for dps in (50, 80):
        with mpmath.workdps(dps + 10):
            for nu, nv, rho in (("0.7", "1.3", "0.2"), ("2", "0.25", "-0.9")):
                nu, nv, rho = mpmath.mpf(nu), mpmath.mpf(nv), mpmath.mpf(rho)
                mine = sum(c.numerator * (nu * nu) ** a * (nv * nv) ** b * (nu * nv * rho) ** e
                           / c.denominator for a, b, e, c in terms)
                assert abs(mine - k.value_mp(nu, nv, rho, dps)) < mpmath.mpf(10) ** (2 - dps) * (
                    1 + abs(mine))


@pytest.mark.slow  # SymPy derivations and mpmath reduced objectives: 5-60 s
@pytest.mark.parametrize("kind", ["relu-finite", "poly-finite", "poly-centred", "poly-mean"])
def test_general_value_encloses_mpmath_at_two_precisions(kind):
    obj, x, r_mp, float_mean = _case(kind)
    with flint.ctx.workprec(320):
        r, _, _ = obj.derivatives([arb(t) for t in x], order=1)
    assert float(r.rad()) < 1e-80
    for dps in (50, 80):
        ref = r_mp(x, dps)
        # the GaussianTarget takes the mean |mu| as a float: agreement to its rounding only
        tol = mpmath.mpf(10) ** -14 if float_mean else mpmath.mpf(10) ** (2 - dps)
        assert abs(ref - to_mpf(r)) <= to_mpf(r.rad()) + tol, (kind, dps)


@pytest.mark.slow  # SymPy derivations and mpmath reduced objectives: 5-60 s
@pytest.mark.parametrize("kind", ["relu-finite", "poly-centred"])
def test_general_derivatives_enclose_finite_differences(kind):
    obj, x, r_mp, _ = _case(kind)
    with flint.ctx.workprec(256):
        _, g, H = obj.derivatives([arb(t) for t in x], order=2)
    n, dps, h = len(x), 50, mpmath.mpf(10) ** -12
    with mpmath.workdps(dps):
        for a in range(n):
            e = [mpmath.mpf(0)] * n
            e[a] = h
            fp = r_mp([t + s for t, s in zip(x, e, strict=True)], dps)
            fm = r_mp([t - s for t, s in zip(x, e, strict=True)], dps)
            f0 = r_mp(x, dps)
            assert abs((fp - fm) / (2 * h) - to_mpf(g[a])) < mpmath.mpf(10) ** -18
            assert abs((fp - 2 * f0 + fm) / (h * h) - to_mpf(H[a][a])) < mpmath.mpf(10) ** -18
        # one mixed second derivative
        e1, e2 = [h if i == 0 else 0 for i in range(n)], [h if i == 1 else 0 for i in range(n)]
        pp = r_mp([t + u + v for t, u, v in zip(x, e1, e2, strict=True)], dps)
        pm = r_mp([t + u - v for t, u, v in zip(x, e1, e2, strict=True)], dps)
        mp_ = r_mp([t - u + v for t, u, v in zip(x, e1, e2, strict=True)], dps)
        mm = r_mp([t - u - v for t, u, v in zip(x, e1, e2, strict=True)], dps)
        assert abs((pp - pm - mp_ + mm) / (4 * h * h) - to_mpf(H[0][1])) < mpmath.mpf(10) ** -18


def _newton(obj: GeneralObjective, x0: list, iters: int = 30) -> list:
    x = [arb(t) for t in x0]
    with flint.ctx.workprec(256):
        for _ in range(iters):
            _, g, H = obj.derivatives(x)
            step = arb_mat(H).solve(arb_mat([[v] for v in g]))
            x = [arb((x[i] - step[i, 0]).mid()) for i in range(len(x))]
    return x


def _finite_problem(spec: str, chart: str) -> dict:
    return {"objective": "general", "activation": spec, "d": 2, "M": 2,
            "target": {"family": "finite", "V": V3, "a": A3}, "chart": chart}


@pytest.fixture(scope="module")
def finite_cert() -> dict:
    ps = _finite_problem("relu", "sphere")
    obj = checker.general_objective(ps)
    x = _newton(obj, [0.6134, 2.4980])  # a float start from a coarse grid and Nelder-Mead
    return prove_local_at(ps, x, [0, 1])


@pytest.mark.slow
def test_finite_relu_target_proved_local_minimum(finite_cert):
    assert finite_cert["kind"] == "strict local minimum"
    assert checker.check(finite_cert) == (True, "valid")
    obj = checker.general_objective(finite_cert["problem"])
    # the value at the proved centre, independently in mpmath, lies in the claim (the centre is
    # within 2^value_radius_log2 of the minimiser, so the values differ by far less than 1e-30)
    with flint.ctx.workprec(300):
        c = [to_mpf(checker.dyadic(p)) for p in finite_cert["box"]["center"]]
    _, _, r_mp, _ = _case("relu-finite")
    with mpmath.workdps(50):
        lo, hi = (mpmath.mpf(v) for v in finite_cert["claims"]["relative_value"])
        assert lo - mpmath.mpf(10) ** -30 <= r_mp(c, 40) <= hi + mpmath.mpf(10) ** -30
    assert obj.n == 2


@pytest.mark.parametrize("edit", ["claim", "target", "chart"])
def test_edited_general_certificate_fails_on_the_mathematics(finite_cert, edit):
    cert = copy.deepcopy(finite_cert)
    if edit == "claim":
        lo = cert["claims"]["relative_value"][0]
        cert["claims"]["relative_value"][0] = lo[:-1] + str((int(lo[-1]) + 1) % 10)
    elif edit == "target":
        cert["problem"]["target"]["a"][0] = "1.001"
    else:
        cert["problem"]["chart"] = "lower:2"
    cert["digest"] = checker.digest(cert)
    ok, why = checker.check(cert)
    assert not ok and why != "valid"


@pytest.mark.slow
def test_polynomial_gaussian_mean_proved_local_minimum():
    ps = {"objective": "general", "activation": POLY, "d": 2, "M": 1,
          "target": {"family": "gaussian", "mean_norm_squared": "5/16", "scale": "1/sqrt(d)",
                     "abar": "1"}, "chart": "lower:1"}
    obj = checker.general_objective(ps)
    # M = 1: scan a coarse grid for the best float start, then Newton
    grid = [(a / 4, b / 4) for a in range(-8, 9) for b in range(0, 9)]
    with flint.ctx.workprec(64):
        vals = []
        for p in grid:
            try:
                vals.append((float(obj.derivatives([arb(p[0]), arb(p[1])], 1)[0].mid()), p))
            except ZeroDivisionError:
                continue
    x = _newton(obj, list(min(vals)[1]))
    cert = prove_local_at(ps, x, [0])
    assert checker.check(cert) == (True, "valid")
    assert "frame where the mean is along e_1" in cert["statement"]


def test_homogeneous_with_a_mean_is_refused_with_the_reason():
    with pytest.raises(CompverifyError, match="nonzero mean"):
        GeneralObjective("relu", 2, 2, {"family": "gaussian", "mean_norm_squared": "1",
                                        "scale": "1", "abar": "1"}, "sphere")
    with pytest.raises(CompverifyError, match="chart"):
        GeneralObjective(POLY, 2, 2, {"family": "finite", "V": V3, "a": A3}, "lower:0")


@pytest.mark.slow
def test_committed_global_certificate_2_3_is_valid_and_tamper_evident():
    """The (2, 3) ReLU global-minimum certificate (300 leaves, no degenerate leaf) re-checks; a
    changed leaf status, with the digest recomputed, is rejected."""
    cert = json.loads((DATA / "global_relu_2_3.json").read_text())
    assert cert["kind"] == "global minimum"
    assert cert["claims"]["unresolved_degenerate"] == 0
    assert "over every configuration" in cert["statement"]
    assert checker.check(cert) == (True, "valid")
    bad = copy.deepcopy(cert)
    st = bad["leaf_status"]
    i = st.index("x")  # an excluded leaf is not inside the local box
    bad["leaf_status"] = st[:i] + "l" + st[i + 1:]
    bad["digest"] = checker.digest(bad)
    ok, why = checker.check(bad)
    assert not ok and "does not hold" in why


@pytest.mark.slow
def test_cli_prove_polynomial_with_a_mean_and_certify(tmp_path, capsys):
    """A committed solve (polynomial:0,1,1,1, d = 2, M = 2, mean (0.5, -0.25), 30 verified
    digits): `prove` encloses the solver's relative loss; `certify` re-checks; a degenerate point
    (both rows parallel) is `numerical only` with exit 1."""
    from compverify.cli import main

    src = json.loads((DATA / "poly_mean_d2_M2_solve.json").read_text())
    cert = tmp_path / "c.json"
    assert main(["prove", str(DATA / "poly_mean_d2_M2_solve.json"), "--out", str(cert)]) == 0
    out = capsys.readouterr().out
    assert "proved strict local minimum" in out
    data = json.loads(cert.read_text())
    lo, hi = data["certificates"][0]["claims"]["relative_value"]
    with mpmath.workdps(40):  # the solver's value, verified to 30 digits, lies in the enclosure
        # 30 digits against the claim rounded outward to 25 significant digits
        assert mpmath.mpf(lo) <= mpmath.mpf(src["relative_loss"]) <= mpmath.mpf(hi)
        assert mpmath.mpf(lo) <= mpmath.mpf(hi)
    assert main(["certify", str(cert)]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    bad = copy.deepcopy(src)
    bad["V"][1] = [str(-2 * float(x)) for x in bad["V"][0]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert main(["prove", str(path)]) == 1
    assert "numerical only" in capsys.readouterr().out


def test_empty_region_bounds_hold_below_the_exact_value():
    """The empty-arc (d = 2) and empty-cap (d = 3) lower bounds of r, and the multi-pair upper
    bound of F, against the exact Gram-matrix objective at random configurations."""
    from compverify.numeric import rigorous_objective as ro

    rng = np.random.default_rng(3)
    hits = 0
    with flint.ctx.workprec(128):
        for _ in range(20):
            M = int(rng.integers(3, 5))
            t = sorted(rng.uniform(0.0, 2.8, M - 1).tolist())  # all within an arc < pi
            box = [(arb(v), arb(v)) for v in t]
            low = ro.relative_lower_gap_2d("relu", box)
            r = ro.relative_value("relu", 2, ro.gram_box([arb(v) for v in t], 2, M))
            if low is not None:
                hits += 1
                assert low <= r
            al = [arb(0)] + [arb(v) for v in t]
            F = ro.reduced_F("relu", ro.gram_box([arb(v) for v in t], 2, M))
            up = ro.F_upper_pairs_relu_2d(al, [(0, 1)] if M == 3 else [(0, 1), (2, 3)])
            assert up is None or up >= F.lower()
            U = rng.normal(size=(4, 3)) * [1.0, 0.4, 0.4] + [2.0, 0.0, 0.0]
            U = U / np.linalg.norm(U, axis=1, keepdims=True)
            G = [[arb(float(a @ b)) if j != k else arb(1) for k, b in enumerate(U)]
                 for j, a in enumerate(U)]
            cap = ro.relative_lower_cap_3d("relu", G)
            if cap is not None:
                hits += 1
                assert cap <= ro.relative_value("relu", 3, G)
    assert hits >= 10
