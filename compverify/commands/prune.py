"""``compverify prune``: prune a two-layer network step by step; exact loss and bounds each step.

``compverify prune NET --method sap [--method magnitude ...] [--scope neuron|layer|global]
[--p --q --eta --gamma --beta] [--rate 0.2] [--steps T] [--dps D] [--seed S] --out DIR``
writes into ``DIR`` (built in a temporary sibling and renamed into place when complete):
``prune.json``, ``prune.csv``, ``step-K.npz`` (the pruned network of step K, arrays ``a``, ``W``:
a target for ``solve --target``) for one method, or one subdirectory per method (named by its
label) for several, and ``prune.png`` (relative exact loss against the retained fraction, every
method on one plot).  ``--compare`` runs SAP and, at each of its retained counts, magnitude
pruning (global and uniform per neuron) and random pruning, decided by the exact loss
(``compare.json``, ``compare.csv``, ``compare.png``).  Finished steps are kept in
``DIR.checkpoint.json`` (or ``--checkpoint FILE``) and a rerun of the same command resumes there;
the checkpoint is removed once ``DIR`` is written.  NET: ``PATH.npz``, a ``solve`` result
``.json`` (its student network), or ``iid:LAW`` with ``--N`` and ``--d``.  Progress on stderr,
one line per finished step.

``--dask local:N | tcp://HOST:PORT`` computes the steps' exact losses (and ``--compare``'s
baseline losses) on a Dask cluster; each run's chain of masks is computed here, step after step,
and this process alone writes the checkpoint and ``DIR``
(:mod:`compverify.proofs_check.pruning_study`).  The files are those of the in-process run, but
for the ``seconds`` of each step in ``prune.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

from compverify.errors import CompverifyError

CSV_COLUMNS = ("step", "retained", "retained_fraction", "neurons_kept", "pq_index",
               "exact_loss", "exact_loss_error", "relative_loss", "exact_loss_mp",
               "lipschitz_bound", "lq_bound", "bounds_hold")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune",
        help="prune a network (SAP, magnitude, random, neurons); exact loss and bounds per step",
        description="Iterated pruning of a two-layer network with the exact population loss "
                    "E(f - f~)^2 under Gaussian inputs at every step (a kernel sum, no sampling), "
                    "the PQ index, and the Lipschitz and lq (Stechkin) bounds checked against it.")
    p.add_argument("network", help="PATH.npz (arrays a, W), PATH.safetensors (torch weights "
                                   "0.weight, 2.weight), a solve result .json, or iid:LAW "
                                   "(gaussian, laplace, bernoulli-gaussian:PI, ...) with --N --d")
    p.add_argument("--method", action="append", default=None,
                   help="sap | magnitude | random | neurons | neurons-norm; repeat for several "
                        "(default sap)")
    p.add_argument("--scope", default="neuron", help="neuron | layer | global (default neuron)")
    p.add_argument("--p", default="0.5", help="PQ index exponent p (default 0.5)")
    p.add_argument("--q", default="1", help="PQ index exponent q > p (default 1)")
    p.add_argument("--eta", default="0", help="SAP tolerance eta >= 0 (default 0)")
    p.add_argument("--gamma", default="1", help="SAP gain gamma > 0 (default 1)")
    p.add_argument("--beta", default="0.9", help="SAP cap beta in (0, 1) (default 0.9)")
    p.add_argument("--rate", default="0.2",
                   help="fraction of what is left pruned per step by magnitude, random and the "
                        "neuron methods (default 0.2)")
    p.add_argument("--steps", type=int, default=5, help="pruning steps T (default 5)")
    p.add_argument("--dps", type=int, default=None,
                   help="also compute the loss and the bounds in mpmath at D digits (small "
                        "networks: pure-Python kernel sums, O(N^2 d))")
    p.add_argument("--seed", type=int, default=0, help="seed of random pruning and iid:LAW")
    p.add_argument("--activation", default="relu", help="activation (default relu)")
    p.add_argument("--N", type=int, default=None, help="neurons of an iid:LAW network")
    p.add_argument("--d", type=int, default=None, help="input dimension of an iid:LAW network")
    p.add_argument("--compare", action="store_true",
                   help="SAP against magnitude (global, per neuron) and random pruning at SAP's "
                        "retained counts, by the exact loss")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true", help="replace an existing DIR")
    p.add_argument("--no-plot", action="store_true",
                   help="do not write prune.png and compare.png")
    p.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="keep finished steps in FILE (default DIR.checkpoint.json)")
    p.add_argument("--dask", default=None, metavar="WHERE",
                   help="compute the steps' exact losses on Dask: local:N (N worker processes "
                        "here) or tcp://HOST:PORT (a running scheduler); same results as "
                        "without it (needs pip install 'compverify[dask]')")
    p.set_defaults(func=run)


def _params(args: argparse.Namespace) -> list:
    from compverify.numeric.pruning import make_params

    methods = args.method or ["sap"]
    if args.compare and any(m != "sap" for m in methods):
        raise CompverifyError("--compare compares sap with its baselines; drop --method "
                              f"{', '.join(m for m in methods if m != 'sap')}")
    out = [make_params(m, scope=args.scope, p=args.p, q=args.q, eta=args.eta, gamma=args.gamma,
                       beta=args.beta, rate=args.rate, steps=args.steps, seed=args.seed)
           for m in methods]
    labels = [P.label for P in out]
    dup = [lab for lab in labels if labels.count(lab) > 1]
    if dup:
        raise CompverifyError(f"--method {dup[0]} is given twice")
    return out


def _npz_bytes(a, W) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, a=a, W=W)
    return buf.getvalue()


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    from compverify.io import to_jsonable

    lines = [",".join(columns)]
    for r in rows:
        vals = to_jsonable([r.get(c) for c in columns])
        lines.append(",".join("" if v is None else str(v).lower() if isinstance(v, bool)
                              else str(v) for v in vals))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from compverify.validate import check_dps

    if args.dask is not None:  # a malformed spec fails before any work
        from compverify.cluster import parse_dask

        parse_dask(args.dask)
    params = _params(args)
    if args.dps is not None:
        check_dps(args.dps, name="--dps")
    from compverify.report.output import check_target

    out = str(args.out).rstrip("/") or args.out
    check_target(Path(out), args.force)
    from compverify.numeric.checkpoint import Checkpoint
    from compverify.numeric.pruning import check_network
    from compverify.numeric.pruning_networks import network_from_spec
    from compverify.symbolic import get_activation

    act = get_activation(args.activation)
    net = network_from_spec(args.network, N=args.N, d=args.d, seed=args.seed)
    a, W = check_network(net.a, net.W)
    desc = dict(net.describe(), activation=act.spec)
    if args.dps is not None and W.shape[0] ** 2 * W.shape[1] > 200_000:
        print(f"note: --dps computes each step's loss in pure-Python mpmath, O(N^2 d) with N = "
              f"{W.shape[0]}, d = {W.shape[1]}: this can take hours; float64 values carry their "
              "error bound without it", file=sys.stderr)
    ck_path = args.checkpoint or f"{out}.checkpoint.json"
    key = {"task": "prune", "network": desc, "dps": args.dps, "compare": bool(args.compare),
           "methods": [P.to_dict() for P in params]}
    checkpoint = Checkpoint(ck_path, key)
    if checkpoint.resumed:
        print(f"resuming from {ck_path}: {checkpoint.resumed} steps done", file=sys.stderr)

    def progress(done: int, total: int, label: str, k: int, seconds: float) -> None:
        print(f"prune: [{done}/{total}] {label} step {k} done ({seconds:.1f} s)",
              file=sys.stderr, flush=True)

    try:
        with contextlib.ExitStack() as stack:
            client = None
            if args.dask is not None:  # connect first: no scheduler, no work
                from compverify.cluster import connect

                client = stack.enter_context(connect(args.dask))
            if args.compare:
                from compverify.proofs_check.pruning_study import compare_sap

                study = compare_sap(act, a, W, params[0], dps=args.dps, network=desc,
                                    checkpoint=checkpoint, progress=progress, dask=client)
                results = [study.sap]
            else:
                from compverify.proofs_check.pruning_study import prune_methods

                study = None
                results = prune_methods(act, a, W, params, dps=args.dps, network=desc,
                                        checkpoint=checkpoint, progress=progress, dask=client)
    except KeyboardInterrupt:
        checkpoint.flush()
        print(f"compverify prune: the finished steps are kept in {ck_path}; run the same "
              "command again to resume", file=sys.stderr)
        raise
    _write(out, args, act, a, W, results, study)
    checkpoint.remove()
    for res in results:
        last = res.run.records[-1]
        holds = [c.bounds_hold for c in res.checks]
        print(f"{res.run.params.label}: {len(res.run.records) - 1} steps, retained "
              f"{last.retained}/{last.total} ({last.retained_fraction:.4g}), relative loss "
              f"{float(last.relative_loss):.6g}; bounds verified at "
              f"{sum(h is True for h in holds)}/{len(holds)} steps, violated at "
              f"{sum(h is False for h in holds)}")
    if study is not None:
        for label, s in study.summary.items():
            g = s["geometric_mean_ratio"]
            print(f"  sap vs {label}: sap better at {s['sap_better']}, tie {s['tie']}, "
                  f"{label} better at {s['baseline_better']} of {s['steps']} steps; "
                  f"geometric mean loss ratio sap/{label} = "
                  f"{'n/a' if g is None else f'{g:.4g}'}")
    print(f"  written: {out}/", file=sys.stderr)
    return 0


def _write(out: str, args, act, a, W, results, study) -> None:
    from compverify.io import atomic_write_bytes, atomic_write_json, atomic_write_text
    from compverify.numeric.pruning import pruned_arrays
    from compverify.report.output import staged_directory
    from compverify.report.section_pruning import comparison_series, plot_series_bytes

    series = []
    with staged_directory(Path(out), args.force) as tmp:
        for res in results:
            sub = tmp if len(results) == 1 else tmp / res.run.params.label
            sub.mkdir(exist_ok=True)  # atomic writes do not create directories
            for rec, state in zip(res.run.records, res.run.states, strict=True):
                b, V = pruned_arrays(act, a, W, state)
                atomic_write_bytes(sub / f"step-{rec.step}.npz", _npz_bytes(b, V))
            data = res.to_dict()
            atomic_write_json(sub / "prune.json", data, dps=args.dps)
            rows = [dict(s, exact_loss_mp=s.get("exact_loss_mp")) for s in data["steps"]]
            atomic_write_text(sub / "prune.csv", _csv(rows, CSV_COLUMNS))
            series.append({"label": res.run.params.label,
                           "retained_fraction": [r.retained_fraction for r in res.run.records],
                           "relative_loss": [float(r.relative_loss) for r in res.run.records]})
        title = f"{act.spec}, N = {W.shape[0]}, d = {W.shape[1]}"
        if not args.no_plot:
            atomic_write_bytes(tmp / "prune.png", plot_series_bytes(series, title))
        if study is not None:
            atomic_write_json(tmp / "compare.json", study.to_dict(), dps=args.dps)
            rows, cols = _compare_rows(study)
            atomic_write_text(tmp / "compare.csv", _csv(rows, cols))
            if not args.no_plot:
                atomic_write_bytes(tmp / "compare.png",
                                   plot_series_bytes(comparison_series(study.to_dict()), title))


def _compare_rows(study) -> tuple[list[dict], tuple[str, ...]]:
    labels = list(study.comparisons)
    first = study.comparisons[labels[0]]
    rows = []
    for k, c in enumerate(first):
        row = {"step": c.step, "retained": c.retained, "loss_sap": c.loss_sap,
               "error_sap": c.error_sap}
        for lab in labels:
            cc = study.comparisons[lab][k]
            row[f"loss_{lab}"] = cc.loss_other
            row[f"winner_vs_{lab}"] = cc.winner
        rows.append(row)
    cols = ("step", "retained", "loss_sap", "error_sap") + tuple(
        x for lab in labels for x in (f"loss_{lab}", f"winner_vs_{lab}"))
    return rows, cols
