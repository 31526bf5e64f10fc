#!/usr/bin/env python3
"""Benchmark: the high-precision solver vs the baseline a user would otherwise write.

Problem: ReLU activation, isotropic target (w ~ N(0, I_d / d), abar = 1), mean-field objective
``L(b, V) = C - 2 b.h(V) + b'K(V)b`` (exact, SPEC A3), compressed width M.

* **Solver** (:func:`compverify.numeric.solver.solve`): for (d, M) = (3, 4), the float64 search
  with 64 restarts (budget 10 s) and the polish to 50 digits (budget 10 s; timed as everything
  after the search: Newton in mpmath, the spectrum, and the verification re-polish at 70 digits);
  for (d, M) = (6, 7), the whole solve to 100 digits (budget 60 s).
* **Baseline**: Adam (plain numpy) on the loss estimated from minibatches of Gaussian inputs,
  ``mean_x (f(x) - g(x))^2`` with the exact mean-field target function
  ``f(x) = s |x| c / sqrt(2 pi)`` (generous: a user would usually only have a sampled target network),
  same wall time as the solver on that case.  Reported: the digits of the optimal loss reached by
  (a) the exact loss at Adam's final parameters (how well it optimised), (b) its Monte Carlo
  estimate of the loss on 10^6 fresh inputs (what the user would see).

"Correct digits" of a value ``x`` against the optimum ``L*`` (the solver's loss, whose own digits are
verified by the re-polish) is ``floor(-log10(|x - L*| / L*))``.

Threads: BLAS is pinned to one thread (set before numpy is imported); ``--jobs`` processes for the
restarts (default 1).

Run: ``python bench/bench_solver.py`` (``--json out.json`` keeps the numbers; ``--quick`` runs
smaller budgets for a smoke test).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import mpmath  # noqa: E402
import numpy as np  # noqa: E402

from compverify.numeric.objective import Problem  # noqa: E402
from compverify.numeric.solver import solve  # noqa: E402
from compverify.numeric.targets import isotropic  # noqa: E402
from compverify.symbolic import get_activation  # noqa: E402

CASES = (
    # (d, M, restarts, dps, budgets)
    (3, 4, 64, 50, {"search": 10.0, "polish": 10.0}),
    (6, 7, 64, 100, {"total": 60.0}),
)


def digits(x, ref) -> int:
    """floor(-log10(|x - ref| / |ref|)), at least 0."""
    with mpmath.workdps(150):
        x, ref = mpmath.mpf(x), mpmath.mpf(ref)
        if x == ref:
            return 150
        return max(0, int(mpmath.floor(-mpmath.log10(abs(x - ref) / abs(ref)))))


def adam_baseline(problem: Problem, seconds: float, seed: int, batch: int = 4096,
                  lr: float = 1e-2) -> tuple[np.ndarray, np.ndarray, int]:
    """Adam on minibatch estimates of E[(f(x) - g(x))^2] for ``seconds`` of wall time."""
    d, M = problem.d, problem.M
    rng = np.random.default_rng(seed)
    c = float(problem.target.h(np.eye(d)[:1])[0])  # h(e_1) = E[abar K(w, e_1)]
    # f(x) = E[abar relu(<w, x>)] = |x| h(e_1) / K-normalisation: for the isotropic target,
    # f(x) = s |x| / sqrt(2 pi) and h(e_1) = s c_d / sqrt(2 pi), so f(x) = |x| h(e_1) / c_d.
    cd = (d / 2) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    fscale = c / cd

    V = rng.standard_normal((M, d)) / math.sqrt(d)
    b = np.full(M, 1.0 / M)
    params = [b, V]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-12
    t0 = time.perf_counter()
    step = 0
    while time.perf_counter() - t0 < seconds:
        step += 1
        X = rng.standard_normal((batch, d))
        f = fscale * np.linalg.norm(X, axis=1)
        Z = X @ V.T
        A = np.maximum(Z, 0.0)
        r = A @ b - f
        gb = 2.0 * (A.T @ r) / batch
        gV = 2.0 * ((r[:, None] * (Z > 0)) * b[None, :]).T @ X / batch
        lr_t = lr / math.sqrt(1.0 + step / 2000.0)
        for k, g in enumerate((gb, gV)):
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            mh = m[k] / (1 - b1 ** step)
            vh = v[k] / (1 - b2 ** step)
            params[k] -= lr_t * mh / (np.sqrt(vh) + eps)
        b, V = params
    return b, V, step


def mc_estimate(problem: Problem, b: np.ndarray, V: np.ndarray, n: int, seed: int) -> float:
    """Monte Carlo estimate of the loss on ``n`` fresh Gaussian inputs (chunked)."""
    d = problem.d
    c = float(problem.target.h(np.eye(d)[:1])[0])
    cd = (d / 2) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    rng = np.random.default_rng(seed + 7)
    total, done = 0.0, 0
    while done < n:
        k = min(200_000, n - done)
        X = rng.standard_normal((k, d))
        r = np.maximum(X @ V.T, 0.0) @ b - (c / cd) * np.linalg.norm(X, axis=1)
        total += float(np.sum(r * r))
        done += k
    return total / n


def run_case(d, M, restarts, dps, budgets, seed, jobs, mc_n):
    act = get_activation("relu")
    problem = Problem(act, isotropic(d, act), M)
    problem.value(problem.join(np.ones(M), np.eye(d)[np.arange(M) % d]))  # warm caches
    t0 = time.perf_counter()
    res = solve(problem, restarts=restarts, seed=seed, dps=dps, jobs=jobs, progress=False)
    wall = time.perf_counter() - t0
    s = res.seconds
    t_search = s["search"]
    t_polish = s["total"] - s["search"]
    b, V, steps = adam_baseline(problem, wall, seed)
    exact = problem.value(problem.join(b, V))
    mc = mc_estimate(problem, b, V, mc_n, seed)
    float_best = res.basins[0].loss
    row = {
        "d": d, "M": M, "restarts": restarts, "dps": dps, "jobs": jobs,
        "search_s": t_search, "polish_s": t_polish, "total_s": s["total"], "budgets": budgets,
        "loss": mpmath.nstr(res.loss, dps), "relative_loss": mpmath.nstr(res.relative_loss, 20),
        "verified_digits": res.evidence.verified_digits, "status": res.status,
        "basins": [(b_.loss, b_.count) for b_ in res.basins],
        "float64_search_digits": digits(float_best, res.loss),
        "adam_steps": steps, "adam_seconds": wall,
        "adam_exact_loss": exact, "adam_exact_digits": digits(exact, res.loss),
        "adam_mc_loss": mc, "adam_mc_digits": digits(mc, res.loss), "mc_samples": mc_n,
    }
    ok = True
    if "search" in budgets:
        ok &= t_search <= budgets["search"]
    if "polish" in budgets:
        ok &= t_polish <= budgets["polish"]
    if "total" in budgets:
        ok &= s["total"] <= budgets["total"]
    ok &= res.evidence.verified_digits >= dps
    row["within_budget"] = bool(ok)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="processes for the restarts (default 1)")
    ap.add_argument("--mc-samples", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="(3, 4) only, 16 restarts, 30 digits")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    cases = CASES if not args.quick else ((3, 4, 16, 30, {"search": 10.0, "polish": 10.0}),)
    rows = []
    print(f"bench_solver: ReLU, isotropic target, seed {args.seed}, jobs {args.jobs}, "
          f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}")
    for d, M, R, dps, budgets in cases:
        row = run_case(d, M, R, dps, budgets, args.seed, args.jobs, args.mc_samples)
        rows.append(row)
        print(f"  (d, M) = ({d}, {M}): L* = {row['loss'][:32]}..."
              f"  ({row['verified_digits']} verified digits, {row['status']}; "
              f"basins {[(f'{x:.10g}', n) for x, n in row['basins'][:3]]})")
    print()
    hdr = (f"{'(d,M)':>7} {'restarts':>8} {'dps':>4} {'search s':>9} {'polish s':>9} "
           f"{'total s':>8} {'budget':>22} {'solver digits':>13} {'f64 digits':>10} "
           f"{'Adam steps':>10} {'Adam exact dig':>14} {'Adam MC dig':>11} {'ok':>3}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        budget = ", ".join(f"{k} <= {v:g} s" for k, v in r["budgets"].items())
        print(f"{'(' + str(r['d']) + ',' + str(r['M']) + ')':>7} {r['restarts']:>8} {r['dps']:>4} "
              f"{r['search_s']:>9.2f} {r['polish_s']:>9.2f} {r['total_s']:>8.2f} {budget:>22} "
              f"{r['verified_digits']:>13} {r['float64_search_digits']:>10} "
              f"{r['adam_steps']:>10} {r['adam_exact_digits']:>14} {r['adam_mc_digits']:>11} "
              f"{'yes' if r['within_budget'] else 'NO':>3}")
    print("\nsolver digits: verified by the re-polish at dps + 20; f64 digits: the best float64 "
          "basin value; Adam: same wall time as the solver's whole run, exact loss at its final "
          f"parameters and its Monte Carlo estimate ({args.mc_samples} inputs).")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2, default=str)
    return 0 if all(r["within_budget"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
