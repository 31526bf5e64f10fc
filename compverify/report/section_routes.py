"""The target routes: how ``h`` and ``C`` are computed for each target and activation.

The table is the route registry (:mod:`compverify.numeric.targets`) in dispatch order, the same
rows that ``compverify targets`` prints and that the README and docs/targets.md embed
(:func:`compverify.numeric.targets.table.rows`, stored in ``results.json`` under ``routes``).
"""

from __future__ import annotations

from typing import Any

from compverify.report.document import Para, Section, Table, Text

__all__ = ["routes_section", "inline_code"]


def inline_code(text: str) -> list:
    """Markdown-style text with ``code`` spans as inline items: backticked parts become code."""
    out: list = []
    for i, part in enumerate(str(text).split("`")):
        if part:
            out.append(Text(part, "code") if i % 2 else part)
    return out or ["-"]


def routes_section(rows: list[dict[str, Any]]) -> Section:
    """One row per registered route: its name, the targets and activations it serves, the
    condition it needs, its precision class and its method."""
    body = []
    for r in rows:
        body.append([[Text(str(r["route"]), "code")],
                     [Text(", ".join(str(f) for f in r["families"]), "code")],
                     inline_code(r["activations"]), inline_code(r["condition"] or "-"),
                     str(r["precision"]), inline_code(r["description"])])
    return Section("routes", "Target routes", [
        Para(["A target's h(v) = E[a K(w, v)] and C = E[a a' K(w, w')] are computed by the first "
              "route below that serves the target family and accepts the activation (and the "
              "condition, when there is one); ", Text("compverify targets --target T "
                                                      "--activation A", "code"),
              " names the route a case takes. Precision classes: exact (closed form or exact "
              "sum), series (tail bounded below the working precision), rule with estimate "
              "(quadrature with an error estimate), QMC (randomized quasi-Monte Carlo with an "
              "error estimate from the replicates' spread)."]),
        Table(["route", "target", "activation", "condition", "precision",
               "how h and C are computed"], body, key="routes", repeat_columns=1),
    ])
