"""Kernel benchmarks: cold derivation times, and compiled (derived) kernels on 10^6
(nu, nv, rho) triples against hand-written NumPy closed forms measured in the same run.

Run: python bench/bench_kernels.py
Targets: cold ReLU derivation <= 10 s, degree-6 polynomial <= 5 s; compiled ReLU and erf within
1.5x of the hand-written forms.
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


def best_of(fn, *args, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from compverify.symbolic import get_activation

    print("cold derivation (fresh process, import included):")
    for spec, target in (("relu", 10.0), ("polynomial:1,-1,0.5,0,2,0,-0.25", 5.0)):
        t = cold(spec)
        print(f"  {spec:<34} {t:6.2f} s   (target <= {target:.0f} s)")
    rng = np.random.default_rng(0)
    n = 1_000_000
    nu, nv = rng.uniform(0.1, 3, n), rng.uniform(0.1, 3, n)
    rho = rng.uniform(-1, 1, n)
    print(f"compiled kernels on {n} triples (best of 7):")
    for spec, hand in (("relu", hand_relu), ("erf", hand_erf)):
        k = get_activation(spec).kernel
        err = np.max(np.abs(k.value(nu, nv, rho) - hand(nu, nv, rho)))
        t_derived = best_of(k.value, nu, nv, rho)
        t_hand = best_of(hand, nu, nv, rho)
        print(f"  {spec:<5} derived {t_derived * 1e3:7.1f} ms   hand-written {t_hand * 1e3:7.1f} ms"
              f"   ratio {t_derived / t_hand:4.2f} (target <= 1.5)   max |diff| {err:.1e}")


if __name__ == "__main__":
    main()
