r"""The best objective value reachable with directions constrained to a known ETF (SPEC A3-A4).

For a problem ``(activation, target, M)`` in ``R^d`` and a frame ``u0_1..u0_M`` (an ETF from the
catalogue), the directions are constrained to the lines of the frame, in any orientation::

    v_j = r_j s_j Q u0_j,    s_j = +-1,  Q in O(d),  r_j > 0,

and the value reported is ``min over (s, Q, r, b)`` of the mean-field objective
``L(b, V) = C - 2 b.h(V) + b' K(V) b``.  For fixed directions ``L`` is a quadratic in ``b`` whose
minimum is ``C - h' K^+ h`` (``h`` always lies in the range of the Gram matrix ``K`` of the
functions ``sigma(<v_j, x>)``, so the pseudo-inverse gives the minimum even when ``K`` is singular).

The three optimisations
-----------------------
**Coefficients.**  For a positively homogeneous activation of degree ``n`` (ReLU: 1) the norms are
absorbed into the coefficients ``c_j = b_j |v_j|^n``, so they are solved *exactly* by the linear
system ``K(U) c = h(U)`` (SPEC A3): ``L* = C - h(U)' K(U)^+ h(U)``.  Otherwise the norms ``r_j`` are
free parameters, optimised (log-parametrised, L-BFGS-B in float64, then Newton in mpmath) with ``b``
solved exactly at every step.

**Signs.**  Only the lines are fixed, so each direction has a sign.  Two sign patterns are
*equivalent* when their signed Gram matrices ``D_s G0 D_s`` agree up to a permutation of the
neurons; for an ETF (all ``|G0_jk| = alpha``) this is exactly isomorphism of the signed graphs
``D_s sign(G0) D_s``.  Equivalent patterns give the same value, because

* the objective is invariant under permuting neurons, and
* two frames with the same Gram matrix are congruent by some ``Q in O(d)``, which the orientation
  search absorbs (or, for a rotation-invariant target, which does not change ``h`` and ``K``).

In particular ``s`` and ``-s`` are equivalent (``Q -> -Q``), so only the ``2^(M-1)`` patterns with
``s_1 = +1`` are enumerated; these are grouped into equivalence classes (Weisfeiler-Leman colour
refinement as an invariant, then an exact backtracking isomorphism test), and one representative of
each class is optimised.  This is exhaustive for ``M <= EXHAUSTIVE_MAX_M`` (12).  Beyond, a seeded
local search (best-improvement single sign flips from several random starts and from the all-plus
pattern) is used, and the result says so: it is then an upper bound on the best value on the ETF.

**Orientation.**  The orientation is optimised over the whole orthogonal group ``O(d)`` (both
components: the mirror image of a frame carries the same Gram matrix, so it is the same ETF), by
seeded multi-start BFGS on ``Q = Q0 expm(A)`` (``A`` skew, exact gradient through
``expm_frechet``), then Newton in mpmath on the quotient by the flat directions.  This is a local
search over a compact manifold, not a certificate of the global minimum over ``O(d)``.  When the
target is rotation-invariant (``target.rotation_invariant``), ``h(Qu) = h(u)`` for every ``Q`` and
``K`` depends only on the Gram matrix, which ``Q`` does not change: every orientation gives the
same value, so the orientation search is skipped (the catalogue's orientation is reported).

Precision
---------
Everything is computed in float64 first (screening of the sign classes), then the candidates whose
float value lies within ``1e-8 |C|`` of the best are recomputed at ``dps + 10`` digits: exactly for
a homogeneous activation with a rotation-invariant target (no optimisation is left), otherwise by
Newton polishing (the result carries the final gradient norm and ``value_error_estimate``
``= |g|^2 / lambda_min``, a first-order bound on the error in the value).  Values are rounded to
``dps`` digits on the way out.

>>> from compverify.proofs_check.etf_value import sign_classes
>>> import numpy as np
>>> G0 = np.full((4, 4), -1 / 3) + np.eye(4) * 4 / 3    # the simplex in R^3
>>> [(tuple(int(x) for x in rep), n) for rep, n in sign_classes(G0)]
[((1, 1, 1, 1), 1), ((1, 1, 1, -1), 4), ((1, 1, -1, -1), 3)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.validate import check_dps, check_positive_int

__all__ = [
    "EXHAUSTIVE_MAX_M",
    "GUARD_DPS",
    "EtfValue",
    "best_on_etf",
    "best_on_frame",
    "sign_classes",
]

#: Largest ``M`` for which every sign pattern (up to equivalence) is tried.
EXHAUSTIVE_MAX_M = 12
#: Extra digits of the mpmath stage; results are rounded to ``dps`` on the way out.
GUARD_DPS = 10
#: Candidates whose float64 value lies within this fraction of ``|C|`` of the best are recomputed
#: at high precision (float64 screening error is far below it for well-conditioned ``K``).
SCREEN_RTOL = 1e-8
#: Bounds of the log-norms ``log r_j`` for non-homogeneous activations.
LOG_NORM_BOUND = 12.0

_ORIENTATION_SKIPPED = (
    "skipped: the target is rotation-invariant, so h(Qu) = h(u) for every Q and K depends only on "
    "the Gram matrix, which a rotation does not change; every orientation gives the same value")


# ---------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class EtfValue:
    """Best objective value found with the directions on the lines of a given frame.

    ``value`` is ``L`` (mean-field objective, ``C`` included) and ``relative_value = value / C``,
    both mpf at ``dps`` digits.  ``signs`` is the best sign pattern (``s_1 = +1``), ``directions``
    the unit rows ``s_j Q u0_j``, ``orientation`` the matrix ``Q`` (``None`` when skipped),
    ``coefficients`` the optimal ``c_j = b_j |v_j|^n`` (homogeneous) or ``b_j`` (otherwise, with
    the norms in ``norms``).  ``exhaustive`` tells whether every sign class was tried.
    """

    d: int
    M: int
    construction: str
    value: Any
    relative_value: Any
    C: Any
    signs: tuple[int, ...]
    directions: tuple[tuple[Any, ...], ...]
    coefficients: tuple[Any, ...]
    norms: tuple[Any, ...] | None
    orientation: tuple[tuple[Any, ...], ...] | None
    sign_search: str
    exhaustive: bool
    patterns_total: int
    patterns_tried: int
    classes_tried: int
    candidates_polished: int
    orientation_method: str
    coefficient_method: str
    grad_norm: Any
    value_error_estimate: Any
    converged: bool
    status: str
    dps: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """JSON-ready summary (reals as mpf: :func:`compverify.io.to_jsonable` prints them)."""
        return {
            "construction": self.construction,
            "d": self.d,
            "M": self.M,
            "value": self.value,
            "relative_value": self.relative_value,
            "signs": list(self.signs),
            "directions": [list(r) for r in self.directions],
            "coefficients": list(self.coefficients),
            "norms": None if self.norms is None else list(self.norms),
            "orientation": None if self.orientation is None else [list(r)
                                                                  for r in self.orientation],
            "sign_search": self.sign_search,
            "exhaustive": self.exhaustive,
            "patterns_total": self.patterns_total,
            "patterns_tried": self.patterns_tried,
            "classes_tried": self.classes_tried,
            "candidates_polished": self.candidates_polished,
            "orientation_method": self.orientation_method,
            "coefficient_method": self.coefficient_method,
            "grad_norm": self.grad_norm,
            "value_error_estimate": self.value_error_estimate,
            "converged": self.converged,
            "status": self.status,
            "dps": self.dps,
            "seed": self.seed,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# sign classes (switching classes of the signed Gram, up to permutation)


def _edge_labels(G0: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Integer labels ``sign(G0_jk) * (1 + index of |G0_jk| among its distinct values)``.

    For an ETF there is one value, so the labels are ``sign(G0)``; entries below ``tol`` are 0.
    """
    M = G0.shape[0]
    off = np.abs(G0[~np.eye(M, dtype=bool)])
    levels: list[float] = []
    for x in np.sort(off):
        if x > tol and (not levels or x - levels[-1] > tol * max(1.0, x)):
            levels.append(float(x))
    lab = np.zeros((M, M), dtype=np.int64)
    for j in range(M):
        for k in range(M):
            x = G0[j, k]
            if j != k and abs(x) > tol:
                idx = int(np.argmin([abs(abs(x) - v) for v in levels]))
                lab[j, k] = (idx + 1) * (1 if x > 0 else -1)
    return lab


