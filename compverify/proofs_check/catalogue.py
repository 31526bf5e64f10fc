"""Equiangular tight frames one can build, which (d, M) have one, and the sign-pattern test.

Real ETFs of M unit vectors in R^d (SPEC A4) built here at any precision:

* ``simplex`` -- the regular simplex, any d, M = d + 1 (Gram ``(1 + 1/d) I - J/d``);
* ``icosahedral`` -- the 6 diagonals of the icosahedron in R^3, coordinates ``(0, +-1, phi)`` and
  cyclic permutations;
* ``paley(q)`` -- from the Paley conference matrix of ``q = 1 mod 4``, a prime or a prime square
  (9, 25, 49, in GF(p)[x]/(x^2 - n)): M = q + 1, d = M/2, Gram ``I + C / sqrt(q)``;
* Naimark complements of all of these: Gram ``(M/(M-d)) (I - (d/M) G)``, an ETF in R^(M-d).

Vectors are recovered from a Gram matrix by its eigendecomposition in mpmath at the requested
precision. :func:`existence` answers from necessary conditions and a table of constructions.

>>> etf = lookup(3, 4, dps=30)
>>> etf.name
'simplex'
>>> existence(3, 7)["status"]
'does not exist'
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.validate import check_dps, check_positive_int

__all__ = ["ETF", "simplex", "icosahedral", "paley", "naimark_complement", "lookup", "existence",
           "sign_pattern_test", "gram_to_vectors", "PALEY_PRIMES"]

_GUARD = 10


@dataclass(frozen=True)
class ETF:
    """An ETF: ``name``, ``d``, ``M``, unit rows ``vectors`` ((M, d) object array of mpf at ``dps``),
    ``gram_description`` (how its Gram is defined exactly) and ``dps``."""

    name: str
    d: int
    M: int
    vectors: np.ndarray
    gram_description: str
    dps: int

    def as_float(self) -> np.ndarray:
        return np.array(self.vectors.tolist(), dtype=float)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, isqrt(n) + 1))


#: prime squares q = p^2 <= 49 with their field GF(p^2) = GF(p)[x]/(x^2 - n), n a non-residue mod p
_SQUARES = {9: (3, 2), 25: (5, 2), 49: (7, 3)}
#: q = 1 mod 4, q + 1 <= 50, a prime or a prime square: the Paley ETFs built here
PALEY_PRIMES = tuple(q for q in range(5, 50)
                     if q % 4 == 1 and (_is_prime(q) or q in _SQUARES))


def gram_to_vectors(G: mpmath.matrix, d: int, dps: int) -> np.ndarray:
    """Unit rows ``U`` (M, d) with ``U U' = G`` for a PSD Gram of rank d (eigendecomposition)."""
    with mpmath.workdps(dps + _GUARD):
        E, Q = mpmath.eigsy(G)
        M = G.rows
        order = sorted(range(M), key=lambda i: -E[i])[:d]
        U = np.empty((M, d), dtype=object)
        for c, i in enumerate(order):
            lam = mpmath.sqrt(max(E[i], 0))
            for r in range(M):
                U[r, c] = Q[r, i] * lam
        for r in range(M):
            n = mpmath.sqrt(sum(x * x for x in U[r]))
            U[r] = [x / n for x in U[r]]
    with mpmath.workdps(dps):
        return np.vectorize(lambda x: +x, otypes=[object])(U)


def simplex(d: int, dps: int = 30) -> ETF:
    """The regular simplex: ``d + 1`` unit vectors in R^d with pairwise inner products ``-1/d``."""
    d = check_positive_int(d, "d")
    M = d + 1
    with mpmath.workdps(dps + _GUARD):
        G = mpmath.matrix(M, M)
        for i in range(M):
            for j in range(M):
                G[i, j] = mpmath.mpf(1) if i == j else -mpmath.mpf(1) / d
        U = gram_to_vectors(G, d, dps)
    return ETF("simplex", d, M, U, "G = (1 + 1/d) I - J/d", dps)


