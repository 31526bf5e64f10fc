"""Proof benchmark: local proofs, the certificate checker and the interval branch-and-bound.

Run: python bench/bench_proofs.py [BOXES]   (default 4000 boxes of the (2, 3) branch-and-bound;
it finishes in about 600), then the (2, 3) global proof from scratch and its check.

Measures, in one run: a ball evaluation of r = L*/C at a point (the baseline), the cost of one
box of the branch-and-bound relative to it, boxes per second, the time of the strict-local-minimum
proofs for the ReLU simplex (d, M) = (2, 3), (3, 4), (4, 5) and of re-checking their certificates.
The machine is shared: absolute times vary, the ratios within a run are meaningful.
"""

from __future__ import annotations

import sys
import time

import flint
import mpmath
from flint import arb


def _simplex_angles(d: int) -> list:
    """Slice angles of the regular simplex (via the prover's own conversion)."""
    import numpy as np

    from compverify.proofs_check import catalogue
    from compverify.proofs_check.local_proof import slice_angles

    etf = catalogue.simplex(d, 60)
    _, angles = slice_angles(np.array(etf.vectors.tolist(), dtype=object), d)
    return angles


def main() -> None:
    from compverify.numeric import rigorous_objective as ro
    from compverify.proofs_check import certificate_checker as checker
    from compverify.proofs_check.branch_and_bound import _search, _sorted_copy, prove_global
    from compverify.proofs_check.local_proof import prove_local_at

    boxes = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    ps = {"activation": "relu", "target": {"family": "isotropic", "scale": "1/sqrt(d)",
                                           "abar": "1"}}
    with flint.ctx.workprec(64):
        x = [arb(2.0), arb(4.0)]
        t = time.perf_counter()
        for _ in range(200):
            ro.relative_value("relu", 2, ro.gram_box(x, 2, 3))
        t_point = (time.perf_counter() - t) / 200
    print(f"baseline: r at a point (d = 2, M = 3, 64 bits) {t_point * 1e3:.3f} ms")
    for d in (2, 3, 4):
        p = {**ps, "d": d, "M": d + 1}
        t = time.perf_counter()
        cert = prove_local_at(p, _simplex_angles(d), list(range(d + 1)))
        t_prove = time.perf_counter() - t
        t = time.perf_counter()
        ok = checker.check(cert)
        t_check = time.perf_counter() - t
        with mpmath.workdps(30):
            lo, hi = (mpmath.mpf(v) for v in cert["claims"]["relative_value"])
            width = hi - lo
        print(f"simplex d = {d}, M = {d + 1}: local proof {t_prove:.2f} s (box radius "
              f"2^{cert['box']['radius_log2']}), certify {t_check:.2f} s {ok[1]}, "
              f"r in [{cert['claims']['relative_value'][0]}, ...] width {mpmath.nstr(width, 2)}")
    p = {**ps, "d": 2, "M": 3}
    with flint.ctx.workprec(256):  # the local box in the branch-and-bound's fundamental region
        angles = _sorted_copy(2, [arb(mpmath.nstr(a, 70)) for a in _simplex_angles(2)])
    lc = prove_local_at(p, angles, [0, 1, 2], convex=True)
    t = time.perf_counter()
    out = _search(p, [lc], boxes, time.perf_counter() + 3600)
    t_bb = time.perf_counter() - t
    acc = out["account"]
    per_box = t_bb / max(acc["boxes"], 1)
    print(f"branch-and-bound (2, 3), {acc['boxes']} boxes in {t_bb:.1f} s: "
          f"{acc['boxes_per_second']} boxes/s, {per_box / t_point:.0f}x a point evaluation; "
          f"excluded {acc['excluded']} + {acc['excluded_pair_basis']} (pair basis), "
          f"symmetric {acc['symmetric_copies']}, local {acc['in_local_boxes']}, "
          f"degenerate {acc['unresolved_degenerate']}, open {acc['open']}, "
          f"max RSS {acc['max_rss_mb']} MB")
    t = time.perf_counter()
    cert = prove_global(p)
    t_prove = time.perf_counter() - t
    t = time.perf_counter()
    ok = checker.check(cert)
    print(f"global minimum (2, 3): {cert['kind']}, {t_prove:.1f} s to proof "
          f"({cert.get('account', {}).get('boxes')} boxes), certify {time.perf_counter() - t:.1f} s "
          f"{ok[1]}; {cert.get('claims', {}).get('relative_value')}")


if __name__ == "__main__":
    main()
