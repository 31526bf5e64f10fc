"""The frequency rule of the spectral targets: nodes, nested levels and error estimates.

The *rule*: ``w = exp(x - exp(-x))`` (double exponential decay toward ``w = 0``), the trapezoidal
rule in ``x`` with step ``STEP`` on ``[X_LO, x_hi(d)]`` in both frequencies (the integrand is
analytic in the strip ``|Im x| < pi/4``, so the error falls like ``exp(-pi^2 / (2 step))``).
``h``, its gradient and Hessian are exact derivatives of the rule's sum.  The error is estimated
from the nested rules of step ``2 STEP`` and ``4 STEP``: with ``d1``, ``d2`` the differences of
successive rules, ``e = min(d1, SAFETY d1^2 / d2)`` (exponential convergence roughly squares the
error when the step halves; ``SAFETY = 100`` covers the departures from that model seen in the
tests, which check that ``e`` bounds the actual error against exact references), plus the rule's
edge terms and a float64 floor.  For uniform entries with an activation that has a ``|z|`` part
or is homogeneous (relu, abs, leaky_relu, step, sign), where the tests showed slower convergence
(the box's edges make ridges in the integrand), ``e = d1``: the coarser rule's error, a
conservative bound.

:meth:`SpectralTarget.finer` is the rule of half the step with its first node lower
(``X_LO_FINE``: the part of the integral below it drops from about 1e-20 to 1e-52), and
:meth:`SpectralTarget.h_grad_estimate_mp` sums the nested levels in mpmath, so the estimate is not
floored at float64 rounding.  The solver uses them to re-evaluate a loss whose digits the rule caps
(:func:`compverify.numeric.solver.refine_rule`).  Convergence is exponential for generic
directions (Rademacher relu, d = 6: error 1.7e-17 at step 1/8, 1.2e-33 at 1/16), and with the
atoms taken exactly also at directions that point at an atom.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compverify.symbolic.activations import as_activation

STEP = 0.125
SAFETY = 100.0
# relu_power:n (n >= 3): measured, relu_power:4 Rademacher d = 4 next to an atom, errors 1.3e-4,
# 1.2e-11, 1.3e-15, 4e-30 at steps 1/2 .. 1/16: the step-1/8 error is 11 times SAFETY d1^2/d2
SAFETY_POWER_N = 1e4
ATOM_GAP = 0.05
ATOM_CAP = 128  # most near atoms whose rule terms are replaced by exact kernel values, per direction
X_LO = -3.75
X_LO_FINE = -4.75


def x_hi(d: int) -> float:
    """Upper end of the rule in ``x``: the integrand decays at least like ``w^-(d+1)``."""
    return 4.0 + 36.0 / (d + 1)


def supports(activation: Any) -> bool:
    """Whether the activation has a spectral form (so this route applies)."""
    return as_activation(activation).spectral_form is not None


def _grid(d: int, step: float = STEP, x_lo: float = X_LO) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``x``, frequencies ``w(x)`` and trapezoid weights in ``w`` (``w'(x) step``).

    The number of nodes is ``1 + 4k`` so the rules of step 2 step and 4 step are sub-grids.
    """
    n = 1 + 4 * math.ceil((x_hi(d) - x_lo) / (4 * step))
    x = x_lo + step * np.arange(n)
    w = np.exp(x - np.exp(-x))
    return x, w, w * (1 + np.exp(-x)) * step


