"""SymPy expressions in ``(nu, nv, rho)`` compiled to NumPy code with few passes over the arrays.

A kernel and its partials are evaluated on arrays of ``(nu, nv, rho)`` triples that broadcast: in a
kernel sum ``nu`` is a column ``(B, 1)``, ``nv`` a row ``(1, M)`` and ``rho`` a full ``(B, M)``
array. :func:`sympy.lambdify` prints each expression as one Python expression, so every operator
allocates a new full-size array, and a product such as ``(1/2) nu nv x0 (pi - x1)`` makes four full
passes where one would do. :class:`NumpyProgram` compiles the same expressions differently:

* polynomial sums in the arguments are factored when that saves operations (erf's
  ``4 nu^2 nv^2 + 2 nu^2 + 2 nv^2 + 1`` becomes ``(2 nu^2 + 1)(2 nv^2 + 1)``, a product of a column
  and a row);
* common subexpressions of all the expressions together (``sympy.cse``) are computed once;
* constants are folded into one float per product or sum, and in a product the factors that depend
  on fewer arguments (columns and rows) are multiplied first;
* for each combination of argument shapes the program is specialised once: every operation whose
  result has the full broadcast shape writes into a buffer (``out=``), reusing the buffer of an
  operand that is no longer needed, so a kernel with its three partials needs a handful of full
  arrays instead of one per operator; with a :class:`Workspace` even those are reused across calls
  (no page faults from fresh allocations in a loop over blocks).

The result is the same mathematics as the lambdified expression, rounded differently (a few ulps).
Expressions with a node the compiler does not handle (``Piecewise``, ``Heaviside``, ``Max`` ...)
raise :class:`Unsupported`; the caller then keeps :func:`sympy.lambdify`.

>>> import numpy as np, sympy
>>> from compverify.symbolic.steps import NU, NV, RHO
>>> prog = NumpyProgram([NU * NV * sympy.acos(RHO), NU * NV])
>>> [np.round(x, 12).tolist() for x in prog(np.array([[1.0], [2.0]]), np.array([[3.0]]),
...                                         np.array([[0.0], [1.0]]))]
[[[4.712388980385], [0.0]], [[3.0], [6.0]]]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.special
import sympy

from compverify.symbolic.steps import NU, NV, RHO

__all__ = ["NumpyProgram", "Unsupported", "Workspace", "factor_polynomials"]

ARGS = (NU, NV, RHO)

_FUNCS = {
    sympy.acos: "arccos", sympy.asin: "arcsin", sympy.atan: "arctan", sympy.exp: "exp",
    sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos", sympy.tanh: "tanh",
    sympy.Abs: "absolute", sympy.erf: "erf", sympy.erfc: "erfc",
}
_NAMESPACE = {
    "arccos": np.arccos, "arcsin": np.arcsin, "arctan": np.arctan, "exp": np.exp, "log": np.log,
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "absolute": np.absolute,
    "erf": scipy.special.erf, "erfc": scipy.special.erfc, "sqrt": np.sqrt, "square": np.square,
    "multiply": np.multiply, "divide": np.divide, "add": np.add, "subtract": np.subtract,
    "negative": np.negative, "power": np.power, "broadcast_shapes": np.broadcast_shapes,
}


class Unsupported(Exception):
    """An expression node the compiler does not translate (the caller falls back to lambdify)."""


class Workspace:
    """Full-size float64 buffers kept between calls of one :class:`NumpyProgram`.

    Results computed with a workspace live in its buffers and are overwritten by the next call
    with the same workspace: use one workspace per thread, and consume (or copy) the results before
    the next call.
    """

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.buffers: list[np.ndarray] = []

    def take(self, shape: tuple[int, ...], count: int) -> list[np.ndarray]:
        if self.shape != shape:
            self.shape, self.buffers = shape, []
        while len(self.buffers) < count:
            self.buffers.append(np.empty(shape))
        return self.buffers


def _ops(expr: sympy.Expr) -> int:
    return int(sympy.count_ops(expr))


def factor_polynomials(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with each polynomial sum in ``(nu, nv, rho)`` of three or more terms replaced by its
    factorisation when that has fewer operations (cheap: the sums are small)."""
    def is_poly_sum(e: sympy.Basic) -> bool:
        return (e.is_Add and len(e.args) >= 3 and bool(e.free_symbols)
                and e.free_symbols <= set(ARGS) and e.is_polynomial(*ARGS))

    def better(e: sympy.Expr) -> sympy.Expr:
        f = sympy.factor(e)
        return f if _ops(f) < _ops(e) else e

    return expr.replace(is_poly_sum, better)


