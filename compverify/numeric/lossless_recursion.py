"""The CK and NTK coefficient recursions of a deep network, and the equivalent matrix ``Phi~``.

A layer with activation ``sigma`` and input scale ``tau`` maps the Gram matrix of its (centred)
inputs ``G`` to ``Phi_ij = E[(sigma(u_i) - d0)(sigma(u_j) - d0)]``, ``(u_i, u_j)`` centred Gaussian
with covariance ``G[{i,j}]`` (infinite width).  For ``i != j`` the entries ``G_ij`` and the
deviations ``G_ii - tau^2`` are ``O(p^-1/2)``; Mehler's expansion ``E f(u) g(v) = sum_k
E f^(k) E g^(k) c^k / k!`` and ``d/dtau^2 E f(tau xi) = E f''(tau xi)/2`` give, to the order that
survives in operator norm,

``Phi_ij ~ d1^2 G_ij + (d2^2/4)(G_ii - tau^2)(G_jj - tau^2) + (d2^2/2) G_ij^2``,
``Phi_ii - tau'^2 ~ (d3/2)(G_ii - tau^2)``.

Composed from the data Gram ``X'X`` (coefficients ``(alpha1, alpha2, alpha3, alpha4) = (1, 0, 0,
1)``) this is the CK recursion

``alpha1 <- d1^2 alpha1``, ``alpha2 <- d1^2 alpha2 + d2^2 alpha4^2/4``,
``alpha3 <- d1^2 alpha3 + d2^2 alpha1^2/2``, ``alpha4 <- d3 alpha4/2``,

with each layer's moments taken at its *input* scale ``tau_{l-1}``.  The NTK
``Theta_l = Phi_l + Theta_{l-1} o Phi'_l`` (``Phi'_l = E sigma'(u_i) sigma'(u_j)``, whose
off-diagonal part is ``d1^2 + d2^2 G_ij + ...``) gives

``beta1 <- alpha1 + d1^2 beta1``, ``beta2 <- alpha2 + d1^2 beta2``,
``beta3 <- alpha3 + d1^2 beta3 + d2^2 alpha1_prev beta1``,
``kappa_l^2 = tau_l^2 + kappa_{l-1}^2 E sigma'(tau_{l-1} xi)^2``, ``kappa_0^2 = tau_0^2``.

The equivalent of the CK matrix for a Gaussian mixture ``x_i = (mu_a + C_a^(1/2) z_i)/sqrt(p)``:
``Phi~ = alpha1 X'X + V A V' + c I`` with ``V = [J/sqrt(p), psi]`` (``J`` the class indicators,
``psi_i = |omega_i|^2 - tr C_a/p`` the norm fluctuation of the noise ``omega_i``),
``A = [[alpha2 t t' + alpha3 S, alpha2 t], [alpha2 t', alpha2]]``, ``t_a = sqrt(p)(tr C_a/p -
tau0^2)``, ``S_ab = tr(C_a C_b)/p``, and ``c = tau_L^2 - alpha1 tau0^2 - alpha3 tau0^4`` as in the
published code (``identity="published"``), or ``c = tau_L^2 - alpha1 tau0^2`` (``"diagonal"``:
what makes ``Phi~_ii = Phi_ii`` to leading order, since ``(V A V')_ii -> 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError

__all__ = ["LayerMoments", "Coefficients", "ck_ntk_recursion", "equivalent_ck"]


@dataclass(frozen=True)
class LayerMoments:
    """One layer's moments at its input scale (floats or mpf): ``d1, d2, d3``, ``tau_next_sq``,
    ``dsigma_sq`` (``None`` when it diverges)."""

    d1: Any
    d2: Any
    d3: Any
    tau_next_sq: Any
    dsigma_sq: Any = None


@dataclass(frozen=True)
class Coefficients:
    """``alpha1..alpha4`` (CK), ``beta1..beta3`` (NTK), ``tau_sq`` (``tau_L^2``), ``kappa_sq``
    (``kappa_L^2``, ``None`` when some ``E sigma'^2`` diverges), per layer in ``history``."""

    alpha: tuple
    beta: tuple
    tau_sq: Any
    kappa_sq: Any
    history: tuple


def ck_ntk_recursion(tau0_sq: Any, layers: list[LayerMoments]) -> Coefficients:
    """Run the CK and NTK recursions through ``layers`` (moments at each layer's input scale).

    >>> m = LayerMoments(d1=0.5, d2=0.4, d3=0.7, tau_next_sq=0.34, dsigma_sq=0.5)
    >>> c = ck_ntk_recursion(1.0, [m])
    >>> [round(a, 6) for a in c.alpha], [round(b, 6) for b in c.beta]
    ([0.25, 0.04, 0.08, 0.35], [0.5, 0.04, 0.24])
    """
    if not layers:
        raise CompverifyError("layers must be at least 1, got 0")
    a1, a2, a3, a4 = 1, 0, 0, 1
    b1, b2, b3 = 1, 0, 0
    kappa = tau0_sq
    tau_sq = tau0_sq
    history = []
    for m in layers:
        d1s, d2s = m.d1**2, m.d2**2
        na1 = d1s * a1
        na2 = d1s * a2 + d2s * a4**2 / 4
        na3 = d1s * a3 + d2s * a1**2 / 2
        na4 = m.d3 * a4 / 2
        nb1 = na1 + d1s * b1
        nb2 = na2 + d1s * b2
        nb3 = na3 + d1s * b3 + d2s * a1 * b1
        kappa = None if (kappa is None or m.dsigma_sq is None) else m.tau_next_sq + kappa * m.dsigma_sq
        a1, a2, a3, a4, b1, b2, b3 = na1, na2, na3, na4, nb1, nb2, nb3
        tau_sq = m.tau_next_sq
        history.append({"alpha": (a1, a2, a3, a4), "beta": (b1, b2, b3), "tau_sq": tau_sq,
                        "kappa_sq": kappa})
    return Coefficients((a1, a2, a3, a4), (b1, b2, b3), tau_sq, kappa, tuple(history))


def equivalent_ck(coef: Coefficients, X: np.ndarray, labels: np.ndarray, means: np.ndarray,
                  covs: list[np.ndarray], noise: np.ndarray, tau0_sq: float,
                  identity: str = "published") -> np.ndarray:
    """``Phi~ = alpha1 X'X + V A V' + c I`` (module docstring) for data ``X`` (``p x n``, columns
    ``x_i``), class ``labels`` (``0..k-1``), ``covs`` ``C_a``, and the noise ``omega_i = x_i -
    mu_a/sqrt(p)`` (``noise``, ``p x n``)."""
    if identity not in ("published", "diagonal"):
        raise CompverifyError(f"identity must be 'published' or 'diagonal', got {identity!r}")
    p, n = X.shape
    k = len(covs)
    a1, a2, a3, _ = (float(a) for a in coef.alpha)
    J = np.zeros((n, k))
    J[np.arange(n), labels] = 1.0
    trc = np.array([np.trace(C) / p for C in covs])
    t = np.sqrt(p) * (trc - tau0_sq)
    S = np.array([[np.trace(Ca @ Cb) / p for Cb in covs] for Ca in covs])
    psi = np.sum(noise**2, axis=0) - trc[labels]
    V = np.hstack([J / np.sqrt(p), psi[:, None]])
    A = np.zeros((k + 1, k + 1))
    A[:k, :k] = a2 * np.outer(t, t) + a3 * S
    A[:k, k] = A[k, :k] = a2 * t
    A[k, k] = a2
    c = float(coef.tau_sq) - a1 * tau0_sq
    if identity == "published":
        c -= a3 * tau0_sq**2
    return a1 * (X.T @ X) + V @ A @ V.T + c * np.eye(n)


def to_float(x: Any) -> float:
    return float(x) if not isinstance(x, mpmath.mpf) else float(x)
