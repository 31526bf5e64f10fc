r"""The ETF atlas in the report: the run (or a loaded atlas file), the table, the heat map and the
findings.

The config table ``[atlas]`` runs :class:`compverify.proofs_check.atlas.AtlasParams` with
``max_params`` (the main job keeps it small: the full atlas is the documented command
``compverify conjecture --atlas --out atlas.json``), or loads an atlas file with ``from``.

Findings (:func:`findings`) are computed from the stored cases only:

* ``etf_optimal``: cases where the catalogue builds an ETF and the gap between the best value on it
  and the optimum found is zero within the gap's uncertainty (the optimum *is* the ETF value);
* ``etf_beaten``: an ETF is built but the optimum found is lower by more than the uncertainty;
* ``etf_not_built``: an ETF exists (the existence table) but the catalogue does not build it, so no
  value on it is known here: the verdict of the optimum's directions says what they are;
* ``no_etf``: no real ETF exists (or it is not settled): the verdicts, with the coherence against
  the Welch bound ``sqrt((M - d) / (d (M - 1)))`` and the tightness defect.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from compverify.report.document import Figure, Items, Para, Section, Table, Text
from compverify.report.sections import num

__all__ = ["atlas_piece", "atlas_markdown", "atlas_section", "findings"]


def atlas_piece(table: dict, *, seed: int, jobs: int) -> dict:
    """Run the atlas restricted to ``table['max_params']`` parameters (the sweep JSON)."""
    from compverify.proofs_check.atlas import AtlasParams
    from compverify.proofs_check.conjecture import run_sweep

    params = AtlasParams(activation=str(table.get("activation", "relu")),
                         target=str(table.get("target", "isotropic")),
                         restarts=int(table["restarts"]), dps=int(table["dps"]), seed=seed,
                         max_params=int(table["max_params"]))
    return run_sweep(params, None, jobs=jobs, progress="off")


def _f(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def findings(sweep: dict) -> dict:
    """The atlas's findings (module docstring): lists of row dicts and verdict counts."""
    from compverify.proofs_check.atlas import atlas_summary

    rows = atlas_summary(sweep)
    out: dict = {"etf_optimal": [], "etf_beaten": [], "etf_not_built": [], "no_etf": [],
                 "verdicts": dict(Counter(str(r["verdict"]) for r in rows)), "cases": len(rows)}
    for r in rows:
        coh, welch = _f(r["coherence"]), _f(r["welch_bound"])
        r["coherence_over_welch"] = coh / welch if coh is not None and welch else None
        if r["etf_built"] is not None and r["etf_gap"] is not None:
            out["etf_optimal" if r["etf_gap_zero"] else "etf_beaten"].append(r)
        elif r["etf_exists"] == "exists":
            out["etf_not_built"].append(r)
        else:
            out["no_etf"].append(r)
    return out


def _cases(rows: list[dict]) -> str:
    return ", ".join(f"({r['d']}, {r['M']})" for r in rows) or "none"


def atlas_section(sweep: dict, heatmap: Figure | None, base_key: str = "atlas") -> Section:
    """The atlas: settings, table (one row per case), heat map, findings."""
    from compverify.proofs_check.atlas import atlas_summary

    rows = atlas_summary(sweep)
    index = {(int(c["d"]), int(c["M"])): k for k, c in enumerate(sweep.get("cases") or [])}
    table_rows = []
    for r in rows:
        k = index[(r["d"], r["M"])]
        key = f"{base_key}/cases/{k}"
        coh, welch = _f(r["coherence"]), _f(r["welch_bound"])
        table_rows.append([
            str(r["d"]), str(r["M"]), str(r["params"]),
            num(r["relative_loss"], f"{key}/relative_loss", 12),
            str(r["verified_digits"]), Text(str(r["verdict"]), "strong"),
            f"{coh / welch:.6f}" if coh is not None and welch else "\u2014",
            num(r["tightness_defect"], f"{key}/frame/tightness_defect", 3),
            num(r["etf_relative_loss"], f"{key}/frame/etf_relative_loss", 12),
            num(r["etf_gap"], f"{key}/frame/etf_gap", 3),
            str(r["proof"]) if r["proof"] is not None else "\u2014"])
    grid = sweep.get("grid") or []
    meta = ", ".join(f"{k} {sweep[k]}" for k in ("activation", "target", "restarts", "dps", "seed")
                     if sweep.get(k) is not None)
    blocks: list = [
        Para(["The conjecture over every (d, M) with 2 \u2264 d \u2264 8 and d < M \u2264 2d + 2 "
              "and every (d, M) with M \u2264 50 where a real ETF exists, fewest parameters first. "
              f"This run: {len(rows)} of {len(grid)} cases "
              f"({sweep.get('M', '')}); {meta}. The full atlas is one command: ",
              Text("compverify conjecture --atlas --out atlas.json", "code"),
              " (resumable; docs/atlas.md)."]),
        Table(["d", "M", "params", "relative loss", "verified digits", "verdict",
               "coherence / Welch", "tightness defect", "best on ETF", "ETF gap", "proof"],
              table_rows,
              key=base_key),
    ]
    if heatmap is not None:
        blocks.append(heatmap)
    fnd = findings(sweep)
    items = [
        [f"Optimum on the ETF (gap zero within its uncertainty): {_cases(fnd['etf_optimal'])}."],
        [f"An ETF is built but the optimum is lower: {_cases(fnd['etf_beaten'])}."],
        [f"An ETF exists but is not built here (no value on it): "
         f"{_cases(fnd['etf_not_built'])}; verdicts of the optimum: "
         + ", ".join(f"({r['d']}, {r['M']}) {r['verdict']}" for r in fnd["etf_not_built"])
         + "." if fnd["etf_not_built"] else "An ETF exists but is not built here: none."],
        ["Verdicts over the run: " + ", ".join(f"{v} {n}" for v, n in
                                               sorted(fnd["verdicts"].items())) + "."],
    ]
    no_etf = fnd["no_etf"]
    if no_etf:
        ratios = [r["coherence_over_welch"] for r in no_etf if r["coherence_over_welch"]]
        tight = [r for r in no_etf if str(r["verdict"]).startswith("tight")]
        items.append([f"Without a real ETF ({len(no_etf)} cases): {len(tight)} optima are tight "
                      "frames; coherence / Welch bound from "
                      f"{min(ratios):.4f} to {max(ratios):.4f}." if ratios else
                      f"Without a real ETF: {len(no_etf)} cases."])
    blocks.append(Para([Text("Findings.", "strong")]))
    blocks.append(Items(items))
    return Section("atlas", "The ETF atlas", blocks)


