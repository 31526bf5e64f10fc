"""Frame diagnostics of M unit vectors in R^d (rows of U), in float64 or mpmath.

Gram ``G = U U'``, frame operator ``S = U' U`` (SPEC A4):

* tightness defect ``||S - (M/d) I||_F`` (0 iff tight), frame potential ``sum G_jk^2 >= M^2/d``;
* coherence ``max_{j != k} |G_jk|`` against the Welch bound ``sqrt((M - d)/(d (M - 1)))``;
* equiangularity spread ``max - min`` of the off-diagonal ``|G_jk|`` (0 iff equiangular).

:func:`frame_block` adds the certified distance bounds (:mod:`.certificates`) and the verdict
(:mod:`.verdict`): the ``frame`` block of a solve result.

>>> from compverify.proofs_check.catalogue import simplex
>>> fd = diagnostics(simplex(3, dps=30).vectors, dps=30)
>>> fd.tightness_defect < 1e-28 and fd.equiangularity_spread < 1e-28
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError

__all__ = ["FrameDiagnostics", "diagnostics", "frame_block", "unit_rows"]


@dataclass(frozen=True)
class FrameDiagnostics:
    """Diagnostics of a frame; reals are mpf at ``dps`` digits (or floats when ``dps`` is None)."""

    M: int
    d: int
    gram: Any
    frame_operator_spectrum: list
    tightness_defect: Any
    relative_tightness_defect: Any
    coherence: Any
    welch_bound: Any
    equiangularity_spread: Any
    frame_potential: Any
    frame_potential_bound: Any
    min_abs_offdiagonal: Any
    max_abs_offdiagonal: Any
    normalised: bool
    dps: int | None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("gram")
        return out


def unit_rows(U: Any, dps: int | None = None) -> tuple[np.ndarray, bool]:
    """Validate ``U`` (M, d) and return its rows normalised (and whether any was not unit)."""
    arr = np.asarray(U, dtype=object if dps else float)
    if arr.ndim != 2:
        raise CompverifyError(f"directions must be a 2-D array (M, d), got shape {arr.shape}")
    M, d = arr.shape
    if M < 2:
        raise CompverifyError(f"a frame needs M >= 2 vectors, got M = {M}")
    if d < 1:
        raise CompverifyError("directions have no columns")
    if dps:
        with mpmath.workdps(dps):
            arr = np.vectorize(lambda x: mpmath.mpf(x), otypes=[object])(arr)
            if not all(mpmath.isfinite(x) for x in arr.ravel()):
                raise CompverifyError("directions contain a non-finite entry")
            norms = [mpmath.sqrt(sum(x * x for x in row)) for row in arr]
            for j, n in enumerate(norms):
                if n == 0:
                    raise CompverifyError(f"direction row {j} is zero")
            changed = any(abs(n - 1) > mpmath.mpf(10) ** (-dps + 2) for n in norms)
            out = np.array([[x / n for x in row] for row, n in zip(arr, norms, strict=True)],
                           dtype=object)
        return out, changed
    if not np.all(np.isfinite(arr)):
        raise CompverifyError("directions contain a non-finite entry")
    norms = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise CompverifyError(f"direction row {int(zero[0])} is zero")
    return arr / norms[:, None], bool(np.any(np.abs(norms - 1) > 1e-12))


def diagnostics(U: Any, dps: int | None = None) -> FrameDiagnostics:
    """All diagnostics of the rows of ``U`` (normalised first), at ``dps`` digits or in float64."""
    V, changed = unit_rows(U, dps)
    M, d = V.shape
    if dps:
        with mpmath.workdps(dps):
            Vm = mpmath.matrix(V.tolist())
            G = Vm * Vm.T
            S = Vm.T * Vm
            spec = sorted(mpmath.eigsy(S, eigvals_only=True), reverse=True)
            c = mpmath.mpf(M) / d
            defect = mpmath.sqrt(sum((S[i, j] - (c if i == j else 0)) ** 2
                                     for i in range(d) for j in range(d)))
            off = [abs(G[i, j]) for i in range(M) for j in range(M) if i != j]
            welch = mpmath.sqrt(mpmath.mpf(M - d) / (d * (M - 1))) if M > d else mpmath.mpf(0)
            fp = sum(G[i, j] ** 2 for i in range(M) for j in range(M))
            return FrameDiagnostics(M, d, G, [+x for x in spec], defect, defect / c, max(off),
                                    welch, max(off) - min(off), fp, mpmath.mpf(M) ** 2 / d,
                                    min(off), max(off), changed, dps)
    G = V @ V.T
    S = V.T @ V
    spec = sorted(np.linalg.eigvalsh(S).tolist(), reverse=True)
    c = M / d
    defect = float(np.linalg.norm(S - c * np.eye(d)))
    off = np.abs(G[~np.eye(M, dtype=bool)])
    welch = float(np.sqrt((M - d) / (d * (M - 1)))) if M > d else 0.0
    return FrameDiagnostics(M, d, G, spec, defect, defect / c, float(off.max()), welch,
                            float(off.max() - off.min()), float(np.sum(G * G)), M * M / d,
                            float(off.min()), float(off.max()), changed, None)


def frame_block(directions: Any, verified_digits: int, dps: int) -> dict:
    """The ``frame`` block of a solve result: diagnostics, certified bounds and the verdict.

    ``verified_digits`` (of the loss) sets the tolerance (:func:`.verdict.tolerance`).
    """
    from compverify.proofs_check import catalogue
    from compverify.proofs_check.certificates import distance_bounds
    from compverify.proofs_check.verdict import classify, tolerance

    fd = diagnostics(directions, dps=dps)
    tol = tolerance(verified_digits)
    M, d = fd.M, fd.d
    block: dict[str, Any] = {
        "M": M, "d": d, "coherence": fd.coherence, "welch_bound": fd.welch_bound,
        "tightness_defect": fd.tightness_defect, "equiangularity_spread": fd.equiangularity_spread,
        "frame_potential": fd.frame_potential, "frame_potential_bound": fd.frame_potential_bound,
        "frame_operator_spectrum": fd.frame_operator_spectrum,
        "distance_lower_bound_etf": None, "distance_lower_bound_tight": None,
        "distance_upper_bound_etf": None, "tolerance": tol,
        "tolerance_rule": f"10^-(floor(verified_digits/2) - 1) with verified_digits = "
                          f"{verified_digits}: at a minimum the loss is quadratic in the "
                          "directions, so its digits certify about half as many of theirs",
    }
    Gf = np.array(fd.gram.tolist(), dtype=float)
    if M > d:
        b = distance_bounds(Gf, d)
        block["distance_lower_bound_etf"] = b.lower_bound_etf
        block["distance_lower_bound_tight"] = b.lower_bound_tight
        block["certificate_solver"] = b.solver
        etf = catalogue.lookup(d, M, dps=20)
        if etf is not None:
            block["distance_upper_bound_etf"] = nearest_etf_distance(Gf, etf.as_float())
            block["nearest_etf"] = etf.name
    block["verdict"] = classify(fd, tol, block["distance_lower_bound_etf"],
                                block["distance_lower_bound_tight"])
    return block


def nearest_etf_distance(G: np.ndarray, E: np.ndarray, iterations: int = 20) -> float:
    """An upper bound on the distance from Gram ``G`` to the ETF Grams: ``||G - P D E E' D P'||``
    for a permutation P and signs D matched greedily (Hungarian on |G| vs the ETF Gram's rows)."""
    from scipy.optimize import linear_sum_assignment

    M = G.shape[0]
    H = E @ E.T
    best = float(np.linalg.norm(G - H))
    perm = np.arange(M)
    for _ in range(iterations):
        Hp = H[np.ix_(perm, perm)]
        # match row j of |G| against rows of |Hp| by sorted absolute entries (permutation-robust)
        cost = np.array([[np.sum((np.sort(np.abs(G[j])) - np.sort(np.abs(Hp[k]))) ** 2)
                          + np.sum((np.abs(G[j]) - np.abs(Hp[k])) ** 2) for k in range(M)]
                         for j in range(M)])
        _, cols = linear_sum_assignment(cost)
        perm = perm[cols]
        Hp = H[np.ix_(perm, perm)]
        # signs: D_j chosen greedily to agree with G's signs
        s = np.ones(M)
        for j in range(1, M):
            s[j] = 1.0 if np.sum(G[j, :j] * Hp[j, :j] * s[:j]) >= 0 else -1.0
        dist = float(np.linalg.norm(G - (s[:, None] * Hp * s[None, :])))
        if dist < best - 1e-15:
            best = dist
        else:
            break
    return best
