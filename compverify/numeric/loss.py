r"""Population loss of a finite target network against a compressed one, exact (SPEC A1-A2).

Target ``f_N(x) = sum_i a_i sigma(<w_i, x>)`` (``a`` (N,), ``W`` (N, d)), compressed network
``g(x) = sum_j b_j sigma(<v_j, x>)`` (``theta = (b, V)``, ``b`` (M,), ``V`` (M, d)),
``x ~ N(0, I_d)``::

    L_N(theta) = E_x[(f_N(x) - g(x))^2]
               = C_N - 2 sum_j b_j h_N(v_j) + sum_{j,j'} b_j b_j' K(v_j, v_j')

with ``C_N = sum_{i,i'} a_i a_i' K(w_i, w_i')`` and ``h_N(v) = sum_i a_i K(w_i, v)``: a finite sum
of Gaussian-kernel values, never an average over sampled ``x``.  Gradients and the Hessian in
``theta`` come from the chain rule through ``(|u|, |v|, rho)``
(:mod:`compverify.numeric.kernel_sums`).  ``theta`` is flattened as ``[b (M), V row-major (M*d)]``.

* :func:`population_loss` (float64; ``W`` blocked, memory bounded for any ``N``) and
  :func:`population_loss_mp` (mpmath at ``dps`` digits) return a :class:`LossResult`;
* :func:`combine_terms` assembles ``C - 2 b.h(V) + b'K(V)b`` and its derivatives from a
  :class:`~compverify.numeric.kernel_sums.CrossTerm` (a finite target's, or a mean-field ``h``) and
  a :class:`~compverify.numeric.kernel_sums.SelfTerm`;
* :func:`gradient_formulas` gives ``dL/db_j`` and ``dL/dv_j`` as SymPy expressions (and LaTeX) in
  the generic kernel ``k`` and its partials ``k_nu, k_nv, k_rho``; :func:`instantiate_formula`
  substitutes a closed-form kernel.

The constant ``C_N`` costs ``O(N^2 d)``: with ``include_constant=False`` it is skipped, the result's
``value`` is the ``theta``-dependent part ``L_N - C_N`` (what moves the minimiser), and
``constant_included`` is ``False`` with a note saying so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from compverify.errors import CompverifyError
from compverify.numeric.kernel_sums import (
    _MP,
    DEFAULT_BLOCK,
    CrossTerm,
    SelfTerm,
    _check_jobs,
    _check_order,
    _constant_core,
    _cross_core,
    _Float,
    _self_core,
    _validate_cross,
    _validate_self,
    resolve_kernel,
)
from compverify.validate import check_dps, check_positive_int

__all__ = [
    "LossResult",
    "combine_terms",
    "flatten_hessian",
    "population_loss",
    "population_loss_mp",
    "Formula",
    "gradient_formulas",
    "instantiate_formula",
    "k_generic",
    "k_nu_generic",
    "k_nv_generic",
    "k_rho_generic",
]


@dataclass(frozen=True)
class LossResult:
    """The population loss at ``theta = (b, V)`` with its derivatives and the evidence.

    ``value`` is ``L_N(theta)`` when ``constant_included``, else the ``theta``-dependent part
    ``theta_part = -2 b.h_N(V) + b'K(V)b``.  ``grad_b`` (M,), ``grad_V`` (M, d) for order >= 1;
    ``hessian`` (M + M d, M + M d) over ``theta = [b, V row-major]`` for order 2.  float64, or mpf /
    object arrays of mpf (``precision`` says which).  Evidence: sizes, block, kernel route, the
    closest approach to the singular points (``min_norm_V``, the largest ``|rho|`` between a target
    neuron and a compressed one, and between two compressed ones), time, notes.
    """

    value: Any
    theta_part: Any
    constant: Any
    constant_included: bool
    grad_b: Any
    grad_V: Any
    hessian: Any
    order: int
    precision: str
    N: int
    M: int
    d: int
    block: int | None
    n_blocks: int
    kernel_route: str | None
    min_norm_V: float
    max_abs_rho_target: float
    max_abs_rho_self: float
    seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def grad(self):
        """The gradient over ``theta = [b, V row-major]`` (``None`` for order 0)."""
        if self.grad_b is None:
            return None
        return np.concatenate([self.grad_b, np.asarray(self.grad_V).ravel()])

    def to_dict(self) -> dict:
        """Plain data for JSON (:func:`compverify.io.to_jsonable` turns reals into strings)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["notes"] = list(self.notes)
        return out


