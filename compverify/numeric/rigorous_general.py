r"""Ball-arithmetic evaluation of the reduced objective for polynomial activations and finite targets.

The centred isotropic case with a positively homogeneous activation is
:mod:`compverify.numeric.rigorous_objective` (there ``L*`` depends on the Gram matrix only).  Here
the general reduced objective of SPEC A3 is enclosed::

    L*(W) = C - h(W)' K(W)^-1 h(W),      r = L*/C,

``K_jk = kappa(w_j, w_k) = E[sigma(<w_j, x>) sigma(<w_k, x>)]``, ``h_j = E[f(x) sigma(<w_j, x>)]``,
``C = E[f(x)^2]``, ``x ~ N(0, I_d)``, for

* a **polynomial** activation ``sigma(z) = sum_k c_k z^k``: ``kappa(u, v) = sum c_j c_k E[(u.x)^j
  (v.x)^k]`` is a polynomial in ``(|u|^2, |v|^2, <u, v>)`` with rational coefficients (the
  symbolic layer's closed form in ``(nu, nv, rho)`` with ``rho = <u, v>/(nu nv)``, expanded), so
  it is evaluated exactly up to the balls' rounding;
* a positively homogeneous activation of :data:`~compverify.numeric.rigorous_objective.SUPPORTED`
  on **unit** rows: ``kappa(u, v) = k(<u, v>)`` (the unit kernel there), and for a target row
  ``v``: ``kappa(v, u) = |v|^n k(<v, u>/|v|)``.

Targets:

* ``finite``: ``f(x) = sum_i a_i sigma(<v_i, x>)`` with exact (dyadic) ``v_i``, ``a_i``: the cross
  terms ``h_j = sum_i a_i kappa(v_i, w_j)`` are kernel evaluations, and
  ``C = a' K(V, V) a`` is enclosed once;
* ``gaussian`` with a polynomial activation: ``w ~ N(mu, s^2 I_d)``, ``abar``; ``h`` is the
  polynomial in ``|w|^2, <mu, w>, |mu|^2`` of :func:`compverify.symbolic.meanfield.polynomial_gaussian`
  and ``C`` its polynomial in ``|mu|^2``, with ``d, s, abar`` substituted exactly.  The objective
  is invariant under the rotations fixing ``mu``, so it is written in a frame where
  ``mu = |mu| e_1`` (``<mu, w> = |mu| w_1``): only ``|mu|^2`` enters, and it is kept exact.

A homogeneous activation with a Gaussian target of nonzero mean is refused: its ``h`` is the
series of :mod:`compverify.numeric.meanfield_series`, whose tail bound covers the value of the
series but not its first and second derivatives (which a proof needs), and whose terms are
mpmath values, not ball enclosures.

Charts (coordinates ``x`` of the quotient by the continuous symmetries; :func:`chart_shape`):

* ``sphere``: every row a unit vector with ``d - 1`` hyperspherical angles (``u = (cos p_1,
  sin p_1 cos p_2, ..., sin p_1 ... sin p_(d-1))``), ``M (d - 1)`` coordinates: homogeneous
  activation, finite target (the neuron rescaling is eliminated with the coefficients; a finite
  target has no rotation symmetry);
* ``lower:o``: row ``j`` (from 0) has free entries in columns ``0 .. min(j + o, d - 1)``, the rest
  0: ``o = 0`` for a centred Gaussian target (invariant under ``O(d)``: every ``W`` is rotated into
  this form by an LQ factorisation), ``o = 1`` for a Gaussian target with mean (the rotations
  fixing ``e_1`` act on columns ``1..d-1``), ``o = d`` (all ``M d`` entries) for a finite target.

Derivatives: second-order forward jets (:class:`~compverify.numeric.rigorous_objective.Jet`)
through the chart, the kernel and ``h``; then with ``w = K^-1 h``, ``f = h' K^-1 h``::

    f_a  = 2 h_a' w - w' K_a w,
    f_ab = 2 h_ab' w - w' K_ab w + 2 (h_a - K_a w)' K^-1 (h_b - K_b w),

and ``L* = C - f`` (derived by differentiating ``K w = h``).

>>> import flint
>>> obj = GeneralObjective("polynomial:0,1,1", 2, 1, {"family": "finite", "V": [["1", "0"]],
...                                                 "a": ["1"]}, "lower:2")
>>> with flint.ctx.workprec(128):
...     r, _, _ = obj.derivatives([flint.arb(1), flint.arb(0)], order=1)
>>> abs(float(r.mid())) < 1e-30     # the student equals the target
True
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import Any

import sympy
from flint import arb, arb_mat

from compverify.errors import CompverifyError
from compverify.numeric import rigorous_objective as ro
from compverify.numeric.rigorous_objective import Jet, _cos, _dot, _sin

__all__ = ["GeneralObjective", "polynomial_kernel_terms", "chart_shape", "exact", "is_polynomial"]

_UU, _VV, _UV = sympy.symbols("uu vv uv")


def exact(text: Any, what: str) -> Fraction:
    """An exact rational from a decimal or ``p/q`` string (a float's exact value for a float)."""
    try:
        return Fraction(text) if not isinstance(text, float) else Fraction(text)
    except (ValueError, ZeroDivisionError, TypeError):
        raise CompverifyError(f"{what} {text!r} is not a number") from None


def _ball(q: Fraction) -> arb:
    return arb(q.numerator) / q.denominator


def is_polynomial(spec: str) -> bool:
    """Whether ``spec`` names a polynomial activation (``polynomial:c0,c1,...``)."""
    return str(spec).strip().startswith("polynomial:")


@cache
def polynomial_kernel_terms(spec: str) -> tuple[tuple[int, int, int, Fraction], ...]:
    """``kappa(u, v) = sum c uu^a vv^b uv^e`` as terms ``(a, b, e, c)`` for a polynomial sigma.

    From the symbolic layer's closed form in ``(nu, nv, rho)``: ``rho = uv/(nu nv)``, expanded;
    every power of ``nu`` and ``nv`` left is even (``E[(u.x)^j (v.x)^k]`` has ``rho^l`` with
    ``l = j = k mod 2``), so ``nu^2 = uu``, ``nv^2 = vv``.
    """
    from compverify.symbolic import get_activation
    from compverify.symbolic.steps import NU, NV, RHO

    act = get_activation(spec)
    if not act.expr.is_polynomial(sympy.Symbol("z", real=True)):
        raise CompverifyError(f"activation {spec!r} is not a polynomial")
    e = sympy.expand(sympy.nsimplify(act.kernel.expr, rational=True).subs(RHO, _UV / (NU * NV)))
    P = sympy.Poly(e, NU, NV, _UV)
    terms = []
    for (a, b, c), coef in P.terms():
        if a % 2 or b % 2 or not coef.is_Rational:
            raise CompverifyError(f"internal: the kernel of {spec!r} is not a polynomial in "
                                  "|u|^2, |v|^2, <u, v>")
        terms.append((a // 2, b // 2, c, Fraction(int(coef.p), int(coef.q))))
    return tuple(terms)


def _pow(x: Any, e: int) -> Any:
    out: Any = None
    for _ in range(e):
        out = x if out is None else out * x
    return arb(1) if out is None else out


def _poly3(terms: Sequence[tuple[int, int, int, Any]], uu: Any, vv: Any, uv: Any) -> Any:
    acc: Any = arb(0)
    for a, b, c, coef in terms:
        t = _pow(uu, a) * _pow(vv, b) * _pow(uv, c)
        acc = acc + t * (coef if isinstance(coef, arb) else _ball(coef))
    return acc


def chart_shape(chart: str, d: int, M: int) -> list[list[bool]]:
    """Which entries of ``W`` (``M x d``) are free coordinates, for the ``lower:o`` charts."""
    if not chart.startswith("lower:"):
        raise CompverifyError(f"chart {chart!r} has no entry pattern")
    o = int(chart.split(":", 1)[1])
    return [[c <= min(j + o, d - 1) for c in range(d)] for j in range(M)]


class GeneralObjective:
    """``r = L*/C`` with value, gradient and Hessian as balls in a chart's coordinates.

    ``target``: ``{"family": "finite", "V": rows of exact numbers (strings), "a": [...]}`` or
    ``{"family": "gaussian", "mean_norm_squared": "p/q", "scale": "1/sqrt(d)" | decimal,
    "abar": decimal}`` (polynomial activations).  ``chart``: ``sphere`` or ``lower:o``.
    """

    def __init__(self, spec: str, d: int, M: int, target: dict, chart: str) -> None:
        self.spec, self.d, self.M, self.chart = str(spec), int(d), int(M), str(chart)
        self.poly = is_polynomial(self.spec)
        if not self.poly:
            ro.parse_activation(self.spec)  # raises for an unsupported activation
            self.n_deg = ro.degree(self.spec)
        if not (1 <= self.d <= 64 and 1 <= self.M <= 64):
            raise CompverifyError(f"d = {d}, M = {M} out of range for a proof")
        fam = target.get("family")
        self.family = fam
        if fam == "finite":
            V, a = target["V"], target["a"]
            if (not isinstance(V, list) or not V or any(not isinstance(r, list) or len(r) != self.d
                                                         for r in V) or len(a) != len(V)):
                raise CompverifyError(f"finite target: V must be N rows of d = {d} numbers and a "
                                      "N numbers")
            self.V = [[exact(x, "target weight") for x in r] for r in V]
            self.a = [exact(x, "target coefficient") for x in a]
        elif fam == "gaussian":
            if not self.poly:
                raise CompverifyError(
                    f"no proof for {spec!r} with a Gaussian target of nonzero mean: its h is the "
                    "series of numeric/meanfield_series, whose tail bound covers the value but "
                    "not the derivatives a proof needs, and whose terms are mpmath values, not "
                    "ball enclosures")
            self.mm = exact(target["mean_norm_squared"], "mean_norm_squared")
            if self.mm < 0:
                raise CompverifyError("mean_norm_squared must be >= 0")
            self.scale_text = str(target["scale"])
            self.abar = exact(target["abar"], "abar")
        else:
            raise CompverifyError(f"target family {fam!r}: proofs here cover finite and gaussian")
        if self.chart == "sphere":
            if self.poly or fam != "finite":
                raise CompverifyError("the sphere chart is for a homogeneous activation with a "
                                      "finite target")
            self.n = self.M * (self.d - 1)
        elif self.chart.startswith("lower:"):
            try:
                o = int(self.chart.split(":", 1)[1])
            except ValueError:
                raise CompverifyError(f"chart {chart!r} unknown") from None
            if not self.poly:
                raise CompverifyError("lower charts are for polynomial activations")
            need = 0 if fam == "gaussian" and self.mm == 0 else (1 if fam == "gaussian" else self.d)
            if o != need:
                raise CompverifyError(f"chart {chart!r} does not match the target's symmetry "
                                      f"(lower:{need})")
            self.n = sum(sum(r) for r in chart_shape(self.chart, self.d, self.M))
        else:
            raise CompverifyError(f"chart {chart!r} unknown")
        if self.poly:
            self.kterms = polynomial_kernel_terms(self.spec)
        self._consts: dict[int, Any] = {}

    # ------------------------------------------------------------ constants (per precision)

    def _constants(self) -> dict:
        import flint

        prec = flint.ctx.prec
        if prec in self._consts:
            return self._consts[prec]
        c: dict[str, Any] = {}
        if self.family == "finite":
            Vb = [[_ball(x) for x in r] for r in self.V]
            c["V"] = Vb
            c["a"] = [_ball(x) for x in self.a]
            if self.poly:
                c["vv"] = [_dot(r, r) for r in Vb]
            else:
                c["vnorm"] = [_dot(r, r).sqrt() for r in Vb]
            N = len(Vb)
            C = arb(0)
            for i in range(N):
                for k in range(N):
                    C += c["a"][i] * c["a"][k] * self._kappa_target(c, i, Vb[k], None, k)
            c["C"] = C
        else:
            from compverify.symbolic import ball, get_activation, meanfield

            mf = meanfield.polynomial_gaussian(get_activation(self.spec))
            s = (1 / sympy.sqrt(sympy.Integer(self.d)) if self.scale_text == "1/sqrt(d)"
                 else sympy.Rational(str(exact(self.scale_text, "scale"))))
            sub = {meanfield.D: self.d, meanfield.S: s, meanfield.MM: sympy.Rational(
                self.mm.numerator, self.mm.denominator), meanfield.ABAR: sympy.Rational(
                self.abar.numerator, self.abar.denominator)}

            def const(e: sympy.Expr) -> arb:
                return ball.compile_ball(e)(arb(0), arb(0), arb(0))

            hpoly = sympy.Poly(sympy.expand(mf.h.subs(sub)), meanfield.VV, meanfield.MUV)
            c["hterms"] = [(i, 0, j, const(coef)) for (i, j), coef in hpoly.terms()]
            c["C"] = const(sympy.expand(mf.C.subs(sub)))
            c["mu"] = _ball(self.mm).sqrt()
        if not c["C"] > 0:
            raise CompverifyError("C = E f^2 is not proved positive: no relative loss")
        self._consts[prec] = c
        return c

    def _kappa_target(self, c: dict, i: int, w: Sequence[Any], ww: Any, k: int | None = None
                      ) -> Any:
        """``kappa(v_i, w)`` (``w`` a row of balls or jets, ``ww = |w|^2``; ``k`` when ``w`` is the
        target row ``v_k``)."""
        vi = c["V"][i]
        uv = _dot(vi, w)
        if self.poly:
            return _poly3(self.kterms, c["vv"][i], c["vv"][k] if k is not None else ww, uv)
        ni = c["vnorm"][i]
        n = self.n_deg
        if k is not None and k == i:  # |v|^(2n) k(1): exact (k(rho) near rho = 1 loses bits)
            return _pow(uv, n) * ro.kernel(self.spec, arb(1))
        if k is not None:  # both target rows
            nk = c["vnorm"][k]
            if not (ni > 0 and nk > 0):
                raise ZeroDivisionError("a target row is zero")
            return _pow(ni * nk, n) * ro.kernel(self.spec, uv / (ni * nk))
        if not ni > 0:
            raise ZeroDivisionError("a target row is zero")
        return _pow(ni, n) * ro.kernel(self.spec, uv / ni)  # |w| = 1 on the sphere chart

    # ------------------------------------------------------------ chart

    def rows(self, x: Sequence[Any]) -> list[list[Any]]:
        """The rows ``w_j`` of the chart at ``x`` (``None`` for an entry fixed at 0)."""
        if len(x) != self.n:
            raise CompverifyError(f"{self.n} coordinates are needed, got {len(x)}")
        out: list[list[Any]] = []
        if self.chart == "sphere":
            pos = 0
            for _ in range(self.M):
                ang = x[pos:pos + self.d - 1]
                pos += self.d - 1
                row: list[Any] = []
                tail: Any = None
                for t in ang:
                    cth = _cos(t)
                    row.append(cth if tail is None else tail * cth)
                    s = _sin(t)
                    tail = s if tail is None else tail * s
                row.append(tail if tail is not None else arb(1))
                out.append(row)
            return out
        shape = chart_shape(self.chart, self.d, self.M)
        it = iter(x)
        for r in shape:
            out.append([next(it) if free else None for free in r])
        return out

    # ------------------------------------------------------------ objective

    def _kpair(self, u: list[Any], v: list[Any], uu: Any, vv: Any) -> Any:
        if self.poly:
            return _poly3(self.kterms, uu, vv, _dot(u, v))
        return ro.kernel(self.spec, _dot(u, v))

    def _h(self, c: dict, w: list[Any], ww: Any) -> Any:
        if self.family == "finite":
            acc: Any = arb(0)
            for i in range(len(c["V"])):
                acc = acc + self._kappa_target(c, i, w, ww) * c["a"][i]
            return acc
        muv = w[0] * c["mu"] if w[0] is not None else arb(0)
        return _poly3(c["hterms"], ww, None, muv)

    def constant_C(self) -> arb:
        """``C = E f^2`` as a ball."""
        return self._constants()["C"]

    def derivatives(self, x: Sequence[arb], order: int = 2
                    ) -> tuple[arb, list[arb], list[list[arb]] | None]:
        """``r = L*/C``, its gradient and (order 2) Hessian in the chart, valid over the balls ``x``.

        Raises ``ZeroDivisionError`` when ``K`` is not proved invertible over ``x``.
        """
        c = self._constants()
        n, M = self.n, self.M
        jets = [Jet.variable(arb(t), i, n, order) for i, t in enumerate(x)]
        W = self.rows(jets)
        ww = [_dot(w, w) for w in W] if self.poly else [arb(1)] * M
        K: list[list[Any]] = [[None] * M for _ in range(M)]
        for j in range(M):
            for k in range(j, M):
                K[j][k] = K[k][j] = (self._kpair(W[j], W[k], ww[j], ww[k]) if j != k or self.poly
                                     else ro.kernel(self.spec, arb(1)))
        h = [self._h(c, W[j], ww[j]) for j in range(M)]

        def val(e: Any) -> arb:
            return e.v if isinstance(e, Jet) else e

        def der(e: Any, a: int, b: int | None = None) -> arb:
            if not isinstance(e, Jet):
                return arb(0)
            return e.g[a] if b is None else e.H[a][b]

        Kinv = arb_mat([[val(e) for e in r] for r in K]).inv()
        hv = [val(e) for e in h]
        w = [sum((Kinv[i, k] * hv[k] for k in range(M)), arb(0)) for i in range(M)]
        f = sum((hv[i] * w[i] for i in range(M)), arb(0))
        C = c["C"]
        grad, U = [], []
        for a in range(n):
            Kaw = [sum((der(K[j][k], a) * w[k] for k in range(M)), arb(0)) for j in range(M)]
            ha = [der(h[j], a) for j in range(M)]
            grad.append(2 * sum((ha[j] * w[j] for j in range(M)), arb(0))
                        - sum((w[j] * Kaw[j] for j in range(M)), arb(0)))
            U.append([ha[j] - Kaw[j] for j in range(M)])
        r = (C - f) / C
        if order < 2:
            return r, [-g / C for g in grad], None
        KinvU = [[sum((Kinv[i, k] * u[k] for k in range(M)), arb(0)) for i in range(M)] for u in U]
        H = [[arb(0)] * n for _ in range(n)]
        for a in range(n):
            for b in range(a, n):
                hab = 2 * sum((der(h[j], a, b) * w[j] for j in range(M)), arb(0))
                kab = sum((w[j] * der(K[j][k], a, b) * w[k] for j in range(M) for k in range(M)),
                          arb(0))
                cross = 2 * sum((U[a][i] * KinvU[b][i] for i in range(M)), arb(0))
                H[a][b] = H[b][a] = -(hab - kab + cross) / C
        return r, [-g / C for g in grad], H
