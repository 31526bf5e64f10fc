"""CK/NTK recursions against independent matrices at moderate size (n = 300, p = 600).

The coefficients are recovered by least squares from the matrix entries: off-diagonal entries on
``[x_i'x_j, psi_i psi_j, (x_i'x_j)^2, 1]`` (``psi_i = |x_i|^2 - tau0^2``), the diagonal on
``[1, psi_i]``; the matrices are (a) a Monte Carlo CK of a sampled network (width 3000) and (b) the
infinite-width CK from the toolkit's kernel.  Tolerances: exact-kernel fit 2% (alpha1, alpha4),
5% (alpha2, alpha3); Monte Carlo 3% (alpha1, tau_L^2), 10% (alpha4).  The NTK for one ReLU
layer is ``Theta = Phi + (X'X) o E[step(u) step(v)]`` (step's kernel from the toolkit).
"""

import math

import numpy as np
import pytest

from compverify.numeric.lossless_moments import gaussian_moments
from compverify.numeric.lossless_recursion import LayerMoments, ck_ntk_recursion, equivalent_ck
from compverify.numeric.lossless_spectra import exact_ck, gmm_data, sampled_ck
from compverify.symbolic import get_activation


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(0)
    n, p = 300, 600
    X, labels, means, covs, noise = gmm_data(n, p, rng, mean=1.0, cov_shift=4.0)
    tau0 = float(np.mean(np.sum(X**2, axis=0)))
    return rng, X, labels, means, covs, noise, tau0


def _layers(spec, tau0_sq, L):
    taus, d0s, lm = [tau0_sq], [], []
    for _ in range(L):
        v = gaussian_moments(spec, math.sqrt(taus[-1]), dps=20).values
        d0s.append(float(v["d0"]))
        ds = None if v["dsigma_sq"] is None else float(v["dsigma_sq"])
        lm.append(LayerMoments(float(v["d1"]), float(v["d2"]), float(v["d3"]), float(v["tau_next_sq"]), ds))
        taus.append(float(v["tau_next_sq"]))
    return taus, d0s, lm


def _fit(P, X, tau0):
    G = X.T @ X
    psi = np.diag(G) - tau0
    iu = np.triu_indices(G.shape[0], 1)
    A = np.column_stack([G[iu], np.outer(psi, psi)[iu], G[iu]**2, np.ones(len(iu[0]))])
    off = np.linalg.lstsq(A, P[iu], rcond=None)[0]
    diag = np.linalg.lstsq(np.column_stack([np.ones(len(psi)), psi]), np.diag(P), rcond=None)[0]
    return off, diag


def _close(a, b, rel):
    return abs(a - b) <= rel * abs(b)


def test_ck_recursion_against_exact_kernel_and_monte_carlo(setting):
    rng, X, labels, means, covs, noise, tau0 = setting
    taus, d0s, lm = _layers("relu", tau0, 2)
    c = ck_ntk_recursion(tau0, lm)
    a1, a2, a3, a4 = c.alpha
    off, diag = _fit(exact_ck("relu", X, 2, taus, d0s), X, tau0)
    assert _close(off[0], a1, 0.02) and _close(off[1], a2, 0.05) and _close(off[2], a3, 0.05)
    assert _close(diag[0], c.tau_sq, 0.02) and _close(diag[1], a4, 0.02)
    relu = get_activation("relu").numpy
    off, diag = _fit(sampled_ck([relu, relu], X, [3000, 3000], d0s, rng), X, tau0)
    assert _close(off[0], a1, 0.03) and _close(diag[0], c.tau_sq, 0.03) and _close(diag[1], a4, 0.10)


@pytest.mark.slow
def test_ntk_recursion_one_layer(setting):
    _, X, labels, means, covs, noise, tau0 = setting
    taus, d0s, lm = _layers("relu", tau0, 1)
    c = ck_ntk_recursion(tau0, lm)
    G = X.T @ X
    nu = np.sqrt(np.diag(G))
    rho = np.clip(G / np.outer(nu, nu), -1, 1)
    np.fill_diagonal(rho, 1.0)
    step = get_activation("step").kernel.value(nu[:, None], nu[None, :], rho)
    theta = exact_ck("relu", X, 1, taus, d0s) + G * step
    off, diag = _fit(theta, X, tau0)
    b1, b2, b3 = c.beta
    assert _close(off[0], b1, 0.02) and _close(off[1], b2, 0.05) and _close(off[2], b3, 0.05)
    assert _close(diag[0], c.kappa_sq, 0.02)


def test_equivalent_matrix_diagonal_identity_is_closer(setting):
    """The published identity term subtracts alpha3 tau0^4 more than the diagonal needs."""
    _, X, labels, means, covs, noise, tau0 = setting
    taus, d0s, lm = _layers("relu", tau0, 1)
    c = ck_ntk_recursion(tau0, lm)
    exact = exact_ck("relu", X, 1, taus, d0s)
    diag_err = {}
    for ident in ("published", "diagonal"):
        T = equivalent_ck(c, X, labels, means, covs, noise, tau0, ident)
        diag_err[ident] = float(np.mean(np.diag(exact) - np.diag(T)))
    assert abs(diag_err["diagonal"]) < 0.1 * abs(diag_err["published"])
    assert _close(diag_err["published"], c.alpha[2] * tau0**2, 0.1)


def test_spectra_point_reports_the_ternary_network_against_phi_tilde():
    """``ternary_vs_tilde_*`` is ``|Phi_tern - Phi~|/|Phi~|`` (operator norms, here by numpy's
    2-norm): the matrices are redrawn from the point's documented seed ``default_rng([seed, n])``
    in the experiment's order (data, original network, ternary network)."""
    from compverify.numeric.lossless_spectra import spectra_case

    s1, s2, s3, b = -1.6, 0.9, 7.9, 1.2
    d0 = 0.2
    n = 32
    point, _ = spectra_case("relu", 1, n, 2.0, ternary=[("binary-last", (s1, s2, s3, b), d0)],
                            seed=0)
    rng = np.random.default_rng([0, n])
    X, labels, _, covs, noise = gmm_data(n, n // 2, rng)
    tau0 = float(np.mean(np.sum(X**2, axis=0)))
    taus, d0s, lm = _layers("relu", tau0, 1)
    c = ck_ntk_recursion(tau0, lm)
    sampled_ck([get_activation("relu").numpy], X, [2 * n], d0s, rng)  # the original network

    def sigma(z):
        return b * ((z < s1) + ((z > s2) & (z < s3)) + (z > s3 + s2 - s1))
    tern = sampled_ck([sigma], X, [2 * n], [d0], rng, eps=0.5)
    for ident in ("published", "diagonal"):
        T = equivalent_ck(c, X, labels, None, covs, noise, tau0, ident)
        want = np.linalg.norm(tern - T, 2) / np.linalg.norm(T, 2)
        assert _close(point[f"ternary_vs_tilde_{ident}"], want, 1e-10)
