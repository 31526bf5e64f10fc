"""The spectral-equivalence experiment: CK matrices of the original and ternary networks vs ``Phi~``.

For each ``n`` (``p = n / ratio``) a two-class Gaussian mixture ``x_i = (mu_a + C_a^(1/2) z_i)/sqrt p``
is drawn (``mu_a = -+ mean e_1``, ``C_1 = I``, ``C_2 = (1 + cov_shift/sqrt p) I``, equal classes;
with ``tau0`` given, rescaled so that ``mean |x_i|^2 = tau0^2``, the scale the ternary network was
matched at) and

* ``Phi_exact``: the original network's CK with the expectation over every weight matrix taken
  exactly in the infinite-width limit, i.e. the toolkit's kernel ``E_w[sigma(<w,x_i>) sigma(<w,x_j>)]``
  (:attr:`compverify.symbolic.Activation.kernel`, no sampling) applied layer after layer to the
  Gram matrix of the previous layer, centred by ``d0`` at the layer's scale as the published model
  does (``x_{l} = (sigma(W_l x_{l-1}) - d0_l)/sqrt(m_l)``);
* ``Phi_orig``: a sampled network, Gaussian weights, widths ``width * n``;
* ``Phi_tern``: the compressed network, sampled: weights ``0`` (probability ``eps``) or
  ``+-1/sqrt(1 - eps)``, the matched binary activations (:mod:`compverify.numeric.lossless_matching`;
  the last layer's least-squares point when it has no root);
* ``Phi~``: :func:`compverify.numeric.lossless_recursion.equivalent_ck` with the original's
  coefficients (both identity terms).

Reported per ``n``: ``|Phi_exact - Phi~|/|Phi~|`` (operator norms), the same for the sampled
matrices, ``|Phi_orig - Phi_tern|/|Phi_orig|``, the top eigenvector's alignment with the classes
``|<u, y>|^2`` (``y`` the centred, normalised labels); and, over ``n``, the least-squares exponent
of ``error ~ C n^slope`` with a 95% confidence interval (Student t).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from compverify.errors import CompverifyError
from compverify.numeric.lossless_moments import gaussian_moments
from compverify.numeric.lossless_recursion import LayerMoments, ck_ntk_recursion, equivalent_ck
from compverify.symbolic.activations import get_activation

__all__ = ["gmm_data", "exact_ck", "sampled_ck", "run_spectra", "fit_exponent", "MIN_N", "MIN_P"]

MIN_N = 16
MIN_P = 8


def gmm_data(n: int, p: int, rng: np.random.Generator, mean: float = 3.0, cov_shift: float = 4.0):
    """``(X (p x n), labels, means (k x p), covs, noise (p x n))`` of the two-class mixture."""
    labels = np.repeat([0, 1], [n // 2, n - n // 2])
    means = np.zeros((2, p))
    means[0, 0], means[1, 0] = -mean, mean
    scales = np.array([1.0, 1.0 + cov_shift / math.sqrt(p)])
    covs = [np.eye(p) * s for s in scales]
    noise = rng.standard_normal((p, n)) * np.sqrt(scales[labels])[None, :] / math.sqrt(p)
    X = means[labels].T / math.sqrt(p) + noise
    return X, labels, means, covs, noise


def _mean_fn(spec: str):
    """``m(nu) = E sigma(nu xi)`` vectorised: Gauss-Hermite (160 nodes) in float64."""
    act = get_activation(spec)
    x, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / math.sqrt(2 * math.pi)
    deg = act.homogeneous_degree
    if deg is not None:  # exact: m(nu) = nu^deg m(1), m(1) from the closed form
        m1 = float(gaussian_moments(spec, 1, dps=20).values["d0"])
        return lambda nu: m1 * np.asarray(nu)**deg
    return lambda nu: act.numpy(np.multiply.outer(np.asarray(nu), x)) @ w


def exact_ck(spec: str, X: np.ndarray, layers: int, taus_sq: list[float], d0s: list[float]) -> np.ndarray:
    """The infinite-width CK: the kernel applied ``layers`` times, centred by ``d0`` of each layer."""
    act = get_activation(spec)
    kern = act.kernel
    mean = _mean_fn(spec)
    G = X.T @ X
    for _ in range(layers):
        nu = np.sqrt(np.clip(np.diag(G), 1e-300, None))
        rho = np.clip(G / np.outer(nu, nu), -1.0, 1.0)
        np.fill_diagonal(rho, 1.0)
        K = kern.value(nu[:, None], nu[None, :], rho)
        m = mean(nu)
        d0 = d0s[_]
        G = K - d0 * (m[:, None] + m[None, :]) + d0**2
    return G


def sampled_ck(sigmas: list, X: np.ndarray, widths: list[int], d0s: list[float],
               rng: np.random.Generator, eps: float | None = None) -> np.ndarray:
    """``X_L' X_L`` of one sampled network: Gaussian weights, or ternary with sparsity ``eps``."""
    H = X
    for sigma, m, d0 in zip(sigmas, widths, d0s, strict=True):
        if eps is None:
            W = rng.standard_normal((m, H.shape[0]))
        else:
            u = rng.random((m, H.shape[0]))
            W = np.where(u < eps, 0.0, np.where(u < (1 + eps) / 2, 1.0, -1.0)) / math.sqrt(1 - eps)
        H = (sigma(W @ H) - d0) / math.sqrt(m)
    return H.T @ H


