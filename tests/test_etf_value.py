"""Best value on a known ETF against an independent brute force over all sign patterns."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest

from compverify.numeric.objective import Problem
from compverify.numeric.solver import solve
from compverify.numeric.targets import isotropic
from compverify.proofs_check import catalogue
from compverify.proofs_check.etf_value import best_on_etf


def _brute_force(spec: str, d: int, M: int, dps: int):
    """min over signs s of C - h(sU)' K(sU)^-1 h(sU), directly from the kernel and the target."""
    t = isotropic(d, spec)
    k = t.activation.kernel
    E = catalogue.lookup(d, M, dps=dps + 10).vectors
    best = None
    with mpmath.workdps(dps + 10):
        for signs in itertools.product([1, -1], repeat=M):
            U = np.array([[s * x for x in row] for s, row in zip(signs, E, strict=True)],
                         dtype=object)
            K = mpmath.matrix(M, M)
            for i in range(M):
                for j in range(M):
                    rho = sum(a * b for a, b in zip(U[i], U[j], strict=True))
                    K[i, j] = k.value_mp(1, 1, rho, dps + 10)
            h = mpmath.matrix(list(t.h_mp(U, dps + 10)))
            val = t.C_mp(dps + 10) - (h.T * mpmath.lu_solve(K, h))[0]
            best = val if best is None or val < best else best
    return best


@pytest.mark.parametrize("d,M", [(2, 3), (3, 4), (3, 6)])
def test_best_on_etf_vs_brute_force(d, M):
    prob = Problem("relu", isotropic(d, "relu"), M)
    ev = best_on_etf(prob, dps=30)
    ref = _brute_force("relu", d, M, 30)
    with mpmath.workdps(30):
        assert abs(ev.value - ref) < mpmath.mpf(10) ** -25 * max(1, abs(ref))


@pytest.mark.slow
def test_etf_value_not_below_the_unconstrained_optimum():
    prob = Problem("relu", isotropic(3, "relu"), 6)
    ev = best_on_etf(prob, dps=30)
    res = solve(prob, restarts=8, seed=0, dps=30)
    with mpmath.workdps(30):
        assert ev.value >= res.loss - mpmath.mpf(10) ** -20
