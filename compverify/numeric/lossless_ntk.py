"""Exact (infinite-width) CK and NTK matrices of a deep network, sampled finite-width NTKs, the
NTK's asymptotic equivalent, and spectral distances.

Network (as in :mod:`compverify.numeric.lossless_spectra`): ``x_0 = x``,
``x_l = (sigma_l(W_l x_{l-1}) - d0_l)/sqrt(m_l)`` with ``W_l`` of variance-one entries, output
``f(x) = w' x_L``.  The NTK is ``Theta(x, x') = sum_theta df/dtheta(x) df/dtheta(x')`` over all of
``W_1..W_L, w``.  At infinite width (Jacot et al.), with ``Phi_0 = X'X``,

``Phi_l = E[(sigma(u) - d0)(sigma(v) - d0)]``, ``Phi'_l = E[sigma'(u) sigma'(v)]``,
``(u, v) ~ N(0, Phi_{l-1}[{i, j}])``, ``Theta_0 = X'X``, ``Theta_l = Phi_l + Theta_{l-1} o Phi'_l``.

The *derivative kernel* ``E sigma'(u) sigma'(v)`` is the toolkit kernel's ``rho``-partial:
Price's theorem gives ``d/d rho E sigma(nu xi) sigma(nv eta) = nu nv E sigma'(u) sigma'(v)``, so
``Phi'_ij = k_rho(nu_i, nu_j, rho_ij)/(nu_i nu_j)``; on the diagonal (``rho = 1``) it is
``E sigma'(nu xi)^2``, infinite for activations that jump (step, sign, the binary family).

Closed-form kernels (relu, abs, erf, gelu, ...) are evaluated by :class:`compverify.symbolic.Kernel`.
For numeric kernels (tanh, sigmoid, silu, user expressions) the toolkit's quadrature costs about
30 ms an entry, too much for ``n^2`` entries; they use Mehler's expansion instead:
``E f(nu_i xi) f(nu_j eta) = sum_k a_k(nu_i) a_k(nu_j) rho^k`` with
``a_k(nu) = E[f(nu xi) He_k(xi)]/sqrt(k!)`` (Gauss-Hermite quadrature), truncated at ``K`` terms.
By Cauchy-Schwarz and Parseval the tail is at most ``|rho|^(K+1) sqrt(T_i T_j)``, ``T_i = E f(nu_i
xi)^2 - sum_{k<=K} a_k(nu_i)^2``; the quadrature error of the coefficients is estimated by a second
rule with more nodes.  Both are carried as ``error`` (a bound on the truncation plus the
quadrature estimate, entrywise max) and the series is checked against the toolkit's quadrature
kernel on sampled entries (:func:`check_against_toolkit`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

from compverify.errors import CompverifyError
from compverify.numeric.lossless_recursion import Coefficients
from compverify.symbolic.activations import get_activation

__all__ = ["hermite_coefficients", "mehler_kernel", "layer_kernels", "exact_ck_ntk", "sampled_ntk",
           "equivalent_ntk", "spectral_distances", "check_against_toolkit", "MEHLER_TERMS"]

#: Terms of the Mehler series and Gauss-Hermite nodes (and the check rule's nodes).
MEHLER_TERMS = 60
GH_NODES = 200
GH_CHECK = 260


@lru_cache(maxsize=4)
def _gh(q: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.hermite_e.hermegauss(q)
    return x, w / math.sqrt(2 * math.pi)


def _normalised_hermite(x: np.ndarray, K: int) -> np.ndarray:
    """``He_k(x)/sqrt(k!)`` for ``k = 0..K`` (rows), by the stable three-term recurrence."""
    H = np.empty((K + 1, x.size))
    H[0] = 1.0
    if K >= 1:
        H[1] = x
    for k in range(1, K):
        H[k + 1] = (x * H[k] - math.sqrt(k) * H[k - 1]) / math.sqrt(k + 1)
    return H


def hermite_coefficients(f: Any, nus: np.ndarray, K: int = MEHLER_TERMS,
                         q: int = GH_NODES) -> tuple[np.ndarray, np.ndarray]:
    """``(a, m2)``: ``a[i, k] = E[f(nu_i xi) He_k(xi)]/sqrt(k!)`` (``k <= K``) and
    ``m2[i] = E f(nu_i xi)^2``, by ``q``-node Gauss-Hermite quadrature."""
    x, w = _gh(q)
    F = f(np.multiply.outer(np.asarray(nus, dtype=float), x))  # n x q
    F = np.broadcast_to(F, (len(nus), x.size))
    H = _normalised_hermite(x, K)  # (K+1) x q
    return (F * w) @ H.T, (F * F) @ w


def mehler_kernel(f: Any, nu: np.ndarray, rho: np.ndarray,
                  K: int = MEHLER_TERMS) -> tuple[np.ndarray, float]:
    """``(M, error)``: ``M_ij = E f(nu_i xi) f(nu_j eta)``, ``corr(xi, eta) = rho_ij`` (diagonal
    ``rho = 1``: ``E f(nu_i xi)^2``), and a bound-plus-estimate of ``max |M - exact|``."""
    a, m2 = hermite_coefficients(f, nu, K, GH_NODES)
    a2, m22 = hermite_coefficients(f, nu, K, GH_CHECK)
    n = nu.size
    off = ~np.eye(n, dtype=bool)
    r = np.where(off, rho, 0.0)
    if np.any(np.abs(r) >= 1):
        raise CompverifyError("Mehler kernel: an off-diagonal correlation is +-1 (two identical "
                              "inputs); the series does not converge there")
    M = np.zeros((n, n))
    P = np.ones((n, n))
    for k in range(K + 1):
        M += np.outer(a[:, k], a[:, k]) * P
        P *= r
    tail = np.clip(m2 - np.sum(a * a, axis=1), 0.0, None)
    bound = np.abs(P) * np.sqrt(np.outer(tail, tail))  # P = rho^(K+1) now
    quad = np.max(np.abs(a - a2)) * np.max(np.sum(np.abs(a), axis=1)) * 2 + np.max(np.abs(m2 - m22))
    np.fill_diagonal(M, m2)
    np.fill_diagonal(bound, 0.0)
    return M, float(np.max(bound) + quad)


def _closed(spec: str) -> bool:
    return get_activation(spec).kernel.is_closed_form


def layer_kernels(spec: str, G: np.ndarray, d0: float, derivative: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """One layer at infinite width from the Gram ``G`` of its input: ``(Phi, Phi', error)`` with
    ``Phi`` centred by ``d0`` (see the module docstring).  ``error`` is 0 for closed-form kernels
    (evaluated to float64 by the toolkit) and the Mehler bound-plus-estimate otherwise."""
    act = get_activation(spec)
    nu = np.sqrt(np.clip(np.diag(G), 1e-300, None))
    rho = np.clip(G / np.outer(nu, nu), -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    x, w = _gh(GH_NODES)
    deg = act.homogeneous_degree
    if deg is not None:  # E sigma(nu xi) = nu^deg E sigma(xi) exactly
        from compverify.numeric.lossless_moments import gaussian_moments

        mean = float(gaussian_moments(spec, 1, dps=20).values["d0"]) * nu**deg
    else:
        mean = act.numpy(np.multiply.outer(nu, x)) @ w
    err = 0.0
    if _closed(spec):
        kern = act.kernel
        if derivative:
            k, _, _, k_rho = kern.grad(nu[:, None], nu[None, :], rho)
            with np.errstate(all="ignore"):
                D = np.asarray(k_rho) / np.outer(nu, nu)
            if not np.all(np.isfinite(np.diag(D))):
                raise CompverifyError(f"activation {spec}: E sigma'(tau xi)^2 diverges (sigma jumps), "
                                      "so the NTK's diagonal is infinite")
        else:
            k, D = kern.value(nu[:, None], nu[None, :], rho), None
        K = np.asarray(k, dtype=float)
    else:
        K, err = mehler_kernel(act.numpy, nu, rho)
        D = None
        if derivative:
            dsig = act.derivative_evaluators(1)[0]
            D, e2 = mehler_kernel(dsig, nu, rho)
            err = max(err, e2)
    Phi = K - d0 * (mean[:, None] + mean[None, :]) + d0**2
    return Phi, D, err


def exact_ck_ntk(spec: str, X: np.ndarray, layers: int, d0s: list[float],
                 ntk: bool = True) -> dict[str, Any]:
    """``{"ck": Phi_L, "ntk": Theta_L or None, "error": e}`` at infinite width; ``e`` accumulates
    the per-layer kernel errors (an estimate; 0 for closed-form kernels)."""
    G = X.T @ X
    Theta = G.copy()
    err = 0.0
    for layer in range(layers):
        Phi, D, e = layer_kernels(spec, G, d0s[layer], derivative=ntk)
        err += e * (1 + (float(np.max(np.abs(Theta))) if ntk else 0.0))
        if ntk:
            Theta = Phi + Theta * D
        G = Phi
    return {"ck": G, "ntk": Theta if ntk else None, "error": err}


def _ternary_weights(rng: np.random.Generator, shape: tuple, eps: float) -> np.ndarray:
    u = rng.random(shape)
    return np.where(u < eps, 0.0, np.where(u < (1 + eps) / 2, 1.0, -1.0)) / math.sqrt(1 - eps)


def sampled_ntk(sigmas: list, dsigmas: list, X: np.ndarray, widths: list[int], d0s: list[float],
                rng: np.random.Generator, eps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(Phi_L, Theta)`` of one sampled network (Gaussian weights, or ternary with sparsity
    ``eps``; output weights ``w ~ N(0, 1)``), by back-propagation:
    ``delta_L = w o sigma_L'(h_L)/sqrt(m_L)``, ``delta_{l-1} = sigma'(h_{l-1}) o (W_l' delta_l)/
    sqrt(m_{l-1})``, ``Theta = X_L'X_L + sum_l (delta_l' delta_l) o (X_{l-1}' X_{l-1})``.
    ``dsigmas[l]`` is the derivative used (``None``: zero almost everywhere, as autograd gives for
    a step activation)."""
    H = [X]
    Z = []
    Ws = []
    for sigma, m, d0 in zip(sigmas, widths, d0s, strict=True):
        W = rng.standard_normal((m, H[-1].shape[0])) if eps is None else \
            _ternary_weights(rng, (m, H[-1].shape[0]), eps)
        h = W @ H[-1]
        Ws.append(W)
        Z.append(h)
        H.append((sigma(h) - d0) / math.sqrt(m))
    ck = H[-1].T @ H[-1]
    theta = ck.copy()
    w = rng.standard_normal(widths[-1])
    L = len(widths)
    ds = dsigmas[L - 1]
    delta = None if ds is None else w[:, None] * ds(Z[L - 1]) / math.sqrt(widths[L - 1])
    for layer in range(L - 1, -1, -1):
        if delta is None:
            break
        theta += (delta.T @ delta) * (H[layer].T @ H[layer])
        if layer > 0:
            ds = dsigmas[layer - 1]
            delta = None if ds is None else \
                ds(Z[layer - 1]) * (Ws[layer].T @ delta) / math.sqrt(widths[layer - 1])
    return ck, theta


def equivalent_ntk(coef: Coefficients, X: np.ndarray, labels: np.ndarray, covs: list[np.ndarray],
                   noise: np.ndarray, tau0_sq: float, identity: str = "diagonal") -> np.ndarray:
    """``Psi~ = beta1 X'X + V B V' + c I``: :func:`equivalent_ck`'s construction with
    ``(beta1, beta2, beta3)`` for ``(alpha1, alpha2, alpha3)`` and ``c = kappa_L^2 - beta1 tau0^2``
    (``"diagonal"``) or ``- beta3 tau0^4`` more (``"published"``)."""
    from compverify.numeric.lossless_recursion import equivalent_ck

    if coef.kappa_sq is None:
        raise CompverifyError("the NTK equivalent needs E sigma'^2, which diverges for this activation")
    b1, b2, b3 = coef.beta
    shadow = Coefficients((b1, b2, b3, 0.0), coef.beta, coef.kappa_sq, coef.kappa_sq, ())
    return equivalent_ck(shadow, X, labels, None, covs, noise, tau0_sq, identity)


def _kolmogorov(a: np.ndarray, b: np.ndarray) -> float:
    """``sup_x |F_a(x) - F_b(x)|`` of the empirical CDFs of sorted samples ``a``, ``b``."""
    pts = np.concatenate([a, b])
    fa = np.searchsorted(a, pts, side="right") / a.size
    fb = np.searchsorted(b, pts, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def spectral_distances(A: np.ndarray, B: np.ndarray, top: int = 3) -> dict[str, Any]:
    """Distances of ``A`` from the reference ``B`` (symmetric ``n x n``): relative operator and
    Frobenius norms of ``A - B``; between the eigenvalue distributions, the Wasserstein-1 distance
    (relative to ``B``'s mean absolute eigenvalue) and the Kolmogorov distance (sup of the CDF
    difference); the relative differences of the ``top`` largest eigenvalues."""
    ea = np.linalg.eigvalsh((A + A.T) / 2)
    eb = np.linalg.eigvalsh((B + B.T) / 2)
    D = A - B
    ed = np.linalg.eigvalsh((D + D.T) / 2)
    op_b = max(abs(eb[0]), abs(eb[-1]))
    return {"op": float(max(abs(ed[0]), abs(ed[-1])) / op_b),
            "fro": float(np.linalg.norm(D) / np.linalg.norm(B)),
            "wasserstein": float(stats.wasserstein_distance(ea, eb) / np.mean(np.abs(eb))),
            "kolmogorov": _kolmogorov(ea, eb),
            "top": [float((ea[-1 - i] - eb[-1 - i]) / eb[-1 - i]) for i in range(min(top, len(eb)))]}


def check_against_toolkit(spec: str, G: np.ndarray, M: np.ndarray, count: int,
                          rng: np.random.Generator, derivative: bool = False) -> float:
    """``max |M_ij - k(nu_i, nu_j, rho_ij)|`` (or the derivative kernel ``k_rho/(nu_i nu_j)``) over
    ``count`` random off-diagonal entries, ``k`` the toolkit's kernel (quadrature for numeric
    activations): an independent check of :func:`mehler_kernel`."""
    n = G.shape[0]
    nu = np.sqrt(np.diag(G))
    i = rng.integers(0, n, count)
    j = (i + rng.integers(1, n, count)) % n
    rho = G[i, j] / (nu[i] * nu[j])
    kern = get_activation(spec).kernel
    if derivative:
        ref = np.asarray(kern.grad(nu[i], nu[j], rho)[3]) / (nu[i] * nu[j])
    else:
        ref = np.asarray(kern.value(nu[i], nu[j], rho))
    return float(np.max(np.abs(M[i, j] - ref)))
