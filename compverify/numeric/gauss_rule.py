"""Gaussian-weight targets for any smooth activation: a product Gauss rule in reduced coordinates.

Setting: ``w ~ N(mu, s^2 I_d)``, mean second layer ``abar``, inputs ``x ~ N(0, I_d)``, activation
``sigma`` with two derivatives (tanh, sigmoid, gelu, silu, erf, ...).  With ``F(m, tau^2) =
E_g sigma(m + tau g)``::

    fbar(x) = abar F(<mu, x>, s^2 |x|^2),     h(v) = E_x[sigma(<v, x>) fbar(x)],   C = E_x fbar(x)^2.

The target is invariant under rotations fixing ``mu``; in the coordinates ``x = x_1 mu^ + y e +
rest`` (``mu^ = mu/|mu|``, ``e`` the unit part of ``v`` orthogonal to ``mu``, ``q = |rest|^2 ~
chi^2_{d-2}``) ``h(v) = H(a, c)`` with ``a = <v, mu^>``, ``c = |v - a mu^|`` and::

    H(a, c) = E[sigma(a x_1 + c y) Fbar(x_1, y)],
    Fbar(x_1, y) = abar E_q F(|mu| x_1, s^2 (x_1^2 + y^2 + q)).

The *rule* fixes Gauss-Hermite nodes for ``x_1`` and ``y`` and generalized Gauss-Laguerre nodes for
``q``; ``Fbar`` is tabulated once on the nodes (``F`` by the trapezoidal rule in ``g`` with step
``min(0.1, 0.25 / tau)`` on ``[-9, 9]``, float64).  ``H`` and its partial derivatives are then finite
sums over the ``n^2`` nodes, so ``h``, its gradient and Hessian (chain rule through ``a`` and
``c``) are exact derivatives of one smooth function, in float64 and in mpmath.  The error is
*estimated* by a second, coarser rule (3/4 of the nodes): :meth:`GaussRuleTarget.loss_error` is the
difference of the two rules' losses at ``(b, V)`` plus a float64 floor (the tabulated data are
float64, so no rule here is better than about 15 digits).  Convergence is exponential in ``n``
for activations analytic in a strip around the real axis; the strip narrows as ``|v|`` grows,
and the estimate says when that costs digits.

>>> import numpy as np
>>> t = GaussRuleTarget("erf", 3, mean=[0.3, 0.0, 0.0])
>>> v = np.array([[0.5, 0.2, -0.1]])
>>> bool(t.h_error(v)[0] < 1e-9)
True
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
from scipy import special

from compverify.numeric.finite_network import round_mp
from compverify.numeric.rule_base import GaussianWeights, RuleTarget
from compverify.validate import check_dps, check_finite_array, check_positive_int

__all__ = ["GaussRuleTarget", "DEFAULT_NODES"]

#: Gauss-Hermite nodes per axis and generalized Gauss-Laguerre nodes for ``q`` (fine rule).
DEFAULT_NODES = (96, 40)
#: Relative floor of the error estimate: the rule's data are float64.
FLOAT_FLOOR = 1e-14


#: Nodes whose weight is below this fraction of the largest are dropped (their total mass is far
#: below the float64 floor) -- it halves the tabulation.
PRUNE = 1e-22


def _pruned(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = w > PRUNE * w.max()
    return x[keep], w[keep]


def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = special.roots_hermitenorm(n)
    return _pruned(x, w / math.sqrt(2 * math.pi))


def _chi2(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E f(q)``, ``q ~ chi^2_k`` (``k >= 1``)."""
    u, w = special.roots_genlaguerre(n, k / 2 - 1)
    return _pruned(2 * u, w / math.gamma(k / 2))