# --------------------------------------------------------------------------------------------
# assembly, shared with the mean-field objective


def flatten_hessian(hess_bb, hess_bV, hess_VV):
    """The ``(M + M d)``-square Hessian over ``theta = [b, V row-major]`` from its blocks.

    ``hess_bb`` (M, M), ``hess_bV[j, l, c] = d2/db_j dv_lc`` (M, M, d),
    ``hess_VV[j, a, l, c] = d2/dv_ja dv_lc`` (M, d, M, d).
    """
    M, _, d = hess_bV.shape
    n = M + M * d
    dtype = object if hess_bb.dtype == object else float
    H = np.empty((n, n), dtype=dtype)
    bV = hess_bV.reshape(M, M * d)
    H[:M, :M] = hess_bb
    H[:M, M:] = bV
    H[M:, :M] = bV.T
    H[M:, M:] = hess_VV.reshape(M * d, M * d)
    return H


def combine_terms(b, cross: CrossTerm, self_: SelfTerm, order: int, constant=None):
    """``C - 2 b.h(V) + S(b, V)`` and its derivatives from precomputed terms.

    ``cross`` holds ``h(v_j)`` and its derivatives in ``v_j`` (a finite target's
    :func:`~compverify.numeric.kernel_sums.cross_term`, or a mean-field ``h``), ``self_`` the
    :func:`~compverify.numeric.kernel_sums.self_term` at the same ``(b, V)``, both of at least
    ``order``.  Returns ``(theta_part, value, grad_b, grad_V, hessian)``; ``value`` is
    ``constant + theta_part`` (``theta_part`` when ``constant`` is ``None``); unused orders are
    ``None``.

    >>> import numpy as np
    >>> from compverify.numeric.kernel_sums import CrossTerm, SelfTerm
    >>> b = np.array([2.0])
    >>> ct = CrossTerm(h=np.array([1.0]), dh=np.array([[0.5]]))
    >>> st = SelfTerm(K=np.array([[3.0]]), value=12.0, grad_b=np.array([12.0]),
    ...               grad_V=np.array([[1.0]]))
    >>> theta_part, value, grad_b, grad_V, _ = combine_terms(b, ct, st, 1, constant=1.0)
    >>> float(theta_part), float(value), grad_b, grad_V
    (8.0, 9.0, array([10.]), array([[-1.]]))
    """
    order = _check_order(order)
    h = cross.h
    theta_part = -2 * (b @ h) + self_.value
    value = theta_part if constant is None else constant + theta_part
    grad_b = grad_V = hessian = None
    if order >= 1:
        grad_b = -2 * h + self_.grad_b
        grad_V = -2 * b[:, None] * cross.dh + self_.grad_V
    if order >= 2:
        M = b.shape[0]
        hbV = self_.hess_bV.copy()
        hVV = self_.hess_VV.copy()
        for j in range(M):
            hbV[j, j] = hbV[j, j] - 2 * cross.dh[j]
            hVV[j, :, j, :] = hVV[j, :, j, :] - 2 * b[j] * cross.d2h[j]
        hessian = flatten_hessian(self_.hess_bb, hbV, hVV)
    return theta_part, value, grad_b, grad_V, hessian


# --------------------------------------------------------------------------------------------
# front doors


def _notes(include_constant, N, block):
    notes = []
    if not include_constant:
        notes.append("constant term C_N = sum_{i,i'} a_i a_i' K(w_i, w_i') excluded: value is "
                     "the theta-dependent part L_N(theta) - C_N (same minimisers, same gradient)")
    if block is not None and N > block:
        notes.append(f"target processed in blocks of {block} rows")
    return tuple(notes)


