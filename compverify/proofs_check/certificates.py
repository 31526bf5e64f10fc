"""Certified lower bounds on the distance from a Gram matrix to every ETF / unit-norm tight frame.

The Gram of any ETF of M unit vectors in R^d lies in ``E = {X psd, diag X = 1, |X_jk| <= alpha}``
(``alpha`` the Welch bound) and that of any unit-norm tight frame in
``F = {0 <= X <= (M/d) I, diag X = 1}`` (SPEC A4), so ``dist_F(G, E)`` (Frobenius) bounds the
distance from G to every ETF Gram from below, and likewise for F.

The projection ``min 1/2 ||X - G||^2`` over E or F is solved with cvxpy (Clarabel, else SCS); its
solution is only approximate, so the *bound* comes from weak duality instead: for any multipliers
``S0 >= 0`` (for ``X >= 0``), ``S1 >= 0`` (for ``X <= cI``), ``y`` (for ``diag X = 1``) and
entrywise ``P, Q >= 0`` (for ``+-X_jk <= alpha``), with ``A = S0 - S1 + Diag(y) - P + Q``,

``g = -1/2 ||A||^2 - <A, G> + sum(y) - c tr(S1) - alpha sum(P + Q) <= 1/2 dist^2``.

The solver's dual variables are projected onto these cones (eigenvalues / entries clipped at 0)
-- then g is a valid lower bound whatever the solver's accuracy -- and ``sqrt(2 max(g, 0))`` is
returned, less a margin for the float64 rounding of g (``1e-12`` times the size of its terms).

>>> import numpy as np
>>> U = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
>>> b = distance_bounds(U @ U.T, d=2)
>>> 0 < b.lower_bound_etf <= b.primal_distance_etf + 1e-7
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compverify.errors import CompverifyError

__all__ = ["DistanceBounds", "distance_bounds", "welch_bound"]


def welch_bound(M: int, d: int) -> float:
    """``sqrt((M - d) / (d (M - 1)))``, the least coherence of M unit vectors in R^d (M > d)."""
    if M <= d:
        return 0.0
    return float(np.sqrt((M - d) / (d * (M - 1))))


@dataclass(frozen=True)
class DistanceBounds:
    """Certified lower bounds (dual) and the solver's primal distances, with the solver used."""

    lower_bound_etf: float
    lower_bound_tight: float
    primal_distance_etf: float
    primal_distance_tight: float
    solver: str
    status_etf: str
    status_tight: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _psd_part(S: np.ndarray) -> np.ndarray:
    S = (S + S.T) / 2
    w, Q = np.linalg.eigh(S)
    return (Q * np.clip(w, 0, None)) @ Q.T


def _solve(problem) -> str:
    import cvxpy as cp

    for solver in ("CLARABEL", "SCS"):
        if solver in cp.installed_solvers():
            try:
                problem.solve(solver=solver)
                if problem.status in ("optimal", "optimal_inaccurate"):
                    return solver
            except cp.error.SolverError:
                continue
    raise CompverifyError(f"the convex projection failed (status {problem.status})")


def _project(G: np.ndarray, kind: str, d: int) -> tuple[float, float, str, str]:
    import cvxpy as cp

    M = G.shape[0]
    X = cp.Variable((M, M), symmetric=True)
    c_psd = X >> 0
    c_diag = cp.diag(X) == 1
    cons = [c_psd, c_diag]
    mask = 1.0 - np.eye(M)
    alpha = welch_bound(M, d)
    c = M / d
    if kind == "etf":
        c_up = cp.multiply(mask, X) <= alpha * mask
        c_lo = -cp.multiply(mask, X) <= alpha * mask
        cons += [c_up, c_lo]
    else:
        c_top = c * np.eye(M) - X >> 0
        cons.append(c_top)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(X - G)), cons)
    solver = _solve(prob)
    primal = float(np.linalg.norm(X.value - G))
    y = np.asarray(c_diag.dual_value, dtype=float).reshape(M)
    S0 = _psd_part(np.asarray(c_psd.dual_value, dtype=float))
    best = -np.inf
    # the dual's sign conventions differ between solvers/versions: every choice below is a valid
    # (feasible) dual point, so the best of them is still a certified bound
    for sy in (1.0, -1.0):
        if kind == "etf":
            P = np.clip(np.asarray(c_up.dual_value, dtype=float) * mask, 0, None)
            Q = np.clip(np.asarray(c_lo.dual_value, dtype=float) * mask, 0, None)
            A = S0 + np.diag(sy * y) - P + Q
            const = float(np.sum(sy * y) - alpha * np.sum(P + Q))
            scale = float(np.sum(np.abs(y)) + alpha * np.sum(P + Q))
        else:
            S1 = _psd_part(np.asarray(c_top.dual_value, dtype=float))
            A = S0 - S1 + np.diag(sy * y)
            const = float(np.sum(sy * y) - c * np.trace(S1))
            scale = float(np.sum(np.abs(y)) + c * abs(np.trace(S1)))
        g = -0.5 * float(np.sum(A * A)) - float(np.sum(A * G)) + const
        g -= 1e-12 * (scale + float(np.sum(A * A)) + float(np.sum(np.abs(A * G))) + 1.0)
        best = max(best, g)
    lower = float(np.sqrt(2 * best)) if best > 0 else 0.0
    return lower, primal, solver, str(prob.status)


def distance_bounds(G: np.ndarray, d: int) -> DistanceBounds:
    """Certified lower bounds on the Frobenius distance from ``G`` to the sets E and F."""
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise CompverifyError(f"Gram matrix must be square, got shape {G.shape}")
    M = G.shape[0]
    if M <= d:
        raise CompverifyError(f"the ETF/tight-frame sets need M > d; got M = {M}, d = {d}")
    le, pe, solver, se = _project(G, "etf", d)
    lt, pt, _, st = _project(G, "tight", d)
    return DistanceBounds(le, lt, pe, pt, solver, se, st)