def icosahedral(dps: int = 30) -> ETF:
    """The 6 diagonals of the icosahedron: ``(0, +-1, phi)`` and its cyclic permutations."""
    with mpmath.workdps(dps + _GUARD):
        phi = (1 + mpmath.sqrt(5)) / 2
        raw = [(0, 1, phi), (0, -1, phi), (1, phi, 0), (-1, phi, 0), (phi, 0, 1), (phi, 0, -1)]
        n = mpmath.sqrt(1 + phi**2)
        U = np.array([[mpmath.mpf(x) / n for x in row] for row in raw], dtype=object)
    with mpmath.workdps(dps):
        U = np.vectorize(lambda x: +x, otypes=[object])(U)
    return ETF("icosahedral", 3, 6, U, "|G_jk| = 1/sqrt(5), j != k", dps)


def _legendre(a: int, q: int) -> int:
    a %= q
    if a == 0:
        return 0
    return 1 if pow(a, (q - 1) // 2, q) == 1 else -1


def _field(q: int) -> tuple[list, object]:
    """The elements of GF(q) and its quadratic character, for q prime or in ``_SQUARES``."""
    if _is_prime(q):
        return list(range(q)), lambda a: _legendre(a, q)
    p, n = _SQUARES[q]  # a + b x with x^2 = n

    def mul(u, v):
        return ((u[0] * v[0] + n * u[1] * v[1]) % p, (u[0] * v[1] + u[1] * v[0]) % p)

    def chi(u):
        if u == (0, 0):
            return 0
        r, e, base = (1, 0), (q - 1) // 2, u
        while e:  # u^((q-1)/2) = +-1 in GF(q)
            if e & 1:
                r = mul(r, base)
            base = mul(base, base)
            e >>= 1
        return 1 if r == (1, 0) else -1

    return [(a, b) for a in range(p) for b in range(p)], chi


def paley_conference(q: int) -> np.ndarray:
    """The symmetric conference matrix of order ``q + 1`` for ``q = 1 mod 4`` prime or a prime
    square up to 49 (Paley 1933): ``C_0j = C_j0 = 1``, ``C_ij = chi(a_i - a_j)``."""
    if q not in PALEY_PRIMES and not (_is_prime(q) and q % 4 == 1):
        raise CompverifyError(f"Paley ETFs are built here for q = 1 mod 4 prime, or q in "
                              f"{sorted(_SQUARES)}; got q = {q}")
    elems, chi = _field(q)
    if _is_prime(q):
        diff = lambda u, v: (u - v) % q  # noqa: E731
    else:
        p = _SQUARES[q][0]
        diff = lambda u, v: ((u[0] - v[0]) % p, (u[1] - v[1]) % p)  # noqa: E731
    C = np.zeros((q + 1, q + 1), dtype=int)
    C[0, 1:] = 1
    C[1:, 0] = 1
    for i, a in enumerate(elems):
        for j, b in enumerate(elems):
            C[i + 1, j + 1] = chi(diff(a, b))
    return C


def paley(q: int, dps: int = 30) -> ETF:
    """Paley ETF: ``M = q + 1`` vectors in ``R^(M/2)`` with Gram ``I + C/sqrt(q)``."""
    C = paley_conference(q)
    M, d = q + 1, (q + 1) // 2
    with mpmath.workdps(dps + _GUARD):
        a = 1 / mpmath.sqrt(q)
        G = mpmath.matrix(M, M)
        for i in range(M):
            for j in range(M):
                G[i, j] = mpmath.mpf(1) if i == j else a * int(C[i, j])
        U = gram_to_vectors(G, d, dps)
    return ETF(f"paley({q})", d, M, U, f"G = I + C/sqrt({q}), C the Paley conference matrix", dps)


def naimark_complement(etf: ETF, dps: int | None = None) -> ETF:
    """The Naimark complement: an ETF of ``M`` vectors in ``R^(M - d)``."""
    dps = etf.dps if dps is None else dps
    M, d = etf.M, etf.d
    if M - d < 1:
        raise CompverifyError(f"no Naimark complement for M = {M} <= d = {d}")
    with mpmath.workdps(dps + _GUARD):
        U = etf.vectors
        G = mpmath.matrix(M, M)
        c = mpmath.mpf(M) / (M - d)
        for i in range(M):
            for j in range(M):
                g = sum(x * y for x, y in zip(U[i], U[j], strict=True))
                G[i, j] = c * ((1 if i == j else 0) - mpmath.mpf(d) / M * g)
        V = gram_to_vectors(G, M - d, dps)
    return ETF(f"naimark({etf.name})", M - d, M, V,
               f"G' = (M/(M-d)) (I - (d/M) G) of {etf.name}", dps)


def _constructions(d: int, M: int):
    """Builders for (d, M), best first (direct constructions before complements)."""
    out = []
    if M == d + 1:
        out.append(lambda dps: simplex(d, dps))
    if (d, M) == (3, 6):
        out.append(lambda dps: icosahedral(dps))
    q = M - 1
    if 2 * d == M and q in PALEY_PRIMES:
        out.append(lambda dps, q=q: paley(q, dps))
    dc = M - d  # the complement's dimension
    if dc >= 2 and dc < M:
        if M == dc + 1:
            out.append(lambda dps: naimark_complement(simplex(dc, dps)))
        if (dc, M) == (3, 6):
            out.append(lambda dps: naimark_complement(icosahedral(dps)))
    return out


def lookup(d: int, M: int, dps: int = 30) -> ETF | None:
    """The catalogue's ETF for ``(d, M)`` at ``dps`` digits, or ``None`` if it builds none."""
    d = check_positive_int(d, "d")
    M = check_positive_int(M, "M")
    dps = check_dps(dps)
    if M <= d or d < 2:
        return None
    builders = _constructions(d, M)
    return builders[0](dps) if builders else None


# Real ETFs with M <= 50 and d <= M/2 known to exist (their Naimark complements (M - d, M) exist too).
# Sources: regular simplices (every d); Paley conference matrices, q = 5, 9, 13, 17, 25, 29, 37, 41,
# 49 (Paley 1933; Strohmer & Heath 2003, "Grassmannian frames"); (6, 16), (7, 28), (15, 36) from
# strongly regular graphs / Steiner systems (Fickus & Mixon, "Tables of the existence of equiangular
# tight frames", arXiv:1504.00253, Table 1; Waldron, "An introduction to finite tight frames", 2018).
# (23, 46): from Mathon's symmetric conference matrix of order 46 (Mathon 1978, "Symmetric
# conference matrices of order pq^2 + 1"), listed in Fickus & Mixon's table.
_KNOWN = {(3, 6), (5, 10), (6, 16), (7, 14), (7, 28), (9, 18), (13, 26), (15, 30), (15, 36),
          (19, 38), (21, 42), (23, 46), (25, 50)}


def existence(d: int, M: int) -> dict:
    """Whether a real ETF of ``M`` vectors in ``R^d`` exists: ``status`` and ``reason``.

    ``status`` is ``exists``, ``does not exist``, ``not applicable`` (M <= d) or ``unknown here``
    (not settled by the rules and table encoded here; see Fickus & Mixon, arXiv:1504.00253).
    """
    d = check_positive_int(d, "d")
    M = check_positive_int(M, "M")
    if M <= d:
        return {"status": "not applicable", "reason": f"M = {M} <= d = {d}: an orthonormal set "
                                                      "or a basis, not an overcomplete frame"}
    if M == d + 1:
        return {"status": "exists", "reason": "regular simplex"}
    if d == 1:
        return {"status": "exists", "reason": "M scalars +-1 (trivial, coherence 1)"}
    if M > d * (d + 1) // 2 or M > (M - d) * (M - d + 1) // 2:
        # Gerzon bound, for the ETF and for its Naimark complement (Lemmens & Seidel 1973)
        return {"status": "does not exist", "reason": "Gerzon bound M <= d(d+1)/2 (for the frame "
                                                      "or its Naimark complement)"}
    if M == 2 * d:
        # Sustik, Tropp, Dhillon & Heath 2007, Thm A: M = 2 mod 4 and M - 1 a sum of two squares
        if M % 4 != 2 or not any(isqrt(M - 1 - a * a) ** 2 == M - 1 - a * a
                                 for a in range(isqrt(M - 1) + 1)):
            return {"status": "does not exist", "reason": "M = 2d needs M = 2 mod 4 and M - 1 a "
                                                          "sum of two squares (Sustik et al. 2007)"}
    else:
        # Sustik et al. 2007, Thm A: for M != 2d, 1/alpha = sqrt(d(M-1)/(M-d)) is an odd integer;
        # it applies to the frame and to its Naimark complement (M - d, M), which exist together
        for dd in (d, M - d):
            inv2, rem = divmod(dd * (M - 1), M - dd)
            r = isqrt(inv2)
            if rem or r * r != inv2 or r % 2 == 0:
                return {"status": "does not exist",
                        "reason": f"1/alpha = sqrt(d'(M-1)/(M-d')) must be an odd integer for "
                                  f"d' = {dd} (Sustik et al. 2007; d' = M - d: the complement)"}
    if (d, M) in _KNOWN or (M - d, M) in _KNOWN:
        return {"status": "exists", "reason": "in the table of known constructions (or its "
                                              "Naimark complement)"}
    return {"status": "unknown here", "reason": "not settled by the rules and table encoded here "
                                                "(see Fickus & Mixon, arXiv:1504.00253)"}


def sign_pattern_test(S: np.ndarray, d: int, dps: int = 30) -> dict:
    """Does the sign pattern ``S`` (``S_jj = 0``, ``S_jk = +-1`` symmetric) carry an ETF in R^d?

    It does exactly when ``I + alpha S`` (``alpha`` the Welch bound) has eigenvalue ``0`` with
    multiplicity ``M - d`` and ``M/d`` with multiplicity ``d`` (SPEC A4). Eigenvalues in mpmath at
    ``dps`` digits; an eigenvalue counts as equal when within ``10^(-dps/2)``.
    """
    S = np.asarray(S)
    M = S.shape[0]
    if S.shape != (M, M) or M < 2:
        raise CompverifyError(f"sign pattern must be a square matrix of order >= 2, got {S.shape}")
    if np.any(np.diag(S) != 0) or np.any(np.abs(S[~np.eye(M, dtype=bool)]) != 1) \
            or np.any(S != S.T):
        raise CompverifyError("sign pattern must be symmetric with zero diagonal and +-1 elsewhere")
    if not 1 <= d < M:
        raise CompverifyError(f"need 1 <= d < M = {M}, got d = {d}")
    with mpmath.workdps(dps + _GUARD):
        alpha = mpmath.sqrt(mpmath.mpf(M - d) / (d * (M - 1)))
        A = mpmath.matrix(M, M)
        for i in range(M):
            for j in range(M):
                A[i, j] = (1 if i == j else 0) + alpha * int(S[i, j])
        E = mpmath.eigsy(A, eigvals_only=True)
        tol = mpmath.mpf(10) ** (-(dps // 2))
        zeros = sum(1 for e in E if abs(e) <= tol)
        tops = sum(1 for e in E if abs(e - mpmath.mpf(M) / d) <= tol)
    return {"carries_etf": zeros == M - d and tops == d, "zero_eigenvalues": zeros,
            "top_eigenvalues": tops, "alpha": alpha, "tolerance": tol}
