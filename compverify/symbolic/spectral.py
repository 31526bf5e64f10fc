"""Spectral forms of activations: ``sigma(z) = c0 + c1 z + int_0^inf p(w) (1 - cos(w z)) dw
+ int_0^inf q(w) sin(w z) dw`` (an even part with a cosine density ``p``, an odd part with a sine
density ``q``).

The form is what lets an expectation over weights with a *product law* (i.i.d. entries) be taken
coordinate by coordinate (:mod:`compverify.numeric.spectral`): with it the Gaussian expectation
``E_x sigma(<w, x>) sigma(<v, x>)`` becomes an integral over two frequencies of Gaussians in
``w1 w +- w2 v``, and a Gaussian in ``w`` factors over the coordinates of ``w``.

Derived from the SymPy expression:

* piecewise homogeneous of degree 1 (``sigma(t) = alpha t``, ``sigma(-t) = beta t`` for ``t > 0``):
  ``c1 = (alpha - beta)/2``, ``c2 = (alpha + beta)/2`` (relu, abs, leaky_relu);
* of degree 0: ``c0 = (alpha + beta)/2`` and ``(alpha - beta)/2 sign(z)`` (step, sign);
* of degree 2: ``c_square z^2 + c_zabs z|z|`` with ``c_square = (alpha + beta)/2``,
  ``c_zabs = (alpha - beta)/2`` (relu_power:2 = ``z^2/2 + z|z|/2``); ``z|z|`` has the regularised
  sine transform ``z|z| = (4/pi) int_0^inf (w z - sin(w z)) / w^3 dw`` (``int_0^inf (t - sin t)/t^3
  dt = pi/4``), its density ``q3(w) = c_zabs (4/pi)/w^3``;
* of degree ``n >= 3``: ``c_mono z^n + c_rho rho_n(z)`` with ``rho_n = |z|^n`` (n odd) or
  ``z |z|^(n-1)`` (n even), ``c_rho = (alpha + (-1)^(n+1) beta)/2``, ``c_mono = alpha - c_rho``
  (relu_power:n = ``(z^n + rho_n)/2``); ``rho_n`` has the regularised transform
  ``rho_n(z) = (1/I_n) int_0^inf F_n(w z) / w^(n+1) dw`` with ``F_n = cos - (its Taylor polynomial of
  degree n - 1)`` (n odd) or ``sin - (degree n - 1)`` (n even) and ``I_n = int_0^inf F_n(t) t^(-n-1)
  dt = (-1)^((n+1)/2) pi/(2 n!)`` (n odd), ``(-1)^(n/2) pi/(2 n!)`` (n even) (:func:`rho_norm`;
  analytic continuation of ``int t^(s-1) cos t dt = Gamma(s) cos(pi s/2)``);
* otherwise the expression rewritten in ``tanh`` and expanded must be a sum of a constant,
  ``c z``, odd atoms ``c tanh(l z)``, ``c erf(l z)`` and even atoms ``c z tanh(l z)``,
  ``c z erf(l z)`` (tanh, sigmoid = 1/2 + tanh(z/2)/2, erf, gelu = z/2 + z erf(z/sqrt2)/2,
  silu = z/2 + z tanh(z/2)/2).

The odd densities (Fourier sine transforms, ``l > 0``)::

    sign(z)    = int (2/pi) / w              sin(w z) dw
    tanh(l z)  = int 1 / (l sinh(pi w/(2 l))) sin(w z) dw
    erf(l z)   = int (2/pi) exp(-w^2/(4 l^2)) / w  sin(w z) dw

(``int_0^inf sin(a x)/sinh(b x) dx = pi/(2b) tanh(a pi/(2b))``; the erf line differentiates to
``(2/sqrt(pi)) exp(-l^2 z^2) l``.)  The even densities, ``p(w) = c2 (2/pi)/w^2`` for ``c2 |z|`` and
for an even atom ``z a(l z)`` with ``a(l z) = int q_a(w) sin(w z) dw`` the function ``-q_a'(w)``
(``z sin(w z) = -d/dw (cos(w z) - 1)``, then integration by parts)::

    |z|          = int (2/pi) / w^2                                   (1 - cos(w z)) dw
    z tanh(l z)  = int pi/(2 l^2) cosh(x) / sinh(x)^2, x = pi w/(2 l)  (1 - cos(w z)) dw
    z erf(l z)   = int (2/pi) exp(-w^2/(4 l^2)) (1/w^2 + 1/(2 l^2))    (1 - cos(w z)) dw

All three behave like ``(2/pi)/w^2`` at ``w -> 0`` (the activation grows like ``|z|``); the atoms'
densities decay exponentially, so (unlike ``|z|``) they add no ridge to the frequency integrand.
The tests check each against numerical integration.

>>> f = spectral_form(sympy.Max(0, Z))
>>> (f.c0, f.c1, f.c2, f.odd)
(0, 1/2, 1/2, ())
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.symbolic.derivation import piecewise_homogeneous_form
from compverify.symbolic.steps import Z

__all__ = ["SpectralForm", "spectral_form", "rho_norm"]

_KINDS = ("sign", "tanh", "erf")


@dataclass(frozen=True)
class SpectralForm:
    """``c0 + c1 z + c2 |z| + sum_i coef_i atom_i(lam_i z) + sum_k coef_k z atom_k(lam_k z)``
    ``+ c_square z^2 + c_zabs z|z|``, or ``c_mono z^n + c_rho rho_n(z)`` (``n = power_n >= 3``).

    ``odd`` holds ``(coef, kind, lam)`` of the odd atoms (kind sign, tanh or erf), ``even`` those
    of the even atoms ``z tanh(lam z)``, ``z erf(lam z)`` (kind tanh or erf).  The degree-2 part
    (``c_square``, ``c_zabs``) comes only alone: a piecewise homogeneous sigma of degree 2.
    """

    c0: sympy.Expr
    c1: sympy.Expr
    c2: sympy.Expr
    odd: tuple[tuple[sympy.Expr, str, sympy.Expr], ...]
    even: tuple[tuple[sympy.Expr, str, sympy.Expr], ...] = ()
    c_square: sympy.Expr = sympy.Integer(0)
    c_zabs: sympy.Expr = sympy.Integer(0)
    #: ``n >= 3`` for the form ``c_mono z^n + c_rho rho_n(z)`` (module docstring); 0 otherwise
    power_n: int = 0
    c_mono: sympy.Expr = sympy.Integer(0)
    c_rho: sympy.Expr = sympy.Integer(0)

    @property
    def has_power(self) -> bool:
        """Whether sigma has the degree-2 part ``c_square z^2 + c_zabs z|z|``."""
        return self.c_square != 0 or self.c_zabs != 0

    def q3(self, w: Any) -> np.ndarray:
        """The ``z|z|`` density ``q3(w) = c_zabs (4/pi)/w^3`` at ``w > 0`` (float64)."""
        w = np.asarray(w, dtype=float)
        return float(self.c_zabs) * (4 / math.pi) / w**3

    def q3_mp(self, w: mpmath.mpf) -> mpmath.mpf:
        """``q3(w)`` in mpmath at the caller's precision."""
        return _mpf(self.c_zabs) * 4 / (mpmath.pi * w**3)

    def power_coefficients_mp(self) -> tuple[mpmath.mpf, mpmath.mpf]:
        """``(c_square, c_zabs)`` in mpmath at the caller's precision."""
        return _mpf(self.c_square), _mpf(self.c_zabs)

    def power_coefficients_high_mp(self) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
        """``(c_mono, c_rho, c_rho / I_n)`` of the degree ``n >= 3`` form, in mpmath at the caller's
        precision."""
        return _mpf(self.c_mono), _mpf(self.c_rho), _mpf(self.c_rho / rho_norm(self.power_n))

    @property
    def has_even(self) -> bool:
        """Whether the even density ``p`` is nonzero (a ``|z|`` part or an even atom)."""
        return self.c2 != 0 or bool(self.even)

    def p(self, w: Any) -> np.ndarray:
        """The even density ``p(w)`` at ``w > 0`` (float64), ``|z|`` part included."""
        w = np.asarray(w, dtype=float)
        out = float(self.c2) * (2 / math.pi) / (w * w)
        for coef, kind, lam in self.even:
            c, lm = float(coef), float(lam)
            if kind == "tanh":
                # cosh(x)/sinh(x)^2 = 2 e^-x (1 + e^-2x) / (1 - e^-2x)^2, safe for large x
                x = math.pi * w / (2 * lm)
                e2 = np.exp(-2 * x)
                out = out + c * math.pi / (2 * lm * lm) * 2 * np.exp(-x) * (1 + e2) / np.expm1(-2 * x) ** 2
            else:
                gauss = np.exp(-w * w / (4 * lm * lm))
                out = out + c * (2 / math.pi) * gauss * (1 / (w * w) + 1 / (2 * lm * lm))
        return out

    def p_mp(self, w: mpmath.mpf, smooth_only: bool = False) -> mpmath.mpf:
        """``p(w)`` in mpmath at the caller's precision (``smooth_only``: without the ``|z|`` part)."""
        out = mpmath.mpf(0) if smooth_only else _mpf(self.c2) * 2 / (mpmath.pi * w * w)
        for coef, kind, lam in self.even:
            c, lm = _mpf(coef), _mpf(lam)
            if kind == "tanh":
                x = mpmath.pi * w / (2 * lm)
                out += c * mpmath.pi / (2 * lm * lm) * mpmath.cosh(x) / mpmath.sinh(x) ** 2
            else:
                gauss = mpmath.exp(-w * w / (4 * lm * lm))
                out += c * 2 / mpmath.pi * gauss * (1 / (w * w) + 1 / (2 * lm * lm))
        return out

    def q(self, w: Any) -> np.ndarray:
        """The odd density ``q(w)`` at ``w > 0`` (float64)."""
        w = np.asarray(w, dtype=float)
        out = np.zeros_like(w)
        for coef, kind, lam in self.odd:
            c, lm = float(coef), float(lam)
            if kind == "sign":
                out += c * (2 / math.pi) / w
            elif kind == "tanh":
                # 1/sinh(x) = 2 e^-x / (1 - e^-2x), safe for large x
                x = math.pi * w / (2 * lm)
                out += c * 2 * np.exp(-x) / (-np.expm1(-2 * x)) / lm
            else:
                out += c * (2 / math.pi) * np.exp(-w * w / (4 * lm * lm)) / w
        return out

    def coefficients_mp(self) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
        """``(c0, c1, c2)`` in mpmath at the caller's precision."""
        return _mpf(self.c0), _mpf(self.c1), _mpf(self.c2)

    def q_mp(self, w: mpmath.mpf) -> mpmath.mpf:
        """``q(w)`` in mpmath at the caller's precision."""
        out = mpmath.mpf(0)
        for coef, kind, lam in self.odd:
            c, lm = _mpf(coef), _mpf(lam)
            if kind == "sign":
                out += c * 2 / (mpmath.pi * w)
            elif kind == "tanh":
                out += c / (lm * mpmath.sinh(mpmath.pi * w / (2 * lm)))
            else:
                out += c * 2 / mpmath.pi * mpmath.exp(-w * w / (4 * lm * lm)) / w
        return out


