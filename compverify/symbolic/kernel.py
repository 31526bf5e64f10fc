"""Compiled Gaussian kernels ``k(nu, nv, rho)`` with first and second partial derivatives.

A :class:`Kernel` is built from a :class:`~compverify.symbolic.derivation.Derivation`. For a
closed form, SymPy differentiates ``k`` once and twice in ``(nu, nv, rho)`` and every expression is
compiled twice from the same SymPy object: a vectorised NumPy function (float64, broadcasting)
and a ball-arithmetic function (:mod:`compverify.symbolic.ball`). The ``*_mp`` values carry
``dps`` correct digits relative to the value whatever the norms and rho (the ball's precision
rises until it is below ``10^-dps |value|``; a value that cancels to zero gets an absolute bound).
Float64 values use the NumPy function inside :data:`FAST_REGION` (relative error below 1e-13
there, absolute near ``rho = -1`` where the closed form cancels) and the ball one elsewhere;
a value beyond the float64 range raises
``CompverifyError``. Endpoints: ``rho`` is clipped to ``[-1, 1]``; where an
expression is undefined at ``rho = +-1`` or at ``nu = 0`` / ``nv = 0`` but has a limit, the limit
(computed by SymPy once, at compile time) is used there, so no NaN is returned where the limit
exists; a divergent limit gives ``inf``.

For a ``numeric`` kernel (no closed form: tanh, sigmoid, GELU, SiLU, user expressions) the kernel
and its partials are expectations over ``X = nu z1``, ``Y = nv (rho z1 + sqrt(1 - rho^2) z2)``,
differentiated under the integral sign (``dk/drho = nu nv E[sigma'(X) sigma'(Y)]`` by Price's
theorem): float64 by a tensor trapezoidal rule (:data:`TRAPEZOID_STEP`; norms up to
:data:`NUMERIC_FLOAT64_MAX_NORM`, error about ``exp(-pi^2 / (TRAPEZOID_STEP max(nu, nv)))``),
mpmath by a finer tensor trapezoidal rule whose steps follow the working precision and the norms
(``_Quadrature.mp``: exponential convergence for sigma analytic in a strip, assumed
``|Im z| < MP_STRIP``). Where those rules would be too coarse or too large (float64 norms beyond
:data:`NUMERIC_FLOAT64_MAX_NORM`, mpmath rules beyond ``MP_MAX_NODES^2`` nodes) the graded rule
of :mod:`compverify.symbolic.graded_quadrature` computes the point, with its error estimate
checked (``dps`` digits relative in mpmath, :data:`GRADED_FLOAT64_TOL` in float64; absolute
against ``E|integrand|`` where the value cancels), or raises ``CompverifyError`` naming the point
when the estimate fails.

>>> import mpmath
>>> from compverify.symbolic import get_activation
>>> k = get_activation("relu").kernel
>>> float(k.value(1.0, 1.0, 1.0))    # E[relu(g)^2] = 1/2
0.5
>>> mpmath.nstr(k.value_mp(1, 1, 0, dps=20), 20)      # 1/(2 pi)
'0.15915494309189533577'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.display import TableDisplay
from compverify.errors import CompverifyError
from compverify.symbolic import ball, kernel_cache
from compverify.symbolic.derivation import Derivation
from compverify.symbolic.numpy_codegen import NumpyProgram, Unsupported, Workspace
from compverify.symbolic.steps import NU, NV, RHO, DerivationStep, Z
from compverify.validate import check_dps

__all__ = ["Kernel", "TRAPEZOID_STEP", "PARTIAL_NAMES", "HESSIAN_NAMES"]

PARTIAL_NAMES = ("nu", "nv", "rho")
HESSIAN_NAMES = ("nunu", "nunv", "nurho", "nvnv", "nvrho", "rhorho")
_VARS = {"nu": NU, "nv": NV, "rho": RHO}
_HESS_PAIRS = (("nu", "nu"), ("nu", "nv"), ("nu", "rho"), ("nv", "nv"), ("nv", "rho"),
               ("rho", "rho"))
#: Step and half-width of the float64 numeric kernels' trapezoidal rule on each axis. For an
#: integrand analytic in the strip |Im z| < delta the error is about exp(-2 pi delta / h);
#: tanh(nu z) has delta = pi / (2 nu), so h = 0.05 gives ~1e-13 at nu = 3 and ~1e-9 at nu = 10;
#: the Gaussian tail beyond |z| = 9 is below 1e-18.
TRAPEZOID_STEP = 0.05
TRAPEZOID_HALF_WIDTH = 9.0
#: Largest norm for the float64 trapezoidal rule: its error, about
#: ``exp(-pi^2 / (TRAPEZOID_STEP max(nu, nv)))`` times the integrand's size for tanh (poles at
#: ``i pi / 2``; sigmoid and SiLU are better), measured against the graded rule at
#: ``(n, n, 0.5)``: tanh 3e-14 up to n = 6, 3.4e-12 at 8, 3.0e-10 at 10, 1.9e-7 at 16; sigmoid
#: and SiLU 3e-14 up to 12, 1.4e-12 at 16. Beyond, each entry is computed by the graded rule
#: (``_Quadrature._graded_float64``, a few milliseconds an entry).
NUMERIC_FLOAT64_MAX_NORM = 16.0
#: Accuracy the float64 numeric kernels state beyond :data:`NUMERIC_FLOAT64_MAX_NORM`, where
#: the graded rule (:mod:`compverify.symbolic.graded_quadrature`) computes them: relative, or
#: absolute ``1e-3 GRADED_FLOAT64_TOL E|integrand|`` where the value cancels.
GRADED_FLOAT64_TOL = 1e-12
#: The mpmath rule of numeric kernels assumes sigma analytic in ``|Im z| < MP_STRIP`` (0.9 pi/2:
#: tanh has poles at ``i pi / 2``; sigmoid, SiLU at ``i pi``; erf, GELU none).
MP_STRIP = 0.9 * math.pi / 2
#: Nodes per axis of that rule at most (cost grows as its square).
MP_MAX_NODES = 801
_GUARD = 10
#: Where the compiled float64 expressions are used as they are, by route: both norms in
#: ``[lo, hi]`` (or 0). There the measured relative error is below 1e-13, except where the closed
#: form itself cancels: polynomials near a root (absolute error below 1e-13 times the sum of the
#: terms' moduli), and the piecewise-homogeneous kernels as ``rho -> -1``, where
#: ``sin(psi) - psi cos(psi)`` and its degree-n analogues cancel (``psi = acos(-rho)``): there the
#: error is absolute, below 1e-13 ``(nu nv)^n`` (the size of the kernel at ``rho = 0``), which is
#: what a kernel sum needs; relative digits near ``rho = -1`` come from the ``*_mp`` values.
#: Elsewhere (norms outside ``[lo, hi]``, where the expanded forms overflow or cancel: erf's
#: ``4 nu^2 nv^2 (1 - rho^2) + 2 nu^2 + ...`` loses ``log10(nu^2)`` digits) and for every
#: non-finite entry, the value is computed by ball arithmetic. The ball route costs about 0.1 ms
#: an entry, so it is kept off the hot path: routing the band ``1 + rho < 1e-2`` through it made
#: a float64 relu search on a 1024-neuron target 20 times slower.
FAST_REGION: dict[str, tuple[float, float]] = {
    "polynomial-moments": (1e-16, 1e16),
    "piecewise-homogeneous": (1e-16, 1e16),
    "price": (1e-16, 16.0),
    "price-2": (1e-16, 16.0),
}
_NUMPY_MODULES = ["scipy", "numpy"]


def _compile_numpy(exprs: list[sympy.Expr]) -> Callable[..., list]:
    """``fn(nu, nv, rho, workspace=None)`` -> the values of ``exprs``: a
    :class:`~compverify.symbolic.numpy_codegen.NumpyProgram` (factored, common subexpressions once,
    in-place operations), or :func:`sympy.lambdify` for expressions it does not handle."""
    try:
        return NumpyProgram(exprs)
    except Unsupported:
        fn = sympy.lambdify((NU, NV, RHO), exprs, modules=_NUMPY_MODULES, cse=True)
        return lambda nu, nv, rho, workspace=None: fn(nu, nv, rho)


def _is_bad(value: sympy.Basic) -> bool:
    return bool(value.has(sympy.nan, sympy.zoo)) or value is sympy.nan


_ENDPOINTS = ((RHO, 1), (RHO, -1), (NU, 0), (NV, 0))


def _endpoint_values(expr: sympy.Expr) -> list[sympy.Expr]:
    """``expr`` at ``rho = 1``, ``rho = -1``, ``nu = 0``, ``nv = 0``: the substituted value, or the
    one-sided limit where the substitution is undefined (``oo`` when there is no finite limit).

    At ``nu = 0`` this also settles ``0 * inf`` products such as ``nu nv / sqrt(1 - rho^2)`` at
    ``rho = 1``, where the kernel is identically zero in rho.
    """
    out = []
    for sym, point in _ENDPOINTS:
        direct = sympy.simplify(expr.subs(sym, point))
        if _is_bad(direct):
            side = "-" if point == 1 else "+"
            direct = sympy.limit(expr, sym, point, side)
            if direct.has(sympy.Limit) or _is_bad(direct):
                direct = sympy.oo  # no finite limit: report it as divergent rather than NaN
        out.append(direct)
    return out


class _Compiled:
    """One SymPy expression compiled to NumPy and to ball arithmetic, with endpoint limits patched
    in.

    ``numpy`` (float64) takes the compiled NumPy expression where ``trusted(nu, nv, rho)`` holds
    and its result is finite, and the ball evaluation (:mod:`compverify.symbolic.ball`, correctly
    rounded to float64 up to one ulp) everywhere else; a finite value beyond the float64 range
    raises ``CompverifyError``. ``exact`` is the ball evaluation at any number of bits.
    """

    def __init__(self, expr: sympy.Expr, label: str = "k",
                 trusted: Callable[..., np.ndarray] | None = None) -> None:
        self.expr = expr
        self.label = label
        self.trusted = trusted
        args = (NU, NV, RHO)
        self.program = _compile_numpy([expr])
        self.mp_fn = sympy.lambdify(args, expr, modules="mpmath")
        self.patches: list[tuple[sympy.Symbol, int, Callable, Callable]] = []
        self._patch_exprs: list[sympy.Expr] = kernel_cache.cached_exprs(
            "endpoints", expr, lambda: _endpoint_values(expr))
        for (sym, point), direct in zip(_ENDPOINTS, self._patch_exprs, strict=True):
            self.patches.append((sym, point, sympy.lambdify(args, direct, modules=_NUMPY_MODULES),
                                 sympy.lambdify(args, direct, modules="mpmath")))
        # float64 patches that the compiled expression already honours are dropped (speed): they
        # are checked on a grid of endpoint combinations, once
        grid = np.array(np.meshgrid([0.0, 0.7, 1.9], [0.0, 0.6, 1.3], [-1.0, 1.0, 0.3],
                                    indexing="ij")).reshape(3, -1)
        self.np_patches = [pt for pt in self.patches if not self._honoured(pt, grid)]

    def _honoured(self, patch: tuple, grid: np.ndarray) -> bool:
        sym, point, fn, _ = patch
        col = {NU: 0, NV: 1, RHO: 2}[sym]
        pts = grid[:, grid[col] == point]
        with np.errstate(all="ignore"):
            got = np.broadcast_to(np.asarray(self.np_fn(*pts), dtype=float), pts.shape[1:])
            want = np.broadcast_to(np.asarray(fn(*pts), dtype=float), pts.shape[1:])
            return bool(np.all((got == want) | (np.abs(got - want) <= 1e-14 * np.abs(want))))

    def np_fn(self, nu: Any, nv: Any, rho: Any, workspace: Workspace | None = None) -> Any:
        """The compiled NumPy expression as it is (no patches, no ball fallback)."""
        return self.program(nu, nv, rho, workspace)[0]

    def numpy(self, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray,
              workspace: Workspace | None = None) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.finish(self.np_fn(nu, nv, rho, workspace), nu, nv, rho)

    @cached_property
    def _balls(self) -> tuple[ball.BallFunction | None, list]:
        """The expression and its endpoint patches on arb balls (``None``: not expressible, or a
        divergent patch, which stands for ``+inf``)."""
        try:
            main = ball.compile_ball(self.expr)
        except NotImplementedError:
            return None, []
        patches = []
        for (sym, point, _, _), direct in zip(self.patches, self._patch_exprs, strict=True):
            try:
                fn = None if direct.has(sympy.oo) else ball.compile_ball(direct)
            except NotImplementedError:
                return None, []
            patches.append((sym, point, fn))
        return main, patches

    def exact(self, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf, bits: int) -> mpmath.mpf:
        """The value at exact inputs with relative error below ``2^-bits`` (ball arithmetic at
        rising precision); a value that cancels to zero comes with an absolute error below the
        ball radius at the last precision (see :func:`compverify.symbolic.ball.evaluate`)."""
        main, patches = self._balls
        if main is None:
            return self.mp(nu, nv, rho)
        vals = {NU: nu, NV: nv, RHO: rho}
        fn = main
        for sym, point, patch in reversed(patches):  # nu = 0 / nv = 0 take precedence
            if vals[sym] == point:
                if patch is None:
                    return mpmath.inf
                fn = patch
                break
        return ball.evaluate(fn, nu, nv, rho, bits)[0]

    def exact_arb(self, nu: Any, nv: Any, rho: Any, bits: int) -> Any:
        """:meth:`exact` on exact ``arb`` inputs, returning an exact ``arb`` (relative error below
        ``2^-bits``; :func:`compverify.symbolic.ball.evaluate_arb`).  A divergent endpoint limit
        gives ``+inf``; an expression the balls cannot express goes through :meth:`mp`."""
        main, patches = self._balls
        if main is None:
            return ball.to_arb(self.mp(ball.to_mpf(nu), ball.to_mpf(nv), ball.to_mpf(rho)))
        vals = {NU: nu, NV: nv, RHO: rho}
        fn = main
        for sym, point, patch in reversed(patches):  # nu = 0 / nv = 0 take precedence
            if vals[sym] == point:
                if patch is None:
                    return ball.to_arb(mpmath.inf)
                fn = patch
                break
        return ball.evaluate_arb(fn, nu, nv, rho, bits)

    def exact_float(self, nu: float, nv: float, rho: float) -> float:
        """One entry in float64 by the ball evaluation; ``CompverifyError`` on float64 overflow."""
        with mpmath.workprec(80):
            v = self.exact(mpmath.mpf(nu), mpmath.mpf(nv), mpmath.mpf(rho), 60)
        out = float(v)
        if mpmath.isfinite(v) and not math.isfinite(out):
            raise CompverifyError(
                f"{self.label}(nu={nu!r}, nv={nv!r}, rho={rho!r}) = {mpmath.nstr(v, 6)} is beyond "
                "the float64 range (1.8e308); use the mpmath evaluation (value_mp/grad_mp/hess_mp)")
        return out

    def finish(self, raw: Any, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """Broadcast a raw compiled value, patch the endpoints, and recompute by ball arithmetic
        every entry outside the trusted region or not finite."""
        out = self._finish_fast(raw, nu, nv, rho)
        with np.errstate(all="ignore"):
            # fast test first: a finite sum (one pass, no mask) and norms in the trusted region
            # (tested on the norms' own, smaller, arrays); a sum that overflows only sends the
            # block to the exact test below
            if np.isfinite(np.sum(out)) and (self.trusted is None or self.trusted(nu, nv, None)):
                return out
            redo = ~np.isfinite(out)
            if self.trusted is not None:
                redo |= ~self.trusted(nu, nv, rho)
        if np.any(redo):
            shape = out.shape
            flat = np.array(out, dtype=float).reshape(-1)
            a, b, r = (np.broadcast_to(x, shape).reshape(-1) for x in (nu, nv, rho))
            for i in np.flatnonzero(np.broadcast_to(redo, shape)):
                flat[i] = self.exact_float(float(a[i]), float(b[i]), float(r[i]))
            out = flat.reshape(shape)
        return out

    def _finish_fast(self, raw: Any, nu: np.ndarray, nv: np.ndarray,
                     rho: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(nu.shape, nv.shape, rho.shape)
        with np.errstate(all="ignore"):
            out = np.asarray(raw, dtype=float)
            if out.shape != shape:
                out = np.broadcast_to(out, shape).copy()
            for sym, point, fn, _ in self.np_patches:
                where = {NU: nu, NV: nv, RHO: rho}[sym] == point
                if np.any(where):
                    lim = np.broadcast_to(np.asarray(fn(nu, nv, rho), dtype=float), shape)
                    out = np.where(where, lim, out)
        return out

    def mp(self, nu: Any, nv: Any, rho: Any) -> mpmath.mpf:
        vals = {NU: nu, NV: nv, RHO: rho}
        for sym, point, _, fn in reversed(self.patches):  # nu = 0 / nv = 0 take precedence
            if vals[sym] == point:
                return mpmath.mpf(fn(nu, nv, rho))
        return mpmath.mpf(self.mp_fn(nu, nv, rho))


def _trust_region(route: str, degree: int) -> Callable[..., np.ndarray]:
    lo, hi = FAST_REGION[route]

    def trusted(nu: np.ndarray, nv: np.ndarray, rho: np.ndarray | None) -> Any:
        """Entrywise mask (broadcast over the three arguments); with ``rho=None``, ``True`` when
        every norm is in ``[lo, hi]`` (``False`` sends the caller to the entrywise mask)."""
        if rho is None:  # two reductions per norm; a zero norm takes the entrywise test
            return all(x.size == 0 or (lo <= np.min(x) and np.max(x) <= hi) for x in (nu, nv))
        ok_nu = (nu == 0) | ((nu >= lo) & (nu <= hi))
        ok_nv = (nv == 0) | ((nv >= lo) & (nv <= hi))
        return ok_nu & ok_nv

    return trusted


def _bits(dps: int) -> int:
    return math.ceil(dps * math.log2(10)) + 4


def _as_arrays(nu: Any, nv: Any, rho: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nu = np.asarray(nu, dtype=float)
    nv = np.asarray(nv, dtype=float)
    rho = np.clip(np.asarray(rho, dtype=float), -1.0, 1.0)
    return nu, nv, rho


def _mp_args(nu: Any, nv: Any, rho: Any) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    nu, nv, rho = (mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x for x in (nu, nv, rho))
    rho = min(max(rho, mpmath.mpf(-1)), mpmath.mpf(1))
    return nu, nv, rho


class Kernel(TableDisplay):
    """The kernel ``k(nu, nv, rho) = E[sigma(<u,x>) sigma(<v,x>)]`` of one activation.

    Attributes: ``route``, ``steps`` (tuple of :class:`DerivationStep`), ``expr`` (SymPy in
    ``nu, nv, rho`` or ``None`` for numeric kernels), ``partials`` (``{"nu", "nv", "rho"}`` ->
    SymPy, or ``None``), ``is_closed_form``. Methods ``value/grad/hess`` (float64, vectorised) and
    ``value_mp/grad_mp/hess_mp`` (mpmath at ``dps`` digits; 10 guard digits inside).
    """

    def __init__(self, derivation: Derivation, activation_expr: sympy.Expr) -> None:
        self.route = derivation.route
        self.steps: tuple[DerivationStep, ...] = tuple(derivation.steps)
        self.expr = derivation.expr
        self.activation_expr = activation_expr
        self.is_closed_form = self.expr is not None

    def __repr__(self) -> str:
        body = self.expr if self.expr is not None else "numeric quadrature"
        return f"Kernel(route={self.route!r}, k={body})"

    def _display_tables(self) -> list:
        """The closed form (or the note that the kernel is numeric) and the derivation steps."""
        from compverify.display import Math
        from compverify.symbolic.steps import to_latex

        sigma = Math(to_latex(self.activation_expr))
        form = (Math(to_latex(self.expr)) if self.expr is not None
                else "numeric (quadrature; no closed form)")
        head = [("activation", Math(r"\sigma(z) = " + sigma)), ("route", self.route),
                ("kernel", Math(r"k(\nu_{u}, \nu_{v}, \rho) = " + form)
                 if isinstance(form, Math) else form)]
        steps = [(i, st.description, Math(st.latex)) for i, st in enumerate(self.steps, 1)]
        return [("Gaussian kernel k = E[sigma(<u,x>) sigma(<v,x>)]", ("quantity", "value"), head),
                (f"derivation ({len(steps)} steps)", ("#", "step", "expression"), steps)]

    # ------------------------------------------------------------------ symbolic partials
    @cached_property
    def partials(self) -> dict[str, sympy.Expr] | None:
        if self.expr is None:
            return None
        return kernel_cache.cached_exprs("partials", self.expr, lambda: {
            n: sympy.simplify(sympy.diff(self.expr, s)) for n, s in _VARS.items()})

    @cached_property
    def second_partials(self) -> dict[str, sympy.Expr] | None:
        if self.expr is None:
            return None
        first = self.partials
        return kernel_cache.cached_exprs("second-partials", self.expr, lambda: {
            a + b: sympy.simplify(sympy.diff(first[a], _VARS[b])) for a, b in _HESS_PAIRS})

    @cached_property
    def _trusted(self) -> Callable[..., np.ndarray] | None:
        if self.route not in FAST_REGION:
            return None
        degree = 0
        if self.route == "piecewise-homogeneous":
            degree = int(kernel_cache.cached_homogeneous_form(self.activation_expr)[0])
        return _trust_region(self.route, degree)

    @cached_property
    def _value_c(self) -> _Compiled:
        return _Compiled(self.expr, "k", self._trusted)

    @cached_property
    def _grad_c(self) -> list[_Compiled]:
        return [_Compiled(self.partials[n], f"k_{n}", self._trusted) for n in PARTIAL_NAMES]

    @cached_property
    def _hess_c(self) -> list[_Compiled]:
        return [_Compiled(self.second_partials[n], f"k_{n}", self._trusted)
                for n in HESSIAN_NAMES]

    @cached_property
    def _quad(self) -> _Quadrature:
        return _Quadrature(self.activation_expr)

    # ------------------------------------------------------------------ float64
    def value(self, nu: Any, nv: Any, rho: Any) -> np.ndarray:
        """``k(nu, nv, rho)`` elementwise (broadcasting), float64."""
        a = _as_arrays(nu, nv, rho)
        if self.expr is None:
            return self._quad.numpy(*a, order=0)[0]
        return self._value_c.numpy(*a)

    @cached_property
    def _grad_joint(self) -> Callable[..., list]:
        # one compiled program for k and its partials: common subexpressions (acos, sqrt) once
        return _compile_numpy([self.expr, *(self.partials[n] for n in PARTIAL_NAMES)])

    @cached_property
    def _hess_joint(self) -> Callable[..., list]:
        return _compile_numpy([self.second_partials[n] for n in HESSIAN_NAMES])

    def grad(self, nu: Any, nv: Any, rho: Any) -> tuple[np.ndarray, ...]:
        """``(k, k_nu, k_nv, k_rho)`` elementwise, float64."""
        return self.grad_into(*_as_arrays(nu, nv, rho))

    def hess(self, nu: Any, nv: Any, rho: Any) -> tuple[np.ndarray, ...]:
        """``(k_nunu, k_nunv, k_nurho, k_nvnv, k_nvrho, k_rhorho)`` elementwise, float64."""
        return self.hess_into(*_as_arrays(nu, nv, rho))

    # the same on float64 arrays with rho already in [-1, 1] (no clipping pass), the results in
    # the buffers of ``workspace`` when one is given: valid until its next use (one per thread)
    def value_into(self, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray,
                   workspace: Workspace | None = None) -> np.ndarray:
        """:meth:`value` for float64 arrays with ``rho`` in ``[-1, 1]``, optionally into
        ``workspace``."""
        if self.expr is None:
            return self._quad.numpy(nu, nv, rho, order=0)[0]
        return self._value_c.numpy(nu, nv, rho, workspace)

    def grad_into(self, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray,
                  workspace: Workspace | None = None) -> tuple[np.ndarray, ...]:
        """:meth:`grad` for float64 arrays with ``rho`` in ``[-1, 1]``, optionally into
        ``workspace``."""
        if self.expr is None:
            return self._quad.numpy(nu, nv, rho, order=1)
        with np.errstate(all="ignore"):
            raw = self._grad_joint(nu, nv, rho, workspace)
        comps = [self._value_c, *self._grad_c]
        return tuple(c.finish(r, nu, nv, rho) for c, r in zip(comps, raw, strict=True))

    def hess_into(self, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray,
                  workspace: Workspace | None = None) -> tuple[np.ndarray, ...]:
        """:meth:`hess` for float64 arrays with ``rho`` in ``[-1, 1]``, optionally into
        ``workspace``."""
        if self.expr is None:
            return self._quad.numpy(nu, nv, rho, order=2)[4:]
        with np.errstate(all="ignore"):
            raw = self._hess_joint(nu, nv, rho, workspace)
        return tuple(c.finish(r, nu, nv, rho) for c, r in zip(self._hess_c, raw, strict=True))

    # ------------------------------------------------------------------ mpmath
    def value_mp(self, nu: Any, nv: Any, rho: Any, dps: int = 30) -> mpmath.mpf:
        """``k(nu, nv, rho)`` at ``dps`` digits."""
        dps = check_dps(dps)
        with mpmath.workdps(dps + _GUARD):
            a = _mp_args(nu, nv, rho)
            if self.expr is None:
                v = self._quad.mp(*a, order=0)[0]
            else:
                v = self._value_c.exact(*a, _bits(dps))
        with mpmath.workdps(dps):
            return +v

    def grad_mp(self, nu: Any, nv: Any, rho: Any, dps: int = 30) -> tuple[mpmath.mpf, ...]:
        """``(k, k_nu, k_nv, k_rho)`` at ``dps`` digits."""
        dps = check_dps(dps)
        with mpmath.workdps(dps + _GUARD):
            a = _mp_args(nu, nv, rho)
            if self.expr is None:
                out = self._quad.mp(*a, order=1)
            else:
                out = tuple(c.exact(*a, _bits(dps)) for c in (self._value_c, *self._grad_c))
        with mpmath.workdps(dps):
            return tuple(+v for v in out)

    def hess_mp(self, nu: Any, nv: Any, rho: Any, dps: int = 30) -> tuple[mpmath.mpf, ...]:
        """``(k_nunu, k_nunv, k_nurho, k_nvnv, k_nvrho, k_rhorho)`` at ``dps`` digits."""
        dps = check_dps(dps)
        with mpmath.workdps(dps + _GUARD):
            a = _mp_args(nu, nv, rho)
            if self.expr is None:
                out = self._quad.mp(*a, order=2)[4:]
            else:
                out = tuple(c.exact(*a, _bits(dps)) for c in self._hess_c)
        with mpmath.workdps(dps):
            return tuple(+v for v in out)


    # ------------------------------------------------------------------ arb balls
    def partials_arb(self, nu: Any, nv: Any, rho: Any, order: int, dps: int = 30) -> tuple:
        """The kernel's components on exact ``arb`` inputs (``rho`` in ``[-1, 1]``), each an exact
        ``arb`` with ``dps + 10`` correct digits relative to it: order 0 ``(k,)``, order 1
        ``(k, k_nu, k_nv, k_rho)``, order 2 the six second partials (as :meth:`hess_mp`).

        The closed form's ball functions run on the arbs directly (no ``mpf`` in between), which
        is what makes a kernel sum in ball arithmetic cheap; a numeric kernel goes through
        :meth:`value_mp` / :meth:`grad_mp` / :meth:`hess_mp` and is converted.
        """
        if self.expr is None:
            a = tuple(ball.to_mpf(x) for x in (nu, nv, rho))
            with mpmath.workdps(dps + _GUARD):
                mp = (self.value_mp(*a, dps + _GUARD),) if order == 0 else (
                    self.grad_mp(*a, dps + _GUARD) if order == 1 else self.hess_mp(*a, dps + _GUARD))
            return tuple(ball.to_arb(x) for x in mp)
        comps = ((self._value_c,) if order == 0 else (self._value_c, *self._grad_c) if order == 1
                 else tuple(self._hess_c))
        bits = _bits(dps + _GUARD)
        return tuple(c.exact_arb(nu, nv, rho, bits) for c in comps)


def _derivative(sigma: sympy.Expr, order: int) -> sympy.Expr:
    """``sigma^(order)`` with Dirac terms dropped where their weight vanishes (C^1 kinks).

    A Dirac term with a non-zero weight means sigma^(order - 1) jumps: the derivative under the
    integral sign is then not the a.e. derivative, and this raises ``CompverifyError``.
    """
    from compverify.errors import CompverifyError

    d = sympy.diff(sigma, Z, order)
    for delta in d.atoms(sympy.DiracDelta):
        D = sympy.Dummy("D")
        weight = sympy.diff(d.subs(delta, D), D)
        for z0 in sympy.solve(delta.args[0], Z):
            if sympy.simplify(weight.subs(D, 0).subs(Z, z0)) != 0:
                raise CompverifyError(
                    f"activation {sigma} has a jump in its derivative of order {order - 1} at "
                    f"z = {z0}: its numeric kernel has no derivative of order {order}")
        d = d.subs(delta, 0)
    return d


def finite_or_mp(f_np: Callable, f_mp: Callable, t: Any) -> np.ndarray:
    """``f(t)`` elementwise in float64 from a lambdified numpy function, with every entry that
    came out inf or nan recomputed by the mpmath one.

    A lambdified expression can overflow in an intermediate although its value is finite: silu's
    derivative ``z e^-z / (1 + e^-z)^2`` is ``inf/inf`` at ``z = -800``, where the value is
    ``-800 e^-800``.  mpmath has no overflow; a value that is itself infinite stays infinite.
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(all="ignore"):
        out = np.array(np.broadcast_to(np.asarray(f_np(t), dtype=float), t.shape))
    bad = ~np.isfinite(out) & np.isfinite(t)
    if np.any(bad):  # long double first (exponent range to 1e4932: vectorized), then mpmath
        with np.errstate(all="ignore"):
            try:
                wide = np.asarray(f_np(t[bad].astype(np.longdouble)), dtype=np.longdouble)
                out[bad] = np.broadcast_to(wide, t[bad].shape).astype(float)
            except TypeError:  # a function without a long double loop
                pass
        bad = ~np.isfinite(out) & np.isfinite(t)
    if np.any(bad):
        with mpmath.workdps(20):
            out[bad] = [float(f_mp(mpmath.mpf(float(x)))) for x in t[bad]]
    return out