def _levels(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the first two axes (the node grid) at steps STEP, 2 STEP, 4 STEP."""
    return T.sum(axis=(0, 1)), 4 * T[::2, ::2].sum(axis=(0, 1)), 16 * T[::4, ::4].sum(axis=(0, 1))


def _lift(r: Any, U: Any, out: tuple, n: int, order: int) -> tuple:
    """``h(v) = r^n H(u)`` (``v = r u``, ``|u| = 1``) and its derivatives from those of ``H`` at ``u``.

    With ``P = I - u u^T`` and ``F(v) = H(v/r)``: ``grad F = P g / r``, ``hess F = (P H2 P -
    (u.g) P - u (P g)^T - (P g) u^T) / r^2``; then the product rule with ``r^n`` (``grad r^n = n
    r^(n-1) u``, ``hess r^n = n (n-1) r^(n-2) u u^T + n r^(n-2) P``).  Works on float64 and on
    object (mpmath) arrays.
    """
    H0, G0, HH = out
    M, d = U.shape
    h = np.empty(M, dtype=U.dtype)
    g = np.empty((M, d), dtype=U.dtype) if order >= 1 else None
    H = np.empty((M, d, d), dtype=U.dtype) if order >= 2 else None
    eye = np.eye(d, dtype=int)
    for j in range(M):
        rj, u = r[j], U[j]
        h[j] = rj**n * H0[j]
        if order < 1:
            continue
        ug = np.dot(u, G0[j])
        Pg = G0[j] - u * ug
        dF = Pg / rj
        g[j] = n * rj ** (n - 1) * u * H0[j] + rj**n * dF
        if order < 2:
            continue
        P = eye - np.outer(u, u)
        d2F = (P.dot(HH[j]).dot(P) - ug * P - np.outer(u, Pg) - np.outer(Pg, u)) / rj**2
        H[j] = (H0[j] * (n * (n - 1) * rj ** (n - 2) * np.outer(u, u) + n * rj ** (n - 2) * P)
                + n * rj ** (n - 1) * (np.outer(u, dF) + np.outer(dF, u)) + rj**n * d2F)
    return h, g, H


def _power_n_outside(a: Any, v: Any, n: int, coefs: list, order: int, sqrt: Any) -> list:
    """A degree-``n`` form (``n >= 2``): the kernel's terms outside the frequency rule at one atom
    ``a``, ``sum_k coef_k c^k N^j`` (``c = <a, v>``, ``N = |a| |v|``, ``j = n - k``; ``coefs`` from
    :func:`compverify.numeric.spectral_power.kernel_coefficients`, which leaves out the zero ones,
    so ``n`` is given, not read off them: ``z|z|`` has no ``k = 2`` term), with their
    ``v``-derivatives; float or object arrays (``sqrt`` of the arithmetic)."""
    c, na, nv = np.dot(a, v), sqrt(np.dot(a, a)), sqrt(np.dot(v, v))
    N = na * nv
    dN = na * v / nv                                  # grad of N
    eye = np.eye(len(v), dtype=int)
    d2N = na * (eye / nv - np.outer(v, v) / nv**3)  # its Hessian
    h, g, H = 0 * c, 0 * v, 0 * np.outer(v, v)
    for k, coef in coefs:
        j = n - k
        ck = c**k
        Nj = N**j
        h = h + coef * ck * Nj
        if order < 1:
            continue
        dc = k * c ** (k - 1) if k else 0 * c       # d(c^k)/dc
        dNj = j * N ** (j - 1) if j else 0 * N        # d(N^j)/dN
        g = g + coef * (dc * Nj * a + ck * dNj * dN)
        if order < 2:
            continue
        d2c = k * (k - 1) * c ** (k - 2) if k >= 2 else 0 * c
        d2Nj = j * (j - 1) * N ** (j - 2) if j >= 2 else 0 * N
        H = H + coef * (d2c * Nj * np.outer(a, a) + dc * dNj * (np.outer(a, dN) + np.outer(dN, a))
                        + ck * (d2Nj * np.outer(dN, dN) + dNj * d2N))
    return [h, g, H][: order + 1]


def _edge(T: np.ndarray) -> np.ndarray:
    """Sum of |T| over the outermost nodes: the size of what the truncated rule leaves out."""
    A = np.abs(T)
    return A[0].sum(0) + A[-1].sum(0) + A[:, 0].sum(0) + A[:, -1].sum(0)


def _difference_estimate(d1: Any, d2: Any, model: Any, safety: float = SAFETY) -> Any:
    """The error of the finest of three nested rules from ``d1 = |T(h) - T(2h)|`` and
    ``d2 = |T(2h) - T(4h)|`` (floats, arrays or mpf).

    With the squaring model: ``min(d1, safety d1^2/d2)`` (``SAFETY``; ``SAFETY_POWER_N`` for
    relu_power:n, n >= 3); without (``model`` false): ``d1``, the
    coarser rule's error.
    """
    if isinstance(d1, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            squared = np.where(d2 > 0, safety * d1 * d1 / d2, d1)
        return np.where(model, np.minimum(d1, squared), d1)
    return min(d1, safety * d1 * d1 / d2) if model and d2 > 0 else d1


def _estimate(fine: Any, mid: Any, coarse: Any, edge: Any, absum: Any,
              model: Any = True) -> np.ndarray:
    """The rule's error estimate (module docstring), elementwise (:func:`_difference_estimate`)."""
    d1 = np.abs(np.asarray(fine - mid, dtype=float))
    d2 = np.abs(np.asarray(mid - coarse, dtype=float))
    est = _difference_estimate(d1, d2, model)
    return est + np.abs(edge) + 64 * np.finfo(float).eps * np.abs(absum)
