#!/usr/bin/env python3
"""Benchmark: mean-field targets without a closed form, against the baseline.

* **Series route** (ReLU, Gaussian weights with a mean, :mod:`compverify.numeric.meanfield_series`):
  time to build the series and evaluate ``h`` with gradient and Hessian at 4 directions, at 50
  digits; then a full ``solve`` (d, M) = (3, 4) to 50 digits.  Baseline in the same wall time:
  Monte Carlo over the weights with exact kernel sums (what a user would otherwise do); reported
  are the correct digits of ``h`` each reaches (reference: the series at 80 digits).
* **Quadrature rules** (:mod:`compverify.numeric.sampled`): for Rademacher entries at d = 12, where
  the exact 2^12 sum exists, the rule's 99% error estimate against its actual error at 32
  directions (coverage), and the same for iid:uniform against a rule 16 times larger.
* **Spectral rule** (:mod:`compverify.numeric.spectral`): Rademacher at d = 20 against the exact
  2^20 sum (estimated and actual error, coverage, time for 32 directions); beside it the QMC rule
  given the same wall time.  Uniform entries, d = 3, tanh and relu: estimate, and the difference
  to the QMC rule's value with its 99% half-width.
* **Multiprecision spectral rule**: the Hessian at 30 digits with python-flint's ``arb`` against
  the same loop in mpmath (the baseline, same run: time ratio and largest difference), for
  Rademacher d = 13 and uniform d = 3 (M = 2, relu); and the finer rule (``finer()``, estimate
  summed in mpmath) against the exact 2^10 sum at 40 digits: estimated and actual error of the
  rule and of its finer rule, at random directions and at the atom direction ``1/sqrt(d)``.
* **Atoms** (d = 13): relu against the exact sum over all 2^13 atoms at an atom direction, near
  one, and a random direction (rule and finer rule, mpmath); gelu and silu in float64.
* **Power solve**: relu_power:2, iid:rademacher, d = 13, M = 2, 20 digits, against the exact
  2^13 sum at the answer.
* **Gaussian, smooth activation** (tanh, d = 3, M = 1, 30 digits): the Gauss rule alone against
  ``GaussianSpectralTarget``: time, verified digits, rule error.
* **Power n** (relu_power:3, 4; :func:`power_n_cases`): mpmath against exact 2^13 sums and
  adaptive quadrature, and a 20-digit uniform solve beside the QMC route; ``power_n_solve``: the
  power solve below with relu_power:3.
* **Power** (relu_power:2): float64 at d = 20 against the exact 2^20 sum, beside the QMC rule it
  replaced given the same wall time; the d = 13 atom comparison in mpmath; uniform d = 1 against
  its closed form.

Run: ``python bench/bench_targets.py`` (``--json out.json`` keeps the numbers, ``--cases atoms``
runs a subset).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import mpmath  # noqa: E402
import numpy as np  # noqa: E402

from compverify.numeric.objective import Problem  # noqa: E402
from compverify.numeric.sampled import WeightRuleTarget  # noqa: E402
from compverify.numeric.solver import solve  # noqa: E402
from compverify.numeric.targets import GaussianTarget, RademacherTarget  # noqa: E402


def digits(x, ref) -> int:
    with mpmath.workdps(120):
        x, ref = mpmath.mpf(x), mpmath.mpf(ref)
        if x == ref:
            return 100
        return max(0, int(mpmath.floor(-mpmath.log10(abs(x - ref) / abs(ref)))))


def series_case() -> dict:
    d, mean = 3, [0.3, 0.3, 0.3]
    V = np.random.default_rng(0).standard_normal((4, d))
    t0 = time.perf_counter()
    t = GaussianTarget("relu", d, mean=mean)
    h50 = t.h_mp(V, 50)
    t.h_grad_mp(V, 50)
    t.h_hess_mp(V, 50)
    t_series = time.perf_counter() - t0
    ref = GaussianTarget("relu", d, mean=mean).h_mp(V, 80)
    # baseline: Monte Carlo over the weights, exact kernel sums, for the same wall time
    rng = np.random.default_rng(1)
    acc, n, t0 = np.zeros(len(V)), 0, time.perf_counter()
    while time.perf_counter() - t0 < t_series:
        W = np.asarray(mean) + rng.standard_normal((20000, d)) / np.sqrt(d)
        acc += t.activation.kernel.value(
            np.linalg.norm(W, axis=1)[:, None], np.linalg.norm(V, axis=1)[None, :],
            np.clip((W @ V.T) / np.outer(np.linalg.norm(W, axis=1), np.linalg.norm(V, axis=1)),
                    -1, 1)).sum(axis=0)
        n += 20000
    mc = acc / n
    res = solve(Problem("relu", t, 4), restarts=32, seed=0, dps=50)
    return {"d": d, "mean": mean, "series_order_50": t.series.order(50)[0],
            "series_seconds_h_grad_hess_50_digits": t_series,
            "series_digits_of_h": min(digits(a, b) for a, b in zip(h50, ref, strict=True)),
            "monte_carlo_samples_same_time": n,
            "monte_carlo_digits_of_h": min(digits(a, b) for a, b in zip(mc, ref, strict=True)),
            "solve_M4_50_digits_seconds": res.seconds["total"],
            "solve_M4_verified_digits": res.evidence.verified_digits,
            "solve_M4_relative_loss": mpmath.nstr(res.relative_loss, 20)}


def rule_cases() -> dict:
    rng = np.random.default_rng(2)
    d = 12
    exact = RademacherTarget("relu", d, mean=0.1)
    rule = WeightRuleTarget("relu", d, "rademacher", mean=0.1, points=512, replicates=8)
    V = rng.standard_normal((32, d))
    err, actual = rule.h_error(V), np.abs(rule.h(V) - exact.h(V))
    rad = {"d": d, "points": 512, "replicates": 8, "median_error_estimate": float(np.median(err)),
           "median_actual_error": float(np.median(actual)),
           "covered_fraction": float(np.mean(actual <= err))}
    d = 3
    small = WeightRuleTarget("relu", d, "uniform", mean=0.1, points=256, replicates=8)
    big = WeightRuleTarget("relu", d, "uniform", mean=0.1, points=4096, replicates=8, seed=9)
    V = rng.standard_normal((32, d))
    err, actual = small.h_error(V), np.abs(small.h(V) - big.h(V))
    uni = {"d": d, "points": 256, "replicates": 8, "reference_points": 4096 * 8,
           "median_error_estimate": float(np.median(err)),
           "median_actual_error": float(np.median(actual)),
           "covered_fraction": float(np.mean(actual <= err))}
    return {"rademacher_vs_exact": rad, "uniform_vs_16x_rule": uni}


def spectral_cases() -> dict:
    from itertools import product

    from compverify.numeric.kernel_sums import cross_term
    from compverify.numeric.spectral import SpectralTarget
    from compverify.symbolic.activations import get_activation

    rng = np.random.default_rng(3)
    d = 20  # 2^20 sign vectors: the exact sum is still affordable here, as the reference
    V = rng.standard_normal((32, d)) / np.sqrt(d)
    W = 0.1 + np.array(list(product((1.0, -1.0), repeat=d))) / np.sqrt(d)
    exact = cross_term(get_activation("relu").kernel, np.full(len(W), 1 / len(W)), W, V).h
    t0 = time.perf_counter()
    spec = SpectralTarget("relu", d, "rademacher", mean=0.1)
    h, err = spec.h(V), spec.h_error(V)
    t_spec = time.perf_counter() - t0
    # QMC in the same wall time: grow the rule until it takes as long
    points, t_q = 64, 0.0
    while True:
        t0 = time.perf_counter()
        rule = WeightRuleTarget("relu", d, "rademacher", mean=0.1, points=points, replicates=8)
        hq = rule.h(V)
        t_q = time.perf_counter() - t0
        if t_q >= t_spec or points >= 1 << 18:
            break
        points *= 2
    out = {"rademacher_d20": {
        "seconds": round(t_spec, 3), "median_error_estimate": float(np.median(err)),
        "median_actual_error": float(np.median(np.abs(h - exact))),
        "max_actual_error": float(np.max(np.abs(h - exact))),
        "covered_fraction": float(np.mean(np.abs(h - exact) <= err)),
        "median_digits": float(np.median([digits(a, b) for a, b in zip(h, exact, strict=True)])),
        "qmc_same_time": {"points": points, "replicates": 8, "seconds": round(t_q, 3),
                          "median_digits": float(np.median(
                              [digits(a, b) for a, b in zip(hq, exact, strict=True)]))}}}
    for act in ("tanh", "relu"):
        d = 3
        V = rng.standard_normal((8, d)) / np.sqrt(d)
        t0 = time.perf_counter()
        spec = SpectralTarget(act, d, "uniform", mean=0.2)
        h, err = spec.h(V), spec.h_error(V)
        t_spec = time.perf_counter() - t0
        entry = {"seconds": round(t_spec, 3), "median_error_estimate": float(np.median(err))}
        if act == "relu":
            rule = WeightRuleTarget("relu", d, "uniform", mean=0.2, points=4096, replicates=8)
            diff, hw = np.abs(rule.h(V) - h), rule.h_error(V)
            entry["qmc_4096x8_max_diff_over_halfwidth"] = float(np.max(diff / hw))
        out[f"uniform_d3_{act}"] = entry
    return out


def multiprecision_cases() -> dict:
    import compverify.numeric.spectral as sp

    rng = np.random.default_rng(5)
    out = {}
    for law, d in (("rademacher", 13), ("uniform", 3)):
        V = rng.standard_normal((2, d)) / np.sqrt(d)
        t = sp.SpectralTarget("relu", d, law, mean=0.1)
        t0 = time.perf_counter()
        a = t.h_hess_mp(V, 30)
        t_arb = time.perf_counter() - t0
        t.arith = sp._MpArith
        t0 = time.perf_counter()
        b = t.h_hess_mp(V, 30)
        t_mp = time.perf_counter() - t0
        with mpmath.workdps(40):
            diff = max(abs(x - y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
        out[f"hessian_30_digits_{law}_d{d}"] = {
            "arb_seconds": round(t_arb, 2), "mpmath_seconds": round(t_mp, 2),
            "speedup": round(t_mp / t_arb, 2), "max_difference": mpmath.nstr(diff, 3)}
    d = 10
    V = np.vstack([rng.standard_normal((3, d)) / np.sqrt(d), np.full((1, d), 1 / np.sqrt(d))])
    exact = RademacherTarget("relu", d, mean=0.25, scale=0.5).h_mp(V, 40)
    coarse = sp.SpectralTarget("relu", d, "rademacher", mean=0.25, scale=0.5)
    out.update(_rule_and_finer(coarse, V, exact, 40, "rademacher_d10",
                               "last direction: the atom direction 1/sqrt(d)"))
    return out


def _rule_and_finer(coarse, V, exact, dps: int, prefix: str, note: str) -> dict:
    """Estimated and actual error of ``h`` (mpmath, ``dps`` digits) for a spectral target's rule
    and its finer rule, against ``exact`` values at the rows of ``V``."""
    out = {}
    for name, t in (("step_0.125", coarse), ("step_0.0625", coarse.finer())):
        t0 = time.perf_counter()
        h, _, e = t.h_grad_estimate_mp(V, dps)
        secs = time.perf_counter() - t0
        with mpmath.workdps(dps + 10):
            out[f"{prefix}_{name}"] = {
                "seconds": round(secs, 2),
                "actual_error": [mpmath.nstr(abs(x - y), 3) for x, y in zip(h, exact, strict=True)],
                "estimate": [mpmath.nstr(x, 3) for x in e], "note": note}
    return out


def atom_cases() -> dict:
    """Rademacher d = 13 (m = s = 1/4, so every atom is a float): the spectral rule and its finer
    rule against the exact sum over all 2^13 atoms in mpmath, at the mean direction (an atom),
    a direction 1e-3 from an atom, and a random one; gelu and silu against the float64 class sum."""
    import itertools

    import compverify.numeric.spectral as sp
    from compverify.numeric.targets import FiniteNetwork

    d, m, s = 13, 0.25, 0.25
    rng = np.random.default_rng(5)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    near = (m + s * np.sign(rng.standard_normal(d))) * (1 + 1e-3 * rng.standard_normal(d))
    V = np.array([np.ones(d) / 4, near, rng.standard_normal(d) / 4])
    out = {}
    exact = FiniteNetwork("relu", np.full(2**d, 0.5**d), m + s * signs).h_mp(V, 40)
    coarse = sp.SpectralTarget("relu", d, "rademacher", mean=m, scale=s)
    out.update(_rule_and_finer(coarse, V, exact, 30, "relu_d13",
                               "directions: mean (an atom), 1e-3 from an atom, random"))
    for spec in ("gelu", "silu"):
        t = sp.SpectralTarget(spec, d, "rademacher", mean=m, scale=s)
        ref = FiniteNetwork(spec, np.full(2**d, 0.5**d), m + s * signs).h(V)
        out[f"{spec}_d13_float64"] = {"actual_error": [f"{x:.2e}" for x in np.abs(t.h(V) - ref)],
                                      "estimate": [f"{x:.2e}" for x in t.h_error(V)]}
    return out


def _d13_atom_directions(spec: str, rng: np.random.Generator) -> tuple:
    """Rademacher d = 13, m = s = 1/4: the mean direction (an atom), one 1e-3 from an atom and a
    random one, with ``h`` from the exact sum over all 2^13 atoms at 40 digits."""
    import itertools

    from compverify.numeric.targets import FiniteNetwork

    d, m, s = 13, 0.25, 0.25
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    near = (m + s * np.sign(rng.standard_normal(d))) * (1 + 1e-3 * rng.standard_normal(d))
    V = np.array([np.ones(d) / 4, near, rng.standard_normal(d) / 4])
    return V, FiniteNetwork(spec, np.full(2**d, 0.5**d), m + s * signs).h_mp(V, 40)


def power_cases() -> dict:
    """relu_power:2 (``z^2/2 + z|z|/2``) on the spectral route.  Float64, Rademacher d = 20: against
    the exact 2^20 sum at 8 random directions, beside the QMC rule it replaced given the same wall
    time (at d = 13 a QMC rule of 2^17 points hits each of the 2^13 atoms equally often and is
    exact, so the comparison is made where it is not).  mpmath, d = 13 (m = s = 1/4): against the
    exact 2^13 sum at an atom direction, near one and a random one, rule and finer rule.  Uniform
    d = 1 against its closed form (``K = (3/2) u^2 v^2`` for ``u v > 0``)."""
    import itertools

    import compverify.numeric.spectral as sp
    from compverify.numeric.kernel_sums import cross_term
    from compverify.symbolic.activations import get_activation

    spec = "relu_power:2"
    rng = np.random.default_rng(5)
    d = 20
    Vf = rng.standard_normal((8, d)) / np.sqrt(d)
    W = 0.1 + np.array(list(itertools.product((1.0, -1.0), repeat=d))) / np.sqrt(d)
    ref = cross_term(get_activation(spec).kernel, np.full(len(W), 1 / len(W)), W, Vf).h
    rule = sp.SpectralTarget(spec, d, "rademacher", mean=0.1)
    rule.h(Vf)  # one-time setup (E[w_1 |w|]) outside the timing
    t0 = time.perf_counter()
    h = rule.h(Vf)
    t_rule = time.perf_counter() - t0
    out = {"rademacher_d20_float64": {
        "seconds": round(t_rule, 3),
        "median_digits": float(np.median([digits(a, b) for a, b in zip(h, ref, strict=True)])),
        "max_actual_error": float(np.max(np.abs(h - ref))),
        "median_estimate": float(np.median(rule.h_error(Vf)))}}
    points = 64
    while True:
        t0 = time.perf_counter()
        qmc = WeightRuleTarget(spec, d, "rademacher", mean=0.1, points=points, replicates=8)
        hq = qmc.h(Vf)
        t_q = time.perf_counter() - t0
        if t_q >= t_rule or points >= 1 << 18:
            break
        points *= 2
    out["qmc_same_time_d20"] = {
        "points": points, "replicates": 8, "seconds": round(t_q, 3),
        "median_digits": float(np.median([digits(a, b) for a, b in zip(hq, ref, strict=True)]))}
    d, m, s = 13, 0.25, 0.25
    V, exact = _d13_atom_directions(spec, rng)
    out.update(_rule_and_finer(sp.SpectralTarget(spec, d, "rademacher", mean=m, scale=s), V, exact,
                               30, "rademacher_d13",
                               "directions: mean (an atom), 1e-3 from an atom, random"))
    uni = sp.SpectralTarget(spec, 1, "uniform", mean=m, scale=s)
    with mpmath.workdps(40):
        lo, hi = mpmath.mpf(uni.law.lo), mpmath.mpf(uni.law.hi)
        pos, neg = hi**3 / 3 / (hi - lo), -(lo**3) / 3 / (hi - lo)
        Vu = np.array([[0.7], [-1.3]])
        ref_u = [mpmath.mpf(3) / 2 * mpmath.mpf(v) ** 2 * (pos if v > 0 else neg) for v in Vu[:, 0]]
    out.update(_rule_and_finer(uni, Vu, ref_u, 30, "uniform_d1", "closed form; algebraic convergence"))
    return out


def power_solve_case(spec: str = "relu_power:2") -> dict:
    """A 20-digit solve of relu_power:2, ``iid:rademacher``, d = 13, M = 2, mean 0.1 (4 restarts),
    checked against the loss at the returned ``(b, V)`` from the exact sum over all 2^13 atoms
    (``m +- s`` in mpmath, ``C`` from the exact class sum): time, verified digits, actual error."""
    import itertools

    from compverify.numeric.kernel_sums import cross_term_mp
    from compverify.numeric.spectral import _MpArith, rademacher_C
    from compverify.numeric.targets import from_options
    from compverify.symbolic.activations import get_activation

    d, M = 13, 2
    target = from_options("iid:rademacher", d=d, mean="0.1", scale=None, activation=spec)
    t0 = time.perf_counter()
    res = solve(Problem(spec, target, M), restarts=4, seed=0, dps=20)
    secs = time.perf_counter() - t0
    kernel = get_activation(spec).kernel
    with mpmath.workdps(50):
        hi, lo = target.law.atoms_in(_MpArith)
        atoms = np.array([[hi if e > 0 else lo for e in signs]
                          for signs in itertools.product((-1, 1), repeat=d)], dtype=object)
        b = [mpmath.mpf(x) for x in res.b]
        V = np.array([[mpmath.mpf(x) for x in row] for row in res.V], dtype=object)
        h = cross_term_mp(kernel, [mpmath.mpf(2) ** -d] * len(atoms), atoms, V, dps=45).h
        Kb = cross_term_mp(kernel, b, V, V, dps=45).h
        C = rademacher_C(kernel, d, target.m, target.s, 1.0, 45)
        exact = C - 2 * mpmath.fsum(x * y for x, y in zip(b, h, strict=True)) + mpmath.fsum(
            x * y for x, y in zip(b, Kb, strict=True))
        return {"seconds": round(secs, 1), "verified_digits": res.evidence.verified_digits,
                "loss": mpmath.nstr(res.loss, 25), "exact_loss": mpmath.nstr(exact, 30),
                "actual_error": mpmath.nstr(abs(exact - res.loss), 3),
                "rule_error": mpmath.nstr(res.evidence.rule_error, 3)}


def power_n_cases() -> dict:
    """relu_power:n, n >= 3, on the spectral rule in mpmath (before: the QMC rule only).

    Rademacher d = 13 (m = s = 1/4), relu_power:3: rule and finer rule against the exact sum over
    all 2^13 atoms at the mean direction (an atom), one 1e-3 from an atom and a random one, beside
    the QMC rule (8 x 1024 points).  Uniform d = 1, relu_power:3 and relu_power:4: against adaptive
    quadrature of the closed-form kernel.  A 20-digit solve, relu_power:3, iid:uniform, d = 3,
    M = 2, mean 0.2: time and verified digits, beside the QMC route (``--rule-points 1024``), and
    the loss at the answer re-evaluated with the rule of step 1/32 (a rule four times finer than
    the one the solver's estimate comes from)."""

    import compverify.numeric.spectral as sp
    from compverify.numeric.targets import from_options
    from compverify.symbolic.activations import get_activation

    out = {}
    spec, d, m, s = "relu_power:3", 13, 0.25, 0.25
    V, exact = _d13_atom_directions(spec, np.random.default_rng(5))
    out.update(_rule_and_finer(sp.SpectralTarget(spec, d, "rademacher", mean=m, scale=s), V, exact,
                               30, "relu_power3_rademacher_d13",
                               "directions: mean (an atom), 1e-3 from an atom, random"))
    qmc = WeightRuleTarget(spec, d, "rademacher", mean=m, scale=s)
    with mpmath.workdps(40):
        out["relu_power3_rademacher_d13_qmc"] = {
            "actual_error": [mpmath.nstr(abs(mpmath.mpf(x) - y), 3) for x, y in zip(qmc.h(V), exact,
                                                                                   strict=True)],
            "estimate": [f"{x:.2e}" for x in qmc.h_error(V)]}
    for spec in ("relu_power:3", "relu_power:4"):
        uni = sp.SpectralTarget(spec, 1, "uniform", mean=m, scale=0.5)
        kernel = get_activation(spec).kernel
        Vu = np.array([[0.7], [-1.3]])
        with mpmath.workdps(40):
            ref = []
            for vf in Vu[:, 0]:
                v = mpmath.mpf(vf)

                def K(w, v=v, kernel=kernel):
                    return mpmath.mpf(0) if w == 0 else kernel.value_mp(abs(w), abs(v),
                                                                         mpmath.sign(w * v), dps=40)

                ref.append(mpmath.quad(K, [uni.law.lo, 0, uni.law.hi]) / (2 * uni.law._a_mp()))
        out.update(_rule_and_finer(uni, Vu, ref, 30, f"{spec.replace(':', '')}_uniform_d1",
                                   "adaptive quadrature of the kernel"))
    spec, d, M = "relu_power:3", 3, 2
    for name, rule_points in (("spectral", None), ("qmc_route", 1024)):
        target = from_options("iid:uniform", d=d, mean="0.2", scale=None, activation=spec,
                              rule_points=rule_points)
        t0 = time.perf_counter()
        res = solve(Problem(spec, target, M), restarts=4, seed=0, dps=20)
        secs = time.perf_counter() - t0
        row = {"seconds": round(secs, 1), "verified_digits": res.evidence.verified_digits,
               "loss": mpmath.nstr(res.loss, 25), "status": res.evidence.status,
               "rule_error": mpmath.nstr(res.evidence.rule_error, 3)}
        if rule_points is None:
            ref_t = target.finer().finer()
            with mpmath.workdps(40):
                b = np.array([mpmath.mpf(x) for x in res.b], dtype=object)
                Vr = np.array([[mpmath.mpf(x) for x in r] for r in res.V], dtype=object)
                h = ref_t.h_mp(Vr, 30)
                Kb = cross_term_mp_loss(spec, b, Vr)
                L = ref_t.C_mp(30) - 2 * mpmath.fsum(x * y for x, y in zip(b, h, strict=True)) + Kb
                row["loss_step_1/32"] = mpmath.nstr(L, 25)
                row["difference_to_step_1/32"] = mpmath.nstr(abs(L - res.loss), 3)
        out[f"relu_power3_uniform_d3_M2_solve_{name}"] = row
    return out


def cross_term_mp_loss(spec, b, V) -> mpmath.mpf:
    """``b^T K b`` of the student in mpmath (the exact kernel)."""
    from compverify.numeric.kernel_sums import cross_term_mp
    from compverify.symbolic.activations import get_activation

    Kb = cross_term_mp(get_activation(spec).kernel, list(b), V, V, dps=35).h
    return mpmath.fsum(x * y for x, y in zip(b, Kb, strict=True))


def gaussian_smooth_cases() -> dict:
    """tanh, Gaussian weights with mean 0.2 (1, 1, 1), d = 3, M = 1, a 30-digit solve (8 restarts):
    the Gauss rule alone (the baseline, float64-tabulated) against ``GaussianSpectralTarget``
    (float64 search on the Gauss rule, multiprecision on the spectral rule): wall time, verified
    digits and the rule's error of the loss; and the loss difference between the two answers."""
    from compverify.numeric.gauss_rule import GaussRuleTarget
    from compverify.numeric.spectral import GaussianSpectralTarget

    d, mean = 3, np.full(3, 0.2)
    out, losses = {}, {}
    for name, target in (("gauss_rule", GaussRuleTarget("tanh", d, mean=mean)),
                         ("spectral", GaussianSpectralTarget("tanh", d, mean=mean))):
        t0 = time.perf_counter()
        res = solve(Problem("tanh", target, 1), restarts=8, seed=0, dps=30)
        ev = res.evidence
        losses[name] = res.loss
        out[name] = {"seconds": round(time.perf_counter() - t0, 1), "status": ev.status,
                     "verified_digits": ev.verified_digits,
                     "rule_error": None if ev.rule_error is None else mpmath.nstr(ev.rule_error, 3),
                     "loss": mpmath.nstr(res.loss, 30)}
    with mpmath.workdps(40):
        out["loss_difference"] = mpmath.nstr(abs(losses["gauss_rule"] - losses["spectral"]), 3)
    return out


CASES = {"series": series_case, "rules": rule_cases, "spectral": spectral_cases,
         "multiprecision": multiprecision_cases, "atoms": atom_cases, "power": power_cases,
         "power_solve": power_solve_case, "gaussian": gaussian_smooth_cases, "power_n": power_n_cases,
         "power_n_solve": lambda: power_solve_case("relu_power:3")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma list of {', '.join(CASES)} (default all)")
    args = ap.parse_args()
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    out = {name: CASES[name]() for name in names}
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
