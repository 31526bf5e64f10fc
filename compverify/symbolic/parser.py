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

import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.steps import Z

__all__ = ["parse_activation", "ALLOWED_FUNCTIONS", "MAX_LENGTH", "MAX_EXPONENT"]

ALLOWED_FUNCTIONS = {
    "Max": sympy.Max, "Min": sympy.Min, "Abs": sympy.Abs,
    "Heaviside": lambda x: sympy.Heaviside(x, sympy.Rational(1, 2)),
    "sign": sympy.sign, "erf": sympy.erf, "exp": sympy.exp, "tanh": sympy.tanh,
    "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
}
#: Longest accepted expression, and largest |exponent| of a power (guards against expansion bombs).
MAX_LENGTH = 1000
MAX_EXPONENT = 64
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

    def walk(node: ast.AST, depth: int) -> sympy.Expr:
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
            f = Fraction(v) if isinstance(v, int) else Fraction(repr(v))
            return sympy.Rational(f.numerator, f.denominator)
        if isinstance(node, ast.Name):
            if node.id == "z":
                return Z
            raise fail(f"name {node.id!r} is not allowed (allowed: z and the functions "
                       f"{', '.join(sorted(ALLOWED_FUNCTIONS))})")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand = walk(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left = walk(node.left, depth + 1)
            right = walk(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                if right.free_symbols:
                    raise fail("exponents must be constants")
                if not (abs(right) <= MAX_EXPONENT):
                    raise fail(f"exponent {right} exceeds {MAX_EXPONENT} in absolute value")
                return left**right
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise fail(f"operator {type(node.op).__name__} is not allowed "
                           "(allowed: + - * / **)")
            if isinstance(node.op, ast.Div) and right == 0:
                raise fail("division by zero")
            return op(left, right)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise fail(f"function {name!r} is not allowed (allowed: "
                           f"{', '.join(sorted(ALLOWED_FUNCTIONS))})")
            if node.keywords:
                raise fail(f"keyword arguments are not allowed in {node.func.id}()")
            name = node.func.id
            args = [walk(a, depth + 1) for a in node.args]
            arity = {"Max": None, "Min": None}.get(name, 1)
            if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
                want = "at least 2 arguments" if arity is None else "1 argument"
                raise fail(f"{name}() takes {want}, got {len(args)}")
            return ALLOWED_FUNCTIONS[name](*args)
        what = type(node).__name__
        seg = ast.get_source_segment(src, node) if hasattr(node, "lineno") else None
        raise fail(f"{what} {seg!r} is not allowed" if seg else f"{what} is not allowed")

    expr = walk(tree, 0)
    if not isinstance(expr, sympy.Expr) or expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise fail("does not define a finite function of z")
    return expr
