"""relu_power:n (``n >= 3``) with i.i.d. weight entries on the spectral rule: the kernel's parts
outside the frequency rule, and the Taylor terms the rule's integrand subtracts.

``sigma = c_mono z^n + c_rho rho_n(z)`` (:mod:`compverify.symbolic.spectral`).  For jointly Gaussian
``A = <u, x>``, ``B = <v, x>`` with ``c = <u, v>`` the Hermite (Price) expansion ``E f(A) g(B) =
sum_k c^k/k! E f^(k)(A) E g^(k)(B)`` gives, the cross terms vanishing by ``x -> -x``::

    K(u, v) = sum_k coef_k c^k (|u| |v|)^(n-k)
              + (c_rho/I_n)^2 int int e1 e2 G_n(w1 w2 c) / (w1 w2)^(n+1) dw1 dw2

    coef_k = c_mono^2 (n!/(n-k)!)^2 ((n-k-1)!!)^2 / k!     n - k even  (E A^j = (j-1)!! |u|^j)
           = c_rho^2 (n!/(n-k)!)^2 (E|Z|^(n-k))^2 / k!     n - k odd   (rho_n^(k) = n!/(n-k)! |z|^(n-k))

with ``e1 = exp(-w1^2 |u|^2/2)``, ``G_n = cosh - (its Taylor polynomial of degree n)`` for odd ``n``,
``sinh - (...)`` for even ``n``: in the transform of ``rho_n`` the terms ``k <= n - 1`` of the
Hermite series separate into one-frequency integrals (``I_n E rho_n^(k)(A)``), the rest is the rule.

Averaged over ``w`` (entries i.i.d.), with ``X = <w, v>``:

* outside the rule, ``E[X^k |w|^j]`` (``j = n - k``) is a polynomial in the power sums ``P_b =
  sum_i v_i^b``: ``sum over partitions tau of k`` of ``k!/tau! mu(tau, j) m_tau(v)``, ``m_tau`` the
  monomial symmetric polynomial (written in power sums through set partitions, :func:`_augmented`)
  and ``mu(tau, j) = E[w_1^tau_1 ... w_r^tau_r |w|^j]`` (:func:`monomial_moment`);
* in the rule, ``E_w[e1 G_n(t X)] = f0^d (E_tilt cosh(t X) - T_n(t))`` (``t = w1 w2``, the law tilted
  by ``exp(-w1^2 w^2/2)`` per coordinate) and ``T_n`` is the Taylor polynomial of ``E_tilt
  exp(t X)``: the exponential of ``sum_j kappa_j(X) t^j/j!`` with ``kappa_j(X) = kappa_j(w) P_j(v)``
  from the tilted law's cumulants (:func:`taylor_terms`, with its ``v``-derivatives).

>>> coef = kernel_coefficients(3, mpmath.mpf(1) / 2, mpmath.mpf(1) / 2)
>>> [(k, mpmath.nstr(c, 6)) for k, c in coef]
[(0, '0.63662'), (1, '2.25'), (2, '2.86479'), (3, '1.5')]
"""

from __future__ import annotations

import functools
import math
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.polynomial_iid import evaluate_power_sums, power_sum_terms
from compverify.symbolic.derivation import gaussian_moment

__all__ = ["kernel_coefficients", "monomial_moment", "OutsidePolynomial", "outside_C",
           "tilted_moments", "cumulants", "product_cumulants", "taylor_terms"]


# ----------------------------------------------------------------------------- combinatorics
@functools.cache
def partitions(k: int, largest: int | None = None) -> tuple[tuple[int, ...], ...]:
    """The integer partitions of ``k`` (parts in decreasing order, at most ``largest``)."""
    largest = k if largest is None else largest
    if k == 0:
        return ((),)
    return tuple((p,) + rest for p in range(min(k, largest), 0, -1) for rest in partitions(k - p, p))