def population_loss(kernel: Any, a: Any, W: Any, b: Any, V: Any, *, order: int = 1,
                    include_constant: bool = True, block: int = DEFAULT_BLOCK,
                    jobs: int | None = None) -> LossResult:
    """Exact population loss ``L_N(b, V)`` in float64, with gradient (order 1), Hessian (order 2).

    ``kernel``: a :class:`compverify.symbolic.Kernel`, an Activation or a spec such as ``"relu"``.
    ``a`` (N,), ``W`` (N, d): the target; ``b`` (M,), ``V`` (M, d): the compressed network.  The
    ``theta``-dependent part costs ``O(N M d)`` (``O(N M d^2)`` with the Hessian) and memory
    ``O(jobs * block * M + (M d)^2)`` for any ``N``; ``include_constant`` adds ``C_N`` at
    ``O(N^2 d)``.  ``jobs`` threads share the blocks of the cross term (``None``, the default:
    :func:`~compverify.numeric.kernel_sums.default_jobs`, one per usable CPU with one BLAS thread
    each; the result does not depend on it).
    Bad input raises :class:`~compverify.errors.CompverifyError` naming the value.

    >>> import numpy as np
    >>> class Lin:   # sigma(z) = z: L = |W'a - V'b|^2
    ...     def value(self, nu, nv, rho): return nu * nv * rho
    ...     def grad(self, nu, nv, rho): return nu * nv * rho, nv * rho, nu * rho, nu * nv
    >>> r = population_loss(Lin(), [1.0], [[1.0, 0.0]], [1.0], [[0.0, 2.0]])
    >>> float(r.value), r.grad.tolist()
    (5.0, [8.0, -2.0, 4.0])
    """
    t0 = time.perf_counter()
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    block = check_positive_int(block, "block")
    jobs = _check_jobs(jobs)
    a, W, V = _validate_cross(a, W, V, False)
    b, V = _validate_self(b, V, False)
    bk = _Float(kern)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ct, rho_t = _cross_core(bk, a, W, V, order, block, degree, jobs)
        st, rho_s = _self_core(bk, b, V, order, degree)
        constant = float(_constant_core(bk, a, W, block)) if include_constant else None
    theta_part, value, gb, gV, H = combine_terms(b, ct, st, order, constant)
    N, d = W.shape
    return LossResult(
        value=float(value), theta_part=float(theta_part), constant=constant,
        constant_included=bool(include_constant), grad_b=gb, grad_V=gV, hessian=H, order=order,
        precision="float64", N=N, M=V.shape[0], d=d, block=block,
        n_blocks=-(-N // block), kernel_route=getattr(kern, "route", None),
        min_norm_V=float(np.min(np.linalg.norm(V, axis=1))), max_abs_rho_target=rho_t,
        max_abs_rho_self=rho_s, seconds=time.perf_counter() - t0,
        notes=_notes(include_constant, N, block))


def population_loss_mp(kernel: Any, a: Any, W: Any, b: Any, V: Any, *, order: int = 1,
                       include_constant: bool = True, dps: int = 30) -> LossResult:
    """mpmath variant of :func:`population_loss` at ``dps`` digits (10 guard digits inside).

    Inputs may be floats, integers, decimal strings or mpf.  Values are mpf, arrays are object
    arrays of mpf rounded to ``dps`` digits.  Meant for small ``N`` (pure-Python loops).
    """
    t0 = time.perf_counter()
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    dps = check_dps(dps)
    bk = _MP(kern, dps)
    with mpmath.workdps(bk.work):
        a, W, V = _validate_cross(a, W, V, True)
        b, V = _validate_self(b, V, True)
        N = W.shape[0]
        ct, rho_t = _cross_core(bk, a, W, V, order, N, degree)
        st, rho_s = _self_core(bk, b, V, order, degree)
        constant = _constant_core(bk, a, W, N) if include_constant else None
        theta_part, value, gb, gV, H = combine_terms(b, ct, st, order, constant)
        min_norm = float(min(mpmath.sqrt(sum(x * x for x in row)) for row in V))
    rnd = bk.out
    return LossResult(
        value=rnd(value), theta_part=rnd(theta_part),
        constant=None if constant is None else rnd(constant),
        constant_included=bool(include_constant),
        grad_b=None if gb is None else rnd(gb), grad_V=None if gV is None else rnd(gV),
        hessian=None if H is None else rnd(H), order=order, precision=f"mpmath, {dps} digits",
        N=N, M=V.shape[0], d=W.shape[1], block=None, n_blocks=1,
        kernel_route=getattr(kern, "route", None), min_norm_V=min_norm,
        max_abs_rho_target=rho_t, max_abs_rho_self=rho_s, seconds=time.perf_counter() - t0,
        notes=_notes(include_constant, N, None))


# --------------------------------------------------------------------------------------------
# symbolic gradient formulas, for reports


@dataclass(frozen=True)
class Formula:
    """A formula for reports: what it is, the SymPy expression and its LaTeX."""

    name: str
    description: str
    expr: sp.Expr
    latex: str


_i, _j, _l, _c = sp.symbols("i j l c", integer=True, positive=True)
_N, _M, _d = sp.symbols("N M d", integer=True, positive=True)
_a, _b = sp.IndexedBase("a"), sp.IndexedBase("b")
_w, _v = sp.IndexedBase("w"), sp.IndexedBase("v")
_nw, _nv = sp.IndexedBase("norm_w"), sp.IndexedBase("norm_v")
_rwv, _rvv = sp.IndexedBase("rho_wv"), sp.IndexedBase("rho_vv")


def _generic(name: str, tex: str) -> type:
    """An undefined SymPy function printed as ``tex(args)`` in LaTeX."""

    def _latex(self, printer, exp=None):
        out = tex + r"\left(" + ", ".join(printer._print(x) for x in self.args) + r"\right)"
        return out if exp is None else rf"{out}^{{{exp}}}"

    return type(name, (sp.Function,), {"_latex": _latex})


#: The generic kernel ``k(nu, nv, rho)`` and its first partials, as SymPy functions.
k_generic = _generic("k", "k")
k_nu_generic = _generic("k_nu", r"k_{\nu}")
k_nv_generic = _generic("k_nv", r"k_{\nu'}")
k_rho_generic = _generic("k_rho", r"k_{\rho}")
_k, _k_nu, _k_nv, _k_rho = k_generic, k_nu_generic, k_nv_generic, k_rho_generic

#: LaTeX names of the generic symbols (``sympy.latex(..., symbol_names=...)``).
_LATEX_NAMES = {
    sp.Symbol("norm_w"): r"\lVert w\rVert", sp.Symbol("norm_v"): r"\lVert v\rVert",
    sp.Symbol("rho_wv"): r"\rho^{wv}", sp.Symbol("rho_vv"): r"\rho^{vv}",
    sp.Symbol("nv"): r"\nu'",
}


def _tex(expr) -> str:
    return sp.latex(expr, symbol_names=_LATEX_NAMES)


def gradient_formulas() -> dict[str, Formula]:
    r"""``dL/db_j`` and ``dL/dv_j`` (component ``c``) in the generic kernel and its partials.

    Symbols: ``a[i], w[i, c]`` (target), ``b[j], v[j, c]`` (compressed), ``norm_w[i] = |w_i|``,
    ``norm_v[j] = |v_j|``, ``rho_wv[i, j] = <w_i, v_j>/(|w_i||v_j|)``, ``rho_vv[l, j]`` likewise;
    ``k, k_nu, k_nv, k_rho`` (:data:`k_generic` ...) are ``k(nu, nv, rho)`` and its partials
    (LaTeX: ``nu`` is printed as ``\\nu``, ``nv`` as ``\\nu'``).  The diagonal terms
    ``K(v_j, v_j) = k(|v_j|, |v_j|, 1)`` are differentiated as functions of one vector, which gives
    the ``(k_nu + k_nv)(|v_j|, |v_j|, 1)`` term; the sum over ``l`` in ``dL/dv_j`` runs over
    ``l != j`` (the factor ``1 - delta_{jl}``).

    >>> f = gradient_formulas()
    >>> sorted(f)
    ['K', 'L', 'dL/db_j', 'dL/dv_j']
    >>> f["dL/db_j"].expr.has(k_generic)
    True
    """
    i, j, l, c, N, M = _i, _j, _l, _c, _N, _M
    a, b, w, v, nw, nv, rwv, rvv = _a, _b, _w, _v, _nw, _nv, _rwv, _rvv
    k, k_nu, k_nv, k_rho = _k, _k_nu, _k_nv, _k_rho
    off = 1 - sp.KroneckerDelta(j, l)
    kvv = k(nv[j], nv[l], rvv[j, l])
    Kterm = sp.Eq(sp.Function("K")(sp.Symbol("u"), sp.Symbol("v")),
                  k(sp.Symbol("nu"), sp.Symbol("nv"), sp.Symbol("rho")))
    L = (sp.Symbol("C_N")
         - 2 * sp.Sum(b[j] * sp.Sum(a[i] * k(nw[i], nv[j], rwv[i, j]), (i, 1, N)), (j, 1, M))
         + sp.Sum(sp.Sum(b[j] * b[l] * kvv, (l, 1, M)), (j, 1, M)))
    dLdb = (-2 * sp.Sum(a[i] * k(nw[i], nv[j], rwv[i, j]), (i, 1, N))
            + 2 * sp.Sum(b[l] * kvv, (l, 1, M)))
    ej = v[j, c] / nv[j]
    cross = sp.Sum(a[i] * (k_nv(nw[i], nv[j], rwv[i, j]) * ej
                           + k_rho(nw[i], nv[j], rwv[i, j])
                           * (w[i, c] / nw[i] - rwv[i, j] * ej) / nv[j]), (i, 1, N))
    pair = sp.Sum(off * b[l] * (k_nv(nv[l], nv[j], rvv[l, j]) * ej
                                + k_rho(nv[l], nv[j], rvv[l, j])
                                * (v[l, c] / nv[l] - rvv[l, j] * ej) / nv[j]), (l, 1, M))
    diag = b[j] ** 2 * (k_nu(nv[j], nv[j], 1) + k_nv(nv[j], nv[j], 1)) * ej
    dLdv = -2 * b[j] * cross + 2 * b[j] * pair + diag
    lhs_b = sp.Symbol(r"\frac{\partial L}{\partial b_{j}}")
    lhs_v = sp.Symbol(r"\frac{\partial L}{\partial v_{j,c}}")
    return {
        "K": Formula("K", "the Gaussian kernel as a function of the norms and the cosine",
                     Kterm, _tex(Kterm)),
        "L": Formula("L", "population loss: C_N minus twice the cross term plus the self term",
                     L, "L = " + _tex(L)),
        "dL/db_j": Formula("dL/db_j", "derivative in the output weight b_j (rho_vv[j, j] = 1)",
                           dLdb, _tex(lhs_b) + " = " + _tex(dLdb)),
        "dL/dv_j": Formula("dL/dv_j", "component c of the derivative in the neuron v_j, by the "
                           "chain rule through (|u|, |v|, rho)", dLdv,
                           _tex(lhs_v) + " = " + _tex(dLdv)),
    }


def instantiate_formula(formula: Formula | sp.Expr, kernel: Any) -> sp.Expr:
    """Substitute a closed-form kernel (and its partials) for ``k, k_nu, k_nv, k_rho``.

    ``kernel`` is a Kernel or Activation with ``expr`` and ``partials`` in the symbols ``nu, nv,
    rho``; a numeric kernel (no closed form) raises :class:`~compverify.errors.CompverifyError`.
    """
    kern, _ = resolve_kernel(kernel)
    expr = formula.expr if isinstance(formula, Formula) else formula
    kexpr = getattr(kern, "expr", None)
    partials = getattr(kern, "partials", None)
    if kexpr is None or not partials:
        raise CompverifyError(
            f"kernel {getattr(kern, 'route', kern)!r} has no closed form to substitute")
    syms = {s.name: s for s in kexpr.free_symbols | set().union(
        *(p.free_symbols for p in partials.values()))}
    args = tuple(syms.get(n, sp.Symbol(n)) for n in ("nu", "nv", "rho"))
    reps = {_k: kexpr, _k_nu: partials["nu"], _k_nv: partials["nv"], _k_rho: partials["rho"]}
    for f, e in reps.items():
        expr = expr.replace(f, sp.Lambda(args, e))
    return expr
