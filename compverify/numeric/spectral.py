"""Mean-field targets of i.i.d. weight entries by a spectral (two-frequency) quadrature.

Setting: weights ``w`` with i.i.d. entries of a scalar law (``rademacher`` ``m +- s``, ``uniform``,
or ``gaussian`` ``N(m, s^2)``; a Gaussian ``N(mu, s^2 I)`` with any mean vector runs in the frame of
the reflection that takes ``mu`` to ``|mu|/sqrt(d) 1``, and :class:`GaussianSpectralTarget` serves
Gaussian targets with smooth activations in multiprecision), mean second
layer ``abar``, inputs ``x ~ N(0, I_d)``, and an activation with a spectral form
``sigma(z) = c0 + c1 z + int_0^inf p(w) (1 - cos(w z)) dw + int_0^inf q(w) sin(w z) dw``
(:mod:`compverify.symbolic.spectral`: relu, abs, leaky_relu, step, sign, tanh, sigmoid, erf, gelu,
silu; the even density is ``p = c2 (2/pi)/w^2`` for a ``c2 |z|`` part, plus the densities of even
atoms ``z tanh(l z)``, ``z erf(l z)``), or the degree-2 form ``c_square z^2 + c_zabs z|z|``
(relu_power:2; below).

With ``E_x cos(<u, x>) = exp(-|u|^2/2)`` the expectation over the inputs becomes one over two
frequencies ``(w1, w2)`` of Gaussians in ``w1 w +- w2 v``, and a Gaussian in ``w`` factors over the
coordinates of ``w``::

    f(w1, t)  = E exp(-(w1 w_k + t)^2 / 2)                       (one coordinate; closed form)
    P(+-)     = prod_k f(w1, +-w2 v_k),   B = f(w1, 0)^d exp(-w2^2 |v|^2 / 2)
    E_w E_x e(A) e(B) = Ee G(v) + int int p(w1) p(w2) [(P(+) + P(-))/2 - B]     (e the even part)
    E_w E_x s(A) s(B) = int int q(w1) q(w2) [P(-) - P(+)] / 2                 (s the odd part)
    h(v) = abar [c0^2 + c0 (Ee + G(v)) + c1^2 m sum(v) + E e(A) e(B) + E s(A) s(B)]

with ``G(v) = E_x e(<v, x>) = int p(w) (1 - exp(-w^2 |v|^2/2)) dw`` (``c2 sqrt(2/pi) |v|`` for the
``|z|`` part, the same rule in one frequency for the atoms) and ``Ee = E_w G(w) = c2 sqrt(2/pi)
E|w| + int p_atoms(w) (1 - f(w, 0)^d) dw`` (mpmath quad).  (``A = <w, x>``, ``B = <v, x>``; the
other cross terms vanish by ``x -> -x``; an activation with both ``c1`` and an odd part, or an
even atom and an odd part, is not supported.)  ``C`` for rademacher entries and a closed-form
kernel is the exact sum over sign-count classes (:func:`rademacher_C`); otherwise the same
two-frequency rule with ``E exp(-(w1 w + w2 w')^2/2)`` per coordinate (numeric kernels cost
seconds per multiprecision value, and their activations are analytic, so the rule converges).
``E|w| = (d / sqrt(pi)) int_0^inf lam^(-1/2) E[w^2 e^(-lam w^2)] E[e^(-lam w^2)]^(d-1) dlam``
(mpmath quad).

Near the axes ``(P(+) + P(-))/2 - B`` is ``O(w1^2 w2^2)``, so float64 would lose everything to
cancellation.  The float64 path writes ``P(+-) = B exp(S +- O)`` with ``S`` and ``O`` the even and
odd parts of ``sum_k log E_tilt[exp(-w1 w2 v_k w_k)]`` (the law tilted by ``exp(-w1^2 w^2/2)``),
computed without cancellation (closed forms in ``log cosh`` for rademacher); then
``(P(+) + P(-))/2 - B = B (expm1(S) cosh O + 2 sinh(O/2)^2)``.  The mpmath path evaluates the
plain formulas at a working precision raised by the digits the cancellation costs; the tests
check that the two agree.

The *rule*: ``w = exp(x - exp(-x))`` (double exponential decay toward ``w = 0``), the trapezoidal
rule in ``x`` with step ``STEP`` on ``[X_LO, x_hi(d)]`` in both frequencies (the integrand is
analytic in the strip ``|Im x| < pi/4``, so the error falls like ``exp(-pi^2 / (2 step))``).
``h``, its gradient and Hessian are exact derivatives of the rule's sum.  The error is estimated
from the nested rules of step ``2 STEP`` and ``4 STEP``: with ``d1``, ``d2`` the differences of
successive rules, ``e = min(d1, SAFETY d1^2 / d2)`` (exponential convergence roughly squares the
error when the step halves; ``SAFETY = 100`` covers the departures from that model seen in the
tests, which check that ``e`` bounds the actual error against exact references), plus the rule's
edge terms and a float64 floor.  For uniform entries with an activation that has a ``|z|`` part
or is homogeneous (relu, abs, leaky_relu, step, sign), where the tests showed slower convergence
(the box's edges make ridges in the integrand), ``e = d1``: the coarser rule's error, a
conservative bound.

*Degree 2.*  ``z|z| = (4/pi) int_0^inf (w z - sin(w z))/w^3 dw``; with ``E_x[A sin(w2 B)] = <u, v> w2
exp(-w2^2 |v|^2/2)`` (Stein) the kernel of ``z|z|`` is ``(8/pi) <u, v> |u| |v| + (16/pi^2) int int
e1 e2 (sinh(w1 w2 <u, v>) - w1 w2 <u, v>)/(w1 w2)^3`` (``e1 = exp(-w1^2 |u|^2/2)``), and the cross
terms with ``z^2`` vanish (``x -> -x``).  Averaged over ``w``: ``c_square^2 E[A^2 B^2]`` and ``(8/pi)
E[w_1 |w|] |v| sum(v)`` in closed form (``E[w_1 |w|]`` by mpmath quad), and the rule's integrand is
``B (e^S sinh O - O_lin)`` with ``O_lin = w1 w2 lam(w1) sum(v)``, ``lam = -E_tilt w``: third order
near the axes, so float64 writes it ``B (expm1(S) sinh O + (sinh O - O) + O3)`` with ``O3 = O -
O_lin`` from each law without cancellation (:meth:`_Law.o3`; series where the argument is small),
and the gradient's ``O' Bu - lam B`` as ``(O' - lam) Bu + lam (Bu - B)``.  Measured: Rademacher d = 6
and d = 13 against the exact 2^d sums to float64 rounding (atoms taken exactly), 3e-25 with the
finer rule in mpmath; uniform d = 1 against its closed form 2e-11 (finer rule 4e-14).

*Degree n >= 3* (relu_power:n; :mod:`compverify.numeric.spectral_power`).  ``sigma = c_mono z^n +
c_rho rho_n(z)``; the rule part ``"pow"`` has the integrand ``B (E_tilt cosh(t X) - T_n(t))`` (sinh
for even n) with density ``(c_rho/I_n)^2 / (w1 w2)^(n+1)``, ``T_n`` from the tilted law's cumulants,
and the kernel's Hermite terms of order below n averaged outside the rule (power-sum polynomials
whose coefficients are one-dimensional quadratures).  Its cancellation, ``(n+1)`` orders near the
axes, is absorbed by the working precision only: these targets are multiprecision
(:class:`PowerSpectralTarget` searches on the QMC rule); float64 ``_parts`` give node bounds for
choosing nodes and the edge terms.  Measured against exact 2^d sums (d = 4, 13) and quadrature
(uniform d = 1): 1e-24 to 1e-30 with the finer rule for Rademacher, 1e-14 to 1e-16 for uniform d = 1.

*Atoms.*  For a relu-like activation the kernel is singular at ``|rho| = 1``, so an atom of the
Rademacher law (nearly) parallel to ``v`` makes a ridge in the frequency integrand, on which the
rule converges only algebraically (d = 10, ``v`` at an atom: error 4.3e-9 at step 1/8, 6.4e-10 at
1/16) and the squaring model underestimates the error.  The integrand is linear in the law, so the
atoms within ``ATOM_GAP`` (in ``1 - |cos|``; at most ``ATOM_CAP`` of them, found by
:meth:`_Rademacher.near_atoms`) are taken out of the rule (their own terms, same nodes) and put
back exactly through the closed-form kernel (:meth:`SpectralTarget._atom_correction`); measured
at d = 4, 6, 10: errors at float64 rounding, and below 1e-29 with the finer rule in mpmath.  A
direction with more near atoms than the cap has its nearest ones taken (the gap halved until they
fit) and keeps the conservative ``e = d1``.

:meth:`SpectralTarget.finer` is the rule of half the step with its first node lower
(``X_LO_FINE``: the part of the integral below it drops from about 1e-20 to 1e-52), and
:meth:`SpectralTarget.h_grad_estimate_mp` sums the nested levels in mpmath, so the estimate is not
floored at float64 rounding.  The solver uses them to re-evaluate a loss whose digits the rule caps
(:func:`compverify.numeric.solver.refine_rule`).  Convergence is exponential for generic
directions (Rademacher relu, d = 6: error 1.7e-17 at step 1/8, 1.2e-33 at 1/16), and with the
atoms taken exactly also at directions that point at an atom.

>>> import numpy as np
>>> t = SpectralTarget("relu", 3, "rademacher", mean=0.2)
>>> v = np.array([[0.5, -0.2, 0.4]])
>>> bool(t.h_error(v)[0] < 1e-5)
True
"""

from __future__ import annotations

import contextlib
import copy
import math
from functools import cached_property
from typing import Any

import mpmath
import numpy as np
from scipy import special

from compverify.errors import CompverifyError
from compverify.numeric.rule_base import RuleTarget, iid_fields
from compverify.numeric.spectral_power import (
    OutsidePolynomial,
    cumulants,
    kernel_coefficients,
    outside_C,
    product_cumulants,
    taylor_terms,
    tilted_moments,
)
from compverify.numeric.targets import round_mp
from compverify.symbolic.activations import as_activation
from compverify.validate import check_dps, check_finite_array

__all__ = ["SpectralTarget", "GaussianSpectralTarget", "PowerSpectralTarget", "spectral_target",
           "supports", "LAWS", "STEP", "X_LO"]

STEP = 0.125
SAFETY = 100.0
# relu_power:n (n >= 3): measured, relu_power:4 Rademacher d = 4 next to an atom, errors 1.3e-4,
# 1.2e-11, 1.3e-15, 4e-30 at steps 1/2 .. 1/16: the step-1/8 error is 11 times SAFETY d1^2/d2
SAFETY_POWER_N = 1e4
ATOM_GAP = 0.05
ATOM_CAP = 128  # most near atoms whose rule terms are replaced by exact kernel values, per direction
X_LO = -3.75
X_LO_FINE = -4.75
LAWS = ("rademacher", "uniform", "gaussian")
_SQRT3 = math.sqrt(3)
_SMALL = 0.5  # |beta| max|w| below which the uniform law's tilted Taylor series is used
_TAYLOR = 22  # terms of that series: 0.5^22 / 22! ~ 1e-28
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


def x_hi(d: int) -> float:
    """Upper end of the rule in ``x``: the integrand decays at least like ``w^-(d+1)``."""
    return 4.0 + 36.0 / (d + 1)


def supports(activation: Any) -> bool:
    """Whether the activation has a spectral form (so this route applies)."""
    return as_activation(activation).spectral_form is not None


