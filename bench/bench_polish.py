#!/usr/bin/env python3
"""Benchmark: the Newton polish plus the evidence at 30 digits, ball arithmetic and flint-refined
linear algebra against mpmath (the baseline, kept below), in one run.

Problem: ReLU, isotropic target, width M in R^d (default cases (8, 9), (7, 28)).  A float64 search
(``--restarts``, default 4) gives the start; then, timed, exactly what
:func:`compverify.numeric.solver.solve` does after its search: the polish at ``dps`` (Newton on the
quotient), the verification re-polish at ``dps + 20``, and the evidence spectrum (Hessian
eigenvalues, orbit basis, residual) at ``eig_dps``.

* **Now**: the objective, gradient and Hessian summed in python-flint balls
  (:meth:`compverify.numeric.objective.Problem.evaluate_ball`, behind ``evaluate_mp``);
  Newton steps with float64 Hessians, solved in float64, while they contract
  (:func:`compverify.numeric.solver._newton_mp`; one multiprecision Hessian, for the evidence);
  :mod:`compverify.numeric.hplinalg` (float64 factorisations refined with python-flint
  ``arb_mat`` products) for the rest.
* **Baseline**: the same Newton iteration and evidence with the objective summed in mpmath
  (``evaluate_mp(..., arithmetic="mpmath")``), the linear algebra of mpmath
  (``mpmath.cholesky_solve``, ``mpmath.eigsy``, products of ``mpmath.matrix``) and a
  multiprecision Hessian at every step: :func:`baseline_step` and :func:`baseline_spectrum`
  below, patched in.

Printed: both times, the ratio, the time in the objective's evaluations (``evaluate_mp``: balls
now, mpmath in the baseline) and the agreement of the two answers (loss, verified digits,
smallest reduced eigenvalue).  ``--only-new`` skips the baseline (for the large cases, e.g. ``--case 23,46``).
The machine may be shared: compare the ratio, measured in one run.

Run: ``python bench/bench_polish.py [--case 8,9 --case 7,28] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import mpmath
import numpy as np

from compverify.numeric import solver
from compverify.numeric.objective import Problem, digits_agreeing, mp_array
from compverify.numeric.targets import isotropic


def baseline_orth(T: np.ndarray, tol_exp: int, scale: Any = 0):
    """The orbit basis with mpmath matrices (``eigsy`` of ``T'T``)."""
    n, s = T.shape
    if s == 0:
        return None
    Tm = mpmath.matrix(T.tolist())
    G = Tm.T * Tm
    E, U = mpmath.eigsy(G)
    lmax = max(abs(E[i]) for i in range(s))
    if lmax == 0:
        return None
    floor = max(lmax, mpmath.mpf(scale) ** 2) * mpmath.mpf(10) ** (-tol_exp)
    keep = [i for i in range(s) if E[i] > floor]
    if not keep:
        return None
    Q = mpmath.matrix(n, len(keep))
    for c, i in enumerate(keep):
        col = Tm * U[:, i] / mpmath.sqrt(E[i])
        for r in range(n):
            Q[r, c] = col[r]
    return Q


def baseline_step(g: np.ndarray, H: np.ndarray, T: np.ndarray, p: int, scale: Any = 0):
    """Newton step (H + sigma P) d = -g with mpmath's Cholesky (pseudo-inverse by eigsy)."""
    n = len(g)
    Hm = mpmath.matrix(H.tolist())
    gm = mpmath.matrix(g.tolist())
    Q = baseline_orth(T, p // 2, scale)
    sigma = max(abs(Hm[i, i]) for i in range(n))
    A = Hm + sigma * (Q * Q.T) if Q is not None else Hm
    gnorm = mpmath.norm(gm)
    how = "cholesky"
    try:
        x = mpmath.cholesky_solve(A, -gm)
    except (ZeroDivisionError, ValueError):
        x = None
    if x is None or mpmath.norm(x) * sigma > 1e6 * gnorm:
        how = "pseudo-inverse"
        E, U = mpmath.eigsy(A)
        lmax = max(abs(E[i]) for i in range(n))
        y = U.T * (-gm)
        for i in range(n):
            y[i] = y[i] / E[i] if abs(E[i]) > lmax * mpmath.mpf(10) ** (-(p // 2)) else 0
        x = U * y
    return np.array([x[i] for i in range(n)], dtype=object), how


def baseline_spectrum(problem, pol, eig_dps):
    """The evidence spectrum with mpmath's ``eigsy``."""
    n = problem.n_params
    with mpmath.workdps(eig_dps):
        H = mpmath.matrix(pol.hess.tolist())
        ev_full = mpmath.eigsy(H, eigvals_only=True)
        lam = sorted((ev_full[i] for i in range(n)), key=abs)
        lmax = abs(lam[-1])
        thr = lmax * mpmath.mpf(10) ** (-(eig_dps // 2))
        hess_null = sum(1 for x in lam if abs(x) <= thr)
        theta = mp_array(pol.theta, eig_dps)
        T = problem.symmetry_tangents(theta)
        Q = baseline_orth(T, eig_dps // 2, solver._mp_norm(theta))
        r = 0 if Q is None else Q.cols
        resid = max((mpmath.norm(H * Q[:, i]) for i in range(r)), default=mpmath.mpf(0))
        return hess_null, r, thr, resid, tuple(sorted(lam[r:]))


class _Timer:
    """Wraps ``Problem.evaluate_mp`` to add up the time of the Hessian evaluations."""

    def __init__(self, problem: Problem, arithmetic: str | None = None):
        self.problem, self.seconds = problem, 0.0
        self.orig = problem.evaluate_mp

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return self.orig(*a, **k, arithmetic=arithmetic)
            finally:
                self.seconds += time.perf_counter() - t

        problem.evaluate_mp = timed


def polish_and_evidence(problem: Problem, theta: np.ndarray, dps: int,
                        arithmetic: str | None = None) -> dict:
    """What solve does after the search; returns times and the answer's key numbers."""
    timer = _Timer(problem, arithmetic)
    eig_dps = solver._default_eig_dps(dps)
    t0 = time.perf_counter()
    pol = solver.polish(problem, theta, dps)
    t1 = time.perf_counter()
    check = solver.polish(problem, pol.theta, dps + solver.CHECK_EXTRA,
                          start_dps=dps + solver.CHECK_EXTRA + solver.NEWTON_GUARD,
                          want_hessian=False)
    t2 = time.perf_counter()
    hess_null, r, _thr, _resid, red = solver._evidence_spectrum(problem, pol, eig_dps)
    t3 = time.perf_counter()
    del problem.evaluate_mp  # the instance attribute: back to the class's method
    return {"polish_s": t1 - t0, "verification_s": t2 - t1, "evidence_s": t3 - t2,
            "total_s": t3 - t0, "evaluate_mp_s": timer.seconds,
            "loss": pol.loss, "check_loss": check.loss,
            "verified_digits": digits_agreeing(pol.loss, check.loss, dps),
            "newton_iterations": pol.iterations, "converged": pol.converged,
            "min_eig": red[0] if red else None, "null": (hess_null, r)}


def run_case(d: int, M: int, dps: int, restarts: int, only_new: bool) -> dict:
    problem = Problem("relu", isotropic(d, "relu"), M)
    t = time.perf_counter()
    start = solver.float64_search(problem, restarts=restarts, seed=0).theta
    out: dict = {"d": d, "M": M, "n_params": problem.n_params, "dps": dps,
                 "search_s": time.perf_counter() - t}
    new = polish_and_evidence(problem, start, dps)
    out["new"] = new
    print(f"(d, M) = ({d}, {M}), {problem.n_params} parameters, {dps} digits")
    print(f"  balls + flint: {new['total_s']:8.2f} s  (polish {new['polish_s']:.2f}, verification "
          f"{new['verification_s']:.2f}, evidence {new['evidence_s']:.2f}; objective evaluations "
          f"{new['evaluate_mp_s']:.2f}); verified digits {new['verified_digits']}")
    if not only_new:
        saved = solver._mp_step, solver._evidence_spectrum, solver._float_hessian_ok
        solver._mp_step, solver._evidence_spectrum = baseline_step, baseline_spectrum
        solver._float_hessian_ok = lambda problem: False
        try:
            old = polish_and_evidence(problem, start, dps, "mpmath")
        finally:
            solver._mp_step, solver._evidence_spectrum, solver._float_hessian_ok = saved
        out["baseline"] = old
        la_new = new["total_s"] - new["evaluate_mp_s"]
        la_old = old["total_s"] - old["evaluate_mp_s"]
        with mpmath.workdps(dps + 10):
            agree = digits_agreeing(new["loss"], old["loss"], dps)
            eig_agree = digits_agreeing(new["min_eig"], old["min_eig"], 30)
        out.update(ratio=old["total_s"] / new["total_s"],
                   linear_algebra_ratio=la_old / max(la_new, 1e-9),
                   loss_digits_agreeing=agree, min_eig_digits_agreeing=eig_agree)
        print(f"  mpmath:        {old['total_s']:8.2f} s  (polish {old['polish_s']:.2f}, "
              f"verification {old['verification_s']:.2f}, evidence {old['evidence_s']:.2f}; "
              f"objective evaluations {old['evaluate_mp_s']:.2f})")
        print(f"  speed-up {out['ratio']:.1f}x overall, {out['linear_algebra_ratio']:.1f}x outside "
              f"the objective's evaluations (linear algebra); the losses agree to {agree} digits, "
              f"the smallest reduced eigenvalues to {eig_agree} digits; null dims "
              f"{new['null']} vs {old['null']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", default=None, metavar="d,M",
                    help="a case (repeatable; default 8,9 and 7,28)")
    ap.add_argument("--dps", type=int, default=30)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--only-new", action="store_true", help="skip the mpmath baseline")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cases = [tuple(int(x) for x in c.split(",")) for c in (args.case or ["8,9", "7,28"])]
    results = [run_case(d, M, args.dps, args.restarts, args.only_new) for d, M in cases]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(json.loads(json.dumps(results, default=str)), fh, indent=1)


if __name__ == "__main__":
    main()
