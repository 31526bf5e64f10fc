r"""The compression objective over ``theta = (b, V)`` and its reduction to directions (SPEC A3).

A :class:`Problem` binds an activation ``sigma``, a target (anything with the
:mod:`compverify.numeric.targets` protocol: ``d``, ``h``, ``h_grad``, ``h_hess``, ``C`` and their
``*_mp`` variants) and a width ``M``.  Its objective is::

    L(theta) = C - 2 sum_j b_j h(v_j) + sum_{j,j'} b_j b_j' K(v_j, v_j'),   theta = [b (M), V row-major]

which is the mean-field objective ``L-bar`` for a mean-field target (``h(v) = E[abar K(w, v)]``,
``C = C-bar``) and the exact finite-N loss ``L_N`` for a finite target (``h = h_N``, ``C = C_N``,
e.g. a realization ``target.sample(N, seed)``; :meth:`Problem.sampled` builds that problem).  The
self term ``b'K(V)b`` and its derivatives come from
:func:`compverify.numeric.kernel_sums.self_term`, the assembly from
:func:`compverify.numeric.loss.combine_terms`: nothing here re-implements a kernel sum.

Reduced objective (variable projection).  For fixed ``V`` the loss is a convex quadratic in ``b``,
minimised by ``b* = K(V)^+ h(V)``, which leaves::

    L*(V) = min_b L(b, V) = C - h(V)' K(V)^+ h(V),      grad L*(V) = grad_V L(b*, V)

(the second identity is the envelope theorem: ``grad_b L = 0`` at ``b*``).  Its Hessian is the
Schur complement ``H_VV - H_Vb H_bb^+ H_bV`` of the full Hessian at ``(b*, V)``.  For a positively
homogeneous activation of degree ``n`` (ReLU: ``n = 1``), ``h(c v) = c^n h(v)`` and
``K(c u, v) = c^n K(u, v)`` for ``c > 0``, so ``L*`` depends on the unit directions ``u_j = v_j/|v_j|``
alone: ``L*(U) = C - h(U)' K(U)^{-1} h(U)`` of SPEC A3, and the network's coefficients are
``c_j = b_j |v_j|^n``.

Symmetries (they make the Hessian singular along their orbits, :meth:`Problem.symmetry_tangents`):
rotations ``R`` with ``h(R v) = h(v)`` for all ``v`` act by ``v_j -> R v_j`` (found numerically, once,
from ``h_grad``); for homogeneous degree ``n`` each neuron has the rescaling
``(b_j, v_j) -> (c^-n b_j, c v_j)``.

Odd/even split (ReLU only, :meth:`Problem.odd_even_split`): ``max(0, z) = z/2 + |z|/2`` and odd
and even functions of ``x ~ N(0, I)`` are orthogonal, so ``L = |beta - sum_j b_j v_j|^2 / 4 + L_even``
with ``beta = E[abar w]`` the target's linear coefficient and ``L_even`` built on the abs kernel.

>>> import numpy as np
>>> from compverify.numeric.objective import Problem
>>> class Lin:   # K(u, v) = <u, v>, the kernel of sigma(z) = z (positively homogeneous, degree 1)
...     homogeneous_degree = 1
...     def value(self, nu, nv, rho): return nu * nv * rho
...     def grad(self, nu, nv, rho): return nu * nv * rho, nv * rho, nu * rho, nu * nv
>>> class Act:
...     spec, homogeneous_degree, kernel = "linear", 1, Lin()
>>> class Target:   # f(x) = <beta, x> with beta = (1, 0): h(v) = <beta, v>, C = |beta|^2
...     d = 2
...     def h(self, V): return V[:, 0].copy()
...     def h_grad(self, V): return np.tile([1.0, 0.0], (len(V), 1))
...     def C(self): return 1.0
>>> p = Problem(Act(), Target(), M=1)
>>> p.value(p.join(np.array([1.0]), np.array([[1.0, 0.0]])))   # g = f exactly
0.0
>>> float(p.reduced(np.array([[1.0, 1.0]])).value)            # best b for v = (1, 1): 1/2 left
0.5
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, NamedTuple

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.kernel_sums import CrossTerm, has_ball, self_term, self_term_ball, self_term_mp
from compverify.numeric.loss import combine_terms
from compverify.validate import (  # noqa: F401 - memory_estimate is re-exported
    check_dps,
    check_finite_array,
    check_positive_int,
    memory_estimate,
)

__all__ = [
    "Evaluation",
    "GUARD_DPS",
    "OddEvenSplit",
    "Problem",
    "Reduced",
    "mp_array",
]

#: Extra digits the mpmath evaluations work with before rounding to the requested ``dps``.
GUARD_DPS = 10
#: The arithmetics of :meth:`Problem.evaluate_mp`: python-flint balls (the default, for kernels
#: with ball functions) or mpmath (the reference, and the only one for other kernel objects).
ARITHMETICS = ("ball", "mpmath")


class Evaluation(NamedTuple):
    """``L(theta)`` with its gradient (n,) and Hessian (n, n), ``n = M + M d`` (``None`` if not asked).

    float64 arrays, or object arrays of ``mpf`` from the ``*_mp`` methods.
    """

    value: Any
    grad: Any = None
    hess: Any = None


class Reduced(NamedTuple):
    """The reduced objective ``L*(V)``, its gradient in ``V`` (flattened, ``M d``), ``b* = K^+ h``."""

    value: Any
    grad: Any
    b: Any


class OddEvenSplit(NamedTuple):
    """ReLU loss split into its odd (linear) and even (abs-kernel) parts; ``odd + even = total``."""

    odd: Any
    even: Any
    total: Any
    beta: Any


def mp_array(x: Any, dps: int) -> np.ndarray:
    """Object array of ``mpf`` at ``dps`` digits from floats, strings or ``mpf`` (shape kept)."""
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    with mpmath.workdps(dps):
        for idx in np.ndindex(arr.shape):
            v = arr[idx]
            out[idx] = mpmath.mpf(v) if not isinstance(v, np.floating) else mpmath.mpf(float(v))
    return out


def _round_mp(x: Any, dps: int) -> Any:
    with mpmath.workdps(dps):
        if isinstance(x, np.ndarray):
            out = np.empty(x.shape, dtype=object)
            for idx in np.ndindex(x.shape):
                out[idx] = +x[idx]
            return out
        return +x


def _solve_psd(K: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``K^+ h`` for a symmetric positive semi-definite ``K`` (Cholesky, else least squares)."""
    try:
        L = np.linalg.cholesky(K)
        x = np.linalg.solve(L.T, np.linalg.solve(L, h))
        if np.all(np.isfinite(x)) and np.linalg.norm(K @ x - h) <= 1e-8 * (
                np.linalg.norm(h) + np.linalg.norm(K) * np.linalg.norm(x)):
            return x
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(K, h, rcond=1e-13)[0]