def _logcosh(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return x + np.log1p(np.exp(-2 * x)) - math.log(2)


def _odd_series(x: np.ndarray, coef: Any, small: float) -> np.ndarray:
    """``sum_k>=1 coef(k) x^(2k+1)`` for ``|x| < small`` (0 elsewhere), until the terms fall below
    float64 rounding relative to the first."""
    xs = np.where(np.abs(x) < small, x, 0.0)
    x2, power = xs * xs, xs.copy()
    out = np.zeros_like(xs)
    k = 1
    while True:
        power = power * x2
        term = coef(k) * power
        out = out + term
        if k > 3 and np.all(np.abs(term) <= 1e-18 * np.abs(out)):
            return out
        k += 1


def _sinh_minus_x(x: np.ndarray) -> np.ndarray:
    """``sinh x - x`` without cancellation at small ``x`` (series ``x^3/3! + x^5/5! + ...``)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.sinh(np.where(small, 1.0, x)) - np.where(small, 1.0, x)
    return np.where(small, _odd_series(x, lambda k: 1 / math.factorial(2 * k + 1), 1), direct)


def _tanh_minus_x(x: np.ndarray) -> np.ndarray:
    """``tanh x - x`` for ``|x| < 0.5`` without cancellation: ``-(x cosh x - sinh x)/cosh x`` with
    ``x cosh x - sinh x = sum_k>=1 2k x^(2k+1)/(2k+1)!`` (positive terms)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 0.5
    ser = _odd_series(x, lambda k: 2 * k / math.factorial(2 * k + 1), 0.5)
    return np.where(small, -ser / np.cosh(np.where(small, x, 0.0)), np.tanh(x) - x)


def _atanh_minus_x(z: np.ndarray) -> np.ndarray:
    """``atanh z - z`` without cancellation at small ``z`` (series ``z^3/3 + z^5/5 + ...``)."""
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.arctanh(np.where(small, 0.9, z)) - np.where(small, 0.9, z)
    return np.where(small, _odd_series(z, lambda k: 1 / (2 * k + 1), 0.5), direct)


# ----------------------------------------------------------------------------- arithmetic
class _MpArith:
    """Numbers of the multiprecision rule loop: mpmath (the reference implementation)."""

    name = "mpmath"
    num = staticmethod(mpmath.mpf)
    exp = staticmethod(mpmath.exp)
    erfc = staticmethod(mpmath.erfc)
    sqrt = staticmethod(mpmath.sqrt)
    fsum = staticmethod(mpmath.fsum)
    fprod = staticmethod(mpmath.fprod)
    precision = staticmethod(mpmath.workdps)
    extra_bits = staticmethod(mpmath.extraprec)

    @staticmethod
    def prec() -> int:
        return mpmath.mp.prec

    @staticmethod
    def pi() -> Any:
        return +mpmath.pi

    @staticmethod
    def to_mpf(x: Any) -> Any:
        return x


class _ArbArith:
    """The same loop on python-flint's ``arb`` (ball arithmetic in C, about 5 times faster).

    Conversions are exact both ways (binary mantissa and exponent); results are the balls'
    midpoints, so the arithmetic agrees with mpmath's to the working precision.
    """

    name = "arb"

    def __init__(self) -> None:
        import flint

        self.flint = flint
        self.arb = flint.arb

    @contextlib.contextmanager
    def _working(self, *, prec: int | None = None, dps: int | None = None) -> Any:
        """arb's (global) working precision set for the block, then restored."""
        ctx = self.flint.ctx
        saved = ctx.prec
        if dps is not None:
            ctx.dps = dps
        else:
            ctx.prec = prec
        try:
            yield
        finally:
            ctx.prec = saved

    def num(self, x: Any) -> Any:
        if isinstance(x, mpmath.mpf):
            sign, man, exp, _ = x._mpf_  # man_exp drops the sign
            man = -int(man) if sign else int(man)
            # the product below is exact
            with self._working(prec=max(self.flint.ctx.prec, man.bit_length() + 8)):
                return self.arb(self.flint.fmpz(man)) * self.arb(2) ** int(exp)
        return self.arb(x)  # float or int: exact

    @staticmethod
    def exp(x: Any) -> Any:
        return x.exp()

    def erfc(self, x: Any) -> Any:
        # at the ball's midpoint: only midpoints are used, and the input radius alone would cost
        # log2(x^2) bits of the output's accuracy far in the tail
        y = x.mid().erfc()
        prec = self.flint.ctx.prec
        if y.rel_accuracy_bits() < prec - 30:  # arb gives only a bound far in the tail
            with mpmath.workprec(prec):
                y = self.num(mpmath.erfc(self.to_mpf(x)))
        return y

    @staticmethod
    def sqrt(x: Any) -> Any:
        return x.sqrt()

    def fsum(self, xs: Any) -> Any:
        return sum(xs, self.arb(0))

    def fprod(self, xs: Any) -> Any:
        out = self.arb(1)
        for x in xs:
            out = out * x
        return out

    def pi(self) -> Any:
        return self.arb.pi()

    def precision(self, dps: int) -> Any:
        return self._working(dps=dps)

    def prec(self) -> int:
        return self.flint.ctx.prec

    def extra_bits(self, bits: int) -> Any:
        return self._working(prec=self.flint.ctx.prec + bits)

    @staticmethod
    def to_mpf(x: Any) -> Any:
        man, exp = x.mid().man_exp()
        return mpmath.mpf((int(man), int(exp)))


def _arith() -> Any:
    """arb when python-flint is installed (a dependency), else mpmath."""
    try:
        return _ArbArith()
    except ImportError:  # pragma: no cover - python-flint is a dependency
        return _MpArith()


# ----------------------------------------------------------------------------- the laws
class _Law:
    """One coordinate ``w_k``: float64 even/odd parts, mpmath coordinate factors."""

    #: whether the squaring error model holds for every activation (module docstring); for the
    #: uniform law the box's edges make ridges in the frequency integrand that only an
    #: exponentially decaying sine density suppresses (see SpectralTarget.squaring)
    squaring = True
    m: float
    s: float

    def log_f0(self, w1: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _constants_mp(self, A: Any, make: Any) -> Any:
        """``make()`` (the law's constants in the arithmetic ``A``), once per working precision of
        ``A`` and of mpmath: converting them at every node was a third of the rule's time."""
        cache = self.__dict__.setdefault("_constants_cache", {})
        key = (A.name, A.prec(), mpmath.mp.prec)
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:  # pragma: no cover - abstract
        """``(E, O, E', O', E'', O'', log f(w1, t), log f(w1, -t))`` at ``beta`` (``t = beta /
        w1``): even and odd parts of ``log E_tilt exp(-beta w)`` with their derivatives, and the
        coordinate factor's logarithm itself; ``w1`` is the first axis of ``beta``."""
        raise NotImplementedError

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:  # pragma: no cover - abstract
        """``(f, f'/f, f''/f)`` of ``f(w1, t) = E exp(-(w1 w + t)^2/2)`` (derivatives in t), in
        the arithmetic ``A`` (mpmath or arb)."""
        raise NotImplementedError

    def expect_mp(self, fn: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def g01_mp(self, lam: Any) -> tuple:
        """``(E exp(-lam w^2), E w^2 exp(-lam w^2))``."""
        return self.gk_mp(lam, 0), self.gk_mp(lam, 2)

    def bound(self) -> float:
        """``max |w|`` over the support (inf for the gaussian law)."""
        return math.inf

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        """``max |w|`` over where the law tilted by ``exp(-w1^2 w^2/2)`` has its mass (float64): the
        support's bound, less for a continuous law at large ``w1`` (there the tilt concentrates it
        within a few ``1/w1`` of the support's point nearest 0)."""
        return np.full(np.shape(w1), self.bound())

    def one_minus_f0_mp(self, w1: Any) -> Any:
        """``1 - f(w1, 0) = E[1 - exp(-w1^2 w^2/2)]`` without cancellation at small ``w1``."""
        return self.expect_mp(lambda w: -mpmath.expm1(-w1 * w1 * w * w / 2))

    def atom_gap(self, V: np.ndarray) -> np.ndarray:
        """``1 - max |cos(v, w)|`` over the law's atoms ``w`` (inf: a continuous law)."""
        return np.full(len(V), np.inf)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        """``(O - beta lam, O' - lam, lam)``: the odd part ``O`` of :meth:`eo` less its linear term
        and its derivative less ``lam = O'(0) = -E_tilt w`` (per ``w1``), both without
        cancellation at small ``beta`` (they are ``O(beta^3)`` and ``O(beta^2)``); the ``z|z|``
        part needs them, its integrand is third order near the axes."""
        raise NotImplementedError  # pragma: no cover - abstract

    def moments_mp(self) -> tuple:
        """``(E w, E w^2)`` of the law the float parameters describe, at mpmath's precision."""
        raise NotImplementedError  # pragma: no cover - abstract

    def gk_mp(self, lam: Any, k: int) -> Any:
        """``E w^k exp(-lam w^2)``, ``k >= 0``."""
        return self.expect_mp(lambda w: w**k * mpmath.exp(-lam * w * w))


class _Rademacher(_Law):
    def __init__(self, m: float, s: float) -> None:
        self.m, self.s = m, s

    def bound(self) -> float:
        return abs(self.m) + self.s

    def atom_gap(self, V: np.ndarray) -> np.ndarray:
        # atoms m 1 + s eps; with j entries +1, <eps, v> is largest with the +1 on the j largest
        # v_k and smallest with them on the j smallest, and |w| depends on j only
        m, s = self.m, self.s
        d = V.shape[1]
        j = np.arange(d + 1)
        norm_w = np.sqrt(np.maximum(d * (m * m + s * s) + 2 * m * s * (2 * j - d), 0.0))
        out = np.empty(len(V))
        for r, v in enumerate(V):
            top = np.concatenate([[0.0], np.cumsum(np.sort(v)[::-1])])   # sum of the j largest
            p1, nv = v.sum(), np.linalg.norm(v)
            hi, lo = m * p1 + s * (2 * top - p1), m * p1 + s * (p1 - 2 * top[::-1])
            with np.errstate(divide="ignore", invalid="ignore"):
                cos = np.where(norm_w > 0, np.maximum(np.abs(hi), np.abs(lo)) / (norm_w * nv), 0)
            out[r] = 1 - np.max(cos)
        return out

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        # the tilt exp(-w1^2 w^2/2) leaves the atom nearer 0 alone once the other's weight is
        # below e^-40 of it (at m = s that atom is 0, where every Taylor remainder vanishes)
        lo, hi = sorted((abs(self.m - self.s), abs(self.m + self.s)))
        w1 = np.asarray(w1, dtype=float)
        return np.where(w1 * w1 * (hi * hi - lo * lo) / 2 > 40, lo, hi)

    def near_atoms(self, v: np.ndarray, gap: float, cap: int) -> np.ndarray | None:
        """The atoms ``m 1 + s eps`` with ``1 - |cos(v, atom)| < gap``, shape (k, d); ``None`` if
        there are more than ``cap``.

        With ``j`` entries +1 on the set ``P``, ``<atom, v> = m p1 + s (2 sum_P v - p1)`` and
        ``|atom|`` depends on ``j`` only, so the condition is ``sum_P v >= tau_j`` (parallel) or, on
        the complement, ``sum_(not P) v >= p1 - tau'_j`` (anti-parallel): a depth-first search over
        ``v`` sorted in decreasing order, pruned by the largest sum the remaining entries allow.
        """
        m, s = self.m, self.s
        d = v.size
        order = np.argsort(-v, kind="stable")
        vs = v[order]
        prefix = np.concatenate([[0.0], np.cumsum(vs)])
        p1, nv = float(v.sum()), float(np.linalg.norm(v))
        found: list[np.ndarray] = []

        def subsets(size: int, tau: float) -> bool:
            """Append the index sets of ``size`` entries with sum >= tau; False when over cap."""
            chosen: list[int] = []

            def rec(i: int, need: int, total: float) -> bool:
                if need == 0:
                    if total >= tau:
                        found.append(np.array(chosen, dtype=int))
                        return len(found) <= 2 * cap
                    return True
                if d - i < need or total + prefix[i + need] - prefix[i] < tau:
                    return True
                chosen.append(i)
                ok = rec(i + 1, need - 1, total + vs[i])
                chosen.pop()
                return ok and rec(i + 1, need, total)

            return rec(0, size, 0.0)

        atoms = []
        slack = 1e-12 * (abs(m) + s) * nv * math.sqrt(d)  # rounding: keep borderline atoms
        for j in range(d + 1):
            norm_a = math.sqrt(max(d * (m * m + s * s) + 2 * m * s * (2 * j - d), 0.0))
            if norm_a == 0:
                continue
            need = (1 - gap) * norm_a * nv
            # parallel: m p1 + s (2 S - p1) >= need; anti-parallel: <= -need, i.e. the d - j
            # entries left at -1 have sum >= p1 - (s p1 - m p1 - need) / (2 s)
            for size, tau, plus in ((j, (need - m * p1 + s * p1) / (2 * s) - slack, True),
                                    (d - j, p1 - (s * p1 - m * p1 - need) / (2 * s) - slack, False)):
                found.clear()
                if not subsets(size, tau):
                    return None
                for idx in found:
                    eps = -np.ones(d) if plus else np.ones(d)
                    eps[order[idx]] = 1.0 if plus else -1.0
                    atoms.append(m + s * eps)
                if len(atoms) > 2 * cap:
                    return None
        if not atoms:
            return np.zeros((0, d))
        out = np.unique(np.array(atoms), axis=0)
        return None if len(out) > cap else out

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        m, s = self.m, self.s
        return np.logaddexp(-(w1 * (m + s)) ** 2 / 2, -(w1 * (m - s)) ** 2 / 2) - math.log(2)

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # E_tilt exp(-beta w) = exp(-beta m) cosh(beta s - y) / cosh(y), y = -w1^2 m s
        m, s = self.m, self.s
        y = -(w1.reshape((-1,) + (1,) * (beta.ndim - 1)) ** 2) * m * s
        x = beta * s
        small = np.abs(x) < 0.5
        xs = np.where(small, x, 0.0)
        sech_y = 2 * np.exp(-np.abs(y)) / (1 + np.exp(-2 * np.abs(y)))
        lm, lp = _logcosh(x - y), _logcosh(x + y)
        E = np.where(small, 0.5 * np.log1p((np.sinh(xs) * sech_y) ** 2),
                     0.5 * (lm + lp) - _logcosh(y))
        O = -beta * m + np.where(small, -np.arctanh(np.tanh(y) * np.tanh(xs)), 0.5 * (lm - lp))
        tm, tp = np.tanh(x - y), np.tanh(x + y)
        E1 = s / 2 * (tm + tp)
        O1 = -m + s / 2 * (tm - tp)
        E2 = s * s / 2 * ((1 - tm * tm) + (1 - tp * tp))
        O2 = s * s / 2 * ((1 - tm * tm) - (1 - tp * tp))
        w1b = w1.reshape((-1,) + (1,) * (beta.ndim - 1))
        t = beta / w1b
        lf = [np.logaddexp(-(w1b * (m + s) + u) ** 2 / 2, -(w1b * (m - s) + u) ** 2 / 2)
              - math.log(2) for u in (t, -t)]
        return E, O, E1, O1, E2, O2, lf[0], lf[1]

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # O = -beta m - atanh(tanh(y) tanh(x)), x = beta s: O - beta lam = -(atanh(z) - z) -
        # tanh(y) (tanh x - x), z = tanh(y) tanh(x); O' - lam = s sinh(x)^2 tanh(y) /
        # (cosh(x - y) cosh(x + y)) from tanh(a) - tanh(b) = sinh(a - b)/(cosh a cosh b)
        m, s = self.m, self.s
        y = -(w1.reshape((-1,) + (1,) * (beta.ndim - 1)) ** 2) * m * s
        x = beta * s
        t = np.tanh(y)
        lam = -m - s * t
        # the atanh form cancels nothing when |x| or |tanh y| is small (then |z| < 0.5)
        small = (np.abs(x) < 0.5) | (np.abs(t) < 0.5)
        xs = np.where(small, x, 0.0)
        o3 = np.where(small, -(_atanh_minus_x(t * np.tanh(xs)) + t * _tanh_minus_x(xs)),
                      O - beta * lam)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            ratio = np.exp(2 * (_logcosh(x) + np.log(np.abs(np.tanh(x)))) - _logcosh(x - y)
                           - _logcosh(x + y))
        return o3, s * ratio * t, lam

    def moments_mp(self) -> tuple:
        hi, lo = self.atoms_in(_MpArith)
        return (hi + lo) / 2, (hi * hi + lo * lo) / 2

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        ys = [w1 * a + t for a in self.atoms_in(A)]
        es = [A.exp(-y * y / 2) for y in ys]
        f = (es[0] + es[1]) / 2
        f1 = -(ys[0] * es[0] + ys[1] * es[1]) / 2
        f2 = ((ys[0] ** 2 - 1) * es[0] + (ys[1] ** 2 - 1) * es[1]) / 2
        return f, f1 / f, f2 / f

    def expect_mp(self, fn: Any) -> Any:
        return (fn(mpmath.mpf(self.m) + self.s) + fn(mpmath.mpf(self.m) - self.s)) / 2

    def atoms_in(self, A: Any) -> tuple:
        """The two values ``m + s``, ``m - s`` in the arithmetic ``A`` at its working precision.

        Summed there, not in float64: every multiprecision part (``E|w|``, the class sum of ``C``,
        the atoms taken exactly) must describe the same law, and ``fl(m + s)`` differs from
        ``m + s`` by up to 1e-17 relative (measured: a 3.5e-17 error in ``h`` at d = 13).
        """
        def make() -> tuple:
            m, s = A.num(self.m), A.num(self.s)
            return m + s, m - s

        return self._constants_mp(A, make)

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)`` for independent entries: the mean over four sign pairs."""
        atoms = self.atoms_in(A)
        ys = [w1 * a + w2 * b for a in atoms for b in atoms]
        return A.fsum(A.exp(-y * y / 2) for y in ys) / 4  # y * y: arb's y ** 2 is nan at y <= 0


class _Gaussian(_Law):
    """``N(m, s^2)`` entries; ``m_exact``, ``s_exact`` (optional, zero-argument functions returning
    an mpf) are the mean and scale to every digit when ``m``, ``s`` are roundings (``|mu| /
    sqrt(d)`` in the rotated frame of :class:`SpectralTarget`, the default scale ``1/sqrt(d)``, a
    decimal scale), so the multiprecision rule describes the same law as the Gaussian targets'
    closed forms."""

    def __init__(self, m: float, s: float, m_exact: Any = None, s_exact: Any = None) -> None:
        self.m, self.s = m, s
        self._m_exact, self._s_exact = m_exact, s_exact

    def _m_mp(self) -> Any:
        return mpmath.mpf(self.m) if self._m_exact is None else self._m_exact()

    def _s_mp(self) -> Any:
        return mpmath.mpf(self.s) if self._s_exact is None else self._s_exact()

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        k = 1 + (w1 * self.s) ** 2
        return -0.5 * np.log(k) - (w1 * self.m) ** 2 / (2 * k)

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        m, s = self.m, self.s
        k = 1 + (w1.reshape((-1,) + (1,) * (beta.ndim - 1)) * s) ** 2
        k = np.broadcast_to(k, beta.shape)
        w1b = w1.reshape((-1,) + (1,) * (beta.ndim - 1))
        t = beta / w1b
        lf = [-0.5 * np.log(k) - (w1b * m + u) ** 2 / (2 * k) for u in (t, -t)]
        return (beta**2 * s * s / (2 * k), -m * beta / k, beta * s * s / k, -m / k + 0 * beta,
                s * s / k + 0 * beta, 0 * beta, lf[0], lf[1])

    def _ms_mp(self, A: Any) -> tuple:
        return self._constants_mp(A, lambda: (A.num(self._m_mp()), A.num(self._s_mp())))

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        m, s = self._ms_mp(A)
        k = 1 + (w1 * s) ** 2
        y = w1 * m + t
        f = A.exp(-y * y / (2 * k)) / A.sqrt(k)
        g = -y / k
        return f, g, g * g - 1 / k

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)``: ``y = w1 w + w2 w' ~ N(m (w1 + w2), s^2 (w1^2 + w2^2))``."""
        m, s = self._ms_mp(A)
        k = 1 + s**2 * (w1 * w1 + w2 * w2)
        y = m * (w1 + w2)
        return A.exp(-y * y / (2 * k)) / A.sqrt(k)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # O = -m beta / k is linear in beta
        k = 1 + (w1.reshape((-1,) + (1,) * (beta.ndim - 1)) * self.s) ** 2
        return 0 * beta, 0 * beta, -self.m / k

    def moments_mp(self) -> tuple:
        m = self._m_mp()
        return m, m * m + self._s_mp() ** 2

    def gk_mp(self, lam: Any, k: int) -> Any:
        # the tilted law is N(m/c, s^2/c), c = 1 + 2 lam s^2, of mass E exp(-lam w^2)
        m, s2 = self._m_mp(), self._s_mp() ** 2
        c = 1 + 2 * lam * s2
        g0 = mpmath.exp(-lam * m * m / c) / mpmath.sqrt(c)
        mu, var = m / c, s2 / c
        mom = [mpmath.mpf(1), mu]
        for q in range(2, k + 1):  # moments of N(mu, var): E y^q = mu E y^(q-1) + (q-1) var E y^(q-2)
            mom.append(mu * mom[q - 1] + (q - 1) * var * mom[q - 2])
        return g0 * mom[k]

    def one_minus_f0_mp(self, w1: Any) -> Any:
        k = w1 * w1 * self._s_mp() ** 2
        m = self._m_mp()
        return -mpmath.expm1(-(w1 * m) ** 2 / (2 * (1 + k)) - mpmath.log1p(k) / 2)


def _trunc_moments(y1: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log Z``, mean and variance of a standard normal cut to ``[y1, y2]`` (``y1 < y2``).

    An interval in a tail is reflected to the right tail and written with ``erfcx`` (``Phi(-y) =
    erfcx(y/sqrt2) exp(-y^2/2) / 2``), so nothing overflows or cancels catastrophically.
    """
    flip = y2 <= 0
    a = np.where(flip, -y2, y1)
    b = np.where(flip, -y1, y2)
    tail = a >= 0
    with np.errstate(all="ignore"):
        # right tail: Z = exp(-a^2/2) (erfcx(a/r2) - erfcx(b/r2) e) / 2, e = exp(-(b-a)(b+a)/2)
        ra, rb = special.erfcx(a / math.sqrt(2)), special.erfcx(b / math.sqrt(2))
        e = np.exp(-(b - a) * (b + a) / 2)
        den = (ra - rb * e) / 2
        logZ_t = -a * a / 2 + np.log(den)
        pa_t = 1 / (math.sqrt(2 * math.pi) * den)
        pb_t = pa_t * e
        # straddling 0: direct
        Z_s = special.ndtr(b) - special.ndtr(a)
        logZ_s = np.log(Z_s)
        pa_s = np.exp(-a * a / 2) / math.sqrt(2 * math.pi) / Z_s
        pb_s = np.exp(-b * b / 2) / math.sqrt(2 * math.pi) / Z_s
    logZ = np.where(tail, logZ_t, logZ_s)
    pa = np.where(tail, pa_t, pa_s)
    pb = np.where(tail, pb_t, pb_s)
    mean = pa - pb
    var = np.maximum(1 + a * pa - b * pb - mean * mean, 0.0)
    return logZ, np.where(flip, -mean, mean), var


class _Uniform(_Law):
    squaring = False

    def __init__(self, m: float, s: float) -> None:
        self.m, self.s = m, s
        half = _SQRT3 * s
        self.lo, self.hi = m - half, m + half
        self.a = (self.hi - self.lo) / 2  # the half-width the float endpoints describe

    def _a_mp(self) -> Any:
        # exact (a difference of two doubles halved), whatever mpmath's working precision: the
        # arb loop calls this outside mpmath's precision context; computed once
        if "_a_exact" not in self.__dict__:
            with mpmath.workprec(2200):
                self._a_exact = (mpmath.mpf(self.hi) - mpmath.mpf(self.lo)) / 2
        return self._a_exact

    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        # beyond 8 tilted standard deviations the tilted density is below e^-32 of its peak
        near = abs(min(max(0.0, self.lo), self.hi))
        return np.minimum(self.bound(), near + 8.0 / np.asarray(w1))

    def _tilted(self, w1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per ``w1``: ``log f(w1, 0)``, tilted moments ``E_tilt w^j`` (j <= TAYLOR+2), max|w|.

        Gauss-Legendre (48 nodes) on the support cut to 12 tilted standard deviations around
        the tilted mode, where the tilted density is a smooth Gaussian piece.
        """
        c = min(max(0.0, self.lo), self.hi)
        half = 12.0 / w1
        wl = np.maximum(self.lo, c - half)
        wr = np.minimum(self.hi, c + half)
        mid, rad = (wl + wr) / 2, (wr - wl) / 2
        nodes = mid[:, None] + rad[:, None] * _GL_NODES[None, :]
        logu = (np.log(rad[:, None] * _GL_WEIGHTS[None, :] / (2 * self.a))
                - (w1[:, None] * nodes) ** 2 / 2)
        logf0 = special.logsumexp(logu, axis=1)
        u = np.exp(logu - logf0[:, None])
        powers = nodes[:, :, None] ** np.arange(_TAYLOR + 3)[None, None, :]
        mom = np.einsum("ij,ijk->ik", u, powers)
        R = np.maximum(np.abs(wl), np.abs(wr))
        return logf0, mom, R

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        return self._tilted(np.asarray(w1, dtype=float))[0]

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # each entry by one branch only (the series where |beta| max|w| <= _SMALL, else the
        # truncated-normal closed form): evaluating both on every entry cost 3 times as much
        logf0, mom, R = self._tilted(w1)
        beta = np.asarray(beta, dtype=float)
        full = np.broadcast_shapes(beta.shape, (len(w1),) + (1,) * (beta.ndim - 1))
        b = np.broadcast_to(beta, full)
        iw = np.broadcast_to(np.arange(len(w1)).reshape((-1,) + (1,) * (beta.ndim - 1)), full)
        small = np.abs(b) * R[iw] <= _SMALL
        out = [np.empty(full) for _ in range(8)]
        if small.any():
            bs, ws = b[small], iw[small]
            ser = self._eo_series(mom[ws], bs)
            t = bs / w1[ws]
            base = logf0[ws] - t * t / 2
            for o, v in zip(out, ser + (base + ser[0] + ser[1], base + ser[0] - ser[1]),
                            strict=True):
                o[small] = v
        large = ~small
        if large.any():
            with np.errstate(all="ignore"):
                closed = self._eo_closed(w1[iw[large]], b[large])
            for o, v in zip(out, closed, strict=True):
                o[large] = v
        return tuple(out)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # small beta: O = atanh(r), r = o/(1 + e) (:meth:`_eo_series`), lam = -mu_1; then
        # O - beta lam = (atanh r - r) + (o3 + mu_1 beta e)/(1 + e) and O' - lam = (r' + mu_1 -
        # mu_1 r^2)/(1 - r^2) with r' + mu_1 = (o3' (1 + e) + mu_1 e (1 + e) - o e')/(1 + e)^2,
        # o3 the odd series from beta^3 on: every term is a product of small quantities
        shape = (-1,) + (1,) * (beta.ndim - 1)
        _, mom, R = self._tilted(w1)
        small = np.abs(beta) * R.reshape(shape) <= _SMALL
        b = np.where(small, beta, 0.0)
        mu = [mom[:, j].reshape(shape) for j in range(_TAYLOR + 1)]
        fact = [math.factorial(j) for j in range(_TAYLOR + 1)]
        e = sum(mu[j] * b**j / fact[j] for j in range(2, _TAYLOR + 1, 2))
        e1 = sum(mu[j] * b ** (j - 1) / fact[j - 1] for j in range(2, _TAYLOR + 1, 2))
        o3 = -sum(mu[j] * b**j / fact[j] for j in range(3, _TAYLOR + 1, 2))
        o31 = -sum(mu[j] * b ** (j - 1) / fact[j - 1] for j in range(3, _TAYLOR + 1, 2))
        o = o3 - mu[1] * b
        r = o / (1 + e)
        ser = _atanh_minus_x(r) + (o3 + mu[1] * b * e) / (1 + e)
        rp = (o31 * (1 + e) + mu[1] * e * (1 + e) - o * e1) / (1 + e) ** 2
        dser = (rp - mu[1] * r * r) / (1 - r * r)
        lam = -mu[1]
        return np.where(small, ser, O - beta * lam), np.where(small, dser, O1 - lam), lam

    def moments_mp(self) -> tuple:
        lo, hi = mpmath.mpf(self.lo), mpmath.mpf(self.hi)
        return (lo + hi) / 2, (hi**3 - lo**3) / (6 * self._a_mp())

    def gk_mp(self, lam: Any, k: int) -> Any:
        lo, hi, a = mpmath.mpf(self.lo), mpmath.mpf(self.hi), self._a_mp()
        if lam * max(lo * lo, hi * hi) < 0.5:  # Taylor series in lam: terms below 0.5^n / n!
            out, term, n = mpmath.mpf(0), mpmath.mpf(1), 0
            while True:
                t = term * (hi ** (2 * n + k + 1) - lo ** (2 * n + k + 1)) / ((2 * n + k + 1) * 2 * a)
                out += t
                if abs(t) <= mpmath.eps * abs(out) and n > 2:
                    return out
                n += 1
                term *= -lam / n
        el, eh = mpmath.exp(-lam * lo * lo), mpmath.exp(-lam * hi * hi)
        # J_k = int_lo^hi w^k e^(-lam w^2) dw = (lo^(k-1) el - hi^(k-1) eh + (k-1) J_(k-2)) / (2 lam)
        # (by parts); here lam max w^2 >= 0.5, so the upward recurrence loses few digits
        with mpmath.extraprec(4 * k + 10):
            if k % 2 == 0:
                r = mpmath.sqrt(lam)
                J = mpmath.sqrt(mpmath.pi) * (mpmath.erf(r * hi) - mpmath.erf(r * lo)) / (2 * r)
            else:
                J = (el - eh) / (2 * lam)
            for q in range(k % 2 + 2, k + 1, 2):
                J = (lo ** (q - 1) * el - hi ** (q - 1) * eh + (q - 1) * J) / (2 * lam)
            return J / (2 * a)

    @staticmethod
    def _eo_series(mom: np.ndarray, beta: np.ndarray) -> tuple:
        # r(beta) = sum_j mu_j (-beta)^j / j! (row i of mom: the moments of entry i); e and o
        # its even and odd parts minus 1; every sum by Horner's rule in beta^2
        J = _TAYLOR
        fact = np.array([float(math.factorial(j)) for j in range(J + 1)])
        b2 = beta * beta

        def poly(rows: np.ndarray) -> np.ndarray:
            # sum_i rows[i] b2^i by Horner's rule
            acc = rows[-1]
            for row in rows[-2::-1]:
                acc = acc * b2 + row
            return acc

        c = np.ascontiguousarray((mom[:, : J + 1] / fact).T)  # c[j] = mu_j / j!
        e = b2 * poly(c[2::2])  # from j = 2: mu_0 = 1 enters as the exact 1 of 1 + e
        o = -beta * poly(c[1::2])

        def r_deriv(k: int) -> tuple[np.ndarray, np.ndarray]:
            # d^k r / dbeta^k at +beta and at -beta: (-1)^k sum_j mu_{j+k} x^j / j!, x = -+beta
            ck = np.ascontiguousarray((mom[:, k: J + 1 + k] / fact).T)
            ev, od = poly(ck[0::2]), poly(ck[1::2])
            return (-1) ** k * (ev - beta * od), (-1) ** k * (ev + beta * od)

        rp, rm = 1 + e + o, 1 + e - o
        E = 0.5 * np.log1p(2 * e + e * e - o * o)
        O = np.arctanh(o / (1 + e))
        (d1p, d1m), (d2p, d2m) = r_deriv(1), r_deriv(2)
        l1p, l1m = d1p / rp, d1m / rm
        l2p = d2p / rp - l1p**2
        l2m = d2m / rm - l1m**2
        return E, O, (l1p - l1m) / 2, (l1p + l1m) / 2, (l2p + l2m) / 2, (l2p - l2m) / 2

    def _eo_closed(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # tilted at beta: y = w1 w + t with t = beta / w1 is a standard normal cut to [y1, y2]
        t = beta / w1
        lz0 = _trunc_moments(w1 * self.lo + 0 * t, w1 * self.hi + 0 * t)[0]
        lp, mp_, vp = _trunc_moments(w1 * self.lo + t, w1 * self.hi + t)
        lm, mm, vm = _trunc_moments(w1 * self.lo - t, w1 * self.hi - t)
        lrp = lp - lz0 + t * t / 2
        lrm = lm - lz0 + t * t / 2
        l1p, l1m = (t - mp_) / w1, (-t - mm) / w1
        l2p, l2m = vp / w1**2, vm / w1**2
        norm = 0.5 * math.log(2 * math.pi) - np.log(2 * self.a * w1)
        return ((lrp + lrm) / 2, (lrp - lrm) / 2, (l1p - l1m) / 2, (l1p + l1m) / 2,
                (l2p + l2m) / 2, (l2p - l2m) / 2, norm + lp, norm + lm)

    def _consts_mp(self, A: Any) -> tuple:
        """``lo``, ``hi``, ``2 a``, ``sqrt 2``, ``sqrt(2 pi)`` in the arithmetic ``A``."""
        def make() -> tuple:
            two = A.num(2)
            return (A.num(self.lo), A.num(self.hi), two * A.num(self._a_mp()), A.sqrt(two),
                    A.sqrt(2 * A.pi()))

        return self._constants_mp(A, make)

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        lo, hi, two_a, r2, root = self._consts_mp(A)
        y1, y2 = w1 * lo + t, w1 * hi + t
        if y1 > 0:  # erfc of the smaller argument: no cancellation (either branch is exact)
            Z = (A.erfc(y1 / r2) - A.erfc(y2 / r2)) / 2
        else:
            Z = (A.erfc(-y2 / r2) - A.erfc(-y1 / r2)) / 2
        p1, p2 = A.exp(-y1 * y1 / 2) / root, A.exp(-y2 * y2 / 2) / root
        f = Z * root / (two_a * w1)
        return f, -(p1 - p2) / Z, (y1 * p1 - y2 * p2) / Z

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)`` for independent entries (``w2`` signed).

        ``(1/(4 a^2 w1 w2))`` times the second difference over the corners of
        ``L(y) = sqrt(pi/2) |y| + l(y)``, ``l(y) = exp(-y^2/2) - sqrt(pi/2) |y| erfc(|y|/sqrt2)``
        (``L'' = exp(-y^2/2)``); the ``|y|`` part's second difference is exactly 0 unless the
        corners straddle 0, and ``l`` decays, so large frequencies cancel nothing.
        """
        def tail(y: Any) -> Any:
            return A.exp(-y * y / 2) - A.sqrt(A.pi() / 2) * abs(y) * A.erfc(abs(y) / A.sqrt(two))

        two = A.num(2)
        lo, hi, two_a, _, _ = self._consts_mp(A)
        ys = [w1 * hi + w2 * hi, w1 * lo + w2 * hi, w1 * hi + w2 * lo, w1 * lo + w2 * lo]
        yf = [float(A.to_mpf(y)) for y in ys]
        sg = [1, -1, -1, 1]
        with A.extra_bits(int(8 * math.log2(2 + max(abs(y) for y in yf))) + 10):
            sec = A.fsum(c * tail(y) for c, y in zip(sg, ys, strict=True))
            if min(yf) < 0 < max(yf):
                sec += A.sqrt(A.pi() / 2) * A.fsum(c * abs(y) for c, y in zip(sg, ys, strict=True))
        return sec / (two_a**2 * w1 * w2)

    def expect_mp(self, fn: Any) -> Any:
        return mpmath.quad(fn, [self.lo, self.hi]) / (2 * self._a_mp())

    def one_minus_f0_mp(self, w1: Any) -> Any:
        lo, hi, a = mpmath.mpf(self.lo), mpmath.mpf(self.hi), self._a_mp()
        y = w1 * w1 / 2
        if y * max(lo * lo, hi * hi) >= 0.5:  # 1 - f >= 1 - e^-0.5 / ... : no cancellation
            return 1 - self.f_mp(w1, mpmath.mpf(0))[0]
        # sum_k>=1 (-1)^(k+1) y^k E w^2k / k!, terms below 0.5^k / k!
        out, term, k = mpmath.mpf(0), mpmath.mpf(1), 1
        while True:
            term *= -y / k
            t = -term * (hi ** (2 * k + 1) - lo ** (2 * k + 1)) / ((2 * k + 1) * 2 * a)
            out += t
            if abs(t) < mpmath.eps * abs(out):
                return out
            k += 1



_LAW_CLASSES = {"rademacher": _Rademacher, "uniform": _Uniform, "gaussian": _Gaussian}


# ----------------------------------------------------------------------------- the rule
def _grid(d: int, step: float = STEP, x_lo: float = X_LO) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``x``, frequencies ``w(x)`` and trapezoid weights in ``w`` (``w'(x) step``).

    The number of nodes is ``1 + 4k`` so the rules of step 2 step and 4 step are sub-grids.
    """
    n = 1 + 4 * math.ceil((x_hi(d) - x_lo) / (4 * step))
    x = x_lo + step * np.arange(n)
    w = np.exp(x - np.exp(-x))
    return x, w, w * (1 + np.exp(-x)) * step


def _levels(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the first two axes (the node grid) at steps STEP, 2 STEP, 4 STEP."""
    return T.sum(axis=(0, 1)), 4 * T[::2, ::2].sum(axis=(0, 1)), 16 * T[::4, ::4].sum(axis=(0, 1))


#: Working memory in bytes one float64 evaluation of the spectral rule may use (directions are
#: evaluated in blocks sized to it; all at once, 64 directions at d = 2 took 1.9 GB).
ROW_BLOCK_BYTES = 2 ** 28


def _stack_rows(outs: list[tuple]) -> tuple:
    """``(h, grad, hess)`` of consecutive blocks of directions joined (``None`` stays ``None``)."""
    return tuple(None if parts[0] is None else np.concatenate(parts) for parts in zip(*outs,
                                                                                     strict=True))


def _lift(r: Any, U: Any, out: tuple, n: int, order: int) -> tuple:
    """``h(v) = r^n H(u)`` (``v = r u``, ``|u| = 1``) and its derivatives from those of ``H`` at ``u``.

    With ``P = I - u u^T`` and ``F(v) = H(v/r)``: ``grad F = P g / r``, ``hess F = (P H2 P -
    (u.g) P - u (P g)^T - (P g) u^T) / r^2``; then the product rule with ``r^n`` (``grad r^n = n
    r^(n-1) u``, ``hess r^n = n (n-1) r^(n-2) u u^T + n r^(n-2) P``).  Works on float64 and on
    object (mpmath) arrays.
    """
    H0, G0, HH = out
    M, d = U.shape
    h = np.empty(M, dtype=U.dtype)
    g = np.empty((M, d), dtype=U.dtype) if order >= 1 else None
    H = np.empty((M, d, d), dtype=U.dtype) if order >= 2 else None
    eye = np.eye(d, dtype=int)
    for j in range(M):
        rj, u = r[j], U[j]
        h[j] = rj**n * H0[j]
        if order < 1:
            continue
        ug = np.dot(u, G0[j])
        Pg = G0[j] - u * ug
        dF = Pg / rj
        g[j] = n * rj ** (n - 1) * u * H0[j] + rj**n * dF
        if order < 2:
            continue
        P = eye - np.outer(u, u)
        d2F = (P.dot(HH[j]).dot(P) - ug * P - np.outer(u, Pg) - np.outer(Pg, u)) / rj**2
        H[j] = (H0[j] * (n * (n - 1) * rj ** (n - 2) * np.outer(u, u) + n * rj ** (n - 2) * P)
                + n * rj ** (n - 1) * (np.outer(u, dF) + np.outer(dF, u)) + rj**n * d2F)
    return h, g, H


def _power_n_outside(a: Any, v: Any, n: int, coefs: list, order: int, sqrt: Any) -> list:
    """A degree-``n`` form (``n >= 2``): the kernel's terms outside the frequency rule at one atom
    ``a``, ``sum_k coef_k c^k N^j`` (``c = <a, v>``, ``N = |a| |v|``, ``j = n - k``; ``coefs`` from
    :func:`compverify.numeric.spectral_power.kernel_coefficients`, which leaves out the zero ones,
    so ``n`` is given, not read off them: ``z|z|`` has no ``k = 2`` term), with their
    ``v``-derivatives; float or object arrays (``sqrt`` of the arithmetic)."""
    c, na, nv = np.dot(a, v), sqrt(np.dot(a, a)), sqrt(np.dot(v, v))
    N = na * nv
    dN = na * v / nv                                  # grad of N
    eye = np.eye(len(v), dtype=int)
    d2N = na * (eye / nv - np.outer(v, v) / nv**3)  # its Hessian
    h, g, H = 0 * c, 0 * v, 0 * np.outer(v, v)
    for k, coef in coefs:
        j = n - k
        ck = c**k
        Nj = N**j
        h = h + coef * ck * Nj
        if order < 1:
            continue
        dc = k * c ** (k - 1) if k else 0 * c       # d(c^k)/dc
        dNj = j * N ** (j - 1) if j else 0 * N        # d(N^j)/dN
        g = g + coef * (dc * Nj * a + ck * dNj * dN)
        if order < 2:
            continue
        d2c = k * (k - 1) * c ** (k - 2) if k >= 2 else 0 * c
        d2Nj = j * (j - 1) * N ** (j - 2) if j >= 2 else 0 * N
        H = H + coef * (d2c * Nj * np.outer(a, a) + dc * dNj * (np.outer(a, dN) + np.outer(dN, a))
                        + ck * (d2Nj * np.outer(dN, dN) + dNj * d2N))
    return [h, g, H][: order + 1]


def _edge(T: np.ndarray) -> np.ndarray:
    """Sum of |T| over the outermost nodes: the size of what the truncated rule leaves out."""
    A = np.abs(T)
    return A[0].sum(0) + A[-1].sum(0) + A[:, 0].sum(0) + A[:, -1].sum(0)


def _difference_estimate(d1: Any, d2: Any, model: Any, safety: float = SAFETY) -> Any:
    """The error of the finest of three nested rules from ``d1 = |T(h) - T(2h)|`` and
    ``d2 = |T(2h) - T(4h)|`` (floats, arrays or mpf).

    With the squaring model: ``min(d1, safety d1^2/d2)`` (``SAFETY``; ``SAFETY_POWER_N`` for
    relu_power:n, n >= 3); without (``model`` false): ``d1``, the
    coarser rule's error.
    """
    if isinstance(d1, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            squared = np.where(d2 > 0, safety * d1 * d1 / d2, d1)
        return np.where(model, np.minimum(d1, squared), d1)
    return min(d1, safety * d1 * d1 / d2) if model and d2 > 0 else d1


def _estimate(fine: Any, mid: Any, coarse: Any, edge: Any, absum: Any,
              model: Any = True) -> np.ndarray:
    """The rule's error estimate (module docstring), elementwise (:func:`_difference_estimate`)."""
    d1 = np.abs(np.asarray(fine - mid, dtype=float))
    d2 = np.abs(np.asarray(mid - coarse, dtype=float))
    est = _difference_estimate(d1, d2, model)
    return est + np.abs(edge) + 64 * np.finfo(float).eps * np.abs(absum)


class SpectralTarget(RuleTarget):
    """I.i.d. entries of a scalar law, activation with a spectral form (module docstring)."""

    def __init__(self, activation: Any, d: int, law: str, *, mean: Any = 0.0,
                 scale: float | None = None, abar: float = 1.0, name: str | None = None) -> None:
        self.activation = act = as_activation(activation)
        self.form = act.spectral_form
        if self.form is None:
            raise CompverifyError(
                f"activation {act.spec!r} has no spectral form (c0 + c1 z + even cosine transform "
                "+ odd sine transform); the spectral route covers relu, abs, leaky_relu, step, "
                "sign, tanh, sigmoid, erf, gelu, silu")
        if law not in _LAW_CLASSES:
            raise CompverifyError(f"unknown law {law!r}; expected one of {', '.join(LAWS)}")
        self.mean_vector = self.rotation = None
        if np.ndim(mean) == 1:
            mean = self._set_mean_vector(mean, d, law)
        d, m, s = iid_fields(d, mean, scale)
        self.d, self.m, self.s = d, m, s
        self.law_name, self.name = law, name or f"iid:{law}"
        self.abar = float(abar)
        if law == "gaussian":
            self._scale_text = None if scale is None else str(scale)
            self.law = _Gaussian(self.m, self.s, s_exact=self._scale_mp,
                                 m_exact=self._mean_norm_per_coordinate_mp)
            self.rotation_invariant = self.mean_vector is not None and not np.any(self.mean_vector)
        else:
            self.law = _LAW_CLASSES[law](self.m, self.s)
        # a positively homogeneous activation gets an exactly homogeneous h: the rule runs on
        # unit directions (the frequency grid is not invariant under rescaling v, so otherwise h
        # would be homogeneous only to the rule's error, and Newton on the quotient by the
        # rescaling symmetry could not converge)
        self.degree = act.homogeneous_degree
        f = self.form
        self._c = tuple(float(c) for c in (f.c0, f.c1, f.c2))
        if f.even and f.odd:
            # even x odd cross terms vanish (x -> -x), but no registry activation has both and the
            # tests cover neither: refuse rather than run untested
            raise CompverifyError(f"activation {act.spec!r}: an even atom z a(l z) together with an "
                                  "odd part is not supported by the spectral route")
        # the squaring model: always for rademacher/gaussian; for the uniform law only when the
        # activation's spectral density decays exponentially (no |z| part, not homogeneous:
        # tanh, sigmoid, erf), measured: uniform tanh, d = 2, successive differences 2.4e-10,
        # 1.4e-18, 4.3e-26 at steps 1/4 .. 1/32, while uniform relu converges algebraically
        self.ridges_at_atoms = self.degree is not None or self._c[2] != 0
        self.power_n = f.power_n  # relu_power:n, n >= 3: multiprecision only (spectral_power)
        if self.power_n and law == "gaussian":
            raise CompverifyError(f"activation {act.spec!r} with Gaussian weights has its exact "
                                  "series route (gaussian_target); the spectral route takes it "
                                  "for rademacher and uniform entries")
        self.squaring = self.law.squaring or not self.ridges_at_atoms
        self._set_grid(STEP, X_LO)
        self.arith = _arith()

    # --------------------------------------------------------------- a Gaussian mean vector
    def _set_mean_vector(self, mean: Any, d: Any, law: str) -> float:
        """``w ~ N(mu, s^2 I)`` with any ``mu``: the rule runs in the frame of the reflection ``R``
        (``R = I - 2 u u^T / |u|^2``, ``u = mu/|mu| - 1/sqrt(d)``) that maps ``mu`` to ``|mu|/sqrt(d)
        1``, i.i.d. entries of mean ``|mu|/sqrt(d)``: ``h(v) = h_iid(R v)``, ``grad = R grad_iid``,
        ``hess = R hess_iid R``.  Returns that mean (float)."""
        if law != "gaussian":
            raise CompverifyError(f"a mean vector applies to the gaussian law, not {law!r} "
                                  "(i.i.d. entries take one mean m)")
        d = int(d)
        mu = check_finite_array(mean, "mean", ndim=1)
        if mu.shape != (d,):
            raise CompverifyError(f"mean must have d = {d} entries, got {mu.size}")
        self.mean_vector = mu
        norm = float(np.linalg.norm(mu))
        if norm > 0 and not (np.all(mu == mu[0]) and mu[0] > 0):
            u = mu / norm - 1 / math.sqrt(d)
            self.rotation = np.eye(d) - 2 * np.outer(u, u) / (u @ u)
        return norm / math.sqrt(d)

    def _mean_mp(self) -> list:
        """The gaussian law's mean entries in mpmath: the floats exactly (as everywhere: a target's
        float parameters are the binary numbers they hold)."""
        mu = [self.m] * self.d if self.mean_vector is None else self.mean_vector
        return [mpmath.mpf(float(x)) for x in mu]

    def _mean_norm_per_coordinate_mp(self) -> Any:
        """The rotated frame's entry mean ``|mu| / sqrt(d)`` to 600 digits (once); the mean itself
        without a mean vector (no rotation)."""
        cache = self.__dict__.setdefault("_mean_mp_cache", [])
        if not cache:
            with mpmath.workdps(600):
                mu = self._mean_mp()
                cache.append(mu[0] if self.mean_vector is None
                             else mpmath.sqrt(mpmath.fsum(x * x for x in mu) / self.d))
        return cache[0]

    def _scale_mp(self) -> Any:
        """The gaussian law's scale to 600 digits (once): ``1/sqrt(d)`` by default, else the given
        number read exactly (a decimal string keeps all its digits)."""
        cache = self.__dict__.setdefault("_scale_mp_cache", [])
        if not cache:
            with mpmath.workdps(600):
                text = self._scale_text
                cache.append(1 / mpmath.sqrt(self.d) if text is None else mpmath.mpf(text))
        return cache[0]

    def _rotation_mp(self) -> np.ndarray:
        """``R`` of :meth:`_set_mean_vector` in mpmath at the working precision."""
        mu = self._mean_mp()
        norm = mpmath.sqrt(mpmath.fsum(x * x for x in mu))
        root = 1 / mpmath.sqrt(self.d)
        u = [x / norm - root for x in mu]
        uu = mpmath.fsum(x * x for x in u)
        return np.array([[(1 if i == j else 0) - 2 * u[i] * u[j] / uu for j in range(self.d)]
                         for i in range(self.d)], dtype=object)

    def _to_frame(self, V: np.ndarray) -> np.ndarray:
        return V if self.rotation is None else V @ self.rotation

    def _from_frame(self, out: tuple, R: Any = None) -> tuple:
        """``(h, grad, hess)`` of the rotated frame back to the caller's (``R`` symmetric)."""
        if self.rotation is None:
            return out
        R = self.rotation if R is None else R
        h, g, H = out
        g = None if g is None else g @ R
        H = None if H is None else np.array([R @ Hj @ R for Hj in H])
        return h, g, H

    def _set_grid(self, step: float, x_lo: float) -> None:
        self.step, self.x_lo = step, x_lo
        self.x, self.w, self.ww = _grid(self.d, step, x_lo)
        self.q = self.form.q(self.w) if self.form.odd else None
        self.q3 = self.form.q3(self.w) if self.form.c_zabs != 0 else None
        # relu_power:n: node weights without the density (c_rho/I_n)^2/(w1 w2)^(n+1), which
        # cancels against the integrand's (w1 w2)^(n+1) in the magnitude bound of _parts
        self.pow_ww = self.ww if self.form.power_n else None
        self.p = self.form.p(self.w) if self.form.has_even else None
        self.p_smooth = self.p - self._c[2] * (2 / math.pi) / self.w**2 if self.form.even else None
        self.logf0 = self.law.log_f0(self.w)
        self.method = (f"spectral quadrature: trapezoidal rule in two frequencies, step {step}, "
                       f"{self.w.size}^2 nodes; error from the nested rules of step {2 * step}, "
                       f"{4 * step}")

    def finer(self) -> SpectralTarget:
        """The same target on the rule of half the step (four times the nodes).

        The rules are nested, so the finer rule's levels are this rule and the next coarser one.
        """
        t = copy.copy(self)
        t.__dict__.pop("_C_cache", None)  # C depends on the rule; E|w| does not
        # the part of the integral below the first node is about w(x_lo) ~ 1e-20 at X_LO;
        # X_LO_FINE takes it to ~1e-52, below what a finer rule can reach
        t._set_grid(self.step / 2, min(self.x_lo, X_LO_FINE))
        return t

    # --------------------------------------------------------------- E|w| (once, mpmath)
    def mean_norm_mp(self, dps: int) -> mpmath.mpf:
        """``E|w|`` to ``dps`` digits (module docstring; mpmath quad, checked against its own
        error estimate)."""
        cache = self.__dict__.setdefault("_mean_norm_cache", {})
        if dps in cache:
            return cache[dps]
        d, law = self.d, self.law
        with mpmath.workdps(dps + 15):
            def integrand(u: Any) -> Any:  # lam = u^2
                g0, g1 = law.g01_mp(u * u)
                return 2 * g1 * g0 ** (d - 1)

            val, err = mpmath.quad(integrand, [0, 1, mpmath.inf], error=True)
            if err > mpmath.mpf(10) ** (-dps) * abs(val):
                raise CompverifyError(f"E|w| quadrature did not converge (error {err})")
            cache[dps] = +(d * val / mpmath.sqrt(mpmath.pi))
            return cache[dps]

    @cached_property
    def mean_norm(self) -> float:
        return float(self.mean_norm_mp(17))

    def zabs_mean_mp(self, dps: int) -> mpmath.mpf:
        """``E[w_1 |w|]`` to ``dps`` digits, for the ``z|z|`` part: with ``1/|w| = pi^(-1/2) int_0^inf
        lam^(-1/2) exp(-lam |w|^2) dlam``, ``E[w_1 |w|^2 exp(-lam |w|^2)] = g3 g0^(d-1) + (d-1) g1
        g2 g0^(d-2)``, ``g_k = E w^k exp(-lam w^2)`` (mpmath quad in ``lam = u^2``)."""
        cache = self.__dict__.setdefault("_zabs_mean_cache", {})
        if dps in cache:
            return cache[dps]
        d, law = self.d, self.law
        with mpmath.workdps(dps + 15):
            def integrand(u: Any) -> Any:
                lam = u * u
                g = [law.gk_mp(lam, k) for k in range(4)]
                rest = (d - 1) * g[1] * g[2] * g[0] ** (d - 2) if d > 1 else 0
                return 2 * (g[3] * g[0] ** (d - 1) + rest)

            val, err = mpmath.quad(integrand, [0, 1, mpmath.inf], error=True)
            if err > mpmath.mpf(10) ** (-dps) * max(abs(val), 1):
                raise CompverifyError(f"E[w_1 |w|] quadrature did not converge (error {err})")
            cache[dps] = +(val / mpmath.sqrt(mpmath.pi))
            return cache[dps]

    def _power_means_mp(self, dps: int) -> tuple:
        """``(c_square^2, c_zabs^2 8/pi, E w, E w^2, E[w_1 |w|])`` in mpmath at ``dps`` digits."""
        with mpmath.workdps(dps):
            csq, czabs = self.form.power_coefficients_mp()
            m1, m2 = self.law.moments_mp()
            zm = self.zabs_mean_mp(dps) if self.q3 is not None else mpmath.mpf(0)
            return csq * csq, czabs * czabs * 8 / mpmath.pi, m1, m2, zm

    @cached_property
    def _power_means(self) -> tuple:
        return tuple(float(x) for x in self._power_means_mp(20))

    def even_mean_mp(self, dps: int) -> mpmath.mpf:
        """``E_w E_x sigma_e(<w, x>)`` of the even part ``sigma_e = int p(w) (1 - cos(w z)) dw``:
        ``c2 sqrt(2/pi) E|w| + int_0^inf p_s(w) (1 - f(w, 0)^d) dw`` with ``p_s`` the even atoms'
        density (mpmath quad; ``1 - f(w, 0)`` from the law without cancellation)."""
        cache = self.__dict__.setdefault("_even_mean_cache", {})
        if dps in cache:
            return cache[dps]
        c2 = self._c[2]
        with mpmath.workdps(dps + 15):
            val = mpmath.mpf(0)
            if c2 != 0:
                val += self.form.coefficients_mp()[2] * mpmath.sqrt(2 / mpmath.pi) * \
                    self.mean_norm_mp(dps + 5)
            if self.form.even:
                d, law, form = self.d, self.law, self.form

                def integrand(w: Any) -> Any:
                    if w == 0:
                        return mpmath.mpf(0)  # p_s(w) (1 - f^d) -> a constant; a null set
                    return form.p_mp(w, smooth_only=True) * -mpmath.expm1(
                        d * mpmath.log1p(-law.one_minus_f0_mp(w)))

                part, err = mpmath.quad(integrand, [0, 0.5, 2, 8, 32, mpmath.inf], error=True)
                if err > mpmath.mpf(10) ** (-dps - 2) * max(abs(part), 1):
                    raise CompverifyError(f"E sigma_e(<w, x>) quadrature did not converge "
                                          f"(error {mpmath.nstr(err, 3)})")
                val += part
            cache[dps] = +val
            return cache[dps]

    @cached_property
    def even_mean(self) -> float:
        return float(self.even_mean_mp(17))

    # --------------------------------------------------------------- float64 h
    def _parts(self, V: np.ndarray, order: int) -> tuple:
        """Node arrays of the two frequency integrals and their derivatives (float64)."""
        w, d = self.w, self.d
        w1 = w[:, None, None]
        w2 = w[None, :, None]
        beta = w1[..., None] * w2[..., None] * V[None, None, :, :]  # (n, n, M, d)
        # where |w2 v_k| exceeds w1 max|w| by 40, both P(+-) and B are below e^-800: the node
        # contributes nothing, and the law's formulas would be evaluated far outside their range
        far = np.any(np.abs(w2[..., None] * V[None, None]) - w1[..., None] * self.law.bound() > 40,
                     axis=-1)
        with np.errstate(all="ignore"):
            parts_eo = self.law.eo(w, np.where(far[..., None], 0.0, beta))
        E, O, E1, O1, E2, O2, LP, LM = (np.where(far[..., None], 0.0, p) for p in parts_eo)
        S, Od = E.sum(-1), O.sum(-1)
        logB = d * self.logf0[:, None, None] - w2**2 * np.sum(V * V, axis=1)[None, None, :] / 2
        logB = np.where(far, -np.inf, logB)
        big = logB + S + np.abs(Od)
        # where S is large, logB + S +- O would cancel digits: take log P(+-) directly
        direct = np.abs(S) + np.abs(Od) > 30
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            lp = np.where(direct, LP.sum(-1), -np.inf)
            lm = np.where(direct, LM.sum(-1), -np.inf)
            Bu = np.where(direct, (np.exp(lp) + np.exp(lm)) / 2,
                          np.exp(big) * (1 + np.exp(-2 * np.abs(Od))) / 2)
            Bw = np.where(direct, (np.exp(lp) - np.exp(lm)) / 2,
                          np.sign(Od) * np.exp(big) * (-np.expm1(-2 * np.abs(Od))) / 2)
            Sc, Oc = np.minimum(S, 1.0), np.clip(Od, -1.0, 1.0)
            stable = np.exp(logB) * (np.expm1(Sc) * np.cosh(Oc) + 2 * np.sinh(Oc / 2) ** 2)
            BG = np.where((S < 1) & (np.abs(Od) < 1), stable, Bu - np.exp(logB))
        parts = {}
        ww = self.ww
        if self.p is not None:
            parts["even"] = (BG, Bu, Bw, (ww * self.p)[:, None] * (ww * self.p)[None, :], None)
        if self.q is not None:
            parts["odd"] = (Bw, Bw, Bu, -(ww * self.q)[:, None] * (ww * self.q)[None, :], None)
        ww12 = (w1 * w2)[..., None]
        if self.q3 is not None:
            # z|z|: Bw less its linear term B Olin, Olin = w1 w2 lam(w1) sum(v) (module docstring);
            # B (e^S sinh O - Olin) = B (expm1(S) sinh O + (sinh O - O) + O3), O3 = O - Olin
            O3, dO, lam = self.law.o3(w, np.where(far[..., None], 0.0, beta), O, O1)
            O3s = np.where(far, 0.0, O3.sum(-1))
            dO = np.where(far[..., None], 0.0, dO)
            lam = np.broadcast_to(lam, beta.shape)[..., 0]
            Olin = w1 * w2 * lam * V.sum(axis=1)[None, None, :]
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                B = np.exp(logB)
                stable3 = B * (np.expm1(Sc) * np.sinh(Oc) + _sinh_minus_x(Oc) + O3s)
                val3 = np.where((S < 1) & (np.abs(Od) < 1), stable3, Bw - B * Olin)
                # d/dv_k of B Olin is b_k B Olin + w1 w2 lam B: with it, the c_k Bu term of the
                # gradient becomes w1 w2 D_k, D_k = (O'_k - lam) Bu + lam (Bu - B), no cancellation
                D = dO * Bu[..., None] + lam[..., None] * BG[..., None]
            T3 = (ww12 * E1) * Bw[..., None] + ww12 * D if order >= 1 else None
            parts["odd3"] = (val3, Bw, Bu, -(ww * self.q3)[:, None] * (ww * self.q3)[None, :], T3)
        if self.pow_ww is not None:
            # relu_power:n: a bound on |node term| only (the values are multiprecision, the loop
            # of _eval_mp_rule), the weight's 1/t^(n+1) (t = w1 w2) taken into it: with |X| <=
            # R1 = R |v|_1 (R: tilted_reach), |cosh y - T_n(y)| <= |y|^(n+1)/(n+1)! cosh y for small t, and
            # |B (E cosh(t X) - T_n)| <= Bu + B sum_(m <= n) (t R1)^m/m! for large t
            n = self.power_n
            rn = float(self.form.power_coefficients_high_mp()[2])
            reach = self.law.tilted_reach(w)[:, None, None] * np.abs(V).sum(axis=1)[None, None, :]
            t = w1 * w2
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                taylor = sum((t * reach) ** m / math.factorial(m) for m in range(n + 1))
                large = (Bu + np.exp(logB) * taylor) / t ** (n + 1)
                bound = np.minimum(Bu * reach ** (n + 1) / math.factorial(n + 1), large)
            W = rn * rn * self.pow_ww[:, None] * self.pow_ww[None, :]
            parts["pow"] = (np.where(np.isfinite(bound), bound, 0.0), Bu, Bw, W, None)
        if order == 0:
            return parts, None
        deriv = dict(s=ww12 * E1, c=ww12 * O1, e2=ww12**2 * E2, o2=ww12**2 * O2,
                     b=-(w2[..., None] ** 2) * V[None, None, :, :], w2sq=w2**2)
        return parts, deriv

    def _integrals(self, V: np.ndarray, order: int) -> dict:
        """Per part: value, gradient, Hessian at the three rule levels, edge sum, abs sum."""
        parts, dv = self._parts(V, order)
        out = {}
        for key, (val, P1, P2, W, Tk_part) in parts.items():
            T = W[:, :, None] * val
            res = {"h": _levels(T), "edge": _edge(T), "abs": np.abs(T).sum(axis=(0, 1))}
            if order >= 1:
                b, s, c = dv["b"], dv["s"], dv["c"]
                # the derivative of val less its b term (the z|z| part supplies its own)
                Tk = s * P1[..., None] + c * P2[..., None] if Tk_part is None else Tk_part
                G = W[:, :, None, None] * (b * val[..., None] + Tk)
                res["g"] = _levels(G)
            if order >= 2:
                Wv = W[:, :, None] * val
                W1, W2 = W[:, :, None] * P1, W[:, :, None] * P2
                H = (np.einsum("abm,abmk,abml->abmkl", Wv, b, b)
                     + np.einsum("abmk,abml->abmkl", W[:, :, None, None] * b, Tk)
                     + np.einsum("abmk,abml->abmkl", W[:, :, None, None] * Tk, b)
                     + np.einsum("abm,abmk,abml->abmkl", W1, s, s)
                     + np.einsum("abm,abmk,abml->abmkl", W1, c, c)
                     + np.einsum("abm,abmk,abml->abmkl", W2, s, c)
                     + np.einsum("abm,abmk,abml->abmkl", W2, c, s))
                diag = (-dv["w2sq"] * Wv)[..., None] + W1[..., None] * dv["e2"] + W2[..., None] * dv["o2"]
                idx = np.arange(self.d)
                H[..., idx, idx] += diag
                res["H"] = _levels(H)
            out[key] = res
        if self.p_smooth is not None:
            out["even1"] = self._even_1d(V, order)
        atoms = self._atom_correction(V, order)
        if atoms is not None:
            out["atoms"] = atoms
        return out

    def near_atoms(self, V: np.ndarray) -> list:
        """Per direction, the law's atoms whose terms are taken exactly (:meth:`_atom_correction`):
        an array (k, d), or ``None`` when the correction does not apply (a continuous law, or an
        activation without ridges at atoms)."""
        return [atoms for atoms, _ in self._near(V)]

    def _near(self, V: np.ndarray) -> list:
        """Per direction ``(atoms, complete)``: the atoms within ``ATOM_GAP``, or when there are
        more than ``ATOM_CAP`` of them the nearest ones (the gap halved until they fit; measured,
        d = 40 at an atom: its 40 one-flip neighbours sit at gap 0.05), ``complete`` false then:
        near atoms are left in the rule, and the conservative estimate applies."""
        if not (self.ridges_at_atoms and isinstance(self.law, _Rademacher)):
            return [(None, False)] * len(V)
        out = []
        for v in V:
            gap, atoms = ATOM_GAP, None
            while atoms is None and gap > 1e-9:
                atoms = self.law.near_atoms(v, gap, ATOM_CAP)
                gap = gap if atoms is not None else gap / 2
            out.append((atoms, atoms is not None and gap == ATOM_GAP))
        return out

    def _atom_terms(self, a: np.ndarray, v: np.ndarray) -> list:
        """The rule's node terms of one atom ``a`` at ``v``: ``[(W, B phi, B phi', B phi'')]`` for
        the even part (``phi = cosh u - 1``) and the odd part (``phi = sinh u``), ``u = w1 w2 <a, v>``,
        ``B = exp(-(w1^2 |a|^2 + w2^2 |v|^2)/2)``; both exponentials ``B e^(+-u)`` are
        ``exp(-|w1 a -+ w2 v|^2/2) <= 1``."""
        w1, w2 = self.w[:, None], self.w[None, :]
        ww = self.ww
        u = w1 * w2 * float(a @ v)
        lB = -(w1 * w1 * float(a @ a) + w2 * w2 * float(v @ v)) / 2
        with np.errstate(under="ignore"):
            Ep, Em, B = np.exp(np.minimum(lB + u, 0.0)), np.exp(np.minimum(lB - u, 0.0)), np.exp(lB)
            small = np.abs(u) < 1
            cm1 = np.where(small, 2 * B * np.sinh(np.where(small, u, 0.0) / 2) ** 2, (Ep + Em) / 2 - B)
        Bs, Bc = (Ep - Em) / 2, (Ep + Em) / 2
        out = []
        if self.p is not None:
            out.append(((ww * self.p)[:, None] * (ww * self.p)[None, :], cm1, Bs, Bc))
        if self.q is not None:
            out.append(((ww * self.q)[:, None] * (ww * self.q)[None, :], Bs, Bc, Bs))
        if self.q3 is not None:  # phi = sinh u - u
            with np.errstate(under="ignore"):
                s3 = np.where(small, B * _sinh_minus_x(np.where(small, u, 0.0)), Bs - B * u)
            out.append(((ww * self.q3)[:, None] * (ww * self.q3)[None, :], s3, cm1, Bs))
        if self.pow_ww is not None:
            # relu_power:n, phi = cosh u - T_n(u) (or sinh): float64 magnitudes only, the weight's
            # 1/t^(n+1) taken in (as in _parts; the values are multiprecision)
            n, t = self.power_n, w1 * w2
            rn = float(self.form.power_coefficients_high_mp()[2])
            c = abs(float(a @ v))
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                taylor = sum(np.abs(u) ** m / math.factorial(m) for m in range(n + 1))
                bound = np.minimum(Bc * c ** (n + 1) / math.factorial(n + 1),
                                   (Bc + B * taylor) / t ** (n + 1))
            bound = np.where(np.isfinite(bound), bound, 0.0)
            out.append((rn * rn * self.pow_ww[:, None] * self.pow_ww[None, :], bound, bound, bound))
        return out

    def _atom_correction(self, V: np.ndarray, order: int) -> dict | None:
        """Exact kernel values for the atoms near each direction, in place of their rule terms.

        The relu-like kernel is singular at ``|rho| = 1``: an atom of the Rademacher law (nearly)
        parallel to ``v`` makes a ridge in the frequency integrand, on which the rule converges only
        algebraically.  The integrand is linear in the law, so the atom's share ``2^-d K(a, v)``
        can be taken out of the rule's sum (the same rule on the atom's own integrand, exactly
        :meth:`_atom_terms`) and put back exactly (the closed-form kernel, less its parts outside
        the frequency integrals: ``c0^2 + c0 (G(a) + G(v)) + c1^2 <a, v> + G(a) G(v)``,
        ``G(x) = c2 sqrt(2/pi) |x|``).  Returned as one more part of :meth:`_integrals` (levels: the
        exact value less the atom's rule terms at each level), or ``None`` if no direction has one.
        """
        near = self.near_atoms(V)
        if all(x is None or len(x) == 0 for x in near):
            return None
        from compverify.numeric.kernel_sums import cross_term

        M, d = V.shape
        c0, c1, c2 = self._c
        kg = c2 * math.sqrt(2 / math.pi)
        pcoefs = self._power_coefficients_float
        prob = 0.5**d
        res = {"h": [np.zeros(M) for _ in range(3)], "g": [np.zeros((M, d)) for _ in range(3)],
               "H": [np.zeros((M, d, d)) for _ in range(3)], "edge": np.zeros(M), "abs": np.zeros(M)}
        w1, w2 = self.w[:, None], self.w[None, :]
        eye = np.eye(d)
        for j, atoms in enumerate(near):
            if atoms is None or len(atoms) == 0:
                continue
            v = V[j]
            nv = float(np.linalg.norm(v))
            ct = cross_term(self.activation.kernel, np.full(len(atoms), prob), atoms, v[None], order=order)
            exact = [ct.h[0], None if ct.dh is None else ct.dh[0], None if ct.d2h is None else ct.d2h[0]]
            for a in atoms:
                Ga = kg * float(np.linalg.norm(a))
                exact[0] -= prob * (c0 * c0 + c0 * (Ga + kg * nv) + c1 * c1 * float(a @ v) + Ga * kg * nv)
                if order >= 1:
                    exact[1] = exact[1] - prob * ((c0 + Ga) * kg * v / nv + c1 * c1 * a)
                if order >= 2:
                    exact[2] = exact[2] - prob * (c0 + Ga) * kg * (eye - np.outer(v, v) / nv**2) / nv
                if pcoefs:
                    for k, x in enumerate(_power_n_outside(a, v, self.degree, pcoefs, order, math.sqrt)):
                        exact[k] = exact[k] - prob * x
                for W, f0, f1, f2 in self._atom_terms(a, v):
                    T = prob * W * f0
                    lv = _levels(T)
                    res["edge"][j] += _edge(T[..., None])[0]
                    res["abs"][j] += np.abs(T).sum()
                    for k in range(3):
                        res["h"][k][j] -= lv[k]
                    if order >= 1:
                        al = _levels(prob * W * (-w2 * w2) * f0)
                        be = _levels(prob * W * w1 * w2 * f1)
                        for k in range(3):
                            res["g"][k][j] -= al[k] * v + be[k] * a
                    if order >= 2:
                        A1 = _levels(prob * W * w2**4 * f0)
                        A2 = _levels(prob * W * (-w1 * w2**3) * f1)
                        A4 = _levels(prob * W * (w1 * w2) ** 2 * f2)
                        for k in range(3):
                            res["H"][k][j] -= (A1[k] * np.outer(v, v) + al[k] * eye + A4[k] * np.outer(a, a)
                                               + A2[k] * (np.outer(a, v) + np.outer(v, a)))
            for k in range(3):
                res["h"][k][j] += exact[0]
                if order >= 1:
                    res["g"][k][j] += exact[1]
                if order >= 2:
                    res["H"][k][j] += exact[2]
        res = {key: (tuple(val) if isinstance(val, list) else val) for key, val in res.items()}
        return res

    def _even_1d(self, V: np.ndarray, order: int) -> dict:
        """``G(v) = E_x sigma_s(<v, x>) = int p_s(w) (1 - exp(-w^2 |v|^2/2)) dw`` (``sigma_s`` the even
        atoms) on the rule's nodes, with derivatives, at the three nested levels."""
        w = self.w[:, None]
        W = (self.ww * self.p_smooth)[:, None]
        r2 = np.sum(V * V, axis=1)[None, :]
        e = np.exp(-w * w * r2 / 2)
        T = W * -np.expm1(-w * w * r2 / 2)

        def levels(X: np.ndarray) -> tuple:
            return X.sum(0), 2 * X[::2].sum(0), 4 * X[::4].sum(0)

        res = {"h": levels(T), "edge": np.abs(T[0]) + np.abs(T[-1]), "abs": np.abs(T).sum(0)}
        if order >= 1:
            res["g"] = levels((W * w * w * e)[:, :, None] * V[None])
        if order >= 2:
            a, b = W * w * w * e, W * w**4 * e
            H = (a[..., None, None] * np.eye(self.d)
                 - b[..., None, None] * V[None, :, :, None] * V[None, :, None, :])
            res["H"] = levels(H)
        return res

    def _coef(self, key: str) -> float:
        """The factor of a part in ``h``: ``c0 + E sigma_e(A)`` for the even atoms' ``G(v)``."""
        return self._c[0] + self.even_mean if key == "even1" else 1.0

    def _assemble(self, V: np.ndarray, integ: dict, level: int, order: int) -> tuple:
        if self.power_n:
            raise CompverifyError(
                f"{self.activation.spec}: the spectral rule evaluates relu_power:n (n >= 3) in "
                "multiprecision only; use PowerSpectralTarget (from_options) for float64 values")
        c0, c1, c2 = self._c
        Ee = self.even_mean
        nv = np.linalg.norm(V, axis=1)
        # E_x of the |z| part at v is c2 sqrt(2/pi) |v|; it multiplies c0 + E sigma_e(A)
        lin_norm = (c0 + Ee) * c2 * math.sqrt(2 / math.pi)
        h = c0 * c0 + c0 * Ee + lin_norm * nv + c1 * c1 * self.m * V.sum(axis=1)
        for key, r in integ.items():
            h = h + self._coef(key) * r["h"][level]
        g = H = None
        if order >= 1:
            vhat = V / nv[:, None]
            g = lin_norm * vhat + c1 * c1 * self.m
            for key, r in integ.items():
                g = g + self._coef(key) * r["g"][level]
        if order >= 2:
            eye = np.eye(self.d)
            H = lin_norm * (eye[None] - vhat[:, :, None] * vhat[:, None, :]) / nv[:, None, None]
            for key, r in integ.items():
                H = H + self._coef(key) * r["H"][level]
        if self.form.has_power:
            h, g, H = self._power_terms(V, h, g, H, order)
        a = self.abar
        return a * h, None if g is None else a * g, None if H is None else a * H

    def _power_terms(self, V: Any, h: Any, g: Any, H: Any, order: int, dps: int | None = None) -> tuple:
        """Add the degree-2 part outside the frequency rule (float64, or mpmath at ``dps``):
        ``c_square^2 E[A^2 B^2] = c_square^2 (E|w|^2 |v|^2 + 2 E<w, v>^2)`` (``E<w, v>^2 = (E w^2 -
        (E w)^2) |v|^2 + (E w)^2 sum(v)^2``) and ``c_zabs^2 (8/pi) E[w_1 |w|] |v| sum(v)``, the
        ``z|z|`` kernel's term ``(8/pi) <u, v> |u| |v|`` averaged (the ``z^2 x z|z|`` cross terms
        vanish by ``x -> -x``).  Works on float and object rows."""
        if dps is None:
            k2, k3, m1, m2, zm = self._power_means
        else:
            k2, k3, m1, m2, zm = self._power_means_mp(dps)
        d = self.d
        norm2 = k2 * (d * m2 + 2 * (m2 - m1 * m1))  # coefficient of |v|^2
        sum2 = 2 * k2 * m1 * m1                       # of sum(v)^2
        kz = k3 * zm
        for j, v in enumerate(V):
            r2 = sum(x * x for x in v)
            nv = mpmath.sqrt(r2) if dps is not None else math.sqrt(r2)
            S1 = sum(v)
            h[j] = h[j] + norm2 * r2 + sum2 * S1 * S1 + kz * nv * S1
            if order >= 1:
                for k in range(d):
                    g[j][k] = g[j][k] + 2 * norm2 * v[k] + 2 * sum2 * S1 + kz * (S1 * v[k] / nv + nv)
            if order >= 2:
                for k in range(d):
                    for l in range(d):
                        H[j][k][l] = H[j][k][l] + (2 * norm2 * (k == l) + 2 * sum2 + kz * (
                            S1 * ((k == l) - v[k] * v[l] / r2) / nv + (v[k] + v[l]) / nv))
        return h, g, H

    def _check_v(self, V: Any) -> np.ndarray:
        V = self._check(V)
        if np.any(np.linalg.norm(V, axis=1) == 0):
            raise CompverifyError("the spectral target needs nonzero directions v (|v| = 0 given)")
        return V

    def _eval_rule(self, V: np.ndarray, order: int) -> tuple:
        return self._assemble(V, self._integrals(V, order), 0, order)

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        V = self._check_v(V)
        if self.rotation is not None:
            return self._from_frame(self._eval_unrotated(self._to_frame(V), order))
        return self._eval_unrotated(V, order)

    def _row_block(self, order: int) -> int:
        """How many directions one float64 rule evaluation takes at once (:data:`ROW_BLOCK_BYTES`):
        the rule's arrays hold about 50 floats per node pair, direction and coordinate (measured,
        relu with uniform entries, d = 2: 28 MB per direction for :meth:`h_error`)."""
        per_row = 8 * 50 * self.w.size ** 2 * (self.d + 1) * max(1, self.d) ** order
        return max(1, ROW_BLOCK_BYTES // per_row)

    def _eval_unrotated(self, V: np.ndarray, order: int) -> tuple:
        block = self._row_block(order)
        if len(V) > block:  # directions are independent: evaluate them in blocks
            return _stack_rows([self._eval_unrotated(V[i:i + block], order)
                                for i in range(0, len(V), block)])
        if self.degree is None:
            return self._eval_rule(V, order)
        r = np.linalg.norm(V, axis=1)
        out = self._eval_rule(V / r[:, None], order)
        return _lift(r, V / r[:, None], out, self.degree, order)

    def h_error(self, V: Any) -> np.ndarray:
        """Estimated error of ``h(v_j)`` (module docstring), shape (M,)."""
        V = self._to_frame(self._check_v(V))
        block = self._row_block(0)
        return np.concatenate([self._h_error_unrotated(V[i:i + block])
                               for i in range(0, len(V), block)])

    def _h_error_unrotated(self, V: np.ndarray) -> np.ndarray:
        scale = 1.0
        if self.degree is not None:  # the rule runs on unit directions (exact homogeneity)
            r = np.linalg.norm(V, axis=1)
            V, scale = V / r[:, None], r**self.degree
        integ = self._integrals(V, 0)
        levels = [self._assemble(V, integ, k, 0)[0] for k in range(3)]
        edge, absum = self._edge_terms(integ)
        return scale * _estimate(*levels, edge, absum + np.abs(levels[0]), model=self._model(V))

    def _model(self, V: np.ndarray) -> np.ndarray:
        """Where the squaring model may be used: not for a direction within ``ATOM_GAP`` of an atom
        of a discrete law (the kernel's singularity at ``|rho| = 1`` makes a ridge in the frequency
        integrand; measured, Rademacher d = 6, 10, 12: the model fails for ``1 - |rho| <= 0.01``
        while ``d1`` still bounds the error)."""
        if not self.ridges_at_atoms:
            return np.full(len(V), self.squaring)
        corrected = np.array([complete for _, complete in self._near(V)], dtype=bool)
        return self.squaring & ((self.law.atom_gap(V) >= ATOM_GAP) | corrected)

    def _edge_terms(self, integ: dict) -> tuple[np.ndarray, np.ndarray]:
        """What the truncated rule leaves out (its outermost nodes) and the sum of |terms|."""
        edge = sum(abs(self._coef(key)) * r["edge"] for key, r in integ.items())
        absum = sum(abs(self._coef(key)) * r["abs"] for key, r in integ.items())
        return self.abar * edge, self.abar * absum

    def h_grad_estimate_mp(self, V: Any, dps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``h(v_j)``, its gradient and the rule's error estimate of ``h``, all in mpmath.

        The estimate is that of :meth:`h_error` (module docstring) with the nested rules summed
        in mpmath at ``dps`` digits, so it is not floored at float64 rounding: this is how a
        finer rule (:meth:`finer`) shows the digits it adds.
        """
        dps = check_dps(dps)
        self._check_v(np.array([[float(x) for x in row] for row in np.asarray(V)]))
        R = None
        if self.rotation is not None:
            with mpmath.workdps(dps + 10):
                R = self._rotation_mp()
                V = self._mp_rows(V, dps + 10) @ R
        out, lv, U, scale = self._eval_mp_lifted(V, 1, dps, levels=True)
        if R is not None:
            with mpmath.workdps(dps + 10):
                out = self._from_frame(out, R)
        with mpmath.workdps(dps + 10):
            Uf = np.array([[float(x) for x in row] for row in U])
            edge, absum = self._edge_terms(self._integrals(Uf, 0))
            err = np.empty(len(U), dtype=object)
            floor = mpmath.mpf(10) ** (-dps)
            model = self._model(Uf)
            for j in range(len(U)):
                d1, d2 = abs(lv[0][j] - lv[1][j]), abs(lv[1][j] - lv[2][j])
                e = _difference_estimate(d1, d2, bool(model[j]),
                                         SAFETY_POWER_N if self.power_n else SAFETY)
                e += mpmath.mpf(float(edge[j])) + floor * (mpmath.mpf(float(absum[j]))
                                                           + abs(lv[0][j]))
                err[j] = scale[j] * e
        return round_mp(out[0], dps), round_mp(out[1], dps), round_mp(err, dps)

    def loss_error(self, b: Any, V: Any) -> float:
        """Estimated error of ``C - 2 sum_j b_j h(v_j) + b^T K b``: ``C_error + 2 sum |b_j| e_j``."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ self.h_error(V))

    # --------------------------------------------------------------- mpmath h and C
    def _extra_digits(self, i: int, j: int) -> int:
        # the digits lost to cancellation near the axes: (w1 w2)^2 in the value, (w1 w2)^(n+1)
        # for relu_power:n (and (n+1)! more where the Taylor terms are large)
        lw = -math.log10(self.w[i]) if self.w[i] < 1 else 0.0
        lw2 = -math.log10(self.w[j]) if self.w[j] < 1 else 0.0
        if self.power_n:
            n1 = self.power_n + 1
            return int(12 + math.log10(math.factorial(n1)) + n1 * (lw + lw2))
        return int(12 + 3 * lw + 3 * lw2)

    def _node_mp(self, i: int) -> tuple:
        """Node ``i`` of the rule in one frequency, in mpmath: ``(w, W)``, ``w = exp(x - exp(-x))``
        and its trapezoid weight ``W = w'(x) step`` (``_grid`` in float64)."""
        cache = self.__dict__.setdefault("_node_cache", {})
        key = (i, mpmath.mp.prec, self.step, self.x_lo)
        if key not in cache:
            x = mpmath.mpf(float(self.x[i]))
            w = mpmath.exp(x - mpmath.exp(-x))
            cache[key] = (w, w * (1 + mpmath.exp(-x)) * mpmath.mpf(self.step))  # dyadic step: exact
        return cache[key]

    def _weights_mp(self, i: int, j: int) -> dict:
        (w1, W1), (w2, W2) = self._node_mp(i), self._node_mp(j)
        out = {"w1": w1, "w2": w2}
        if self.p is not None:
            out["even"] = W1 * W2 * self.form.p_mp(w1) * self.form.p_mp(w2)
        if self.q is not None:  # integrand (P(-) - P(+))/2 here (the float path uses -Bw)
            out["odd"] = W1 * W2 * self.form.q_mp(w1) * self.form.q_mp(w2)
        if self.q3 is not None:  # (P(-) - P(+))/2 less w1 w2 mu(w1) B sum(v)
            out["odd3"] = W1 * W2 * self.form.q3_mp(w1) * self.form.q3_mp(w2)
        if self.power_n:  # (c_rho/I_n)^2 / (w1 w2)^(n+1)
            cache = self.__dict__.setdefault("_rho_scale_cache", {})
            if mpmath.mp.prec not in cache:  # SymPy's evalf is slow: once per precision
                cache[mpmath.mp.prec] = self.form.power_coefficients_high_mp()[2] ** 2
            out["pow"] = W1 * W2 * cache[mpmath.mp.prec] / (w1 * w2) ** (self.power_n + 1)
        return out

    def _keep(self, T_abs: np.ndarray, dps: int) -> np.ndarray:
        """Nodes whose float64 contribution is not negligible at ``dps`` digits."""
        total = T_abs.sum()
        # relu_power:n: T_abs are bounds, up to (R |v|_1 / |X|)^(n+1) above the terms
        margin = 8 + (4 * self.power_n if self.power_n else 0)
        return T_abs > total * 10.0 ** (-(dps + margin)) if total > 0 else T_abs >= 0

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        dps = check_dps(dps)
        if self.rotation is not None:
            with mpmath.workdps(dps + 10):
                R = self._rotation_mp()
                out = self._eval_mp_unrotated(self._mp_rows(V, dps + 10) @ R, order, dps)
                out = self._from_frame(out, R)
            return tuple(None if x is None else round_mp(x, dps) for x in out)
        return self._eval_mp_unrotated(V, order, dps)

    def _eval_mp_unrotated(self, V: Any, order: int, dps: int) -> tuple:
        if self.degree is None:
            return self._eval_mp_rule(self._mp_rows(V, dps), order, dps)
        out, _, _, _ = self._eval_mp_lifted(V, order, dps, levels=False)
        return tuple(None if x is None else round_mp(x, dps) for x in out)

    def _eval_mp_lifted(self, V: Any, order: int, dps: int, levels: bool) -> tuple:
        """The mpmath rule at ``dps + 10`` digits, on unit directions for a homogeneous sigma
        (lifted back, :func:`_lift`): ``(out, levels or None, U, scale)`` with ``U`` the
        directions the rule ran on and ``scale`` the factors ``|v|^n`` of the levels."""
        with mpmath.workdps(dps + 10):
            Vm = self._mp_rows(V, dps + 10)
            if self.degree is None:
                res = self._eval_mp_rule(Vm, order, dps + 10, levels=levels)
                out, lv = res if levels else (res, None)
                return out, lv, Vm, [mpmath.mpf(1)] * len(Vm)
            n = self.degree
            r = np.array([mpmath.sqrt(mpmath.fsum(x * x for x in row)) for row in Vm], dtype=object)
            U = np.array([[x / rj for x in row] for row, rj in zip(Vm, r, strict=True)],
                         dtype=object)
            res = self._eval_mp_rule(U, order, dps + 10, levels=levels)
            out, lv = res if levels else (res, None)
            return _lift(r, U, out, n, order), lv, U, [rj**n for rj in r]

    def _eval_mp_rule(self, Vm: Any, order: int, dps: int, levels: bool = False) -> tuple:
        """``(h, grad, hess)`` of the rule in mpmath; with ``levels``, also ``h`` at the three
        nested levels (steps ``step``, ``2 step``, ``4 step``) for the error estimate."""
        Vf = self._check_v(np.array([[float(x) for x in row] for row in Vm]))
        parts, _ = self._parts(Vf, 0)
        T_abs = sum(np.abs(W[:, :, None] * val).sum(-1) for val, _, _, W, _ in parts.values())
        near = self.near_atoms(Vf)
        prob = 0.5**self.d
        for v, atoms in zip(Vf, near, strict=True):  # the atoms' own terms (the odd part may cancel)
            for a in [] if atoms is None else atoms:
                T_abs = T_abs + sum(prob * np.abs(W * f0) for W, f0, _, _ in self._atom_terms(a, v))
        keep = self._keep(T_abs, dps)
        M, d = Vm.shape
        A = self.arith
        with A.precision(dps + 10):
            zero = A.num(0)
        acc = {key: [[zero] * M, np.full((M, d), zero, dtype=object),
                     np.full((M, d, d), zero, dtype=object)] for key in parts}
        lev = {key: [[zero] * M for _ in range(3)] for key in parts}
        law = self.law
        npow = self.power_n
        with mpmath.workprec(100_000):  # exact conversion (arb's num is exact at any precision)
            Vnum = [[A.num(x) for x in row] for row in Vm]  # once, not at every node
        for i, j in zip(*(idx.tolist() for idx in np.nonzero(keep)), strict=True):
            extra = dps + self._extra_digits(i, j)
            with mpmath.workdps(extra):
                wt = {k: A.num(x) for k, x in self._weights_mp(i, j).items()}
            with A.precision(extra):
                w1, w2 = wt["w1"], wt["w2"]
                f0, f0l, _ = law.f_mp(w1, zero, A)
                Phi1 = f0**d
                mu = -f0l / w1  # E_tilt w at w1: f'/f = -w1 E_tilt w at t = 0
                for jm in range(M):
                    v = Vnum[jm]
                    fp = [law.f_mp(w1, w2 * vk, A) for vk in v]
                    fm = [law.f_mp(w1, -w2 * vk, A) for vk in v]
                    P = A.fprod(f[0] for f in fp)
                    Q = A.fprod(f[0] for f in fm)
                    B = Phi1 * A.exp(-w2 * w2 * A.fsum(vk * vk for vk in v) / 2)
                    if "odd3" in acc:
                        S1 = A.fsum(v)
                        lin = w1 * w2 * mu * B  # times sum(v): the z|z| part's linear term
                    if npow:  # the Taylor terms of E_tilt cosh/sinh(t X) (spectral_power)
                        Tn, dTn, d2Tn = taylor_terms(self._tilted_mp(i, dps, A)[1], v, w1 * w2,
                                                     (npow + 1) % 2, order, A.num(1))
                    for key in acc:
                        W = wt[key]
                        if key == "even" or (key == "pow" and npow % 2):
                            cp, cq, cb = P / 2, Q / 2, (-B * Tn if key == "pow" else -B)
                        elif key == "pow":
                            cp, cq, cb = -P / 2, Q / 2, -B * Tn
                        else:
                            cp, cq, cb = -P / 2, Q / 2, zero
                        T = W * (cp + cq + cb - (lin * S1 if key == "odd3" else zero))
                        acc[key][0][jm] += T
                        if levels and i % 2 == 0 and j % 2 == 0:
                            lev[key][1][jm] += 4 * T
                            if i % 4 == 0 and j % 4 == 0:
                                lev[key][2][jm] += 16 * T
                        if order >= 1:
                            for k in range(d):
                                acc[key][1][jm, k] += W * (w2 * (cp * fp[k][1] - cq * fm[k][1])
                                                           - cb * w2 * w2 * v[k])
                                if key == "odd3":
                                    acc[key][1][jm, k] -= W * lin * (1 - S1 * w2 * w2 * v[k])
                                elif key == "pow":
                                    acc[key][1][jm, k] -= W * B * dTn[k]
                        if order >= 2:
                            for k in range(d):
                                for l in range(k, d):
                                    tp = fp[k][1] * fp[l][1]
                                    tq = fm[k][1] * fm[l][1]
                                    if k == l:
                                        tp += fp[k][2] - fp[k][1] ** 2
                                        tq += fm[k][2] - fm[k][1] ** 2
                                    tb = w2**4 * v[k] * v[l] - (w2 * w2 if k == l else 0)
                                    acc[key][2][jm, k, l] += W * (w2 * w2 * (cp * tp + cq * tq)
                                                                  + cb * tb)
                                    if key == "odd3":
                                        acc[key][2][jm, k, l] -= W * lin * (
                                            S1 * tb - w2 * w2 * (v[k] + v[l]))
                                    elif key == "pow":
                                        acc[key][2][jm, k, l] += W * B * (
                                            w2 * w2 * (v[k] * dTn[l] + v[l] * dTn[k]) - d2Tn[k][l])
        with mpmath.workdps(dps + 10):
            def to_mp(x: Any) -> Any:
                return np.vectorize(A.to_mpf, otypes=[object])(x) if isinstance(x, np.ndarray) \
                    else [A.to_mpf(y) for y in x]

            acc = {key: [to_mp(x) for x in val] for key, val in acc.items()}
            lev = {key: [to_mp(x) for x in val] for key, val in lev.items()}
            if self.p_smooth is not None:
                acc["even1"], lev["even1"] = self._even_1d_mp(Vm, order, dps)
            if any(x is not None and len(x) for x in near):
                acc["atoms"], lev["atoms"] = self._atom_correction_mp(Vm, near, keep, order, dps)
            out = self._assemble_mp(Vm, acc, order, dps)
            if not levels:
                return out
            coarser = tuple(self._assemble_mp(Vm, {key: [lev[key][k], None, None] for key in acc},
                                              0, dps)[0] for k in (1, 2))
            return out, (out[0], *coarser)

    def _even_1d_mp(self, Vm: np.ndarray, order: int, dps: int) -> tuple:
        """:meth:`_even_1d` in mpmath: ``[h, grad, hess]`` and ``h`` at the three levels."""
        M, d = Vm.shape
        zero = mpmath.mpf(0)
        acc = [[zero] * M, np.full((M, d), zero, dtype=object), np.full((M, d, d), zero, dtype=object)]
        lev = [[zero] * M for _ in range(3)]
        r2 = [mpmath.fsum(x * x for x in row) for row in Vm]
        for i in range(self.w.size):
            w, Wi = self._node_mp(i)
            W = Wi * self.form.p_mp(w, smooth_only=True)
            for jm in range(M):
                e = mpmath.exp(-w * w * r2[jm] / 2)
                T = W * -mpmath.expm1(-w * w * r2[jm] / 2)
                acc[0][jm] += T
                if i % 2 == 0:
                    lev[1][jm] += 2 * T
                    if i % 4 == 0:
                        lev[2][jm] += 4 * T
                v = Vm[jm]
                for k in range(d if order >= 1 else 0):
                    acc[1][jm, k] += W * w * w * e * v[k]
                    for l in range(k, d if order >= 2 else 0):
                        acc[2][jm, k, l] += W * w * w * e * ((1 if k == l else 0) - w * w * v[k] * v[l])
        lev[0] = list(acc[0])
        return acc, lev

    def _atom_correction_mp(self, Vm: np.ndarray, near: list, keep: np.ndarray, order: int,
                            dps: int) -> tuple:
        """:meth:`_atom_correction` in mpmath (at the node's raised precision, like the main loop):
        ``[h, grad, hess]`` and ``h`` at the three levels."""
        from compverify.numeric.kernel_sums import cross_term_mp

        M, d = Vm.shape
        zero = mpmath.mpf(0)
        acc = [[zero] * M, np.full((M, d), zero, dtype=object), np.full((M, d, d), zero, dtype=object)]
        lev = [[zero] * M for _ in range(3)]
        # each node at its own raised precision, once for all directions
        nodes = []
        for i, j in zip(*(idx.tolist() for idx in np.nonzero(keep)), strict=True):
            extra = dps + self._extra_digits(i, j)
            with mpmath.workdps(extra):
                nodes.append((i, j, extra, self._weights_mp(i, j)))
        top = max((n[2] for n in nodes), default=dps + 10)
        with mpmath.workdps(dps + 10):
            c0, c1, c2 = self.form.coefficients_mp()
            kg = c2 * mpmath.sqrt(2 / mpmath.pi)
            prob = mpmath.mpf(2) ** -self.d
            pcoefs = self._power_coefficients(dps)
        npow = self.power_n
        for jm, atoms in enumerate(near):
            if atoms is None or len(atoms) == 0:
                continue
            v = list(Vm[jm])
            atoms_mp = self._atoms_mp(atoms, top)
            with mpmath.workdps(top):  # <a, v>, |a|^2, |v|^2 do not depend on the node
                r2 = mpmath.fsum(x * x for x in v)
                dots = [(mpmath.fsum(x * y for x, y in zip(am, v, strict=True)),
                         mpmath.fsum(x * x for x in am)) for am in atoms_mp]
            sums = [[mpmath.mpf(0)] * 3 for _ in atoms]  # value at the three levels
            scal = [[mpmath.mpf(0)] * 5 for _ in atoms]  # al, be, A1, A2, A4 (finest level)
            for i, j, extra, wt in nodes:
                with mpmath.workdps(extra):
                    w1, w2 = wt["w1"], wt["w2"]
                    for ia, (t, na2) in enumerate(dots):
                        u = w1 * w2 * t
                        lB = -(w1 * w1 * na2 + w2 * w2 * r2) / 2
                        Ep, Em, B = mpmath.exp(lB + u), mpmath.exp(lB - u), mpmath.exp(lB)
                        Bs, Bc = (Ep - Em) / 2, (Ep + Em) / 2
                        terms = []
                        if "even" in wt:
                            terms.append((wt["even"], Bc - B, Bs, Bc))
                        if "odd" in wt:
                            terms.append((wt["odd"], Bs, Bc, Bs))
                        if "odd3" in wt:
                            terms.append((wt["odd3"], Bs - B * u, Bc - B, Bs))
                        if "pow" in wt:  # phi = cosh u - T_n(u) or sinh u - T_n(u), and phi', phi''
                            tay = [mpmath.mpf(1)]
                            for m in range(1, npow + 1):
                                tay.append(tay[-1] * u / m)
                            par = (npow + 1) % 2
                            T0, T1, T2 = (B * mpmath.fsum(tay[m - q] for m in range(q, npow + 1)
                                                          if m % 2 == par) for q in (0, 1, 2))
                            e0, e1 = (Bc, Bs) if par == 0 else (Bs, Bc)
                            terms.append((wt["pow"], e0 - T0, e1 - T1, e0 - T2))
                        for W, f0, f1, f2 in terms:
                            T = W * f0
                            sums[ia][0] += T
                            if i % 2 == 0 and j % 2 == 0:
                                sums[ia][1] += 4 * T
                                if i % 4 == 0 and j % 4 == 0:
                                    sums[ia][2] += 16 * T
                            if order >= 1:
                                scal[ia][0] += -W * w2 * w2 * f0
                                scal[ia][1] += W * w1 * w2 * f1
                            if order >= 2:
                                scal[ia][2] += W * w2**4 * f0
                                scal[ia][3] += -W * w1 * w2**3 * f1
                                scal[ia][4] += W * (w1 * w2) ** 2 * f2
            with mpmath.workdps(dps + 10):
                ct = cross_term_mp(self.activation.kernel, [prob] * len(atoms),
                                   np.array(atoms_mp, dtype=object), np.array([v], dtype=object),
                                   order=order, dps=dps + 10)
                nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
                hval = ct.h[0]
                g = np.array(ct.dh[0], dtype=object) if order >= 1 else None
                H = np.array(ct.d2h[0], dtype=object) if order >= 2 else None
                lv = [mpmath.mpf(0)] * 3
                vv = np.array(v, dtype=object)
                for ia, row in enumerate(atoms_mp):
                    am = np.array(row, dtype=object)
                    Ga = kg * mpmath.sqrt(mpmath.fsum(x * x for x in am))
                    hval -= prob * (c0 * c0 + c0 * (Ga + kg * nv) + c1 * c1 * np.dot(am, vv)
                                    + Ga * kg * nv)
                    if pcoefs:
                        po = _power_n_outside(am, vv, self.degree, pcoefs, order, mpmath.sqrt)
                        hval -= prob * po[0]
                        if order >= 1:
                            g = g - prob * po[1]
                        if order >= 2:
                            H = H - prob * po[2]
                    for k in range(3):
                        lv[k] -= prob * sums[ia][k]
                    al, be, A1, A2, A4 = (prob * x for x in scal[ia])
                    if order >= 1:
                        g = g - ((c0 + Ga) * kg / nv * prob) * vv - (prob * c1 * c1) * am - al * vv - be * am
                    if order >= 2:
                        P = np.array([[(1 if k == l else 0) - vv[k] * vv[l] / nv**2 for l in range(d)]
                                      for k in range(d)], dtype=object)
                        H = (H - (prob * (c0 + Ga) * kg / nv) * P - A1 * np.outer(vv, vv)
                             - A2 * (np.outer(am, vv) + np.outer(vv, am)) - A4 * np.outer(am, am))
                        for k in range(d):
                            H[k, k] -= al
                acc[0][jm] = hval + lv[0]
                for k in range(3):
                    lev[k][jm] = hval + lv[k]
                if order >= 1:
                    acc[1][jm] = g
                if order >= 2:
                    acc[2][jm] = H
        return acc, lev

    def _atoms_mp(self, atoms: np.ndarray, dps: int) -> list:
        """Float atoms ``m + s eps`` rebuilt exactly in mpmath (``eps`` read off the signs)."""
        with mpmath.workdps(dps):
            hi, lo = self.law.atoms_in(_MpArith)
            return [[hi if x > self.m else lo for x in row] for row in atoms]

    def _assemble_mp(self, Vm: np.ndarray, acc: dict, order: int, dps: int) -> tuple:
        M, d = Vm.shape
        c0, c1, c2 = self.form.coefficients_mp()
        Ee = self.even_mean_mp(dps + 5)
        m = self.law.moments_mp()[0]  # the law's own mean (uniform: of its float endpoints)
        lin_norm = (c0 + Ee) * c2 * mpmath.sqrt(2 / mpmath.pi)
        a = mpmath.mpf(self.abar)
        coef = {"even": mpmath.mpf(1), "odd": mpmath.mpf(1), "odd3": mpmath.mpf(1), "even1": c0 + Ee,
                "atoms": mpmath.mpf(1), "pow": mpmath.mpf(1)}
        h = np.empty(M, dtype=object)
        g = np.empty((M, d), dtype=object)
        H = np.empty((M, d, d), dtype=object)
        for jm in range(M):
            v = list(Vm[jm])
            nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
            val = c0 * c0 + c0 * Ee + lin_norm * nv + c1 * c1 * m * mpmath.fsum(v)
            val += mpmath.fsum(coef[k] * acc[k][0][jm] for k in acc)
            h[jm] = a * val
            for k in range(d if order >= 1 else 0):
                gk = lin_norm * v[k] / nv + c1 * c1 * m
                gk += mpmath.fsum(coef[key] * acc[key][1][jm, k] for key in acc)
                g[jm, k] = a * gk
                for l in range(d):
                    lo, hi = min(k, l), max(k, l)
                    hk = lin_norm * ((1 if k == l else 0) - v[k] * v[l] / nv**2) / nv
                    hk += mpmath.fsum(coef[key] * acc[key][2][jm, lo, hi] for key in acc)
                    H[jm, k, l] = a * hk
        if self.form.has_power:
            zero = mpmath.mpf(0)
            ph, pg, pH = self._power_terms(
                Vm, np.full(M, zero, dtype=object), np.full((M, d), zero, dtype=object),
                np.full((M, d, d), zero, dtype=object), order, dps)
            h = h + a * ph
            if order >= 1:
                g = g + a * pg
            if order >= 2:
                H = H + a * pH
        if self.power_n:  # relu_power:n, the kernel's terms outside the rule
            outside = self._outside_polynomial(dps)
            for jm in range(M):
                oh, og, oH = outside.evaluate(list(Vm[jm]), order)
                h[jm] += a * oh
                for k in range(d if order >= 1 else 0):
                    g[jm, k] += a * og[k]
                    for l in range(d if order >= 2 else 0):
                        H[jm, k, l] += a * oH[k][l]
        return (round_mp(h, dps), round_mp(g, dps) if order >= 1 else None,
                round_mp(H, dps) if order >= 2 else None)

    def _tilted_mp(self, i: int, dps: int, A: Any) -> tuple:
        """relu_power:n: moments and cumulants (1..n) of one entry under the tilt ``exp(-w^2 x^2/2)``
        at node ``i``, in the arithmetic ``A``, at the highest precision any node pair with ``i``
        asks (``_extra_digits(i, 0)``: node 0 has the smallest frequency); cached per node."""
        cache = self.__dict__.setdefault("_tilted_cache", {})
        key = (i, dps, self.step, self.x_lo, A.name)
        if key not in cache:
            with mpmath.workdps(dps + self._extra_digits(i, 0)):
                w1 = self._node_mp(i)[0]
                mom = tilted_moments(self.law, w1, self.power_n)
                cache[key] = ([A.num(x) for x in mom], [A.num(x) for x in cumulants(mom)])
        return cache[key]

    def _power_coefficients(self, dps: int) -> list:
        """``[(k, coef_k)]`` of the kernel's terms outside the rule (mpmath): relu_power:n, and
        the degree-2 form (``c_square z^2 + c_zabs z|z|`` is ``c_mono z^2 + c_rho rho_2``); empty
        for other activations."""
        with mpmath.workdps(dps + 10):
            if self.power_n:
                c_mono, c_rho, _ = self.form.power_coefficients_high_mp()
                return kernel_coefficients(self.power_n, c_mono, c_rho)
            if self.form.has_power:
                return kernel_coefficients(2, *self.form.power_coefficients_mp())
            return []

    @cached_property
    def _power_coefficients_float(self) -> list:
        return [(k, float(c)) for k, c in self._power_coefficients(17)]

    def _outside_polynomial(self, dps: int) -> OutsidePolynomial:
        """relu_power:n: ``E_w`` of the kernel's terms outside the rule, a polynomial in the power
        sums of ``v`` times powers of ``|v|`` (:mod:`compverify.numeric.spectral_power`), built once
        per precision (its coefficients are one-dimensional quadratures)."""
        cache = self.__dict__.setdefault("_outside_cache", {})
        if dps not in cache:
            cache[dps] = OutsidePolynomial(self.law, self.power_n, self.d,
                                           self._power_coefficients(dps), dps)
        return cache[dps]

    def _C_levels_mp(self, dps: int) -> tuple:
        """``C`` at the three rule levels, mpmath at ``dps`` digits (continuous laws)."""
        n, d, law, A = self.w.size, self.d, self.law, self.arith
        with A.precision(dps + 10):
            sums = {key: [A.num(0)] * 3 for key in ("even", "odd", "odd3", "pow")}
        npow = self.power_n
        for i in range(n):
            for j in range(i, n):  # the integrand is symmetric in (w1, w2): w, w' are iid
                extra = dps + self._extra_digits(i, j)
                with mpmath.workdps(extra):
                    wt = {k: A.num(x) for k, x in self._weights_mp(i, j).items()}
                with A.precision(extra):
                    w1, w2 = wt["w1"], wt["w2"]
                    Fp = law.pair_mp(w1, w2, A) ** d
                    Fm = law.pair_mp(w1, -w2, A) ** d
                    zero = A.num(0)
                    (f1, l1, _), (f2, l2, _) = law.f_mp(w1, zero, A), law.f_mp(w2, zero, A)
                    B = (f1 * f2) ** d
                    vals = {"even": (Fp + Fm) / 2 - B, "odd": (Fm - Fp) / 2}
                    if "odd3" in wt:  # less w1 w2 E[<w, w'> e1 e2] = w1 w2 d mu(w1) mu(w2) B
                        vals["odd3"] = vals["odd"] - d * (l1 / w1) * (l2 / w2) * w1 * w2 * B
                    if npow:  # less B T_n(t), T_n from the cumulants of <w, w'> = d kappa(w w')
                        kap = [d * x for x in product_cumulants(self._tilted_mp(i, dps, A)[0],
                                                                self._tilted_mp(j, dps, A)[0])]
                        Tn = taylor_terms(kap, [A.num(1)], w1 * w2, (npow + 1) % 2, 0, A.num(1))[0]
                        vals["pow"] = (vals["even"] + B if npow % 2 else vals["odd"]) - B * Tn
                    for key in sums:
                        if key not in wt:
                            continue
                        T = wt[key] * vals[key] * (1 if i == j else 2)
                        sums[key][0] += T
                        if i % 2 == 0 and j % 2 == 0:
                            sums[key][1] += 4 * T
                        if i % 4 == 0 and j % 4 == 0:
                            sums[key][2] += 16 * T
        with mpmath.workdps(dps + 10):
            sums = {key: [A.to_mpf(x) for x in val] for key, val in sums.items()}
            c0, c1, _ = self.form.coefficients_mp()
            Ee = self.even_mean_mp(dps + 5)
            m = self.law.moments_mp()[0]
            base = c0 * c0 + 2 * c0 * Ee + c1 * c1 * d * m * m + Ee**2
            if self.form.has_power:
                # c_square^2 E[|w|^2 |w'|^2 + 2 <w, w'>^2] + c_zabs^2 (8/pi) E[<w, w'> |w| |w'|]
                k2, k3, m1, m2, zm = self._power_means_mp(dps + 10)
                base += k2 * ((d * m2) ** 2 + 2 * (d * m2 * m2 + d * (d - 1) * m1**4)) + k3 * d * zm**2
            if npow:
                base += outside_C(law, npow, d, self._power_coefficients(dps), dps + 5)
            a2 = mpmath.mpf(self.abar) ** 2
            return tuple(+(a2 * (base + sums["even"][k] + sums["odd"][k] + sums["odd3"][k]
                                 + sums["pow"][k])) for k in range(3))

    def C_mp(self, dps: int) -> mpmath.mpf:
        dps = check_dps(dps)
        cache = self.__dict__.setdefault("_C_cache", {})
        if dps not in cache:
            if self.law_name == "rademacher" and self.activation.kernel.route != "numeric":
                # exact: the frequency integrand has ridges for a discrete law (w' = w has
                # probability 2^-d), and the sum over sign-count classes is O(d^3)
                c = rademacher_C(self.activation.kernel, self.d, self.m, self.s, self.abar, dps)
                cache[dps] = (c, c, c)
            else:
                # a numeric kernel costs seconds per mpmath value (O(d^3) of them); its activation
                # is analytic, so the ridges at w' = +-w are damped by the exponentially decaying
                # densities and the frequency rule converges (the gaussian law has no ridges)
                cache[dps] = self._C_levels_mp(dps)
        with mpmath.workdps(dps):
            return +cache[dps][0]

    def C(self) -> float:
        return float(self.C_mp(20))

    def C_estimate_mp(self, dps: int) -> tuple[mpmath.mpf, mpmath.mpf]:
        """``C`` and its estimated error in mpmath (exact for rademacher: only rounding)."""
        C = self.C_mp(dps)
        fine, mid, coarse = self.__dict__["_C_cache"][dps]
        with mpmath.workdps(dps + 5):
            err = mpmath.mpf(10) ** (-dps) * abs(fine)
            err += _difference_estimate(abs(fine - mid), abs(mid - coarse), self.squaring)
        return C, err

    def C_error(self) -> float:
        self.C_mp(20)
        fine, mid, coarse = (float(x) for x in self.__dict__["_C_cache"][20])
        return float(_estimate(fine, mid, coarse, 0.0, abs(fine), model=self.squaring))

    def describe(self) -> dict:
        mean = self.m if self.mean_vector is None else [float(x) for x in self.mean_vector]
        return {"family": self.name, "d": self.d, "mean": mean, "scale": self.s,
                "abar": self.abar, "method": self.method, "C_error": self.C_error()}

    def sample(self, N: int, seed: int) -> Any:
        from compverify.numeric.sampled import sample_iid

        if self.mean_vector is not None:
            from compverify.numeric.rule_base import GaussianWeights

            law = GaussianWeights()
            law._init_law(self.activation, self.d, self.mean_vector, self.s, self.abar, self.name)
            return law.sample(N, seed)

        return sample_iid(self.activation, self.law_name, self.d, self.m, self.s, self.abar, N,
                          seed)



class GaussianSpectralTarget(SpectralTarget):
    """``w ~ N(mu, s^2 I_d)`` for a smooth activation with a spectral form (tanh, sigmoid, erf,
    gelu, silu): the float64 search on the product Gauss rule, everything multiprecision on the
    spectral rule.

    The Gauss rule (:mod:`compverify.numeric.gauss_rule`) is fast (milliseconds per evaluation)
    but tabulated in float64, so no better than about 15 digits (tanh: about 1e-10); the spectral
    rule with the gaussian law (in the frame where the mean is ``|mu|/sqrt(d) 1``) converges
    exponentially for these activations and runs in arb/mpmath, 30 digits and more with the
    finer rule (measured, tanh d = 3, mean 0.2 1: a 30-digit solve verifies 24 digits where the
    Gauss rule allowed 5).  The float64 methods (``h``, ``h_grad``, ``h_hess``, ``h_error``) are
    the Gauss rule's with its own error estimate; ``h_mp`` and the rest, ``C``, ``loss_error``
    (the cap of the solver's multiprecision loss) and ``finer`` are the spectral rule's.  The
    search's minimiser is within the Gauss rule's error of the spectral one; the Newton polish
    in multiprecision closes that gap.
    """

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1.0, name: str = "gaussian") -> None:
        from compverify.numeric.gauss_rule import GaussRuleTarget

        d = int(d)
        mu = np.zeros(d) if mean is None else np.asarray(mean, dtype=float)
        super().__init__(activation, d, "gaussian", mean=mu, scale=scale, abar=float(abar),
                         name=name)
        self.float_rule = GaussRuleTarget(activation, d, mean=mu, scale=scale, abar=abar,
                                          name=name)
        self.method = f"float64: {self.float_rule.method}; multiprecision: {self.method}"

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        return self.float_rule._eval(V, order)

    def h_error(self, V: Any) -> np.ndarray:
        """The float64 values' (Gauss rule's) estimated error."""
        return self.float_rule.h_error(V)

    def loss_error(self, b: Any, V: Any) -> float:
        """The spectral rule's estimated error of the multiprecision loss (the solver's answer)."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ SpectralTarget.h_error(self, V))


class PowerSpectralTarget(SpectralTarget):
    """I.i.d. ``rademacher`` or ``uniform`` entries with relu_power:n, ``n >= 3``: the float64 search
    on the quasi-Monte Carlo weight rule, everything multiprecision on the spectral rule.

    The spectral rule evaluates this activation in multiprecision only (the Taylor terms its
    integrand subtracts cancel ``(n+1)`` orders near the axes, absorbed by the working precision:
    :mod:`compverify.numeric.spectral_power`).  The float64 methods (``h``, ``h_grad``, ``h_hess``,
    ``h_error``) are those of :class:`compverify.numeric.sampled.WeightRuleTarget` (about 4-6
    digits, enough to find the basins); ``h_mp`` and the rest, ``C``, ``loss_error`` (the cap of
    the solver's multiprecision loss) and ``finer`` are the spectral rule's, so the Newton polish
    in multiprecision lands on the spectral rule's minimiser.
    """

    def __init__(self, activation: Any, d: int, law: str, *, mean: float = 0.0,
                 scale: float | None = None, abar: float = 1.0, **rule: Any) -> None:
        from compverify.numeric.sampled import WeightRuleTarget

        super().__init__(activation, d, law, mean=mean, scale=scale, abar=abar)
        if not self.power_n:
            raise CompverifyError(f"PowerSpectralTarget is for relu_power:n with n >= 3, not "
                                  f"{self.activation.spec!r}")
        self.float_rule = WeightRuleTarget(activation, d, law, mean=mean, scale=scale, abar=abar,
                                           **rule)
        self.method = (f"float64: {self.float_rule.method}; multiprecision: {self.method}; "
                       f"relu_power:{self.power_n} as z^n and rho_n parts, the Taylor terms of "
                       f"order <= {self.power_n} outside the rule")

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        return self.float_rule._eval(V, order)

    def h_error(self, V: Any) -> np.ndarray:
        """The float64 values' (quasi-Monte Carlo rule's) estimated error."""
        return self.float_rule.h_error(V)

    def h_error_mp(self, V: Any, dps: int = 20) -> np.ndarray:
        """The spectral rule's estimated error of ``h(v_j)`` (its nested levels in mpmath)."""
        return np.array([float(e) for e in self.h_grad_estimate_mp(V, dps)[2]])

    def loss_error(self, b: Any, V: Any) -> float:
        """The spectral rule's estimated error of the multiprecision loss (the solver's answer)."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ self.h_error_mp(V))


def spectral_target(activation: Any, d: int, law: str, *, mean: float = 0.0,
                    scale: float | None = None, abar: float = 1.0) -> SpectralTarget:
    """The spectral-rule target for i.i.d. entries: :class:`PowerSpectralTarget` for relu_power:n
    with ``n >= 3`` (multiprecision only on the spectral rule), else :class:`SpectralTarget`."""
    act = as_activation(activation)
    cls = PowerSpectralTarget if getattr(act.spectral_form, "power_n", 0) else SpectralTarget
    return cls(act, d, law, mean=mean, scale=scale, abar=abar)


def rademacher_C(kernel: Any, d: int, m: float, s: float, abar: float, dps: int) -> Any:
    """``abar^2 E K(w, w')`` for independent ``w, w'`` with entries ``m + s eps``, exactly.

    ``K`` depends on ``|w|^2``, ``|w'|^2`` and ``<w, w'>``, which depend only on the number ``j``
    of +1 signs in ``w``, ``j'`` in ``w'`` and ``i`` of positions where both are +1; the class
    has probability ``C(d,j) C(j,i) C(d-j, j'-i) / 4^d``.  mpmath at ``dps`` digits for a
    closed-form kernel; a numeric kernel is summed in float64 (about 15 digits).
    """
    from math import comb

    numeric = kernel.route == "numeric"
    work = 20 if numeric else dps + 10
    with mpmath.workdps(work):
        M, S = mpmath.mpf(m), mpmath.mpf(s)
        total = mpmath.mpf(0)
        rows = []
        for j in range(d + 1):
            for jp in range(d + 1):
                for i in range(max(0, j + jp - d), min(j, jp) + 1):
                    weight = comb(d, j) * comb(j, i) * comb(d - j, jp - i)
                    agree = d - j - jp + 2 * i
                    uu = d * (M * M + S * S) + 2 * M * S * (2 * j - d)
                    vv = d * (M * M + S * S) + 2 * M * S * (2 * jp - d)
                    uv = d * M * M + M * S * (2 * j - d) + M * S * (2 * jp - d) + S * S * (2 * agree - d)
                    rows.append((weight, uu, vv, uv))
        if numeric:
            wgt = np.array([float(r[0]) for r in rows])
            nu = np.sqrt(np.array([float(r[1]) for r in rows]))
            nv = np.sqrt(np.array([float(r[2]) for r in rows]))
            den = nu * nv
            rho = np.where(den > 0, np.array([float(r[3]) for r in rows]) / np.where(den > 0, den, 1), 0.0)
            total = mpmath.mpf(float(wgt @ kernel.value(nu, nv, np.clip(rho, -1, 1)) / 4.0**d))
        else:
            for weight, uu, vv, uv in rows:
                nu, nv = mpmath.sqrt(uu), mpmath.sqrt(vv)
                rho = uv / (nu * nv) if nu * nv > 0 else mpmath.mpf(0)
                rho = min(max(rho, mpmath.mpf(-1)), mpmath.mpf(1))
                total += weight * kernel.value_mp(nu, nv, rho, dps=dps + 5)
            total /= mpmath.mpf(4) ** d
        return +(mpmath.mpf(abar) ** 2 * total)
