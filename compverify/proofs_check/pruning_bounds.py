r"""The accuracy bounds of pruning checked against the exact population loss (SPEC Part B).

For ``f(x) = sum_i a_i sigma(<w_i, x>)``, ``x ~ N(0, I_d)``, pruned to ``f~`` (first-layer
entries zeroed, ``w~_i``; removed neurons count as ``w~_i = 0``, which is the same function when
``sigma(0) = 0``), Minkowski's inequality in ``L2(x)`` and ``|sigma(s) - sigma(t)| <= Lip |s - t|``
give, with ``<w_i - w~_i, x> ~ N(0, ||w_i - w~_i||^2)``::

    E (f - f~)^2 <= Lip^2 (sum_i |a_i| ||w_i - w~_i||_2)^2                      (Lipschitz)
                 <= Lip^2 (sum_i |a_i| ||w_i||_q s_i^(1/2 - 1/q))^2             (lq, 0 < q < 2)

the second by Stechkin's best ``s``-term bound ``||w - w_s||_2 <= ||w||_q s^(1/2 - 1/q)`` (e.g.
Foucart and Rauhut, A Mathematical Introduction to Compressive Sensing, Prop. 2.3), valid when
``w~_i`` keeps the ``s_i`` largest entries of ``w_i``; a neuron with ``s_i = 0`` uses
``||w_i||_2 <= ||w_i||_q`` and one with nothing pruned contributes 0.  For linear ``sigma`` the
loss equals ``||sum_i a_i (w_i - w~_i)||^2``.  The retained-count claim
(:mod:`compverify.numeric.pq_index`) is checked for the retained set ``S`` of each group with its
own tolerance ``eta_S = ||w_{S^c}||_p^p / ||w_S||_p^p``: ``|S| >= n (1 + eta_S)^(q/(p-q))
(1 - I)^(qp/(q-p))``.

A check is ``verified`` when its margin (bound minus value) is positive beyond the error of the
working precision (float64: the loss's a-priori rounding bound plus ``(n + 10) eps`` of the bound;
mpmath: ``10^-(verified digits)`` of the loss plus ``10^(2 - dps)`` of the bound), ``violated``
when it is negative beyond it, ``undecided`` otherwise, ``exact`` when both sides are exactly
equal by construction (nothing pruned), ``not applicable`` when the bound does not apply (no
finite Lipschitz constant, ``q >= 2``, removed neurons with ``sigma(0) != 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from compverify.numeric.pruning import PruneRun, PruneState
from compverify.symbolic.lq_moments import check_pq

__all__ = ["lipschitz_constant", "BoundCheck", "StepCheck", "check_run", "Comparison",
           "compare_verdict"]

_EPS = float(np.finfo(float).eps)
_Z = sp.Symbol("z", real=True)


@cache
def lipschitz_constant(spec: str) -> tuple[sp.Expr | None, str]:
    """``(Lip(sigma), how)``: the least Lipschitz constant ``sup |sigma'|`` as an exact SymPy
    number where known, ``None`` when sigma is not Lipschitz or its constant is not derived.

    Piecewise linear (relu, abs, leaky_relu): the largest ``|slope|``; smooth sigma (tanh,
    sigmoid, erf, gelu, silu, polynomials): ``sigma'`` differentiated by SymPy, its critical
    points (roots of ``sigma''``) located by sign changes on ``[-20, 20]`` and refined by
    ``mpmath.findroot`` at 30 digits, compared with the limits at ``+-oo``.

    >>> lipschitz_constant("relu")[0], lipschitz_constant("tanh")[0]
    (1, 1)
    """
    from compverify.symbolic import get_activation

    act = get_activation(spec)
    name = act.name
    if name in ("relu", "abs"):
        return sp.Integer(1), "piecewise linear, slopes 0/1 or -1/1"
    if name == "leaky_relu":
        alpha = sp.nsimplify(spec.split(":", 1)[1]) if ":" in spec else sp.Rational(1, 100)
        return sp.Max(1, sp.Abs(alpha)), "piecewise linear, slopes 1 and alpha"
    if name in ("step", "sign"):
        return None, "discontinuous: not Lipschitz"
    expr = act.expr.subs(sp.Symbol("z", real=True), _Z)
    if expr.has(sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.sign, sp.Piecewise):
        return None, "piecewise sigma other than two-slope linear: constant not derived"
    d1 = sp.diff(expr, _Z)
    if expr.is_polynomial(_Z):
        if sp.degree(expr, _Z) <= 1:
            return sp.Abs(d1), "linear: |slope|"
        return None, "polynomial of degree >= 2: not Lipschitz on R"
    d2 = sp.diff(d1, _Z)
    f1 = sp.lambdify(_Z, d1, "mpmath")
    f2 = sp.lambdify(_Z, d2, "mpmath")
    cands = []
    with mpmath.workdps(30):
        grid = [mpmath.mpf(k) / 8 for k in range(-160, 161)]
        vals = [f2(x) for x in grid]
        for x0, x1, v0, v1 in zip(grid, grid[1:], vals, vals[1:], strict=False):
            if v0 == 0:
                cands.append(x0)
            elif v0 * v1 < 0:
                cands.append(mpmath.findroot(f2, (x0, x1), solver="anderson"))
        best = max([abs(f1(x)) for x in cands] + [mpmath.mpf(0)])
    for lim in (sp.limit(d1, _Z, sp.oo), sp.limit(d1, _Z, -sp.oo)):
        if not lim.is_finite:
            return None, "sigma' unbounded: not Lipschitz"
        best = max(best, abs(mpmath.mpf(sp.N(lim, 30))))
    exact = sp.nsimplify(sp.Float(best, 30), [sp.pi], tolerance=sp.Float(10) ** -25, rational=False)
    if abs(sp.N(exact, 30) - sp.Float(best, 30)) < sp.Float(10) ** -25:
        return exact, "sup |sigma'| at the roots of sigma'' (mpmath, 30 digits)"
    return sp.Float(best, 30), "sup |sigma'| at the roots of sigma'' (mpmath, 30 digits)"


@dataclass(frozen=True)
class BoundCheck:
    """One bound at one step: ``bound >= value`` with ``margin = bound - value`` and the working
    precision's ``error``; ``status`` (module docstring)."""

    name: str
    bound: Any
    value: Any
    margin: Any
    error: Any
    status: str
    note: str = ""

    @property
    def holds(self) -> bool | None:
        if self.status in ("verified", "exact"):
            return True
        if self.status == "violated":
            return False
        return None

    def to_dict(self) -> dict:
        return {"name": self.name, "bound": self.bound, "value": self.value,
                "margin": self.margin, "error": self.error, "status": self.status,
                "holds": self.holds, "note": self.note}


