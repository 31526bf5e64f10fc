r"""All the proofs a solve result admits, bundled in one certificate: :func:`prove_result`.

1. ``strict local minimum`` (:mod:`.local_proof`) for the result's point;
2. ``ETF not optimal`` (:mod:`.counterexample`) when an ETF with the result's ``(d, M)`` is in the
   catalogue, the verdict is not ``ETF``, and the point's value is certified below the ETF's;
3. with ``global_search``: ``global minimum`` (:mod:`.branch_and_bound`) for the small cases it
   handles.

The status (the sweep's ``proof`` field) is the strongest of :data:`STATUSES` proved.

>>> STATUSES[-1]
'numerical only'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compverify.errors import CompverifyError
from compverify.proofs_check import certificate_format as cf

__all__ = ["STATUSES", "Proof", "prove_result", "proof_fields"]

STATUSES = ("proved global minimum", "proved: the ETF is not optimal", "proved strict local minimum",
            "numerical only")


@dataclass
class Proof:
    """The bundle certificate (``None`` if nothing was proved), the status and one line per proof."""

    certificate: dict | None
    status: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _summary(cert: dict) -> str:
    c = cert["claims"]
    if cert["kind"] == "strict local minimum":
        return (f"proved strict local minimum: box radius 2^{cert['box']['radius_log2']}, "
                f"Hessian >= {c['hessian_min_eigenvalue_lower']}, L*/C in "
                f"[{c['relative_value'][0]}, {c['relative_value'][1]}]")
    if cert["kind"] == "ETF not optimal":
        return (f"proved: the ETF is not optimal: L*/C at the point in "
                f"[{c['relative_value_point'][0]}, {c['relative_value_point'][1]}], on the ETF "
                f">= {c['relative_value_etf_best'][0]} (all {c['switchings_evaluated']} "
                "switchings)")
    return (f"proved global minimum: {c['leaves']} leaves ({c['excluded']} excluded, "
            f"{c.get('excluded_taylor', 0)} by the Taylor form, {c.get('excluded_gap', 0)} by an "
            f"empty arc, {c['excluded_pair_basis']} in the pair basis), "
            f"L*/C in [{c['relative_value'][0]}, {c['relative_value'][1]}]")


def prove_result(result: dict, *, global_search: bool = False, max_boxes: int = 200_000,
                 time_limit: float = 600.0) -> Proof:
    """Run every applicable proof on a solve result; raise only for unusable input."""
    from compverify.proofs_check.catalogue import lookup
    from compverify.proofs_check.counterexample import prove_etf_not_optimal
    from compverify.proofs_check.general_proof import (
        chart_coordinates,
        general_applies,
        general_problem,
    )
    from compverify.proofs_check.local_proof import problem_spec, prove_local

    if general_applies(result):  # polynomial activation or finite target: local proofs only
        from compverify.proofs_check.local_proof import prove_local_at

        problem = general_problem(result)  # raises CompverifyError for unusable input
        failures = []
        try:
            x = chart_coordinates(problem, result)  # refuses a degenerate configuration
            cert = prove_local_at(problem, x, list(range(problem["M"])))
        except CompverifyError as exc:
            return Proof(None, STATUSES[-1], [], [f"strict local minimum not proved: {exc}"])
        if global_search:
            failures.append("global minimum not attempted: the branch-and-bound covers the "
                            "centred isotropic target with a homogeneous activation")
        bundle = cf.finish({"kind": "bundle", "statement": "each certificate in 'certificates' "
                            "holds", "problem": cert["problem"], "prec_bits": cert["prec_bits"],
                            "certificates": [cert], "claims": {"statuses": [cert["kind"]]}})
        return Proof(bundle, STATUSES[2], [_summary(cert)], failures)
    ps = problem_spec(result)  # raises CompverifyError for an unsupported problem
    certs: list[dict] = []
    failures: list[str] = []
    try:
        certs.append(prove_local(result))
    except CompverifyError as exc:
        failures.append(f"strict local minimum not proved: {exc}")
    frame = result.get("frame")
    verdict = frame.get("verdict") if isinstance(frame, dict) else None
    if ps["M"] > ps["d"] and verdict != "ETF" and lookup(ps["d"], ps["M"], dps=20) is not None:
        try:
            certs.append(prove_etf_not_optimal(result))
        except CompverifyError as exc:
            failures.append(f"ETF not optimal: not proved ({exc})")
    if global_search:
        from compverify.proofs_check.branch_and_bound import prove_global

        try:
            cert: Any = prove_global(ps, max_boxes=max_boxes, time_limit=time_limit)
            if cert.get("kind") == "global minimum":
                certs.append(cert)
            else:
                failures.append(cert["reason"])
        except CompverifyError as exc:
            failures.append(f"global minimum not proved: {exc}")
    if not certs:
        return Proof(None, STATUSES[-1], [], failures)
    kinds = [c["kind"] for c in certs]
    status = next((s for s, k in zip(STATUSES, ("global minimum", "ETF not optimal",
                                                "strict local minimum"), strict=False) if k in kinds),
                  STATUSES[-1])
    bundle = cf.finish({"kind": "bundle", "statement": "each certificate in 'certificates' holds",
                        "problem": dict(ps), "prec_bits": certs[0]["prec_bits"],
                        "certificates": certs, "claims": {"statuses": kinds}})
    return Proof(bundle, status, [_summary(c) for c in certs], failures)


def proof_fields(result: dict) -> dict:
    """``{"proof": status, "proof_lines": [...]}`` for a solve result (JSON dict with ``frame``):
    the sweep's per-case field.  Unsupported problems are ``numerical only`` with the reason."""
    try:
        proof = prove_result(result)
    except CompverifyError as exc:
        return {"proof": STATUSES[-1], "proof_lines": [f"no proof: {exc}"]}
    out = {"proof": proof.status, "proof_lines": proof.lines + [
        f"not proved: {f}" for f in proof.failures]}
    for c in (proof.certificate or {}).get("certificates", []):
        if c["kind"] == "strict local minimum":  # the enclosure, for tables
            out["proof_relative_value"] = c["claims"]["relative_value"]
            out["proof_box_radius_log2"] = c["box"]["radius_log2"]
    return out
