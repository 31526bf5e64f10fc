"""The error rate of the mean-field simplification (SPEC A3), measured, not assumed.

For a target family, a dimension d and a width N, a realization ``f_N`` (N neurons drawn from the
family, ``a_i = abar/N``) differs from the mean field by ``L_N - Lbar = (C_N - Cbar)
- 2 sum_j b_j (h_N(v_j) - h(v_j))``: only ``h_N - h`` moves the minimiser. Per realization this
module measures

* ``delta = sup_{|u| = 1} |h_N(u) - h(u)|`` -- exact kernel sums, no input sampling; the sup by
  seeded multi-start L-BFGS over ``u = x/|x|`` with the analytic gradient, both signs;
* ``shift = |min L_N - min Lbar| / Cbar`` (float64 minima, best of the restarts);
* ``gram_distance = ||G_N - Gbar||_F`` between the minimisers' direction Grams after matching the
  neurons (Hungarian assignment on ``U_N Ubar'``),

and fits ``log mean(delta) = a + alpha log N + beta log d`` by least squares, with percentile
bootstrap intervals over the realizations (seeded). Finished points are checkpointed atomically
and a rerun with the same inputs resumes.

>>> r = run_rate("relu", "isotropic", [2], [16, 64], samples=2, seed=0, restarts=2, optimum=False)
>>> sorted(r["fit"])[:3]
['N_exponent', 'N_exponent_ci', 'd_exponent']
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment, minimize

from compverify._version import __version__
from compverify.errors import CompverifyError
from compverify.validate import check_memory, check_positive_int

__all__ = ["sup_deviation", "run_rate", "fit_exponents", "BOOTSTRAP"]

#: bootstrap resamples of the confidence intervals
BOOTSTRAP = 400


def sup_deviation(finite: Any, target: Any, restarts: int = 8, seed: int = 0) -> float:
    """``sup_{|u|=1} |h_N(u) - h(u)|`` by seeded multi-start maximisation on the sphere."""
    d = target.d
    rng = np.random.default_rng(seed)
    best = 0.0
    for k in range(restarts):
        x0 = rng.standard_normal(d)
        sign = 1.0 if k % 2 == 0 else -1.0

        def fun(x: np.ndarray, sign: float = sign) -> tuple[float, np.ndarray]:
            n = float(np.linalg.norm(x))
            u = (x / n)[None, :]
            diff = float(finite.h(u)[0] - target.h(u)[0])
            g = finite.h_grad(u)[0] - target.h_grad(u)[0]
            gx = (g - u[0] * float(u[0] @ g)) / n  # chain rule through u = x/|x|
            return -sign * diff, -sign * gx

        res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12})
        u = (res.x / np.linalg.norm(res.x))[None, :]
        best = max(best, abs(float(finite.h(u)[0] - target.h(u)[0])))
    return best


def _directions(problem: Any, theta: np.ndarray) -> np.ndarray:
    _, V = problem.split(theta)
    return V / np.linalg.norm(V, axis=1)[:, None]


def _gram_distance(U: np.ndarray, Ubar: np.ndarray) -> float:
    _, cols = linear_sum_assignment(-(U @ Ubar.T))
    Um = np.empty_like(U)
    Um[cols] = U
    return float(np.linalg.norm(Um @ Um.T - Ubar @ Ubar.T))


def fit_exponents(points: list[dict], key: str = "delta", seed: int = 0) -> dict:
    """Least-squares exponents of N (and d) of ``mean(key)``, with bootstrap 95% intervals."""
    ds = sorted({p["d"] for p in points})
    with_d = len(ds) > 1

    def ols(means: list[float]) -> np.ndarray:
        X = np.array([[1.0, math.log(p["N"])] + ([math.log(p["d"])] if with_d else [])
                      for p in points])
        y = np.log(np.maximum(np.asarray(means, dtype=float), 1e-300))
        return np.linalg.lstsq(X, y, rcond=None)[0]

    coef = ols([float(np.mean(p[key])) for p in points])
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(BOOTSTRAP):
        means = [float(np.mean(rng.choice(p[key], size=len(p[key])))) for p in points]
        boots.append(ols(means))
    boots = np.array(boots)
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return {"N_exponent": float(coef[1]), "N_exponent_ci": [float(lo[1]), float(hi[1])],
            "d_exponent": float(coef[2]) if with_d else None,
            "d_exponent_ci": [float(lo[2]), float(hi[2])] if with_d else None,
            "quantity": key, "method": f"OLS in log-log on per-point means; 95% percentile "
                                       f"bootstrap over realizations ({BOOTSTRAP} resamples)"}


def run_rate(activation: Any, target: str, d_list: list[int], N_list: list[int], *,
             samples: int = 8, seed: int = 0, M: int | str | None = None, restarts: int = 8,
             target_mean: str | None = None, target_scale: str | None = None,
             optimum: bool = True, checkpoint: str | os.PathLike | None = None,
             progress: bool | None = None) -> dict:
    """Measure ``delta`` (and, with ``optimum``, ``shift`` and ``gram_distance``) on the grid.

    ``M`` defaults to ``d + 1``. Returns the JSON-ready result (``inputs``, ``points``, ``fit``,
    ``fit_shift``, ``seed``, ``version``); with ``checkpoint`` every finished point is written
    there atomically and a rerun with the same inputs skips the finished points.
    """
    from compverify.io import atomic_write_json
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import float64_search
    from compverify.numeric.targets import from_options
    from compverify.symbolic import get_activation
    from compverify.validate import memory_estimate

    act = get_activation(activation)
    samples = check_positive_int(samples, "samples", minimum=2)
    restarts = check_positive_int(restarts, "restarts")
    d_list = [check_positive_int(d, "d") for d in d_list]
    N_list = [check_positive_int(n, "N") for n in N_list]
    if len(N_list) < 2:
        raise CompverifyError(f"the rate needs at least two values of N, got {N_list}")
    for d in d_list:  # before any work: a realization (N, d) and the problems on it
        width = _width(M, d)
        n_max = max(N_list)
        check_memory(8.0 * 6 * n_max * d + memory_estimate(width, d),
                     f"rate with N = {n_max}, d = {d}, M = {width}")
    inputs = {"activation": act.spec, "target": target, "target_mean": target_mean,
              "target_scale": target_scale, "d": d_list, "N": N_list, "samples": samples,
              "M": None if M is None else str(M), "restarts": restarts, "optimum": optimum,
              "seed": seed}
    done: dict[tuple[int, int], dict] = {}
    if checkpoint and os.path.exists(checkpoint):
        try:
            with open(checkpoint, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise CompverifyError(f"checkpoint {os.fspath(checkpoint)!r} is unreadable: {exc}") \
                from None
        if old.get("inputs") != inputs:
            raise CompverifyError(f"checkpoint {os.fspath(checkpoint)!r} has other inputs; use "
                                  "another --out or remove it")
        done = {(p["d"], p["N"]): _floats(p) for p in old.get("points", [])}
    seeds = np.random.SeedSequence(seed)
    cells = [(d, N) for d in d_list for N in N_list]
    child = dict(zip(cells, seeds.spawn(len(cells)), strict=True))
    points: list[dict] = []
    bar = _bar(len(cells) * samples, progress)
    for d in d_list:
        tgt = from_options(target, d=d, mean=target_mean, scale=target_scale, activation=act)
        width = _width(M, d)
        mf_problem = Problem(act, tgt, width)
        Cbar = float(tgt.C())
        # a quadrature-rule target knows h only to its error: deviations below it measure the rule
        h_err = None
        if hasattr(tgt, "h_error"):
            U = np.random.default_rng(seed).standard_normal((64, d))
            h_err = float(np.max(tgt.h_error(U / np.linalg.norm(U, axis=1, keepdims=True))))
        mf_best = float64_search(mf_problem, restarts, seed) if optimum else None
        for N in N_list:
            if (d, N) in done:
                points.append(done[(d, N)])
                bar.update(samples)
                continue
            pt: dict[str, Any] = {"d": d, "N": N, "M": width, "delta": [], "realization_seeds": []}
            if optimum:
                pt.update(shift=[], gram_distance=[])
            for r, ss in enumerate(child[(d, N)].spawn(samples)):
                rs = int(ss.generate_state(1)[0])
                fin = tgt.sample(N, rs)
                pt["delta"].append(sup_deviation(fin, tgt, restarts, rs))
                pt["realization_seeds"].append(rs)
                if optimum:
                    fin_problem = Problem(act, fin, width)
                    best = float64_search(fin_problem, restarts, rs + r)
                    pt["shift"].append(abs(best.value - mf_best.value) / Cbar)
                    pt["gram_distance"].append(_gram_distance(
                        _directions(fin_problem, best.theta),
                        _directions(mf_problem, mf_best.theta)))
                bar.update(1)
            pt["mean_delta"] = float(np.mean(pt["delta"]))
            pt["target_h_error"] = h_err
            points.append(pt)
            if checkpoint:
                atomic_write_json(checkpoint, {"inputs": inputs, "points": points,
                                               "partial": True, "version": __version__})
    bar.close()
    warnings = [f"d={p['d']} N={p['N']}: mean deviation {p['mean_delta']:.3g} is within 3x the "
                f"target rule's error {p['target_h_error']:.3g}; that point measures the rule"
                for p in points if p.get("target_h_error") is not None
                and p["mean_delta"] <= 3 * p["target_h_error"]]
    out = {"inputs": inputs, "points": points, "quantity": "sup_{|u|=1} |h_N(u) - h(u)|",
           "warnings": warnings,
           "fit": fit_exponents(points, "delta", seed),
           "fit_shift": fit_exponents(points, "shift", seed) if optimum else None,
           "seed": seed, "version": __version__}
    if checkpoint:
        atomic_write_json(checkpoint, out)
    return out


def _floats(point: dict) -> dict:
    """A checkpointed point with its reals back to float (JSON stores decimal strings)."""
    out = dict(point)
    for key in ("delta", "shift", "gram_distance"):
        if key in out:
            out[key] = [float(x) for x in out[key]]
    if "mean_delta" in out:
        out["mean_delta"] = float(out["mean_delta"])
    if out.get("target_h_error") is not None:
        out["target_h_error"] = float(out["target_h_error"])
    return out


def _width(M: int | str | None, d: int) -> int:
    if M is None:
        return d + 1
    text = str(M).replace(" ", "")
    if text.isdigit():
        return check_positive_int(int(text), "M")
    if text.startswith("d+") and text[2:].isdigit():
        return d + int(text[2:])
    if text == "d":
        return d
    raise CompverifyError(f"--M must be an integer, 'd' or 'd+k', got {M!r}")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool | None):
    import sys

    if progress is False or (progress is None and not sys.stderr.isatty()):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="rate", unit="realization", file=sys.stderr)
