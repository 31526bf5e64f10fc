"""The spectral route (numeric/spectral.py) against independent computations.

References: the exact 2^d sum of RademacherTarget (d <= 12, kernel sums), the closed-form and
series Gaussian targets (the gaussian law goes through the same spectral machinery), numerical
integration of the spectral densities, finite differences, and the mpmath path (plain formulas at
raised precision) against the float64 path (cancellation-free rewriting).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate
from target_checks import check_derivatives

from compverify.errors import CompverifyError
from compverify.numeric.spectral import PowerSpectralTarget, SpectralTarget, supports
from compverify.numeric.targets import RademacherTarget, from_options, gaussian_target
from compverify.symbolic.activations import get_activation
from compverify.symbolic.spectral import spectral_form


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["tanh", "sigmoid", "erf", "tanh(2*z) + 1", "erf(z/3)"])
def test_odd_density_reproduces_activation(spec):
    act = get_activation(spec)
    f = spectral_form(act.expr)
    c0 = float(f.c0)
    for z in (-1.3, 0.4, 2.2):
        val, _ = integrate.quad(lambda w, z=z: float(f.q(np.array([w]))[0]) * math.sin(w * z),
                                0, np.inf, limit=400)
        assert abs(c0 + float(f.c1) * z + val - float(act.numpy(np.array(z)))) < 1e-8


@pytest.mark.parametrize("spec,expect", [("relu", (0, 0.5, 0.5)), ("abs", (0, 0, 1)),
                                         ("leaky_relu:0.1", (0, 0.55, 0.45)),
                                         ("step", (0.5, 0, 0))])
def test_spectral_form_coefficients(spec, expect):
    f = spectral_form(get_activation(spec).expr)
    assert tuple(float(c) for c in (f.c0, f.c1, f.c2)) == pytest.approx(expect)
    assert not supports("z**2*Abs(z) + z")  # a mixed sum of degrees has no spectral form


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "leaky_relu:0.3", "abs", "tanh", "erf", "sigmoid"])
@pytest.mark.parametrize("d", [3, 6])
def test_rademacher_matches_exact_sum(spec, d):
    rng = np.random.default_rng(d)
    V = rng.normal(size=(3, d)) / math.sqrt(d)
    t = SpectralTarget(spec, d, "rademacher", mean=0.2)
    exact = RademacherTarget(spec, d, mean=0.2)
    err = np.abs(t.h(V) - exact.h(V))
    est = t.h_error(V)
    assert np.all(err <= est + 2e-14), (err, est)
    assert np.all(est < 1e-7)
    assert abs(t.C() - exact.C()) < 1e-13 * max(1.0, abs(exact.C()))


@pytest.mark.slow
@pytest.mark.parametrize("spec,mean", [("relu", 0.0), ("relu", 0.3), ("erf", 0.3), ("abs", 0.0)])
def test_gaussian_law_matches_closed_form(spec, mean):
    d = 3
    V = np.array([[0.5, -0.2, 0.4], [-0.3, 0.9, 0.1]])
    t = SpectralTarget(spec, d, "gaussian", mean=mean)
    ref = gaussian_target(spec, d, mean=[mean] * d)
    tol = 1e-12 + (ref.h_error(V) if hasattr(ref, "h_error") else 0)
    assert np.all(np.abs(t.h(V) - ref.h(V)) <= tol)
    assert np.all(t.h_error(V) < 1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "tanh"])
def test_derivatives_finite_differences(spec):
    V = np.array([[0.5, -0.2, 0.4], [-0.3, 0.9, 0.1]])
    t = SpectralTarget(spec, 3, "rademacher", mean=0.2)
    check_derivatives(t, V, atol_g=1e-8, atol_H=1e-7)


@pytest.mark.slow
def test_mp_path_matches_float_path():
    # two independent evaluations of one rule: plain formulas at raised precision (mpmath) and
    # the cancellation-free rewriting (float64)
    V = np.array([[0.6, -0.3]])
    t = SpectralTarget("relu", 2, "rademacher", mean=0.2)
    h, g, H = t._eval_mp(V, 2, 20)
    assert np.allclose(h.astype(float), t.h(V), rtol=1e-13, atol=1e-15)
    assert np.allclose(g.astype(float), t.h_grad(V), rtol=1e-11, atol=1e-13)
    assert np.allclose(H.astype(float), t.h_hess(V), rtol=1e-9, atol=1e-11)
    # an activation with an odd part
    t2 = SpectralTarget("tanh", 2, "rademacher", mean=0.2)
    h2, g2, _ = t2._eval_mp(V, 1, 20)
    assert np.allclose(h2.astype(float), t2.h(V), rtol=1e-13, atol=1e-15)
    assert np.allclose(g2.astype(float), t2.h_grad(V), rtol=1e-11, atol=1e-13)
    # and the mp path is a smooth function at higher precision: 20 vs 30 digits
    h30 = t.h_mp(V, 30)
    with mpmath.workdps(30):
        assert abs(h30[0] - h[0]) < mpmath.mpf(10) ** -18


@pytest.mark.slow
def test_routing_and_bad_input():
    t = from_options("iid:rademacher", d=13, mean="0.1", scale=None, activation="relu")
    assert isinstance(t, SpectralTarget)
    assert t.describe()["family"] == "iid:rademacher"
    q = from_options("iid:rademacher", d=13, mean=None, scale=None, activation="relu_power:3")
    assert isinstance(q, PowerSpectralTarget)  # multiprecision on the spectral rule
    with pytest.raises(CompverifyError, match="multiprecision only"):
        SpectralTarget("relu_power:3", 3, "rademacher").h(np.ones((1, 3)))
    with pytest.raises(CompverifyError, match="spectral form"):
        SpectralTarget("z**2*Abs(z) + z", 3, "rademacher")
    with pytest.raises(CompverifyError, match="scale"):
        SpectralTarget("relu", 3, "rademacher", scale=-1.0)
    with pytest.raises(CompverifyError, match="nonzero"):
        SpectralTarget("relu", 3, "rademacher").h(np.zeros((1, 3)))


def test_rademacher_d13_error_estimate_and_sample():
    d = 13
    t = SpectralTarget("relu", d, "rademacher", mean=0.1)
    V = np.random.default_rng(0).normal(size=(2, d)) / math.sqrt(d)
    assert np.all(t.h_error(V) < 1e-11)
    # the finite network approaches the mean field: N = 4000 neurons, Monte Carlo tolerance
    net = t.sample(4000, seed=1)
    assert np.all(np.abs(net.h(V) - t.h(V)) < 5 * 0.05 / math.sqrt(4000) * 10)


# ----------------------------------------------------------------------------- uniform entries
def _kernel_1d(spec):
    K = get_activation(spec).kernel

    def k(w, u):
        if w == 0 or u == 0:
            return float(K.value(np.array([abs(w)]), np.array([abs(u)]), np.array([0.0]))[0])
        return float(K.value(np.array([abs(w)]), np.array([abs(u)]), np.array([np.sign(w * u)]))[0])

    return k


@pytest.mark.parametrize("spec,mean", [("relu", 0.0), ("relu", 0.3), ("erf", 0.3), ("tanh", 0.3),
                                       ("leaky_relu:0.2", -0.4)])
@pytest.mark.slow
def test_uniform_d1_matches_quadrature(spec, mean):
    # d = 1: h(v) = E_w K(w, v) is a one-dimensional integral of the kernel (adaptive quad)
    t = SpectralTarget(spec, 1, "uniform", mean=mean, scale=0.8)
    lo, hi = mean - math.sqrt(3) * 0.8, mean + math.sqrt(3) * 0.8
    k = _kernel_1d(spec)
    V = np.array([[0.7], [-1.2]])
    ref = [integrate.quad(lambda w, v=v: k(w, v[0]), lo, hi, points=[0.0] if lo < 0 < hi else None,
                          epsabs=1e-14, epsrel=1e-13)[0] / (hi - lo) for v in V]
    err, est = np.abs(t.h(V) - ref), t.h_error(V)
    assert np.all(err <= est + 1e-14), (err, est)
    assert np.all(est < 1e-4)


@pytest.mark.slow
def test_uniform_C_is_the_mean_of_h():
    # C = abar E_w' h(w') over the square; ReLU's h is homogeneous of degree 1, so in polar
    # coordinates the mean is int h(u(theta)) R(theta)^3 / 3 dtheta / |square|, R the distance to
    # the square's edge: Gauss-Legendre in theta (12 nodes on each piece between the axes and the
    # corners), evaluated with the float64 h.  The frequency rule's C is an independent mpmath
    # computation.  The reference's own error: 12 and 16 nodes agree to 7e-12 (the tensor rule over
    # the square that this replaces converged algebraically: 10 nodes per half-axis, 400
    # directions, to 1e-7)
    t = SpectralTarget("relu", 2, "uniform", mean=0.2)
    lo, hi = t.law.lo, t.law.hi
    cuts = sorted({0.0, math.pi / 2, math.pi, 1.5 * math.pi, 2 * math.pi}
                  | {math.atan2(y, x) % (2 * math.pi) for x in (lo, hi) for y in (lo, hi)})
    x, wt = np.polynomial.legendre.leggauss(12)
    theta = np.concatenate([(a + b) / 2 + (b - a) / 2 * x for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    weights = np.concatenate([(b - a) / 2 * wt for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    c, s = np.cos(theta), np.sin(theta)
    with np.errstate(divide="ignore"):
        R = np.minimum(np.where(c > 0, hi / c, lo / c), np.where(s > 0, hi / s, lo / s))
    mean_h = weights @ (t.h(np.stack([c, s], axis=1)) * R**3 / 3) / (hi - lo) ** 2
    assert t.C_error() < 1e-6
    assert abs(t.C() - mean_h) <= t.C_error()  # measured 1.7e-10 (estimate 1.3e-8)


@pytest.mark.slow
def test_uniform_derivatives_and_mp_path():
    V = np.array([[0.6, -0.3]])
    for spec in ("relu", "tanh"):
        t = SpectralTarget(spec, 2, "uniform", mean=0.2)
        check_derivatives(t, V, atol_g=1e-8, atol_H=1e-7)
    t = SpectralTarget("relu", 2, "uniform", mean=0.2)
    h, g, H = t._eval_mp(V[:1], 2, 20)
    assert np.allclose(h.astype(float), t.h(V[:1]), rtol=1e-13, atol=1e-15)
    assert np.allclose(g.astype(float), t.h_grad(V[:1]), rtol=1e-11, atol=1e-13)
    assert np.allclose(H.astype(float), t.h_hess(V[:1]), rtol=1e-9, atol=1e-11)


def test_uniform_routing():
    t = from_options("iid:uniform", d=3, mean="0.1", scale=None, activation="tanh")
    assert isinstance(t, SpectralTarget) and t.name == "iid:uniform"
    q = from_options("iid:uniform", d=3, mean="0.1", scale=None, activation="relu", rule_points=64)
    assert not isinstance(q, SpectralTarget)  # --rule-points asks for the QMC rule


@pytest.mark.slow
def test_finer_rule_estimate_in_mpmath_goes_beyond_float64():
    # the rule of half the step, its nested levels summed in mpmath: the estimate is no longer
    # floored at float64 rounding, and it still bounds the error against the exact 2^d sum
    d = 6
    V = np.random.default_rng(0).normal(size=(2, d)) / math.sqrt(d)
    coarse = SpectralTarget("relu", d, "rademacher", mean=0.25, scale=0.5)
    fine = coarse.finer()
    assert fine.step == coarse.step / 2 and fine.w.size > 2 * coarse.w.size
    exact = RademacherTarget("relu", d, mean=0.25, scale=0.5)
    h, g, e = fine.h_grad_estimate_mp(V, 40)
    with mpmath.workdps(40):
        err = [abs(a - b) for a, b in zip(h, exact.h_mp(V, 40), strict=True)]
        assert all(x <= y for x, y in zip(err, e, strict=True)), (err, e)
        assert max(e) < mpmath.mpf(10) ** -18
        gx = exact.h_grad_mp(V, 40)
        assert max(abs(a - b) for a, b in zip(g.ravel(), gx.ravel(), strict=True)) < 1e-18
    C, Ce = fine.C_estimate_mp(30)
    assert abs(C - exact.C_mp(30)) <= Ce


@pytest.mark.slow
def test_solve_refines_the_loss_with_the_finer_rule():
    # d = 4, M = 1: the optimal direction is the mean direction, an atom of the law, where the
    # rule converges only algebraically; the refined loss must still be within its estimate
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import solve

    spectral = solve(Problem("relu", SpectralTarget("relu", 4, "rademacher", mean=0.25, scale=0.5),
                             1), restarts=2, seed=0, dps=20)
    exact = solve(Problem("relu", RademacherTarget("relu", 4, mean=0.25, scale=0.5), 1),
                  restarts=2, seed=0, dps=20)
    ref = spectral.evidence.rule_refinement
    assert ref is not None and ref["step"] == "0.0625"
    with mpmath.workdps(30):
        actual = abs(spectral.loss - exact.loss)
        assert actual <= spectral.evidence.rule_error
        assert actual <= abs(exact.loss) * mpmath.mpf(10) ** -spectral.evidence.verified_digits


@pytest.mark.slow
@pytest.mark.parametrize("law,spec", [("uniform", "relu"), ("rademacher", "tanh")])
def test_arb_and_mpmath_arithmetic_agree(law, spec):
    # the multiprecision rule runs on python-flint's arb; mpmath is the reference implementation
    import compverify.numeric.spectral as sp

    t = SpectralTarget(spec, 2, law, mean=-0.1)
    V = np.array([[0.7, -0.4]] if law == "uniform" else [[0.7, -0.4], [-0.3, -0.9]])
    # negative entries: signs survive the conversion; h, gradient and Hessian in one pass
    assert t.arith.name == "arb"
    a = t._eval_mp(V, 2, 30)
    t.arith = sp._MpArith
    b = t._eval_mp(V, 2, 30)
    with mpmath.workdps(40):
        for x, y in zip(a, b, strict=True):
            x, y = np.asarray(x, dtype=object), np.asarray(y, dtype=object)
            assert max(abs(p - q) for p, q in zip(x.ravel(), y.ravel(), strict=True)) < 1e-28



@pytest.mark.slow
@pytest.mark.parametrize("d", [4, 10])
def test_estimate_covers_directions_at_and_near_atoms(d):
    # v parallel to an atom m 1 + s eps of the Rademacher law: the relu kernel's singularity at
    # rho = 1 makes a ridge the rule converges on only algebraically (before the atoms were taken
    # exactly: actual error 4.3e-9 at d = 10, and the squaring model underestimated it); the
    # atoms within ATOM_GAP now enter through the closed-form kernel, so the error is at rounding
    rng = np.random.default_rng(d)
    exact = RademacherTarget("relu", d, mean=0.25, scale=0.5)
    t = SpectralTarget("relu", d, "rademacher", mean=0.25, scale=0.5)
    a = 0.25 + 0.5 * np.where(rng.random(d) < 0.5, 1.0, -1.0)
    a /= np.linalg.norm(a)
    p = rng.standard_normal(d)
    p -= (p @ a) * a
    p /= np.linalg.norm(p)
    gaps = [0.3, 0.05, 0.01, 1e-3, 1e-4, 0.0]
    V = np.array([(1 - g) * a + math.sqrt(1 - (1 - g) ** 2) * p for g in gaps]
                 + [np.ones(d) / math.sqrt(d), -np.ones(d)])
    assert t.law.atom_gap(V)[-3:] == pytest.approx([0, 0, 0], abs=1e-12)
    err, est = np.abs(t.h(V) - exact.h(V)), t.h_error(V)
    assert np.all(err <= est), (err, est)
    assert np.all(err < 2e-15), err
    near = t.near_atoms(V)
    assert [len(x) for x in near] == [0, 1, 1, 1, 1, 1, 2, 2]  # the mean direction: +-(m + s) 1
    gerr = np.abs(t.h_grad(V) - exact.h_grad(V)).max()
    herr = np.abs(t.h_hess(V) - exact.h_hess(V)).max()
    assert gerr < 1e-13 and herr < 1e-11, (gerr, herr)


def test_near_atoms_match_brute_force():
    import itertools

    from compverify.numeric.spectral import _Rademacher

    rng = np.random.default_rng(3)
    for d, m, s in ((3, 0.25, 0.5), (6, 0.0, 0.3), (8, -0.1, 0.4)):
        law = _Rademacher(m, s)
        atoms = np.array([m + s * np.array(e) for e in itertools.product([-1.0, 1.0], repeat=d)])
        for trial in range(12):
            v = (atoms[rng.integers(len(atoms))] * (1 + 0.01 * rng.standard_normal(d)) if trial % 2
                 else rng.standard_normal(d))
            cos = atoms @ v / (np.linalg.norm(atoms, axis=1) * np.linalg.norm(v))
            for gap in (0.3, 0.05, 0.01):
                want = {tuple(x) for x in np.round(atoms[1 - np.abs(cos) < gap], 12)}
                got = {tuple(x) for x in np.round(law.near_atoms(v, gap, 10**6), 12)}
                assert got == want
        assert law.near_atoms(np.ones(d), 1.0, 3) is None  # more than the cap


@pytest.mark.slow
def test_atom_directions_in_mpmath_to_30_digits():
    # the finer rule at an atom direction: about one digit more before the atoms were taken
    # exactly (6.4e-10 at d = 10); now the estimate and the actual error are below 1e-20
    d = 6
    exact = RademacherTarget("relu", d, mean=0.25, scale=0.5)
    t = SpectralTarget("relu", d, "rademacher", mean=0.25, scale=0.5).finer()
    a = 0.25 + 0.5 * np.array([1.0, -1, 1, 1, -1, 1])
    V = np.array([a / np.linalg.norm(a), np.ones(d) / math.sqrt(d)])
    h, g, e = t.h_grad_estimate_mp(V, 30)
    with mpmath.workdps(30):
        err = [abs(x - y) for x, y in zip(h, exact.h_mp(V, 30), strict=True)]
        assert all(x <= y < mpmath.mpf(10) ** -20 for x, y in zip(err, e, strict=True)), (err, e)
        gx = exact.h_grad_mp(V, 30)
        assert max(abs(x - y) for x, y in zip(g.ravel(), gx.ravel(), strict=True)) < 1e-25


def test_too_many_near_atoms_takes_the_nearest():
    # d = 40, m = s = 1/4, v = 1: the atoms 0.5 * (indicator of j entries) have cos sqrt(j/d), so
    # over a hundred lie within ATOM_GAP; the nearest (gap halved: j >= 39, 41 atoms) are taken
    # exactly and the estimate stays conservative.  Reference: the sum over the sign-count classes
    # (h depends on j only along 1), closed-form kernel in mpmath
    from math import comb

    d, m, s = 40, 0.25, 0.25
    t = SpectralTarget("relu", d, "rademacher", mean=m, scale=s)
    atoms, complete = t._near(np.ones((1, d)))[0]
    assert len(atoms) == 41 and not complete
    K = get_activation("relu").kernel
    with mpmath.workdps(30):
        h = mpmath.mpf(0)
        for j in range(1, d + 1):  # j = 0 is the zero atom: K = 0
            nw = mpmath.sqrt(j) / 2
            h += comb(d, j) * K.value_mp(nw, mpmath.sqrt(d), mpmath.sqrt(mpmath.mpf(j) / d), dps=30)
        h /= mpmath.mpf(2) ** d
    err = abs(t.h(np.ones((1, d)))[0] - float(h))
    assert err < 1e-14 * float(h) and err <= t.h_error(np.ones((1, d)))[0]
