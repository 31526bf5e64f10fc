"""Closed-form kernels evaluated in ball arithmetic (python-flint ``arb``) to a guaranteed accuracy.

:func:`compile_ball` turns a SymPy expression in ``nu, nv, rho`` into a function on ``arb`` balls;
:func:`evaluate` runs it at rising working precision until the ball's radius is below
``2^-bits |midpoint|``. A ball encloses the exact value of the expression at the (exact) inputs,
so the returned midpoint carries the requested relative accuracy whatever the arguments: extreme
norms (arb has no overflow: ``nu^2 nv^2`` at ``nu = nv = 1e200`` is just a large ball), and
cancellation (``sin(psi) - psi cos(psi)`` as ``rho -> -1`` costs ``-3 log2(psi)`` bits, which the
precision loop supplies).

A value that cancels to zero (a root of a polynomial kernel, an expression equal to 0 at a point
where the formula does not show it) never reaches a relative accuracy; after
:data:`MAX_PREC_FACTOR` doublings the midpoint is returned with ``radius`` (an absolute bound).

>>> import mpmath
>>> from compverify.symbolic.steps import NU, NV, RHO
>>> f = compile_ball(NU * NV * (RHO + 1))
>>> big, near = mpmath.mpf(10) ** 200, mpmath.mpf(-1) + mpmath.mpf(2) ** -40
>>> v, rad = evaluate(f, big, big, near, 60)
>>> mpmath.nstr(v, 10)
'9.094947018e+387'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import mpmath
import sympy

from compverify.symbolic.steps import NU, NV, RHO

__all__ = ["compile_ball", "evaluate", "evaluate_arb", "to_arb", "to_mpf", "MAX_PREC_FACTOR",
           "BallFunction"]

#: The precision loop doubles at most this many times past its start (``bits + 32``), so a
#: cancellation of up to ``63 (bits + 32)`` bits is resolved.
MAX_PREC_FACTOR = 6

BallFunction = Callable[[Any, Any, Any], Any]


def _flint() -> Any:
    import flint

    return flint


@contextlib.contextmanager
def _working_prec(prec: int) -> Iterator[None]:
    """arb's (process-global) precision set for the block, then restored."""
    ctx = _flint().ctx
    saved = ctx.prec
    ctx.prec = prec
    try:
        yield
    finally:
        ctx.prec = saved


def to_arb(x: Any) -> Any:
    """An exact ``arb`` from an ``mpf``, ``int`` or ``float`` (binary mantissa and exponent)."""
    fl = _flint()
    if not isinstance(x, mpmath.mpf):
        x = mpmath.mpf(x)
    sign, man, exp, _ = x._mpf_
    if not man:
        if x == 0:
            return fl.arb(0)
        return fl.arb("nan") if mpmath.isnan(x) else fl.arb("inf") * (-1 if sign else 1)
    man = -int(man) if sign else int(man)
    with _working_prec(max(fl.ctx.prec, abs(man).bit_length() + 8)):  # the product is exact
        return fl.arb(fl.fmpz(man)) * fl.arb(2) ** int(exp)


def to_mpf(x: Any) -> mpmath.mpf:
    """The midpoint of an ``arb`` as an ``mpf`` (exact; rounded by the caller's precision)."""
    man, exp = x.mid().man_exp()
    with mpmath.workprec(max(int(man).bit_length(), 53) + 8):
        return mpmath.mpf((int(man), int(exp)))