def _solve_psd_mp(K: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``K^+ h`` in mpmath at the working precision (Cholesky, else eigen-decomposition)."""
    n = K.shape[0]
    A = mpmath.matrix(K.tolist())
    rhs = mpmath.matrix(h.tolist())
    try:
        x = mpmath.cholesky_solve(A, rhs)
        return np.array([x[i] for i in range(n)], dtype=object)
    except (ZeroDivisionError, ValueError):
        pass
    E, Q = mpmath.eigsy(A)
    tol = max(abs(E[i]) for i in range(n)) * mpmath.mpf(10) ** (-(mpmath.mp.dps * 3) // 4)
    y = Q.T * rhs
    for i in range(n):
        y[i] = y[i] / E[i] if abs(E[i]) > tol else 0
    x = Q * y
    return np.array([x[i] for i in range(n)], dtype=object)


class Problem:
    """Compress a target with ``M`` neurons of ``activation``: ``L(theta) = C - 2 b.h(V) + b'K(V)b``.

    Parameters
    ----------
    activation:
        An :class:`~compverify.symbolic.Activation` or its spec (``"relu"``, ...).
    target:
        A target bound to the same activation (:mod:`compverify.numeric.targets` protocol).
    M:
        Number of neurons of the compressed network, ``>= 1``.

    Everything is validated here, not inside a solve: ``M`` must be a positive integer, the
    target must offer ``d``, ``h``, ``h_grad``, ``C`` and be bound to this activation (when it says
    which), and the kernel must offer ``value`` and ``grad``.  ``theta`` is ``[b (M), V row-major]``
    (as in :mod:`compverify.numeric.loss`).
    """

    def __init__(self, activation: Any, target: Any, M: int):
        from compverify.symbolic.activations import as_activation

        activation = as_activation(activation)
        kernel = getattr(activation, "kernel", None)
        if kernel is None or not hasattr(kernel, "value") or not hasattr(kernel, "grad"):
            raise CompverifyError(f"activation {activation!r} has no kernel with value and grad")
        for attr in ("d", "h", "h_grad", "C"):
            if not hasattr(target, attr):
                raise CompverifyError(f"target {target!r} lacks {attr!r} (see numeric.targets)")
        self.activation = activation
        self.kernel = kernel
        self.target = target
        self.M = check_positive_int(M, "M")
        self.d = check_positive_int(target.d, "target dimension d")
        spec = getattr(activation, "spec", None)
        bound = getattr(target, "activation", None)
        bound_spec = getattr(bound, "spec", bound)
        if bound is not None and spec is not None and bound_spec != spec:
            raise CompverifyError(
                f"target is bound to activation {bound_spec!r}, not {spec!r}: build the target "
                f"for the activation being compressed")
        deg = getattr(activation, "homogeneous_degree", None)
        self.homogeneous_degree = None if deg is None else int(deg)
        self._C_mp: dict[int, Any] = {}

    def memory_estimate(self, dps: int | None = None) -> float:
        """Bytes a solve of this problem holds at once: :func:`memory_estimate` of ``M``, ``d``."""
        return memory_estimate(self.M, self.d, dps)

    # ---------------------------------------------------------------- description and layout

    @property
    def n_params(self) -> int:
        """Length of ``theta``: ``M + M d``."""
        return self.M + self.M * self.d

    @property
    def spec(self) -> str:
        """The activation's spec."""
        return str(getattr(self.activation, "spec", getattr(self.activation, "name", "?")))

    def describe(self) -> dict:
        """Plain data naming the problem (activation, target, d, M) for results and JSON."""
        t = self.target
        if hasattr(t, "to_dict"):
            tdesc = t.to_dict()
        elif hasattr(t, "describe"):
            tdesc = t.describe()
        else:
            tdesc = getattr(t, "name", type(t).__name__)
        return {"activation": self.spec, "target": tdesc, "d": self.d, "M": self.M}

    def __repr__(self) -> str:
        return f"Problem(activation={self.spec!r}, target={self.target!r}, M={self.M})"

    def split(self, theta: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(b, V)`` from ``theta = [b, V row-major]`` (float or object arrays, shape checked)."""
        theta = np.asarray(theta)
        if theta.shape != (self.n_params,):
            raise CompverifyError(
                f"theta must have shape ({self.n_params},) = M + M d for M = {self.M}, "
                f"d = {self.d}; got {theta.shape}")
        return theta[:self.M], theta[self.M:].reshape(self.M, self.d)

    def join(self, b: Any, V: Any) -> np.ndarray:
        """``theta = [b, V row-major]``."""
        b, V = np.asarray(b), np.asarray(V)
        if b.shape != (self.M,) or V.shape != (self.M, self.d):
            raise CompverifyError(
                f"b and V must have shapes ({self.M},) and ({self.M}, {self.d}); "
                f"got {b.shape} and {V.shape}")
        dtype = object if object in (b.dtype, V.dtype) else float
        return np.concatenate([b.astype(dtype), V.astype(dtype).ravel()])

    def sampled(self, N: int, seed: int) -> Problem:
        """The finite-N problem of the realization ``target.sample(N, seed)`` (same activation, M)."""
        return Problem(self.activation, self.target.sample(N, seed), self.M)

    # ---------------------------------------------------------------- float64 objective

    @cached_property
    def C(self) -> float:
        """The target's constant ``C`` (``C-bar`` or ``C_N``), float64, cached."""
        return float(self.target.C())

    def C_mp(self, dps: int):
        """``C`` as an mpf at ``dps`` digits (cached per precision)."""
        if dps not in self._C_mp:
            self._C_mp[dps] = self.target.C_mp(dps)
        return self._C_mp[dps]

    def _cross(self, V: np.ndarray, order: int) -> CrossTerm:
        t = self.target
        if hasattr(t, "h_derivatives"):  # a rule target: one pass gives all orders
            return CrossTerm(*t.h_derivatives(V, order))
        return CrossTerm(t.h(V), t.h_grad(V) if order >= 1 else None,
                         t.h_hess(V) if order >= 2 else None)

    def evaluate(self, theta: Any, order: int = 2) -> Evaluation:
        """``L``, its gradient (order >= 1) and Hessian (order 2) at ``theta``, float64."""
        theta = check_finite_array(theta, "theta", ndim=1)
        b, V = self.split(theta)
        st = self_term(self.kernel, b, V, order=order)
        _, value, gb, gV, H = combine_terms(b, self._cross(V, order), st, order, self.C)
        grad = None if gb is None else np.concatenate([gb, gV.ravel()])
        return Evaluation(float(value), grad, H)

    def value(self, theta: Any) -> float:
        """``L(theta)`` in float64."""
        return self.evaluate(theta, 0).value

    def grad(self, theta: Any) -> np.ndarray:
        """``grad L(theta)`` (n,) in float64."""
        return self.evaluate(theta, 1).grad

    def hess(self, theta: Any) -> np.ndarray:
        """``Hess L(theta)`` (n, n) in float64."""
        return self.evaluate(theta, 2).hess

    # ---------------------------------------------------------------- mpmath objective

    def _cross_mp(self, V: np.ndarray, order: int, w: int) -> CrossTerm:
        t = self.target
        if hasattr(t, "h_derivatives_mp"):  # a rule target: one pass gives all orders
            return CrossTerm(*t.h_derivatives_mp(V, order, w))
        return CrossTerm(t.h_mp(V, w), t.h_grad_mp(V, w) if order >= 1 else None,
                         t.h_hess_mp(V, w) if order >= 2 else None)

    def evaluate_mp(self, theta: Any, order: int = 2, dps: int = 30, *,
                    arithmetic: str | None = None) -> Evaluation:
        """Multiprecision variant of :meth:`evaluate`: ``GUARD_DPS`` extra digits inside, rounded
        to ``dps``; mpf results.

        ``theta`` may hold floats, decimal strings or mpf (strings keep all their digits).
        ``arithmetic`` (:data:`ARITHMETICS`): ``"ball"`` (default when the kernel has ball
        functions) is :meth:`evaluate_ball` with its midpoints rounded to mpf; ``"mpmath"``
        evaluates every sum in mpmath (the same formulas, some twenty times slower).
        """
        dps = check_dps(dps)
        if arithmetic is None:
            arithmetic = "ball" if has_ball(self.kernel) else "mpmath"
        if arithmetic not in ARITHMETICS:
            raise CompverifyError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
        if arithmetic == "ball":
            from compverify.numeric.arb_arrays import to_mpf_array

            ev = self.evaluate_ball(theta, order, dps)
            with mpmath.workdps(dps):
                return Evaluation(*(None if x is None else to_mpf_array(x) for x in ev))
        w = dps + GUARD_DPS
        theta = mp_array(theta, w)
        b, V = self.split(theta)
        ct = self._cross_mp(V, order, w)
        st = self_term_mp(self.kernel, b, V, order=order, dps=w)
        with mpmath.workdps(w):
            _, value, gb, gV, H = combine_terms(b, ct, st, order, self.C_mp(w))
            grad = None if gb is None else np.concatenate([gb, gV.ravel()])
        return Evaluation(_round_mp(value, dps), None if grad is None else _round_mp(grad, dps),
                          None if H is None else _round_mp(H, dps))

    def evaluate_ball(self, theta: Any, order: int = 2, dps: int = 30) -> Evaluation:
        """:meth:`evaluate_mp` in ball arithmetic: python-flint ``arb`` (exact midpoints) carrying
        ``dps`` digits, computed with ``GUARD_DPS`` more; the gradient an object array of arb,
        the Hessian an ``(n, n)`` object array of arb, ready for ``arb_mat``.

        The self term is :func:`~compverify.numeric.kernel_sums.self_term_ball`; the target's
        ``h`` and derivatives (``O(M d^2)`` numbers) come from its mpmath methods, converted
        exactly.  The kernel must offer ball functions
        (:func:`~compverify.numeric.kernel_sums.has_ball`).
        """
        from compverify.numeric.arb_arrays import arb_prec, bits_for, to_arb, to_arb_array

        dps = check_dps(dps)
        w = dps + GUARD_DPS
        theta = mp_array(theta, w)
        b, V = self.split(theta)
        ct = self._cross_mp(V, order, w)
        st = self_term_ball(self.kernel, b, V, order=order, dps=w)
        with arb_prec(bits_for(w + GUARD_DPS)):
            ct = CrossTerm(*(None if x is None else to_arb_array(x) for x in ct))
            _, value, gb, gV, H = combine_terms(to_arb_array(b), ct, st, order,
                                                to_arb(self.C_mp(w)))
            grad = None if gb is None else np.concatenate([gb, gV.ravel()])
            mid = np.frompyfunc(lambda x: x.mid(), 1, 1)
            return Evaluation(value.mid(), None if grad is None else mid(grad).astype(object),
                              None if H is None else mid(H).astype(object))

    def value_mp(self, theta: Any, dps: int = 30):
        """``L(theta)`` as an mpf at ``dps`` digits."""
        return self.evaluate_mp(theta, 0, dps).value

    def grad_mp(self, theta: Any, dps: int = 30) -> np.ndarray:
        """``grad L(theta)``, object array of mpf at ``dps`` digits."""
        return self.evaluate_mp(theta, 1, dps).grad

    def hess_mp(self, theta: Any, dps: int = 30) -> np.ndarray:
        """``Hess L(theta)``, object array of mpf at ``dps`` digits."""
        return self.evaluate_mp(theta, 2, dps).hess

    # ---------------------------------------------------------------- reduced objective

    def _as_V(self, V: Any) -> np.ndarray:
        V = check_finite_array(V, "V")
        if V.shape == (self.M * self.d,):
            V = V.reshape(self.M, self.d)
        if V.shape != (self.M, self.d):
            raise CompverifyError(f"V must have shape ({self.M}, {self.d}), got {V.shape}")
        return V

    def optimal_coefficients(self, V: Any) -> np.ndarray:
        """``b* = K(V)^+ h(V)``, the best output weights for fixed neurons ``V`` (float64)."""
        V = self._as_V(V)
        K = self_term(self.kernel, np.zeros(self.M), V, order=0).K
        return _solve_psd(K, self.target.h(V))

    def reduced(self, V: Any, order: int = 1) -> Reduced:
        """``L*(V) = C - h' K^+ h`` and (order 1) its gradient ``grad_V L(b*, V)``, float64.

        ``V`` is (M, d) or flattened; for a positively homogeneous activation only the directions
        of its rows matter.
        """
        V = self._as_V(V)
        b = self.optimal_coefficients(V)
        ev = self.evaluate(self.join(b, V), 1 if order >= 1 else 0)
        grad = None if ev.grad is None else ev.grad[self.M:]
        return Reduced(ev.value, grad, b)

    def reduced_hess(self, V: Any) -> np.ndarray:
        """Hessian of ``L*`` in ``V`` (M d, M d): the Schur complement of the full Hessian at b*."""
        V = self._as_V(V)
        b = self.optimal_coefficients(V)
        H = self.hess(self.join(b, V))
        M = self.M
        Hbb, HbV, HVV = H[:M, :M], H[:M, M:], H[M:, M:]
        return HVV - HbV.T @ np.linalg.pinv(Hbb, rcond=1e-13, hermitian=True) @ HbV

    def reduced_mp(self, V: Any, dps: int = 30, order: int = 0) -> Reduced:
        """mpmath variant of :meth:`reduced` at ``dps`` digits (``b*`` solved in mpmath)."""
        dps = check_dps(dps)
        w = dps + GUARD_DPS
        V = mp_array(V, w)
        if V.shape == (self.M * self.d,):
            V = V.reshape(self.M, self.d)
        if V.shape != (self.M, self.d):
            raise CompverifyError(f"V must have shape ({self.M}, {self.d}), got {V.shape}")
        K = self_term_mp(self.kernel, mp_array(np.zeros(self.M), w), V, order=0, dps=w).K
        with mpmath.workdps(w):
            b = _solve_psd_mp(K, self.target.h_mp(V, w))
        ev = self.evaluate_mp(self.join(b, V), order, w)
        grad = None if ev.grad is None else _round_mp(ev.grad[self.M:], dps)
        return Reduced(_round_mp(ev.value, dps), grad, _round_mp(b, dps))

    # ---------------------------------------------------------------- network read-outs

    def coefficients(self, b: Any, V: Any) -> np.ndarray:
        """``c_j = b_j |v_j|^n`` for homogeneous degree ``n``, else ``b_j`` (float or mpf)."""
        b, V = np.asarray(b), np.asarray(V)
        n = self.homogeneous_degree
        if n is None:
            return b.copy()
        norms = _row_norms(V)
        return np.array([bj * nj ** n for bj, nj in zip(b, norms, strict=True)],
                        dtype=b.dtype if V.dtype != object else object)

    def normalize(self, theta: Any) -> np.ndarray:
        """The representative of ``theta``'s rescaling orbit with unit rows (homogeneous activations).

        ``(b_j, v_j) -> (b_j |v_j|^n, v_j / |v_j|)`` leaves the network unchanged for homogeneous
        degree ``n``; other activations (and zero rows) are returned as they are.  Float or mpf
        (at the working precision) like ``theta``.
        """
        theta = np.asarray(theta)
        if self.homogeneous_degree is None:
            return theta.copy()
        b, V = self.split(theta)
        return self.join(self.coefficients(b, V), self.directions(V))

    @staticmethod
    def directions(V: Any) -> np.ndarray:
        """Unit rows ``u_j = v_j / |v_j|`` (a zero row stays zero)."""
        V = np.asarray(V)
        norms = _row_norms(V)
        out = np.empty(V.shape, dtype=V.dtype if V.dtype == object else float)
        for j, nj in enumerate(norms):
            out[j] = V[j] * 0 if nj == 0 else V[j] / nj
        return out

    # ---------------------------------------------------------------- symmetries

    @cached_property
    def rotation_generators(self) -> tuple[np.ndarray, ...]:
        """An orthonormal basis of the skew matrices ``A`` with ``grad h(v) . A v = 0`` for all v.

        These generate the rotations that fix ``h`` (hence the objective).  A target that says
        ``rotation_invariant`` gets all of ``so(d)`` exactly (the ``E_kl - E_lk``); otherwise the
        algebra is the numerical null space (relative tolerance 1e-7) of the map
        ``A -> (grad h(v_p) . A v_p)_p`` at ``4 d^2 + 8`` seeded random unit points ``v_p``.
        """
        d = self.d
        basis = []
        for k in range(d):
            for l in range(k + 1, d):
                A = np.zeros((d, d))
                A[k, l], A[l, k] = -1.0, 1.0
                basis.append(A)
        if not basis or getattr(self.target, "rotation_invariant", False):
            return tuple(basis)
        rng = np.random.default_rng(20240601)
        P = rng.standard_normal((4 * d * d + 8, d))
        P /= np.linalg.norm(P, axis=1, keepdims=True)
        G = np.asarray(self.target.h_grad(P), dtype=float)
        scale = np.max(np.linalg.norm(G, axis=1))
        if not np.isfinite(scale):
            raise CompverifyError("target h_grad is not finite at random unit points")
        if scale == 0:
            return tuple(basis)
        B = np.stack([np.einsum("pi,pi->p", G, P @ A.T) for A in basis], axis=1) / scale
        _, s, Vt = np.linalg.svd(B)
        s = np.concatenate([s, np.zeros(len(basis) - len(s))])
        null = Vt[s <= 1e-7 * max(s[0], 1e-300)]
        return tuple(np.einsum("g,gij->ij", c, np.stack(basis)) for c in null)

    def symmetry_tangents(self, theta: Any) -> np.ndarray:
        """Tangent vectors of the symmetry orbits at ``theta``: columns of an (n, s) array.

        One column ``(0, V A')`` per rotation generator ``A``; for homogeneous degree ``k`` one
        column per neuron ``j`` for the rescaling ``(b_j, v_j) -> (c^-k b_j, c v_j)``:
        ``(-k b_j e_j, v_j)``.  The columns may be linearly dependent (e.g. when the directions span
        less than R^d); float64 or object (mpf) like ``theta``.
        """
        theta = np.asarray(theta)
        b, V = self.split(theta)
        obj = theta.dtype == object
        cols = []
        for A in self.rotation_generators:
            t = np.zeros(self.n_params, dtype=object if obj else float)
            if obj:
                t[:] = mpmath.mpf(0)
                t[self.M:] = _times_transpose_mp(V, A).ravel()
            else:
                t[self.M:] = (V @ A.T).ravel()
            cols.append(t)
        k = self.homogeneous_degree
        if k is not None:
            for j in range(self.M):
                t = np.zeros(self.n_params, dtype=object if obj else float)
                if obj:
                    t[:] = mpmath.mpf(0)
                t[j] = -k * b[j]
                t[self.M + j * self.d:self.M + (j + 1) * self.d] = V[j]
                cols.append(t)
        if not cols:
            return np.zeros((self.n_params, 0), dtype=object if obj else float)
        return np.stack(cols, axis=1)

    # ---------------------------------------------------------------- odd/even split (ReLU)

    def odd_even_split(self, theta: Any, abs_kernel: Any = None) -> OddEvenSplit:
        """Split the ReLU loss at ``theta`` into odd and even parts, float64; their sum is ``L``.

        ``max(0, z) = z/2 + |z|/2``: the compressed network's odd part is ``<sum_j b_j v_j, x>/2``,
        the target's ``<beta, x>/2`` with ``beta = E[abar w]``, read off the odd part of ``h``
        (``beta_k = 2 (h(e_k) - h(-e_k))``, as ``K_relu = (<u, v> + K_abs)/4``).  The even part is
        ``C_even - 2 sum_j b_j h_even(v_j) + sum_{j,j'} b_j b_j' K_abs(v_j, v_j')/4`` with
        ``h_even(v) = (h(v) + h(-v))/2`` and ``C_even = C - |beta|^2/4``; its self term uses the abs
        kernel (``get_activation("abs")`` unless ``abs_kernel`` is given), derived independently
        of the ReLU kernel.  Raises for any activation other than ReLU.
        """
        if self.spec != "relu":
            raise CompverifyError(f"the odd/even split is defined for relu, not {self.spec!r}")
        if abs_kernel is None:
            from compverify.symbolic import get_activation

            abs_kernel = get_activation("abs").kernel
        theta = check_finite_array(theta, "theta", ndim=1)
        b, V = self.split(theta)
        E = np.eye(self.d)
        h = self.target.h
        beta = 2.0 * (h(E) - h(-E))
        odd = float(np.sum((beta - b @ V) ** 2) / 4)
        h_even = (h(V) + h(-V)) / 2
        C_even = self.C - float(beta @ beta) / 4
        S_abs = self_term(abs_kernel, b, V, order=0).value / 4
        even = C_even - 2 * float(b @ h_even) + float(S_abs)
        return OddEvenSplit(odd, even, self.value(theta), beta)


def _times_transpose_mp(V: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``V A'`` for an object (mpf) ``V`` and a float ``A``, over ``A``'s nonzero entries only
    (the rotation generators ``E_kl - E_lk`` have two): ``(V A')[:, k] = sum_l A[k, l] V[:, l]``."""
    out = np.empty((V.shape[0], A.shape[0]), dtype=object)
    out[:] = mpmath.mpf(0)
    for k, l in zip(*np.nonzero(A), strict=True):
        out[:, k] = out[:, k] + V[:, l] * mpmath.mpf(float(A[k, l]))
    return out


def _row_norms(V: np.ndarray) -> list:
    if V.dtype == object:
        return [mpmath.sqrt(sum(x * x for x in row)) for row in V]
    return list(np.linalg.norm(V, axis=1))


def digits_agreeing(x: Any, y: Any, cap: int, scale: Any = None) -> int:
    """Decimal digits ``x`` and ``y`` share: ``floor(-log10(|x - y| / s))`` in ``[0, cap]``.

    ``s = |y|`` unless ``scale`` is given (used when ``y`` is zero to working precision).

    >>> digits_agreeing(mpmath.mpf("1.2345"), mpmath.mpf("1.2346"), 30)
    4
    """
    with mpmath.workdps(cap + 20):
        x, y = mpmath.mpf(x), mpmath.mpf(y)
        s = abs(y) if scale is None else abs(mpmath.mpf(scale))
        diff = abs(x - y)
        if diff == 0:
            return cap
        if s == 0:
            return 0
        return int(max(0, min(cap, math.floor(-mpmath.log10(diff / s)))))
