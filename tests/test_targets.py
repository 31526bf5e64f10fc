"""Mean-field targets: closed forms vs Monte Carlo over the weights, finite-N convergence, exact sums."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest

from compverify.errors import CompverifyError
from compverify.numeric.kernel_sums import kernel_matrix
from compverify.numeric.targets import GaussianTarget, RademacherTarget, from_options, load_npz
from compverify.symbolic import get_activation


def _mc_h(act, mean, s, v, n, rng):
    """E_w[K(w, v)] by Monte Carlo over w ~ N(mean, s^2 I), using only the kernel."""
    W = mean + s * rng.standard_normal((n, v.size))
    vals = kernel_matrix(act.kernel, W, v[None, :])[:, 0]
    return vals.mean(), vals.std() / math.sqrt(n)


CASES = [("relu", 0.0, None), ("relu_power:2", 0.0, 0.7), ("polynomial:1,0,-2,1", 0.3, 0.5),
         ("polynomial:0,0,1", -0.2, None), ("abs", 0.0, 0.4),
         # homogeneous with a mean: the series route (compverify.numeric.meanfield_series)
         ("relu", 0.3, None), ("leaky_relu:0.2", -0.25, 0.5), ("relu_power:2", 0.2, 0.6)]


@pytest.mark.parametrize("spec,m,scale", CASES)
def test_h_and_C_vs_monte_carlo(spec, m, scale, rng):
    d = 3
    act = get_activation(spec)
    t = from_options("gaussian", d=d, mean=str(m), scale=None if scale is None else str(scale),
                     activation=act)
    s = 1 / math.sqrt(d) if scale is None else scale
    v = rng.standard_normal(d)
    est, se = _mc_h(act, m, s, v, 200_000, rng)
    assert abs(t.h(v[None, :])[0] - est) < 5 * se + 1e-12
    # C-bar = E[K(w, w')] over independent copies
    n = 200_000
    W1 = m + s * rng.standard_normal((n, d))
    W2 = m + s * rng.standard_normal((n, d))
    nu, nv = np.linalg.norm(W1, axis=1), np.linalg.norm(W2, axis=1)
    vals = act.kernel.value(nu, nv, np.sum(W1 * W2, axis=1) / (nu * nv))
    assert abs(t.C() - vals.mean()) < 5 * vals.std() / math.sqrt(n)


def test_spec_reference_relu():
    """SPEC A3: h(v) = s |v| c_d / sqrt(2 pi), C = s^2 d / (2 pi) (computed from the formula)."""
    for d in (2, 5, 9):
        t = from_options("isotropic", d=d, mean=None, scale=None, activation="relu")
        cd = (d / 2) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
        v = np.arange(1.0, d + 1)[None, :]
        s = 1 / math.sqrt(d)
        assert t.h(v)[0] == pytest.approx(s * np.linalg.norm(v) * cd / math.sqrt(2 * math.pi),
                                          rel=1e-14)
        assert t.C() == pytest.approx(s * s * d / (2 * math.pi), rel=1e-14)
        with mpmath.workdps(50):
            ref = mpmath.mpf(1) / (2 * mpmath.pi)
            assert abs(t.C_mp(50) - ref) < mpmath.mpf(10) ** -45


def test_finite_n_approaches_mean_field():
    t = from_options("isotropic", d=3, mean=None, scale=None, activation="relu")
    V = np.array([[1.0, 0.2, -0.4], [0.0, -1.0, 0.5]])
    errs = []
    for N in (100, 10_000):
        e = np.mean([np.max(np.abs(t.sample(N, seed).h(V) - t.h(V))) for seed in range(6)])
        errs.append(e)
    assert errs[1] < errs[0] / 4  # ~ N^-1/2: a factor 10 expected, 4 leaves room


@pytest.mark.parametrize("spec,m", [("relu", 0.0), ("polynomial:1,0,-2,1", 0.3)])
def test_gradients_vs_finite_differences_and_mp(spec, m, rng):
    t = from_options("gaussian", d=3, mean=str(m), scale="0.6", activation=spec)
    V = rng.standard_normal((2, 3))
    g, H = t.h_grad(V), t.h_hess(V)
    e = 1e-6
    for a in range(3):
        dV = np.zeros_like(V)
        dV[:, a] = e
        np.testing.assert_allclose((t.h(V + dV) - t.h(V - dV)) / (2 * e), g[:, a], rtol=1e-7,
                                   atol=1e-9)
        np.testing.assert_allclose((t.h_grad(V + dV) - t.h_grad(V - dV)) / (2 * e), H[:, :, a],
                                   rtol=1e-6, atol=1e-8)
    gm = t.h_grad_mp(V, 40)
    np.testing.assert_allclose(np.array(gm, dtype=float), g, rtol=1e-14)


def test_rademacher_exact_sum_vs_brute_force():
    d, m, s = 4, 0.2, 0.5
    t = RademacherTarget("relu", d, mean=m, scale=s)
    act = get_activation("relu")
    V = np.array([[0.3, -1.0, 0.5, 0.2]])
    total = 0.0
    pats = list(itertools.product([-1.0, 1.0], repeat=d))
    for eps in pats:
        w = m + s * np.array(eps)
        nu, nv = np.linalg.norm(w), np.linalg.norm(V[0])
        total += float(act.kernel.value(nu, nv, w @ V[0] / (nu * nv)))
    assert t.h(V)[0] == pytest.approx(total / len(pats), rel=1e-13)


def test_npz_round_trip_and_errors(tmp_path):
    t = from_options("isotropic", d=3, mean=None, scale=None, activation="relu")
    fin = t.sample(20, 1)
    p = tmp_path / "t.npz"
    fin.save(p)
    back = load_npz(p, "relu")
    np.testing.assert_array_equal(back.W, fin.W)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "cut.npz").write_bytes(p.read_bytes()[:100])  # a download cut short
    for path, msg in [(tmp_path / "none.npz", "does not exist"),
                      (tmp_path / "bad.npz", "not a readable .npz: not a complete zip"),
                      (tmp_path / "cut.npz", "not a readable .npz: not a complete zip")]:
        with pytest.raises(CompverifyError, match=msg) as err:
            from_options(str(path), d=None, mean=None, scale=None, activation="relu")
        assert "pickle" not in str(err.value)  # np.load's fallback must not leak its wording
    np.savez(tmp_path / "miss.npz", a=np.ones(3))
    with pytest.raises(CompverifyError, match="lacks"):
        load_npz(tmp_path / "miss.npz", "relu")
    np.savez(tmp_path / "nan.npz", a=np.ones(2), W=np.array([[1.0, np.nan], [0, 1]]))
    with pytest.raises(CompverifyError, match="non-finite"):
        load_npz(tmp_path / "nan.npz", "relu")


@pytest.mark.parametrize("kw,msg", [
    (dict(target="gaussian", d=3, mean="1,2", scale=None), "entries but d = 3"),
    (dict(target="gaussian", d=3, mean=None, scale="-1"), "positive"),
    (dict(target="gaussian", d=3, mean="a", scale=None), "number"),
    (dict(target="iid:cauchy", d=3, mean=None, scale=None), "unknown target"),
    (dict(target="iid:uniform", d=3, mean="0,1,2", scale=None), "one mean"),
    (dict(target="isotropic", d=0, mean=None, scale=None), "--d"),
])
def test_from_options_errors(kw, msg):
    with pytest.raises(CompverifyError, match=msg):
        from_options(activation="relu", **kw)


@pytest.mark.slow
def test_unsupported_family_is_an_error_not_an_approximation():
    # the iid weight rule needs a closed-form kernel; tanh(z)^2's is numeric, and it has no
    # spectral form, so the spectral route does not take it either (gelu now has one)
    with pytest.raises(CompverifyError, match="closed form"):
        from_options("iid:uniform", d=3, mean=None, scale=None, activation="tanh(z)**2")
    # the class itself offers closed forms only and names the fallback
    with pytest.raises(CompverifyError, match="gaussian_target"):
        GaussianTarget("tanh", 3, mean=[0.1, 0, 0])
    with pytest.raises(CompverifyError, match="d <= 12"):
        RademacherTarget("relu", 13)