def _status(margin: Any, error: Any) -> str:
    if margin > error:
        return "verified"
    if margin < -error:
        return "violated"
    return "undecided"


@dataclass(frozen=True)
class StepCheck:
    """The checks of one step; ``bounds_hold``: all applicable checks verified (True), one
    violated (False), else None."""

    step: int
    lipschitz: BoundCheck
    lq: BoundCheck
    stechkin: BoundCheck
    retained_claim: BoundCheck

    @property
    def bounds_hold(self) -> bool | None:
        hs = [c.holds for c in (self.lipschitz, self.lq, self.stechkin, self.retained_claim)
              if c.status != "not applicable"]
        if any(h is False for h in hs):
            return False
        if all(h is True for h in hs):
            return True
        return None

    def to_dict(self) -> dict:
        return {"step": self.step, "bounds_hold": self.bounds_hold,
                "lipschitz": self.lipschitz.to_dict(), "lq": self.lq.to_dict(),
                "stechkin": self.stechkin.to_dict(),
                "retained_claim": self.retained_claim.to_dict()}


def _na(name: str, note: str) -> BoundCheck:
    return BoundCheck(name, None, None, None, None, "not applicable", note)


def check_run(run: PruneRun, a: Any, W: Any) -> tuple[StepCheck, ...]:
    """The checks of every step of ``run`` (``a``, ``W``: its original network)."""
    a = np.asarray(a, float)
    W = np.asarray(W, float)
    lip, lip_how = lipschitz_constant(run.activation)
    from compverify.symbolic import get_activation

    sigma0 = float(np.asarray(get_activation(run.activation).numpy(np.zeros(1)), float)[0])
    out = []
    for rec, state in zip(run.records, run.states, strict=True):
        out.append(_check_step(run, rec, state, a, W, lip, lip_how, sigma0))
    return tuple(out)


