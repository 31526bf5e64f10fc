"""Activations as objects that know their kernel: a registry of named families and user expressions.

An activation spec is ``NAME`` or ``NAME:PARAMS`` for a registry entry (``relu``,
``leaky_relu:0.1``, ``relu_power:2``, ``polynomial:1,0,-2,1`` for
``1 - 2 z^2 + z^3``), or any other string, which is parsed as an expression in ``z`` by the
whitelist parser (:mod:`compverify.symbolic.parser`).
Adding a family is one entry in :data:`REGISTRY`.

>>> act = get_activation("leaky_relu:0.1")
>>> act.expr
11*z/20 + 9*Abs(z)/20
>>> act.homogeneous_degree
1
>>> act.kernel.route
'piecewise-homogeneous'
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import cache, cached_property, lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.display import TableDisplay
from compverify.errors import CompverifyError
from compverify.symbolic import kernel_cache
from compverify.symbolic.derivation import derive_kernel
from compverify.symbolic.kernel import Kernel, finite_or_mp
from compverify.symbolic.parser import parse_activation
from compverify.symbolic.steps import Z

__all__ = ["Activation", "get_activation", "list_activations", "REGISTRY"]

_HALF = sympy.Rational(1, 2)


def _number(text: str, what: str) -> sympy.Rational:
    """An exact rational from a decimal string (no eval): '0.1' -> 1/10."""
    try:
        f = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise CompverifyError(f"{what} must be a finite number, got {text!r}") from None
    return sympy.Rational(f.numerator, f.denominator)


def _no_params(name: str, params: str | None) -> None:
    if params is not None:
        raise CompverifyError(f"activation {name!r} takes no parameter, got {name}:{params}")


def _leaky(params: str | None) -> sympy.Expr:
    if params is None:
        raise CompverifyError("leaky_relu needs its slope: leaky_relu:SLOPE, e.g. leaky_relu:0.1")
    a = _number(params, "leaky_relu slope")
    return Z * (1 + a) / 2 + sympy.Abs(Z) * (1 - a) / 2


def _relu_power(params: str | None) -> sympy.Expr:
    if params is None or not params.strip().isdigit() or int(params) < 1 or int(params) > 8:
        raise CompverifyError(f"relu_power needs an integer degree 1..8: relu_power:N, got "
                              f"{params!r}")
    return sympy.Max(0, Z) ** int(params)


def _polynomial(params: str | None) -> sympy.Expr:
    if not params:
        raise CompverifyError("polynomial needs its coefficients of z^0, z^1, ...: "
                              "polynomial:c0,c1,...")
    coeffs = [_number(c, "polynomial coefficient") for c in params.split(",")]
    if len(coeffs) > 17:
        raise CompverifyError(f"polynomial degree {len(coeffs) - 1} is above 16")
    expr = sum((c * Z**k for k, c in enumerate(coeffs)), sympy.Integer(0))
    if expr == 0:
        raise CompverifyError(f"polynomial:{params} is identically zero")
    return expr


def _fixed(expr: sympy.Expr) -> Callable[[str | None], sympy.Expr]:
    def build(params: str | None, _e: sympy.Expr = expr) -> sympy.Expr:
        return _e
    return build


#: name -> (builder(params) -> sigma(z), takes_params, description)
REGISTRY: dict[str, tuple[Callable[[str | None], sympy.Expr], bool, str]] = {
    "relu": (_fixed(sympy.Max(0, Z)), False, "max(0, z)"),
    "abs": (_fixed(sympy.Abs(Z)), False, "|z|"),
    "step": (_fixed(sympy.Heaviside(Z, _HALF)), False, "Heaviside step (1/2 at 0)"),
    "sign": (_fixed(sympy.sign(Z)), False, "sign(z)"),
    "leaky_relu": (_leaky, True, "max(z, a z) for slope a: leaky_relu:a"),
    "relu_power": (_relu_power, True, "max(0, z)^n: relu_power:n"),
    "erf": (_fixed(sympy.erf(Z)), False, "erf(z)"),
    "tanh": (_fixed(sympy.tanh(Z)), False, "tanh(z)"),
    "sigmoid": (_fixed(1 / (1 + sympy.exp(-Z))), False, "1/(1 + exp(-z))"),
    "gelu": (_fixed(Z * (1 + sympy.erf(Z / sympy.sqrt(2))) / 2), False,
             "z Phi(z) (exact GELU)"),
    "silu": (_fixed(Z / (1 + sympy.exp(-Z))), False, "z sigmoid(z)"),
    "polynomial": (_polynomial, True, "c0 + c1 z + ...: polynomial:c0,c1,..."),
}


def list_activations() -> list[str]:
    """The registry names with their parameter syntax."""
    return [f"{n}: {desc}" for n, (_, _, desc) in REGISTRY.items()]


def _np_modules() -> list[Any]:
    return [{"Heaviside": lambda x, h=0.5: np.heaviside(x, h)}, "scipy", "numpy"]


class Activation(TableDisplay):
    """An activation ``sigma(z)``: its SymPy expression, evaluators, and its derived kernel.

    ``name`` (registry name or ``"expression"``), ``spec`` (round-trips through
    :func:`get_activation`), ``expr`` (SymPy in ``z``), ``homogeneous_degree`` (``n`` if
    ``sigma(c z) = c^n sigma(z)`` for all ``c > 0``, else ``None``), ``numpy(z)`` (vectorised),
    ``mp(z)`` (mpmath at the caller's precision), ``kernel`` (derived on first use, cached).
    """

    def __init__(self, name: str, spec: str, expr: sympy.Expr) -> None:
        self.name = name
        self.spec = spec
        self.expr = expr

    def __repr__(self) -> str:
        return f"Activation({self.spec!r}, sigma(z) = {self.expr})"

    def _display_tables(self) -> list:
        """The activation's formula and properties; the kernel's route once it is derived."""
        from compverify.display import Math
        from compverify.symbolic.steps import to_latex

        kernel = self.__dict__.get("kernel")  # shown if derived; never derived for a display
        rows = [("spec", self.spec), ("formula", Math(r"\sigma(z) = " + to_latex(self.expr))),
                ("positively homogeneous of degree", self.homogeneous_degree),
                ("kernel route", kernel.route if kernel is not None else "not derived yet")]
        return [(f"activation {self.name}", ("quantity", "value"), rows)]

    @cached_property
    def spectral_form(self) -> Any:
        """``c0 + c1 z + c2 |z| + odd sine transform`` (:mod:`compverify.symbolic.spectral`), or
        ``None``."""
        from compverify.symbolic.spectral import spectral_form

        return spectral_form(self.expr)

    @cached_property
    def parity(self) -> int:
        """``1`` if sigma is even (``sigma(-z) = sigma(z)``), ``-1`` if odd, ``0`` if neither or not
        proved: SymPy's ``simplify`` must reduce ``sigma(-z) -+ sigma(z)`` to 0.

        >>> get_activation("tanh").parity, get_activation("abs").parity, get_activation("relu").parity
        (-1, 1, 0)
        """
        flipped = self.expr.subs(Z, -Z)
        for sign in (1, -1):
            if sympy.simplify(flipped - sign * self.expr) == 0:
                return sign
        return 0

    @cached_property
    def homogeneous_degree(self) -> int | None:
        form = kernel_cache.cached_homogeneous_form(self.expr)
        return None if form is None else int(form[0])

    @cached_property
    def _np(self) -> Callable:
        return sympy.lambdify(Z, self.expr, modules=_np_modules())

    @cached_property
    def _mp(self) -> Callable:
        return sympy.lambdify(Z, self.expr, modules="mpmath")

    def numpy(self, z: Any) -> np.ndarray:
        """``sigma(z)`` elementwise in float64."""
        return finite_or_mp(self._np, self._mp, z)

    def mp(self, z: Any) -> mpmath.mpf:
        """``sigma(z)`` in mpmath at the current working precision."""
        return mpmath.mpf(self._mp(mpmath.mpf(z)))

    def derivative(self, order: int = 1) -> sympy.Expr:
        """``sigma^(order)(z)`` as a SymPy expression."""
        return sympy.diff(self.expr, Z, order)

    def derivative_evaluators(self, order: int) -> tuple[Callable, Callable]:
        """``(numpy, mpmath)`` evaluators of ``sigma^(order)``; the numpy one broadcasts."""
        if order not in self._evaluators:
            expr = self.derivative(order) if order else self.expr
            f_np = sympy.lambdify(Z, expr, modules=_np_modules())
            f_mp = sympy.lambdify(Z, expr, modules="mpmath")

            def numpy_fn(z: Any, _f: Callable = f_np, _g: Callable = f_mp) -> np.ndarray:
                return finite_or_mp(_f, _g, z)

            self._evaluators[order] = (numpy_fn, f_mp)
        return self._evaluators[order]

    @cached_property
    def _evaluators(self) -> dict:
        return {}

    @cached_property
    def kernel(self) -> Kernel:
        return Kernel(_derive_cached(self.expr), self.expr)


@cache
def _derive_cached(expr: sympy.Expr):
    return kernel_cache.cached_derivation(expr, derive_kernel)


def _normalise(spec: str) -> str:
    return "".join(spec.split())


@lru_cache(maxsize=256)
def _get(spec: str, text: str) -> Activation:
    """The activation of the whitespace-free ``spec``; messages quote ``text`` as the user gave it."""
    name, sep, params = spec.partition(":")
    if name in REGISTRY:
        builder, takes, _ = REGISTRY[name]
        if not takes:
            _no_params(name, params if sep else None)
        return Activation(name, spec, builder(params if sep else None))
    head = text.partition(":")[0].strip()
    if (":" in text and head.isidentifier()) or (spec.isidentifier() and spec != "z"):
        known = ", ".join(REGISTRY)
        raise CompverifyError(f"unknown activation {text!r}; known: {known}, or an expression "
                              "in z such as 'Max(0, z)**2'")
    expr = parse_activation(text.strip())
    if not expr.has(Z):
        raise CompverifyError(f"activation expression {text!r} does not depend on z")
    return Activation("expression", spec, expr)


def as_activation(activation: Any) -> Any:
    """A spec string resolved by :func:`get_activation`; anything else (an Activation or an object
    with a ``kernel``) returned as given."""
    return get_activation(activation) if isinstance(activation, str) else activation


def get_activation(spec: str) -> Activation:
    """The activation of a registry spec or a user expression in ``z`` (whitelist-parsed).

    >>> get_activation("polynomial:1,0,-2,1").expr
    z**3 - 2*z**2 + 1
    >>> get_activation("tanh").kernel.route
    'numeric'
    """
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise CompverifyError(f"activation must be a non-empty string, got {spec!r}")
    return _get(_normalise(spec), spec)