def _wl_colours(A: np.ndarray, rounds: int = 3) -> tuple[int, ...]:
    """Weisfeiler-Leman colours of the edge-labelled complete graph ``A`` (an invariant)."""
    M = A.shape[0]
    col = [0] * M
    for _ in range(rounds):
        col = [hash((col[j], tuple(sorted((int(A[j, k]), col[k]) for k in range(M) if k != j))))
               for j in range(M)]
    return tuple(col)


def _isomorphic(A: np.ndarray, ca: Sequence[int], B: np.ndarray, cb: Sequence[int]) -> bool:
    """Exact test: is there a colour-respecting permutation ``p`` with ``B[p_i, p_j] = A[i, j]``?"""
    M = A.shape[0]
    order = sorted(range(M), key=lambda i: sum(1 for c in ca if c == ca[i]))
    used = [False] * M
    mapping = [-1] * M

    def extend(t: int) -> bool:
        if t == M:
            return True
        i = order[t]
        for j in range(M):
            if used[j] or cb[j] != ca[i]:
                continue
            if all(B[j, mapping[order[u]]] == A[i, order[u]] for u in range(t)):
                used[j], mapping[i] = True, j
                if extend(t + 1):
                    return True
                used[j], mapping[i] = False, -1
        return False

    return extend(0)


