r"""Absolute moments ``E|w|^p`` of scalar weight laws, derived with SymPy (SPEC Part B).

For ``0 < p`` the absolute moment of a symmetric law with density ``f`` is
``E|w|^p = 2 int_0^oo x^p f(x) dx``; an atom contributes its mass times ``|atom|^p``.  The laws,
each in its standard scale (the PQ index is scale free, so the scale does not matter for it):

========================  ==================================  =====================================
law (spec)                 density / definition                ``E|w|^p`` (derived, ``p`` symbolic)
========================  ==================================  =====================================
``gaussian``               ``N(0, 1)``                          ``2^(p/2) Gamma((p+1)/2) / sqrt(pi)``
``laplace``                ``exp(-|x|) / 2``                    ``Gamma(p + 1)``
``uniform``                uniform on ``[-1, 1]``               ``1 / (p + 1)``
``rademacher``             ``+-1`` with probability 1/2 each    ``1``
``student-t:NU``           Student t with ``NU`` degrees        ``NU^(p/2) Gamma((p+1)/2) Gamma((NU-p)/2)
                                                                / (sqrt(pi) Gamma(NU/2))``, ``p < NU``
``bernoulli-gaussian:PI``  ``w = B g``, ``B ~ Bernoulli(PI)``   ``PI 2^(p/2) Gamma((p+1)/2) / sqrt(pi)``
========================  ==================================  =====================================

The right column is what the derivation returns (the tests compare it with mpmath quadrature at a
second precision, never with this table).  The population limit of the PQ index of ``n`` i.i.d.
entries (:func:`population_one_minus_index`) follows from the law of large numbers:
``||w||_p / n^(1/p) -> (E|w|^p)^(1/p)``, so
``1 - I_{p,q}(w) = n^(1/q - 1/p) ||w||_p / ||w||_q -> (E|w|^p)^(1/p) / (E|w|^q)^(1/q)``.

>>> law = get_law("laplace")
>>> law.abs_moment
gamma(p + 1)
>>> mpmath.nstr(population_one_minus_index("gaussian", "0.5", "1", dps=20).value, 15)
'0.847213084793979'
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from compverify.errors import CompverifyError
from compverify.validate import check_dps

__all__ = ["Law", "LAWS", "get_law", "parse_exponent", "fraction_str", "PopulationIndex",
           "population_one_minus_index", "abs_moment_mp"]

#: The exponent symbol of :attr:`Law.abs_moment`.
P = sp.Symbol("p", positive=True)
_X = sp.Symbol("x", positive=True)


def parse_exponent(value: Any, name: str) -> Fraction:
    """``value`` (a decimal string, int, float or Fraction) as an exact positive :class:`Fraction`.

    A float is read as the binary number it holds; a string as the decimal it spells (``"0.1"`` is
    exactly 1/10).  Raises :class:`CompverifyError` naming ``name`` for anything else.

    >>> parse_exponent("0.5", "p")
    Fraction(1, 2)
    """
    if isinstance(value, Fraction):
        out = value
    elif isinstance(value, bool):
        raise CompverifyError(f"{name} must be a real number, got {value!r}")
    else:
        try:
            out = Fraction(str(value).strip()) if isinstance(value, str) else Fraction(value)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            raise CompverifyError(f"{name} must be a real number, got {value!r}") from None
    return out


def fraction_str(x: Fraction) -> str:
    """A fraction as a decimal string when it has a finite one (``"0.5"``), else ``"n/d"``.

    >>> fraction_str(Fraction(1, 2)), fraction_str(Fraction(1, 3)), fraction_str(Fraction(2))
    ('0.5', '1/3', '2')
    """
    d = x.denominator
    k2 = k5 = 0
    while d % 2 == 0:
        d //= 2
        k2 += 1
    while d % 5 == 0:
        d //= 5
        k5 += 1
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    k = max(k2, k5)
    if k == 0:
        return str(x.numerator)
    from decimal import Decimal

    return str(Decimal(x.numerator * 10 ** k // x.denominator).scaleb(-k))


def _rat(x: Fraction) -> sp.Rational:
    return sp.Rational(x.numerator, x.denominator)


@dataclass(frozen=True)
class Law:
    """A symmetric scalar law: its spec, parameter, derived ``E|w|^p`` and a sampler.

    ``abs_moment`` is a SymPy expression in the symbol ``p`` (:data:`P`); ``derivation`` records
    how it was obtained; ``max_p`` is the supremum of the exponents with a finite moment
    (``NU`` for Student t, ``oo`` otherwise).
    """

    spec: str
    name: str
    parameter: Fraction | None
    density: sp.Expr | None
    abs_moment: sp.Expr
    derivation: str
    max_p: Any

    def moment_mp(self, p: Any, dps: int) -> mpmath.mpf:
        """``E|w|^p`` at ``dps`` digits (``p`` exact: a Fraction or decimal string)."""
        return abs_moment_mp(self, p, dps)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent draws (float64)."""
        if self.name == "gaussian":
            return rng.standard_normal(n)
        if self.name == "laplace":
            return rng.laplace(size=n)
        if self.name == "uniform":
            return rng.uniform(-1.0, 1.0, size=n)
        if self.name == "rademacher":
            return rng.choice([-1.0, 1.0], size=n)
        if self.name == "student-t":
            return rng.standard_t(float(self.parameter), size=n)
        if self.name == "bernoulli-gaussian":
            return (rng.random(n) < float(self.parameter)) * rng.standard_normal(n)
        raise AssertionError(self.name)  # pragma: no cover


