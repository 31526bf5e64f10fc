"""Numeric kernels (tanh, sigmoid, SiLU) at hard points: digits and time against an independent
reference.

The kernel ``value_mp(nu, nv, rho, dps)`` (the uniform trapezoidal rule where it is affordable,
else the graded rule of :mod:`compverify.symbolic.graded_quadrature`) is compared with nested
adaptive tanh-sinh quadrature (``mpmath.quad``) of the iterated integral
``E[sigma(nu z1) E_z2[sigma(nv (rho z1 + s z2))]]`` at ``--ref-dps`` digits, with the intervals
split where the integrand's scale changes (``z1 = 0`` and ``+-w1 2^j``, ``w1 = 1 / max(nu, nv
|rho|)``; ``z2 = c = -rho z1 / s`` and ``c +- w2 2^j``, ``w2 = 1 / (nv s)``). ``rho = +-1`` uses
the one-dimensional limit. Digits are ``-log10(|value - reference| / |reference|)``.

Run: ``nice python bench/bench_numeric_kernels_hard.py [--dps 50] [--ref-dps 70]``.
"""

from __future__ import annotations

import argparse
import math
import time

import mpmath

from compverify.symbolic import get_activation
from compverify.symbolic.steps import Z

POINTS = [
    ("tanh", "10", "10", "0.5"),
    ("tanh", "30", "30", "0.999999"),
    ("sigmoid", "10", "10", "0.5"),
    ("sigmoid", "30", "30", "0.999999"),
    ("silu", "1e3", "1e3", "0.5"),
    ("tanh", "3", "2", "-0.999999999999"),
    ("silu", "3", "2", "-0.999999999999"),
    ("tanh", "1e-8", "1e-8", "0.5"),
    ("sigmoid", "1e-8", "2e-8", "-0.3"),
]


def _splits(centre: mpmath.mpf, width: float, window: float) -> list:
    """Break points ``centre +- width 2^j`` inside ``[-window, window]``, with ``+-inf`` ends."""
    pts = {float(centre)} if abs(float(centre)) < window else set()
    j = 0
    while width * 2**j < 2 * window and j < 200:
        for sgn in (-1, 1):
            p = float(centre) + sgn * width * 2**j
            if -window < p < window:
                pts.add(p)
        j += 1
    return [-mpmath.inf, *sorted(mpmath.mpf(p) for p in pts), mpmath.inf]


def reference(spec: str, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf) -> mpmath.mpf:
    """``E[sigma(nu z1) sigma(nv (rho z1 + s z2))]`` by nested ``mpmath.quad`` at the working
    precision."""
    import sympy

    f = sympy.lambdify(Z, get_activation(spec).expr, modules="mpmath")
    window = math.sqrt(2 * mpmath.mp.dps * math.log(10)) + 2
    phi = lambda t: mpmath.exp(-t * t / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    s = mpmath.sqrt(1 - rho * rho)
    w1 = 1 / max(float(nu), float(nv) * abs(float(rho)), 1.0)
    outer_pts = _splits(mpmath.mpf(0), w1, window)
    if s == 0:
        return mpmath.quad(lambda z1: phi(z1) * f(nu * z1) * f(nv * rho * z1), outer_pts)
    w2 = 1 / max(float(nv) * float(s), 1.0)

    def inner(z1: mpmath.mpf) -> mpmath.mpf:
        c = -rho * z1 / s
        return mpmath.quad(lambda z2: phi(z2) * f(nv * (rho * z1 + s * z2)),
                           _splits(c, w2, window))

    return mpmath.quad(lambda z1: phi(z1) * f(nu * z1) * inner(z1), outer_pts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dps", type=int, default=50)
    ap.add_argument("--ref-dps", type=int, default=70)
    ap.add_argument("--only", type=int, default=None, help="index of one point")
    args = ap.parse_args()
    points = POINTS if args.only is None else [POINTS[args.only]]
    print(f"{'kernel':8} {'nu':>6} {'nv':>6} {'rho':>16}  {'value':>24} {'digits':>7} {'time':>8}"
          f" {'ref time':>8}")
    for spec, a, b, r in points:
        k = get_activation(spec).kernel
        with mpmath.workdps(args.ref_dps + 5):
            nu, nv, rho = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r)
        t0 = time.perf_counter()
        v = k.value_mp(nu, nv, rho, dps=args.dps)
        t1 = time.perf_counter()
        with mpmath.workdps(args.ref_dps):
            ref = reference(spec, nu, nv, rho)
            t2 = time.perf_counter()
            rel = abs(v - ref) / abs(ref)
            digits = float("inf") if rel == 0 else -float(mpmath.log10(rel))
        print(f"{spec:8} {a:>6} {b:>6} {r:>16}  {mpmath.nstr(v, 20):>24} {digits:7.1f} "
              f"{t1 - t0:7.1f}s {t2 - t1:7.1f}s", flush=True)


if __name__ == "__main__":
    main()
