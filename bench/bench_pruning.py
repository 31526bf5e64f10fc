#!/usr/bin/env python3
"""Benchmark: 20 SAP steps on a large network with the exact loss at every step, against Monte Carlo.

Network: ``N = 2000`` neurons, ``d = 200`` (ReLU), ``W`` with i.i.d. ``N(0, 1/d)`` entries and
``a_i = 1/N`` (``iid:gaussian``, seed 0).  SAP per neuron (p = 0.5, q = 1, eta = 0, gamma = 1,
beta = 0.9), 20 steps; at every step the exact population loss ``E(f - f~)^2`` (a kernel sum over
``N^2`` pairs, :class:`compverify.numeric.pruning.LossEvaluator`) with its a-priori float64 error
bound, hence its guaranteed digits.  Baseline, in the same run: a Monte Carlo estimate of the same
loss, ``mean over x ~ N(0, I_d) of (f(x) - f~(x))^2``, given exactly the wall time the exact loss
took at that step; reported are its digits (from the 95% half-width ``1.96 se / loss``) and its
actual error against the exact value, and the time Monte Carlo would need to reach the exact
loss's digits (``t (1.96 se / err_exact)^2``), as a ratio to the exact loss's time.

The machine may be shared: absolute times vary with its load; the ratios are measured within one
run on the same machine and are the meaningful numbers.

Run: ``python bench/bench_pruning.py`` (``--json out.json`` keeps the numbers; ``--N``, ``--d``,
``--steps`` for a smaller run).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from compverify.numeric.pruning import LossEvaluator, Pruner, make_params
from compverify.numeric.pruning_networks import network_from_spec
from compverify.symbolic import get_activation


def monte_carlo(a, W, Wt, seconds, rng, batch=1000):
    """Mean of ``(f - f~)^2`` over Gaussian inputs drawn until ``seconds`` have passed."""
    t0 = time.perf_counter()
    total = total2 = 0.0
    n = 0
    while n == 0 or time.perf_counter() - t0 < seconds:
        x = rng.standard_normal((batch, W.shape[1]))
        diff = np.maximum(x @ W.T, 0) @ a - np.maximum(x @ Wt.T, 0) @ a
        sq = diff * diff
        total += sq.sum()
        total2 += (sq * sq).sum()
        n += batch
    mean = total / n
    var = max(total2 / n - mean * mean, 0.0)
    return mean, math.sqrt(var / n), n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=2000)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    _ = get_activation("relu").kernel  # derive the kernel once, outside the timings
    net = network_from_spec("iid:gaussian", N=args.N, d=args.d, seed=0)
    a, W = net.a, net.W
    P = make_params("sap", scope="neuron", steps=args.steps)
    t0 = time.perf_counter()
    ev = LossEvaluator("relu", a, W)
    t_setup = time.perf_counter() - t0
    pruner = Pruner("relu", a, W, P)
    state = pruner.initial_state()
    rng = np.random.default_rng(1)
    rows = []
    t_run = time.perf_counter()
    for k in range(1, args.steps + 1):
        ts = time.perf_counter()
        state = pruner.step(state, k)
        t_prune = time.perf_counter() - ts
        Wt = np.where(state.mask, W, 0.0)
        te = time.perf_counter()
        loss = ev.loss(a, Wt)
        t_exact = time.perf_counter() - te
        digits_exact = -math.log10(loss.error / loss.value) if loss.value > 0 else None
        mc, se, n, t_mc = monte_carlo(a, W, Wt, t_exact, rng)
        half = 1.96 * se
        digits_mc = -math.log10(half / loss.value) if loss.value > 0 else None
        need = t_mc * (half / loss.error) ** 2 if loss.error > 0 else None
        rows.append({"step": k, "retained": int(state.mask.sum()),
                     "relative_loss": loss.relative, "exact_loss": loss.value,
                     "exact_error_bound": loss.error, "exact_digits": digits_exact,
                     "t_prune_s": t_prune, "t_exact_s": t_exact, "mc_samples": n, "t_mc_s": t_mc,
                     "mc_value": mc, "mc_half_width_95": half, "mc_digits": digits_mc,
                     "mc_actual_rel_error": abs(mc - loss.value) / loss.value,
                     "mc_time_for_exact_digits_ratio": need / t_exact if need else None})
        r = rows[-1]
        print(f"step {k:2d}: retained {r['retained']:6d}, rel. loss {loss.relative:.6e}, exact "
              f"{t_exact:.2f} s ({digits_exact:.1f} digits), MC {n} samples in {t_mc:.2f} s "
              f"({digits_mc:.1f} digits, actual rel. error {r['mc_actual_rel_error']:.1e}); MC "
              f"would need {r['mc_time_for_exact_digits_ratio']:.2e} x the time for the exact "
              "digits", flush=True)
    total = time.perf_counter() - t_run
    med = float(np.median([r["mc_time_for_exact_digits_ratio"] for r in rows]))
    print(f"N = {args.N}, d = {args.d}: setup (E f^2, diagonal) {t_setup:.2f} s; {args.steps} SAP "
          f"steps with the exact loss at each: {total:.1f} s in all (Monte Carlo baseline "
          f"included: {sum(r['t_mc_s'] for r in rows):.1f} s of it)")
    print(f"exact loss: {min(r['exact_digits'] for r in rows):.1f} to "
          f"{max(r['exact_digits'] for r in rows):.1f} guaranteed digits per step; Monte Carlo "
          f"at equal time: {min(r['mc_digits'] for r in rows):.1f} to "
          f"{max(r['mc_digits'] for r in rows):.1f} digits (95%); median time ratio MC/exact for "
          f"the exact's digits: {med:.2e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"N": args.N, "d": args.d, "steps": rows, "setup_s": t_setup,
                       "total_s": total, "median_ratio": med}, fh, indent=2)


if __name__ == "__main__":
    main()
