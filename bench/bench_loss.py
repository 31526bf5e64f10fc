#!/usr/bin/env python3
"""Benchmark: exact population loss + gradient of a ReLU target vs a Monte Carlo estimate.

Target ``f_N(x) = sum_i a_i relu(<w_i, x>)`` with N = 10^6 neurons in d = 64, compressed network
``g(x) = sum_j b_j relu(<v_j, x>)`` with M = 32, ``x ~ N(0, I_d)``.

* Exact: :func:`compverify.numeric.loss.population_loss` with ``order=1`` (value and gradient) and
  ``include_constant=False``.  The target's own term ``C_N = sum_{i,i'} a_i a_i' K(w_i, w_i')``
  costs O(N^2 d) (about 10^14 operations at N = 10^6) and does not depend on theta, so it is
  EXCLUDED: the timed quantity is the theta-dependent part ``L_N - C_N = E[g^2 - 2 f g]`` and its
  gradient (what moves the minimiser).  Budget: at most 2 s on 2 cores, peak memory
  under 2 GB.
* Monte Carlo: the SAME quantity ``E[g^2 - 2 f g]`` from input samples.  Evaluating ``f_N`` at 10^6
  inputs is a 10^6 x 10^6 x 64 product (about 10^14 flops), so it is measured on a fraction of the
  samples and its time extrapolated linearly to 10^6 samples (its standard error scales as
  n^(-1/2)); the output says so.  No gradient is estimated: the exact side does strictly more.

Limit: the same run also times what no exact method can avoid, on the same blocks and threads:
the product ``W V'`` (a GEMM), ``arccos`` of the N x M cosines (ReLU's kernel is algebraic in rho
and ``arccos rho``) and the gradient's product ``C' W`` (a second GEMM); it prints
``exact / limit`` (target <= 2).

Threads: by default the script leaves BLAS and ``jobs`` to the library (``population_loss`` with
no ``jobs``: one worker per usable CPU, one BLAS thread per worker, set by the library through
threadpoolctl) -- what a user who passes nothing gets; ``--jobs N`` passes N.  The configurations
``jobs`` = 1 and 2 are timed in the same run for comparison.  The Monte Carlo uses ``--jobs``
threads (2 if not given) with BLAS limited to one thread per thread.

Run: ``python bench/bench_loss.py`` (``--help`` for sizes; ``--json out.json`` keeps the numbers).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from compverify.numeric.loss import population_loss
from compverify.symbolic import get_activation

TIME_BUDGET_S = 2.0
MEMORY_BUDGET_B = 2 * 1024**3


def make_problem(N: int, M: int, d: int, seed: int):
    """A random ReLU target (mean-field scaling a_i = abar_i / N) and a compressed network."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, d)) / np.sqrt(d)
    a = (1.0 + rng.standard_normal(N)) / N
    V = rng.standard_normal((M, d)) / np.sqrt(d)
    b = (1.0 + 0.5 * rng.standard_normal(M)) / M * 2.0
    return a, W, b, V


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r * 1024 if sys.platform != "darwin" else r