class _ClassIndex:
    """Groups sign patterns into classes of isomorphic signed Gram matrices."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.buckets: dict[tuple, list[int]] = {}
        self.reps: list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]] = []
        self.counts: list[int] = []

    def add(self, s: np.ndarray) -> int:
        """Class index of pattern ``s`` (a new class if it matches none)."""
        A = self.labels * np.outer(s, s)
        col = _wl_colours(A)
        key = tuple(sorted(col))
        for ci in self.buckets.get(key, []):
            rs, rA, rcol = self.reps[ci]
            if _isomorphic(rA, rcol, A, col):
                self.counts[ci] += 1
                return ci
        self.reps.append((s.copy(), A, col))
        self.counts.append(1)
        self.buckets.setdefault(key, []).append(len(self.reps) - 1)
        return len(self.reps) - 1


def _patterns(M: int) -> np.ndarray:
    """The ``2^(M-1)`` sign patterns with ``s_1 = +1``, binary order (row ``i``: bits of ``i``)."""
    idx = np.arange(2 ** (M - 1), dtype=np.int64)
    bits = (idx[:, None] >> np.arange(M - 2, -1, -1)) & 1 if M > 1 else np.zeros((1, 0), np.int64)
    return np.concatenate([np.ones((idx.size, 1), np.int64), 1 - 2 * bits], axis=1)


def sign_classes(G0: Any) -> list[tuple[np.ndarray, int]]:
    """Classes of equivalent sign patterns of a frame with Gram ``G0``: ``(representative, size)``.

    Patterns are those with ``s_1 = +1``; two are equivalent when ``D_s G0 D_s`` agree up to a
    permutation (see the module docstring).  Representatives are the first pattern of each class
    in binary order.
    """
    G0 = np.asarray(G0, dtype=float)
    index = _ClassIndex(_edge_labels(G0))
    for s in _patterns(G0.shape[0]):
        index.add(s)
    return [(rep[0], n) for rep, n in zip(index.reps, index.counts, strict=True)]


# ---------------------------------------------------------------------------------------------
# small linear-algebra helpers (float64 and mpmath)


def _min_quadratic(K: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float]:
    """``b = K^+ h`` and ``h' K^+ h`` (eigenvalues below ``1e-12 max`` dropped). Batched over
    leading axes."""
    w, Vec = np.linalg.eigh(K)
    keep = w > 1e-12 * np.max(np.abs(w), axis=-1, keepdims=True)
    winv = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
    y = np.einsum("...ji,...j->...i", Vec, h)
    b = np.einsum("...ij,...j->...i", Vec, winv * y)
    return b, np.einsum("...i,...i->...", winv * y, y)


def _mp_mat(A: np.ndarray) -> mpmath.matrix:
    return mpmath.matrix([[mpmath.mpf(x) for x in row] for row in A])


def _mp_array(x: Any, ndim: int) -> np.ndarray:
    """Object array of mpf from an mpmath matrix, nested lists or an array."""
    if isinstance(x, mpmath.matrix):
        rows = [[x[i, j] for j in range(x.cols)] for i in range(x.rows)]
        arr = np.array(rows, dtype=object)
        if ndim == 1:
            arr = arr.reshape(-1)
    else:
        arr = np.array(x, dtype=object)
    return np.vectorize(mpmath.mpf, otypes=[object])(arr) if arr.size else arr


def _min_quadratic_mp(K: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, Any]:
    """mpmath ``b = K^+ h`` and ``h' b`` at the working precision."""
    from compverify.numeric.objective import _solve_psd_mp

    b = _solve_psd_mp(K, h)
    return b, mpmath.fsum(x * y for x, y in zip(b, h, strict=True))


