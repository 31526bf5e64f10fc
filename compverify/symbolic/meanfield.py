"""Closed forms of the mean-field quantities ``h(v) = E[abar K(w, v)]`` and ``C = E[abar abar' K(w, w')]``.

Target weights ``w ~ N(mu, s^2 I_d)`` with mean second layer ``abar``; then the mean-field network is
``fbar(x) = abar E_g[sigma(<mu, x> + s |x| g)]`` and ``h(v) = E_x[fbar(x) sigma(<v, x>)]``,
``C = E_x[fbar(x)^2]`` (SPEC A3). Two derivations, each recorded step by step:

* :func:`homogeneous_isotropic` -- sigma positively homogeneous of degree n, ``mu = 0``:
  ``fbar(x) = abar s^n m |x|^n`` with ``m = E sigma(g)``; splitting ``x = r theta`` (``r ~ chi_d``)
  gives ``h(v) = abar s^n m^2 |v|^n E[r^(2n)] / E[r^n]`` and ``C = abar^2 s^(2n) m^2 E[r^(2n)]``,
  ``E[r^p] = 2^(p/2) Gamma((d + p)/2) / Gamma(d/2)``.
* :func:`polynomial_gaussian` -- sigma a polynomial, any ``mu``: ``fbar`` is a polynomial in
  ``<mu, x>`` and ``|x|^2``; writing ``x = alpha e_v + beta e_perp + x_rest`` (``e_v = v/|v|``,
  ``e_perp`` along the part of ``mu`` orthogonal to ``v``, ``|x_rest|^2 ~ chi^2_{d-2}``), every term is
  a product of Gaussian and chi-square moments, and ``h`` is a polynomial in ``|v|^2``, ``<mu, v>``,
  ``|mu|^2`` (and d, s, abar).

>>> from compverify.symbolic import get_activation
>>> mf = homogeneous_isotropic(get_activation("relu"))
>>> mf.h
sqrt(2)*abar*nv*s*gamma(d/2 + 1)/(2*pi*gamma(d/2 + 1/2))
>>> mf.C
abar**2*d*s**2/(2*pi)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.derivation import gaussian_moment, piecewise_homogeneous_form
from compverify.symbolic.steps import NV, DerivationStep, Z

__all__ = ["MeanField", "homogeneous_isotropic", "polynomial_gaussian", "D", "S", "ABAR", "VV",
           "MUV", "MM"]

#: dimension, scale, mean second layer; |v|^2, <mu, v>, |mu|^2
D = sympy.Symbol("d", positive=True)
S = sympy.Symbol("s", positive=True)
ABAR = sympy.Symbol("abar", real=True)
VV = sympy.Symbol("vv", nonnegative=True)
MUV = sympy.Symbol("muv", real=True)
MM = sympy.Symbol("mm", nonnegative=True)
_G = sympy.Symbol("g", real=True)
_T = sympy.Symbol("t", positive=True)


@dataclass(frozen=True)
class MeanField:
    """``h`` and ``C`` in closed form with the derivation steps.

    ``kind`` is ``"homogeneous-isotropic"`` (``h`` in ``nv = |v|``, d, s, abar) or
    ``"polynomial-gaussian"`` (``h`` in ``vv = |v|^2``, ``muv = <mu, v>``, ``mm = |mu|^2``, d, s,
    abar; ``C`` in mm, d, s, abar).
    """

    kind: str
    h: sympy.Expr
    C: sympy.Expr
    steps: tuple[DerivationStep, ...]
    degree: int | None = None


def _step(text: str, expr: sympy.Basic) -> DerivationStep:
    return DerivationStep.from_expr(text, expr)


def _chi_moment(p: sympy.Expr, dof: sympy.Expr) -> sympy.Expr:
    """``E[r^p]`` for ``r ~ chi_dof``."""
    p = sympy.Integer(p) if isinstance(p, int) else p
    return sympy.Integer(2) ** (p / 2) * sympy.gamma((dof + p) / 2) / sympy.gamma(dof / 2)


def _chi2_moment(j: int, dof: sympy.Expr) -> sympy.Expr:
    """``E[q^j]`` for ``q ~ chi^2_dof``: ``dof (dof + 2) ... (dof + 2j - 2)``."""
    return sympy.Mul(*[dof + 2 * i for i in range(j)])


@cache
def _homogeneous(expr: sympy.Expr) -> MeanField:
    form = piecewise_homogeneous_form(expr)
    if form is None:
        raise CompverifyError(f"activation {expr} is not positively homogeneous")
    n, alpha, beta = form
    phi = sympy.exp(-_T**2 / 2) / sympy.sqrt(2 * sympy.pi)
    m = sympy.simplify((alpha + beta) * sympy.integrate(_T**n * phi, (_T, 0, sympy.oo)))
    steps = [_step(f"sigma is positively homogeneous of degree {n}; its Gaussian mean "
                   "m = E sigma(g) = (alpha + beta) E[g_+^n]", sympy.Eq(sympy.Symbol("m"), m))]
    r = sympy.Symbol("r", positive=True)
    fbar = ABAR * S**n * m * r**n
    steps.append(_step("mu = 0: <w, x> ~ N(0, s^2 |x|^2), so fbar(x) = abar s^n m |x|^n "
                       "(written with r = |x|)", fbar))
    ern, er2n = _chi_moment(n, D), _chi_moment(2 * n, D)
    h = sympy.simplify(ABAR * S**n * m**2 * NV**n * er2n / ern)
    steps.append(_step("h(v) = E[fbar(x) sigma(<v, x>)]; with x = r theta, r ~ chi_d independent of "
                       "the direction theta, E_theta sigma(<v, theta>) = |v|^n m / E[r^n], so "
                       "h(v) = abar s^n m^2 |v|^n E[r^(2n)] / E[r^n]", h))
    C = sympy.simplify(ABAR**2 * S ** (2 * n) * m**2 * er2n)
    steps.append(_step("C = E[fbar(x)^2] = abar^2 s^(2n) m^2 E[r^(2n)]", C))
    return MeanField("homogeneous-isotropic", h, C, tuple(steps), degree=int(n))


def homogeneous_isotropic(activation) -> MeanField:
    """Closed-form ``h(v)`` (in ``nv = |v|``) and ``C`` for homogeneous sigma and ``mu = 0``."""
    return _homogeneous(activation.expr)


@cache
def _polynomial(expr: sympy.Expr) -> MeanField:
    if not expr.is_polynomial(Z):
        raise CompverifyError(f"activation {expr} is not a polynomial")
    al, be, q = sympy.symbols("alpha beta q", real=True)
    vn = sympy.Symbol("vn", positive=True)
    mv = sympy.Symbol("mu_v", real=True)
    mp = sympy.Symbol("mu_p", nonnegative=True)
    m_sym, t_sym = sympy.symbols("m tau", real=True)
    # fbar as a polynomial in m = <mu, x> and tau = s |x|: E_g sigma(m + tau g)
    poly_g = sympy.Poly(sympy.expand(expr.subs(Z, m_sym + t_sym * _G)), _G)
    fbar_mt = sympy.expand(sum(c * gaussian_moment(k) for (k,), c in poly_g.terms()))
    steps = [_step("fbar(x) = abar E_g sigma(m + tau g) with m = <mu, x>, tau = s |x|: replace g^k "
                   "by its moment", sympy.Eq(sympy.Symbol(r"\bar f") / ABAR, fbar_mt))]
    # only even powers of tau survive: tau^2 = s^2 |x|^2
    x2 = al**2 + be**2 + q
    fbar = ABAR * sympy.expand(fbar_mt.subs(m_sym, mv * al + mp * be)
                               .subs(t_sym, S * sympy.sqrt(x2)))
    if fbar.has(sympy.sqrt(x2)):
        raise CompverifyError("internal: odd power of |x| in fbar")  # cannot happen: g is symmetric

    def moments(poly_expr: sympy.Expr, dof: sympy.Expr) -> sympy.Expr:
        P = sympy.Poly(sympy.expand(poly_expr), al, be, q)
        return sympy.Add(*[c * gaussian_moment(i) * gaussian_moment(j) * _chi2_moment(k, dof)
                           for (i, j, k), c in P.terms()])

    steps.append(_text("Write x = alpha e_v + beta e_perp + x_rest with e_v = v/|v|, e_perp along the "
                       "part of mu orthogonal to v, q = |x_rest|^2 ~ chi^2_(d-2); then "
                       "<mu, x> = mu_v alpha + mu_p beta, |x|^2 = alpha^2 + beta^2 + q, "
                       "<v, x> = |v| alpha"))
    h_raw = moments(fbar * expr.subs(Z, vn * al), D - 2)
    steps.append(_step("h(v) = E[fbar(x) sigma(|v| alpha)]: Gaussian moments of alpha, beta and "
                       "chi-square moments of q", h_raw))
    # back to invariants: mu_v = <mu, v>/|v|, mu_p^2 = |mu|^2 - mu_v^2, |v| = sqrt(vv)
    h = h_raw.subs(mp**2, MM - mv**2)
    h = sympy.expand(h.subs(mv, MUV / vn))
    h = sympy.expand(h.subs(vn, sympy.sqrt(VV)))
    h = sympy.factor_terms(sympy.expand(h))
    steps.append(_step("Back to invariants: mu_v = <mu, v>/|v|, mu_p^2 = |mu|^2 - mu_v^2; h is a "
                       "polynomial in vv = |v|^2, muv = <mu, v>, mm = |mu|^2", h))
    # C = E[fbar(x)^2] with x = alpha e_mu + x_rest, |x_rest|^2 ~ chi^2_(d-1)
    fbar_c = fbar.subs({mp: 0, be: 0}).subs(mv, sympy.sqrt(MM))
    C = sympy.factor_terms(sympy.expand(moments(fbar_c**2, D - 1)))
    steps.append(_step("C = E[fbar(x)^2] along e_mu = mu/|mu| (q ~ chi^2_(d-1))", C))
    if h.free_symbols - {VV, MUV, MM, D, S, ABAR} or C.free_symbols - {MM, D, S, ABAR}:
        raise CompverifyError(f"internal: mean-field closed form did not reduce: {h}")
    return MeanField("polynomial-gaussian", h, C, tuple(steps))


def _text(description: str) -> DerivationStep:
    return DerivationStep(description=description, latex=r"\text{--}")


def polynomial_gaussian(activation) -> MeanField:
    """Closed-form ``h`` (in vv, muv, mm) and ``C`` (in mm) for polynomial sigma and any ``mu``."""
    return _polynomial(activation.expr)