class _Quadrature:
    """Expectations over ``(X, Y)`` for numeric kernels, with derivatives under the integral.

    With ``T = Y / nv = rho z1 + s z2``, ``s = sqrt(1 - rho^2)``:
    ``k_nu = E[z1 s'(X) s(Y)]``, ``k_nv = E[s(X) s'(Y) T]``, ``k_rho = nu nv E[s'(X) s'(Y)]``,
    ``k_nunu = E[z1^2 s''(X) s(Y)]``, ``k_nunv = E[z1 s'(X) s'(Y) T]``,
    ``k_nurho = nv E[s' s'] + nu nv E[z1 s''(X) s'(Y)]``, ``k_nvnv = E[s(X) s''(Y) T^2]``,
    ``k_nvrho = nu E[s' s'] + nu nv E[s'(X) s''(Y) T]``, ``k_rhorho = nu^2 nv^2 E[s''(X) s''(Y)]``.
    """

    _CHUNK = 16

    def __init__(self, sigma: sympy.Expr) -> None:
        d1 = _derivative(sigma, 1)
        d2 = _derivative(sigma, 2)
        self.f_np = [sympy.lambdify(Z, e, modules=_NUMPY_MODULES) for e in (sigma, d1, d2)]
        self.f_mp = [sympy.lambdify(Z, e, modules="mpmath") for e in (sigma, d1, d2)]
        x = np.arange(-TRAPEZOID_HALF_WIDTH, TRAPEZOID_HALF_WIDTH + TRAPEZOID_STEP / 2,
                      TRAPEZOID_STEP)
        self.x, self.w = x, TRAPEZOID_STEP * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)

    def _fn(self, k: int, t: np.ndarray) -> np.ndarray:
        return finite_or_mp(self.f_np[k], self.f_mp[k], t)

    def numpy(self, nu: np.ndarray, nv: np.ndarray, rho: np.ndarray, order: int):
        """The expectations in float64: the tensor trapezoidal rule for norms up to
        :data:`NUMERIC_FLOAT64_MAX_NORM`, and, entry by entry beyond, the graded rule
        (:meth:`_graded_float64`)."""
        for name, x in (("nu", nu), ("nv", nv)):
            bad = ~np.isfinite(x)
            if np.any(bad):
                raise CompverifyError(
                    f"numeric kernel in float64: {name} = {float(np.asarray(x)[bad].flat[0])!r} is not a "
                    "finite number")
        shape = np.broadcast_shapes(nu.shape, nv.shape, rho.shape)
        nu, nv, rho = (np.broadcast_to(a, shape).ravel() for a in (nu, nv, rho))
        big = (np.abs(nu) > NUMERIC_FLOAT64_MAX_NORM) | (np.abs(nv) > NUMERIC_FLOAT64_MAX_NORM)
        if np.any(big):
            small = self.numpy(np.where(big, 0.0, nu), np.where(big, 0.0, nv), rho, order)
            out = [np.array(o.ravel()) for o in small]
            for i in np.flatnonzero(big):
                vals = self._graded_float64(float(nu[i]), float(nv[i]), float(rho[i]), order)
                for o, v in zip(out, vals, strict=True):
                    o[i] = float(v)
                    if mpmath.isfinite(v) and not math.isfinite(o[i]):
                        raise CompverifyError(
                            f"numeric kernel at (nu, nv, rho) = ({float(nu[i])!r}, {float(nv[i])!r}, "
                            f"{float(rho[i])!r}): {mpmath.nstr(v, 6)} is beyond the float64 range; use "
                            "the mpmath evaluation (value_mp/grad_mp/hess_mp)")
            return tuple(o.reshape(shape) for o in out)
        nout = (1, 4, 10)[order]
        out = np.empty((nout, nu.size))
        z1 = self.x[:, None]
        z2 = self.x[None, :]
        W = np.outer(self.w, self.w)
        for lo in range(0, nu.size, self._CHUNK):
            sl = slice(lo, lo + self._CHUNK)
            a, b, r = nu[sl, None, None], nv[sl, None, None], rho[sl, None, None]
            s = np.sqrt(np.maximum(1 - r * r, 0.0))
            T = r * z1 + s * z2
            X = a * z1 + 0 * T
            Y = b * T
            E = lambda f: np.einsum("kij,ij->k", f, W)  # noqa: E731
            sx, sy = self._fn(0, X), self._fn(0, Y)
            res = [E(sx * sy)]
            if order >= 1:
                dx, dy = self._fn(1, X), self._fn(1, Y)
                a1, b1 = a[:, 0, 0], b[:, 0, 0]
                e11 = E(dx * dy)
                res += [E(z1 * dx * sy), E(sx * dy * T), a1 * b1 * e11]
            if order >= 2:
                ddx, ddy = self._fn(2, X), self._fn(2, Y)
                res += [E(z1 * z1 * ddx * sy), E(z1 * dx * dy * T),
                        b1 * e11 + a1 * b1 * E(z1 * ddx * dy), E(sx * ddy * T * T),
                        a1 * e11 + a1 * b1 * E(dx * ddy * T), (a1 * b1) ** 2 * E(ddx * ddy)]
            out[:, sl] = np.array(res)
        return tuple(o.reshape(shape) for o in out)

    def mp(self, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf, order: int):
        """The expectations at the working precision by a tensor trapezoidal rule on the plane.

        For an integrand analytic in the strip ``|Im z| < a`` the trapezoidal rule with step ``h``
        errs by about ``exp(-2 pi a / h)``; sigma is assumed analytic for ``|Im| < MP_STRIP``
        (tanh's poles are at ``i pi / 2``; for an entire sigma the growth off the real axis plays
        the same part), so ``a = MP_STRIP / max(nu, nv |rho|)`` in ``z1`` and
        ``MP_STRIP / (nv sqrt(1 - rho^2))`` in ``z2``, and each axis' step is chosen for
        ``mp.dps - 5`` digits (and small enough for the Gaussian factor), with the range cut where
        ``exp(-z^2 / 2)`` is below that. The step is never stretched: a point whose rule would
        exceed ``MP_MAX_NODES^2`` nodes goes to :meth:`mp_graded` instead.
        """
        D = max(mpmath.mp.dps - 5, 10)
        ln10 = math.log(10)
        s_f = math.sqrt(max(1 - float(rho) ** 2, 0.0))
        # the outer integrand (in z1) is sigma(nu z1) times a smoothed sigma(nv rho z1): its
        # nearest singularity is MP_STRIP / max(nu, nv |rho|) off the axis; the inner one (in
        # z2) is sigma(nv (rho z1 + s z2)): MP_STRIP / (nv s)
        scale1 = max(float(nu), float(nv) * abs(float(rho)), 1e-3)
        scale2 = max(float(nv) * s_f, 1e-3)
        L = math.sqrt(2 * D * ln10) + 1
        gauss_h = min(math.pi * math.sqrt(2 / (D * ln10)), 0.5)
        h1 = min(2 * math.pi * (MP_STRIP / scale1) / (D * ln10), gauss_h)
        h2 = min(2 * math.pi * (MP_STRIP / scale2) / (D * ln10), gauss_h)
        n1, n2 = int(math.ceil(L / h1)), int(math.ceil(L / h2))
        if s_f == 0:
            n2 = 0
        cost = (2 * n1 + 1) * (2 * n2 + 1)
        if cost > MP_MAX_NODES ** 2:
            return self.mp_graded(nu, nv, rho, order)
        zs, ws = [], []
        for h, n in ((h1, n1), (h2, n2)):
            hm = mpmath.mpf(h)
            z = [k * hm for k in range(-n, n + 1)]
            c = hm / mpmath.sqrt(2 * mpmath.pi)
            zs.append(z)
            ws.append([c * mpmath.exp(-t * t / 2) for t in z])
        (z, z2s), (w, w2s) = zs, ws
        s = mpmath.sqrt(max(1 - rho * rho, mpmath.mpf(0)))
        wsum = mpmath.fsum(w)
        f0, f1, f2 = self.f_mp
        zero = mpmath.mpf(0)
        acc = [zero] * 10  # the ten expectations (see the class docstring), accumulated
        for z1, w1 in zip(z, w, strict=True):
            X = nu * z1
            fx0 = f0(X)
            fx1 = f1(X) if order >= 1 else zero
            fx2 = f2(X) if order >= 2 else zero
            S0 = S1T = S1 = S2TT = S2T = S2 = zero
            rz = rho * z1
            # rho = +-1 (a neuron with itself): T = rho z1 does not depend on z2, one node suffices
            inner = ((rz, wsum),) if s == 0 else zip(z2s, w2s, strict=True)
            for z2, w2 in inner:
                T = rz + s * z2
                Y = nv * T
                S0 += w2 * f0(Y)
                if order >= 1:
                    g1 = w2 * f1(Y)
                    S1 += g1
                    S1T += g1 * T
                if order >= 2:
                    g2 = w2 * f2(Y)
                    S2 += g2
                    S2T += g2 * T
                    S2TT += g2 * T * T
            a = w1 * fx0
            acc[0] += a * S0
            if order >= 1:
                b = w1 * fx1
                acc[1] += b * z1 * S0          # E[z1 s'(X) s(Y)]
                acc[2] += a * S1T              # E[s(X) s'(Y) T]
                acc[3] += b * S1               # E[s'(X) s'(Y)]
            if order >= 2:
                e = w1 * fx2
                acc[4] += e * z1 * z1 * S0     # E[z1^2 s''(X) s(Y)]
                acc[5] += b * z1 * S1T         # E[z1 s'(X) s'(Y) T]
                acc[6] += e * z1 * S1          # E[z1 s''(X) s'(Y)]
                acc[7] += a * S2TT             # E[s(X) s''(Y) T^2]
                acc[8] += b * S2T              # E[s'(X) s''(Y) T]
                acc[9] += e * S2               # E[s''(X) s''(Y)]
        res = [acc[0]]
        if order >= 1:
            res += [acc[1], acc[2], nu * nv * acc[3]]
        if order >= 2:
            res += [acc[4], acc[5], nv * acc[3] + nu * nv * acc[6], acc[7],
                    nu * acc[3] + nu * nv * acc[8], (nu * nv) ** 2 * acc[9]]
        return tuple(res)

    def _graded_float64(self, nu: float, nv: float, rho: float, order: int) -> tuple:
        """One point's components in float64 by the graded rule vectorised in NumPy
        (:func:`compverify.symbolic.graded_quadrature.expectations_float64`), accepted when its
        error estimate (as in :meth:`mp_graded`, plus ``4e-16`` of the scale for rounding) is
        below :data:`GRADED_FLOAT64_TOL` relative to the value, or, where the value cancels below
        ``1e-3`` of its scale ``E|integrand|``, below ``1e-3 GRADED_FLOAT64_TOL`` of that scale;
        otherwise the mpmath graded rule at 17 digits is used (which raises if it fails too). A
        sum that overflows raises ``CompverifyError`` (the value is beyond float64).
        """
        from compverify.symbolic.graded_quadrature import expectations_float64

        try:
            # an overflowing sum is detected just below and raised with the point named
            with np.errstate(over="ignore", invalid="ignore"):
                fine, coarse, scale = expectations_float64(self._fn, nu, nv, rho, order, 17.0,
                                                           MP_STRIP)
        except ValueError:
            fine = None
        if fine is not None and np.any(np.isinf(fine)):
            raise CompverifyError(
                f"numeric kernel at (nu, nv, rho) = ({nu!r}, {nv!r}, {rho!r}) is beyond the "
                "float64 range; use the mpmath evaluation (value_mp/grad_mp/hess_mp)")
        if fine is not None and np.all(np.isfinite(fine)) and np.all(np.isfinite(scale)):
            with np.errstate(all="ignore"):
                err = np.where(scale > 0, 100 * (fine - coarse) ** 2 / scale, 0.0) + 4e-16 * scale
            out, ok = [], True
            for terms in _COMBINATIONS[order]:
                v = sum(coef(nu, nv) * fine[j] for coef, j in terms)
                sc = sum(abs(coef(nu, nv)) * scale[j] for coef, j in terms)
                e = sum(abs(coef(nu, nv)) * err[j] for coef, j in terms)
                if sc == 0:  # every node underflowed: the rule saw nothing of the integrand
                    raise CompverifyError(
                        f"numeric kernel at (nu, nv, rho) = ({nu!r}, {nv!r}, {rho!r}): the "
                        "integrand underflows at every float64 quadrature node; use the mpmath "
                        "evaluation (value_mp/grad_mp/hess_mp)")
                ok = ok and bool(e <= GRADED_FLOAT64_TOL * max(abs(v), 1e-3 * sc))
                out.append(float(v))
            if ok:
                return tuple(out)
        with mpmath.workdps(17 + _GUARD):
            return self.mp(mpmath.mpf(nu), mpmath.mpf(nv), mpmath.mpf(rho), order)

    def mp_graded(self, nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf, order: int):
        """The same expectations by the graded rule of
        :mod:`compverify.symbolic.graded_quadrature`, whose node count grows like the logarithm
        of the norms, with its error estimate checked.

        Target: ``dps = mp.dps - _GUARD`` digits. Each returned component ``v`` (a linear
        combination of the raw expectations) comes with the estimate ``err = sum |coef|
        100 (fine - coarse)^2 / scale`` of its raw parts (see the module); it is accepted when
        ``err <= 10^-dps max(|v|, 10^-dps scale(v))``: ``dps`` digits relative to ``v``, or,
        where ``v`` cancels below ``10^-dps`` of its scale ``E|integrand|``, an absolute error
        below ``10^-2dps`` of that scale. The rule is designed for ``dps + 3`` digits of the
        scale; a component that cancels asks for as many more digits as it lost (at most
        ``dps``), then the step is halved once; if the estimate still fails, ``CompverifyError``.
        """
        from compverify.symbolic.graded_quadrature import expectations

        target = mpmath.mp.dps - _GUARD
        digits = float(target + 3)
        for attempt in range(3):
            fine, coarse, scale = expectations(self.f_mp, nu, nv, rho, order, digits, MP_STRIP,
                                               halve=attempt == 2)
            err = [100 * (f - c) ** 2 / sc if sc else mpmath.mpf(0)
                   for f, c, sc in zip(fine, coarse, scale, strict=True)]
            ok, lost = True, 0.0
            for terms in _COMBINATIONS[order]:
                v = sum((coef(nu, nv) * fine[j] for coef, j in terms), mpmath.mpf(0))
                sc = sum((abs(coef(nu, nv)) * scale[j] for coef, j in terms), mpmath.mpf(0))
                e = sum((abs(coef(nu, nv)) * err[j] for coef, j in terms), mpmath.mpf(0))
                tol = mpmath.mpf(10) ** -target
                if e > tol * max(abs(v), tol * sc):
                    ok = False
                if sc > 0:
                    lost = max(lost, float(mpmath.log10(sc / max(abs(v), tol * sc))))
            if ok:
                return tuple(sum((coef(nu, nv) * fine[j] for coef, j in terms), mpmath.mpf(0))
                             for terms in _COMBINATIONS[order])
            if attempt == 0:
                digits = float(target + 3) + min(lost, float(target))
        raise CompverifyError(
            f"numeric kernel at (nu, nv, rho) = ({mpmath.nstr(nu, 8)}, {mpmath.nstr(nv, 8)}, "
            f"{mpmath.nstr(rho, 8)}): the graded quadrature's error estimate did not reach "
            f"{target} digits (sigma not analytic near the real axis, or a value that lives on a "
            f"scale below 1e-{target + 3} of the Gaussian's, as at rho = -1 with huge norms)")


def _one(nu: Any, nv: Any) -> Any:
    return 1


#: The kernel's components as combinations ``sum coef(nu, nv) acc[j]`` of the ten raw
#: expectations of :class:`_Quadrature` (its docstring), by order: value; value and the three
#: first partials; the six second partials.
_COMBINATIONS: dict[int, list[list[tuple[Callable, int]]]] = {
    0: [[(_one, 0)]],
    1: [[(_one, 0)], [(_one, 1)], [(_one, 2)], [(lambda a, b: a * b, 3)]],
    2: [[(_one, 0)], [(_one, 1)], [(_one, 2)], [(lambda a, b: a * b, 3)],
        [(_one, 4)], [(_one, 5)], [(lambda a, b: b, 3), (lambda a, b: a * b, 6)], [(_one, 7)],
        [(lambda a, b: a, 3), (lambda a, b: a * b, 8)], [(lambda a, b: (a * b) ** 2, 9)]],
}
