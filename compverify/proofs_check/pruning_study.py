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

Both take ``dask=`` (``"local:N"``, ``"tcp://HOST:PORT"`` or a :class:`distributed.Client`): the
independent pieces then run on a Dask cluster (:mod:`compverify.cluster`) and this process alone
writes the checkpoint.  Independent are the methods, and within a method every step's exact loss
given its state; the states themselves are a chain (each step prunes what the previous one
left), computed here one after the other (:func:`compverify.numeric.pruning.prune_states`: a
sort or a PQ index a step).  In :func:`compare_sap` the baselines' losses at SAP's counts, one
per (baseline, count), are independent too; they depend on SAP's counts, so they run after SAP's
chain.  The results are those of the in-process run, but for the ``seconds`` each step took.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from compverify.cluster import connect, run_unordered
from compverify.display import TableDisplay
from compverify.errors import ComputationFailed
from compverify.numeric.pruning import (
    PRUNE_TABLE_HEADER,
    LossEvaluator,
    PruneParams,
    PruneRun,
    baseline_loss,
    losses_at_counts,
    prune_table_row,
    run_pruning,
    run_pruning_on,
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
                  progress: Any = None, dask: Any = None) -> list[MethodResult]:
    """Run every method of ``params`` on ``(a, W)`` and check its bounds at each step.

    ``progress(done, total, label, k, seconds)`` is called as each step finishes (``done`` of
    ``total`` steps of all methods).  ``dask``: ``None`` runs here; else the steps' losses run on
    that cluster (module docstring)."""
    if dask is not None:
        with connect(dask) as client:
            runs = run_pruning_on(client, activation, a, W, params, dps=dps,
                                  checkpoint=checkpoint, network=network, progress=progress)
        return [MethodResult(run, check_run(run, a, W)) for run in runs]
    total = sum(P.steps + 1 for P in params)
    count, last = 0, time.perf_counter()

    def step_done(label: str, k: int) -> None:
        nonlocal count, last
        count += 1
        now = time.perf_counter()
        progress(count, total, label, k, now - last)
        last = now

    out = []
    for P in params:
        run = run_pruning(activation, a, W, P, dps=dps, checkpoint=checkpoint, network=network,
                          progress=None if progress is None else step_done)
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
                progress: Any = None, dask: Any = None) -> ComparisonStudy:
    """SAP's run and, at each of its retained counts, the baselines' exact losses (module doc).
    ``progress`` and ``dask`` as in :func:`prune_methods` (progress: SAP's steps)."""
    if dask is not None:
        with connect(dask) as client:
            return _compare_sap(activation, a, W, sap_params, dps, network, checkpoint,
                                progress, client)
    return _compare_sap(activation, a, W, sap_params, dps, network, checkpoint, progress, None)


def _compare_sap(activation: Any, a: Any, W: Any, sap_params: PruneParams, dps: int | None,
                 network: dict | None, checkpoint: Any, progress: Any,
                 client: Any) -> ComparisonStudy:
    sap = prune_methods(activation, a, W, [sap_params], dps=dps, network=network,
                        checkpoint=checkpoint, progress=progress, dask=client)[0]
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
    if client is None:
        sap_losses = [ev.loss(af, np.where(st.mask, Wf, 0.0)) for st in states]
        bases = {label: losses_at_counts(activation, a, W, counts, method, scope,
                                         seed=sap_params.seed, evaluator=ev)
                 for label, method, scope in BASELINES}
    else:
        sap_losses, bases = _losses_on(client, ev, states, counts, sap_params.seed)
    for label, _, _ in BASELINES:
        base = bases[label]
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


def _sap_loss(evaluator: LossEvaluator, mask: np.ndarray) -> Any:
    return evaluator.loss(evaluator.a, np.where(mask, evaluator.W, 0.0))


def _loss_task(evaluator: LossEvaluator, item: tuple, mask: np.ndarray | None,
               seed: int) -> Any:
    """One loss of :func:`compare_sap`: SAP's at a state (``item = ("sap", k, count)``) or a
    baseline's at a count (``(label, k, count)``)."""
    label, k, count = item
    if label == "sap":
        return _sap_loss(evaluator, mask)
    method, scope = next((m, s) for lab, m, s in BASELINES if lab == label)
    return baseline_loss(evaluator, count, k, method, scope, seed)


def _losses_on(client: Any, ev: LossEvaluator, states: list, counts: list[int],
               seed: int) -> tuple[list, dict]:
    """SAP's losses at ``states`` and the baselines' at ``counts``, one cluster task each."""
    items = [("sap", k, c) for k, c in enumerate(counts)] + [
        (label, k, c) for label, _, _ in BASELINES for k, c in enumerate(counts)]
    got: dict[tuple, Any] = {}
    for item, loss, _, exc in run_unordered(
            client, _loss_task, items,
            lambda it: (ev, it, states[it[1]].mask if it[0] == "sap" else None, seed),
            name="compare"):
        if exc is not None:
            if type(exc).__name__ == "KilledWorker":
                raise ComputationFailed(f"prune --compare: the loss of {item[0]} at {item[2]} "
                                      "entries killed the Dask workers that ran it") from None
            raise exc
        got[item] = loss
    return ([got[("sap", k, c)] for k, c in enumerate(counts)],
            {label: [got[(label, k, c)] for k, c in enumerate(counts)]
             for label, _, _ in BASELINES})