def _md_gap(r: dict) -> str:
    if r["etf_built"] is None:
        return "-"
    gap, unc = _f(r["etf_gap"]), _f(r["etf_gap_uncertainty"])
    if gap is None:
        return "-"
    if r["etf_gap_zero"]:
        return f"0 within {unc:.1e}" if unc is not None else "0"
    return f"the optimum is lower by {gap:.3g}" if gap > 0 else f"{gap:.3g}"


def _md_etf(r: dict) -> str:
    if r["etf_built"] is not None:
        return f"{r['etf_built']} (built)"
    return {"exists": "exists, not built here", "none": "none exists"}.get(
        str(r["etf_exists"]), str(r["etf_exists"] or "-"))


def _digits(x: Any, n: int) -> str:
    """A stored decimal string rounded (not cut) to ``n`` significant digits."""
    from decimal import Decimal, InvalidOperation

    try:
        return f"{Decimal(str(x)):.{n}g}"
    except (InvalidOperation, ValueError):
        return "-"


def atlas_markdown(sweep: dict) -> str:
    """The atlas file as Markdown: one table row per finished case and the computed findings.

    Columns: d, M, the relative loss L/C to 20 digits (all of them verified when the verified
    digits column says at least 20), the verified digits, the frame verdict, the coherence over
    the Welch bound, the catalogue's ETF and the gap between the best value on it and the optimum.
    ``docs/atlas.md`` holds this text for ``docs/atlas/atlas.json`` (``compverify atlas FILE
    --format markdown``); a test regenerates it.
    """
    fnd = findings(sweep)
    rows = sorted((r for key in ("etf_optimal", "etf_beaten", "etf_not_built", "no_etf")
                   for r in fnd[key]), key=lambda r: (r["params"], r["d"], r["M"]))
    out = ["| d | M | relative loss L/C | verified digits | verdict | coherence / Welch | ETF "
           "| gap to the best value on it |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rel = _digits(r["relative_loss"], 20)
        cw = r["coherence_over_welch"]
        out.append(f"| {r['d']} | {r['M']} | {rel} | {r['verified_digits']} | {r['verdict']} | "
                   f"{'-' if cw is None else f'{cw:.4f}'} | {_md_etf(r)} | {_md_gap(r)} |")
    grid = sweep.get("grid") or []
    out += ["", f"{len(rows)} of {len(grid)} cases finished "
            f"({sweep.get('activation')}, {sweep.get('target')} target, {sweep.get('restarts')} "
            f"restarts, {sweep.get('dps')} digits).", ""]
    out.append(f"* **The optimum is the ETF** (gap zero within its uncertainty): "
               f"{_cases(fnd['etf_optimal'])}.")
    beaten = fnd["etf_beaten"]
    out.append("* **An ETF is built but the optimum is lower**: " + (", ".join(
        f"({r['d']}, {r['M']}) by {_f(r['etf_gap']):.3g} ({r['verdict']})" for r in beaten)
        if beaten else "none") + ".")
    nb = fnd["etf_not_built"]
    out.append("* **An ETF exists but is not built here**: " + (", ".join(
        f"({r['d']}, {r['M']}) {r['verdict']}" for r in nb) if nb else "none") + ".")
    no_etf = fnd["no_etf"]
    if no_etf:
        ratios = [r["coherence_over_welch"] for r in no_etf if r["coherence_over_welch"]]
        tight = [r for r in no_etf if str(r["verdict"]).startswith("tight")]
        equi = [r for r in no_etf if "equiangular" in str(r["verdict"])
                and "not equiangular" not in str(r["verdict"])]
        span = (f"; coherence / Welch bound from {min(ratios):.4f} to {max(ratios):.4f}"
                if ratios else "")
        out.append(f"* **No real ETF** ({len(no_etf)} cases): tight optima {_cases(tight)}; "
                   f"equiangular optima {_cases(equi)}{span}.")
    out.append("* Verdicts: " + ", ".join(f"{v} {n}" for v, n in sorted(fnd["verdicts"].items()))
               + ".")
    return "\n".join(out) + "\n"
