"""Elementary functions evaluated without cancellation, for the float64 path of the laws.

``log cosh``, ``sinh x - x``, ``tanh x - x``, ``atanh z - z`` (series where the argument is small)
and the moments of a truncated standard normal, each accurate to float64 rounding where the plain
formula would cancel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special


def _logcosh(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return x + np.log1p(np.exp(-2 * x)) - math.log(2)


def _odd_series(x: np.ndarray, coef: Any, small: float) -> np.ndarray:
    """``sum_k>=1 coef(k) x^(2k+1)`` for ``|x| < small`` (0 elsewhere), until the terms fall below
    float64 rounding relative to the first."""
    xs = np.where(np.abs(x) < small, x, 0.0)
    x2, power = xs * xs, xs.copy()
    out = np.zeros_like(xs)
    k = 1
    while True:
        power = power * x2
        term = coef(k) * power
        out = out + term
        if k > 3 and np.all(np.abs(term) <= 1e-18 * np.abs(out)):
            return out
        k += 1


def _sinh_minus_x(x: np.ndarray) -> np.ndarray:
    """``sinh x - x`` without cancellation at small ``x`` (series ``x^3/3! + x^5/5! + ...``)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.sinh(np.where(small, 1.0, x)) - np.where(small, 1.0, x)
    return np.where(small, _odd_series(x, lambda k: 1 / math.factorial(2 * k + 1), 1), direct)


def _tanh_minus_x(x: np.ndarray) -> np.ndarray:
    """``tanh x - x`` for ``|x| < 0.5`` without cancellation: ``-(x cosh x - sinh x)/cosh x`` with
    ``x cosh x - sinh x = sum_k>=1 2k x^(2k+1)/(2k+1)!`` (positive terms)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 0.5
    ser = _odd_series(x, lambda k: 2 * k / math.factorial(2 * k + 1), 0.5)
    return np.where(small, -ser / np.cosh(np.where(small, x, 0.0)), np.tanh(x) - x)


def _atanh_minus_x(z: np.ndarray) -> np.ndarray:
    """``atanh z - z`` without cancellation at small ``z`` (series ``z^3/3 + z^5/5 + ...``)."""
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.arctanh(np.where(small, 0.9, z)) - np.where(small, 0.9, z)
    return np.where(small, _odd_series(z, lambda k: 1 / (2 * k + 1), 0.5), direct)


def _trunc_moments(y1: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log Z``, mean and variance of a standard normal cut to ``[y1, y2]`` (``y1 < y2``).

    An interval in a tail is reflected to the right tail and written with ``erfcx`` (``Phi(-y) =
    erfcx(y/sqrt2) exp(-y^2/2) / 2``), so nothing overflows or cancels catastrophically.
    """
    flip = y2 <= 0
    a = np.where(flip, -y2, y1)
    b = np.where(flip, -y1, y2)
    tail = a >= 0
    with np.errstate(all="ignore"):
        # right tail: Z = exp(-a^2/2) (erfcx(a/r2) - erfcx(b/r2) e) / 2, e = exp(-(b-a)(b+a)/2)
        ra, rb = special.erfcx(a / math.sqrt(2)), special.erfcx(b / math.sqrt(2))
        e = np.exp(-(b - a) * (b + a) / 2)
        den = (ra - rb * e) / 2
        logZ_t = -a * a / 2 + np.log(den)
        pa_t = 1 / (math.sqrt(2 * math.pi) * den)
        pb_t = pa_t * e
        # straddling 0: direct
        Z_s = special.ndtr(b) - special.ndtr(a)
        logZ_s = np.log(Z_s)
        pa_s = np.exp(-a * a / 2) / math.sqrt(2 * math.pi) / Z_s
        pb_s = np.exp(-b * b / 2) / math.sqrt(2 * math.pi) / Z_s
    logZ = np.where(tail, logZ_t, logZ_s)
    pa = np.where(tail, pa_t, pa_s)
    pb = np.where(tail, pb_t, pb_s)
    mean = pa - pb
    var = np.maximum(1 + a * pa - b * pb - mean * mean, 0.0)
    return logZ, np.where(flip, -mean, mean), var