def monte_carlo(a, W, b, V, n: int, seed: int, jobs: int, wblock: int = 4096, xchunk: int = 500):
    """Samples of q(x) = g(x)^2 - 2 f(x) g(x) at n Gaussian inputs; f_N by blocked products."""
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((n, W.shape[1]))
    starts = list(range(0, W.shape[0], wblock))

    def f_part(chunk, lo, hi):
        out = np.zeros(chunk.shape[0])
        for s in starts[lo:hi]:
            Z = chunk @ W[s:s + wblock].T
            np.maximum(Z, 0.0, out=Z)
            out += Z @ a[s:s + wblock]
        return out

    f = np.empty(n)
    bounds = np.linspace(0, len(starts), jobs + 1).astype(int)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for c in range(0, n, xchunk):
            chunk = X[c:c + xchunk]
            parts = [pool.submit(f_part, chunk, lo, hi)
                     for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
            f[c:c + xchunk] = sum(p.result() for p in parts)
    g = np.maximum(X @ V.T, 0.0) @ b
    return g * g - 2.0 * f * g


def res_jobs(jobs):
    """The threads the library uses when given ``jobs`` (its default when ``None``)."""
    from compverify.numeric.kernel_sums import _check_jobs

    return _check_jobs(jobs)


def limit(W, V, block: int, jobs: int) -> None:
    """What any exact value + gradient must do, per block of ``block`` rows, ``jobs`` threads with
    one BLAS thread each and per-thread buffers: ``G = W_b E'`` (E: unit rows of V),
    ``arccos(clip(G))`` in place, and ``A' W_b``."""
    E = V / np.linalg.norm(V, axis=1)[:, None]
    local = threading.local()

    def one(s):
        Wb = W[s:s + block]
        buf = getattr(local, "buf", None)
        if buf is None or buf.shape[0] != Wb.shape[0]:
            buf = local.buf = np.empty((Wb.shape[0], E.shape[0]))
        G = np.matmul(Wb, E.T, out=buf)
        np.clip(G, -1.0, 1.0, out=G)
        np.arccos(G, out=G)
        return G.T @ Wb

    starts = range(0, W.shape[0], block)
    with threadpool_limits(limits=1, user_api="blas"):
        if jobs == 1:
            for s in starts:
                one(s)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(one, starts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--N", type=float, default=1e6, help="target neurons (default 1e6)")
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=None,
                    help="threads of the exact loss (default: the library's choice)")
    ap.add_argument("--block", type=int, default=4096, help="target rows per block")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the exact loss")
    ap.add_argument("--mc-samples", type=float, default=1e6,
                    help="Monte Carlo sample size to report (default 1e6)")
    ap.add_argument("--mc-measured", type=int, default=1000,
                    help="samples actually evaluated; time and error are extrapolated from them")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    N, M, d = int(args.N), args.M, args.d
    n_mc = int(args.mc_samples)
    n_meas = min(args.mc_measured, n_mc)

    kernel = get_activation("relu").kernel
    a, W, b, V = make_problem(N, M, d, args.seed)
    print(f"bench_loss: ReLU target N={N}, M={M}, d={d}, seed={args.seed}, "
          f"jobs={args.jobs if args.jobs is not None else 'library default'}, block={args.block}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("  the target's constant C_N = sum_{i,i'} a_i a_i' K(w_i, w_i') is EXCLUDED (O(N^2 d)); "
          "both sides compute the theta-dependent part L_N - C_N = E[g^2 - 2 f g]")

    # ---- exact: value + gradient --------------------------------------------------------------
    jobs_kw = {} if args.jobs is None else {"jobs": args.jobs}
    run = lambda **kw: population_loss(kernel, a, W, b, V, order=1,  # noqa: E731
                                       include_constant=False, block=args.block, **kw)
    res = run(**jobs_kw)  # warm-up (kernel compilation, page faults)
    times, t_limit, t_conf = [], [], {1: [], 2: []}
    mc_jobs = args.jobs or 2
    for _ in range(args.repeats):  # interleaved, so that a change of load hits all alike
        t0 = time.perf_counter()
        res = run(**jobs_kw)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        limit(W, V, args.block, res_jobs(args.jobs))
        t_limit.append(time.perf_counter() - t0)
        for j in t_conf:
            t0 = time.perf_counter()
            run(jobs=j)
            t_conf[j].append(time.perf_counter() - t0)
    t_exact, t_lim = min(times), min(t_limit)
    tracemalloc.start()
    run()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = peak_rss_bytes()
    exact = res.value
    gnorm = float(np.linalg.norm(res.grad))
    print(f"exact   : value {exact:.15e}, |grad| {gnorm:.6e} ({res.grad.size} entries)")
    print(f"          time min {t_exact:.3f} s, median {statistics.median(times):.3f} s over "
          f"{len(times)} runs ({', '.join(f'{t:.3f}' for t in times)})")
    print(f"limit   : GEMM + arccos + GEMM on the same blocks and threads: min {t_lim:.3f} s; "
          f"exact / limit = {t_exact / t_lim:.2f} (target <= 2)")
    print("configs : " + "; ".join(f"jobs={j}: min {min(ts):.3f} s ({min(ts) / t_exact:.2f}x the "
                                   f"{'given' if args.jobs is not None else 'default'})"
                                   for j, ts in t_conf.items()))
    print(f"          memory: peak allocated during the call {traced_peak / 2**20:.1f} MiB "
          f"(tracemalloc); process peak RSS {rss / 2**30:.3f} GiB (getrusage, includes the "
          f"{W.nbytes / 2**30:.2f} GiB target)")

    # ---- Monte Carlo of the same quantity ----------------------------------------------------
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        q = monte_carlo(a, W, b, V, n_meas, args.seed, mc_jobs)
    t_meas = time.perf_counter() - t0
    est, sd = float(q.mean()), float(q.std(ddof=1))
    se_meas = sd / np.sqrt(n_meas)
    t_full = t_meas * n_mc / n_meas
    se_full = sd / np.sqrt(n_mc)
    extrap = n_meas < n_mc
    how = (f"extrapolated linearly from {n_meas} measured samples" if extrap
           else "measured")
    z = (est - exact) / se_meas
    print(f"monte carlo ({n_meas} samples measured): estimate {est:.6e} +- {se_meas:.2e} "
          f"(1 s.e.), time {t_meas:.2f} s; exact - estimate = {exact - est:.2e} = {-z:.2f} s.e.")
    print(f"monte carlo ({n_mc} samples, {how}): time {t_full:.1f} s, standard error "
          f"{se_full:.2e} (relative {se_full / abs(exact):.1e})")
    ratio = t_full / t_exact
    ok_t, ok_m = t_exact <= TIME_BUDGET_S, rss < MEMORY_BUDGET_B
    print(f"ratio   : Monte Carlo time / exact time = {ratio:.0f} "
          f"(and the exact side also gives the gradient, with no sampling error)")
    print(f"budget  : time {t_exact:.3f} s <= {TIME_BUDGET_S} s: {'PASS' if ok_t else 'FAIL'}; "
          f"peak RSS {rss / 2**30:.3f} GiB < 2 GiB: {'PASS' if ok_m else 'FAIL'}")
    print(f"SUMMARY bench_loss N={N} M={M} d={d} jobs={args.jobs}: exact(theta part + grad) "
          f"{t_exact:.3f}s limit {t_lim:.3f}s ratio {t_exact / t_lim:.2f} "
          f"peak_rss={rss / 2**30:.2f}GiB traced={traced_peak / 2**20:.0f}MiB | "
          f"MC({n_mc}{', extrapolated from ' + str(n_meas) if extrap else ''}) "
          f"{t_full:.1f}s se={se_full:.1e} | ratio={ratio:.0f} | MC z={z:+.2f} | "
          f"constant excluded | {'PASS' if ok_t and ok_m else 'FAIL'}")
    if args.json:
        from compverify.io import atomic_write_json

        atomic_write_json(args.json, {
            "N": N, "M": M, "d": d, "seed": args.seed, "jobs": args.jobs, "block": args.block,
            "constant_included": False, "exact_value": exact, "exact_grad_norm": gnorm,
            "exact_seconds": times, "exact_seconds_min": t_exact, "limit_seconds": t_limit,
            "limit_seconds_min": t_lim, "exact_over_limit": t_exact / t_lim,
            "jobs_1_seconds": t_conf[1], "jobs_2_seconds": t_conf[2],
            "load_average": os.getloadavg(), "traced_peak_bytes": traced_peak,
            "peak_rss_bytes": rss, "mc_measured_samples": n_meas, "mc_measured_seconds": t_meas,
            "mc_estimate": est, "mc_standard_error": se_meas, "mc_samples": n_mc,
            "mc_seconds_extrapolated": t_full, "mc_standard_error_at_samples": se_full,
            "mc_extrapolated": extrap, "time_ratio": ratio, "z": z,
            "time_budget_pass": ok_t, "memory_budget_pass": ok_m,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
