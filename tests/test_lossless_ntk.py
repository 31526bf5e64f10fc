"""The exact NTK, its equivalent, the sampled NTK and the Mehler kernels, each against an
independent computation.

* back-propagated sampled NTK == ``J J'`` with ``J`` by central finite differences over every
  parameter of a tiny network (relative 1e-6);
* exact (infinite-width) CK and NTK == the mean of sampled networks of width 4000 (Monte Carlo;
  relative Frobenius error under 6%, about four standard errors at this width);
* ReLU's derivative kernel (Price's theorem from the relu kernel's rho-partial) == the toolkit's
  step kernel (1e-12);
* tanh's Mehler kernel and derivative kernel == the toolkit's quadrature kernel on sampled entries,
  within the carried error;
* the beta coefficients == a least-squares fit of the exact NTK's entries (n = 300, p = 600);
* the spectral distances against direct formulas.
"""

import math

import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.numeric.lossless_ntk import (
    check_against_toolkit,
    equivalent_ntk,
    exact_ck_ntk,
    layer_kernels,
    mehler_kernel,
    sampled_ntk,
    spectral_distances,
)
from compverify.numeric.lossless_recursion import ck_ntk_recursion
from compverify.numeric.lossless_spectra import gmm_data
from compverify.symbolic import get_activation

from .test_lossless_recursion import _close, _fit, _layers


def _tiny_net_f(params, x, widths, d0s, sigma):
    Ws, w = params
    h = x
    for W, m, d0 in zip(Ws, widths, d0s, strict=True):
        h = (sigma(W @ h) - d0) / math.sqrt(m)
    return float(w @ h)


def test_sampled_ntk_equals_finite_difference_jacobian():
    rng = np.random.default_rng(3)
    p, n, widths, d0s = 4, 3, [5, 6], [0.1, -0.2]
    X = rng.standard_normal((p, n)) / 2
    act = get_activation("tanh")
    sig, dsig = act.numpy, act.derivative_evaluators(1)[0]
    state = rng.bit_generator.state
    _, theta = sampled_ntk([sig, sig], [dsig, dsig], X, widths, d0s, rng)
    rng.bit_generator.state = state  # the same draws, in sampled_ntk's order
    Ws = [rng.standard_normal((widths[0], p)), rng.standard_normal((widths[1], widths[0]))]
    w = rng.standard_normal(widths[1])
    flat = np.concatenate([Ws[0].ravel(), Ws[1].ravel(), w])
    sizes = [Ws[0].size, Ws[1].size]

    def f(theta_vec, x):
        a, b = sizes
        W1 = theta_vec[:a].reshape(Ws[0].shape)
        W2 = theta_vec[a:a + b].reshape(Ws[1].shape)
        return _tiny_net_f(([W1, W2], theta_vec[a + b:]), x, widths, d0s, np.tanh)

    h = 1e-6
    J = np.zeros((n, flat.size))
    for k in range(flat.size):
        e = np.zeros(flat.size)
        e[k] = h
        for i in range(n):
            J[i, k] = (f(flat + e, X[:, i]) - f(flat - e, X[:, i])) / (2 * h)
    fd = J @ J.T
    assert np.max(np.abs(theta - fd)) < 1e-6 * np.max(np.abs(fd))


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "tanh"])
def test_exact_ntk_against_monte_carlo(spec):
    rng = np.random.default_rng(5)
    X, *_ = gmm_data(12, 8, rng, mean=1.0)
    act = get_activation(spec)
    _, d0s, _ = _layers(spec, float(np.mean(np.sum(X**2, axis=0))), 2)
    ex = exact_ck_ntk(spec, X, 2, d0s)
    dsig = act.derivative_evaluators(1)[0]
    draws = [sampled_ntk([act.numpy] * 2, [dsig] * 2, X, [4000, 4000], d0s, rng) for _ in range(4)]
    ck = np.mean([d[0] for d in draws], axis=0)
    ntk = np.mean([d[1] for d in draws], axis=0)
    assert np.linalg.norm(ck - ex["ck"]) < 0.06 * np.linalg.norm(ex["ck"])
    assert np.linalg.norm(ntk - ex["ntk"]) < 0.06 * np.linalg.norm(ex["ntk"])


