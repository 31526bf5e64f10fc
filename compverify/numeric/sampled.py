"""Mean-field targets by randomized quasi-Monte Carlo rules, with an error estimate.

The route for i.i.d. uniform entries and Rademacher entries with ``d > 12`` (the weight rule
below), which have neither a closed form nor an exact finite sum here.  The input rule serves
Gaussian weights with any activation; the default route for those is the more precise
:mod:`compverify.numeric.gauss_rule`, and the input rule stays as an independent estimator (the
tests compare the two).

A *rule* is ``R`` independent scrambled Sobol point sets of ``n`` points each
(:class:`scipy.stats.qmc.Sobol`, seeded).  The target's ``h`` and ``C`` are the rule's averages.
Once the seed is fixed the rule is a fixed finite sum, so ``h`` is one smooth function of ``v``:
its float64 and mpmath values, gradients and Hessians agree, and the solver can polish the rule's
minimiser to any precision.  How far the rule is from the mean field is *estimated* from the
spread of the ``R`` replicates: for a quantity with replicate values ``y_1..y_R`` the estimate is
the 99% Student half-width ``t_{0.995, R-1} sd(y) / sqrt(R)``.  :meth:`loss_error` gives it for
the loss at ``(b, V)``; the solver caps its verified digits by it, so no digit beyond the rule's
accuracy is claimed.

Two rules:

* **input rule** (Gaussian weights ``w ~ N(mu, s^2 I)``, any activation):
  ``h(v) = E_x[sigma(<v, x>) fbar(x)]``, ``fbar(x) = abar E_g sigma(<mu, x> + s |x| g)``,
  ``grad h = E[sigma'(<v,x>) fbar(x) x]``, ``hess h = E[sigma''(<v,x>) fbar(x) x x^T]``,
  ``C = E_x fbar(x)^2``; ``x`` are the rule's points mapped to ``N(0, I_d)`` by the inverse normal
  CDF, ``fbar`` by the trapezoidal rule in ``g`` on ``[-9, 9]`` with step ``min(0.1, 0.25 / tau_max)``
  (``tau = s |x|``; error below ``1e-15`` for activations analytic in a strip of half-width
  ``pi / 2`` around the real axis, e.g. tanh).
* **weight rule** (i.i.d. entries ``m + s xi``; activation with a closed-form kernel):
  ``h(v) = abar E_w K(w, v)`` over the rule's weights (a finite network with ``a_i = abar /
  (R n)``, exact kernel sums), ``C`` the mean of ``abar^2 E K(w, w')`` over pairs of *distinct*
  replicates (no diagonal bias).

>>> t = uniform_target("relu", 2, mean=0.0, scale=None, points=256, replicates=4)
>>> import numpy as np
>>> h = t.h(np.array([[1.0, 0.0]]))
>>> bool(0.1 < h[0] < 0.3), t.describe()["family"]
(True, 'iid:uniform')
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import mpmath
import numpy as np
from scipy import stats

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork, round_mp
from compverify.numeric.kernel_sums import cross_term, cross_term_mp, kernel_matrix
from compverify.numeric.rule_base import GaussianWeights, RuleTarget, iid_fields
from compverify.symbolic.activations import as_activation
from compverify.validate import check_dps, check_finite_array, check_positive_int

__all__ = ["InputRuleTarget", "WeightRuleTarget", "uniform_target", "rademacher_sampled_target",
           "sample_iid",
           "DEFAULT_POINTS", "DEFAULT_REPLICATES"]

DEFAULT_POINTS = 1024
DEFAULT_REPLICATES = 8


def _sobol(d: int, points: int, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, points, d)`` scrambled Sobol points in ``(0, 1)``, replicate r seeded (seed, r)."""
    points = check_positive_int(points, "points", minimum=2)
    if points & (points - 1):
        raise CompverifyError(f"points must be a power of 2 (Sobol balance), got {points}")
    replicates = check_positive_int(replicates, "replicates", minimum=2)
    out = np.empty((replicates, points, d))
    for r in range(replicates):
        eng = stats.qmc.Sobol(d, scramble=True, seed=np.random.default_rng([int(seed), r]))
        out[r] = eng.random(points)
    return np.clip(out, 1e-16, 1 - 1e-16)


