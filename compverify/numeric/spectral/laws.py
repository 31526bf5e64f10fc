"""The scalar laws of the weight entries: rademacher ``m +- s``, uniform, gaussian ``N(m, s^2)``.

Each law gives what the frequency rule needs of one coordinate: ``f(w1, t) = E exp(-(w1 w_k +
t)^2 / 2)``, its log at ``t = 0``, the even and odd parts ``S``, ``O`` of the tilted law's
log-MGF without cancellation in float64 (``eo``, ``o3``), the same in mpmath/arb (``f_mp``,
``pair_mp``) and the moments the closed-form terms use.  The Rademacher law also finds the atoms
near a direction (:meth:`_Rademacher.near_atoms`, used by :mod:`.atoms`).
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
from scipy import special

from compverify.numeric.spectral.arith import _MpArith
from compverify.numeric.spectral.stable import (
    _atanh_minus_x,
    _logcosh,
    _tanh_minus_x,
    _trunc_moments,
)

LAWS = ("rademacher", "uniform", "gaussian")
_SQRT3 = math.sqrt(3)
_SMALL = 0.5  # |beta| max|w| below which the uniform law's tilted Taylor series is used
_TAYLOR = 22  # terms of that series: 0.5^22 / 22! ~ 1e-28
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


class _Law:
    """One coordinate ``w_k``: float64 even/odd parts, mpmath coordinate factors."""

    #: whether the squaring error model holds for every activation (module docstring); for the
    #: uniform law the box's edges make ridges in the frequency integrand that only an
    #: exponentially decaying sine density suppresses (see SpectralTarget.squaring)
    squaring = True
    m: float
    s: float

    def log_f0(self, w1: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _constants_mp(self, A: Any, make: Any) -> Any:
        """``make()`` (the law's constants in the arithmetic ``A``), once per working precision of
        ``A`` and of mpmath: converting them at every node was a third of the rule's time."""
        cache = self.__dict__.setdefault("_constants_cache", {})
        key = (A.name, A.prec(), mpmath.mp.prec)
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:  # pragma: no cover - abstract
        """``(E, O, E', O', E'', O'', log f(w1, t), log f(w1, -t))`` at ``beta`` (``t = beta /
        w1``): even and odd parts of ``log E_tilt exp(-beta w)`` with their derivatives, and the
        coordinate factor's logarithm itself; ``w1`` is the first axis of ``beta``."""
        raise NotImplementedError

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:  # pragma: no cover - abstract
        """``(f, f'/f, f''/f)`` of ``f(w1, t) = E exp(-(w1 w + t)^2/2)`` (derivatives in t), in
        the arithmetic ``A`` (mpmath or arb)."""
        raise NotImplementedError

    def expect_mp(self, fn: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def g01_mp(self, lam: Any) -> tuple:
        """``(E exp(-lam w^2), E w^2 exp(-lam w^2))``."""
        return self.gk_mp(lam, 0), self.gk_mp(lam, 2)

    def bound(self) -> float:
        """``max |w|`` over the support (inf for the gaussian law)."""
        return math.inf

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        """``max |w|`` over where the law tilted by ``exp(-w1^2 w^2/2)`` has its mass (float64): the
        support's bound, less for a continuous law at large ``w1`` (there the tilt concentrates it
        within a few ``1/w1`` of the support's point nearest 0)."""
        return np.full(np.shape(w1), self.bound())

    def one_minus_f0_mp(self, w1: Any) -> Any:
        """``1 - f(w1, 0) = E[1 - exp(-w1^2 w^2/2)]`` without cancellation at small ``w1``."""
        return self.expect_mp(lambda w: -mpmath.expm1(-w1 * w1 * w * w / 2))

    def atom_gap(self, V: np.ndarray) -> np.ndarray:
        """``1 - max |cos(v, w)|`` over the law's atoms ``w`` (inf: a continuous law)."""
        return np.full(len(V), np.inf)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        """``(O - beta lam, O' - lam, lam)``: the odd part ``O`` of :meth:`eo` less its linear term
        and its derivative less ``lam = O'(0) = -E_tilt w`` (per ``w1``), both without
        cancellation at small ``beta`` (they are ``O(beta^3)`` and ``O(beta^2)``); the ``z|z|``
        part needs them, its integrand is third order near the axes."""
        raise NotImplementedError  # pragma: no cover - abstract

    def moments_mp(self) -> tuple:
        """``(E w, E w^2)`` of the law the float parameters describe, at mpmath's precision."""
        raise NotImplementedError  # pragma: no cover - abstract

    def gk_mp(self, lam: Any, k: int) -> Any:
        """``E w^k exp(-lam w^2)``, ``k >= 0``."""
        return self.expect_mp(lambda w: w**k * mpmath.exp(-lam * w * w))


class _Rademacher(_Law):
    def __init__(self, m: float, s: float) -> None:
        self.m, self.s = m, s

    def bound(self) -> float:
        return abs(self.m) + self.s

    def atom_gap(self, V: np.ndarray) -> np.ndarray:
        # atoms m 1 + s eps; with j entries +1, <eps, v> is largest with the +1 on the j largest
        # v_k and smallest with them on the j smallest, and |w| depends on j only
        m, s = self.m, self.s
        d = V.shape[1]
        j = np.arange(d + 1)
        norm_w = np.sqrt(np.maximum(d * (m * m + s * s) + 2 * m * s * (2 * j - d), 0.0))
        out = np.empty(len(V))
        for r, v in enumerate(V):
            top = np.concatenate([[0.0], np.cumsum(np.sort(v)[::-1])])   # sum of the j largest
            p1, nv = v.sum(), np.linalg.norm(v)
            hi, lo = m * p1 + s * (2 * top - p1), m * p1 + s * (p1 - 2 * top[::-1])
            with np.errstate(divide="ignore", invalid="ignore"):
                cos = np.where(norm_w > 0, np.maximum(np.abs(hi), np.abs(lo)) / (norm_w * nv), 0)
            out[r] = 1 - np.max(cos)
        return out

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        # the tilt exp(-w1^2 w^2/2) leaves the atom nearer 0 alone once the other's weight is
        # below e^-40 of it (at m = s that atom is 0, where every Taylor remainder vanishes)
        lo, hi = sorted((abs(self.m - self.s), abs(self.m + self.s)))
        w1 = np.asarray(w1, dtype=float)
        return np.where(w1 * w1 * (hi * hi - lo * lo) / 2 > 40, lo, hi)

    def near_atoms(self, v: np.ndarray, gap: float, cap: int) -> np.ndarray | None:
        """The atoms ``m 1 + s eps`` with ``1 - |cos(v, atom)| < gap``, shape (k, d); ``None`` if
        there are more than ``cap``.

        With ``j`` entries +1 on the set ``P``, ``<atom, v> = m p1 + s (2 sum_P v - p1)`` and
        ``|atom|`` depends on ``j`` only, so the condition is ``sum_P v >= tau_j`` (parallel) or, on
        the complement, ``sum_(not P) v >= p1 - tau'_j`` (anti-parallel): a depth-first search over
        ``v`` sorted in decreasing order, pruned by the largest sum the remaining entries allow.
        """
        m, s = self.m, self.s
        d = v.size
        order = np.argsort(-v, kind="stable")
        vs = v[order]
        prefix = np.concatenate([[0.0], np.cumsum(vs)])
        p1, nv = float(v.sum()), float(np.linalg.norm(v))
        found: list[np.ndarray] = []

        def subsets(size: int, tau: float) -> bool:
            """Append the index sets of ``size`` entries with sum >= tau; False when over cap."""
            chosen: list[int] = []

            def rec(i: int, need: int, total: float) -> bool:
                if need == 0:
                    if total >= tau:
                        found.append(np.array(chosen, dtype=int))
                        return len(found) <= 2 * cap
                    return True
                if d - i < need or total + prefix[i + need] - prefix[i] < tau:
                    return True
                chosen.append(i)
                ok = rec(i + 1, need - 1, total + vs[i])
                chosen.pop()
                return ok and rec(i + 1, need, total)

            return rec(0, size, 0.0)

        atoms = []
        slack = 1e-12 * (abs(m) + s) * nv * math.sqrt(d)  # rounding: keep borderline atoms
        for j in range(d + 1):
            norm_a = math.sqrt(max(d * (m * m + s * s) + 2 * m * s * (2 * j - d), 0.0))
            if norm_a == 0:
                continue
            need = (1 - gap) * norm_a * nv
            # parallel: m p1 + s (2 S - p1) >= need; anti-parallel: <= -need, i.e. the d - j
            # entries left at -1 have sum >= p1 - (s p1 - m p1 - need) / (2 s)
            for size, tau, plus in ((j, (need - m * p1 + s * p1) / (2 * s) - slack, True),
                                    (d - j, p1 - (s * p1 - m * p1 - need) / (2 * s) - slack, False)):
                found.clear()
                if not subsets(size, tau):
                    return None
                for idx in found:
                    eps = -np.ones(d) if plus else np.ones(d)
                    eps[order[idx]] = 1.0 if plus else -1.0
                    atoms.append(m + s * eps)
                if len(atoms) > 2 * cap:
                    return None
        if not atoms:
            return np.zeros((0, d))
        out = np.unique(np.array(atoms), axis=0)
        return None if len(out) > cap else out

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        m, s = self.m, self.s
        return np.logaddexp(-(w1 * (m + s)) ** 2 / 2, -(w1 * (m - s)) ** 2 / 2) - math.log(2)

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # E_tilt exp(-beta w) = exp(-beta m) cosh(beta s - y) / cosh(y), y = -w1^2 m s
        m, s = self.m, self.s
        y = -(w1.reshape((-1,) + (1,) * (beta.ndim - 1)) ** 2) * m * s
        x = beta * s
        small = np.abs(x) < 0.5
        xs = np.where(small, x, 0.0)
        sech_y = 2 * np.exp(-np.abs(y)) / (1 + np.exp(-2 * np.abs(y)))
        lm, lp = _logcosh(x - y), _logcosh(x + y)
        E = np.where(small, 0.5 * np.log1p((np.sinh(xs) * sech_y) ** 2),
                     0.5 * (lm + lp) - _logcosh(y))
        O = -beta * m + np.where(small, -np.arctanh(np.tanh(y) * np.tanh(xs)), 0.5 * (lm - lp))
        tm, tp = np.tanh(x - y), np.tanh(x + y)
        E1 = s / 2 * (tm + tp)
        O1 = -m + s / 2 * (tm - tp)
        E2 = s * s / 2 * ((1 - tm * tm) + (1 - tp * tp))
        O2 = s * s / 2 * ((1 - tm * tm) - (1 - tp * tp))
        w1b = w1.reshape((-1,) + (1,) * (beta.ndim - 1))
        t = beta / w1b
        lf = [np.logaddexp(-(w1b * (m + s) + u) ** 2 / 2, -(w1b * (m - s) + u) ** 2 / 2)
              - math.log(2) for u in (t, -t)]
        return E, O, E1, O1, E2, O2, lf[0], lf[1]

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # O = -beta m - atanh(tanh(y) tanh(x)), x = beta s: O - beta lam = -(atanh(z) - z) -
        # tanh(y) (tanh x - x), z = tanh(y) tanh(x); O' - lam = s sinh(x)^2 tanh(y) /
        # (cosh(x - y) cosh(x + y)) from tanh(a) - tanh(b) = sinh(a - b)/(cosh a cosh b)
        m, s = self.m, self.s
        y = -(w1.reshape((-1,) + (1,) * (beta.ndim - 1)) ** 2) * m * s
        x = beta * s
        t = np.tanh(y)
        lam = -m - s * t
        # the atanh form cancels nothing when |x| or |tanh y| is small (then |z| < 0.5)
        small = (np.abs(x) < 0.5) | (np.abs(t) < 0.5)
        xs = np.where(small, x, 0.0)
        o3 = np.where(small, -(_atanh_minus_x(t * np.tanh(xs)) + t * _tanh_minus_x(xs)),
                      O - beta * lam)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            ratio = np.exp(2 * (_logcosh(x) + np.log(np.abs(np.tanh(x)))) - _logcosh(x - y)
                           - _logcosh(x + y))
        return o3, s * ratio * t, lam

    def moments_mp(self) -> tuple:
        hi, lo = self.atoms_in(_MpArith)
        return (hi + lo) / 2, (hi * hi + lo * lo) / 2

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        ys = [w1 * a + t for a in self.atoms_in(A)]
        es = [A.exp(-y * y / 2) for y in ys]
        f = (es[0] + es[1]) / 2
        f1 = -(ys[0] * es[0] + ys[1] * es[1]) / 2
        f2 = ((ys[0] ** 2 - 1) * es[0] + (ys[1] ** 2 - 1) * es[1]) / 2
        return f, f1 / f, f2 / f

    def expect_mp(self, fn: Any) -> Any:
        return (fn(mpmath.mpf(self.m) + self.s) + fn(mpmath.mpf(self.m) - self.s)) / 2

    def atoms_in(self, A: Any) -> tuple:
        """The two values ``m + s``, ``m - s`` in the arithmetic ``A`` at its working precision.

        Summed there, not in float64: every multiprecision part (``E|w|``, the class sum of ``C``,
        the atoms taken exactly) must describe the same law, and ``fl(m + s)`` differs from
        ``m + s`` by up to 1e-17 relative (measured: a 3.5e-17 error in ``h`` at d = 13).
        """
        def make() -> tuple:
            m, s = A.num(self.m), A.num(self.s)
            return m + s, m - s

        return self._constants_mp(A, make)

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)`` for independent entries: the mean over four sign pairs."""
        atoms = self.atoms_in(A)
        ys = [w1 * a + w2 * b for a in atoms for b in atoms]
        return A.fsum(A.exp(-y * y / 2) for y in ys) / 4  # y * y: arb's y ** 2 is nan at y <= 0


class _Gaussian(_Law):
    """``N(m, s^2)`` entries; ``m_exact``, ``s_exact`` (optional, zero-argument functions returning
    an mpf) are the mean and scale to every digit when ``m``, ``s`` are roundings (``|mu| /
    sqrt(d)`` in the rotated frame of :class:`SpectralTarget`, the default scale ``1/sqrt(d)``, a
    decimal scale), so the multiprecision rule describes the same law as the Gaussian targets'
    closed forms."""

    def __init__(self, m: float, s: float, m_exact: Any = None, s_exact: Any = None) -> None:
        self.m, self.s = m, s
        self._m_exact, self._s_exact = m_exact, s_exact

    def _m_mp(self) -> Any:
        return mpmath.mpf(self.m) if self._m_exact is None else self._m_exact()

    def _s_mp(self) -> Any:
        return mpmath.mpf(self.s) if self._s_exact is None else self._s_exact()

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        k = 1 + (w1 * self.s) ** 2
        return -0.5 * np.log(k) - (w1 * self.m) ** 2 / (2 * k)

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        m, s = self.m, self.s
        k = 1 + (w1.reshape((-1,) + (1,) * (beta.ndim - 1)) * s) ** 2
        k = np.broadcast_to(k, beta.shape)
        w1b = w1.reshape((-1,) + (1,) * (beta.ndim - 1))
        t = beta / w1b
        lf = [-0.5 * np.log(k) - (w1b * m + u) ** 2 / (2 * k) for u in (t, -t)]
        return (beta**2 * s * s / (2 * k), -m * beta / k, beta * s * s / k, -m / k + 0 * beta,
                s * s / k + 0 * beta, 0 * beta, lf[0], lf[1])

    def _ms_mp(self, A: Any) -> tuple:
        return self._constants_mp(A, lambda: (A.num(self._m_mp()), A.num(self._s_mp())))

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        m, s = self._ms_mp(A)
        k = 1 + (w1 * s) ** 2
        y = w1 * m + t
        f = A.exp(-y * y / (2 * k)) / A.sqrt(k)
        g = -y / k
        return f, g, g * g - 1 / k

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)``: ``y = w1 w + w2 w' ~ N(m (w1 + w2), s^2 (w1^2 + w2^2))``."""
        m, s = self._ms_mp(A)
        k = 1 + s**2 * (w1 * w1 + w2 * w2)
        y = m * (w1 + w2)
        return A.exp(-y * y / (2 * k)) / A.sqrt(k)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # O = -m beta / k is linear in beta
        k = 1 + (w1.reshape((-1,) + (1,) * (beta.ndim - 1)) * self.s) ** 2
        return 0 * beta, 0 * beta, -self.m / k

    def moments_mp(self) -> tuple:
        m = self._m_mp()
        return m, m * m + self._s_mp() ** 2

    def gk_mp(self, lam: Any, k: int) -> Any:
        # the tilted law is N(m/c, s^2/c), c = 1 + 2 lam s^2, of mass E exp(-lam w^2)
        m, s2 = self._m_mp(), self._s_mp() ** 2
        c = 1 + 2 * lam * s2
        g0 = mpmath.exp(-lam * m * m / c) / mpmath.sqrt(c)
        mu, var = m / c, s2 / c
        mom = [mpmath.mpf(1), mu]
        for q in range(2, k + 1):  # moments of N(mu, var): E y^q = mu E y^(q-1) + (q-1) var E y^(q-2)
            mom.append(mu * mom[q - 1] + (q - 1) * var * mom[q - 2])
        return g0 * mom[k]

    def one_minus_f0_mp(self, w1: Any) -> Any:
        k = w1 * w1 * self._s_mp() ** 2
        m = self._m_mp()
        return -mpmath.expm1(-(w1 * m) ** 2 / (2 * (1 + k)) - mpmath.log1p(k) / 2)


class _Uniform(_Law):
    squaring = False

    def __init__(self, m: float, s: float) -> None:
        self.m, self.s = m, s
        half = _SQRT3 * s
        self.lo, self.hi = m - half, m + half
        self.a = (self.hi - self.lo) / 2  # the half-width the float endpoints describe

    def _a_mp(self) -> Any:
        # exact (a difference of two doubles halved), whatever mpmath's working precision: the
        # arb loop calls this outside mpmath's precision context; computed once
        if "_a_exact" not in self.__dict__:
            with mpmath.workprec(2200):
                self._a_exact = (mpmath.mpf(self.hi) - mpmath.mpf(self.lo)) / 2
        return self._a_exact

    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def tilted_reach(self, w1: np.ndarray) -> np.ndarray:
        # beyond 8 tilted standard deviations the tilted density is below e^-32 of its peak
        near = abs(min(max(0.0, self.lo), self.hi))
        return np.minimum(self.bound(), near + 8.0 / np.asarray(w1))

    def _tilted(self, w1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per ``w1``: ``log f(w1, 0)``, tilted moments ``E_tilt w^j`` (j <= TAYLOR+2), max|w|.

        Gauss-Legendre (48 nodes) on the support cut to 12 tilted standard deviations around
        the tilted mode, where the tilted density is a smooth Gaussian piece.
        """
        c = min(max(0.0, self.lo), self.hi)
        half = 12.0 / w1
        wl = np.maximum(self.lo, c - half)
        wr = np.minimum(self.hi, c + half)
        mid, rad = (wl + wr) / 2, (wr - wl) / 2
        nodes = mid[:, None] + rad[:, None] * _GL_NODES[None, :]
        logu = (np.log(rad[:, None] * _GL_WEIGHTS[None, :] / (2 * self.a))
                - (w1[:, None] * nodes) ** 2 / 2)
        logf0 = special.logsumexp(logu, axis=1)
        u = np.exp(logu - logf0[:, None])
        powers = nodes[:, :, None] ** np.arange(_TAYLOR + 3)[None, None, :]
        mom = np.einsum("ij,ijk->ik", u, powers)
        R = np.maximum(np.abs(wl), np.abs(wr))
        return logf0, mom, R

    def log_f0(self, w1: np.ndarray) -> np.ndarray:
        return self._tilted(np.asarray(w1, dtype=float))[0]

    def eo(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # each entry by one branch only (the series where |beta| max|w| <= _SMALL, else the
        # truncated-normal closed form): evaluating both on every entry cost 3 times as much
        logf0, mom, R = self._tilted(w1)
        beta = np.asarray(beta, dtype=float)
        full = np.broadcast_shapes(beta.shape, (len(w1),) + (1,) * (beta.ndim - 1))
        b = np.broadcast_to(beta, full)
        iw = np.broadcast_to(np.arange(len(w1)).reshape((-1,) + (1,) * (beta.ndim - 1)), full)
        small = np.abs(b) * R[iw] <= _SMALL
        out = [np.empty(full) for _ in range(8)]
        if small.any():
            bs, ws = b[small], iw[small]
            ser = self._eo_series(mom[ws], bs)
            t = bs / w1[ws]
            base = logf0[ws] - t * t / 2
            for o, v in zip(out, ser + (base + ser[0] + ser[1], base + ser[0] - ser[1]),
                            strict=True):
                o[small] = v
        large = ~small
        if large.any():
            with np.errstate(all="ignore"):
                closed = self._eo_closed(w1[iw[large]], b[large])
            for o, v in zip(out, closed, strict=True):
                o[large] = v
        return tuple(out)

    def o3(self, w1: np.ndarray, beta: np.ndarray, O: np.ndarray, O1: np.ndarray) -> tuple:
        # small beta: O = atanh(r), r = o/(1 + e) (:meth:`_eo_series`), lam = -mu_1; then
        # O - beta lam = (atanh r - r) + (o3 + mu_1 beta e)/(1 + e) and O' - lam = (r' + mu_1 -
        # mu_1 r^2)/(1 - r^2) with r' + mu_1 = (o3' (1 + e) + mu_1 e (1 + e) - o e')/(1 + e)^2,
        # o3 the odd series from beta^3 on: every term is a product of small quantities
        shape = (-1,) + (1,) * (beta.ndim - 1)
        _, mom, R = self._tilted(w1)
        small = np.abs(beta) * R.reshape(shape) <= _SMALL
        b = np.where(small, beta, 0.0)
        mu = [mom[:, j].reshape(shape) for j in range(_TAYLOR + 1)]
        fact = [math.factorial(j) for j in range(_TAYLOR + 1)]
        e = sum(mu[j] * b**j / fact[j] for j in range(2, _TAYLOR + 1, 2))
        e1 = sum(mu[j] * b ** (j - 1) / fact[j - 1] for j in range(2, _TAYLOR + 1, 2))
        o3 = -sum(mu[j] * b**j / fact[j] for j in range(3, _TAYLOR + 1, 2))
        o31 = -sum(mu[j] * b ** (j - 1) / fact[j - 1] for j in range(3, _TAYLOR + 1, 2))
        o = o3 - mu[1] * b
        r = o / (1 + e)
        ser = _atanh_minus_x(r) + (o3 + mu[1] * b * e) / (1 + e)
        rp = (o31 * (1 + e) + mu[1] * e * (1 + e) - o * e1) / (1 + e) ** 2
        dser = (rp - mu[1] * r * r) / (1 - r * r)
        lam = -mu[1]
        return np.where(small, ser, O - beta * lam), np.where(small, dser, O1 - lam), lam

    def moments_mp(self) -> tuple:
        lo, hi = mpmath.mpf(self.lo), mpmath.mpf(self.hi)
        return (lo + hi) / 2, (hi**3 - lo**3) / (6 * self._a_mp())

    def gk_mp(self, lam: Any, k: int) -> Any:
        lo, hi, a = mpmath.mpf(self.lo), mpmath.mpf(self.hi), self._a_mp()
        if lam * max(lo * lo, hi * hi) < 0.5:  # Taylor series in lam: terms below 0.5^n / n!
            out, term, n = mpmath.mpf(0), mpmath.mpf(1), 0
            while True:
                t = term * (hi ** (2 * n + k + 1) - lo ** (2 * n + k + 1)) / ((2 * n + k + 1) * 2 * a)
                out += t
                if abs(t) <= mpmath.eps * abs(out) and n > 2:
                    return out
                n += 1
                term *= -lam / n
        el, eh = mpmath.exp(-lam * lo * lo), mpmath.exp(-lam * hi * hi)
        # J_k = int_lo^hi w^k e^(-lam w^2) dw = (lo^(k-1) el - hi^(k-1) eh + (k-1) J_(k-2)) / (2 lam)
        # (by parts); here lam max w^2 >= 0.5, so the upward recurrence loses few digits
        with mpmath.extraprec(4 * k + 10):
            if k % 2 == 0:
                r = mpmath.sqrt(lam)
                J = mpmath.sqrt(mpmath.pi) * (mpmath.erf(r * hi) - mpmath.erf(r * lo)) / (2 * r)
            else:
                J = (el - eh) / (2 * lam)
            for q in range(k % 2 + 2, k + 1, 2):
                J = (lo ** (q - 1) * el - hi ** (q - 1) * eh + (q - 1) * J) / (2 * lam)
            return J / (2 * a)

    @staticmethod
    def _eo_series(mom: np.ndarray, beta: np.ndarray) -> tuple:
        # r(beta) = sum_j mu_j (-beta)^j / j! (row i of mom: the moments of entry i); e and o
        # its even and odd parts minus 1; every sum by Horner's rule in beta^2
        J = _TAYLOR
        fact = np.array([float(math.factorial(j)) for j in range(J + 1)])
        b2 = beta * beta

        def poly(rows: np.ndarray) -> np.ndarray:
            # sum_i rows[i] b2^i by Horner's rule
            acc = rows[-1]
            for row in rows[-2::-1]:
                acc = acc * b2 + row
            return acc

        c = np.ascontiguousarray((mom[:, : J + 1] / fact).T)  # c[j] = mu_j / j!
        e = b2 * poly(c[2::2])  # from j = 2: mu_0 = 1 enters as the exact 1 of 1 + e
        o = -beta * poly(c[1::2])

        def r_deriv(k: int) -> tuple[np.ndarray, np.ndarray]:
            # d^k r / dbeta^k at +beta and at -beta: (-1)^k sum_j mu_{j+k} x^j / j!, x = -+beta
            ck = np.ascontiguousarray((mom[:, k: J + 1 + k] / fact).T)
            ev, od = poly(ck[0::2]), poly(ck[1::2])
            return (-1) ** k * (ev - beta * od), (-1) ** k * (ev + beta * od)

        rp, rm = 1 + e + o, 1 + e - o
        E = 0.5 * np.log1p(2 * e + e * e - o * o)
        O = np.arctanh(o / (1 + e))
        (d1p, d1m), (d2p, d2m) = r_deriv(1), r_deriv(2)
        l1p, l1m = d1p / rp, d1m / rm
        l2p = d2p / rp - l1p**2
        l2m = d2m / rm - l1m**2
        return E, O, (l1p - l1m) / 2, (l1p + l1m) / 2, (l2p + l2m) / 2, (l2p - l2m) / 2

    def _eo_closed(self, w1: np.ndarray, beta: np.ndarray) -> tuple:
        # tilted at beta: y = w1 w + t with t = beta / w1 is a standard normal cut to [y1, y2]
        t = beta / w1
        lz0 = _trunc_moments(w1 * self.lo + 0 * t, w1 * self.hi + 0 * t)[0]
        lp, mp_, vp = _trunc_moments(w1 * self.lo + t, w1 * self.hi + t)
        lm, mm, vm = _trunc_moments(w1 * self.lo - t, w1 * self.hi - t)
        lrp = lp - lz0 + t * t / 2
        lrm = lm - lz0 + t * t / 2
        l1p, l1m = (t - mp_) / w1, (-t - mm) / w1
        l2p, l2m = vp / w1**2, vm / w1**2
        norm = 0.5 * math.log(2 * math.pi) - np.log(2 * self.a * w1)
        return ((lrp + lrm) / 2, (lrp - lrm) / 2, (l1p - l1m) / 2, (l1p + l1m) / 2,
                (l2p + l2m) / 2, (l2p - l2m) / 2, norm + lp, norm + lm)

    def _consts_mp(self, A: Any) -> tuple:
        """``lo``, ``hi``, ``2 a``, ``sqrt 2``, ``sqrt(2 pi)`` in the arithmetic ``A``."""
        def make() -> tuple:
            two = A.num(2)
            return (A.num(self.lo), A.num(self.hi), two * A.num(self._a_mp()), A.sqrt(two),
                    A.sqrt(2 * A.pi()))

        return self._constants_mp(A, make)

    def f_mp(self, w1: Any, t: Any, A: Any = _MpArith) -> tuple:
        lo, hi, two_a, r2, root = self._consts_mp(A)
        y1, y2 = w1 * lo + t, w1 * hi + t
        if y1 > 0:  # erfc of the smaller argument: no cancellation (either branch is exact)
            Z = (A.erfc(y1 / r2) - A.erfc(y2 / r2)) / 2
        else:
            Z = (A.erfc(-y2 / r2) - A.erfc(-y1 / r2)) / 2
        p1, p2 = A.exp(-y1 * y1 / 2) / root, A.exp(-y2 * y2 / 2) / root
        f = Z * root / (two_a * w1)
        return f, -(p1 - p2) / Z, (y1 * p1 - y2 * p2) / Z

    def pair_mp(self, w1: Any, w2: Any, A: Any = _MpArith) -> Any:
        """``E exp(-(w1 w + w2 w')^2/2)`` for independent entries (``w2`` signed).

        ``(1/(4 a^2 w1 w2))`` times the second difference over the corners of
        ``L(y) = sqrt(pi/2) |y| + l(y)``, ``l(y) = exp(-y^2/2) - sqrt(pi/2) |y| erfc(|y|/sqrt2)``
        (``L'' = exp(-y^2/2)``); the ``|y|`` part's second difference is exactly 0 unless the
        corners straddle 0, and ``l`` decays, so large frequencies cancel nothing.
        """
        def tail(y: Any) -> Any:
            return A.exp(-y * y / 2) - A.sqrt(A.pi() / 2) * abs(y) * A.erfc(abs(y) / A.sqrt(two))

        two = A.num(2)
        lo, hi, two_a, _, _ = self._consts_mp(A)
        ys = [w1 * hi + w2 * hi, w1 * lo + w2 * hi, w1 * hi + w2 * lo, w1 * lo + w2 * lo]
        yf = [float(A.to_mpf(y)) for y in ys]
        sg = [1, -1, -1, 1]
        with A.extra_bits(int(8 * math.log2(2 + max(abs(y) for y in yf))) + 10):
            sec = A.fsum(c * tail(y) for c, y in zip(sg, ys, strict=True))
            if min(yf) < 0 < max(yf):
                sec += A.sqrt(A.pi() / 2) * A.fsum(c * abs(y) for c, y in zip(sg, ys, strict=True))
        return sec / (two_a**2 * w1 * w2)

    def expect_mp(self, fn: Any) -> Any:
        return mpmath.quad(fn, [self.lo, self.hi]) / (2 * self._a_mp())

    def one_minus_f0_mp(self, w1: Any) -> Any:
        lo, hi, a = mpmath.mpf(self.lo), mpmath.mpf(self.hi), self._a_mp()
        y = w1 * w1 / 2
        if y * max(lo * lo, hi * hi) >= 0.5:  # 1 - f >= 1 - e^-0.5 / ... : no cancellation
            return 1 - self.f_mp(w1, mpmath.mpf(0))[0]
        # sum_k>=1 (-1)^(k+1) y^k E w^2k / k!, terms below 0.5^k / k!
        out, term, k = mpmath.mpf(0), mpmath.mpf(1), 1
        while True:
            term *= -y / k
            t = -term * (hi ** (2 * k + 1) - lo ** (2 * k + 1)) / ((2 * k + 1) * 2 * a)
            out += t
            if abs(t) < mpmath.eps * abs(out):
                return out
            k += 1


_LAW_CLASSES = {"rademacher": _Rademacher, "uniform": _Uniform, "gaussian": _Gaussian}
