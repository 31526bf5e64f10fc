r"""High-precision dense linear algebra: float64 factorisations refined with products in C.

The Newton polish and the evidence of :mod:`compverify.numeric.solver` need, at 40 to 80 digits,
three things of an ``n x n`` symmetric matrix ``H`` (``n = M (d + 1)``, up to about 1,300):

* :func:`solve_refined` -- ``x`` with ``(H + sigma Q Q') x = r``: a float64 Cholesky factorisation
  of the rounded matrix, then iterative refinement, the residual ``r - (H + sigma Q Q') x``
  computed in high precision.  Each sweep multiplies the error by about ``kappa 2^-53`` (``kappa``
  the condition number), so the solve converges to the working precision whenever
  ``kappa < 10^13`` or so; otherwise it says so (``None``) and the caller takes the
  pseudo-inverse.
* :func:`symmetric_eig` -- eigenvalues (and an orthonormal eigenbasis) refined from float64's
  ``eigh`` by Ogita and Aishima's iteration ("Iterative refinement for symmetric eigenvalue
  decomposition", Japan J. Indust. Appl. Math. 35, 2018): with ``R = I - X'X``, ``S = X'HX``,
  ``lambda_i = S_ii / (1 - R_ii)``, the correction ``X <- X (I + E)``,
  ``E_ij = (S_ij + lambda_j R_ij) / (lambda_j - lambda_i)`` for separated pairs and ``R_ij / 2``
  inside a cluster, doubles the correct digits each sweep.  Eigenvalues inside a cluster
  (equal to within the iteration's ``delta``) come from the small block ``S_cc`` shifted by its
  mean, whose width is by then ``10^-25`` of ``|H|`` or less, so float64 resolves its interior
  to far below the working precision.
* :func:`orthonormal_basis` -- an orthonormal basis of a column span: the rank and directions
  from float64's SVD, the basis ``T W`` orthonormalised in high precision by the Newton--Schulz
  iteration ``Q <- Q (3 I - Q'Q) / 2`` (quadratic; the span is ``T``'s exactly).

Every product runs on python-flint's ``arb_mat`` (ball arithmetic in C) at the working precision
plus a guard; only vectors, eigenvalues and small blocks return to mpmath.  The matrices are
never factorised in pure Python: the cost is a handful of ``n^3`` products in C and ``n^2``
conversions.  Inputs are object arrays of ``mpf`` (or floats); outputs ``mpf`` at the working
precision of the caller (``mpmath.mp.prec`` unless ``dps`` is given).

>>> import mpmath, numpy as np
>>> with mpmath.workdps(50):
...     H = np.array([[mpmath.mpf(2), mpmath.mpf(1)], [mpmath.mpf(1), mpmath.mpf(2)]], dtype=object)
...     lam = symmetric_eig(H).values
...     print(mpmath.nstr(lam[0], 40), mpmath.nstr(lam[1], 40))
1.0 3.0
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import mpmath
import numpy as np
from mpmath.libmp import from_man_exp

from compverify.numeric.arb_arrays import arb_prec as _flint_prec
from compverify.numeric.arb_arrays import to_arb as to_arb_exact

__all__ = ["ArbMatrix", "Eig", "orthonormal_basis", "pinv_solve", "solve_refined", "symmetric_eig",
           "bits_for", "to_arb", "to_mp", "matmul"]

#: extra bits of the flint products over the working precision
GUARD_BITS = 32
#: most refinement sweeps of a linear solve before it is declared failed
MAX_SOLVE_SWEEPS = 30
#: most Ogita--Aishima sweeps
MAX_EIG_SWEEPS = 8
#: most nested refinements of a cluster's deviation (each must split the cluster or shrink it)
MAX_CLUSTER_DEPTH = 6


def bits_for(dps: int | None = None) -> int:
    """Bits of the flint products for ``dps`` digits (default: the working precision), guard
    included."""
    if dps is None:
        return mpmath.mp.prec + GUARD_BITS
    return int(math.ceil(dps * 3.3219280948873626)) + GUARD_BITS


class ArbMatrix(NamedTuple):
    """An ``arb_mat`` with the precision (bits) its products are to be computed at."""

    mat: Any
    bits: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.mat.nrows(), self.mat.ncols()


def to_arb(A: Any, bits: int) -> ArbMatrix:
    """An object array of ``mpf`` or ``arb`` (or a float array), 1-D (a column) or 2-D, as an
    ``arb_mat`` (entries converted exactly)."""
    from flint import arb, arb_mat

    A = np.asarray(A)
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    n, m = A.shape
    with _flint_prec(bits):
        if A.dtype != object:
            return ArbMatrix(arb_mat(n, m, [float(x) for x in A.ravel()]), bits)
        zero = arb(0)
        # zeros (most of the orbit tangents' entries) skip the conversion
        return ArbMatrix(arb_mat(n, m, [x if isinstance(x, arb) else
                                        (to_arb_exact(x) if x else zero) for x in A.ravel()]),
                         bits)


def to_mp(A: ArbMatrix | Any) -> np.ndarray:
    """The midpoints of an ``arb_mat`` as an object array of ``mpf`` (rounded to ``mp.prec``)."""
    mat = A.mat if isinstance(A, ArbMatrix) else A
    n, m = mat.nrows(), mat.ncols()
    prec, mk = mpmath.mp.prec, mpmath.mp.make_mpf
    out = [mk(from_man_exp(int(man), int(exp), prec, "n"))
           for man, exp in (a.mid().man_exp() for a in mat.entries())]
    return np.array(out, dtype=object).reshape(n, m)


def _to_float(mat: Any) -> np.ndarray:
    n, m = mat.nrows(), mat.ncols()
    return np.array([float(a.mid()) for a in mat.entries()], dtype=float).reshape(n, m)


def matmul(A: ArbMatrix, B: ArbMatrix) -> ArbMatrix:
    """``A B`` at the larger of the two precisions."""
    bits = max(A.bits, B.bits)
    with _flint_prec(bits):
        return ArbMatrix(A.mat * B.mat, bits)


def _frob(mat: Any) -> float:
    """Frobenius norm of the midpoints (float64: used for tolerances only)."""
    return math.sqrt(sum(float(a.mid()) ** 2 for a in mat.entries()))


# --------------------------------------------------------------------------- linear solves


def solve_refined(H: Any, rhs: Any, Q: ArbMatrix | None = None, sigma: Any = 0,
                  dps: int | None = None) -> np.ndarray | None:
    """``x`` with ``(H + sigma Q Q') x = rhs`` to the working precision, or ``None``.

    ``H`` symmetric (n, n) object array of mpf (or an :class:`ArbMatrix`), ``rhs`` (n,),
    ``Q`` (n, r) from :func:`orthonormal_basis` or ``None``.  Float64 Cholesky of the rounded
    matrix, then refinement sweeps ``x <- x + A_64^-1 (rhs - A x)`` with the residual in high
    precision until the correction is below ``10^-dps |x|`` (``dps`` default: the working
    precision).  ``None`` when the rounded matrix is not positive definite or the sweeps stop
    contracting (condition number near ``10^16`` or beyond): the caller decides what then.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    dps = mpmath.mp.dps if dps is None else dps
    bits = bits_for(dps)
    Ha = H if isinstance(H, ArbMatrix) else to_arb(H, bits)
    with _flint_prec(bits):
        from flint import arb

        sig = arb(mpmath.mpf(sigma))
        b = to_arb(np.asarray(rhs), bits).mat
        Af = _to_float(Ha.mat)
        if Q is not None:
            Qf = _to_float(Q.mat)
            Af = Af + float(sigma) * (Qf @ Qf.T)
        try:
            cf = cho_factor((Af + Af.T) / 2, lower=True, check_finite=True)
        except (LinAlgError, ValueError):
            return None
        x = to_arb(cho_solve(cf, _to_float(b)[:, 0]), bits).mat
        QT = Q.mat.transpose() if Q is not None else None
        target = mpmath.mpf(10) ** (-dps)
        prev = math.inf
        for _ in range(MAX_SOLVE_SWEEPS):
            Ax = Ha.mat * x
            if QT is not None:
                Ax += sig * (Q.mat * (QT * x))
            r = b - Ax
            dx = cho_solve(cf, _to_float(r)[:, 0])
            if not np.all(np.isfinite(dx)):
                return None
            x = (x + to_arb(dx, bits).mat).mid()
            size = max(np.max(np.abs(_to_float(x))), 1e-300)
            rel = float(np.max(np.abs(dx))) / size
            if rel <= target or rel == 0:
                return to_mp(x)[:, 0]
            if rel > prev / 4:  # not contracting: too ill-conditioned for float64's factor
                return None
            prev = rel
    return None


# --------------------------------------------------------------------------- eigenvalues


class Eig(NamedTuple):
    """Eigenvalues (ascending, mpf) and, if asked, an orthonormal eigenbasis (:class:`ArbMatrix`,
    columns in the same order)."""

    values: list
    vectors: ArbMatrix | None


def symmetric_eig(H: Any, dps: int | None = None, vectors: bool = False) -> Eig:
    """Eigenvalues of the symmetric ``H`` to about ``10^-dps |H|`` (absolute), ascending.

    ``H``: (n, n) object array of mpf (or an :class:`ArbMatrix`).  Float64 ``eigh``, then the
    Ogita--Aishima iteration (module docstring) until ``|I - X'X|`` and the entries of ``X'HX``
    off the diagonal blocks of the clusters are below ``10^-(dps + 2)`` (relative to ``|H|``),
    then the eigenvalues from ``S = X'HX``: ``S_ii / (1 - R_ii)`` for isolated ones, and for a
    cluster of nearly equal ones the block's mean plus the eigenvalues of the (tiny) deviation,
    by the same method (recursively) unless float64 resolves it to ``10^-(dps + 2) |H|`` already.
    ``vectors``: also return the refined ``X`` (columns of a cluster span its invariant subspace).
    """
    dps = mpmath.mp.dps if dps is None else dps
    Ha = H if isinstance(H, ArbMatrix) else to_arb(H, bits_for(dps))
    ref = _refine(Ha, dps)
    if ref is None:
        return Eig([], None)
    values, order = _eigenvalues_from(ref, dps)
    X = ArbMatrix(_permute_columns(ref.X, order), Ha.bits) if vectors else None
    return Eig(values, X)


class _Refined(NamedTuple):
    X: Any
    S: Any
    R: Any
    lam: np.ndarray
    clusters: list
    hnorm: float
    bits: int


def _refine(Ha: ArbMatrix, dps: int, abs_tol: float | None = None) -> _Refined | None:
    """Ogita--Aishima sweeps from float64's ``eigh`` (module docstring)."""
    from flint import arb_mat

    n = Ha.shape[0]
    if n == 0:
        return None
    bits = Ha.bits
    Hf = _to_float(Ha.mat)
    _, X0 = np.linalg.eigh((Hf + Hf.T) / 2)
    hnorm = max(float(np.linalg.norm(Hf)), 1e-300)
    want = 10.0 ** -(dps + 2) if abs_tol is None else abs_tol / hnorm
    with _flint_prec(bits):
        X = to_arb(X0, bits).mat
        eye = arb_mat(n, n)
        for i in range(n):
            eye[i, i] = 1
        for sweep in range(MAX_EIG_SWEEPS + 1):
            XT = X.transpose()
            R = eye - XT * X
            S = XT * (Ha.mat * X)
            Rf, Sf = _to_float(R), _to_float(S)
            rnorm = float(np.linalg.norm(Rf))
            lam = np.diag(Sf) / (1 - np.diag(Rf))
            off = Sf - np.diag(np.diag(Sf))
            delta = 2 * (float(np.linalg.norm(off)) + hnorm * rnorm)
            clusters = _clusters(lam, delta)
            for group in clusters:  # what stays inside a cluster is resolved by its block
                if len(group) > 1:
                    off[np.ix_(group, group)] = 0
            if (rnorm <= want and float(np.max(np.abs(off), initial=0)) <= want * hnorm) \
                    or sweep == MAX_EIG_SWEEPS:
                break
            E = _oa_correction(S, R, lam, delta)
            X = (X + X * E).mid()  # midpoints only: flint trims a product's precision to its radii
    return _Refined(X, S, R, lam, clusters, hnorm, bits)


def _oa_correction(S: Any, R: Any, lam: np.ndarray, delta: float) -> Any:
    """Ogita--Aishima's ``E`` (an arb_mat at the current precision)."""
    from flint import arb, arb_mat

    n = S.nrows()
    lam_hp = [S[i, i] / (1 - R[i, i]) for i in range(n)]
    E = arb_mat(n, n)
    half = arb(0.5)
    for i in range(n):
        for j in range(n):
            if abs(lam[i] - lam[j]) > delta:
                E[i, j] = (S[i, j] + lam_hp[j] * R[i, j]) / (lam_hp[j] - lam_hp[i])
            else:
                E[i, j] = R[i, j] * half
    return E


def _clusters(lam: np.ndarray, delta: float) -> list[list[int]]:
    """Indices grouped into runs of sorted eigenvalues less than ``delta`` apart."""
    order = np.argsort(lam, kind="stable")
    groups: list[list[int]] = []
    for i in order:
        if groups and lam[i] - lam[groups[-1][-1]] <= delta:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return groups


def _mpf(a: Any) -> Any:
    man, exp = a.mid().man_exp()
    return mpmath.mp.make_mpf(from_man_exp(int(man), int(exp), mpmath.mp.prec, "n"))


def _cluster_block(ref: _Refined, group: list) -> Any:
    """The cluster's block in an orthonormal basis: ``(I - R)^-1/2 S (I - R)^-1/2`` restricted
    to it, ``S + (R S + S R) / 2 + O(R^2)`` (the other clusters couple only at ``O(R^2)``)."""
    from flint import arb_mat

    S, R = ref.S, ref.R
    Sc = arb_mat([[S[i, j] for j in group] for i in group])
    Rc = arb_mat([[R[i, j] for j in group] for i in group])
    return (Sc + (Rc * Sc + Sc * Rc) * 0.5).mid()


def _eigenvalues_from(ref: _Refined, dps: int, abs_tol: float | None = None, depth: int = 0
                      ) -> tuple[list, list]:
    """Eigenvalues (ascending mpf) from the refined ``S``, ``R``, and the column order.

    A cluster wider than float64 resolves is refined again as the deviation from its mean; that
    recursion ends when the refinement cannot split the cluster (it comes back as one cluster,
    e.g. a many-fold eigenvalue whose block is rounding noise) or after
    :data:`MAX_CLUSTER_DEPTH` levels: the cluster is then resolved as one block, its eigenvalues
    the mean plus float64's eigenvalues of the deviation (absolute error about ``1e-16`` of the
    deviation's norm, which the refinement could not shrink).
    """
    from flint import arb_mat

    abs_tol = 10.0 ** -(dps + 2) * ref.hnorm if abs_tol is None else abs_tol
    values: list = []
    order: list = []
    with _flint_prec(ref.bits):
        for group in ref.clusters:
            if len(group) == 1:
                i = group[0]
                values.append(_mpf(ref.S[i, i] / (1 - ref.R[i, i])))
                order.append(i)
                continue
            k = len(group)
            B = _cluster_block(ref, group)
            mean = sum((B[a, a] for a in range(1, k)), B[0, 0]) / k
            D = arb_mat(k, k)
            for a in range(k):
                for c in range(k):
                    D[a, c] = B[a, c] - mean if a == c else B[a, c]
            Df = _to_float(D)
            m_mp = _mpf(mean)
            if float(np.linalg.norm(Df)) * 1e-15 <= abs_tol:
                dev = [mpmath.mpf(float(x)) for x in np.linalg.eigvalsh((Df + Df.T) / 2)]
            else:  # a cluster wider than float64 resolves: refine its deviation the same way
                sub = _refine(ArbMatrix(D, ref.bits), dps, abs_tol)
                if depth >= MAX_CLUSTER_DEPTH or len(sub.clusters) == 1:
                    # not split: one cluster, resolved as one block (the docstring)
                    dev = [mpmath.mpf(float(x)) for x in np.linalg.eigvalsh((Df + Df.T) / 2)]
                else:
                    dev = _eigenvalues_from(sub, dps, abs_tol, depth + 1)[0]
            values.extend(m_mp + x for x in dev)
            order.extend(group)
    perm = sorted(range(len(values)), key=lambda t: values[t])
    return [values[t] for t in perm], [order[t] for t in perm]


def _permute_columns(X: Any, order: list) -> Any:
    from flint import arb_mat

    n = X.nrows()
    out = arb_mat(n, len(order))
    for c, j in enumerate(order):
        for i in range(n):
            out[i, c] = X[i, j]
    return out


def pinv_solve(H: Any, rhs: Any, Q: ArbMatrix | None = None, sigma: Any = 0, rcut: float = 1e-15,
               dps: int | None = None) -> np.ndarray:
    """``A^+ rhs`` for ``A = H + sigma Q Q'`` symmetric, eigenvalues below ``rcut max |lambda|``
    treated as zero (the eigen-decomposition of :func:`symmetric_eig`; a cluster's block is
    solved as a whole)."""
    dps = mpmath.mp.dps if dps is None else dps
    bits = bits_for(dps)
    Ha = H if isinstance(H, ArbMatrix) else to_arb(H, bits)
    with _flint_prec(bits):
        from flint import arb, arb_mat

        A = Ha.mat
        if Q is not None:
            A = (A + arb(mpmath.mpf(sigma)) * (Q.mat * Q.mat.transpose())).mid()
        ref = _refine(ArbMatrix(A, bits), dps)
        b = to_arb(np.asarray(rhs), bits).mat
        y = ref.X.transpose() * b
        lmax = max(float(np.max(np.abs(ref.lam))), 1e-300)
        z = arb_mat(y.nrows(), 1)
        for group in ref.clusters:
            if abs(float(np.mean(ref.lam[group]))) <= rcut * lmax:
                continue
            if len(group) == 1:
                i = group[0]
                z[i, 0] = y[i, 0] / (ref.S[i, i] / (1 - ref.R[i, i]))
            else:
                B = _cluster_block(ref, group)
                zc = B.solve(arb_mat([[y[i, 0]] for i in group]), nonstop=True)
                for a, i in enumerate(group):
                    z[i, 0] = zc[a, 0]
        return to_mp(ref.X * z)[:, 0]


# --------------------------------------------------------------------------- orthonormal bases


def orthonormal_basis(T: Any, rtol: float, scale: Any = 0, dps: int | None = None
                      ) -> ArbMatrix | None:
    """An orthonormal basis (n, r) of the column span of ``T`` (n, s), or ``None`` if ``r = 0``.

    The rank: singular values of float64's SVD of ``T`` above ``rtol max(s_max, scale)`` (``rtol``
    is clamped to at least ``1e-12``: float64 cannot resolve smaller ones).  The basis: ``T W`` for
    the kept right singular vectors ``W`` (divided by the singular values), orthonormalised in
    high precision by Newton--Schulz sweeps ``Q <- Q (3 I - Q'Q) / 2`` until ``|I - Q'Q|`` is below
    ``10^-dps``.
    """
    T = np.asarray(T)
    n, s = T.shape
    if s == 0:
        return None
    dps = mpmath.mp.dps if dps is None else dps
    bits = bits_for(dps)
    Tf = np.array(T, dtype=float)
    _, sv, Wt = np.linalg.svd(Tf, full_matrices=False)
    if sv.size == 0 or sv[0] == 0:
        return None
    keep = sv > max(rtol, 1e-12) * max(sv[0], float(abs(scale)))
    if not np.any(keep):
        return None
    W = Wt[keep].T / sv[keep]
    from flint import arb_mat

    with _flint_prec(bits):
        Ta = to_arb(T, bits).mat
        Q = (Ta * to_arb(W, bits).mat).mid()
        r = Q.ncols()
        three = arb_mat(r, r)
        for i in range(r):
            three[i, i] = 3
        want = 10.0 ** -dps
        for _ in range(12):
            G = Q.transpose() * Q
            Gf = _to_float(G)
            err = float(np.max(np.abs(Gf - np.eye(r))))
            if err <= want:
                break
            Q = (Q * (three - G) * 0.5).mid()
        return ArbMatrix(Q, bits)