def _opnorm(A: np.ndarray) -> float:
    ev = np.linalg.eigvalsh((A + A.T) / 2)
    return float(max(abs(ev[0]), abs(ev[-1])))


def _alignment(A: np.ndarray, labels: np.ndarray) -> float:
    y = np.where(labels == 0, -1.0, 1.0)
    y = (y - y.mean()) / np.linalg.norm(y - y.mean())
    _, U = np.linalg.eigh((A + A.T) / 2)
    return float(np.dot(U[:, -1], y)**2)


def fit_exponent(ns: list[int], errors: list[float]) -> dict[str, Any]:
    """``log err = c + slope log n`` by least squares; 95% CI of the slope (t, ``len(ns) - 2`` dof)."""
    if len(ns) < 3:
        return {"slope": None, "ci": None, "note": "need at least 3 sizes for a confidence interval"}
    r = stats.linregress(np.log(ns), np.log(errors))
    t = stats.t.ppf(0.975, len(ns) - 2)
    return {"slope": float(r.slope), "ci": [float(r.slope - t * r.stderr), float(r.slope + t * r.stderr)],
            "stderr": float(r.stderr)}


def binary_sigma(kind: str, params: tuple):
    """The float64 binary activation of a matched layer."""
    if kind == "binary":
        s1, s2, b = (float(v) for v in params)
        return lambda z: b * ((z < s1) + (z > s2))
    s1, s2, s3, b = (float(v) for v in params)
    s4 = s3 + s2 - s1
    return lambda z: b * ((z < s1) + ((z > s2) & (z < s3)) + (z > s4))


