#!/usr/bin/env python3
"""Benchmark: the binary moment matching of the "lossless" NTK compression.

``--cases slsqp`` (default): the published approach, reimplemented here in a few lines (not their
code): minimise the *sum of squares* of the squared equations ``(d1_b^2 - d1^2)^2 + (d2_b^2 -
d2^2)^2 + (d3_b - d3)^2`` by SciPy's SLSQP from 1000 random starts (``s ~ N(0, 0.5^2)`` for the
thresholds, ``b ~ N(0, 0.5^2)``; ordering constraint ``s2 - s1 >= 0``; ``ftol = 1e-30``), keep the
best; against :func:`compverify.numeric.lossless_matching.solve_system` on the same equations
(ReLU, tau = 1, the first hidden layer).  Reported: time of each, the ratio, and the correct
digits of each answer against our root re-solved at 80 digits (the residual too).

``--cases grid``: ReLU, tanh and erf networks of 2, 3, 4 layers at tau0 in {0.5, 1, 2}: per layer
the solvability verdict, the roots (s1, s2, b), the least-squares residual and the certificate.

``--cases roots``: the proved number of roots of the ReLU hidden-layer system in its box, for each
sign choice, at tau in {0.5, 1, 2} (Krawczyk branch and bound, checked independently).

The machine was shared with other jobs; ratios measured in one run are still meaningful.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import mpmath
import numpy as np
from scipy import optimize

from compverify.numeric.lossless_matching import (
    hidden_system,
    match_network,
    solve_system,
)
from compverify.numeric.lossless_moments import gaussian_moments


def slsqp_case(starts: int = 1000, seed: int = 0) -> dict:
    m = gaussian_moments("relu", 1, dps=40)
    system = hidden_system(m)
    d1, d2, d3 = (float(t) for t in system.targets)

    def sos(x):
        F = system.residual(x) + np.array([d1, d2, d3])  # the binary's moments
        return (F[0]**2 - d1**2)**2 + (F[1]**2 - d2**2)**2 + (F[2] - d3)**2

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    best = None
    with np.errstate(all="ignore"):
        for _ in range(starts):
            x0 = rng.standard_normal(3) * 0.5
            r = optimize.minimize(sos, x0, method="SLSQP", options={"ftol": 1e-30},
                                  constraints={"type": "ineq", "fun": lambda x: x[1] - x[0]})
            if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
                best = r
    t_slsqp = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solve_system(system, dps=40, starts=30, seed=seed)
    t_ours = time.perf_counter() - t0
    root = sol.roots[0]
    ref = solve_system(hidden_system(gaussian_moments("relu", 1, dps=80)), dps=80, starts=8, seed=1)
    # the SLSQP answer is compared with the copy of our root it is closest to
    cands = [tuple(ref.roots[0].x)] + [tuple(c) for c in ref.roots[0].copies]
    x = best.x
    near = min(cands, key=lambda c: max(abs(float(a) - b) for a, b in zip(c, x, strict=True)))
    with mpmath.workdps(80):
        err_slsqp = max(abs(mpmath.mpf(float(b)) - a) for a, b in zip(near, x, strict=True))
        err_ours = max(abs(a - b) for a, b in zip(root.x, ref.roots[0].x, strict=True))
        F = system.residual_mp([mpmath.mpf(float(v)) for v in x])
        slsqp_residual = mpmath.norm(F, mpmath.inf)

    def digits(e):
        return 80 if e == 0 else int(-mpmath.log10(e))

    return {"slsqp": {"seconds": t_slsqp, "starts": starts, "sum_of_squares": float(best.fun),
                      "x": x.tolist(), "max_error": mpmath.nstr(err_slsqp, 3),
                      "digits": digits(err_slsqp), "unsquared_residual": mpmath.nstr(slsqp_residual, 3)},
            "ours": {"seconds": t_ours, "starts": 30, "dps": 40, "roots": len(sol.roots),
                     "max_error": mpmath.nstr(err_ours, 3), "digits": digits(err_ours),
                     "residual": mpmath.nstr(root.residual, 3)},
            "time_ratio_ours_over_slsqp": t_ours / t_slsqp}


def grid_case(activations=("relu", "tanh", "erf"), depths=(2, 3, 4), taus=("0.5", "1", "2"),
              dps: int = 40, starts: int = 6) -> list[dict]:
    from compverify.proofs_check.lossless_certificates import match_json

    rows = []
    for act in activations:
        for L in depths:
            for tau0 in taus:
                t0 = time.perf_counter()
                res = match_network(act, L, tau0, dps=dps, starts=starts)
                # interval certificates (slow) only for the 2-layer ReLU networks; ReLU layers
                # are equivalent up to scale (s -> tau s, b -> tau b), so they cover the rest
                layers = match_json(res, dps, certify=True, interval=(L == 2 and act == "relu"))
                rows.append({"activation": act, "layers": L, "tau0": tau0,
                             "seconds": time.perf_counter() - t0, "result": layers})
                verdicts = []
                for x in layers:
                    b = x["binary"]
                    verdicts.append(f"l{x['layer']} root" if b["solvable"] else
                                    f"l{x['layer']} none lb={b.get('residual_lower_bound')}")
                print(f"{act} L={L} tau0={tau0}: " + "; ".join(verdicts), file=sys.stderr, flush=True)
    return rows


def roots_case(taus=("0.5", "1", "2"), time_limit: float = 1500.0) -> list[dict]:
    """Proved root counts of the ReLU hidden-layer system over its whole box, for each of the four
    sign choices ``(+-d1, +-d2, d3)`` of the published squared system (Krawczyk branch and bound,
    re-checked by :func:`check_root_count`)."""
    import dataclasses

    from compverify.numeric.lossless_matching import hidden_system
    from compverify.numeric.lossless_moments import gaussian_moments
    from compverify.proofs_check.lossless_roots import check_root_count, count_roots

    rows = []
    for tau in taus:
        mom = gaussian_moments("relu", tau, dps=40)
        base = hidden_system(mom)
        t = base.targets
        for sg in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
            system = dataclasses.replace(base, targets=(sg[0] * t[0], sg[1] * t[1], t[2]))
            c = count_roots(system, mom.error, time_limit=time_limit, max_leaves=400000)
            t0 = time.perf_counter()
            check = check_root_count(c) if c["proved"] else (False, c["reason"])
            rows.append({"tau": tau, "signs": sg, "proved": c["proved"], "roots": c["roots"],
                         "counts": c["counts"], "box": c["box"], "seconds": c["seconds"],
                         "check": check, "check_seconds": time.perf_counter() - t0,
                         "enclosures": c["enclosures"]})
            print(f"relu tau={tau} signs={sg}: roots={c['roots']} proved={c['proved']} "
                  f"leaves={c['counts']} {c['seconds']:.0f} s; check: {check[1]}", file=sys.stderr,
                  flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="slsqp", help="slsqp, grid, roots (comma-separated)")
    ap.add_argument("--starts", type=int, default=1000, help="SLSQP starts (default 1000)")
    ap.add_argument("--out", default=None, help="write the results as JSON")
    args = ap.parse_args()
    out = {}
    cases = args.cases.split(",")
    if "slsqp" in cases:
        out["slsqp"] = slsqp_case(args.starts)
        print(json.dumps(out["slsqp"], indent=1))
    if "grid" in cases:
        out["grid"] = grid_case()
    if "roots" in cases:
        out["roots"] = roots_case()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