def _skew_pairs(d: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(d) for j in range(i + 1, d)]


def _skew(a: Any, pairs: list[tuple[int, int]], d: int, zero: Any = 0.0) -> np.ndarray:
    A = np.full((d, d), zero, dtype=object if not isinstance(zero, float) else float)
    for t, (i, j) in enumerate(pairs):
        A[i, j] = a[t]
        A[j, i] = -a[t]
    return A


def _orthonormal_mp(Q: np.ndarray) -> np.ndarray:
    """The orthogonal matrix nearest to ``Q`` (a float64 rotation) at the working precision:
    the polar factor ``Q (Q'Q)^(-1/2)``, so that ``Q' Q = I`` to all digits."""
    Qm = _mp_mat(Q)
    w, E = mpmath.eigsy(Qm.T * Qm)
    n = Qm.rows
    inv_sqrt = E * mpmath.diag([1 / mpmath.sqrt(w[i]) for i in range(n)]) * E.T
    P = Qm * inv_sqrt
    return np.array([[P[i, j] for j in range(n)] for i in range(n)], dtype=object)


def _haar(rng: np.random.Generator, d: int, det: int) -> np.ndarray:
    Z = rng.standard_normal((d, d))
    Q, R = np.linalg.qr(Z)
    Q = Q * np.sign(np.diag(R))
    if np.linalg.det(Q) * det < 0:
        Q[:, 0] = -Q[:, 0]
    return Q


# ---------------------------------------------------------------------------------------------
# the objective on a fixed frame