def run_spectra(spec: str, layers: int, ns: list[int], ratio: float, *, ternary: list | None,
                width: float = 2.0, eps: float = 0.5, seed: int = 0, mean: float = 3.0,
                cov_shift: float = 4.0, bins: int = 40, progress: Any = None,
                cache: Any = None, tau0: float | None = None) -> dict[str, Any]:
    """The experiment over ``ns`` (see the module docstring).  ``ternary`` is a list of
    ``(kind, params, d0)`` per layer (``None``: no compressed network)."""
    if ratio <= 0 or not math.isfinite(ratio):
        raise CompverifyError(f"ratio must be a positive number, got {ratio}")
    if layers < 1:
        raise CompverifyError(f"layers must be at least 1, got {layers}")
    if not 0 <= eps < 1:
        raise CompverifyError(f"eps must be in [0, 1), got {eps}")
    for n in ns:
        if n < MIN_N or round(n / ratio) < MIN_P:
            raise CompverifyError(f"n = {n} with ratio {ratio} gives p = {round(n / ratio)}: need "
                                  f"n >= {MIN_N} and p >= {MIN_P}")
    act = get_activation(spec)
    points = []
    hist = None
    for idx, n in enumerate(sorted(ns)):
        key = f"n {n}"
        if cache is not None and cache.get(key) is not None:
            points.append(cache.get(key))
            continue
        p = int(round(n / ratio))
        rng = np.random.default_rng([seed, n])
        X, labels, means, covs, noise = gmm_data(n, p, rng, mean, cov_shift)
        if tau0 is not None:  # rescale the mixture so that mean |x_i|^2 = tau0^2 exactly
            c = float(tau0) / math.sqrt(float(np.mean(np.sum(X**2, axis=0))))
            X, noise, means, covs = c * X, c * noise, c * means, [c * c * C for C in covs]
        tau0_sq = float(np.mean(np.sum(X**2, axis=0)))
        taus_sq, d0s, lm = [tau0_sq], [], []
        for _ in range(layers):
            mv = gaussian_moments(spec, math.sqrt(taus_sq[-1]), dps=20).values
            d0s.append(float(mv["d0"]))
            lm.append(LayerMoments(float(mv["d1"]), float(mv["d2"]), float(mv["d3"]),
                                   float(mv["tau_next_sq"])))
            taus_sq.append(float(mv["tau_next_sq"]))
        coef = ck_ntk_recursion(tau0_sq, lm)
        tilde = {ident: equivalent_ck(coef, X, labels, means, covs, noise, tau0_sq, ident)
                 for ident in ("published", "diagonal")}
        exact = exact_ck(spec, X, layers, taus_sq, d0s)
        widths = [int(width * n)] * layers
        orig = sampled_ck([act.numpy] * layers, X, widths, d0s, rng)
        point: dict[str, Any] = {"n": n, "p": p, "tau0_sq": tau0_sq, "widths": widths}
        for ident, T in tilde.items():
            nt = _opnorm(T)
            point[f"exact_vs_tilde_{ident}"] = _opnorm(exact - T) / nt
            point[f"sampled_vs_tilde_{ident}"] = _opnorm(orig - T) / nt
        point["alignment"] = {"exact": _alignment(exact, labels),
                              "tilde": _alignment(tilde["diagonal"], labels),
                              "sampled": _alignment(orig, labels)}
        mats = {"exact": exact, "tilde": tilde["diagonal"], "sampled": orig}
        if ternary is not None:
            sig = [binary_sigma(kind, params) for kind, params, _ in ternary]
            tern = sampled_ck(sig, X, widths, [float(d) for _, _, d in ternary], rng, eps=eps)
            point["original_vs_ternary"] = _opnorm(orig - tern) / _opnorm(orig)
            point["exact_vs_ternary"] = _opnorm(exact - tern) / _opnorm(exact)
            point["alignment"]["ternary"] = _alignment(tern, labels)
            mats["ternary"] = tern
        if idx == len(ns) - 1:
            eig = {k: np.linalg.eigvalsh((v + v.T) / 2) for k, v in mats.items()}
            hi = max(float(e[-1]) for e in eig.values())
            lo = min(float(e[0]) for e in eig.values())
            edges = np.linspace(lo, hi, bins + 1)
            hist = {"edges": edges.tolist(),
                    "counts": {k: np.histogram(e, edges)[0].tolist() for k, e in eig.items()},
                    "n": n}
        points.append(point)
        if cache is not None:
            cache.put(key, point)
        if progress is not None:
            progress(idx, n)
    fits = {}
    for name in ("exact_vs_tilde_diagonal", "exact_vs_tilde_published", "sampled_vs_tilde_diagonal",
                 "original_vs_ternary"):
        if all(name in pt for pt in points):
            fits[name] = fit_exponent([pt["n"] for pt in points], [pt[name] for pt in points])
    return {"activation": act.spec, "layers": layers, "ratio": ratio, "tau0": tau0, "width_factor": width,
            "eps": eps, "seed": seed, "mean": mean, "cov_shift": cov_shift,
            "coefficients": {"alpha": [float(a) for a in coef.alpha]},
            "points": points, "fits": fits, "histogram": hist}