def _check_density_moment(expr: sp.Expr, spec: str) -> sp.Expr:
    if expr.has(sp.Integral, sp.Piecewise, sp.Sum):
        raise CompverifyError(f"SymPy did not resolve E|w|^p for {spec!r}: {expr}")
    return sp.simplify(expr)


def _from_density(density: sp.Expr, spec: str, upper: Any = sp.oo) -> sp.Expr:
    """``2 int_0^upper x^p f(x) dx`` (symmetric law), conditions dropped (checked by the caller)."""
    return _check_density_moment(sp.integrate(2 * _X ** P * density, (_X, 0, upper),
                                              conds="none"), spec)


@cache
def _gaussian() -> tuple[sp.Expr, sp.Expr]:
    dens = sp.exp(-_X ** 2 / 2) / sp.sqrt(2 * sp.pi)
    return dens, _from_density(dens, "gaussian")


@cache
def _build(spec: str) -> Law:
    name, _, arg = spec.partition(":")
    name = name.strip().lower().replace("_", "-")
    arg = arg.strip()
    if name in ("gaussian", "laplace", "uniform", "rademacher") and arg:
        raise CompverifyError(f"law {name!r} takes no parameter, got {spec!r}")
    if name == "gaussian":
        dens, mom = _gaussian()
        return Law("gaussian", name, None, dens, mom,
                   "2 int_0^oo x^p exp(-x^2/2)/sqrt(2 pi) dx (SymPy)", sp.oo)
    if name == "laplace":
        dens = sp.exp(-_X) / 2
        return Law("laplace", name, None, dens, _from_density(dens, spec),
                   "2 int_0^oo x^p exp(-x)/2 dx (SymPy)", sp.oo)
    if name == "uniform":
        dens = sp.Rational(1, 2)
        return Law("uniform", name, None, dens, _from_density(dens, spec, 1),
                   "2 int_0^1 x^p / 2 dx (SymPy)", sp.oo)
    if name == "rademacher":
        mom = sp.simplify(sp.Rational(1, 2) * sp.Abs(-1) ** P + sp.Rational(1, 2) * sp.Abs(1) ** P)
        return Law("rademacher", name, None, None, mom,
                   "(|-1|^p + |1|^p)/2 (two atoms)", sp.oo)
    if name in ("student-t", "bernoulli-gaussian"):
        if not arg:
            what = "NU (degrees of freedom)" if name == "student-t" else "PI (probability)"
            raise CompverifyError(f"law {name!r} needs a parameter {what}: {name}:VALUE, "
                                  f"got {spec!r}")
        val = parse_exponent(arg, f"the parameter of {name}")
        if name == "student-t":
            if val <= 0:
                raise CompverifyError(f"student-t needs NU > 0, got {arg!r}")
            nu = _rat(val)
            dens = (sp.gamma((nu + 1) / 2) / (sp.sqrt(nu * sp.pi) * sp.gamma(nu / 2))
                    * (1 + _X ** 2 / nu) ** (-(nu + 1) / 2))
            # integrate with a symbolic NU (fast, one Beta integral), then substitute
            nus = sp.Symbol("nu", positive=True)
            dens_s = (sp.gamma((nus + 1) / 2) / (sp.sqrt(nus * sp.pi) * sp.gamma(nus / 2))
                      * (1 + _X ** 2 / nus) ** (-(nus + 1) / 2))
            mom = _student_moment(nus, dens_s).subs(nus, nu)
            # no simplify after substituting: it trades the Gammas for 0/0 forms at odd p
            return Law(f"student-t:{arg}", name, val, dens, mom,
                       "2 int_0^oo x^p f_nu(x) dx (SymPy, a Beta integral; finite for p < nu)",
                       nu)
        if not (0 < val <= 1):
            raise CompverifyError(f"bernoulli-gaussian needs PI in (0, 1], got {arg!r}")
        _, gmom = _gaussian()
        pi = _rat(val)
        # mixture: (1 - PI) delta_0 + PI N(0, 1); |0|^p = 0 for p > 0
        mom = sp.simplify((1 - pi) * sp.Integer(0) ** P + pi * gmom)
        return Law(f"bernoulli-gaussian:{arg}", name, val, None, mom,
                   "(1 - pi) |0|^p + pi E|g|^p, g ~ N(0, 1) (mixture; |0|^p = 0 for p > 0)",
                   sp.oo)
    raise CompverifyError(f"unknown law {spec!r}; expected one of {', '.join(LAWS)}")


@cache
def _student_moment(nus: sp.Symbol, dens: sp.Expr) -> sp.Expr:
    return _from_density(dens, "student-t")