def _compile(e: sympy.Basic, args: dict[sympy.Symbol, int]) -> Callable[[tuple], Any]:
    arb = _flint().arb
    if e in args:
        i = args[e]
        return lambda x: x[i]
    if e.is_Integer:
        n = int(e)
        return lambda x: arb(n)
    if e.is_Rational:
        p, q = int(e.p), int(e.q)
        return lambda x: arb(p) / q
    if e is sympy.pi:
        return lambda x: arb.pi()
    if isinstance(e, sympy.Add | sympy.Mul):
        parts = [_compile(a, args) for a in e.args]
        if isinstance(e, sympy.Add):
            def add(x: tuple, _p: list = parts) -> Any:
                out = _p[0](x)
                for f in _p[1:]:
                    out = out + f(x)
                return out
            return add

        def mul(x: tuple, _p: list = parts) -> Any:
            out = _p[0](x)
            for f in _p[1:]:
                out = out * f(x)
            return out
        return mul
    if isinstance(e, sympy.Pow):
        base = _compile(e.base, args)
        ex = e.exp
        if ex.is_Integer:
            n = int(ex)
            return lambda x: base(x) ** n
        if ex.is_Rational and ex.q == 2:  # half-integer powers through sqrt (exact sign domain)
            n = int(ex.p)
            return lambda x: base(x).sqrt() ** n
        power = _compile(ex, args)
        return lambda x: base(x) ** power(x)
    unary = {sympy.asin: "asin", sympy.acos: "acos", sympy.atan: "atan", sympy.erf: "erf",
             sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos",
             sympy.Abs: "__abs__"}
    for cls, meth in unary.items():
        if isinstance(e, cls):
            inner = _compile(e.args[0], args)
            return lambda x, _m=meth: getattr(inner(x), _m)()
    raise NotImplementedError(f"no ball evaluation for {type(e).__name__} in {e}")


def compile_ball(expr: sympy.Expr) -> BallFunction:
    """``f(nu, nv, rho)`` on ``arb`` balls for a SymPy expression in :data:`NU`, :data:`NV`,
    :data:`RHO` built from + * ** (integer, half-integer or general powers), pi, rationals, asin,
    acos, atan, erf, exp, log, sin, cos, Abs. Raises ``NotImplementedError`` on anything else."""
    body = _compile(sympy.sympify(expr), {NU: 0, NV: 1, RHO: 2})
    return lambda nu, nv, rho: body((nu, nv, rho))


def evaluate(fn: BallFunction, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf,
             bits: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """``(value, radius)``: ``fn`` at exact inputs, the working precision doubled from
    ``bits + 32`` until the enclosing ball's radius is at most ``2^-bits |value|``.

    If that is not reached after :data:`MAX_PREC_FACTOR` doublings (the value cancels to zero, or
    it is not finite), the last finite midpoint and its radius (an absolute error bound) are
    returned; an expression that is undefined at the point gives ``(nan, inf)``.
    """
    prec = bits + 32
    last = (mpmath.mpf("nan"), mpmath.inf)
    for _ in range(MAX_PREC_FACTOR + 1):
        with _working_prec(prec):
            y = fn(to_arb(nu), to_arb(nv), to_arb(rho))
            if y.is_finite():
                mid, rad = to_mpf(y), to_mpf(y.rad())
                last = (mid, rad)
                if rad == 0 or rad <= abs(mid) * mpmath.ldexp(1, -bits):
                    return last
        prec *= 2
    return last


def evaluate_arb(fn: BallFunction, nu: Any, nv: Any, rho: Any, bits: int) -> Any:
    """:func:`evaluate` on exact ``arb`` inputs, returning an exact ``arb`` (the midpoint).

    The same precision loop (from ``bits + 32``, doubling until the radius is at most
    ``2^-bits |value|``, at most :data:`MAX_PREC_FACTOR` doublings) without leaving arb: no
    conversion to and from ``mpf``, so a kernel sum in ball arithmetic pays only for the
    expression.  An undefined value gives ``arb("nan")``.
    """
    prec = bits + 32
    last = None
    for _ in range(MAX_PREC_FACTOR + 1):
        with _working_prec(prec):
            y = fn(nu, nv, rho)
        if y.is_finite():
            last = y
            if y.rad() == 0 or y.rel_accuracy_bits() >= bits:
                return y.mid()
        prec *= 2
    return _flint().arb("nan") if last is None else last.mid()