def _check_step(run, rec, state, a, W, lip, lip_how, sigma0) -> StepCheck:
    P = run.params
    dps = run.dps
    N, d = W.shape
    untouched = bool(state.mask.all() and state.alive.all())
    removed = ~state.alive
    Wt = np.where(state.mask & state.alive[:, None], W, 0.0)
    s = (state.mask & state.alive[:, None]).sum(axis=1)
    q = float(P.q)
    use_mp = dps is not None and rec.loss_mp is not None
    if use_mp:
        ctx = mpmath.workdps(dps + 10)
        ctx.__enter__()
        loss = rec.loss_mp
        loss_err = abs(loss) * mpmath.mpf(10) ** (-(rec.loss_mp_digits or 0)) if \
            rec.loss_mp_relative_to == "loss" else abs(run.C) * mpmath.mpf(10) ** (
                -(rec.loss_mp_digits or 0))
        bound_rel = mpmath.mpf(10) ** (2 - dps)
    else:
        loss = rec.exact_loss
        loss_err = rec.exact_loss_error
        bound_rel = (N + d + 10) * _EPS
    try:
        # Lipschitz
        if lip is None:
            lipc = _na("lipschitz", lip_how)
        elif removed.any() and sigma0 != 0:
            lipc = _na("lipschitz", "removed neurons with sigma(0) != 0 are not w~ = 0")
        else:
            L = mpmath.mpf(sp.N(lip, dps + 10)) if use_mp else float(sp.N(lip))
            if use_mp:
                diffs = [mpmath.sqrt(mpmath.fsum((mpmath.mpf(x) - mpmath.mpf(y)) ** 2
                                                 for x, y in zip(W[i], Wt[i], strict=True)))
                         for i in range(N)]
                total = mpmath.fsum(abs(mpmath.mpf(a[i])) * diffs[i] for i in range(N))
            else:
                total = float(np.sum(np.abs(a) * np.linalg.norm(W - Wt, axis=1)))
            bound = L ** 2 * total ** 2
            lipc = _bound("lipschitz", bound, loss, loss_err, bound_rel, untouched,
                          f"Lip = {lip} ({lip_how})")
        # lq (Stechkin) bound and the per-neuron Stechkin inequality
        if lip is None or q >= 2 or (removed.any() and sigma0 != 0):
            why = lip_how if lip is None else ("q >= 2: Stechkin needs q < 2" if q >= 2 else
                                               "removed neurons with sigma(0) != 0")
            lqc = _na("lq", why)
        else:
            L = mpmath.mpf(sp.N(lip, dps + 10)) if use_mp else float(sp.N(lip))
            terms = _stechkin_terms(W, s, P.q, use_mp)
            total = (mpmath.fsum(abs(mpmath.mpf(a[i])) * terms[i] for i in range(N)) if use_mp
                     else float(np.sum(np.abs(a) * terms)))
            lqc = _bound("lq", L ** 2 * total ** 2, loss, loss_err, bound_rel, untouched,
                         "Lip^2 (sum |a_i| ||w_i||_q s_i^(1/2-1/q))^2")
        if q >= 2:
            stc = _na("stechkin", "q >= 2")
        else:
            terms = _stechkin_terms(W, s, P.q, use_mp)
            if use_mp:
                dist = [mpmath.sqrt(mpmath.fsum((mpmath.mpf(x) - mpmath.mpf(y)) ** 2
                                                for x, y in zip(W[i], Wt[i], strict=True)))
                        for i in range(N)]
                margins = [terms[i] - dist[i] for i in range(N)]
                err = [bound_rel * (terms[i] + dist[i]) for i in range(N)]
            else:
                dist = np.linalg.norm(W - Wt, axis=1)
                margins = list(terms - dist)
                err = list(bound_rel * (terms + dist))
            # neurons with nothing pruned satisfy it with equality (0 = 0): left out of the min
            pruned = [i for i in range(N) if s[i] < d]
            if not pruned:
                pruned = [0]
            k = min(pruned, key=lambda i: float(margins[i] - err[i]))
            st = "exact" if untouched or s[k] == d else _status(margins[k], err[k])
            stc = BoundCheck("stechkin", terms[k], dist[k], margins[k], err[k], st,
                             f"min over neurons of ||w_i||_q s_i^(1/2-1/q) - ||w_i - w~_i||_2 "
                             f"(neuron {k})")
        rc = _retained_claim(run, state, W, use_mp, dps)
    finally:
        if use_mp:
            ctx.__exit__(None, None, None)
    return StepCheck(rec.step, lipc, lqc, stc, rc)


def _bound(name, bound, loss, loss_err, bound_rel, untouched, note) -> BoundCheck:
    error = loss_err + bound_rel * abs(bound)
    margin = bound - loss
    if untouched:
        return BoundCheck(name, bound, loss, margin, error, "exact",
                          note + "; nothing pruned: both sides are 0")
    return BoundCheck(name, bound, loss, margin, error, _status(margin, error), note)