def _half_width(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """99% Student half-width of the mean over ``axis``."""
    R = values.shape[axis]
    return stats.t.ppf(0.995, R - 1) * np.std(values, axis=axis, ddof=1) / math.sqrt(R)


class _RuleTarget(RuleTarget):
    """QMC rules: the error estimates from the replicates."""

    name: str
    method: str

    def replicate_h(self, V: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def replicate_C(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def h_error(self, V: Any) -> np.ndarray:
        """Estimated error (99% half-width over replicates) of ``h(v_j)``, shape (M,)."""
        return _half_width(self.replicate_h(self._check(V)))

    def C_error(self) -> float:
        return float(_half_width(self.replicate_C()))

    def loss_error(self, b: Any, V: Any) -> float:
        """Estimated error of the loss ``C - 2 sum_j b_j h(v_j) + b^T K b`` at ``(b, V)``.

        The 99% half-width of the replicate losses ``C_r - 2 sum_j b_j h_r(v_j)`` (the student's
        own term is exact and the same in every replicate).
        """
        b = check_finite_array(b, "b", ndim=1)
        L = self.replicate_C() - 2 * self.replicate_h(self._check(V)) @ b
        return float(_half_width(L))


# ----------------------------------------------------------------------------- input rule
class InputRuleTarget(GaussianWeights, _RuleTarget):
    """Gaussian weights ``w ~ N(mu, s^2 I_d)``, any activation: the input rule (module docstring)."""

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1, name: str = "gaussian", points: int = DEFAULT_POINTS,
                 replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> None:
        self._init_law(activation, d, mean, scale, abar, name)
        act, d = self.activation, self.d
        self.points, self.replicates, self.seed = points, replicates, int(seed)
        U = _sobol(d, points, replicates, seed)
        self.X = stats.norm.ppf(U)  # (R, n, d)
        self.fbar = self._fbar(self.X)  # (R, n)
        self._np = [act.derivative_evaluators(k)[0] for k in (0, 1, 2)]
        self._mpf = [act.derivative_evaluators(k)[1] for k in (0, 1, 2)]
        self.method = (f"randomized QMC over the inputs: {replicates} x {points} scrambled Sobol "
                       "points, fbar by the trapezoidal rule; error estimated from the replicates")

    def _fbar(self, X: np.ndarray) -> np.ndarray:
        r = np.linalg.norm(X, axis=-1)
        tau = self.s * r
        step = min(0.1, 0.25 / max(float(tau.max()), 1e-300))
        g = np.arange(-9.0, 9.0 + step / 2, step)
        wts = step * np.exp(-g * g / 2) / math.sqrt(2 * math.pi)
        m = X @ self.mean
        out = np.empty(m.shape)
        flat_m, flat_t, flat_o = m.reshape(-1), tau.reshape(-1), out.reshape(-1)
        for i0 in range(0, flat_m.size, 4096):
            sl = slice(i0, i0 + 4096)
            z = flat_m[sl, None] + flat_t[sl, None] * g[None, :]
            flat_o[sl] = self.activation.numpy(z) @ wts
        return self.abar * out

    def _deriv_np(self, k: int, z: np.ndarray) -> np.ndarray:
        return self._np[k](z)

    def replicate_h(self, V: np.ndarray) -> np.ndarray:
        """``h_r(v_j)``, shape (R, M)."""
        Z = np.einsum("rnd,md->rnm", self.X, V)
        return np.einsum("rnm,rn->rm", self._deriv_np(0, Z), self.fbar) / self.points

    def replicate_C(self) -> np.ndarray:
        return np.mean(self.fbar**2, axis=1)

    def C(self) -> float:
        return float(np.mean(self.replicate_C()))

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        X = self.X.reshape(-1, self.d)
        w = self.fbar.reshape(-1) / X.shape[0]
        Z = X @ V.T  # (N, M)
        h = self._deriv_np(0, Z).T @ w
        g = (self._deriv_np(1, Z) * w[:, None]).T @ X if order >= 1 else None
        H = (np.einsum("nm,nd,ne->mde", self._deriv_np(2, Z) * w[:, None], X, X)
             if order >= 2 else None)
        return h, g, H

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        dps = check_dps(dps)
        V = self._mp_rows(V, dps)
        X = self.X.reshape(-1, self.d)
        N = X.shape[0]
        M, d = V.shape
        with mpmath.workdps(dps + 5):
            Xm = [[mpmath.mpf(float(x)) for x in row] for row in X]
            w = [mpmath.mpf(float(f)) / N for f in self.fbar.reshape(-1)]
            h = np.empty(M, dtype=object)
            g = np.empty((M, d), dtype=object)
            H = np.empty((M, d, d), dtype=object)
            for j in range(M):
                v = list(V[j])
                acc0, acc1 = mpmath.mpf(0), [mpmath.mpf(0)] * d
                acc2 = [[mpmath.mpf(0)] * d for _ in range(d)]
                for x, wi in zip(Xm, w, strict=True):
                    z = mpmath.fdot(v, x)
                    acc0 += wi * self._mpf[0](z)
                    if order >= 1:
                        c1 = wi * self._mpf[1](z)
                        acc1 = [a + c1 * xk for a, xk in zip(acc1, x, strict=True)]
                    if order >= 2:
                        c2 = wi * self._mpf[2](z)
                        for k in range(d):
                            ck = c2 * x[k]
                            row = acc2[k]
                            for l in range(k, d):
                                row[l] += ck * x[l]
                h[j] = acc0
                g[j] = acc1
                for k in range(d):
                    for l in range(d):
                        H[j, k, l] = acc2[min(k, l)][max(k, l)]
        return round_mp(h, dps), round_mp(g, dps), round_mp(H, dps)

    def describe(self) -> dict:
        return {"family": self.name, "d": self.d, "mean": [float(x) for x in self.mean],
                "scale": self.s, "abar": self.abar, "method": self.method,
                "points": self.points, "replicates": self.replicates, "rule_seed": self.seed,
                "C_error": self.C_error()}


# ----------------------------------------------------------------------------- weight rule
_LAWS = {
    # inverse CDF of the standardized law (mean 0, variance 1) applied to u in (0, 1)
    "uniform": lambda u: math.sqrt(3) * (2 * u - 1),
    "rademacher": lambda u: np.where(u < 0.5, -1.0, 1.0),
}


class WeightRuleTarget(_RuleTarget):
    """I.i.d. entries ``m + s xi`` (``xi`` of a standardized law): the weight rule."""

    def __init__(self, activation: Any, d: int, law: str, *, mean: float = 0.0,
                 scale: float | None = None, abar: float = 1.0, points: int = DEFAULT_POINTS,
                 replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> None:
        self.activation = act = as_activation(activation)
        if act.kernel.route == "numeric":
            raise CompverifyError(
                f"the iid:{law} target with activation {act.spec!r} needs its Gaussian kernel in "
                "closed form (this activation's kernel is numeric): use a Gaussian target or a "
                "finite .npz target")
        if law not in _LAWS:
            raise CompverifyError(f"unknown law {law!r}; expected one of {', '.join(_LAWS)}")
        d, m, s = iid_fields(d, mean, scale)
        self.d, self.m, self.s = d, m, s
        self.law, self.name = law, f"iid:{law}"
        self.abar = float(abar)
        self.points, self.replicates, self.seed = points, replicates, int(seed)
        self.W = self.m + self.s * _LAWS[law](_sobol(d, points, replicates, seed))  # (R, n, d)
        self.method = (f"randomized QMC over the weights: {replicates} x {points} scrambled Sobol "
                       "points, exact kernel sums; error estimated from the replicates")

    @cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        W = self.W.reshape(-1, self.d)
        return np.full(W.shape[0], self.abar / W.shape[0]), W

    def replicate_h(self, V: np.ndarray) -> np.ndarray:
        a = np.full(self.points, self.abar / self.points)
        return np.stack([cross_term(self.activation.kernel, a, Wr, V).h for Wr in self.W])

    @cached_property
    def _block_sums(self) -> np.ndarray:
        """``S[r, r'] = abar^2 mean K(w, w')`` over replicate blocks ``r != r'``."""
        R = self.replicates
        S = np.full((R, R), np.nan)
        for r in range(R):
            for q in range(r + 1, R):
                S[r, q] = S[q, r] = self.abar**2 * float(
                    np.mean(kernel_matrix(self.activation.kernel, self.W[r], self.W[q])))
        return S

    def replicate_C(self) -> np.ndarray:
        return np.nanmean(self._block_sums, axis=1)

    def C(self) -> float:
        S = self._block_sums
        return float(np.nanmean(S))

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        a, W = self._flat
        ct = cross_term(self.activation.kernel, a, W, V, order=order)
        return ct.h, getattr(ct, "dh", None), getattr(ct, "d2h", None)

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        a, W = self._flat
        ct = cross_term_mp(self.activation.kernel, a, W, self._mp_rows(V, dps), order=order,
                           dps=dps)
        return ct.h, getattr(ct, "dh", None), getattr(ct, "d2h", None)

    def describe(self) -> dict:
        return {"family": self.name, "d": self.d, "mean": self.m, "scale": self.s,
                "abar": self.abar, "method": self.method, "points": self.points,
                "replicates": self.replicates, "rule_seed": self.seed, "C_error": self.C_error()}

    def sample(self, N: int, seed: int) -> Any:
        return sample_iid(self.activation, self.law, self.d, self.m, self.s, self.abar, N, seed)


def sample_iid(activation: Any, law: str, d: int, m: float, s: float, abar: float, N: int,
               seed: int) -> Any:
    """A finite network of ``N`` neurons with i.i.d. entries ``m + s xi`` (seeded), ``a_i = abar/N``."""
    N = check_positive_int(N, "N")
    rng = np.random.default_rng(seed)
    if law == "gaussian":
        W = m + s * rng.standard_normal((N, d))
    else:
        W = m + s * _LAWS[law](rng.random((N, d)))
    return FiniteNetwork(activation, np.full(N, abar / N), W,
                         name=f"iid:{law} sample N={N} seed={seed}")


def uniform_target(activation: Any, d: int, *, mean: float = 0.0, scale: float | None = None,
                   **rule: Any) -> WeightRuleTarget:
    """I.i.d. uniform entries with mean ``m`` and standard deviation ``s`` (default ``1/sqrt(d)``)."""
    return WeightRuleTarget(activation, d, "uniform", mean=mean, scale=scale, **rule)


def rademacher_sampled_target(activation: Any, d: int, *, mean: float = 0.0,
                              scale: float | None = None, **rule: Any) -> WeightRuleTarget:
    """Rademacher entries ``m + s eps`` for ``d`` too large for the exact ``2^d`` sum."""
    return WeightRuleTarget(activation, d, "rademacher", mean=mean, scale=scale, **rule)