@pytest.mark.slow
def test_relu_derivative_kernel_is_the_step_kernel():
    rng = np.random.default_rng(1)
    X, *_ = gmm_data(20, 10, rng)
    G = X.T @ X
    _, D, err = layer_kernels("relu", G, 0.0)
    nu = np.sqrt(np.diag(G))
    rho = np.clip(G / np.outer(nu, nu), -1, 1)
    np.fill_diagonal(rho, 1.0)
    step = get_activation("step").kernel.value(nu[:, None], nu[None, :], rho)
    assert err == 0.0 and np.max(np.abs(D - step)) < 1e-12


@pytest.mark.slow
def test_tanh_mehler_kernels_against_toolkit_quadrature():
    rng = np.random.default_rng(2)
    X, *_ = gmm_data(40, 20, rng)
    G = X.T @ X
    nu = np.sqrt(np.diag(G))
    rho = np.clip(G / np.outer(nu, nu), -1, 1)
    np.fill_diagonal(rho, 1.0)
    act = get_activation("tanh")
    M, err = mehler_kernel(act.numpy, nu, rho)
    assert 0 < err < 1e-6
    assert check_against_toolkit("tanh", G, M, 12, rng) <= err + 1e-12  # toolkit rule's own error
    D, err_d = mehler_kernel(act.derivative_evaluators(1)[0], nu, rho)
    assert check_against_toolkit("tanh", G, D, 12, rng, derivative=True) <= err_d + 1e-12
    x, w = np.polynomial.hermite_e.hermegauss(300)  # diagonal: E tanh(nu xi)^2
    diag = (np.tanh(np.multiply.outer(nu, x))**2) @ w / math.sqrt(2 * math.pi)
    assert np.max(np.abs(np.diag(M) - diag)) <= err


@pytest.mark.slow
def test_mehler_refuses_identical_inputs():
    G = np.ones((3, 3))
    with pytest.raises(CompverifyError, match="identical"):
        layer_kernels("tanh", G, 0.0)


@pytest.mark.slow
def test_ntk_of_a_jumping_activation_is_refused():
    rng = np.random.default_rng(1)
    X, *_ = gmm_data(16, 8, rng)
    with pytest.raises(CompverifyError, match="diverges"):
        exact_ck_ntk("sign", X, 1, [0.0])


@pytest.mark.slow
def test_beta_coefficients_fit_exact_ntk_two_layers():
    rng = np.random.default_rng(0)
    n, p = 300, 600
    X, labels, means, covs, noise = gmm_data(n, p, rng, mean=1.0, cov_shift=4.0)
    tau0 = float(np.mean(np.sum(X**2, axis=0)))
    _, d0s, lm = _layers("relu", tau0, 2)
    c = ck_ntk_recursion(tau0, lm)
    theta = exact_ck_ntk("relu", X, 2, d0s)["ntk"]
    off, diag = _fit(theta, X, tau0)
    b1, b2, b3 = c.beta
    assert _close(off[0], b1, 0.02) and _close(off[1], b2, 0.05) and _close(off[2], b3, 0.05)
    assert _close(diag[0], c.kappa_sq, 0.02)
    psi = equivalent_ntk(c, X, labels, covs, noise, tau0, "diagonal")
    assert spectral_distances(theta, psi)["op"] < 0.1


def test_spectral_distances_against_direct_formulas():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((30, 30))
    A = A + A.T
    B = A + 0.1 * np.diag(rng.standard_normal(30))
    d = spectral_distances(A, A)
    assert d["op"] == 0 and d["fro"] == 0 and d["wasserstein"] == 0 and d["kolmogorov"] == 0
    d = spectral_distances(B, A)
    ea, eb = np.linalg.eigvalsh(B), np.linalg.eigvalsh(A)
    w1 = np.mean(np.abs(ea - eb)) / np.mean(np.abs(eb))  # equal sizes: sorted matching is optimal
    assert abs(d["wasserstein"] - w1) < 1e-12
    assert abs(d["fro"] - np.linalg.norm(B - A) / np.linalg.norm(A)) < 1e-12
    assert abs(d["top"][0] - (ea[-1] - eb[-1]) / eb[-1]) < 1e-12
    ks = max(abs(np.mean(ea <= x) - np.mean(eb <= x)) for x in np.concatenate([ea, eb]))
    assert d["kolmogorov"] == ks
