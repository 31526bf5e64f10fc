"""Mean-field ``h`` and ``C`` for a positively homogeneous activation and Gaussian weights with a mean.

Setting: ``sigma(z) = alpha z_+^n + beta z_-^n``, weights ``w ~ N(mu, s^2 I_d)`` with ``mu != 0``,
mean second layer ``abar``, inputs ``x ~ N(0, I_d)``.  Writing ``x = r e`` (``r = |x|``, ``e``
uniform on the sphere, independent) and using homogeneity::

    fbar(x) = abar E_w sigma(<w, x>) = abar r^n F(<mu, e>),      F(m) = E_g sigma(m + s g)
    h(v)    = E_x[sigma(<v, x>) fbar(x)] = abar E[r^(2n)] |v|^n G(t),   t = <mu, v> / |v|
    G(t)    = E_e[sigma(e_1) F(t e_1 + mu_2 e_2)],                 mu_2 = sqrt(|mu|^2 - t^2)
    C       = E_x[fbar(x)^2] = abar^2 E[r^(2n)] E_e[F(|mu| e_1)^2]

with ``E[r^(2n)] = 2^n Gamma(d/2 + n) / Gamma(d/2)``.  ``F`` is entire; its Taylor coefficients
follow from Gaussian integration by parts, ``F^(k)(0) = s^(n-k) (alpha + (-1)^k beta) T(n, k)``
with ``T(n, k) = E[g_+^n He_k(g)] = (-1)^(k+n+1) n! phi^(k-n-1)(0)`` for ``k > n`` (and a finite
sum of half-moments for ``k <= n``).  The sphere moments are
``E|e_1|^p |e_2|^b = Gamma(d/2) Gamma((p+1)/2) Gamma((b+1)/2) / (pi Gamma((d+p+b)/2))``.  Hence,
truncated at order ``K``, ``G`` is the polynomial::

    G_K(t) = sum_{j + b <= K, b even} c_{j,b} t^j (|mu|^2 - t^2)^(b/2),
    c_{j,b} = f_{j+b} binom(j+b, j) (alpha + (-1)^j beta) / 2 E|e_1|^(n+j) |e_2|^b

and ``G_K'``, ``G_K''`` are exact derivatives of it.

Precision: by Cauchy-Schwarz ``|T(n, k)| <= sqrt(E g_+^(2n)) sqrt(k!)``, so with ``u = |mu| / s``
the omitted terms are bounded by ``B sum_{k > K} u^k / sqrt(k!)``, ``B = s^n (|alpha| + |beta|)
sqrt(E g_+^(2n))``.  ``K`` is the least order making that tail ``<= 10^-(dps + 5) B`` (the bound is
reported as ``tail_bound``); the sums run with extra digits for the largest term
``max_k u^k / sqrt(k!)`` so cancellation costs nothing at ``dps``.  The float64 path is the
Chebyshev interpolant of ``G_K`` (degree ``K``, so exact up to rounding) on ``[-|mu|, |mu|]``.

>>> import mpmath
>>> ser = HomogeneousMeanSeries(1, 1, 0, d=2, mu=["0.3", "0"], s="0.5", abar=1)
>>> G, _, _ = ser.G_mp(mpmath.mpf("0.3"), dps=30)
>>> # check against a direct quadrature of E_phi[cos(phi)_+ F(0.3 cos(phi))] (d = 2, mu_2 = 0)
>>> F = lambda m: m * mpmath.ncdf(m / 0.5) + 0.5 * mpmath.npdf(m / 0.5)
>>> half = [-mpmath.pi / 2, mpmath.pi / 2]
>>> direct = mpmath.quad(lambda p: mpmath.cos(p) * F(0.3 * mpmath.cos(p)), half) / (2 * mpmath.pi)
>>> abs(G - direct) < mpmath.mpf(10) ** -12
True
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.validate import check_dps

__all__ = ["HomogeneousMeanSeries", "MAX_ORDER"]

#: The largest series order attempted (``u = |mu| / s`` up to about 25 at 30 digits).
MAX_ORDER = 3000
_FLOAT_DPS = 25


def _log10_term(u: float, k: int) -> float:
    """``log10(u^k / sqrt(k!))``."""
    return k * math.log10(u) - 0.5 * math.lgamma(k + 1) / math.log(10) if u > 0 else -math.inf


def series_order(u: float, dps: int) -> tuple[int, int]:
    """``(K, guard)``: the truncation order for ``dps`` digits and the extra working digits.

    ``K`` is the least order with ``sum_{k > K} u^k / sqrt(k!) <= 10^-(dps + 5)`` (bounded by twice
    the first omitted term once the ratio ``u / sqrt(k + 1)`` is below 1/2); ``guard`` covers the
    largest term ``max_k u^k / sqrt(k!)`` plus 10 digits.
    """
    if u == 0:
        return 0, 10
    # the loop below stops only once u / sqrt(K + 2) < 1/2: refuse at once when K would pass the
    # cap (and before u^2 terms are scanned for the peak, or an infinite u overflows)
    if not math.isfinite(u) or 4 * u * u - 2 > MAX_ORDER:
        raise CompverifyError(
            f"the mean-field series needs more than {MAX_ORDER} terms for |mu|/s = {u:.3g} at "
            f"{dps} digits; the mean is too large relative to the scale")
    peak = max(0.0, max(_log10_term(u, k) for k in range(0, int(u * u) + 2)))
    K = 0
    while True:
        K += 1
        if K > MAX_ORDER:
            raise CompverifyError(
                f"the mean-field series needs more than {MAX_ORDER} terms for |mu|/s = {u:.3g} at "
                f"{dps} digits; the mean is too large relative to the scale")
        if u / math.sqrt(K + 2) < 0.5 and math.log10(2) + _log10_term(u, K + 1) <= -(dps + 5):
            return K, int(math.ceil(peak)) + 10


def _half_moment(p: int) -> mpmath.mpf:
    """``E[g_+^p] = 2^(p/2 - 1) Gamma((p + 1)/2) / sqrt(pi)``."""
    return mpmath.mpf(2) ** (mpmath.mpf(p) / 2 - 1) * mpmath.gamma(mpmath.mpf(p + 1) / 2) / mpmath.sqrt(
        mpmath.pi)


def _hermite_coefficients(k: int) -> list[tuple[int, int]]:
    """``He_k(x) = sum c x^e`` as ``[(e, c)]`` (integers)."""
    return [(k - 2 * m, (-1) ** m * math.factorial(k) // (math.factorial(m) * math.factorial(k - 2 * m)
                                                          * 2**m)) for m in range(k // 2 + 1)]


def _T(n: int, k: int) -> mpmath.mpf:
    """``E[g_+^n He_k(g)]``."""
    if k <= n:
        return mpmath.fsum(c * _half_moment(n + e) for e, c in _hermite_coefficients(k))
    j = k - n - 1
    if j % 2:
        return mpmath.mpf(0)
    # phi^(j)(0) = (-1)^j He_j(0) phi(0), He_j(0) = (-1)^(j/2) (j - 1)!!
    phi_j = (-1) ** (j // 2) * mpmath.fac2(j - 1) / mpmath.sqrt(2 * mpmath.pi)
    return (-1) ** (k + n + 1) * mpmath.factorial(n) * phi_j


class HomogeneousMeanSeries:
    """``G``, its derivatives and ``C`` for ``sigma = alpha z_+^n + beta z_-^n``, ``w ~ N(mu, s^2 I)``.

    ``mu`` (d entries) and ``s``, ``abar`` may be given as strings so that the mpmath path sees
    their exact decimal values.  :meth:`G_mp` and :meth:`C_mp` work at any ``dps``;
    :meth:`G_float` is the float64 Chebyshev interpolant.
    """

    def __init__(self, n: int, alpha: Any, beta: Any, *, d: int, mu: Any, s: Any, abar: Any) -> None:
        self.n, self.d = int(n), int(d)
        self._alpha, self._beta = str(alpha), str(beta)
        self._mu = [str(x) for x in mu]
        self._s, self._abar = str(s), str(abar)
        if len(self._mu) != self.d:
            raise CompverifyError(f"mu must have d = {self.d} entries, got {len(self._mu)}")
        self.mu_norm = float(mpmath.sqrt(mpmath.fsum(mpmath.mpf(x) ** 2 for x in self._mu)))
        if self.mu_norm == 0:
            raise CompverifyError("the series route is for mu != 0; mu = 0 has a closed form")
        self.u = self.mu_norm / float(mpmath.mpf(self._s))
        self._cheb: tuple | None = None

    # ------------------------------------------------------------------ coefficients
    def _mp(self, text: str) -> mpmath.mpf:
        return mpmath.mpf(text)

    def order(self, dps: int) -> tuple[int, int]:
        """``(K, guard)`` for ``dps`` digits (see :func:`series_order`)."""
        return series_order(self.u, dps)

    @lru_cache(maxsize=8)  # noqa: B019 - a handful of precisions per instance
    def _tables(self, dps: int) -> dict:
        """Taylor coefficients ``f_k``, the ``c_{j,b}`` columns and constants at ``dps`` (+ guard)."""
        K, guard = self.order(dps)
        # expanding (|mu|^2 - t^2)^m into monomials can cancel up to about m log10(2) more digits
        wdps = dps + guard + int(math.ceil(0.16 * K)) + 5
        with mpmath.workdps(wdps):
            n, d = self.n, self.d
            s, alpha, beta = self._mp(self._s), self._mp(self._alpha), self._mp(self._beta)
            f = [s ** (n - k) * (alpha + (-1) ** k * beta) * _T(n, k) / mpmath.factorial(k)
                 for k in range(K + 1)]
            dd = mpmath.mpf(d)

            def sphere_moment(p: int, b: int) -> mpmath.mpf:
                if d == 1:
                    return mpmath.mpf(1) if b == 0 else mpmath.mpf(0)
                return (mpmath.gamma(dd / 2) * mpmath.gamma(mpmath.mpf(p + 1) / 2)
                        * mpmath.gamma(mpmath.mpf(b + 1) / 2)
                        / (mpmath.pi * mpmath.gamma((dd + p + b) / 2)))

            cols = []  # cols[m] = [c_{j, 2m} for j = 0..K-2m]
            for m in range((K // 2) + 1):
                b = 2 * m
                cols.append([f[j + b] * mpmath.binomial(j + b, j) * (alpha + (-1) ** j * beta) / 2
                             * sphere_moment(n + j, b) for j in range(K - b + 1)])
            mm = mpmath.fsum(self._mp(x) ** 2 for x in self._mu)
            # monomial coefficients of G_K(t) = sum_m (mm - t^2)^m p_m(t), by Horner in q = mm - t^2
            coef: list = []
            for col in reversed(cols):
                new = [mpmath.mpf(0)] * max(len(coef) + 2, len(col))
                for i, a in enumerate(coef):
                    new[i] += mm * a
                    new[i + 2] -= a
                for j, c in enumerate(col):
                    new[j] += c
                coef = new
            er2n = mpmath.mpf(2) ** n * mpmath.gamma(dd / 2 + n) / mpmath.gamma(dd / 2)
            B = s**n * (abs(alpha) + abs(beta)) * mpmath.sqrt(_half_moment(2 * n))
            tail = 2 * B * mpmath.mpf(self.u) ** (K + 1) / mpmath.sqrt(mpmath.factorial(K + 1))
            # E_e[F(|mu| e_1)^2] = sum_p (sum_{k+l=p} f_k f_l) |mu|^p E[e_1^p]
            mun = mpmath.sqrt(mm)
            EF2 = mpmath.fsum(
                mpmath.fsum(f[k] * f[p - k] for k in range(max(0, p - K), min(p, K) + 1))
                * mun**p * sphere_moment(p, 0) for p in range(0, 2 * K + 1, 2))
            Fmax = B * mpmath.fsum(mpmath.mpf(self.u) ** k / mpmath.sqrt(mpmath.factorial(k))
                                   for k in range(K + 1))
        return {"K": K, "wdps": wdps, "coef": coef, "mm": mm, "er2n": er2n, "EF2": EF2,
                "tail": tail, "Fmax": Fmax, "abar": self._mp(self._abar)}

    # ------------------------------------------------------------------ G and C
    def G_mp(self, t: Any, dps: int) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
        """``(G_K(t), G_K'(t), G_K''(t))`` at ``dps`` digits (``t`` a number or mpf)."""
        dps = check_dps(dps)
        tab = self._tables(dps)
        with mpmath.workdps(tab["wdps"]):
            t = mpmath.mpf(t)
            G = G1 = G2h = mpmath.mpf(0)
            for c in reversed(tab["coef"]):  # Horner with first and half second derivative
                G2h = G2h * t + G1
                G1 = G1 * t + G
                G = G * t + c
            G2 = 2 * G2h
        with mpmath.workdps(dps):
            return +G, +G1, +G2

    def C_mp(self, dps: int) -> mpmath.mpf:
        """``C = abar^2 E[r^(2n)] E_e[F(|mu| e_1)^2]`` at ``dps`` digits."""
        tab = self._tables(check_dps(dps))
        with mpmath.workdps(tab["wdps"]):
            c = tab["abar"] ** 2 * tab["er2n"] * tab["EF2"]
        with mpmath.workdps(dps):
            return +c

    def amplitude_mp(self, dps: int) -> mpmath.mpf:
        """``A = abar E[r^(2n)]`` so that ``h(v) = A |v|^n G(t)``."""
        tab = self._tables(check_dps(dps))
        with mpmath.workdps(dps):
            return +(tab["abar"] * tab["er2n"])

    def tail_bound(self, dps: int) -> dict:
        """Bounds on the truncation error at ``dps``: ``G`` (per unit ``max(|alpha|,|beta|)``)
        and ``C``."""
        tab = self._tables(check_dps(dps))
        with mpmath.workdps(dps):
            amax = max(abs(mpmath.mpf(self._alpha)), abs(mpmath.mpf(self._beta)))
            tG = amax * tab["tail"]
            tC = tab["abar"] ** 2 * tab["er2n"] * tab["tail"] * (2 * tab["Fmax"] + tab["tail"])
            return {"order": tab["K"], "G": tG, "C": tC}

    # ------------------------------------------------------------------ float64
    def _chebyshev(self) -> tuple:
        if self._cheb is None:
            K, _ = self.order(_FLOAT_DPS)
            r = self.mu_norm
            nodes = np.cos(np.pi * (np.arange(K + 1) + 0.5) / (K + 1))
            vals = np.array([float(self.G_mp(mpmath.mpf(r) * mpmath.mpf(float(x)), _FLOAT_DPS)[0])
                             for x in nodes])
            series = np.polynomial.Chebyshev.fit(r * nodes, vals, K, domain=[-r, r])
            self._cheb = (series, series.deriv(1), series.deriv(2))
        return self._cheb

    def G_float(self, t: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(G, G', G'')`` in float64 at ``t`` (array), from the Chebyshev interpolant."""
        S, S1, S2 = self._chebyshev()
        t = np.clip(np.asarray(t, dtype=float), -self.mu_norm, self.mu_norm)
        return S(t), S1(t), S2(t)

    @cached_property
    def A_float(self) -> float:
        """``A = abar E[r^(2n)]`` in float64 (computed once: the float64 path uses it per row)."""
        return float(self.amplitude_mp(_FLOAT_DPS))

    @cached_property
    def C_float(self) -> float:
        """``C`` in float64, from the same tables as the float64 ``G``."""
        return float(self.C_mp(_FLOAT_DPS))
