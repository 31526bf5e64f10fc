"""The two multiprecision arithmetics of the spectral rule: mpmath and python-flint's ``arb``.

Both offer the same small interface (``num``, ``exp``, ``erfc``, ``sqrt``, ``fsum``, ``fprod``,
``pi``, ``precision(dps)``, ``extra_bits``, ``to_mpf``), so the multiprecision loop
(:mod:`.multiprecision`) is written once; ``arb`` is 2-5 times faster and mpmath stays as the
reference (the tests check that they agree).
"""

from __future__ import annotations

import contextlib
from typing import Any

import mpmath


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
