r"""Object arrays of python-flint ``arb`` balls: exact conversions and the working precision.

The high-precision objective (:meth:`compverify.numeric.objective.Problem.evaluate_ball`) keeps
its numbers as ``arb`` balls in NumPy object arrays: an elementwise operation on them is a C call
(about 0.14 us an entry, measured), against some 2.6 us for ``mpf`` (mpmath with its gmpy
backend), and the arrays go into ``arb_mat`` products without conversion.  Only the midpoints
are used: a ball's radius is the rounding error of the operations, not a claim.

Conversions are exact: ``mpf`` and ``float`` become ``arb`` through their binary mantissa and
exponent (python-flint's own ``arb(mpf)`` goes through a decimal string, inexact and slow), and
:func:`to_mpf_array` rounds the midpoints to the caller's mpmath precision.

python-flint's precision is process-global; :func:`arb_prec` sets it for a block and restores it.

>>> import mpmath
>>> with mpmath.workdps(40):
...     x = mpmath.mpf(1) / 3
...     a = to_arb_array([x, 0.5])
...     back = to_mpf_array(a)
>>> back[0] == x, back[1] == 0.5
(True, True)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import mpmath
import numpy as np
from flint import arb, ctx
from mpmath.libmp import from_man_exp

__all__ = ["arb_prec", "bits_for", "to_arb", "to_arb_array", "to_mpf", "to_mpf_array",
           "to_float_array"]

#: bits per decimal digit
_LOG2_10 = 3.3219280948873626


def bits_for(dps: int) -> int:
    """Bits that carry ``dps`` decimal digits (rounded up) plus 8 guard bits."""
    return int(math.ceil(dps * _LOG2_10)) + 8


@contextlib.contextmanager
def arb_prec(bits: int) -> Iterator[None]:
    """python-flint's working precision set to ``bits`` for the block, then restored."""
    old = ctx.prec
    ctx.prec = int(bits)
    try:
        yield
    finally:
        ctx.prec = old


_POW2: dict[int, Any] = {}


def _pow2(e: int) -> Any:
    p = _POW2.get(e)
    if p is None:
        p = arb(2) ** e  # exact at any precision
        if len(_POW2) < 4096:
            _POW2[e] = p
    return p


def to_arb(x: Any) -> Any:
    """An exact ``arb`` from an ``mpf``, ``float``, ``int``, decimal string or ``arb``."""
    if isinstance(x, arb):
        return x
    if isinstance(x, int | np.integer):
        return arb(int(x))
    if not isinstance(x, mpmath.mpf):
        x = mpmath.mpf(float(x)) if isinstance(x, float | np.floating) else mpmath.mpf(x)
    sign, man, exp, _ = x._mpf_
    if not man:
        if x == 0:
            return arb(0)
        return arb("nan") if mpmath.isnan(x) else (arb("inf") if not sign else -arb("inf"))
    m = -int(man) if sign else int(man)
    if exp >= 0:
        return arb(m << int(exp))
    # m 2^exp is exact when the precision holds m's bits (a product by a power of two)
    if int(man).bit_length() <= ctx.prec:
        return arb(m) * _pow2(int(exp))
    with arb_prec(int(man).bit_length() + 8):
        return arb(m) * _pow2(int(exp))


def to_arb_array(x: Any) -> np.ndarray:
    """An object array of exact ``arb`` of the same shape (entries as :func:`to_arb`)."""
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = to_arb(flat_in[i])
    return out


def to_mpf(a: Any) -> mpmath.mpf:
    """The midpoint of an ``arb`` as an ``mpf`` rounded to the working precision."""
    man, exp = a.mid().man_exp()
    return mpmath.mp.make_mpf(from_man_exp(int(man), int(exp), mpmath.mp.prec, "n"))


def to_mpf_array(a: Any) -> np.ndarray:
    """Midpoints of an object array of ``arb`` (or one ``arb``) as ``mpf`` at ``mp.prec``."""
    if not isinstance(a, np.ndarray):
        return to_mpf(a)
    out = np.empty(a.shape, dtype=object)
    flat_in, flat_out = a.reshape(-1), out.reshape(-1)
    prec, mk = mpmath.mp.prec, mpmath.mp.make_mpf
    for i in range(flat_in.size):
        man, exp = flat_in[i].mid().man_exp()
        flat_out[i] = mk(from_man_exp(int(man), int(exp), prec, "n"))
    return out


def to_float_array(a: Any) -> np.ndarray:
    """Midpoints of an object array of ``arb`` rounded to float64."""
    return np.array([float(x) for x in np.asarray(a).reshape(-1)], dtype=float).reshape(
        np.shape(a))