def rho_norm(n: int) -> sympy.Expr:
    """``I_n = int_0^inf F_n(t) t^(-n-1) dt`` of the regularised transform of ``rho_n`` (module
    docstring): ``(-1)^((n+1)/2) pi/(2 n!)`` for odd ``n``, ``(-1)^(n/2) pi/(2 n!)`` for even ``n``.

    >>> rho_norm(3)
    pi/12
    """
    sign = (-1) ** ((n + 1) // 2) if n % 2 else (-1) ** (n // 2)
    return sign * sympy.pi / (2 * sympy.factorial(n))


def _mpf(x: sympy.Expr) -> mpmath.mpf:
    return _mpf_at(x, mpmath.mp.dps)


@functools.lru_cache(maxsize=256)
def _mpf_at(x: sympy.Expr, dps: int) -> mpmath.mpf:
    # cached: the densities are evaluated at every quadrature node, SymPy's evalf is slow
    with mpmath.workdps(dps + 10):
        return mpmath.mpf(sympy.N(x, dps + 10))


def _atom(term: sympy.Expr, factor: sympy.Expr) -> tuple[sympy.Expr, str, sympy.Expr] | None:
    """``term`` as ``coef factor atom(lam z)`` with atom tanh or erf and ``lam > 0``."""
    c, lam = sympy.Wild("c", exclude=[Z]), sympy.Wild("l", exclude=[Z])
    for kind, fn in (("tanh", sympy.tanh), ("erf", sympy.erf)):
        m = term.match(c * factor * fn(lam * Z))
        if m and m[lam] != 0 and m[c] != 0:
            coef, lm = m[c], m[lam]
            if not (coef.is_real and lm.is_real):
                return None
            if lm < 0:  # both atoms are odd (so z atom is even)
                coef, lm = -coef, -lm
            return coef, kind, lm
    return None


def spectral_form(expr: sympy.Expr) -> SpectralForm | None:
    """The spectral form of ``sigma`` (module docstring), or ``None`` if it has none here."""
    zero = sympy.Integer(0)
    ph = piecewise_homogeneous_form(expr)
    if ph is not None:
        n, alpha, beta = ph
        if n == 1:
            return SpectralForm(zero, (alpha - beta) / 2, (alpha + beta) / 2, ())
        if n == 0:
            odd = () if alpha == beta else (((alpha - beta) / 2, "sign", sympy.Integer(1)),)
            return SpectralForm((alpha + beta) / 2, zero, zero, odd)
        if n == 2:
            return SpectralForm(zero, zero, zero, (), (), c_square=(alpha + beta) / 2,
                                c_zabs=(alpha - beta) / 2)
        if n >= 3:
            # sigma(-t) = (-1)^n c_mono t^n + (-1)^(n+1) c_rho t^n for t > 0
            c_rho = (alpha + (-1) ** (n + 1) * beta) / 2
            return SpectralForm(zero, zero, zero, (), (), power_n=int(n), c_mono=alpha - c_rho,
                                c_rho=c_rho)
        return None
    rewritten = sympy.expand(sympy.simplify(expr.rewrite(sympy.tanh)))
    c0 = c1 = zero
    odd, even = [], []
    for term in sympy.Add.make_args(rewritten):
        if not term.has(Z):
            c0 += term
            continue
        coef = term.coeff(Z, 1)
        if coef != 0 and not coef.has(Z) and sympy.simplify(term - coef * Z) == 0:
            c1 += coef
            continue
        atom = _atom(term, sympy.Integer(1))
        if atom is not None:
            odd.append(atom)
            continue
        atom = _atom(term, Z)
        if atom is None:
            return None
        even.append(atom)
    if not odd and not even and c1 == 0:
        return None
    if odd and c1 != 0:
        # the linear x odd cross terms are not implemented; no registry activation has both
        return None
    return SpectralForm(c0, c1, zero, tuple(odd), tuple(even))
