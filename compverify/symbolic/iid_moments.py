"""Exact ``h`` and ``C`` for a polynomial sigma and weights with i.i.d. entries ``w_l = m + s xi_l``.

For a polynomial sigma the kernel ``K(w, v) = E_x sigma(<w, x>) sigma(<v, x>)`` is a polynomial in
``A = |w|^2``, ``B = <w, v>`` and ``|v|^2`` (each Isserlis pairing of ``X = <w, x>``, ``Y = <v, x>``
contributes ``|w|^2``, ``<w, v>`` or ``|v|^2``), so

    h(v) = abar sum kappa_ijk E_w[A^i B^j] |v|^(2k),
    C    = abar^2 sum kappa_ijk E_{w, w'}[|w|^(2i) <w, w'>^j |w'|^(2k)].

The entries are independent, so the moment generating functions factor over coordinates:

    E exp(tau A + u B) = exp( sum_l L(tau, u v_l) ),  L(tau, sigma) = log E exp(tau w^2 + sigma w),

and ``sum_l (u v_l)^b = u^b p_b`` with the power sums ``p_b = sum_l v_l^b`` (``p_0 = d``). Likewise
``E exp(tau |w|^2 + u <w, w'> + tau' |w'|^2) = exp(d L2(tau, u, tau'))`` with ``L2`` the log-MGF of
``(w^2, w w', w'^2)`` for one pair of independent entries. The logarithm and exponential are taken
as power series graded by the degree in ``w`` and truncated exactly where the kernel needs them,
with the entry moments ``E w^n = sum_r C(n, r) m^(n - r) s^r E xi^r``. The result is exact:
``h`` is a polynomial in ``p_1, p_2, ...`` with coefficients polynomial in ``m``, ``s``, ``d``,
``abar``, and ``C`` a polynomial in ``m``, ``s``, ``d``, ``abar``.

``xi`` has mean 0 and variance 1: ``gaussian`` (``E xi^k = (k - 1)!!``), ``rademacher``
(``+-1``), ``uniform`` (on ``[-sqrt 3, sqrt 3]``, ``E xi^k = 3^(k/2) / (k + 1)``), for even ``k``.

>>> from compverify.symbolic import get_activation
>>> mf = polynomial_iid(get_activation("polynomial:0,0,1"), "rademacher")    # sigma = z^2
>>> sympy.factor(mf.C.subs({M: 0, D: 4, S: 1}))     # E[(|w|^2)^2 + 2 <w, w'>^2], |w|^2 = 4
24*abar**2
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from math import factorial

import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.derivation import gaussian_moment
from compverify.symbolic.meanfield import ABAR, D, MeanField, S
from compverify.symbolic.steps import NU, NV, RHO, DerivationStep

__all__ = ["M", "LAWS", "power_sum", "polynomial_iid", "kernel_invariants"]

#: the entries' mean (the scale is :data:`compverify.symbolic.meanfield.S`)
M = sympy.Symbol("m", real=True)


def _rademacher(k: int) -> sympy.Expr:
    return sympy.Integer(1) if k % 2 == 0 else sympy.Integer(0)


def _uniform(k: int) -> sympy.Expr:
    return sympy.Integer(3) ** (k // 2) / (k + 1) if k % 2 == 0 else sympy.Integer(0)


#: ``E xi^k`` for the standardized scalar laws (mean 0, variance 1)
LAWS: dict[str, Callable[[int], sympy.Expr]] = {
    "gaussian": gaussian_moment, "rademacher": _rademacher, "uniform": _uniform}


@cache
def power_sum(b: int) -> sympy.Symbol:
    """The symbol ``p_b = sum_l v_l^b``."""
    return sympy.Symbol(f"p{b}", real=True)


def kernel_invariants(kernel: sympy.Expr) -> dict[tuple[int, int, int], sympy.Expr]:
    """A polynomial kernel in ``nu, nv, rho`` as ``{(i, j, k): kappa}`` for ``|u|^2i <u,v>^j |v|^2k``.

    ``nu^a nv^b rho^c = (nu^2)^((a - c)/2) (nu nv rho)^c (nv^2)^((b - c)/2)``; every monomial of a
    polynomial kernel has ``a - c`` and ``b - c`` even and non-negative.
    """
    out: dict[tuple[int, int, int], sympy.Expr] = {}
    for (a, b, c), coeff in sympy.Poly(sympy.expand(kernel), NU, NV, RHO).terms():
        if a < c or b < c or (a - c) % 2 or (b - c) % 2:
            raise CompverifyError(f"internal: kernel monomial nu^{a} nv^{b} rho^{c} is not a "
                                  "product of |u|^2, <u, v>, |v|^2")
        key = ((a - c) // 2, c, (b - c) // 2)
        out[key] = out.get(key, sympy.Integer(0)) + coeff
    return out


def _log_series(a: list) -> list:
    """Coefficients of ``log(sum a_n eps^n)`` (``a_0 = 1``) up to the same order (ring elements)."""
    b = [a[0] * 0 for _ in a]
    for n in range(1, len(a)):
        b[n] = a[n] - sum((b[j] * a[n - j] * j for j in range(1, n)), a[0] * 0) / n
    return b


def _exp_series(q: list) -> list:
    """Coefficients of ``exp(sum q_n eps^n)`` (``q_0 = 0``) up to the same order (ring elements)."""
    e = [q[0] * 0 + 1] + [q[0] * 0 for _ in q[1:]]
    for n in range(1, len(q)):
        e[n] = sum((q[j] * e[n - j] * j for j in range(1, n + 1)), q[0] * 0) / n
    return e


def _entry_moments(law: str, n_max: int, m: object, s: object) -> list:
    """``E w^n`` for ``w = m + s xi``, ``n = 0 .. n_max``, as ring polynomials in ``m``, ``s``."""
    xi = LAWS[law]
    return [sum((m ** (n - r) * s**r * int(sympy.binomial(n, r)) * sympy.Rational(xi(r))
                 for r in range(n + 1)), m * 0) for n in range(n_max + 1)]


def _drop_series_vars(R: object, poly: object, keep: tuple[int, ...], nvars: int) -> object:
    """The part of ``poly`` whose first ``nvars`` exponents equal ``keep``, with them dropped."""
    zero = (0,) * nvars
    return R({zero + mon[nvars:]: c for mon, c in poly.terms() if mon[:nvars] == keep})


def _h_ring(law: str, kappa: dict) -> tuple:
    """``h / abar`` as a ring polynomial in ``m, s, d, p_1, ...`` and the ring's generator names.

    ``E[|w|^(2i) <w, v>^j]`` is ``(i! j!)`` times the coefficient of ``tau^i u^j`` in
    ``exp(sum_l L(tau, u v_l))``, read off the series term of degree ``2i + j`` in ``w``.
    """
    top = max(2 * i + j for i, j, _ in kappa)
    nps = max(top, 2)
    names = ["tau", "u", "sig", "m", "s", "d"] + [f"p{b}" for b in range(1, nps + 1)]
    R, tau, u, sig, m, s, d, *ps = sympy.polys.rings.ring(names, sympy.QQ)
    mu = _entry_moments(law, top, m, s)
    # one entry, graded by its degree in w: E exp(tau w^2 + sig w) = sum_n eps^n a_n
    a = [mu[n] * sum((tau**i * sig ** (n - 2 * i) / (factorial(i) * factorial(n - 2 * i))
                      for i in range(n // 2 + 1)), R(0)) for n in range(top + 1)]
    summed = [R(0)]
    for log_n in _log_series(a)[1:]:
        # sum over the coordinates: sig^b -> u^b p_b (sig^0 -> d)
        summed.append(sum((R({mon[:1] + (mon[2], 0) + mon[3:]: c}) * (ps[mon[2] - 1] if mon[2] else d)
                           for mon, c in log_n.terms()), R(0)))
    e = _exp_series(summed)
    h = R(0)
    for (i, j, k), c in kappa.items():
        moment = _drop_series_vars(R, e[2 * i + j], (i, j, 0), 3)
        h += moment * ps[1] ** k * (factorial(i) * factorial(j)) * sympy.Rational(c)
    return h, names


def _C_ring(law: str, kappa: dict) -> tuple:
    """``C / abar^2`` as a ring polynomial in ``m, s, d`` and the ring's generator names.

    ``E[|w|^(2i) <w, w'>^j |w'|^(2k)]`` is ``i! j! k!`` times the coefficient of
    ``tau^i u^j tau2^k`` in ``exp(d L2)``, graded by half the degree in ``(w, w')``.
    """
    top = max(i + j + k for i, j, k in kappa)
    names = ["tau", "u", "tau2", "m", "s", "d"]
    R, tau, u, tau2, m, s, d = sympy.polys.rings.ring(names, sympy.QQ)
    mu = _entry_moments(law, 2 * top, m, s)
    # one pair of entries: E exp(tau w^2 + u w w' + tau2 w'^2) = sum_n eps^n a_n
    a = [sum((tau**i * u**j * tau2 ** (n - i - j) * mu[2 * i + j] * mu[2 * (n - i - j) + j]
              / (factorial(i) * factorial(j) * factorial(n - i - j))
              for i in range(n + 1) for j in range(n - i + 1)), R(0)) for n in range(top + 1)]
    e = _exp_series([x * d for x in _log_series(a)])
    C = R(0)
    for (i, j, k), c in kappa.items():
        moment = _drop_series_vars(R, e[i + j + k], (i, j, k), 3)
        C += moment * (factorial(i) * factorial(j) * factorial(k)) * sympy.Rational(c)
    return C, names


def _ring_to_expr(poly: object, names: list[str]) -> sympy.Expr:
    """A ring polynomial as a SymPy expression in this module's symbols (m, s, d, p_b)."""
    symbols = {"m": M, "s": S, "d": D, **{n: power_sum(int(n[1:])) for n in names if n[0] == "p"}}
    gens = [symbols.get(n, sympy.Integer(0)) for n in names]
    return sympy.Add(*[sympy.Rational(c) * sympy.Mul(*[g**k for g, k in zip(gens, mon, strict=True) if k])
                       for mon, c in poly.terms()])


@cache
def _polynomial_iid(expr: sympy.Expr, kernel: sympy.Expr, law: str) -> MeanField:
    kappa = kernel_invariants(kernel)
    steps = [DerivationStep.from_expr(
        "The polynomial kernel in the invariants A = |w|^2, B = <w, v>, |v|^2 (one Isserlis "
        "pairing per factor)", sympy.Add(*[c * sympy.Symbol("A") ** i * sympy.Symbol("B") ** j
                                           * power_sum(2) ** k for (i, j, k), c in kappa.items()]))]
    h = ABAR * _ring_to_expr(*_h_ring(law, kappa))
    steps.append(DerivationStep.from_expr(
        f"E_w over i.i.d. {law} entries m + s xi: log-MGF of (w_l^2, w_l) summed over the "
        "coordinates (sigma^b -> u^b p_b, p_b = sum_l v_l^b), exponentiated as a truncated series; "
        "h is a polynomial in the power sums p_b of v", h))
    C = ABAR**2 * _ring_to_expr(*_C_ring(law, kappa))
    steps.append(DerivationStep.from_expr(
        "C = E_{w, w'} abar^2 K(w, w'): the log-MGF of (w^2, w w', w'^2) for one pair of entries, "
        "times d, exponentiated", C))
    return MeanField(f"polynomial-iid-{law}", h, C, tuple(steps))


def polynomial_iid(activation, law: str) -> MeanField:
    """Exact ``h`` (in power sums ``p_b`` of v, m, s, d, abar) and ``C`` for i.i.d. ``law`` entries.

    ``activation`` must be a polynomial; ``law`` one of :data:`LAWS`.
    """
    if law not in LAWS:
        raise CompverifyError(f"unknown entry law {law!r}; expected one of {', '.join(LAWS)}")
    if not activation.expr.is_polynomial(sympy.Symbol("z", real=True)):
        raise CompverifyError(f"activation {activation.spec!r} is not a polynomial")
    return _polynomial_iid(activation.expr, activation.kernel.expr, law)
