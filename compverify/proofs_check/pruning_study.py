"""Pruning runs with their bound checks, and SAP against magnitude pruning at equal counts.

The front doors the ``prune`` command and the report call:

* :func:`prune_methods` -- each method's run (:func:`compverify.numeric.pruning.run_pruning`)
  with the checks of :mod:`compverify.proofs_check.pruning_bounds` at every step
  (:class:`MethodResult`; ``steps_json`` gives the ``prune.json`` steps);
* :func:`compare_sap` -- the claim that adaptive pruning beats uniform magnitude pruning: SAP's
  run, then, at each of its retained counts, one-shot magnitude pruning keeping exactly as many
  entries (global: the largest ``|w|`` of the layer; per neuron: the uniform rate), and random
  pruning; every pair decided by the exact population loss beyond both float64 error bounds
  (:class:`ComparisonStudy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from compverify.display import TableDisplay
from compverify.numeric.pruning import (
    PRUNE_TABLE_HEADER,
    LossEvaluator,
    PruneParams,
    PruneRun,
    losses_at_counts,
    prune_table_row,
    run_pruning,
)
from compverify.proofs_check.pruning_bounds import (
    Comparison,
    StepCheck,
    check_run,
    compare_verdict,
)

__all__ = ["MethodResult", "prune_methods", "ComparisonStudy", "compare_sap", "BASELINES"]

#: Baselines of :func:`compare_sap`: (label, method, scope).
BASELINES = (("magnitude-global", "magnitude", "global"),
             ("magnitude-neuron", "magnitude", "neuron"),
             ("random-global", "random", "global"))


@dataclass(frozen=True)
class MethodResult(TableDisplay):
    """One method's run and the checks of each of its steps."""

    run: PruneRun
    checks: tuple[StepCheck, ...]

    def _display_tables(self) -> list:
        """The run's steps (:data:`~compverify.numeric.pruning.PRUNE_TABLE_HEADER`) with the
        Lipschitz and lq bounds of each step and whether all its checks hold."""
        rows = [(*prune_table_row(r), c.lipschitz.bound, c.lq.bound, c.bounds_hold)
                for r, c in zip(self.run.records, self.checks, strict=True)]
        return [(f"pruning: {self.run.params.label}, {self.run.activation}",
                 (*PRUNE_TABLE_HEADER, "Lipschitz bound", "lq bound", "bounds hold"), rows)]

    def steps_json(self) -> list[dict]:
        """The ``prune.json`` steps: the issue's keys first, then the evidence."""
        out = []
        for rec, chk in zip(self.run.records, self.checks, strict=True):
            out.append({
                "step": rec.step, "retained": rec.retained,
                "retained_fraction": rec.retained_fraction, "pq_index": rec.pq_index,
                "exact_loss": rec.exact_loss, "relative_loss": rec.relative_loss,
                "lipschitz_bound": chk.lipschitz.bound, "lq_bound": chk.lq.bound,
                "bounds_hold": chk.bounds_hold,
                "total": rec.total, "neurons_kept": rec.neurons_kept,
                "pq_index_neuron_mean": rec.pq_index_neuron_mean,
                "retained_bound": rec.retained_bound,
                "exact_loss_error": rec.exact_loss_error,
                "exact_loss_mp": rec.loss_mp, "exact_loss_mp_digits": rec.loss_mp_digits,
                "exact_loss_mp_relative_to": rec.loss_mp_relative_to,
                "checks": chk.to_dict(), "seconds": rec.seconds,
            })
        return out

    def to_dict(self) -> dict:
        """The ``prune.json`` document of this method."""
        r = self.run
        return {"method": r.params.method, "label": r.params.label,
                "parameters": r.params.to_dict(), "network": r.network, "dps": r.dps,
                "E_f2": r.C, "steps": self.steps_json()}


def prune_methods(activation: Any, a: Any, W: Any, params: list[PruneParams], *,
                  dps: int | None = None, network: dict | None = None, checkpoint: Any = None,
                  progress: Any = None) -> list[MethodResult]:
    """Run every method of ``params`` on ``(a, W)`` and check its bounds at each step."""
    out = []
    for P in params:
        run = run_pruning(activation, a, W, P, dps=dps, checkpoint=checkpoint, network=network,
                          progress=progress)
        out.append(MethodResult(run, check_run(run, a, W)))
    return out


@dataclass(frozen=True)
class ComparisonStudy:
    """SAP against the :data:`BASELINES` at SAP's retained counts.

    ``comparisons[label]``: one :class:`~compverify.proofs_check.pruning_bounds.Comparison` per
    distinct retained count of SAP's steps (steps that prune nothing more are not repeated);
    ``summary[label]``: wins of SAP, ties, wins of the baseline, and the geometric mean of
    ``loss_sap / loss_baseline`` over the steps.
    """

    sap: MethodResult
    comparisons: dict[str, tuple[Comparison, ...]]
    summary: dict[str, dict]

    def to_dict(self) -> dict:
        return {"sap": self.sap.to_dict(),
                "comparisons": {k: [c.to_dict() for c in v] for k, v in self.comparisons.items()},
                "summary": self.summary}


def compare_sap(activation: Any, a: Any, W: Any, sap_params: PruneParams, *,
                dps: int | None = None, network: dict | None = None, checkpoint: Any = None,
                progress: Any = None) -> ComparisonStudy:
    """SAP's run and, at each of its retained counts, the baselines' exact losses (module doc)."""
    sap = prune_methods(activation, a, W, [sap_params], dps=dps, network=network,
                        checkpoint=checkpoint, progress=progress)[0]
    af, Wf = np.asarray(a, float), np.asarray(W, float)
    ev = LossEvaluator(activation, af, Wf)
    # each distinct retained count once (a step that prunes nothing repeats the previous one)
    recs, states, seen = [], [], set()
    for r, st in zip(sap.run.records, sap.run.states, strict=True):
        if 0 < r.retained < r.total and r.retained not in seen:
            seen.add(r.retained)
            recs.append(r)
            states.append(st)
    counts = [r.retained for r in recs]
    comparisons: dict[str, tuple[Comparison, ...]] = {}
    summary: dict[str, dict] = {}
    sap_losses = [ev.loss(af, np.where(st.mask, Wf, 0.0)) for st in states]
    for label, method, scope in BASELINES:
        base = losses_at_counts(activation, a, W, counts, method, scope,
                                seed=sap_params.seed, evaluator=ev)
        comps = tuple(compare_verdict(r.step, r.retained, label, s, b)
                      for r, s, b in zip(recs, sap_losses, base, strict=True))
        comparisons[label] = comps
        ratios = [c.ratio for c in comps if c.ratio is not None and c.ratio > 0]
        summary[label] = {
            "steps": len(comps),
            "sap_better": sum(c.winner == "sap" for c in comps),
            "tie": sum(c.winner == "tie" for c in comps),
            "baseline_better": sum(c.winner == "other" for c in comps),
            "geometric_mean_ratio": (math.exp(sum(math.log(x) for x in ratios) / len(ratios))
                                     if ratios else None),
        }
    return ComparisonStudy(sap, comparisons, summary)
