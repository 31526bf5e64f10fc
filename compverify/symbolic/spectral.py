"""Spectral forms of activations: ``sigma(z) = c0 + c1 z + c2 |z| + int_0^inf q(w) sin(w z) dw``.

The form is what lets an expectation over weights with a *product law* (i.i.d. entries) be taken
coordinate by coordinate (:mod:`compverify.numeric.spectral`): with it the Gaussian expectation
``E_x sigma(<w, x>) sigma(<v, x>)`` becomes an integral over two frequencies of Gaussians in
``w1 w +- w2 v``, and a Gaussian in ``w`` factors over the coordinates of ``w``.

Derived from the SymPy expression:

* piecewise homogeneous of degree 1 (``sigma(t) = alpha t``, ``sigma(-t) = beta t`` for ``t > 0``):
  ``c1 = (alpha - beta)/2``, ``c2 = (alpha + beta)/2`` (relu, abs, leaky_relu);
* of degree 0: ``c0 = (alpha + beta)/2`` and ``(alpha - beta)/2 sign(z)`` (step, sign);
* otherwise the expression rewritten in ``tanh`` and expanded must be a sum of a constant,
  ``c z``, ``c tanh(l z)`` and ``c erf(l z)`` terms (tanh, sigmoid = 1/2 + tanh(z/2)/2, erf).

The odd densities (Fourier sine transforms, ``l > 0``)::

    sign(z)    = int (2/pi) / w              sin(w z) dw
    tanh(l z)  = int 1 / (l sinh(pi w/(2 l))) sin(w z) dw
    erf(l z)   = int (2/pi) exp(-w^2/(4 l^2)) / w  sin(w z) dw

(``int_0^inf sin(a x)/sinh(b x) dx = pi/(2b) tanh(a pi/(2b))``; the erf line differentiates to
``(2/sqrt(pi)) exp(-l^2 z^2) l``.)  The tests check each against numerical integration.

>>> f = spectral_form(sympy.Max(0, Z))
>>> (f.c0, f.c1, f.c2, f.odd)
(0, 1/2, 1/2, ())
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.symbolic.derivation import piecewise_homogeneous_form
from compverify.symbolic.steps import Z

__all__ = ["SpectralForm", "spectral_form"]

_KINDS = ("sign", "tanh", "erf")


@dataclass(frozen=True)
class SpectralForm:
    """``c0 + c1 z + c2 |z| + sum_i coef_i atom_i(lam_i z)``; ``odd`` holds ``(coef, kind, lam)``."""

    c0: sympy.Expr
    c1: sympy.Expr
    c2: sympy.Expr
    odd: tuple[tuple[sympy.Expr, str, sympy.Expr], ...]

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


def _mpf(x: sympy.Expr) -> mpmath.mpf:
    return mpmath.mpf(sympy.Float(x, mpmath.mp.dps + 10))


def _odd_atom(term: sympy.Expr) -> tuple[sympy.Expr, str, sympy.Expr] | None:
    c, lam = sympy.Wild("c", exclude=[Z]), sympy.Wild("l", exclude=[Z])
    for kind, fn in (("tanh", sympy.tanh), ("erf", sympy.erf)):
        m = term.match(c * fn(lam * Z))
        if m and m[lam] != 0 and m[c] != 0:
            coef, lm = m[c], m[lam]
            if not (coef.is_real and lm.is_real):
                return None
            if lm < 0:  # both atoms are odd
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
        return None
    rewritten = sympy.expand(sympy.simplify(expr.rewrite(sympy.tanh)))
    c0 = c1 = zero
    odd = []
    for term in sympy.Add.make_args(rewritten):
        if not term.has(Z):
            c0 += term
            continue
        coef = term.coeff(Z, 1)
        if coef != 0 and not coef.has(Z) and sympy.simplify(term - coef * Z) == 0:
            c1 += coef
            continue
        atom = _odd_atom(term)
        if atom is None:
            return None
        odd.append(atom)
    if not odd and c1 == 0:
        return None
    if odd and c1 != 0:
        # the linear x odd cross terms are not implemented; no registry activation has both
        return None
    return SpectralForm(c0, c1, zero, tuple(odd))