class _FrameObjective:
    """``L*(s, Q, r) = C - h(V)' K(V)^+ h(V)``, ``V = diag(r) D_s U0 Q'``, in float64 and mpmath.

    Parameters ``x = [a (skew coordinates of A, Q = Q0 expm(A)), rho = log r]``; ``a`` is present
    only when the orientation is optimised, ``rho`` only for non-homogeneous activations.
    """

    def __init__(self, problem: Any, U0: np.ndarray, work: int):
        self.act = problem.activation
        self.kern = self.act.kernel
        self.target = problem.target
        self.M, self.d = U0.shape
        self.work = work
        self.homogeneous = getattr(self.act, "homogeneous_degree", None) is not None
        self.orient = not bool(getattr(self.target, "rotation_invariant", False))
        self.pairs = _skew_pairs(self.d) if self.orient else []
        self.na = len(self.pairs)
        self.nr = 0 if self.homogeneous else self.M
        with mpmath.workdps(work):
            self.U0mp = _mp_array(U0, 2)
            self.Cmp = mpmath.mpf(self.target.C_mp(work))
        self.U0 = np.array(self.U0mp, dtype=float)
        self.C = float(self.target.C())
        self.G0 = self.U0 @ self.U0.T
        from compverify.numeric.kernel_sums import kernel_matrix, kernel_matrix_mp

        if self.homogeneous:
            # K_s[j,k] = k(1, 1, s_j s_k G0_jk): two matrices cover every sign pattern.
            self.Kp = kernel_matrix(self.kern, self.U0)
            self.Km = kernel_matrix(self.kern, self.U0, -self.U0)
            with mpmath.workdps(work):  # negating an mpf rounds to the context precision
                minus = -self.U0mp
            self.Kp_mp = kernel_matrix_mp(self.kern, self.U0mp, dps=work)
            self.Km_mp = kernel_matrix_mp(self.kern, self.U0mp, minus, dps=work)

    # -- pieces ----------------------------------------------------------------------------
    def K_sign(self, s: np.ndarray, mp: bool = False) -> np.ndarray:
        Kp, Km = (self.Kp_mp, self.Km_mp) if mp else (self.Kp, self.Km)
        return np.where(np.outer(s, s) > 0, Kp, Km)

    def batch_values(self, S: np.ndarray) -> np.ndarray:
        """float64 values of many patterns at the catalogue orientation (homogeneous only)."""
        if not hasattr(self, "_hpm"):
            self._hpm = (np.asarray(self.target.h(self.U0), dtype=float),
                         np.asarray(self.target.h(-self.U0), dtype=float))
        hp, hm = self._hpm
        out = np.empty(S.shape[0])
        for start in range(0, S.shape[0], 512):
            Sb = S[start:start + 512]
            K = np.where((Sb[:, :, None] * Sb[:, None, :]) > 0, self.Kp, self.Km)
            h = np.where(Sb > 0, hp, hm)
            out[start:start + 512] = self.C - _min_quadratic(K, h)[1]
        return out

    # -- float64 ---------------------------------------------------------------------------
    def f_float(self, x: np.ndarray, s: np.ndarray, Q0: np.ndarray, grad: bool = True):
        from scipy.linalg import expm, expm_frechet

        from compverify.numeric.kernel_sums import kernel_matrix, self_term

        a, rho = x[:self.na], x[self.na:]
        A = _skew(a, self.pairs, self.d)
        Q = Q0 @ expm(A) if self.na else Q0
        r = np.exp(rho) if self.nr else np.ones(self.M)
        Wr = (r * s)[:, None] * self.U0
        V = Wr @ Q.T
        K = self.K_sign(s) if self.homogeneous else kernel_matrix(self.kern, V)
        h = np.asarray(self.target.h(V), dtype=float)
        b, q = _min_quadratic(K, h)
        val = self.C - q
        if not grad:
            return val
        G = -2.0 * b[:, None] * np.asarray(self.target.h_grad(V), dtype=float)
        if not self.homogeneous:
            G = G + np.asarray(self_term(self.kern, b, V, order=1).grad_V, dtype=float)
        g = np.empty(self.na + self.nr)
        if self.na:
            X = Q0.T @ G.T @ Wr
            for t, (i, j) in enumerate(self.pairs):
                B = np.zeros((self.d, self.d))
                B[i, j], B[j, i] = 1.0, -1.0
                g[t] = np.sum(expm_frechet(A, B, compute_expm=False) * X)
        if self.nr:
            g[self.na:] = np.einsum("ij,ij->i", G, V)
        return val, g

    def optimise_float(self, s: np.ndarray, starts: list[tuple[np.ndarray, np.ndarray]]):
        """Best ``(value, Q, rho)`` over the given starts ``(Q0, rho0)``."""
        from scipy.optimize import minimize

        best = None
        n = self.na + self.nr
        for Q0, rho0 in starts:
            x0 = np.concatenate([np.zeros(self.na), rho0])
            if n == 0:
                val, Q, rho = self.f_float(x0, s, Q0, grad=False), Q0, rho0
            else:
                bounds = [(None, None)] * self.na + [(-LOG_NORM_BOUND, LOG_NORM_BOUND)] * self.nr
                res = minimize(self.f_float, x0, args=(s, Q0, True), jac=True, method="L-BFGS-B",
                               bounds=bounds, options={"maxiter": 500, "ftol": 1e-15,
                                                       "gtol": 1e-11})
                from scipy.linalg import expm

                Q = Q0 @ expm(_skew(res.x[:self.na], self.pairs, self.d)) if self.na else Q0
                val, rho = float(res.fun), res.x[self.na:]
            if best is None or val < best[0]:
                best = (val, Q, np.asarray(rho, dtype=float))
        return best

    # -- mpmath ----------------------------------------------------------------------------
    def f_mp(self, s: np.ndarray, Q: np.ndarray, rho: np.ndarray, grad: bool = True):
        """Value, ``b`` and the re-centred gradient (``A = 0``) at the working precision."""
        from compverify.numeric.kernel_sums import kernel_matrix_mp, self_term_mp

        work = self.work
        with mpmath.workdps(work):
            r = np.array([mpmath.exp(x) for x in rho], dtype=object) if self.nr else \
                np.array([mpmath.mpf(1)] * self.M, dtype=object)
            Wr = (r * np.array([mpmath.mpf(int(x)) for x in s], dtype=object))[:, None] * self.U0mp
            V = Wr @ Q.T
            K = self.K_sign(s, mp=True) if self.homogeneous else kernel_matrix_mp(
                self.kern, V, dps=work)
            h = _mp_array(self.target.h_mp(V, work), 1)
            b, q = _min_quadratic_mp(K, h)
            val = self.Cmp - q
            if not grad:
                return val, b, V, None
            G = -2 * b[:, None] * _mp_array(self.target.h_grad_mp(V, work), 2)
            if not self.homogeneous:
                G = G + _mp_array(self_term_mp(self.kern, b, V, order=1, dps=work).grad_V, 2)
            g = []
            if self.na:
                X = Q.T @ G.T @ Wr
                g += [X[i, j] - X[j, i] for i, j in self.pairs]
            if self.nr:
                g += [mpmath.fsum(G[j, k] * V[j, k] for k in range(self.d)) for j in range(self.M)]
            return val, b, V, np.array(g, dtype=object)

    def step(self, Q: np.ndarray, rho: np.ndarray, delta: Sequence[Any]):
        """Move along ``delta``: ``Q <- Q expm(A(delta_a))``, ``rho <- rho + delta_rho``."""
        if self.na:
            A = _skew(list(delta[:self.na]), self.pairs, self.d, zero=mpmath.mpf(0))
            E = mpmath.expm(_mp_mat(A))
            Q = Q @ np.array([[E[i, j] for j in range(self.d)] for i in range(self.d)],
                             dtype=object)
        if self.nr:
            rho = rho + np.array(list(delta[self.na:]), dtype=object)
        return Q, rho

    def polish(self, s: np.ndarray, Q: np.ndarray, rho: np.ndarray, dps: int, max_iter: int = 30):
        """Newton in mpmath with a finite-difference Hessian of the re-centred gradient.

        Directions with ``|lambda| <= tau`` (flat: symmetries of the target) are not moved along.
        Returns ``(value, b, V, Q, rho, grad_norm, error_estimate, converged, note)``.
        """
        n = self.na + self.nr
        with mpmath.workdps(self.work):
            Q = _orthonormal_mp(_mp_array(Q, 2))
            rho = _mp_array(rho, 1) if self.nr else np.zeros(0, dtype=object)
            val, b, V, g = self.f_mp(s, Q, rho)
            if n == 0:
                return val, b, V, Q, rho, mpmath.mpf(0), mpmath.mpf(0), True, "nothing to optimise"
            eps = mpmath.mpf(10) ** (-(self.work // 3))
            tiny = mpmath.mpf(10) ** (-(self.work - 5))
            gnorm = mpmath.norm(mpmath.matrix(list(g)))
            lam_min = None
            stalled = 0
            note = ""
            for _ in range(max_iter):
                if gnorm <= tiny:
                    break
                H = mpmath.matrix(n, n)
                for k in range(n):
                    e = [mpmath.mpf(0)] * n
                    e[k] = eps
                    Qp, rp = self.step(Q, rho, e)
                    gp = self.f_mp(s, Qp, rp)[3]
                    Qm, rm = self.step(Q, rho, [-x for x in e])
                    gm = self.f_mp(s, Qm, rm)[3]
                    for i in range(n):
                        H[i, k] = (gp[i] - gm[i]) / (2 * eps)
                H = (H + H.T) / 2
                w, E = mpmath.eigsy(H)
                wmax = max(abs(x) for x in w)
                tau = wmax * mpmath.mpf(10) ** (-(self.work // 4))
                kept = [i for i in range(n) if w[i] > tau]
                if any(w[i] < -tau for i in range(n)):
                    note = "negative curvature at the float optimum: not a minimum over (Q, r)"
                lam_min = min((w[i] for i in kept), default=None)
                delta = [mpmath.mpf(0)] * n
                for i in kept:
                    y = mpmath.fsum(E[j, i] * g[j] for j in range(n))
                    for j in range(n):
                        delta[j] -= E[j, i] * y / w[i]
                Qn, rn = self.step(Q, rho, delta)
                vn, bn, Vn, gn = self.f_mp(s, Qn, rn)
                gn_norm = mpmath.norm(mpmath.matrix(list(gn)))
                if gn_norm < gnorm or vn < val:
                    Q, rho, val, b, V, g = Qn, rn, vn, bn, Vn, gn
                    stalled = 0 if gn_norm < gnorm / 10 else stalled + 1
                    gnorm = gn_norm
                else:
                    stalled += 1
                if stalled >= 2:
                    break
            err = gnorm ** 2 / lam_min if lam_min else gnorm
            converged = err <= abs(self.Cmp) * mpmath.mpf(10) ** (-dps) and not note
            return val, b, V, Q, rho, gnorm, err, converged, note


# ---------------------------------------------------------------------------------------------
# the front door


def best_on_frame(problem: Any, frame: Any, *, dps: int = 30, seed: int = 0,
                  construction: str = "frame", orientation_starts: int = 8,
                  search_starts: int = 8,
                  exhaustive_max_M: int = EXHAUSTIVE_MAX_M) -> EtfValue:
    """Best value of ``problem`` with the directions on the lines of ``frame`` (M unit rows).

    ``frame``: an ``(M, d)`` array, nested lists or mpmath matrix of unit vectors, given with at
    least ``dps + GUARD_DPS`` digits for a result good to ``dps`` digits.  ``problem`` has
    ``activation``, ``target`` (with ``d``, ``rotation_invariant``, ``h``/``h_grad``/``C`` and their
    ``*_mp`` variants) and ``M``.  See the module docstring for the method.
    """
    dps = check_dps(dps, minimum=15)
    orientation_starts = check_positive_int(orientation_starts, "orientation_starts")
    search_starts = check_positive_int(search_starts, "search_starts")
    work = dps + GUARD_DPS
    with mpmath.workdps(work):
        U0mp = _mp_array(frame, 2)
    if U0mp.ndim != 2 or U0mp.shape[0] < 1:
        raise CompverifyError(f"frame must be an (M, d) array of unit vectors, got shape "
                              f"{U0mp.shape}")
    M, d = U0mp.shape
    if M != int(problem.M) or d != int(problem.target.d):
        raise CompverifyError(f"frame has (d, M) = ({d}, {M}) but the problem has "
                              f"(d, M) = ({problem.target.d}, {problem.M})")
    obj = _FrameObjective(problem, U0mp, work)
    rng = np.random.default_rng(seed)
    notes: list[str] = []

    # orientation starts: both components of O(d); the identity and a mirror first
    if obj.orient:
        mirror = np.eye(d)
        mirror[0, 0] = -1.0
        q_starts = [np.eye(d), mirror] + [_haar(rng, d, (-1) ** k)
                                          for k in range(max(0, orientation_starts - 2))]
        q_starts = q_starts[:max(orientation_starts, 2)]
    else:
        q_starts = [np.eye(d)]
    rho_starts = [np.zeros(obj.nr)] if obj.nr == 0 else [np.zeros(obj.nr), np.full(obj.nr, -1.0),
                                                          np.full(obj.nr, 1.0)]
    starts = [(Q0, r0) for Q0 in q_starts for r0 in rho_starts]
    # with a homogeneous activation and a rotation-invariant target nothing is left to optimise
    # for a given pattern: its value is C - h' K_s^+ h, computed for many patterns at once.
    fast = obj.homogeneous and not obj.orient
    index = _ClassIndex(_edge_labels(obj.G0))
    I_d, no_rho = np.eye(d), np.zeros(0)

    def evaluate(s: np.ndarray, warm: tuple | None = None) -> tuple:
        """``(float value, Q, rho)`` of pattern ``s``, orientation and norms optimised."""
        if fast:
            return float(obj.batch_values(s[None, :])[0]), I_d, no_rho
        return obj.optimise_float(s, starts if warm is None else [(warm[1], warm[2])] + starts[:2])

    # ---- sign search in float64: candidates (value, s, Q, rho), one per class --------------
    candidates: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
    exhaustive = M <= exhaustive_max_M
    if exhaustive:
        sign_search = "exhaustive over sign classes"
        S = _patterns(M)
        cls = np.array([index.add(s) for s in S])
        patterns_tried = S.shape[0]
        if fast:
            vals = obj.batch_values(S)
            for ci, (rep, _A, _c) in enumerate(index.reps):
                candidates.append((float(vals[cls == ci].min()), rep, I_d, no_rho))
        else:
            for rep, _A, _c in index.reps:
                val, Q, rho = evaluate(rep)
                candidates.append((val, rep, Q, rho))
        sign_desc = (f"all {patterns_tried} patterns with s_1 = +1 (of 2^{M}) in "
                     f"{len(index.reps)} classes of isomorphic signed Grams")
    else:
        sign_search = "seeded local search (single flips)"
        seen: dict[tuple[int, ...], tuple] = {}

        def neighbours(s: np.ndarray, cur: tuple) -> list[tuple[np.ndarray, tuple]]:
            flips = np.repeat(s[None, :], M - 1, axis=0)
            flips[np.arange(M - 1), np.arange(1, M)] *= -1
            new = [f for f in flips if tuple(f) not in seen]
            if fast and new:
                for f, v in zip(new, obj.batch_values(np.array(new)), strict=True):
                    seen[tuple(f)] = (float(v), I_d, no_rho)
            for f in new:
                if tuple(f) not in seen:
                    seen[tuple(f)] = evaluate(f, cur)
            return [(f, seen[tuple(f)]) for f in flips]

        tol = 1e-13 * max(1.0, abs(obj.C))
        for t in range(search_starts):
            s = np.ones(M, dtype=np.int64)
            if t:
                s[1:] = rng.choice([-1, 1], size=M - 1)
            cur = seen.setdefault(tuple(s), evaluate(s))
            while True:
                nb = min(neighbours(s, cur), key=lambda fv: fv[1][0])
                if nb[1][0] >= cur[0] - tol:
                    break
                s, cur = nb
            candidates.append((cur[0], s, cur[1], cur[2]))
        patterns_tried = len(seen)
        dedup = []
        for c in sorted(candidates, key=lambda c: c[0]):
            if index.add(c[1]) == len(dedup):
                dedup.append(c)
        candidates = dedup
        sign_desc = (f"{patterns_tried} patterns evaluated by best-improvement single-flip "
                     f"descent from {search_starts} seeded starts (not exhaustive: an upper bound)")
        notes.append(f"M = {M} > {exhaustive_max_M}: the sign search is a local search")
    classes_tried = len(index.reps)

    fbest = min(c[0] for c in candidates)
    thresh = fbest + SCREEN_RTOL * max(abs(obj.C), 1e-300)
    finalists = [c for c in candidates if c[0] <= thresh]

    # ---- high precision ------------------------------------------------------------------
    best = None
    for _fval, s, Q, rho in finalists:
        out = obj.polish(s, Q, rho, dps)
        if best is None or out[0] < best[1][0]:
            best = (s, out)
    s, (val, b, V, Q, rho, gnorm, err, converged, note) = best
    if note:
        notes.append(note)

    with mpmath.workdps(work):
        r = [mpmath.exp(x) for x in rho] if obj.nr else None
        units = [[V[j, k] / (r[j] if r else 1) for k in range(d)] for j in range(M)]
    with mpmath.workdps(dps):
        rnd = (lambda x: +mpmath.mpf(x))  # noqa: E731 - rounding to dps
        value = rnd(val)
        rel = rnd(val / obj.Cmp)
        Cval = rnd(obj.Cmp)
        directions = tuple(tuple(rnd(x) for x in row) for row in units)
        coeffs = tuple(rnd(x) for x in b)
        norms = tuple(rnd(x) for x in r) if r else None
        orientation = tuple(tuple(rnd(x) for x in row) for row in Q) if obj.orient else None
        gn, er = rnd(gnorm), rnd(err)

    if obj.orient:
        orient_desc = (f"optimised over O(d) (both components): {len(q_starts)} seeded BFGS "
                       f"starts on Q0 expm(A) per sign class, then mpmath Newton (local, not a "
                       f"certificate of the global minimum over O(d))")
    else:
        orient_desc = _ORIENTATION_SKIPPED
    if obj.homogeneous:
        coef_desc = ("exact: K(U) c = h(U) (homogeneous activation, c_j = b_j |v_j|^n); "
                     "pseudo-inverse if K is singular")
    else:
        coef_desc = ("norms r_j free (L-BFGS-B on log r, then mpmath Newton), b = K(V)^+ h(V) "
                     "exactly at every step")
    if fast:
        status = "exact"
        converged = True
    else:
        status = "polished" if converged else "not converged"
    notes.insert(0, sign_desc)
    return EtfValue(
        d=d, M=M, construction=construction, value=value, relative_value=rel, C=Cval,
        signs=tuple(int(x) for x in s), directions=directions, coefficients=coeffs, norms=norms,
        orientation=orientation, sign_search=sign_search, exhaustive=exhaustive,
        patterns_total=2 ** M, patterns_tried=int(patterns_tried), classes_tried=int(classes_tried),
        candidates_polished=len(finalists), orientation_method=orient_desc,
        coefficient_method=coef_desc, grad_norm=gn, value_error_estimate=er,
        converged=bool(converged), status=status, dps=dps, seed=int(seed), notes=tuple(notes))


def best_on_etf(problem: Any, *, dps: int = 30, seed: int = 0,
                lookup: Callable[..., Any] | None = None, **options: Any) -> EtfValue | None:
    """Best value of ``problem`` on the ETF the catalogue builds for its ``(d, M)``, else ``None``.

    ``lookup(d, M, dps)`` returns ``(construction name, (M, d) unit rows)`` or ``None``; by default
    :func:`catalogue_etf`.  Other options go to :func:`best_on_frame`.
    """
    dps = check_dps(dps, minimum=15)
    found = (lookup or catalogue_etf)(int(problem.target.d), int(problem.M), dps + 2 * GUARD_DPS)
    if found is None:
        return None
    name, frame = found
    return best_on_frame(problem, frame, dps=dps, seed=seed, construction=name, **options)


def catalogue_etf(d: int, M: int, dps: int) -> tuple[str, Any] | None:
    """``(name, unit rows)`` of the catalogue's ETF for ``(d, M)`` at ``dps`` digits, or None."""
    from compverify.proofs_check import catalogue

    etf = catalogue.lookup(d, M, dps=dps)
    if etf is None:
        return None
    return etf.name, etf.vectors
