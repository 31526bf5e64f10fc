"""The report's proof atlas: what ball arithmetic proved about each solved case.

:func:`proofs_piece` runs :func:`compverify.proofs_check.prover.prove_result` (strict local
minimum, ETF not optimal; no branch-and-bound, which is too slow for the main job) on every solve
result of the run and collects the ``proof`` field of the conjecture sweep's cases;
:func:`proofs_section` lays the atlas out as a table.  Every interval in it is a rigorous
enclosure (python-flint ``arb``), re-checkable with ``compverify prove`` / ``compverify certify``.

>>> proofs_section({"cases": []}).title
'Proofs: an atlas'
"""

from __future__ import annotations

from typing import Any

from compverify.errors import CompverifyError
from compverify.report.document import Items, Para, Section, Table

__all__ = ["proofs_piece", "proofs_section", "CHECKER_STEPS"]

#: What ``compverify certify`` does, in the order of
#: :func:`compverify.proofs_check.certificate_checker.check` (docs/proofs.md gives the same list).
CHECKER_STEPS = (
    "format is compverify-certificate/1 and the SHA-256 digest of the canonical JSON matches "
    "(any edit is caught here first);",
    "the kind is known, prec_bits is in [53, 4096], the activation and target are supported;",
    "strict local minimum: the centre and box are rebuilt from their dyadic numbers; r, its "
    "gradient and Hessian are computed at the centre and over the box; the Krawczyk image must "
    "lie inside the box (one critical point), the Cholesky factorisation of H(X) - mu I must have "
    "certainly positive pivots (a positive definite Hessian), the value box's Krawczyk test must "
    "pass, and every claim must equal its recomputed outward rounding, string for string; an "
    "optional convex box is re-checked on all its sub-boxes;",
    "ETF not optimal: the sign pattern S is symmetric, zero-diagonal, +-1, with S^2 = (M-1) I + c S "
    "and c alpha = M/d - 2 checked exactly in integers; r at the point and at all 2^(M-1) "
    "switchings is recomputed, and the point must be certainly below the smallest;",
    "global minimum: each local certificate is checked as above; the domain must contain the "
    "angle ranges; the tree's leaves must tile the domain exactly; each leaf's status is proved "
    "again; the counts and the value hull must equal the claims;",
    "bundle: each part is checked as above, and the list of kinds must match;",
    "general problems (polynomial activations, finite targets, a Gaussian mean): the objective is "
    "rebuilt from the exact target and the chart, then the local-minimum step runs unchanged.",
)


def _case(source: str, res: dict, status: str, lines: list[str], cert: dict | None) -> dict:
    p = res.get("problem") or {}
    fr = res.get("frame") or {}
    enclosure, radius = None, None
    for c in (cert or {}).get("certificates", []):
        if c["kind"] == "strict local minimum":
            enclosure = c["claims"]["relative_value"]
            radius = c["box"]["radius_log2"]
    return {"source": source, "activation": p.get("activation"), "d": p.get("d"),
            "M": p.get("M"), "verdict": fr.get("verdict"), "proof": status, "lines": lines,
            "relative_value": enclosure, "box_radius_log2": radius}


def proofs_piece(results: dict) -> dict:
    """Proofs for the run's solve results and the sweep's ``proof`` fields (JSON-ready)."""
    from compverify.proofs_check.prover import STATUSES, prove_result

    cases = []
    for res in results.get("solve") or []:
        try:
            proof = prove_result(res)
            cases.append(_case("solve", res, proof.status, proof.lines + [
                f"not proved: {f}" for f in proof.failures], proof.certificate))
        except CompverifyError as exc:
            cases.append(_case("solve", res, STATUSES[-1], [f"no proof: {exc}"], None))
    for case in (results.get("conjecture") or {}).get("cases") or []:
        res = dict(case.get("result") or {})
        res.setdefault("frame", case.get("frame") or {})
        if "proof" in case:
            entry = _case("sweep", res, str(case["proof"]), list(case.get("proof_lines", [])),
                          None)
            entry["relative_value"] = case.get("proof_relative_value")
            entry["box_radius_log2"] = case.get("proof_box_radius_log2")
            cases.append(entry)
    return {"cases": cases}


def proofs_section(piece: dict) -> Section:
    """The atlas table: activation, d, M, verdict, proof status, r = L*/C enclosure, box."""
    rows: list[list[Any]] = []
    for c in piece.get("cases") or []:
        enc = c.get("relative_value")
        rows.append([str(c.get("activation")), str(c.get("d")), str(c.get("M")),
                     str(c.get("verdict") or "\u2014"), str(c.get("proof")),
                     f"[{enc[0]}, {enc[1]}]" if enc else "\u2014",
                     f"2^{c['box_radius_log2']}" if c.get("box_radius_log2") is not None
                     else "\u2014"])
    blocks: list = [Para([
        "Each case's solution run through the prover (ball arithmetic, python-flint arb): a "
        "Krawczyk test on a box of slice angles around the point (exactly one critical point of "
        "the reduced objective r = L*/C there), a Cholesky factorisation of the Hessian minus a "
        "margin over the box (a strict local minimum on the quotient by O(d)), the enclosure of "
        "r at that minimum, and, where the catalogue has an ETF with the same (d, M) and the "
        "verdict is not ETF, a certified value below every configuration on the ETF (all sign "
        "switchings; the orientation does not change r for this rotation-invariant target). "
        "Re-check with compverify prove RESULT.json --out CERT.json; compverify certify CERT.json."
    ])]
    blocks.append(Table(["activation", "d", "M", "verdict", "proof", "r = L*/C enclosure",
                         "box radius"], rows, key="proofs"))
    notes = [f"{c.get('activation')} d={c.get('d')} M={c.get('M')}: {line}"
             for c in piece.get("cases") or [] for line in c.get("lines") or []
             if line.startswith(("not proved", "no proof"))]
    if notes:
        blocks.append(Para(["Not proved: " + "; ".join(notes) + "."]))
    blocks.append(Para(["How compverify certify re-checks a certificate, with python-flint arb "
                        "and numeric/rigorous_objective.py (rigorous_general.py for general "
                        "problems) only, no solver and no prover, stopping at the first failing "
                        "step (exit 1, invalid: ...):"]))
    blocks.append(Items([[f"{i}. {step}"] for i, step in enumerate(CHECKER_STEPS, 1)]))
    return Section("proofs", "Proofs: an atlas", blocks)
