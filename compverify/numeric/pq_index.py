r"""The PQ index and the retained-count bound (SPEC Part B), in float64 and in mpmath.

For ``w`` in ``R^n`` (the unpruned entries only, ``n`` their count) and ``0 < p < q``::

    I_{p,q}(w) = 1 - n^(1/q - 1/p) ||w||_p / ||w||_q,    0 <= I <= 1 - n^(1/q - 1/p),

0 exactly for equal magnitudes, the maximum for a 1-sparse vector (Hölder); ``I = 0`` by
convention for ``n = 0`` and for ``w = 0``.  For a tolerance ``eta >= 0`` the retained-count bound
is ``r = ceil(x)`` with ``x = n (1 + eta)^(q/(p - q)) (1 - I)^(q p/(q - p))``: every index set ``S``
with ``||w_{S^c}||_p^p <= eta ||w_S||_p^p`` has ``|S| >= x`` (from Hölder on ``S``:
``||w||_p^p <= (1 + eta) ||w_S||_p^p <= (1 + eta) |S|^(1 - p/q) ||w||_q^p``).  For ``w = 0``
nothing has to be kept: ``x = r = 0``.

Source of the definitions: the PQ index and the adaptive pruning rule are those of the paper of
seed 002 (arXiv:2206.05604, "A theoretical understanding of neural network compression from
sparse linear approximation"); the statement above is the one of ``SPEC.md`` Part B.

float64 evaluates ``log(1 - I)`` from norms of ``|w| / max|w|`` (no overflow, no cancellation in
``1 - I``); ``ceil`` is taken in mpmath at 30 digits whenever ``x`` lies within ``1e-9`` (relative)
of an integer, so the integer ``r`` is right even where float64 could round across it.

>>> import numpy as np
>>> s = sparsity(np.array([3.0, 0.0, 0.0, 0.0]), "0.5", "1")
>>> s.pq_index, s.retained_bound   # 1-sparse: the maximum 1 - 4^(1 - 2) = 3/4, one entry to keep
(0.75, 1)
>>> sparsity(np.ones(5), "0.5", "1").retained_bound
5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.symbolic.lq_moments import (
    agreeing_digits,
    check_pq,
    fraction_str,
    parse_exponent,
)
from compverify.validate import check_dps, check_finite_array

__all__ = ["Sparsity", "check_eta", "sparsity", "sparsity_mp", "row_sparsity",
           "retained_real_mp", "NEAR_INTEGER"]

#: Relative distance to an integer below which the float64 ``ceil`` is redone in mpmath.
NEAR_INTEGER = 1e-9


def check_eta(eta: Any) -> Fraction:
    """``eta >= 0`` as an exact fraction, or :class:`CompverifyError` naming it."""
    e = parse_exponent(eta, "eta")
    if e < 0:
        raise CompverifyError(f"eta must be >= 0, got {eta}")
    return e


@dataclass(frozen=True)
class Sparsity:
    """PQ index and retained-count bound of one vector, with the precision they carry.

    ``pq_index``, ``one_minus_index``, ``retained_real`` (``x``): float, or mpf at ``dps``;
    ``retained_bound`` ``r = ceil(x)``; ``verified_digits``: digits of ``1 - I`` agreeing between
    ``dps`` and ``dps + 10`` (``None`` in float64).
    """

    n: int
    pq_index: Any
    one_minus_index: Any
    retained_real: Any
    retained_bound: int
    precision: str
    verified_digits: int | None = None

    def to_dict(self) -> dict:
        return {"n": self.n, "pq_index": self.pq_index, "one_minus_index": self.one_minus_index,
                "retained_real": self.retained_real, "retained_bound": self.retained_bound,
                "precision": self.precision, "verified_digits": self.verified_digits}


def _exps(p: Fraction, q: Fraction, eta: Fraction) -> tuple[float, float, float]:
    return float(q / (p - q)), float(q * p / (q - p)), float(eta)


def _log_one_minus(absw: np.ndarray, p: float, q: float) -> np.ndarray:
    """``log(1 - I)`` per row of ``absw`` (NaN marks excluded entries); rows of zeros -> 0."""
    n = np.sum(~np.isnan(absw), axis=-1)
    m = np.nanmax(np.where(np.isnan(absw), -np.inf, absw), axis=-1, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(np.isnan(absw), 0.0, absw) / np.where(m > 0, m, 1.0)[..., None]
        sp_ = np.sum(u ** p, axis=-1)
        sq = np.sum(u ** q, axis=-1)
        out = ((1 / q - 1 / p) * np.log(np.maximum(n, 1)) + np.log(sp_) / p - np.log(sq) / q)
    return np.where((n > 0) & (m > 0), out, 0.0)


def row_sparsity(W: Any, mask: Any, p: Any, q: Any, eta: Any = 0) -> tuple[np.ndarray, ...]:
    """Per row of ``W`` over the entries where ``mask`` is true: ``(n, I, x, r)`` (float64).

    ``n`` (int), ``I`` the PQ index, ``x`` the real retained bound, ``r = ceil(x)`` (int, in
    ``[0, n]``); rows with no entry or only zeros have ``I = 0`` and ``x = r = 0`` when zero.
    """
    pe, qe = check_pq(p, q)
    ee = check_eta(eta)
    W = check_finite_array(W, "W", ndim=2)
    mask = np.asarray(mask, dtype=bool)
    absw = np.where(mask, np.abs(W), np.nan)
    lom = _log_one_minus(absw, float(pe), float(qe))
    n = mask.sum(axis=1)
    a_eta, a_i, e = _exps(pe, qe, ee)
    zero = ~np.any(mask & (W != 0), axis=1)
    with np.errstate(divide="ignore"):
        logx = np.log(np.maximum(n, 1)) + a_eta * math.log1p(e) + a_i * lom
    x = np.where(zero, 0.0, np.exp(logx))
    index = -np.expm1(lom)
    r = np.array([_ceil(xi, W[i, mask[i]], pe, qe, ee) for i, xi in enumerate(x)], dtype=int)
    return n, index, x, np.minimum(r, n)


def _ceil(x: float, w: np.ndarray, p: Fraction, q: Fraction, eta: Fraction) -> int:
    if x == 0:
        return 0
    k = round(x)
    if abs(x - k) <= NEAR_INTEGER * max(1.0, x):
        with mpmath.workdps(30):
            return int(mpmath.ceil(retained_real_mp(w, p, q, eta, 30)))
    return math.ceil(x)


def sparsity(w: Any, p: Any, q: Any, eta: Any = 0) -> Sparsity:
    """:class:`Sparsity` of the vector ``w`` (all its entries count) in float64."""
    w = check_finite_array(w, "w", ndim=1)
    n, index, x, r = row_sparsity(w[None, :], np.ones((1, w.size), bool), p, q, eta)
    return Sparsity(int(n[0]), float(index[0]), float(1 - index[0]), float(x[0]), int(r[0]),
                    "float64")


def _mp_parts(w: Any, p: Fraction, q: Fraction, dps: int) -> tuple:
    """``(n, 1 - I, ||w||_p^p, ||w||_q^q)`` at the working precision ``dps``."""
    vals = [mpmath.mpf(x) for x in w]
    n = len(vals)
    pm = mpmath.mpf(p.numerator) / p.denominator
    qm = mpmath.mpf(q.numerator) / q.denominator
    spp = mpmath.fsum(abs(v) ** pm for v in vals)
    sqq = mpmath.fsum(abs(v) ** qm for v in vals)
    if n == 0 or sqq == 0:
        return n, mpmath.mpf(1), spp, sqq
    om = mpmath.mpf(n) ** (1 / qm - 1 / pm) * spp ** (1 / pm) / sqq ** (1 / qm)
    return n, om, spp, sqq


def retained_real_mp(w: Any, p: Any, q: Any, eta: Any, dps: int) -> mpmath.mpf:
    """``x = n (1 + eta)^(q/(p-q)) (1 - I)^(qp/(q-p))`` for ``w`` at ``dps`` digits (0 if w = 0)."""
    pe, qe = check_pq(p, q)
    ee = check_eta(eta)
    with mpmath.workdps(dps + 10):
        n, om, _, sqq = _mp_parts(w, pe, qe, dps + 10)
        if n == 0 or sqq == 0:
            return mpmath.mpf(0)
        x = (n * (1 + mpmath.mpf(ee.numerator) / ee.denominator) ** (
            mpmath.mpf((qe / (pe - qe)).numerator) / (qe / (pe - qe)).denominator)
            * om ** (mpmath.mpf((qe * pe / (qe - pe)).numerator) / (qe * pe / (qe - pe)).denominator))
    with mpmath.workdps(dps):
        return +x


def sparsity_mp(w: Any, p: Any, q: Any, eta: Any = 0, dps: int = 30) -> Sparsity:
    """:class:`Sparsity` of ``w`` at ``dps`` digits, checked at ``dps + 10``.

    Float entries are taken as the binary numbers they hold (exact); ``p``, ``q``, ``eta`` as
    exact fractions.  ``r`` is the ceiling of ``x`` computed at both precisions; if they differ
    (``x`` within the working precision of an integer) a :class:`CompverifyError` says so.
    """
    dps = check_dps(dps)
    pe, qe = check_pq(p, q)
    ee = check_eta(eta)
    vals = list(w)

    def at(prec: int) -> tuple:
        with mpmath.workdps(prec + 10):
            n, om, _, _ = _mp_parts(vals, pe, qe, prec + 10)
        x = retained_real_mp(vals, pe, qe, ee, prec)
        with mpmath.workdps(prec):
            return n, +om, +(1 - om), x, int(mpmath.ceil(x))

    n, om, index, x, r = at(dps)
    _, om2, _, x2, r2 = at(dps + 10)
    if r != r2:
        raise CompverifyError(f"the retained bound x = {mpmath.nstr(x, dps)} lies within "
                              f"{dps} digits of an integer; raise --dps")
    return Sparsity(n, index, om, x, min(r, n), f"mpmath, {dps} digits",
                    agreeing_digits(om, om2, dps))


def network_sparsity(W: Any, p: Any, q: Any, eta: Any = 0, *, dps: int | None = None) -> dict:
    """Per neuron (row of ``W``) and for the whole layer: ``n``, ``I``, ``1 - I``, ``x``, ``r``.

    float64 (``dps=None``) or mpmath at ``dps`` digits (each value checked at ``dps + 10``;
    ``verified_digits`` of ``1 - I``).  Returns JSON-ready data (reals as float/mpf).
    """
    W = check_finite_array(W, "W", ndim=2)
    pe, qe = check_pq(p, q)
    ee = check_eta(eta)
    if dps is None:
        glob = sparsity(W.ravel(), pe, qe, ee)
        n, idx, x, r = row_sparsity(W, np.ones(W.shape, bool), pe, qe, ee)
        rows = [{"neuron": i, "n": int(n[i]), "pq_index": float(idx[i]),
                 "one_minus_index": float(1 - idx[i]), "retained_real": float(x[i]),
                 "retained_bound": int(r[i])} for i in range(W.shape[0])]
    else:
        dps = check_dps(dps)
        glob = sparsity_mp(W.ravel(), pe, qe, ee, dps)
        rows = []
        for i in range(W.shape[0]):
            s = sparsity_mp(W[i], pe, qe, ee, dps)
            rows.append({"neuron": i, **{k: v for k, v in s.to_dict().items()
                                         if k != "precision"}})
    return {"p": fraction_str(pe), "q": fraction_str(qe), "eta": fraction_str(ee), "dps": dps,
            "precision": glob.precision, "global": glob.to_dict(), "neurons": rows}


def finite_n_convergence(law: Any, p: Any, q: Any, sizes: Any, *, seed: int = 0,
                         limit: Any = None) -> list[dict]:
    """``1 - I_{p,q}`` of ``n`` i.i.d. draws of ``law`` for each ``n`` in ``sizes`` (float64,
    ``numpy.random.default_rng(seed)``), with the distance to ``limit`` and the delta-method
    standard error ``sqrt(g' Sigma g / n)`` (``Sigma``: sample covariance of ``(|w|^p, |w|^q)``,
    ``g`` the gradient of ``m_p^(1/p) / m_q^(1/q)``)."""
    from compverify.symbolic.lq_moments import get_law

    lw = get_law(law) if isinstance(law, str) else law
    pe, qe = check_pq(p, q)
    pf, qf = float(pe), float(qe)
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        w = np.abs(lw.sample(int(n), rng))
        yp, yq = w ** pf, w ** qf
        mp_, mq = yp.mean(), yq.mean()
        g = mp_ ** (1 / pf) / mq ** (1 / qf) if mq > 0 else 0.0
        grad = np.array([g / (pf * mp_) if mp_ > 0 else 0.0, -g / (qf * mq) if mq > 0 else 0.0])
        cov = np.cov(np.vstack([yp, yq])) if n > 1 else np.zeros((2, 2))
        se = float(np.sqrt(max(grad @ cov @ grad, 0.0) / n))
        row = {"n": int(n), "one_minus_index": float(g), "standard_error": se}
        if limit is not None:
            row["difference"] = float(g - float(limit))
        out.append(row)
    return out