class _Emitter:
    """Straight-line code for one pattern of argument shapes.

    A value is ``(code, slot)``: ``slot`` is the buffer ``w[slot]`` a full-size temporary owns
    (it may be overwritten by the operation that consumes it), else ``None`` (arguments, cse
    symbols, constants, values smaller than the full shape).
    """

    def __init__(self, is_full: Any) -> None:
        self.is_full = is_full
        self.lines: list[str] = []
        self.free: list[int] = []
        self.nslots = 0
        self.names: dict[sympy.Symbol, tuple[str, int | None]] = {s: (s.name, None) for s in ARGS}
        self.count = itertools.count()

    def slot(self) -> int:
        if self.free:
            return self.free.pop()
        self.nslots += 1
        return self.nslots - 1

    def call(self, fn: str, args: Sequence[tuple[str, int | None]], full: bool) -> tuple:
        """``fn(*args)``; a full result goes into an owned operand's buffer or a free one."""
        code = ", ".join(a for a, _ in args)
        name = f"t{next(self.count)}"
        if not full:
            self.lines.append(f"{name} = {fn}({code})")
            return name, None
        owned = [s for _, s in args if s is not None]
        out = owned[0] if owned else self.slot()
        self.free.extend(owned[1:])
        self.lines.append(f"{name} = {fn}({code}, out=w[{out}])")
        return name, out

    @staticmethod
    def const(e: sympy.Expr) -> tuple:
        return repr(float(e)), None

    def emit(self, e: sympy.Expr) -> tuple:
        if not e.free_symbols:
            return self.const(e)
        if e.is_Symbol:
            if e not in self.names:
                raise Unsupported(f"symbol {e}")
            return self.names[e][0], None
        if e.is_Add:
            return self.add(e)
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.power(e)
        fn = _FUNCS.get(type(e))
        if fn is not None and len(e.args) == 1:
            return self.call(fn, [self.emit(e.args[0])], self.is_full(e))
        raise Unsupported(type(e).__name__)

    @staticmethod
    def _order(terms: Sequence[sympy.Expr]) -> list[sympy.Expr]:
        # cheap operands first: those on fewer arguments (columns, rows), rho last
        return sorted(terms, key=lambda t: (RHO in t.free_symbols, len(t.free_symbols),
                                            sympy.default_sort_key(t)))

    def add(self, e: sympy.Expr) -> tuple:
        const = sympy.Add(*(t for t in e.args if not t.free_symbols))
        acc = None
        part: sympy.Expr = sympy.Integer(0)
        for t in self._order([t for t in e.args if t.free_symbols]):
            neg = t.could_extract_minus_sign()
            val = self.emit(-t if neg else t)
            part = part + t
            if acc is None and neg and const != 0:  # c - t in one pass
                acc = self.call("subtract", [self.const(const), val], self.is_full(part))
                const = sympy.Integer(0)
            elif acc is None:
                acc = self.call("negative", [val], self.is_full(part)) if neg else val
            else:
                acc = self.call("subtract" if neg else "add", [acc, val], self.is_full(part))
        if const != 0:
            acc = self.call("add", [acc, self.const(const)], self.is_full(e))
        return acc

    def mul(self, e: sympy.Expr) -> tuple:
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if not f.free_symbols:
                coeff = coeff * f
            elif f.is_Pow and f.exp.is_number and f.exp.is_negative:
                den.append(f.base ** (-f.exp))
            else:
                num.append(f)
        acc = None
        part: sympy.Expr = sympy.Integer(1)
        c = float(coeff)
        for f in self._order(num):
            val = self.emit(f)
            part = part * f
            acc = val if acc is None else self.call("multiply", [acc, val], self.is_full(part))
            if c != 1.0 and not self.is_full(part):  # the coefficient on a column or row
                acc = self.call("multiply", [acc, (repr(c), None)], False)
                c = 1.0
        if c != 1.0 or acc is None:
            acc = ((repr(c), None) if acc is None
                   else self.call("multiply", [acc, (repr(c), None)], self.is_full(part)))
        for f in self._order(den):
            val = self.emit(f)
            part = part / f
            acc = self.call("divide", [acc, val], self.is_full(part))
        return acc

    def int_power(self, b: tuple, k: int, full: bool) -> tuple:
        """``b**k`` for an integer ``k >= 1`` (consumes ``b``)."""
        if k == 1:
            return b
        if k == 2:
            return self.call("square", [b], full)
        if k == 3:
            return self.call("multiply", [self.call("square", [(b[0], None)], full), b], full)
        if k == 4:
            return self.call("square", [self.call("square", [b], full)], full)
        return self.call("power", [b, (repr(float(k)), None)], full)

    def power(self, e: sympy.Expr) -> tuple:
        base, p = e.args
        if not p.is_number:
            raise Unsupported("symbolic exponent")
        full = self.is_full(e)
        if p.is_negative:
            return self.call("divide", [("1.0", None), self.emit(base ** (-p))], full)
        if p.is_Integer:
            return self.int_power(self.emit(base), int(p), full)
        if p.is_Rational and p.q == 2:
            b = self.emit(base)
            k = int(p - sympy.Rational(1, 2))
            if k == 0:
                return self.call("sqrt", [b], full)
            root = self.call("sqrt", [(b[0], None)], full)
            return self.call("multiply", [self.int_power(b, k, full), root], full)
        return self.call("power", [self.emit(base), (repr(float(p)), None)], full)