#: Law specs accepted by :func:`get_law` (NU, PI: a number).
LAWS = ("gaussian", "laplace", "uniform", "rademacher", "student-t:NU", "bernoulli-gaussian:PI")


def get_law(spec: str) -> Law:
    """The :class:`Law` of a spec (``gaussian``, ``student-t:3``, ``bernoulli-gaussian:0.1``...).

    Derivations are cached per spec.  Unknown specs and bad parameters raise
    :class:`CompverifyError` naming them.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise CompverifyError(f"law must be a non-empty string, got {spec!r}")
    return _build(spec.strip())


def abs_moment_mp(law: Law | str, p: Any, dps: int) -> mpmath.mpf:
    """``E|w|^p`` of ``law`` at ``dps`` digits, from the derived expression (exact ``p``).

    >>> abs_moment_mp("uniform", "1", 15)
    mpf('0.5')
    """
    law = get_law(law) if isinstance(law, str) else law
    dps = check_dps(dps)
    pe = parse_exponent(p, "p")
    if pe <= 0:
        raise CompverifyError(f"p must be > 0, got {p!r}")
    if law.max_p is not sp.oo and _rat(pe) >= law.max_p:
        raise CompverifyError(f"E|w|^p of {law.spec} is infinite for p = {p} >= nu = {law.max_p}")
    expr = law.abs_moment.subs(P, _rat(pe))
    with mpmath.workdps(dps + 10):
        val = sp.N(expr, dps + 10)
        out = mpmath.mpf(sp.Float(val, dps + 10)._mpf_) if val != 0 else mpmath.mpf(0)
    with mpmath.workdps(dps):
        return +out


@dataclass(frozen=True)
class PopulationIndex:
    """``1 - I_{p,q}`` in the population limit: value at ``dps`` digits with its evidence.

    ``value = (E|w|^p)^(1/p) / (E|w|^q)^(1/q)``; ``check_value`` the same at ``check_dps``;
    ``verified_digits`` the significant digits on which the two agree (at most ``dps``).
    """

    law: str
    p: Fraction
    q: Fraction
    dps: int
    value: mpmath.mpf
    moment_p: mpmath.mpf
    moment_q: mpmath.mpf
    check_dps: int
    check_value: mpmath.mpf
    verified_digits: int
    formula: str

    def to_dict(self) -> dict:
        from compverify.io import mp_to_str

        return {"law": self.law, "p": fraction_str(self.p), "q": fraction_str(self.q),
                "dps": self.dps,
                "population_one_minus_index": mp_to_str(self.value, self.dps),
                "population_index": mp_to_str(1 - self.value, self.dps),
                "moment_p": mp_to_str(self.moment_p, self.dps),
                "moment_q": mp_to_str(self.moment_q, self.dps),
                "check_dps": self.check_dps, "verified_digits": self.verified_digits,
                "formula": self.formula}


def agreeing_digits(x: mpmath.mpf, y: mpmath.mpf, cap: int) -> int:
    """Significant digits on which ``x`` and ``y`` agree (``cap`` when they are equal)."""
    with mpmath.workdps(cap + 20):
        if x == y:
            return cap
        scale = max(abs(x), abs(y))
        if scale == 0:
            return cap
        rel = abs(x - y) / scale
        return max(0, min(cap, int(mpmath.floor(-mpmath.log10(rel)))))


def check_pq(p: Any, q: Any) -> tuple[Fraction, Fraction]:
    """``(p, q)`` as exact fractions with ``0 < p < q``, or :class:`CompverifyError`."""
    pe, qe = parse_exponent(p, "p"), parse_exponent(q, "q")
    if pe <= 0:
        raise CompverifyError(f"p must be > 0, got {p}")
    if pe >= qe:
        raise CompverifyError(f"p must be < q, got p = {p} and q = {q}")
    return pe, qe


def population_one_minus_index(law: Law | str, p: Any, q: Any, dps: int = 30) -> PopulationIndex:
    """``lim_n (1 - I_{p,q})`` for i.i.d. entries of ``law`` at ``dps`` digits, checked at
    ``dps + 10``.

    >>> r = population_one_minus_index("rademacher", "0.5", "1", dps=15)
    >>> r.value, r.verified_digits
    (mpf('1.0'), 15)
    """
    law = get_law(law) if isinstance(law, str) else law
    dps = check_dps(dps)
    pe, qe = check_pq(p, q)

    def at(prec: int) -> tuple:
        mp_, mq = abs_moment_mp(law, pe, prec + 5), abs_moment_mp(law, qe, prec + 5)
        with mpmath.workdps(prec + 5):
            inv_p = mpmath.mpf(pe.denominator) / pe.numerator
            inv_q = mpmath.mpf(qe.denominator) / qe.numerator
            val = mp_ ** inv_p / mq ** inv_q
        with mpmath.workdps(prec):
            return +val, +mp_, +mq

    val, mp_, mq = at(dps)
    check = dps + 10
    cval, _, _ = at(check)
    return PopulationIndex(law.spec, pe, qe, dps, val, mp_, mq, check, cval,
                           agreeing_digits(val, cval, dps),
                           "(E|w|^p)^(1/p) / (E|w|^q)^(1/q)")
