"""Derivation of Gaussian kernels ``k(nu, nv, rho) = E[sigma(<u,x>) sigma(<v,x>)]``, x ~ N(0, I).

``(<u,x>, <v,x>)`` is centred Gaussian with covariance ``[[nu^2, c], [c, nv^2]]``,
``c = nu nv rho``, so one may write ``X = nu z1``, ``Y = nv (rho z1 + sqrt(1 - rho^2) z2)``
with independent standard normal ``z1, z2``. :func:`derive_kernel` classifies ``sigma``
and derives ``k`` with SymPy by one of the routes of SPEC A2, recording every step:

``polynomial-moments``
    ``sigma`` a polynomial: expand ``sigma(X) sigma(Y)`` and replace ``z^k`` by the Gaussian moment
    ``E z^k = (k - 1)!!`` (0 for odd k). Exact; a polynomial in nu, nv, rho.
``piecewise-homogeneous``
    ``sigma(z) = alpha z_+^n + beta z_-^n`` (``z_+ = max(z, 0)``, ``z_- = max(-z, 0)``):
    ReLU, ReLU^n, abs, step, sign, leaky ReLU. By homogeneity
    ``k = nu^n nv^n [(alpha^2 + beta^2) J_n(rho) + 2 alpha beta J_n(-rho)]``
    with ``J_n(rho) = E[(g1)_+^n (g2)_+^n]``,
    ``corr(g1, g2) = rho``; in
    polar coordinates ``g1 = r cos(phi)``, ``g2 = r cos(phi - theta)``, ``theta = arccos(rho)``, the
    radial integral is ``2^n n!`` and the angular one runs over the sector where both cosines are
    positive (the arc-cosine kernels of Cho & Saul 2009).
``price``
    ``sigma(z) = c erf(a z)``: Price's theorem ``dk/dC = E[sigma'(X) sigma'(Y)]`` in
    ``C = nu nv rho``; the right side is a Gaussian integral
    ``(4 a^2 c^2 / pi) det(I + 2 a^2 Sigma)^(-1/2)``; integrate from ``C = 0``
    where ``k = E[sigma(X)] E[sigma(Y)] = 0`` (sigma odd).
``price-2``
    ``sigma(z) = c0 + c1 z + c2 z erf(a z)`` (gelu = ``z/2 + z erf(z/sqrt2)/2``): Price's theorem twice,
    ``d^2k/dC^2 = E[sigma''(X) sigma''(Y)]`` with ``sigma'' = (4 a c2/sqrt(pi)) (1 - a^2 z^2)
    exp(-a^2 z^2)``, again a Gaussian integral; the twice-integrated form ``k = k(0) + c1^2 C +
    c2^2 [delta C asin(C/sqrt(Q)) + (alpha + beta C^2)/sqrt(Q - C^2) - alpha/sqrt(Q)]``, ``Q = (1 +
    2 a^2 nu^2)(1 + 2 a^2 nv^2)/(4 a^4)``, with ``alpha, beta, delta`` solved from the identity in
    ``C`` (SymPy), ``k(0) = E sigma(X) E sigma(Y)``, ``k'(0) = E sigma'(X) E sigma'(Y) = c1^2``.
``numeric``
    anything else: no closed form is claimed; the kernel is evaluated by quadrature
    (:mod:`compverify.symbolic.kernel`).

>>> from compverify.symbolic.steps import Z
>>> import sympy
>>> d = derive_kernel(sympy.Max(0, Z))
>>> d.route
'piecewise-homogeneous'
>>> d.expr
nu*nv*(-rho*acos(rho) + pi*rho + sqrt(1 - rho**2))/(2*pi)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from compverify.symbolic.steps import NU, NV, RHO, DerivationStep, Z

__all__ = ["Derivation", "derive_kernel", "piecewise_homogeneous_form", "erf_form", "gaussian_moment",
           "ROUTES"]

ROUTES = ("polynomial-moments", "piecewise-homogeneous", "price", "price-2", "numeric")

#: Highest degree n tried when recognising ``alpha z_+^n + beta z_-^n``.
MAX_HOMOGENEOUS_DEGREE = 8

_Z1, _Z2 = sympy.symbols("z1 z2", real=True)
_PHI, _THETA = sympy.symbols("phi theta", real=True)
_R = sympy.Symbol("r", positive=True)
_T = sympy.Symbol("t", positive=True)
_C = sympy.Symbol("C", real=True)
_CS, _SN = sympy.symbols("c_theta s_theta", real=True)


@dataclass(frozen=True)
class Derivation:
    """A derived kernel: the route taken, ``k(nu, nv, rho)`` (``None`` if numeric) and the steps."""

    route: str
    expr: sympy.Expr | None
    steps: tuple[DerivationStep, ...]


def _step(description: str, expr: sympy.Basic) -> DerivationStep:
    return DerivationStep.from_expr(description, expr)


def _text(description: str) -> DerivationStep:
    return DerivationStep(description=description, latex=r"\text{--}")


# ----------------------------------------------------------------------------- classification
def piecewise_homogeneous_form(expr: sympy.Expr) -> tuple[int, sympy.Expr, sympy.Expr] | None:
    """``(n, alpha, beta)`` if ``sigma(z) = alpha z_+^n + beta z_-^n`` for all real ``z != 0``.

    Checked symbolically on both half-lines with a positive symbol ``t``: ``sigma(t) = alpha t^n``
    and ``sigma(-t) = beta t^n``. Polynomials of more than one term are not of this form.

    >>> piecewise_homogeneous_form(sympy.Abs(Z))
    (1, 1, 1)
    """
    pos = sympy.simplify(expr.subs(Z, _T))
    neg = sympy.simplify(expr.subs(Z, -_T))
    for n in range(MAX_HOMOGENEOUS_DEGREE + 1):
        alpha = sympy.simplify(pos / _T**n)
        beta = sympy.simplify(neg / _T**n)
        if alpha.free_symbols or beta.free_symbols:
            continue
        if not (alpha.is_finite and beta.is_finite) or (alpha == 0 and beta == 0):
            continue
        return n, alpha, beta
    return None


def erf_form(expr: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr] | None:
    """``(c, a)`` if ``sigma(z) = c erf(a z)`` with constants ``c, a != 0``."""
    c, a = sympy.Wild("c", exclude=[Z]), sympy.Wild("a", exclude=[Z])
    m = sympy.expand(expr).match(c * sympy.erf(a * Z))
    if not m or m[c] == 0 or m[a] == 0:
        return None
    return m[c], m[a]


def erf_linear_form(expr: sympy.Expr) -> tuple[sympy.Expr, ...] | None:
    """``(c0, c1, c2, a)`` if ``sigma(z) = c0 + c1 z + c2 z erf(a z)`` with ``c2, a != 0``."""
    w = [sympy.Wild(n, exclude=[Z]) for n in ("c0", "c1", "c2", "a")]
    m = sympy.expand(expr).match(w[0] + w[1] * Z + w[2] * Z * sympy.erf(w[3] * Z))
    if not m or m[w[2]] == 0 or m[w[3]] == 0:
        return None
    return tuple(m[x] for x in w)


# ----------------------------------------------------------------------------- routes
def gaussian_moment(k: int) -> sympy.Integer:
    """``E Z^k`` for a standard normal ``Z``: ``(k - 1)!!`` for even ``k``, 0 for odd.

    >>> gaussian_moment(4), gaussian_moment(3)
    (3, 0)
    """
    return sympy.Integer(0) if k % 2 else sympy.factorial2(k - 1)


def _polynomial_route(expr: sympy.Expr) -> Derivation:
    s = sympy.sqrt(1 - RHO**2)
    x = NU * _Z1
    y = NV * (RHO * _Z1 + s * _Z2)
    steps = [_step("Write the pair as X = nu z1, Y = nv (rho z1 + sqrt(1 - rho^2) z2) with "
                   "independent standard normal z1, z2; the kernel is E[sigma(X) sigma(Y)]",
                   sympy.Eq(sympy.Function("k")(NU, NV, RHO),
                            sympy.Symbol(r"E")*expr.subs(Z, x) * expr.subs(Z, y)))]
    poly = sympy.Poly(sympy.expand(expr.subs(Z, x) * expr.subs(Z, y)), _Z1, _Z2)
    total = sympy.Integer(0)
    for (i, j), coeff in poly.terms():
        m = gaussian_moment(i) * gaussian_moment(j)
        if m:
            total += coeff * m
    steps.append(_text("Expand in z1, z2 and replace each monomial z1^i z2^j by the Gaussian "
                       "moments E z1^i E z2^j = (i-1)!! (j-1)!! (zero for odd powers)"))
    kern = sympy.factor_terms(sympy.expand(total))
    steps.append(_step("Collect: the odd powers of sqrt(1 - rho^2) have vanished, leaving a "
                       "polynomial in nu, nv, rho", kern))
    return Derivation("polynomial-moments", kern, tuple(steps))


@cache
def _arccos_J(n: int) -> tuple[sympy.Expr, tuple[DerivationStep, ...]]:
    """``J_n(rho) = E[(g1)_+^n (g2)_+^n]`` by polar coordinates, with its steps."""
    steps = []
    radial = sympy.integrate(_R ** (2 * n + 1) * sympy.exp(-_R**2 / 2), (_R, 0, sympy.oo))
    steps.append(_step(f"Radial part (n = {n}): integral of r^(2n+1) exp(-r^2/2) over r > 0",
                       sympy.Eq(sympy.Integral(_R ** (2 * n + 1) * sympy.exp(-_R**2 / 2),
                                               (_R, 0, sympy.oo)), radial)))
    integrand = sympy.expand(sympy.cos(_PHI) ** n
                             * (_CS * sympy.cos(_PHI) + _SN * sympy.sin(_PHI)) ** n)
    lo, hi = _THETA - sympy.pi / 2, sympy.pi / 2
    angular = sympy.Add(*[sympy.integrate(t, (_PHI, lo, hi))
                          for t in sympy.Add.make_args(integrand)])
    steps.append(_step("Angular part: g1 = r cos(phi), g2 = r cos(phi - theta), "
                       "theta = arccos(rho); integrate cos^n(phi) cos^n(phi - theta) over the "
                       "sector where both are positive, phi in (theta - pi/2, pi/2)",
                       sympy.Eq(sympy.Integral(sympy.cos(_PHI) ** n * sympy.cos(_PHI - _THETA) ** n,
                                               (_PHI, lo, hi)),
                                angular.subs({_CS: sympy.cos(_THETA), _SN: sympy.sin(_THETA)}))))
    angular = angular.subs({_CS: RHO, _SN: sympy.sqrt(1 - RHO**2)}).subs(_THETA, sympy.acos(RHO))
    J = sympy.simplify(radial * angular / (2 * sympy.pi))
    steps.append(_step("Multiply by the polar density 1/(2 pi) and substitute cos(theta) = rho, "
                       "sin(theta) = sqrt(1 - rho^2)", sympy.Eq(sympy.Function(f"J_{n}")(RHO), J)))
    return J, tuple(steps)


def _piecewise_route(n: int, alpha: sympy.Expr, beta: sympy.Expr) -> Derivation:
    steps = [_step("sigma is positively homogeneous of degree n and two-sided: "
                   "sigma(z) = alpha z_+^n + beta z_-^n with",
                   sympy.Tuple(sympy.Eq(sympy.Symbol("n"), n),
                               sympy.Eq(sympy.Symbol("alpha"), alpha),
                               sympy.Eq(sympy.Symbol("beta"), beta)))]
    steps.append(_text("Whiten: by homogeneity k = nu^n nv^n E[sigma(g1) sigma(g2)] with unit "
                       "variances and correlation rho; z_- = (-z)_+ and (g1, -g2) has correlation "
                       "-rho, so E[sigma(g1) sigma(g2)] = (alpha^2 + beta^2) J_n(rho) "
                       "+ 2 alpha beta J_n(-rho), J_n(rho) = E[(g1)_+^n (g2)_+^n]"))
    J, jsteps = _arccos_J(n)
    steps.extend(jsteps)
    body = (alpha**2 + beta**2) * J + 2 * alpha * beta * J.subs(RHO, -RHO)
    body = sympy.simplify(body.rewrite(sympy.acos)) if alpha * beta != 0 else body
    if alpha * beta != 0:
        # acos(-rho) = pi - acos(rho); asin(rho) = pi/2 - acos(rho): prefer the shorter form
        body = sympy.simplify(body.subs(sympy.acos(-RHO), sympy.pi - sympy.acos(RHO)))
        alt = sympy.simplify(body.subs(sympy.acos(RHO), sympy.pi / 2 - sympy.asin(RHO)))
        if sympy.count_ops(alt) < sympy.count_ops(body):
            body = alt
    kern = sympy.factor_terms(NU**n * NV**n * body) if n else body
    steps.append(_step("Combine the sign sectors and restore the norms", kern))
    return Derivation("piecewise-homogeneous", kern, tuple(steps))


def _price_route(c: sympy.Expr, a: sympy.Expr) -> Derivation:
    sig = sympy.Matrix([[NU**2, _C], [_C, NV**2]])
    dsigma = sympy.diff(c * sympy.erf(a * Z), Z)
    steps = [_step("Price's theorem: with C = <u, v> = nu nv rho, dk/dC = E[sigma'(X) sigma'(Y)], "
                   "and sigma' is a Gaussian", sympy.Eq(sympy.Function("sigma'")(Z), dsigma))]
    # E[exp(-a^2 (X^2 + Y^2))] = det(I + 2 a^2 Sigma)^(-1/2) for X, Y ~ N(0, Sigma)
    det = sympy.expand((sympy.eye(2) + 2 * a**2 * sig).det())
    rate = sympy.simplify((2 * a * c / sympy.sqrt(sympy.pi)) ** 2 / sympy.sqrt(det))
    steps.append(_step("Gaussian integral E[exp(-x' A x)] = det(I + 2 A Sigma)^(-1/2), A = a^2 I",
                       sympy.Eq(sympy.Derivative(sympy.Function("k")(_C), _C), rate)))
    cc = sympy.Symbol("c", real=True)
    integral = sympy.integrate(rate.subs(_C, cc), (cc, 0, _C))
    integral = sympy.simplify(integral)
    steps.append(_step("sigma is odd, so k = E sigma(X) E sigma(Y) = 0 at C = 0; integrate in C "
                       "from 0", sympy.Eq(sympy.Function("k")(_C), integral)))
    kern = sympy.simplify(integral.subs(_C, NU * NV * RHO))
    steps.append(_step("Substitute C = nu nv rho", kern))
    if kern.has(sympy.Integral) or kern.has(sympy.Piecewise):
        raise ArithmeticError("Price route did not close")
    return Derivation("price", kern, tuple(steps))


def _price2_route(c0: sympy.Expr, c1: sympy.Expr, c2: sympy.Expr, a: sympy.Expr) -> Derivation:
    sigma = c0 + c1 * Z + c2 * Z * sympy.erf(a * Z)
    d2 = sympy.simplify(sympy.diff(sigma, Z, 2) * sympy.exp(a**2 * Z**2))  # a polynomial in z
    steps = [_step("Price's theorem twice: with C = <u, v> = nu nv rho, d^2k/dC^2 = "
                   "E[sigma''(X) sigma''(Y)], and sigma'' is a polynomial times exp(-a^2 z^2)",
                   sympy.Eq(sympy.Function("sigma''")(Z), d2 * sympy.exp(-a**2 * Z**2)))]
    # E[p(X) p(Y) exp(-a^2 (X^2 + Y^2))] = det(I + 2 a^2 S)^(-1/2) E_S'[p(x) p(y)],
    # S' = (S^-1 + 2 a^2 I)^-1, for (X, Y) ~ N(0, S)
    sig = sympy.Matrix([[NU**2, _C], [_C, NV**2]])
    A = 2 * a**2 * sympy.eye(2)
    det = sympy.expand((sympy.eye(2) + A * sig).det())
    Sp = (sympy.eye(2) + sig * A).inv() * sig
    x, y = sympy.symbols("x y", real=True)
    poly = sympy.Poly(sympy.expand(d2.subs(Z, x) * d2.subs(Z, y)), x, y)
    s11, s12, s22 = Sp[0, 0], Sp[0, 1], Sp[1, 1]
    # Gaussian moments of N(0, S'): sigma'' is an even quadratic times the Gaussian factor, so
    # only even powers up to 2 occur
    mom = {(0, 0): 1, (2, 0): s11, (0, 2): s22, (2, 2): s11 * s22 + 2 * s12**2}
    second = sum(coef * mom[m] for m, coef in poly.terms()) / sympy.sqrt(det)
    steps.append(_step("Gaussian integral: det(I + 2 a^2 Sigma)^(-1/2) times the moments of the "
                       "Gaussian with covariance (Sigma^-1 + 2 a^2 I)^-1",
                       sympy.Eq(sympy.Derivative(sympy.Function("k")(_C), _C, 2), sympy.simplify(second))))
    # the antiderivative: an ansatz in Q - C^2 = det / (4 a^4), its coefficients from the identity
    # (Q factored, so its square root splits into the norms' factors)
    Q = (1 + 2 * a**2 * NU**2) * (1 + 2 * a**2 * NV**2) / (4 * a**4)
    al, be, de = sympy.symbols("alpha beta delta")
    s = sympy.Symbol("s", positive=True)   # sqrt(Q - C^2)
    # second C-derivatives of C asin(C/sqrt Q) and (al + be C^2)/sqrt(Q - C^2), written in s
    f2 = 2 / s + _C**2 / s**3
    g2 = (2 * be / s + 2 * be * _C**2 / s**3 + (al + 3 * be * _C**2) / s**3
          + 3 * (al + be * _C**2) * _C**2 / s**5)
    # second = P(C) / (det^2 sqrt(det)) with det = 4 a^4 (Q - C^2) = 4 a^4 s^2, so both sides
    # times s^5 are polynomials in C
    rhs = sympy.cancel(sympy.together(second * sympy.sqrt(det) * det**2)) / (
        c2**2 * (4 * a**4) ** sympy.Rational(5, 2))
    lhs = sympy.expand((de * f2 + g2) * s**5).subs(s, sympy.sqrt(Q - _C**2))
    ident = sympy.expand(lhs - rhs)
    sol = sympy.solve(sympy.Poly(ident, _C).coeffs(), [al, be, de], dict=True)
    if len(sol) != 1:
        raise ArithmeticError("Price-2 route: the ansatz did not close")
    sol = sol[0]
    Es = sympy.simplify(c0 + c2 * NU**2 * 2 * a / sympy.sqrt(sympy.pi) / sympy.sqrt(1 + 2 * a**2 * NU**2))
    Et = Es.subs(NU, NV)
    const = sympy.simplify(Es * Et - c2**2 * sol[al] / sympy.sqrt(Q))  # 0 for gelu
    k = (const + c1**2 * _C + c2**2 * (sol[de] * _C * sympy.asin(_C / sympy.sqrt(Q))
                                       + (sol[al] + sol[be] * _C**2) / sympy.sqrt(Q - _C**2)))
    steps.append(_step("Integrate twice from C = 0, where k = E sigma(X) E sigma(Y) and dk/dC = "
                       "E sigma'(X) E sigma'(Y) = c1^2 (the ansatz's coefficients solved from the "
                       "identity in C)", sympy.Eq(sympy.Function("k")(_C), k)))
    kern = k.subs(_C, NU * NV * RHO)
    steps.append(_step("Substitute C = nu nv rho", kern))
    if kern.has(sympy.Integral) or kern.has(sympy.Piecewise):
        raise ArithmeticError("Price-2 route did not close")
    return Derivation("price-2", kern, tuple(steps))


def _numeric_route(expr: sympy.Expr, why: str) -> Derivation:
    steps = (_step("sigma", expr),
             _text(f"No closed-form route applies ({why}): the kernel E[sigma(X) sigma(Y)] is "
                   "evaluated by two-dimensional Gauss-Hermite quadrature in float64 and by mpmath "
                   "quadrature at the requested precision; its partial derivatives by "
                   "differentiating under the integral (Price's theorem for rho)."))
    return Derivation("numeric", None, steps)


def derive_kernel(expr: sympy.Expr) -> Derivation:
    """Classify ``sigma(z)`` (a SymPy expression in ``Z``) and derive its kernel.

    Returns a :class:`Derivation`; the route is the first that applies among polynomial-moments,
    piecewise-homogeneous, price; otherwise ``numeric`` (``expr`` is ``None``).
    """
    expr = sympy.sympify(expr)
    if expr.free_symbols - {Z}:
        raise ValueError(f"sigma may only depend on z, got {expr}")
    if expr.is_polynomial(Z):
        return _polynomial_route(expr)
    form = piecewise_homogeneous_form(expr)
    if form is not None:
        return _piecewise_route(*form)
    for match, route, name in ((erf_form, _price_route, "Price"),
                               (erf_linear_form, _price2_route, "Price-2")):
        form = match(expr)
        if form is not None:
            try:
                return route(*form)
            except ArithmeticError:
                return _numeric_route(expr, f"the {name} integral did not close")
    return _numeric_route(expr, "not a polynomial, not piecewise homogeneous, not c erf(a z), "
                                "not c0 + c1 z + c2 z erf(a z)")