class NumpyProgram:
    """``exprs`` (SymPy, in ``nu, nv, rho``) compiled to NumPy; ``prog(nu, nv, rho, workspace)``
    returns the list of their values (see the module docstring)."""

    _SUBSETS = tuple(frozenset(c) for r in (1, 2, 3) for c in itertools.combinations(ARGS, r))
    _MAX_VARIANTS = 256

    def __init__(self, exprs: Sequence[sympy.Expr], *, factor: bool = True) -> None:
        exprs = [sympy.sympify(e) for e in exprs]
        if factor:
            exprs = [factor_polynomials(e) for e in exprs]
        for e in exprs:
            extra = e.free_symbols - set(ARGS)
            if extra:
                raise Unsupported(f"free symbols {sorted(map(str, extra))}")
        replacements, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("c"))
        # constants (such as 1/pi) go back into the expressions, where they fold into one
        # coefficient per product
        consts: dict[sympy.Symbol, sympy.Expr] = {}
        self.replacements = []
        self._sym_args: dict[sympy.Symbol, frozenset] = {}
        for s, e in replacements:
            e = e.xreplace(consts)
            args = self._args_of(e)
            if args:
                self.replacements.append((s, e))
                self._sym_args[s] = args
            else:
                consts[s] = e
        self.reduced = [r.xreplace(consts) for r in reduced]
        self._by_pattern: dict[tuple, tuple] = {}
        self._by_shapes: dict[tuple, tuple] = {}
        # compile the all-full variant now, so that Unsupported shows at construction
        self._variant(tuple(True for _ in self._SUBSETS))

    def _args_of(self, e: sympy.Basic) -> frozenset:
        out: set = set()
        for s in e.free_symbols:
            out |= self._sym_args.get(s, {s})
        return frozenset(out)

    def _variant(self, pattern: tuple) -> tuple:
        hit = self._by_pattern.get(pattern)
        if hit is not None:
            return hit
        fullness = dict(zip(self._SUBSETS, pattern, strict=True))

        def is_full(e: sympy.Basic) -> bool:
            args = self._args_of(e)
            return bool(args) and fullness[args]

        em = _Emitter(is_full)
        stmts = [*self.replacements, *((None, r) for r in self.reduced)]
        last_use: dict = {}
        for i, (_, e) in enumerate(stmts):
            for s in e.free_symbols:
                last_use[s] = i
        outputs = {r for r in self.reduced if r.is_Symbol}
        results = []
        for i, (s, e) in enumerate(stmts):
            val = em.emit(e)
            if s is None:
                results.append(val[0])
            else:
                em.names[s] = val
            for sym, (name, slot) in list(em.names.items()):
                # a cse symbol's buffer is free after its last use (an output's never)
                if slot is not None and sym is not s and last_use.get(sym, -1) <= i \
                        and sym not in outputs:
                    em.free.append(slot)
                    em.names[sym] = (name, None)
        seen: set = set()
        ret = []
        for name in results:  # two outputs never share an array
            ret.append(f"{name}.copy()" if name in seen and name.isidentifier() else name)
            seen.add(name)
        body = "\n    ".join(em.lines) or "pass"
        src = f"def _program(nu, nv, rho, w):\n    {body}\n    return [{', '.join(ret)}]\n"
        ns = dict(_NAMESPACE)
        exec(compile(src, "<compverify.symbolic.numpy_codegen>", "exec"), ns)  # noqa: S102
        hit = (ns["_program"], em.nslots, src)
        self._by_pattern[pattern] = hit
        return hit

    def source(self, full: bool = True) -> str:
        """The generated code when every argument subset is full (``full``) or none is."""
        return self._variant(tuple(full for _ in self._SUBSETS))[2]

    def __call__(self, nu: Any, nv: Any, rho: Any, workspace: Workspace | None = None) -> list:
        key = (np.shape(nu), np.shape(nv), np.shape(rho))
        hit = self._by_shapes.get(key)
        if hit is None:
            shapes = dict(zip(ARGS, key, strict=True))
            shape = np.broadcast_shapes(*key)
            pattern = tuple(len(shape) > 0 and np.broadcast_shapes(*(shapes[a] for a in sub))
                            == shape for sub in self._SUBSETS)
            if len(self._by_shapes) >= self._MAX_VARIANTS:
                self._by_shapes.clear()
            hit = self._by_shapes[key] = (*self._variant(pattern)[:2], shape)
        fn, nslots, shape = hit
        if nslots == 0:
            return fn(nu, nv, rho, None)
        w = (workspace.take(shape, nslots) if workspace is not None
             else [np.empty(shape) for _ in range(nslots)])
        return fn(nu, nv, rho, w)
