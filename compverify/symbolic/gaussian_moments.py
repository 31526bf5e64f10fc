"""Gaussian moments of an activation at a scale tau, in closed form (SymPy), and of the binary family.

For ``xi ~ N(0, 1)`` and ``tau > 0`` the moments that the conjugate kernel and the NTK of a wide
network on Gaussian-mixture data depend on are

``d0 = E sigma(tau xi)``, ``d1 = E sigma'(tau xi)``, ``d2 = E sigma''(tau xi)``,
``d3 = E[((sigma - d0)^2)''(tau xi)]``, ``tau'^2 = Var sigma(tau xi)`` and ``E sigma'(tau xi)^2``.

They are derived from three one-dimensional expectations, ``M(tau) = E sigma(tau xi)``,
``N(tau) = E[xi sigma(tau xi)]`` and ``Q(tau) = E sigma(tau xi)^2``, through Stein's identity
``E[xi f(tau xi)] = tau E f'(tau xi)`` and its consequence
``E[(xi^2 - 1) f(tau xi)] = tau^2 E f''(tau xi) = tau d/dtau E f(tau xi)``:

``d0 = M``, ``d1 = N / tau``, ``d2 = M'(tau) / tau``, ``tau'^2 = Q - M^2``,
``d3 = (Q'(tau) - 2 d0 M'(tau)) / tau``  (the derivative of ``(sigma - d0)^2`` with ``d0`` held fixed).

The Stein forms are the definitions in the sense of distributions: for ReLU, step, sign and the
binary family (jumps) they give the values of ``E sigma'`` and ``E sigma''`` with Dirac terms,
while ``E sigma'^2`` diverges when ``sigma`` jumps (reported as ``None``).

Routes (one entry each in :data:`ROUTES`):

``piecewise-homogeneous``
    ``sigma = alpha z_+^n + beta z_-^n`` (relu, leaky_relu, abs, step, sign, relu_power): on each
    half-line ``sigma(tau x) = tau^n alpha x^n`` (resp. ``beta``), so every expectation is a
    combination of the half-line moments ``H_k = int_0^oo x^k phi(x) dx`` (SymPy).
``polynomial``
    ``sigma`` a polynomial: ``E xi^k = (k - 1)!!`` (:func:`~compverify.symbolic.derivation.gaussian_moment`).
``erf``
    ``sigma = c erf(a z)``: ``M = 0`` (odd), ``N`` and ``E sigma'^2`` by SymPy's integration,
    ``Q = k(tau, tau, 1)`` from the derived Price kernel.
``binary``, ``binary-last``
    ``b (1[z < s1] + 1[z > s2])`` and ``b (1[z < s1] + 1[s2 < z < s3] + 1[z > s4])``: in
    ``a_i = s_i / tau`` every expectation is a combination of ``int_{-oo}^a p(x) phi(x) dx`` for
    ``p = 1, x, x^2 - 1``: ``Phi(a)``, ``-phi(a)``, ``-a phi(a)`` (SymPy checks
    ``x phi = -phi'`` and ``(x^2 - 1) phi = -(x phi)'``).  The indicators are disjoint, so
    ``sigma^2 = b sigma`` and ``(sigma - d0)^2 = (b - 2 d0) sigma + d0^2``: ``d3 = (b - 2 d0) d2``
    and ``tau'^2 = d0 (b - d0)`` identically.

Anything else (tanh, sigmoid, gelu, silu, sin, user expressions) has no route here: the numeric
layer evaluates its moments by quadrature at two precisions (:mod:`compverify.numeric.lossless_moments`).

>>> import sympy
>>> m = moments("relu")
>>> m.route, m.d1
('piecewise-homogeneous', 1/2)
>>> pi = sympy.pi
>>> sympy.simplify(m.d3 - (1 - 1 / pi)), sympy.simplify(m.tau_next_sq - TAU**2 * (pi - 1) / (2 * pi))
(0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.activations import get_activation
from compverify.symbolic.derivation import erf_form, gaussian_moment, piecewise_homogeneous_form
from compverify.symbolic.steps import NU, NV, RHO, DerivationStep, Z

__all__ = ["TAU", "S1", "S2", "S3", "B", "GaussianMoments", "moments", "binary_moments",
           "normal_cdf", "normal_pdf", "ROUTES", "MOMENT_NAMES"]

TAU = sympy.Symbol("tau", positive=True)
S1, S2, S3 = sympy.symbols("s1 s2 s3", real=True)
B = sympy.Symbol("b", real=True)
_X = sympy.Symbol("x", real=True)
_XP = sympy.Symbol("x", positive=True)
_A = sympy.Symbol("a", real=True)

ROUTES = ("piecewise-homogeneous", "polynomial", "erf", "binary", "binary-last")
#: The moments in the order they are reported.
MOMENT_NAMES = ("d0", "d1", "d2", "d3", "tau_next_sq", "dsigma_sq")


def normal_pdf(x: sympy.Expr) -> sympy.Expr:
    """``phi(x) = exp(-x^2/2)/sqrt(2 pi)``."""
    return sympy.exp(-x**2 / 2) / sympy.sqrt(2 * sympy.pi)


def normal_cdf(x: sympy.Expr) -> sympy.Expr:
    """``Phi(x) = (1 + erf(x/sqrt 2))/2``."""
    return (1 + sympy.erf(x / sympy.sqrt(2))) / 2


@dataclass(frozen=True)
class GaussianMoments:
    """The moments of one activation as SymPy expressions in ``tau`` (and ``params``).

    ``dsigma_sq`` is ``None`` when ``E sigma'(tau xi)^2`` diverges (sigma jumps).  ``params`` are
    the free symbols other than ``tau`` (the binary family's ``s1, s2, (s3), b``).
    """

    spec: str
    route: str
    d0: sympy.Expr
    d1: sympy.Expr
    d2: sympy.Expr
    d3: sympy.Expr
    tau_next_sq: sympy.Expr
    dsigma_sq: sympy.Expr | None
    params: tuple[sympy.Symbol, ...]
    steps: tuple[DerivationStep, ...]

    def as_dict(self) -> dict[str, sympy.Expr | None]:
        return {name: getattr(self, name) for name in MOMENT_NAMES}


def _step(description: str, expr: sympy.Basic) -> DerivationStep:
    return DerivationStep.from_expr(description, expr)


@cache
def _half_moment(k: int) -> sympy.Expr:
    """``H_k = int_0^oo x^k phi(x) dx`` (SymPy)."""
    return sympy.simplify(sympy.integrate(_XP**k * normal_pdf(_XP), (_XP, 0, sympy.oo)))


def _assemble(spec: str, route: str, M: sympy.Expr, N: sympy.Expr, Q: sympy.Expr,
              D: sympy.Expr | None, steps: list[DerivationStep],
              params: tuple[sympy.Symbol, ...] = ()) -> GaussianMoments:
    """The moments from ``M = E sigma``, ``N = E[xi sigma]``, ``Q = E sigma^2`` (Stein forms)."""
    d0 = sympy.simplify(M)
    d1 = sympy.simplify(N / TAU)
    dM = sympy.diff(M, TAU)
    d2 = sympy.simplify(dM / TAU)
    tau_next_sq = sympy.simplify(Q - M**2)
    d3 = sympy.simplify((sympy.diff(Q, TAU) - 2 * d0 * dM) / TAU)
    steps = steps + [
        _step("Stein: d1 = E[xi sigma(tau xi)]/tau", sympy.Eq(sympy.Symbol("d_1"), d1)),
        _step("Stein: d2 = E[(xi^2-1) sigma(tau xi)]/tau^2 = (d/dtau E sigma(tau xi))/tau",
              sympy.Eq(sympy.Symbol("d_2"), d2)),
        _step("d3 = (d/dtau E[(sigma(tau xi) - d0)^2], d0 held fixed)/tau",
              sympy.Eq(sympy.Symbol("d_3"), d3)),
        _step("tau'^2 = E sigma^2 - d0^2", sympy.Eq(sympy.Symbol("tau'^2"), tau_next_sq)),
    ]
    if D is not None:
        D = sympy.simplify(D)
        steps.append(_step("E sigma'(tau xi)^2", sympy.Eq(sympy.Symbol("E sigma'^2"), D)))
    else:
        steps.append(DerivationStep("E sigma'(tau xi)^2 diverges: sigma jumps, sigma' has a Dirac "
                                    "term", ""))
    for name, expr in (("d0", d0), ("d1", d1), ("d2", d2), ("d3", d3), ("tau'^2", tau_next_sq)):
        if expr.has(sympy.Integral, sympy.Piecewise) or expr.has(sympy.oo, sympy.zoo, sympy.nan):
            raise CompverifyError(f"the moment {name} of {spec} has no closed form here: {expr}")
    return GaussianMoments(spec, route, d0, d1, d2, d3, tau_next_sq, D, params, tuple(steps))


def _piecewise(spec: str, n: int, alpha: sympy.Expr, beta: sympy.Expr) -> GaussianMoments:
    # E[xi^j sigma(tau xi)] = tau^n (alpha H_{j+n} + beta (-1)^j H_{j+n})
    def e(j: int, power: int = 1) -> sympy.Expr:
        m = n * power
        return TAU**m * (alpha**power + (-1)**j * beta**power) * _half_moment(j + m)

    M, N, Q = e(0), e(1), e(0, 2)
    steps = [_step(f"sigma(z) = alpha z_+^{n} + beta z_-^{n}",
                   sympy.Eq(sympy.Symbol("sigma"), alpha * sympy.Max(0, Z)**n
                            + beta * sympy.Max(0, -Z)**n)),
             _step("half-line moments H_k = int_0^oo x^k phi(x) dx; E sigma(tau xi) = "
                   "tau^n (alpha + beta) H_n", sympy.Eq(sympy.Symbol("M"), M)),
             _step("E[xi sigma(tau xi)] = tau^n (alpha - beta) H_{n+1}", sympy.Eq(sympy.Symbol("N"), N)),
             _step("E sigma(tau xi)^2 = tau^(2n) (alpha^2 + beta^2) H_{2n}", sympy.Eq(sympy.Symbol("Q"), Q))]
    if n == 0:
        D = None if sympy.simplify(alpha - beta) != 0 else sympy.Integer(0)
    else:
        # sigma' = n alpha z_+^(n-1) - n beta z_-^(n-1): again piecewise homogeneous
        D = TAU**(2 * n - 2) * n**2 * (alpha**2 + beta**2) * _half_moment(2 * n - 2)
    return _assemble(spec, "piecewise-homogeneous", M, N, Q, D, steps)


def _polynomial(spec: str, expr: sympy.Expr) -> GaussianMoments:
    def e(f: sympy.Expr) -> sympy.Expr:
        poly = sympy.Poly(sympy.expand(f.subs(Z, TAU * _X)), _X)
        return sum((c * gaussian_moment(k) for (k,), c in poly.terms()), sympy.Integer(0))

    M, N, Q = e(expr), e(Z / TAU * expr), e(expr**2)
    D = e(sympy.diff(expr, Z)**2)
    steps = [_step("sigma a polynomial; E xi^k = (k-1)!!", sympy.Eq(sympy.Symbol("sigma"), expr)),
             _step("E sigma(tau xi)", sympy.Eq(sympy.Symbol("M"), M))]
    return _assemble(spec, "polynomial", M, N, Q, D, steps)


def _erf(spec: str, expr: sympy.Expr, c: sympy.Expr, a: sympy.Expr) -> GaussianMoments:
    pdf = normal_pdf(_X)
    N = sympy.simplify(sympy.integrate(_X * expr.subs(Z, TAU * _X) * pdf, (_X, -sympy.oo, sympy.oo)))
    kernel = get_activation(spec).kernel.expr
    Q = sympy.simplify(kernel.subs({NU: TAU, NV: TAU, RHO: 1}))
    dsig = sympy.diff(expr, Z).subs(Z, TAU * _X)
    D = sympy.simplify(sympy.integrate(dsig**2 * pdf, (_X, -sympy.oo, sympy.oo)))
    steps = [_step("sigma = c erf(a z) is odd: E sigma(tau xi) = 0", sympy.Eq(sympy.Symbol("sigma"), expr)),
             _step("E[xi sigma(tau xi)] (SymPy)", sympy.Eq(sympy.Symbol("N"), N)),
             _step("E sigma(tau xi)^2 = k(tau, tau, 1) from the Price kernel",
                   sympy.Eq(sympy.Symbol("Q"), Q))]
    return _assemble(spec, "erf", sympy.Integer(0), N, Q, D, steps)


@cache
def _lower_primitives() -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """``int_{-oo}^a p phi`` for ``p = 1, x, x^2 - 1``, with the identities that give them."""
    pdf = normal_pdf(_X)
    if sympy.simplify(_X * pdf + sympy.diff(pdf, _X)) != 0:  # pragma: no cover - SymPy identity
        raise AssertionError("x phi = -phi' failed")
    if sympy.simplify((_X**2 - 1) * pdf + sympy.diff(_X * pdf, _X)) != 0:  # pragma: no cover
        raise AssertionError("(x^2 - 1) phi = -(x phi)' failed")
    return normal_cdf(_A), -normal_pdf(_A), -_A * normal_pdf(_A)


def _binary(kind: str) -> GaussianMoments:
    I0, I1, I2 = _lower_primitives()

    def lower(k: int, s: sympy.Expr) -> sympy.Expr:
        return (I0, I1, I2)[k].subs(_A, s / TAU)

    def total(k: int) -> sympy.Expr:  # E p(xi): 1, 0, 0
        return sympy.Integer(1 if k == 0 else 0)

    if kind == "binary":
        def e(k: int) -> sympy.Expr:  # E[p_k(xi) 1[tau xi < s1 or tau xi > s2]]
            return lower(k, S1) + total(k) - lower(k, S2)
        params = (S1, S2, B)
        sigma = B * (sympy.Heaviside(S1 - Z) + sympy.Heaviside(Z - S2))
    else:
        S4 = S3 + S2 - S1

        def e(k: int) -> sympy.Expr:  # (-oo, s1) + (s2, s3) + (s4, oo)
            return lower(k, S1) + lower(k, S3) - lower(k, S2) + total(k) - lower(k, S4)
        params = (S1, S2, S3, B)
        sigma = B * (sympy.Heaviside(S1 - Z) + sympy.Heaviside(Z - S2) * sympy.Heaviside(S3 - Z)
                     + sympy.Heaviside(Z - S4))
    d0 = B * e(0)
    d1 = B * e(1) / TAU
    d2 = B * e(2) / TAU**2
    d3 = (B - 2 * d0) * d2
    tau_next_sq = d0 * (B - d0)
    steps = (
        _step(f"{kind} activation", sympy.Eq(sympy.Symbol("sigma"), sigma)),
        _step("int_{-oo}^a phi = Phi(a), int_{-oo}^a x phi = -phi(a), int_{-oo}^a (x^2-1) phi = "
              "-a phi(a)", sympy.Tuple(I0, I1, I2)),
        _step("d0 = E sigma(tau xi)", sympy.Eq(sympy.Symbol("d_0"), d0)),
        _step("d1 = E[xi sigma(tau xi)]/tau", sympy.Eq(sympy.Symbol("d_1"), d1)),
        _step("d2 = E[(xi^2-1) sigma(tau xi)]/tau^2", sympy.Eq(sympy.Symbol("d_2"), d2)),
        _step("disjoint indicators: sigma^2 = b sigma, so d3 = (b - 2 d0) d2 and "
              "tau'^2 = d0 (b - d0)", sympy.Eq(sympy.Symbol("d_3"), d3)),
        DerivationStep("E sigma'(tau xi)^2 diverges (jumps at the thresholds)", ""),
    )
    return GaussianMoments(kind, kind, d0, d1, d2, d3, tau_next_sq, None, params, steps)


@cache
def binary_moments(kind: str = "binary") -> GaussianMoments:
    """The closed-form moments of the binary family in ``(s1, s2, [s3,] b, tau)``.

    ``kind = "binary"``: ``b (1[z < s1] + 1[z > s2])``, ``s1 < s2``; ``"binary-last"``:
    ``b (1[z < s1] + 1[s2 < z < s3] + 1[z > s4])``, ``s4 = s3 + s2 - s1``, ``s1 < s2 < s3``.

    >>> m = binary_moments("binary")
    >>> sympy.simplify(m.d3 - (B - 2 * m.d0) * m.d2)
    0
    """
    if kind not in ("binary", "binary-last"):
        raise CompverifyError(f"binary kind must be 'binary' or 'binary-last', got {kind!r}")
    return _binary(kind)


@cache
def _moments_cached(spec: str) -> GaussianMoments | None:
    act = get_activation(spec)
    expr = act.expr
    if expr.is_polynomial(Z):
        return _polynomial(act.spec, expr)
    form = piecewise_homogeneous_form(expr)
    if form is not None:
        return _piecewise(act.spec, *form)
    ef = erf_form(expr)
    if ef is not None:
        return _erf(act.spec, expr, *ef)
    return None


def moments(spec: str) -> GaussianMoments | None:
    """The closed-form moments of a registry activation or user expression, or ``None`` when no
    symbolic route applies (then the numeric layer uses quadrature).

    >>> moments("step").dsigma_sq is None
    True
    >>> moments("tanh") is None
    True
    """
    return _moments_cached(get_activation(spec).spec)
