"""Frame benchmark: diagnostics plus both convex certificates for M = 40, d = 10.

Run: python bench/bench_frames.py      Target: <= 20 s. Baseline in the same run: the diagnostics
alone (float64), so the ratio shows what the certificates cost.
"""

from __future__ import annotations

import time

import numpy as np


def main() -> None:
    from compverify.proofs_check.certificates import distance_bounds
    from compverify.proofs_check.frames import diagnostics

    rng = np.random.default_rng(0)
    M, d = 40, 10
    U = rng.standard_normal((M, d))
    U /= np.linalg.norm(U, axis=1)[:, None]
    t = time.perf_counter()
    fd = diagnostics(U)
    t_diag = time.perf_counter() - t
    t = time.perf_counter()
    fd30 = diagnostics(U, dps=30)
    t_diag30 = time.perf_counter() - t
    t = time.perf_counter()
    b = distance_bounds(fd.gram, d)
    t_cert = time.perf_counter() - t
    total = t_diag30 + t_cert
    print(f"M = {M}, d = {d}: diagnostics float64 {t_diag * 1e3:.1f} ms, at 30 digits "
          f"{t_diag30:.2f} s; both certificates ({b.solver}) {t_cert:.2f} s")
    print(f"  total (30-digit diagnostics + certificates) {total:.2f} s (target <= 20 s); "
          f"certificates / float64 diagnostics = {t_cert / t_diag:.0f}x")
    print(f"  lower bounds: ETF {b.lower_bound_etf:.6f} (primal {b.primal_distance_etf:.6f}), "
          f"tight {b.lower_bound_tight:.6f} (primal {b.primal_distance_tight:.6f}); "
          f"coherence {float(fd30.coherence):.4f} vs Welch {float(fd30.welch_bound):.4f}")


if __name__ == "__main__":
    main()
