"""Numeric kernels (tanh, sigmoid, SiLU) at hard points: digits and time against an independent
reference.

The kernel ``value_mp(nu, nv, rho, dps)`` (the uniform trapezoidal rule where it is affordable,
else the graded rule of :mod:`compverify.symbolic.graded_quadrature`) is compared with the
iterated integral ``E[sigma(nu z1) E_z2[sigma(nv (rho z1 + s z2))]]`` at ``--ref-dps`` digits:
the inner integral by arb's rigorous adaptive Gauss-Legendre (python-flint ``acb.integral``,
split at the crossing ``z2 = -rho z1 / s``), the outer by ``mpmath.quad`` (tanh-sinh) split at
``z1 = 0`` and ``+-w1 2^j``, ``w1 = 1 / max(nu, nv |rho|)``. ``rho = +-1`` uses the
one-dimensional limit. Digits are ``-log10(|value - reference| / |reference|)``.

Run: ``nice python bench/bench_numeric_kernels_hard.py [--dps 50] [--ref-dps 70]``.
"""

from __future__ import annotations

import argparse
import math
import time

import mpmath

from compverify.symbolic import get_activation

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


def _splits(width: float, window: float) -> list:
    """Break points ``0, +-width 2^j`` inside ``[-window, window]``."""
    pts = {0.0}
    j = 0
    while width * 2**j < window and j < 200:
        pts.update((-width * 2**j, width * 2**j))
        j += 1
    return [mpmath.mpf(p) for p in sorted(pts | {-window, window})]


_FLINT_SIGMA = {
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: 1 / (1 + (-x).exp()),
    "silu": lambda x: x / (1 + (-x).exp()),
}
_MP_SIGMA = {
    "tanh": mpmath.tanh,
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "silu": lambda x: x / (1 + mpmath.exp(-x)),
}


def reference(spec: str, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf) -> mpmath.mpf:
    """``E[sigma(nu z1) sigma(nv (rho z1 + s z2))]`` at the working precision: the inner
    integral over ``z2`` by arb's rigorous adaptive Gauss-Legendre (``acb.integral``, split at
    the crossing ``c``), the outer one over ``z1`` by ``mpmath.quad`` (tanh-sinh) split at
    ``0, +-w1 2^j``; sigma written out independently of the kernel's SymPy expression."""
    import flint

    bits = int(mpmath.mp.prec) + 20
    flint.ctx.prec = bits
    window = math.sqrt(2 * mpmath.mp.dps * math.log(10)) + 2
    fs, fm = _FLINT_SIGMA[spec], _MP_SIGMA[spec]
    s = mpmath.sqrt(1 - rho * rho)
    w1 = 1 / max(float(nu), float(nv) * abs(float(rho)), 1.0)
    pts = _splits(w1, window)
    norm = 1 / mpmath.sqrt(2 * mpmath.pi)
    if s == 0:
        return mpmath.quad(lambda z1: norm * mpmath.exp(-z1 * z1 / 2) * fm(nu * z1)
                           * fm(nv * rho * z1), pts)
    to_arb = lambda x: flint.arb(mpmath.nstr(x, mpmath.mp.dps + 5))  # noqa: E731
    b_, r_, s_ = to_arb(nv), to_arb(rho), to_arb(s)

    def inner(z1: mpmath.mpf) -> mpmath.mpf:
        x = to_arb(z1)
        c = -r_ * x / s_
        f = lambda z, analytic: fs(b_ * (r_ * x + s_ * z)) * (-z * z / 2).exp()  # noqa: E731
        lo, hi = flint.arb(-window), flint.arb(window)
        cm = min(max(c, lo), hi)
        total = flint.acb.integral(f, lo, cm) + flint.acb.integral(f, cm, hi)
        return mpmath.mpf(total.real.mid().str(mpmath.mp.dps + 5, radius=False))

    return mpmath.quad(lambda z1: norm * mpmath.exp(-z1 * z1 / 2) * fm(nu * z1)
                       * norm * inner(z1), pts)


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
