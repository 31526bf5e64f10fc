"""A whitelist parser for user activations ``sigma(z)``: strings become SymPy, nothing is executed.

The grammar is that of a Python arithmetic expression restricted to: numbers, the variable ``z``,
``+ - * / **`` (and unary ``+``/``-``), parentheses, and calls of ``Max, Min, Abs, Heaviside, sign,
erf, exp, tanh, log, sqrt, sin, cos``. The string is parsed by :func:`ast.parse` (which only builds a syntax
tree) and the tree is walked node by node; any node outside the whitelist raises
:class:`~compverify.errors.CompverifyError` naming it. ``eval``, ``sympify`` and ``parse_expr`` are
never called on the string. Numbers become exact rationals (``0.1`` is ``1/10``).

>>> parse_activation("Max(0, z) + 0.5*z**2")
z**2/2 + Max(0, z)
>>> parse_activation("__import__('os')")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
compverify.errors.CompverifyError: activation expression ...: function '__import__' is not ...
"""

from __future__ import annotations

import ast
from fractions import Fraction

import mpmath
import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.steps import Z

__all__ = ["parse_activation", "ALLOWED_FUNCTIONS", "MAX_LENGTH", "MAX_EXPONENT", "MAX_DEGREE",
           "MAX_NUMBER_BITS"]

ALLOWED_FUNCTIONS = {
    "Max": sympy.Max, "Min": sympy.Min, "Abs": sympy.Abs,
    "Heaviside": lambda x: sympy.Heaviside(x, sympy.Rational(1, 2)),
    "sign": sympy.sign, "erf": sympy.erf, "exp": sympy.exp, "tanh": sympy.tanh,
    "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
}
#: Longest accepted expression, and largest |exponent| of a power (guards against expansion bombs).
MAX_LENGTH = 1000
MAX_EXPONENT = 64
#: Largest total degree in z, across nesting (``(z**4)**4`` has 16, ``(z**64)**64`` 4096), as for
#: ``polynomial:c0,...,c16``: it bounds the polynomial the kernel derivation expands (z**64: 40 s).
MAX_DEGREE = 16
#: Largest numerator or denominator of an exact constant, in bits (about 600 decimal digits).
MAX_NUMBER_BITS = 2048
_MAX_DEPTH = 60