def _smoothed(sigma_np, m: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``F(m, tau^2) = E_g sigma(m + tau g)`` elementwise (trapezoid in ``g``, step by ``tau``)."""
    out = np.empty(m.shape)
    level = np.clip(np.ceil(np.log2(np.maximum(tau, 1e-300) / 2.5)), 0, 12).astype(int)
    for lev in np.unique(level):
        step = 0.1 / 2.0**lev
        g = np.arange(-9.0, 9.0 + step / 2, step)
        wts = step * np.exp(-g * g / 2) / math.sqrt(2 * math.pi)
        idx = np.flatnonzero(level == lev)
        for i0 in range(0, idx.size, max(1, 2_000_000 // g.size)):
            sl = idx[i0:i0 + max(1, 2_000_000 // g.size)]
            out[sl] = sigma_np(m[sl, None] + tau[sl, None] * g[None, :]) @ wts
    return out


class _Rule:
    """One product rule: nodes ``x1`` (n), ``y`` (n or none), weights, and ``Fbar``, ``C``."""

    def __init__(self, act: Any, d: int, mu_norm: float, s: float, abar: float, n: int,
                 nq: int) -> None:
        self.x, self.wx = _hermite(n)
        if d >= 2:
            self.y, self.wy = _hermite(n)
        else:
            self.y, self.wy = np.zeros(1), np.ones(1)
        if d >= 3:
            q, wq = _chi2(nq, d - 2)
        else:
            q, wq = np.zeros(1), np.ones(1)
        X, Y, Q = np.meshgrid(self.x, self.y, q, indexing="ij")
        F = _smoothed(act.numpy, (mu_norm * X).ravel(),
                      (s * np.sqrt(X**2 + Y**2 + Q)).ravel()).reshape(X.shape)
        self.Fbar = abar * (F @ wq)  # (n, ny)
        W2 = np.outer(self.wx, self.wy)
        self.C = float(np.sum(W2 * (abar**2 * (F**2 @ wq))))
        self.W = W2 * self.Fbar  # node weight times Fbar
        self.X1 = np.broadcast_to(self.x[:, None], self.W.shape).ravel()
        self.Y1 = np.broadcast_to(self.y[None, :], self.W.shape).ravel()
        self.Wf = self.W.ravel()

    def partials(self, fns, a: np.ndarray, c: np.ndarray, order: int) -> dict:
        """``H``, and up to ``order`` its partials in ``(a, c)``, for arrays ``a``, ``c`` (M,)."""
        Z = np.outer(self.X1, a) + np.outer(self.Y1, c)  # (nodes, M)
        out = {"H": fns[0](Z).T @ self.Wf}
        if order >= 1:
            S1 = fns[1](Z) * self.Wf[:, None]
            out["Ha"], out["Hc"] = S1.T @ self.X1, S1.T @ self.Y1
        if order >= 2:
            S2 = fns[2](Z) * self.Wf[:, None]
            out["Haa"], out["Hac"], out["Hcc"] = (S2.T @ self.X1**2, S2.T @ (self.X1 * self.Y1),
                                                  S2.T @ self.Y1**2)
        return out

    def partials_mp(self, fns, a: Any, c: Any, order: int) -> dict:
        H = Ha = Hc = Haa = Hac = Hcc = mpmath.mpf(0)
        for x, y, w in zip(self.X1, self.Y1, self.Wf, strict=True):
            if w == 0:
                continue
            x, y, w = mpmath.mpf(float(x)), mpmath.mpf(float(y)), mpmath.mpf(float(w))
            z = a * x + c * y
            H += w * fns[0](z)
            if order >= 1:
                s1 = w * fns[1](z)
                Ha += s1 * x
                Hc += s1 * y
            if order >= 2:
                s2 = w * fns[2](z)
                Haa += s2 * x * x
                Hac += s2 * x * y
                Hcc += s2 * y * y
        return {"H": H, "Ha": Ha, "Hc": Hc, "Haa": Haa, "Hac": Hac, "Hcc": Hcc}


class GaussRuleTarget(GaussianWeights, RuleTarget):
    """``w ~ N(mu, s^2 I_d)`` with a smooth activation: the reduced product Gauss rule (module doc).

    ``nodes = (n, nq)``: Gauss-Hermite nodes per axis and Laguerre nodes for ``q`` of the fine
    rule; the error estimate compares with ``(3n/4, 3nq/4)``.
    """

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1, name: str = "gaussian", nodes: tuple[int, int] = DEFAULT_NODES
                 ) -> None:
        self._init_law(activation, d, mean, scale, abar, name)
        act, d = self.activation, self.d
        n, nq = (check_positive_int(k, "nodes", minimum=4) for k in nodes)
        self.nodes = (n, nq)
        mu_norm = float(np.linalg.norm(self.mean))
        self.axis = self.mean / mu_norm if mu_norm else np.eye(d)[0]
        self._fns = [act.derivative_evaluators(k)[0] for k in (0, 1, 2)]
        self._fns_mp = [act.derivative_evaluators(k)[1] for k in (0, 1, 2)]
        self.fine = _Rule(act, d, mu_norm, self.s, self.abar, n, nq)
        self.coarse = _Rule(act, d, mu_norm, self.s, self.abar, (3 * n) // 4, (3 * nq) // 4)
        self.method = (f"product Gauss rule in reduced coordinates ({n} x {n} Hermite, {nq} "
                       f"Laguerre nodes); error estimated against a {(3 * n) // 4}-node rule")

    def _assemble(self, V: np.ndarray, P: dict, a, c, order: int, mp: bool) -> tuple:
        """``h``, gradient, Hessian from the partials ``P`` of ``H`` at ``(a_j, c_j)``."""
        M, d = V.shape
        dtype = object if mp else float
        h = np.array([P[j]["H"] for j in range(M)], dtype=dtype) if mp else P["H"]
        g = np.zeros((M, d), dtype=dtype)
        H = np.zeros((M, d, d), dtype=dtype)
        if order < 1:
            return h, g, H
        axis = np.array([mpmath.mpf(float(x)) for x in self.axis], dtype=object) if mp else self.axis
        eye = np.eye(d, dtype=int)
        for j in range(M):
            p = P[j] if mp else {k: v[j] for k, v in P.items()}
            perp = V[j] - a[j] * axis
            # along the axis H_c / c -> H_cc; the error of the limit is O(c^2)
            tiny = c[j] <= (mpmath.mpf(10) ** (-(mpmath.mp.dps // 2)) if mp else 1e-8) * (
                abs(a[j]) + c[j])
            if d == 1 or tiny:
                g[j] = p["Ha"] * axis
                if order >= 2:
                    H[j] = p["Haa"] * np.outer(axis, axis) + p["Hcc"] * (eye - np.outer(axis, axis))
                continue
            e = perp / c[j]
            g[j] = p["Ha"] * axis + p["Hc"] * e
            if order >= 2:
                proj = eye - np.outer(axis, axis) - np.outer(e, e)
                H[j] = (p["Haa"] * np.outer(axis, axis) + p["Hac"] * (np.outer(axis, e) + np.outer(e, axis))
                        + p["Hcc"] * np.outer(e, e) + (p["Hc"] / c[j]) * proj)
        return h, g, H

    def _coords(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = V @ self.axis
        return a, np.linalg.norm(V - np.outer(a, self.axis), axis=1)

    def _eval(self, V: np.ndarray, order: int, rule: _Rule | None = None) -> tuple:
        a, c = self._coords(V)
        P = (rule or self.fine).partials(self._fns, a, c, order)
        return self._assemble(V, P, a, c, order, False)

    def C(self) -> float:
        return self.fine.C

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        dps = check_dps(dps)
        Vm = self._mp_rows(V, dps + 5)
        with mpmath.workdps(dps + 5):
            axis = [mpmath.mpf(float(x)) for x in self.axis]
            a = [mpmath.fdot(list(row), axis) for row in Vm]
            c = [mpmath.norm([x - aj * u for x, u in zip(row, axis, strict=True)])
                 for row, aj in zip(Vm, a, strict=True)]
            P = [self.fine.partials_mp(self._fns_mp, aj, cj, order)
                 for aj, cj in zip(a, c, strict=True)]
            out = self._assemble(Vm, P, a, c, order, True)
        return tuple(round_mp(x, dps) for x in out)

    # ------------------------------------------------------------------ error estimate
    def h_error(self, V: Any) -> np.ndarray:
        """``|h_fine - h_coarse|`` plus the float64 floor, per row."""
        V = self._check(V)
        hf, hc = self._eval(V, 0)[0], self._eval(V, 0, self.coarse)[0]
        return np.abs(hf - hc) + FLOAT_FLOOR * (np.abs(hf) + math.sqrt(self.fine.C))

    def C_error(self) -> float:
        return abs(self.fine.C - self.coarse.C) + FLOAT_FLOOR * self.fine.C

    def loss_error(self, b: Any, V: Any) -> float:
        """Estimated error of the loss at ``(b, V)``: the two rules' difference plus the floor."""
        b = check_finite_array(b, "b", ndim=1)
        V = self._check(V)
        hf, hc = self._eval(V, 0)[0], self._eval(V, 0, self.coarse)[0]
        diff = abs(self.fine.C - self.coarse.C - 2 * float(b @ (hf - hc)))
        return diff + FLOAT_FLOOR * (self.fine.C + 2 * float(np.abs(b) @ np.abs(hf)))

    def describe(self) -> dict:
        return {"family": self.name, "d": self.d, "mean": [float(x) for x in self.mean],
                "scale": self.s, "abar": self.abar, "method": self.method,
                "nodes": list(self.nodes), "C_error": self.C_error()}