@functools.cache
def _set_partitions(r: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The set partitions of ``{0, .., r-1}``."""
    if r == 0:
        return ((),)
    out = []
    for part in _set_partitions(r - 1):
        out.append(part + ((r - 1,),))
        for i in range(len(part)):
            out.append(part[:i] + (part[i] + (r - 1,),) + part[i + 1:])
    return tuple(out)


@functools.cache
def _augmented(tau: tuple[int, ...]) -> dict[tuple[int, ...], int]:
    """``sum over distinct i_1..i_r of prod v_(i_l)^tau_l`` in power sums: ``{sorted power-sum
    indices: integer coefficient}``, by Moebius inversion over set partitions (a block ``B``
    contributes ``(-1)^(|B|-1) (|B|-1)! P_(sum of its parts)``)."""
    out: dict[tuple[int, ...], int] = {}
    for sp in _set_partitions(len(tau)):
        coef, idx = 1, []
        for block in sp:
            coef *= (-1) ** (len(block) - 1) * math.factorial(len(block) - 1)
            idx.append(sum(tau[i] for i in block))
        key = tuple(sorted(idx))
        out[key] = out.get(key, 0) + coef
    return {k: c for k, c in out.items() if c != 0}


def _multiplicities(tau: tuple[int, ...]) -> list[int]:
    return [tau.count(a) for a in sorted(set(tau))]


# ----------------------------------------------------------------------------- the kernel
def _abs_moment(j: int) -> Any:
    """``E|Z|^j = 2^(j/2) Gamma((j+1)/2) / sqrt(pi)`` (mpmath)."""
    return mpmath.mpf(2) ** (mpmath.mpf(j) / 2) * mpmath.gamma(mpmath.mpf(j + 1) / 2) / mpmath.sqrt(mpmath.pi)


def kernel_coefficients(n: int, c_mono: Any, c_rho: Any) -> list[tuple[int, Any]]:
    """``[(k, coef_k)]`` of the kernel's terms ``coef_k c^k (|u| |v|)^(n-k)`` outside the rule
    (module docstring), the zero ones left out (mpmath at the caller's precision)."""
    out = []
    for k in range(n + 1):
        j = n - k
        falling = mpmath.mpf(math.factorial(n) // math.factorial(j)) ** 2 / math.factorial(k)
        if j % 2 == 0:
            coef = c_mono * c_mono * falling * int(gaussian_moment(j)) ** 2  # E Z^j, j even
        else:
            coef = c_rho * c_rho * falling * _abs_moment(j) ** 2
        if coef != 0:
            out.append((k, coef))
    return out


# ----------------------------------------------------------------------------- moments of w
def _series_mul(a: list, b: list, p: int) -> list:
    return [mpmath.fsum(a[i] * b[m - i] for i in range(m + 1)) for m in range(p + 1)]


def _series_pow(a: list, N: int, p: int) -> list:
    """``a(eps)^N`` to order ``p`` (J. C. P. Miller's recurrence; ``a[0] > 0``)."""
    out = [a[0] ** N]
    for m in range(1, p + 1):
        out.append(mpmath.fsum((N * i - m + i) * a[i] * out[m - i] for i in range(1, m + 1))
                   / (m * a[0]))
    return out


def _moment_series(law: Any, tau: tuple[int, ...], p: int, d: int, lam: Any) -> Any:
    """``p! [eps^p] prod_l Phi_(tau_l)(eps) Phi_0(eps)^(d - r)`` at ``lam``, ``Phi_a(eps) = E[w^a
    exp(-(lam - eps) w^2)] = sum_b eps^b/b! E[w^(a + 2b) exp(-lam w^2)]``: that is ``E[w^tau
    |w|^(2p) exp(-lam |w|^2)]``."""
    def phi(a: int) -> list:
        return [law.gk_mp(lam, a + 2 * b) / math.factorial(b) for b in range(p + 1)]

    out = _series_pow(phi(0), d - len(tau), p)
    for a in tau:
        out = _series_mul(out, phi(a), p)
    return out[p] * math.factorial(p)


def monomial_moment(law: Any, tau: tuple[int, ...], j: int, d: int, dps: int) -> Any:
    """``E[w_1^tau_1 ... w_r^tau_r |w|^j]`` for ``w`` with ``d`` i.i.d. entries of ``law``, to
    ``dps`` digits (or more: kept on the law object per ``tau``, ``j`` and ``d``, since h's outside
    polynomial and C ask for the same moments at different precisions; the most precise value
    computed serves any lower request).

    Even ``j = 2p``: ``E[w^tau |w|^(2p)]`` from the law's moments (:func:`_moment_series` at
    ``lam = 0``).  Odd ``j = 2p - 1``: with ``1/|w| = pi^(-1/2) int_0^inf lam^(-1/2) exp(-lam |w|^2)
    dlam``, ``(2/sqrt(pi)) int_0^inf E[w^tau |w|^(2p) exp(-u^2 |w|^2)] du`` (mpmath quad, checked
    against its error estimate).
    """
    if len(tau) > d:
        raise ValueError(f"{len(tau)} distinct coordinates in d = {d}")  # internal
    cache = law.__dict__.setdefault("_monomial_moments", {})
    key = (tuple(tau), j, d)
    if key not in cache or cache[key][0] < dps:
        cache[key] = (dps, _monomial_moment(law, tau, j, d, dps))
    return cache[key][1]


def _monomial_moment(law: Any, tau: tuple[int, ...], j: int, d: int, dps: int) -> Any:
    with mpmath.workdps(dps + 15):
        if j % 2 == 0:
            return +_moment_series(law, tau, j // 2, d, mpmath.mpf(0))
        p = (j + 1) // 2

        def integrand(u: Any) -> Any:
            return _moment_series(law, tau, p, d, u * u)

        val, err = mpmath.quad(integrand, [0, 1, mpmath.inf], error=True)
        val = 2 * val / mpmath.sqrt(mpmath.pi)
        if err > mpmath.mpf(10) ** (-dps - 2) * max(abs(val), 1):
            raise CompverifyError(f"E[w^{tau} |w|^{j}] quadrature did not converge (error "
                                  f"{mpmath.nstr(err, 3)})")
        return val


# ----------------------------------------------------------------------------- outside the rule
class OutsidePolynomial:
    """``sum_k coef_k |v|^(n-k) E[X^k |w|^(n-k)]`` as ``sum_j |v|^j Q_j(P_1, .., P_n)``, ``Q_j`` a
    polynomial in the power sums with mpmath coefficients (built once per precision), evaluated
    with its ``v``-derivatives (:func:`compverify.numeric.polynomial_iid.evaluate_power_sums`, and
    the product rule with ``|v|^j``)."""

    def __init__(self, law: Any, n: int, d: int, coefs: list, dps: int) -> None:
        self.n, self.d = n, d
        terms: dict[int, dict[tuple, Any]] = {}
        with mpmath.workdps(dps + 10):
            for k, coef in coefs:
                j = n - k
                for tau in partitions(k):
                    if len(tau) > d:
                        continue
                    mu = monomial_moment(law, tau, j, d, dps + 5)
                    scale = coef * math.factorial(k) * mu / math.prod(
                        math.factorial(a) for a in tau) / math.prod(
                        math.factorial(c) for c in _multiplicities(tau))
                    for idx, c in _augmented(tau).items():
                        exps = tuple(idx.count(b) for b in range(1, n + 1))
                        row = terms.setdefault(j, {})
                        row[exps] = row.get(exps, 0) + scale * c
        self.groups = [(j, power_sum_terms(np.array(list(row.values()), dtype=object),
                                           np.array(list(row), dtype=int).reshape(-1, n)))
                       for j, row in terms.items()]

    def evaluate(self, v: list, order: int) -> tuple:
        """Value, gradient (list) and Hessian (nested lists) at the row ``v`` (mpmath numbers)."""
        d = len(v)
        V = np.array([v], dtype=object)
        r2 = mpmath.fsum(x * x for x in v)
        vv = np.array(v, dtype=object)
        h, g, H = mpmath.mpf(0), np.zeros(d, dtype=object), np.zeros((d, d), dtype=object)
        for j, group in self.groups:
            q, gq, Hq = (x[0] for x in evaluate_power_sums(V, order, group))
            N = r2 ** (mpmath.mpf(j) / 2)                                   # |v|^j
            h += N * q
            if order < 1 or j == 0:
                g, H = g + N * gq, H + N * Hq
                continue
            gN = j * r2 ** (mpmath.mpf(j - 2) / 2) * vv
            g = g + N * gq + q * gN
            HN = j * r2 ** (mpmath.mpf(j - 2) / 2) * np.eye(d, dtype=int) + \
                j * (j - 2) * r2 ** (mpmath.mpf(j - 4) / 2) * np.outer(vv, vv)
            H = H + N * Hq + np.outer(gq, gN) + np.outer(gN, gq) + q * HN
        return h, list(g), [list(row) for row in H]


def outside_C(law: Any, n: int, d: int, coefs: list, dps: int) -> Any:
    """``sum_k coef_k E[<w, w'>^k |w|^j |w'|^j]`` (``j = n - k``, ``w, w'`` independent): ``sum over
    tau of k!/tau! mu(tau, j)^2`` times the number of index tuples of type ``tau``, ``d!/((d - r)!
    prod m_a!)``."""
    with mpmath.workdps(dps + 10):
        total = mpmath.mpf(0)
        for k, coef in coefs:
            for tau in partitions(k):
                r = len(tau)
                if r > d:
                    continue
                mu = monomial_moment(law, tau, n - k, d, dps + 5)
                count = math.factorial(d) // math.factorial(d - r) // math.prod(
                    math.factorial(c) for c in _multiplicities(tau))
                total += coef * math.factorial(k) * mu * mu * count / math.prod(
                    math.factorial(a) for a in tau)
        return total


# ----------------------------------------------------------------------------- Taylor terms
def product_cumulants(mu1: list, mu2: list) -> list:
    """Cumulants of ``w w'`` for independent ``w, w'`` with moments ``mu1``, ``mu2`` (1..n)."""
    return cumulants([a * b for a, b in zip(mu1, mu2, strict=True)])


def tilted_moments(law: Any, w1: Any, n: int) -> list:
    """``E_tilt w^j``, ``j = 1..n``, under the tilt ``exp(-w1^2 w^2/2)``."""
    lam = w1 * w1 / 2
    g0 = law.gk_mp(lam, 0)
    return [law.gk_mp(lam, j) / g0 for j in range(1, n + 1)]


def cumulants(mu: list) -> list:
    """Cumulants from the moments ``mu[0] = E w, mu[1] = E w^2, ...``."""
    kap: list = []
    for m in range(1, len(mu) + 1):
        kap.append(mu[m - 1] - sum(math.comb(m - 1, i - 1) * kap[i - 1] * mu[m - i - 1]
                                   for i in range(1, m)))
    return kap


def taylor_terms(kap: list, v: list, t: Any, parity: int, order: int, one: Any) -> tuple:
    """``T = sum_(m <= n, m = parity mod 2) E_m t^m`` with ``E_m = [t^m] exp(sum_j kappa_j P_j(v)
    t^j/j!)`` (``kappa = kap``, ``n = len(kap)``), and its gradient and Hessian in ``v`` (lists),
    in the arithmetic of ``one`` (arb or mpmath numbers).

    ``dT/dkappa_j(X) = t^j/j! sum_(i <= n - j, i + j = parity) E_i t^i`` (the derivative of the
    exponential series), and ``d kappa_j(X) / dv_i = kappa_j j v_i^(j-1)``.
    """
    n, d = len(kap), len(v)
    zero = one * 0
    pw = [[one] * d]
    for _ in range(n):
        pw.append([a * x for a, x in zip(pw[-1], v, strict=True)])      # pw[b][i] = v_i^b
    K = [kap[j - 1] * sum(pw[j], zero) for j in range(1, n + 1)]        # kappa_j(X)
    E = [one]
    for m in range(1, n + 1):
        E.append(sum((K[j - 1] * E[m - j] / math.factorial(j - 1) for j in range(1, m + 1)), zero) / m)
    tp = [one]
    for _ in range(n):
        tp.append(tp[-1] * t)

    def tail(top: int, shift: int) -> Any:
        return sum((E[i] * tp[i] for i in range(top + 1) if (i + shift) % 2 == parity), zero)

    T = tail(n, 0)
    if order < 1:
        return T, None, None
    D1 = [tp[j] / math.factorial(j) * tail(n - j, j) for j in range(1, n + 1)]
    dk = [[kap[j - 1] * j * pw[j - 1][i] for i in range(d)] for j in range(1, n + 1)]
    g = [sum((D1[j] * dk[j][i] for j in range(n)), zero) for i in range(d)]
    if order < 2:
        return T, g, None
    D2 = [[tp[j + l] / (math.factorial(j) * math.factorial(l)) * tail(n - j - l, j + l)
           if j + l <= n else zero for l in range(1, n + 1)] for j in range(1, n + 1)]
    diag = [sum((D1[j - 1] * kap[j - 1] * j * (j - 1) * pw[j - 2][i] for j in range(2, n + 1)), zero)
            for i in range(d)]
    H = [[sum((D2[a][b] * dk[a][i] * dk[b][l] for a in range(n) for b in range(n)
               if a + b + 2 <= n), zero) + (diag[i] if i == l else zero)
          for l in range(d)] for i in range(d)]
    return T, g, H