_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def parse_activation(text: str) -> sympy.Expr:
    """Parse ``text`` into a SymPy expression in ``z`` using only the whitelist.

    Raises :class:`CompverifyError` naming the offending part for anything else.
    """
    if not isinstance(text, str):
        raise CompverifyError(f"activation expression must be a string, got {type(text).__name__}")
    src = text.strip()
    if not src:
        raise CompverifyError("activation expression is empty")
    if len(src) > MAX_LENGTH:
        raise CompverifyError(f"activation expression is {len(src)} characters long "
                              f"(at most {MAX_LENGTH})")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        raise CompverifyError(f"activation expression {text!r} is not a valid expression: "
                              f"{exc.msg} at column {exc.offset}") from None

    def fail(why: str) -> CompverifyError:
        return CompverifyError(f"activation expression {text!r}: {why}")

    def number(value: sympy.Expr) -> sympy.Expr:
        if isinstance(value, sympy.Rational) and max(int(value.p).bit_length(),
                                                     int(value.q).bit_length()) > MAX_NUMBER_BITS:
            raise fail(f"a constant has more than {MAX_NUMBER_BITS} bits (about "
                       f"{int(MAX_NUMBER_BITS * 0.30103)} digits)")
        return value

    def degree(value: float) -> float:
        if value > MAX_DEGREE:
            raise fail(f"total degree in z is at least {value:g}, above {MAX_DEGREE} (nested "
                       "powers multiply their exponents)")
        return value

    def nonzero(den: sympy.Expr, what: str) -> None:
        if not (den.is_positive or den.is_negative):
            raise fail(f"{what} {den} may vanish for real z (or SymPy cannot prove it does not): "
                       "sigma must be finite on all of R for its Gaussian kernel to exist")

    def walk(node: ast.AST, depth: int) -> tuple[sympy.Expr, float]:
        """The SymPy expression of ``node`` and an upper bound of its degree in z."""
        if depth > _MAX_DEPTH:
            raise fail("nested too deeply")
        if isinstance(node, ast.Expression):
            return walk(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise fail(f"constant {v!r} is not a number")
            if isinstance(v, float) and not (abs(v) < float("inf")):
                raise fail(f"number {v!r} is not finite")
            if isinstance(v, int) and v.bit_length() > MAX_NUMBER_BITS:
                raise fail(f"a constant has more than {MAX_NUMBER_BITS} bits")
            f = Fraction(v) if isinstance(v, int) else Fraction(repr(v))
            return number(sympy.Rational(f.numerator, f.denominator)), 0.0
        if isinstance(node, ast.Name):
            if node.id == "z":
                return Z, 1.0
            raise fail(f"name {node.id!r} is not allowed (allowed: z and the functions "
                       f"{', '.join(sorted(ALLOWED_FUNCTIONS))})")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand, deg = walk(node.operand, depth + 1)
            return (-operand if isinstance(node.op, ast.USub) else operand), deg
        if isinstance(node, ast.BinOp):
            left, dl = walk(node.left, depth + 1)
            right, dr = walk(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                if right.free_symbols:
                    raise fail("exponents must be constants")
                if not (abs(right) <= MAX_EXPONENT):
                    raise fail(f"exponent {right} exceeds {MAX_EXPONENT} in absolute value")
                if isinstance(left, sympy.Rational) and left != 0:
                    bits = max(int(left.p).bit_length(), int(left.q).bit_length())
                    if bits * abs(float(right)) > MAX_NUMBER_BITS:
                        raise fail(f"the constant {ast.get_source_segment(src, node)!r} has more "
                                   f"than {MAX_NUMBER_BITS} bits")
                if left == 0 and right.is_negative:
                    raise fail("division by zero")
                if not right.is_integer and left.free_symbols and not left.is_nonnegative:
                    raise fail(f"the power ({left})**({right}) is not real for negative values "
                               "of its base: sigma must be real on all of R")
                if right.is_negative and left.free_symbols:
                    nonzero(left, "the base of the negative power")
                return number(left**right), degree(dl * abs(float(right)))
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise fail(f"operator {type(node.op).__name__} is not allowed "
                           "(allowed: + - * / **)")
            if isinstance(node.op, ast.Div):
                if right == 0:
                    raise fail("division by zero")
                if right.free_symbols:
                    nonzero(right, "the denominator")
            deg = max(dl, dr) if isinstance(node.op, ast.Add | ast.Sub) else dl + dr
            return number(op(left, right)), degree(deg)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise fail(f"function {name!r} is not allowed (allowed: "
                           f"{', '.join(sorted(ALLOWED_FUNCTIONS))})")
            if node.keywords:
                raise fail(f"keyword arguments are not allowed in {node.func.id}()")
            name = node.func.id
            walked = [walk(a, depth + 1) for a in node.args]
            args = [a for a, _ in walked]
            arity = {"Max": None, "Min": None}.get(name, 1)
            if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
                want = "at least 2 arguments" if arity is None else "1 argument"
                raise fail(f"{name}() takes {want}, got {len(args)}")
            if name == "log" and not args[0].is_positive:
                raise fail(f"log({args[0]}) is not real (or not finite) where its argument is "
                           "<= 0, and SymPy cannot prove the argument positive for all real z")
            if name == "sqrt" and not args[0].is_nonnegative:
                raise fail(f"sqrt({args[0]}) is not real where its argument is negative, and "
                           "SymPy cannot prove the argument >= 0 for all real z")
            # Abs, Max, Min keep a polynomial piecewise; exp, log, tanh, ... are not expanded
            deg = max(d for _, d in walked) if name in ("Abs", "Max", "Min") else 0.0
            return number(ALLOWED_FUNCTIONS[name](*args)), degree(deg)
        what = type(node).__name__
        seg = ast.get_source_segment(src, node) if hasattr(node, "lineno") else None
        raise fail(f"{what} {seg!r} is not allowed" if seg else f"{what} is not allowed")

    expr, _ = walk(tree, 0)
    if not isinstance(expr, sympy.Expr) or expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo,
                                                     sympy.I):
        raise fail("does not define a finite real function of z")
    _check_growth(expr, fail)
    return expr


#: Points where the growth of log|sigma| is compared with z^2.
_GROWTH_POINTS = (30, 300)


def _check_growth(expr: sympy.Expr, fail) -> None:
    """Refuse sigma growing like ``exp(c z^2)`` or faster, whose Gaussian kernel diverges.

    ``E[sigma(g)^2]`` with ``g ~ N(0, nu^2)`` is finite for every ``nu`` only if
    ``log|sigma(z)| = o(z^2)``.  The test compares ``r(R) = log|sigma(+-R)| / R^2`` at ``R = 30``
    and ``300`` (in mpmath, whose exponents do not overflow): a ratio that does not fall below
    half (``exp(z^2)``: 1 and 1; ``z exp(z)``: 0.037 and 0.0034) means quadratic growth or worse.
    A value that is not a finite real there is refused too.
    """
    f = sympy.lambdify(Z, expr, modules="mpmath")
    with mpmath.workdps(30):
        for sign in (1, -1):
            r = []
            for R in _GROWTH_POINTS:
                try:
                    v = mpmath.mpmathify(f(mpmath.mpf(sign * R)))
                except (ValueError, TypeError, ZeroDivisionError, OverflowError, ArithmeticError):
                    raise fail(f"cannot be evaluated at z = {sign * R}") from None
                if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v):
                    raise fail(f"is not a finite real number at z = {sign * R} ({v})")
                r.append(mpmath.log(abs(v)) / R**2 if v != 0 else mpmath.mpf(-1))
            if r[1] > 0 and r[1] >= r[0] / 2:
                raise fail(f"grows like exp(c z^2) or faster as z -> {'+' if sign > 0 else '-'}"
                           "infinity: its Gaussian kernel E[sigma(g) sigma(g')] diverges")