def _stechkin_terms(W: np.ndarray, s: np.ndarray, q, use_mp: bool) -> Any:
    """Per neuron the bound on ``||w_i - w~_i||_2``: 0 if nothing pruned, ``||w_i||_q`` if
    ``s_i = 0``, else ``||w_i||_q s_i^(1/2 - 1/q)``."""
    N, d = W.shape
    if use_mp:
        qm = mpmath.mpf(q.numerator) / q.denominator
        out = []
        for i in range(N):
            if s[i] == d:
                out.append(mpmath.mpf(0))
                continue
            nq = mpmath.fsum(abs(mpmath.mpf(x)) ** qm for x in W[i]) ** (1 / qm)
            out.append(nq if s[i] == 0 else nq * mpmath.mpf(int(s[i])) ** (mpmath.mpf(1) / 2 - 1 / qm))
        return out
    qf = float(q)
    m = np.max(np.abs(W), axis=1)
    nq = m * np.sum((np.abs(W) / m[:, None]) ** qf, axis=1) ** (1 / qf)
    fac = np.where(s > 0, np.maximum(s, 1).astype(float) ** (0.5 - 1 / qf), 1.0)
    return np.where(s == d, 0.0, nq * fac)


def _retained_claim(run: PruneRun, state: PruneState, W: np.ndarray, use_mp: bool,
                    dps: int | None) -> BoundCheck:
    """min over groups of ``|S| - x(eta_S)`` (module docstring)."""
    P = run.params
    check_pq(P.p, P.q)
    eff = state.mask & state.alive[:, None]
    per_row = P.scope == "neuron" and not P.method.startswith("neurons")
    groups = ([(W[i], eff[i]) for i in range(W.shape[0])] if per_row
              else [(W.ravel(), eff.ravel())])
    best = None
    for w, S in groups:
        if use_mp:
            m, x = _claim_mp(w, S, P)
            err = mpmath.mpf(10) ** (2 - dps) * max(1, abs(x))
        else:
            m, x = _claim_float(w, S, P)
            err = 1e-10 * max(1.0, x)
        key = float(m - err)
        if best is None or key < best[0]:
            best = (key, m, x, err, int(S.sum()))
    _, m, x, err, size = best
    status = "exact" if x == 0 else _status(m, err)
    return BoundCheck("retained_claim", size, x, m, err, status,
                      "min over groups of |S| - n (1 + eta_S)^(q/(p-q)) (1 - I)^(qp/(q-p)); "
                      "'bound' is |S|, 'value' the real bound")


def _claim_float(w: np.ndarray, S: np.ndarray, P) -> tuple[float, float]:
    p, q = float(P.p), float(P.q)
    n = w.size
    aw = np.abs(w)
    mx = aw.max()
    u = aw / mx
    sp_in, sp_out = np.sum(u[S] ** p), np.sum(u[~S] ** p)
    if sp_in == 0:
        return float(S.sum()), 0.0
    eta = sp_out / sp_in
    lom = (1 / q - 1 / p) * np.log(n) + np.log(sp_in + sp_out) / p - np.log(np.sum(u ** q)) / q
    x = float(np.exp(np.log(n) + q / (p - q) * np.log1p(eta) + q * p / (q - p) * lom))
    return float(S.sum()) - x, x


def _claim_mp(w: np.ndarray, S: np.ndarray, P) -> tuple[Any, Any]:
    p = mpmath.mpf(P.p.numerator) / P.p.denominator
    q = mpmath.mpf(P.q.numerator) / P.q.denominator
    n = w.size
    vals = [abs(mpmath.mpf(x)) for x in w]
    sp_in = mpmath.fsum(v ** p for i, v in enumerate(vals) if S[i])
    sp_out = mpmath.fsum(v ** p for i, v in enumerate(vals) if not S[i])
    if sp_in == 0:
        return mpmath.mpf(int(S.sum())), mpmath.mpf(0)
    eta = sp_out / sp_in
    om = mpmath.mpf(n) ** (1 / q - 1 / p) * (sp_in + sp_out) ** (1 / p) / mpmath.fsum(
        v ** q for v in vals) ** (1 / q)
    x = n * (1 + eta) ** (q / (p - q)) * om ** (q * p / (q - p))
    return int(S.sum()) - x, x


@dataclass(frozen=True)
class Comparison:
    """SAP against another method at equal retained counts, one step: the two exact losses,
    their float64 errors, and who wins beyond them (``sap``, ``other``, or ``tie``)."""

    step: int
    retained: int
    method: str
    loss_sap: float
    loss_other: float
    error_sap: float
    error_other: float
    ratio: float | None
    winner: str

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def compare_verdict(step: int, retained: int, method: str, sap: Any, other: Any) -> Comparison:
    """Decide ``sap`` vs ``other`` (two :class:`~compverify.numeric.pruning.ExactLoss`) beyond
    the sum of their float64 error bounds."""
    err = sap.error + other.error
    if sap.value < other.value - err:
        win = "sap"
    elif other.value < sap.value - err:
        win = "other"
    else:
        win = "tie"
    ratio = sap.value / other.value if other.value > err else None
    return Comparison(step, retained, method, sap.value, other.value, sap.error, other.error,
                      ratio, win)
