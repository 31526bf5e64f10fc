"""Exact mean-field targets for a polynomial sigma and weights with i.i.d. entries ``m + s xi``.

``h(v)`` is the polynomial in the power sums ``p_b = sum_l v_l^b`` derived by
:func:`compverify.symbolic.iid_moments.polynomial_iid`, and ``C`` a number; both are exact, so
float64 and mpmath evaluate the same rational coefficients (mpmath at any precision). Derivatives
in ``v`` go through the power sums: ``dp_b / dv_l = b v_l^(b - 1)``.

The mean and scale are read as the decimals they print as (``0.1`` is 1/10 in mpmath); the default
scale is ``1/sqrt(d)``, exact at every precision.

>>> import numpy as np
>>> t = PolynomialIidTarget("polynomial:0,0,1", 3, "rademacher", mean=0.5, scale=1.0)
>>> float(t.h(np.array([[1.0, 0.0, 0.0]]))[0])    # E[|w|^2] + 2 E[w_1^2] = 3 (1.25) + 2 (1.25)
6.25
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.numeric.finite_network import mp_rows, round_mp
from compverify.numeric.rule_base import RuleTarget, iid_fields
from compverify.numeric.sampled import sample_iid
from compverify.symbolic.activations import as_activation
from compverify.symbolic.iid_moments import LAWS, M, polynomial_iid, power_sum
from compverify.symbolic.meanfield import ABAR, D, S
from compverify.validate import check_dps

__all__ = ["PolynomialIidTarget", "supports", "power_sum_terms", "evaluate_power_sums"]

_GUARD = 10


def supports(activation: Any) -> bool:
    """Whether the activation is a polynomial (the exact i.i.d. route applies)."""
    return bool(as_activation(activation).expr.is_polynomial(sympy.Symbol("z", real=True)))


class _PowerSumPolynomial:
    """A polynomial in ``p_1 .. p_K`` with coefficients in ``m, s``: exact terms, evaluated at rows."""

    def __init__(self, expr: sympy.Expr, K: int) -> None:
        gens = [power_sum(b) for b in range(1, K + 1)]
        self.K = K
        poly = sympy.Poly(expr, *gens)
        self.exps = np.array([mon for mon, _ in poly.terms()], dtype=int).reshape(-1, K)
        # each coefficient as exact terms q m^a s^c
        self.coeffs = [sympy.Poly(c, M, S).terms() for _, c in poly.terms()]

    def coefficient_values(self, m: Any, s: Any, one: Any) -> np.ndarray:
        vals = [_sum_terms(terms, m, s, one) for terms in self.coeffs]
        return np.array(vals, dtype=object if isinstance(one, mpmath.mpf) else float)


def power_sum_terms(coef: np.ndarray, exps: np.ndarray) -> tuple:
    """``((coef, exps), first, second)`` of ``sum_t coef_t prod_b p_b^exps[t, b]``: the polynomial
    and its first and second partials in the power sums as ``(coefficients, exponents)`` lists (the
    input of :func:`evaluate_power_sums`)."""
    K = exps.shape[1]
    first, second = [], []
    for b in range(K):
        c1, e1 = coef * exps[:, b], exps.copy()
        e1[:, b] = np.maximum(e1[:, b] - 1, 0)
        first.append((c1, e1))
        row = []
        for c in range(K):
            c2, e2 = c1 * e1[:, c], e1.copy()
            e2[:, c] = np.maximum(e2[:, c] - 1, 0)
            row.append((c2, e2))
        second.append(row)
    return (coef, exps), first, second


def _sum_terms(terms: list, m: Any, s: Any, one: Any) -> Any:
    """``sum q m^a s^c`` over exact terms ``((a, c), q)``, in the number type of ``one``."""
    return sum((one * int(q.p) / int(q.q) * m**a * s**c for (a, c), q in terms), one * 0)


def _monomials(P: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """``prod_b P[r, b]^exps[t, b]`` as an (R, T) array."""
    return np.prod(P[:, None, :] ** exps[None, :, :], axis=2)


def evaluate_power_sums(V: np.ndarray, order: int, terms: tuple) -> tuple:
    """Value, gradient and Hessian at the rows of ``V`` (float or object arrays) of the polynomial
    in the power sums ``p_b = sum_l v_l^b`` given by :func:`power_sum_terms`; derivatives in ``v``
    through ``dp_b / dv_l = b v_l^(b - 1)``."""
    (coef, exps), first, second = terms
    K = exps.shape[1]
    b = np.arange(1, K + 1)
    pw = V[:, None, :] ** (b[None, :, None] - 1)            # v_l^(b-1): (R, K, d)
    P = np.sum(pw * V[:, None, :], axis=2)                  # p_b: (R, K)
    h = _monomials(P, exps) @ coef
    R, d = V.shape
    g, H = np.zeros((R, d), dtype=V.dtype), np.zeros((R, d, d), dtype=V.dtype)
    if order >= 1:
        F1 = np.stack([_monomials(P, e) @ c for c, e in first], axis=1)        # (R, K)
        D1 = b[None, :, None] * pw                                            # (R, K, d)
        g = np.einsum("rb,rbl->rl", F1, D1)
    if order >= 2:
        F2 = np.stack([np.stack([_monomials(P, e) @ c for c, e in row], axis=1)
                       for row in second], axis=1)                             # (R, K, K)
        pw2 = np.concatenate([0 * V[:, None, :], V[:, None, :] ** (b[None, 1:, None] - 2)],
                             axis=1)
        D2 = (b * (b - 1))[None, :, None] * pw2
        H = np.einsum("rbc,rbl,rcm->rlm", F2, D1, D1)
        diag = np.einsum("rb,rbl->rl", F1, D2)
        for i in range(d):
            H[:, i, i] = H[:, i, i] + diag[:, i]
    return h, g, H


class PolynomialIidTarget(RuleTarget):
    """Polynomial sigma, i.i.d. entries ``w_l = m + s xi_l`` (law gaussian, rademacher, uniform).

    Exact closed forms (module docstring); ``method`` names the route. No ``loss_error``: nothing
    here is approximated, so the solver's verified digits are not capped.
    """

    def __init__(self, activation: Any, d: int, law: str, *, mean: Any = 0.0, scale: Any = None,
                 abar: Any = 1) -> None:
        self.activation = act = as_activation(activation)
        self.d, m, s = iid_fields(d, mean, scale)
        if law not in LAWS:
            raise ValueError(f"unknown law {law!r}")  # internal: from_options checks the name
        self.law, self.m, self.s, self.abar = law, m, s, float(abar)
        self.m_str = repr(m)
        self.s_str = None if scale is None else repr(s)
        self.abar_str = str(abar)
        self.mf = polynomial_iid(act, law)
        h = self.mf.h.subs({D: self.d, ABAR: sympy.Rational(self.abar_str)})
        K = max([int(str(x)[1:]) for x in h.free_symbols - {M, S}] + [2])
        self.poly = _PowerSumPolynomial(sympy.expand(h), K)
        C = sympy.expand(self.mf.C.subs({D: self.d, ABAR: sympy.Rational(self.abar_str)}))
        self._C_terms = sympy.Poly(C, M, S).terms()
        self._float_terms = self._terms(m, s, 1.0)
        self._C_float: float | None = None
        self.method = f"closed form (polynomial in the power sums of v; i.i.d. {law} moments)"

    def __repr__(self) -> str:
        return (f"PolynomialIidTarget(iid:{self.law}, d={self.d}, "
                f"activation={self.activation.spec!r})")

    def describe(self) -> dict:
        out = {"family": f"iid:{self.law}", "d": self.d, "mean": self.m_str,
               "scale": self.s_str or "1/sqrt(d)", "abar": self.abar_str, "method": self.method}
        h, C = str(self.mf.h), str(self.mf.C)
        if len(h) + len(C) < 4000:  # a degree-16 sigma gives ~10^6 characters: left to `derive`
            out.update(h=h, C=C)
        return out

    # ---------------------------------------------------------------- evaluation
    def _terms(self, m: Any, s: Any, one: Any) -> tuple:
        return power_sum_terms(self.poly.coefficient_values(m, s, one), self.poly.exps)

    def _mp_params(self) -> tuple:
        m = mpmath.mpf(self.m_str)
        s = 1 / mpmath.sqrt(self.d) if self.s_str is None else mpmath.mpf(self.s_str)
        return m, s

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        return evaluate_power_sums(V, order, self._float_terms)

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        dps = check_dps(dps)
        Vm = mp_rows(V, self.d, dps + _GUARD)
        with mpmath.workdps(dps + _GUARD):
            out = evaluate_power_sums(Vm, order, self._terms(*self._mp_params(), mpmath.mpf(1)))
        return tuple(round_mp(a, dps) for a in out)

    def C(self) -> float:
        if self._C_float is None:
            self._C_float = float(self.C_mp(20))
        return self._C_float

    def C_mp(self, dps: int) -> mpmath.mpf:
        dps = check_dps(dps)
        with mpmath.workdps(dps + _GUARD):
            val = _sum_terms(self._C_terms, *self._mp_params(), mpmath.mpf(1))
        with mpmath.workdps(dps):
            return +val

    def sample(self, N: int, seed: int) -> Any:
        return sample_iid(self.activation, self.law, self.d, self.m, self.s, self.abar, N, seed)
