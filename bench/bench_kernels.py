"""Kernel benchmarks: cold derivation times, and compiled (derived) kernels on 10^6
(nu, nv, rho) triples against hand-written NumPy closed forms measured in the same run.

Run: python bench/bench_kernels.py
Targets: cold ReLU derivation <= 10 s, degree-6 polynomial <= 5 s; compiled ReLU, erf and GELU
within 1.5x of the hand-written forms.  ``--no-cold`` skips the cold derivations.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

COLD = ("import time; t = time.perf_counter(); "
        "from compverify.symbolic import get_activation; "
        "k = get_activation({spec!r}).kernel; k.expr; k.partials; "
        "print(time.perf_counter() - t)")


def cold(spec: str) -> float:
    out = subprocess.run([sys.executable, "-c", COLD.format(spec=spec)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def hand_relu(nu, nv, rho):
    return nu * nv * (np.sqrt(1 - rho**2) + (np.pi - np.arccos(rho)) * rho) / (2 * np.pi)


def hand_erf(nu, nv, rho):
    return 2 / np.pi * np.arcsin(2 * nu * nv * rho / np.sqrt((1 + 2 * nu**2) * (1 + 2 * nv**2)))


def hand_gelu(nu, nv, rho):
    """E[gelu(X) gelu(Y)]: with c = nu nv rho, A = (1 + nu^2)(1 + nv^2), P = nu^2 nv^2,
    k = c/4 + c asin(c / sqrt(A)) / (2 pi) + (P A + c^2 (1 - P)) / (2 pi A sqrt(A - c^2))."""
    c = nu * nv * rho
    A = (1 + nu**2) * (1 + nv**2)
    P = (nu * nv) ** 2
    return (c / 4 + c * np.arcsin(c / np.sqrt(A)) / (2 * np.pi)
            + (P * A + c * c * (1 - P)) / (2 * np.pi * A * np.sqrt(A - c * c)))


def best_of(fn, *args, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from compverify.symbolic import get_activation

    if "--no-cold" not in sys.argv[1:]:
        print("cold derivation (fresh process, import included):")
        for spec, target in (("relu", 10.0), ("polynomial:1,-1,0.5,0,2,0,-0.25", 5.0)):
            t = cold(spec)
            print(f"  {spec:<34} {t:6.2f} s   (target <= {target:.0f} s)")
    rng = np.random.default_rng(0)
    n = 1_000_000
    nu, nv = rng.uniform(0.1, 3, n), rng.uniform(0.1, 3, n)
    rho = rng.uniform(-1, 1, n)
    print(f"compiled kernels on {n} triples (best of 7):")
    for spec, hand in (("relu", hand_relu), ("erf", hand_erf), ("gelu", hand_gelu)):
        k = get_activation(spec).kernel
        err = np.max(np.abs(k.value(nu, nv, rho) - hand(nu, nv, rho)))
        t_derived = best_of(k.value, nu, nv, rho)
        t_hand = best_of(hand, nu, nv, rho)
        err = err / np.max(np.abs(hand(nu, nv, rho)))
        print(f"  {spec:<5} derived {t_derived * 1e3:7.1f} ms   hand-written {t_hand * 1e3:7.1f} ms"
              f"   ratio {t_derived / t_hand:4.2f} (target <= 1.5)   max |diff|/max|k| {err:.1e}")


if __name__ == "__main__":
    main()
