"""The report's front matter: the summary of findings, the verdict words, the references.

:func:`summary_section` reads the results of the run (the same JSON-ready dict the other builders
read) and states what held and what did not: which solved cases are ETFs, whether the best ETF
value matches the optimum found within its uncertainty, which (d, M) have no ETF at all (from the
catalogue's answer), the fitted error rate against the candidate ``N^-1/2``. Nothing in it is
typed in: every statement is a comparison made here on the numbers of the run, and every number
is a :class:`~compverify.report.document.Num` pointing into ``results.json``.

:data:`PAPERS` holds the works the report checks; a section builder cites one with
:func:`cite` (``"Amani et al. (2022)"``) and lists the keys it cited in :func:`references_section`.

>>> cite("amani")
'Amani et al. (2022)'
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from compverify.report.document import Items, Num, Para, Section, Text

#: The papers the report checks, by key: authors, year, title, venue.
PAPERS: dict[str, dict[str, str]] = {
    "amani": {
        "authors": "M. H. Amani, S. Bombari, M. Mondelli, R. Pukdee, S. Rini",
        "short": "Amani et al.",
        "year": "2022",
        "title": "Sharp asymptotics on the compression of two-layer neural networks",
        "venue": "IEEE Information Theory Workshop (ITW) 2022; arXiv:2205.08199",
    },
    "pruning": {
        "authors": "W. Yang, G. Wang, J. Ding, Y. Yang",
        "short": "Yang et al.",
        "year": "2022",
        "title": "A theoretical understanding of neural network compression from sparse linear "
                 "approximation",
        "venue": "arXiv:2206.05604",
    },
    "lossless": {
        "authors": "L. Gu, Y. Du, Y. Zhang, D. Xie, S. Pu, R. C. Qiu, Z. Liao",
        "short": "Gu et al.",
        "year": "2022",
        "title": "\u201cLossless\u201d compression of deep neural networks: a high-dimensional neural "
                 "tangent kernel approach",
        "venue": "Advances in Neural Information Processing Systems 35 (NeurIPS 2022); "
                 "arXiv:2403.00258",
    },
}

#: The verdict words and the other terms of the tables, defined once for the reader.
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("ETF (equiangular tight frame)", "M unit vectors in R^d whose Gram matrix has every "
     "off-diagonal entry equal in absolute value to the Welch bound alpha = sqrt((M - d)/(d(M - "
     "1))) and whose frame operator is (M/d) I. For M = d + 1 it is the regular simplex."),
    ("tight, not equiangular", "the frame operator sum_j u_j u_j^T is (M/d) I (the directions "
     "spread evenly over R^d), but the absolute cosines between directions differ."),
    ("equiangular, not tight", "all absolute cosines between distinct directions are equal, but "
     "the frame operator is not a multiple of the identity."),
    ("neither", "neither tight nor equiangular; in particular not an ETF."),
    ("degenerate", "M <= d (an orthonormal set or fewer vectors, not an overcomplete frame), or "
     "two directions parallel (|cosine| = 1): frame verdicts do not apply."),
    ("tolerance", "a property holds if its defect is below 10^-(floor(v/2) - 1), v the verified "
     "digits of the loss (at a minimum the loss is quadratic in the directions, so v digits of "
     "the loss pin about v/2 digits of the directions); a certified convex lower bound above it "
     "rules the property out."),
    ("coherence, Welch bound", "the largest |cosine| between two directions; the Welch bound "
     "alpha is its smallest possible value, reached exactly by ETFs."),
    ("tightness defect, equiangularity spread", "the distance of the frame operator from (M/d) "
     "I, and the spread (largest minus smallest) of the off-diagonal |cosines|."),
    ("distance to ETFs", "a certified lower bound (a convex program's dual) on the Frobenius "
     "distance from the Gram matrix of the directions to the Gram matrix of any ETF."),
    ("ETF known?", "\u201cyes (construction)\u201d: the catalogue builds an ETF for this (d, M) "
     "and its best loss is compared; \u201cnone exists\u201d: no real ETF of M vectors exists in "
     "R^d (the catalogue's reason is given), so nothing can be compared; \u201cnot built\u201d: "
     "one exists or may exist, but the catalogue has no construction."),
    ("ETF gap", "the best relative loss with the directions constrained to a known ETF, minus "
     "the relative loss found. Positive: the ETF is worse. Negative: the ETF is better, so the "
     "search missed it. Within its uncertainty (the two values' rounding at the working "
     "precision) the gap is zero, whatever its sign."),
    ("verified digits", "the digits of the loss that agree with an independent recomputation at "
     "a higher precision."),
)


def cite(key: str) -> str:
    """Short citation of a paper of :data:`PAPERS`: ``"Amani et al. (2022)"``."""
    p = PAPERS[key]
    return f"{p['short']} ({p['year']})"


def reference(key: str) -> list:
    """The full reference as inline items (title in italics)."""
    p = PAPERS[key]
    return [f"{p['authors']}. ", Text(p["title"], "em"), f". {p['venue']}, {p['year']}."]


def references_section(keys: list[str]) -> Section:
    """The works cited in the report (keys of :data:`PAPERS`, in the order given, each once)."""
    seen: list[str] = []
    for k in keys:
        if k in PAPERS and k not in seen:
            seen.append(k)
    return Section("references", "References", [Items([reference(k) for k in seen])])


def definitions_section() -> Section:
    """The verdict words and the column names of the frame tables."""
    return Section("definitions", "How to read the verdicts", [
        Para(["The optimal directions u_j = v_j / |v_j| of a solved case are classified as "
              "follows (the frame tables give the numbers behind each verdict):"]),
        Items([[Text(term, "strong"), ": ", text] for term, text in DEFINITIONS]),
    ])


# ----------------------------------------------------------------------------------------------
# The summary of findings
# ----------------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _pairs(cases: list[tuple[Any, Any]]) -> str:
    return ", ".join(f"({d}, {m})" for d, m in cases)


def _solve_findings(solves: list[dict], base: str = "solve") -> list[list]:
    items: list[list] = []
    etf_ok, etf_missed, etf_worse, not_etf, no_etf, other = [], [], [], [], [], []
    worst_unc: tuple[Decimal, str, str] | None = None  # value, its decimal string, its key
    for k, res in enumerate(solves):
        p = res.get("problem") or {}
        fr = res.get("frame") or {}
        case = (p.get("d"), p.get("M"))
        verdict = fr.get("verdict")
        gap, unc = _dec(fr.get("etf_gap")), _dec(fr.get("etf_gap_uncertainty"))
        exists = (fr.get("etf_existence") or {}).get("status") if isinstance(
            fr.get("etf_existence"), dict) else None
        act = str(p.get("activation", "?"))
        if act != "relu":
            other.append((act, case, verdict))
            continue
        if gap is not None:
            within = unc is not None and abs(gap) <= unc
            if within and verdict == "ETF":
                etf_ok.append(case)
                if unc is not None and (worst_unc is None or unc > worst_unc[0]):
                    worst_unc = (unc, str(fr["etf_gap_uncertainty"]),
                                 f"{base}/{k}/frame/etf_gap_uncertainty")
            elif within:
                not_etf.append(case)
            elif gap < 0:
                etf_missed.append(case)
            else:
                etf_worse.append(case)
        elif exists == "does not exist":
            no_etf.append(case)
        elif verdict != "ETF":
            not_etf.append(case)
        else:
            etf_ok.append(case)
    if etf_ok:
        item: list = [Text("Held", "strong"), f": for ReLU with (d, M) = {_pairs(etf_ok)} the "
                      "optimal directions form an ETF, and the best loss on a known ETF equals "
                      "the optimum found"]
        if worst_unc is not None:
            item += [" within ", Num(worst_unc[1], worst_unc[2], 2)]
        items.append(item + ["."])
    if etf_worse:
        items.append([Text("Did not hold", "strong"), f": for ReLU with (d, M) = "
                      f"{_pairs(etf_worse)} every known ETF is worse than the optimum found "
                      "(positive ETF gap beyond its uncertainty)."])
    if etf_missed:
        items.append([Text("Search incomplete", "strong"), f": for (d, M) = {_pairs(etf_missed)}"
                      " a known ETF is better than the point the solver returned (negative ETF "
                      "gap beyond its uncertainty)."])
    if not_etf:
        items.append([Text("Did not hold", "strong"), f": for ReLU with (d, M) = "
                      f"{_pairs(not_etf)} the optimal directions are not an ETF."])
    if no_etf:
        items.append([Text("Not applicable", "strong"), f": no ETF exists for (d, M) = "
                      f"{_pairs(no_etf)}."])
    for act, case, verdict in other:
        items.append([f"Activation {act}, (d, M) = ({case[0]}, {case[1]}): verdict ",
                      Text(str(verdict), "strong"),
                      " (the ETF conjecture is stated for ReLU only)."])
    return items


def _sweep_findings(sweep: dict, base: str = "conjecture") -> list[list]:
    items: list[list] = []
    by_verdict: dict[str, list] = {}
    absent: list[tuple[tuple, str]] = []
    for case in sweep.get("cases") or []:
        fr = case.get("frame") or {}
        pair = (case.get("d"), case.get("M"))
        by_verdict.setdefault(str(fr.get("verdict", "?")), []).append(pair)
        entry = fr.get("etf_existence")
        if isinstance(entry, dict) and entry.get("status") == "does not exist":
            absent.append((pair, str(entry.get("reason", ""))))
    for verdict, pairs in by_verdict.items():
        if verdict == "ETF":
            continue
        items.append([f"In the sweep ({sweep.get('activation', '?')}), (d, M) = {_pairs(pairs)}:"
                      " verdict ", Text(verdict, "strong"), "."])
    if absent:
        reasons = "; ".join(f"({p[0]}, {p[1]}): {r}" for p, r in absent)
        items.append([Text("Not applicable", "strong"), ": no ETF of M unit vectors exists in "
                      f"R^d for (d, M) = {_pairs([p for p, _ in absent])} ({reasons}); there the "
                      "conjecture, an ETF statement, has nothing to predict, and the optimum "
                      "found is the best frame the search reached."])
    etf = by_verdict.get("ETF")
    if etf:
        items.append([f"In the sweep, (d, M) = {_pairs(etf)}: verdict ", Text("ETF", "strong"),
                      "."])
    failed = sweep.get("failed") or []
    if failed:
        items.append([f"{len(failed)} sweep case(s) failed: "
                      + _pairs([(c.get("d"), c.get("M")) for c in failed]) + "."])
    return items


def _rate_findings(rate: dict, base: str = "rate") -> list[list]:
    fit = rate.get("fit") or {}
    est = _dec(fit.get("N_exponent"))
    ci = fit.get("N_exponent_ci") or [None, None]
    lo, hi = _dec(ci[0]), _dec(ci[1])
    if est is None or lo is None or hi is None:
        return []
    half = Decimal("-0.5")
    inside = lo <= half <= hi
    item: list = [Text("Held" if inside else "Did not hold", "strong"),
                  ": the error of the simplification, sup |h_N - h|, decays as N^",
                  Num(str(fit["N_exponent"]), f"{base}/fit/N_exponent", 3), " (95% interval [",
                  Num(str(ci[0]), f"{base}/fit/N_exponent_ci/0", 3), ", ",
                  Num(str(ci[1]), f"{base}/fit/N_exponent_ci/1", 3), "]), "
                  + ("consistent with" if inside else "not consistent with")
                  + " the rate N^-1/2."]
    items = [item]
    dci = fit.get("d_exponent_ci")
    if fit.get("d_exponent") is not None and isinstance(dci, list) and len(dci) == 2:
        dlo, dhi = _dec(dci[0]), _dec(dci[1])
        if dlo is not None and dhi is not None:
            zero = dlo <= 0 <= dhi
            half_d = dlo <= Decimal("0.5") <= dhi
            items.append(["Dependence on d: exponent ",
                          Num(str(fit["d_exponent"]), f"{base}/fit/d_exponent", 3),
                          " (95% interval [", Num(str(dci[0]), f"{base}/fit/d_exponent_ci/0", 3),
                          ", ", Num(str(dci[1]), f"{base}/fit/d_exponent_ci/1", 3), "]): "
                          + ("no dependence on d detected at these sizes (the interval contains "
                             "0)" if zero else "a dependence on d is detected")
                          + "; the candidate rate (d/N)^1/2, exponent 1/2 in d, is "
                          + ("consistent" if half_d else "not consistent") + " with it."])
    return items


def summary_section(results: dict) -> Section:
    """What held and what did not, computed from the results of the run (see the module doc)."""
    blocks: list = [Para([
        "This report checks the claims of ", cite("amani"), ", ", Text(PAPERS["amani"]["title"],
                                                                         "em"),
        ": that compressing an over-parameterised two-layer network reduces, as N grows, to a "
        "mean-field objective that depends on the target only through expectations, with an "
        "error that decays with N; and the conjecture that for ReLU its minimisers are "
        "equiangular tight frames (ETFs). Every number below is computed in this run."])]
    items: list[list] = []
    solves = results.get("solve") or []
    items += _solve_findings(solves)
    if results.get("conjecture"):
        items += _sweep_findings(results["conjecture"])
    if results.get("rate"):
        items += _rate_findings(results["rate"])
    if results.get("pruning"):
        from compverify.report.section_pruning import summary_items

        items += summary_items(results["pruning"])
    digits = []
    for k, res in enumerate(solves):
        v = (res.get("evidence") or {}).get("verified_digits")
        if isinstance(v, int) and not isinstance(v, bool):
            digits.append((v, f"solve/{k}/evidence/verified_digits"))
    if digits:
        least = min(digits)
        items.append(["Precision: every solved loss has at least ", Num(str(least[0]), least[1],
                                                                        None),
                      " verified digits (agreement with a recomputation at higher precision)."])
    if items:
        blocks.append(Items(items))
    else:
        blocks.append(Para(["This run computed no solution, sweep or rate experiment."]))
    return Section("summary", "Summary of findings", blocks)
