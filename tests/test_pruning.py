"""Pruning methods and the exact pruned loss: Monte Carlo over x, the linear and neuron-removal
identities, mpmath against float64, torch's l1_unstructured conventions, resumable runs."""

import math

import mpmath
import numpy as np
import pytest

from compverify.numeric.checkpoint import Checkpoint
from compverify.numeric.pruning import (
    LossEvaluator,
    Pruner,
    PruneState,
    make_params,
    mask_at_count,
    run_pruning,
    torch_count,
)
from compverify.proofs_check.pruning_bounds import check_run, lipschitz_constant


@pytest.fixture
def net():
    rng = np.random.default_rng(11)
    N, d = 6, 4
    return rng.standard_normal(N) / N, rng.standard_normal((N, d)) / np.sqrt(d)


def test_exact_loss_against_monte_carlo(net):
    """E(f - f~)^2 for relu against 4e5 Gaussian inputs: within 5 standard errors."""
    a, W = net
    mask = np.ones(W.shape, bool)
    mask[np.abs(W) < 0.35] = False
    Wt = np.where(mask, W, 0.0)
    ev = LossEvaluator("relu", a, W)
    exact = ev.loss(a, Wt)
    rng = np.random.default_rng(0)
    vals = []
    for _ in range(4):
        x = rng.standard_normal((100_000, W.shape[1]))
        diff = np.maximum(x @ W.T, 0) @ a - np.maximum(x @ Wt.T, 0) @ a
        vals.append(diff ** 2)
    vals = np.concatenate(vals)
    se = vals.std() / math.sqrt(vals.size)
    assert abs(vals.mean() - exact.value) < 5 * se
    assert exact.relative == pytest.approx(exact.value / ev.C)


def test_linear_sigma_equals_norm_of_weight_change(net):
    a, W = net
    Wt = W.copy()
    Wt[np.abs(W) < 0.3] = 0
    ev = LossEvaluator("polynomial:0,1", a, W)
    direct = float(np.sum((a @ (W - Wt)) ** 2))
    got = ev.loss(a, Wt)
    assert abs(got.value - direct) <= got.error + 1e-15


def test_neuron_removal_costs_the_quadratic_form(net):
    """Removing R costs a_R' K(W_R) a_R, with the relu kernel written here from SPEC A2."""
    a, W = net
    R = [1, 4]
    b = a.copy()
    b[R] = 0

    def k(u, v):
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        rho = np.clip(u @ v / (nu * nv), -1, 1)
        return nu * nv * (math.sqrt(1 - rho ** 2) + (math.pi - math.acos(rho)) * rho) / (2 * math.pi)

    direct = sum(a[i] * a[j] * k(W[i], W[j]) for i in R for j in R)
    got = LossEvaluator("relu", a, W).loss(b, W)
    assert abs(got.value - direct) <= got.error + 1e-15


def test_mpmath_loss_agrees_with_float64_within_its_bound(net):
    a, W = net
    run = run_pruning("relu", a, W, make_params("magnitude", scope="global", rate="0.3",
                                                steps=2), dps=30)
    for r in run.records:
        assert r.loss_mp_digits >= 25
        with mpmath.workdps(40):
            assert abs(r.loss_mp - mpmath.mpf(r.exact_loss)) <= r.exact_loss_error
    assert run.records[-1].exact_loss > 0


def test_torch_l1_unstructured_conventions():
    # torch: round(amount * n) on the float product (half to even), of the currently unpruned
    assert [torch_count(0.5, n) for n in (3, 5, 7)] == [2, 2, 4]
    assert torch_count(0.2, 10) == 2 and torch_count(0.25, 10) == 2 and torch_count(0.35, 10) == 4
    W = np.array([[3.0, -1.0, 1.0, 2.0, -1.0, 5.0]])  # three ties at |w| = 1
    a = np.array([1.0])
    P = make_params("magnitude", scope="global", rate="0.5", steps=2)
    pr = Pruner("relu", a, W, P)
    s1 = pr.step(pr.initial_state(), 1)  # round(0.5 * 6) = 3: the three entries with |w| = 1
    assert s1.mask.tolist() == [[True, False, False, True, False, True]]
    s2 = pr.step(s1, 2)  # of the 3 left: round(1.5) = 2 (half to even), the two smallest
    assert s2.mask.tolist() == [[False, False, False, False, False, True]]
    P3 = make_params("magnitude", scope="global", rate="0.3", steps=1)
    s = Pruner("relu", a, W, P3).step(PruneState(np.ones((1, 6), bool), np.ones(1, bool)), 1)
    # round(1.8) = 2 of the three ties: the lower indices go first
    assert s.mask.tolist() == [[True, False, False, True, True, True]]


def test_sap_count_formula_and_layer_equals_global(net):
    a, W = net
    from fractions import Fraction

    from compverify.numeric.pq_index import sparsity

    P = make_params("sap", scope="neuron", gamma="1.5", beta="0.6", steps=1)
    s1 = Pruner("relu", a, W, P).step(Pruner("relu", a, W, P).initial_state(), 1)
    for i in range(W.shape[0]):
        sp_ = sparsity(W[i], "0.5", "1")
        n = W.shape[1]
        c = math.floor(min(max(Fraction(3, 2) * Fraction(n - sp_.retained_bound, n), 0),
                           Fraction(3, 5)) * n)
        assert int((~s1.mask[i]).sum()) == c
        kept = np.sort(np.abs(W[i][s1.mask[i]]))
        dropped = np.abs(W[i][~s1.mask[i]])
        assert dropped.size == 0 or dropped.max() <= kept.min()
    runs = [run_pruning("relu", a, W, make_params("sap", scope=s, steps=3)) for s in
            ("layer", "global")]
    assert all((x.mask == y.mask).all() for x, y in zip(runs[0].states, runs[1].states,
                                                         strict=True))


def test_mask_at_count_keeps_exactly_count(net):
    _, W = net
    for scope in ("global", "neuron"):
        for count in (0, 5, 13, W.size):
            m = mask_at_count(W, count, scope)
            assert int(m.sum()) == count
    m = mask_at_count(W, 13, "neuron")
    assert set(m.sum(axis=1).tolist()) <= {2, 3}


def test_bound_checks_hold_for_magnitude_and_flag_a_stechkin_violation():
    rng = np.random.default_rng(2)
    a, W = rng.standard_normal(5) / 5, rng.standard_normal((5, 6))
    run = run_pruning("relu", a, W, make_params("sap", scope="neuron", steps=3, p="0.5",
                                                q="0.6"))
    assert all(c.bounds_hold is not False for c in check_run(run, a, W))
    # keeping the two smallest entries of w is not a best 2-term approximation: with q = 0.6
    # Stechkin's bound (13.4 * 2^(-7/6) ~ 5.98) is below ||w - w~|| ~ 10
    a1, W1 = np.array([1.0]), np.array([[10.0, 0.1, 0.1, 0.1]])
    P = make_params("random", scope="global", q="0.6", steps=1)
    base = run_pruning("relu", a1, W1, P)
    st = PruneState(np.array([[False, True, True, False]]), np.ones(1, bool))
    from dataclasses import replace

    from compverify.numeric.pruning import LossEvaluator as LE
    from compverify.numeric.pruning import _record

    rec = _record(1, st, a1, W1, LE("relu", a1, W1), P, None)
    bad = replace(base, records=(base.records[0], rec), states=(base.states[0], st))
    chk = check_run(bad, a1, W1)[1]
    assert chk.stechkin.status == "violated" and chk.bounds_hold is False
    assert chk.lipschitz.status == "verified"


def test_lipschitz_constants():
    assert lipschitz_constant("relu")[0] == 1
    assert lipschitz_constant("sign")[0] is None
    assert lipschitz_constant("polynomial:0,0,1")[0] is None
    # sup |sigma'| on a fine grid (independent) against the derived constants
    z = np.linspace(-8, 8, 400_001)
    from scipy.special import erf

    for spec, fn in [("tanh", np.tanh), ("erf", erf), ("sigmoid", lambda t: 1 / (1 + np.exp(-t))),
                     ("silu", lambda t: t / (1 + np.exp(-t)))]:
        grid = np.max(np.abs(np.gradient(fn(z), z)))
        assert float(lipschitz_constant(spec)[0]) == pytest.approx(grid, rel=1e-6)


def test_resumed_run_gives_the_uninterrupted_answer(net, tmp_path):
    a, W = net
    P = make_params("random", scope="neuron", rate="0.3", steps=4, seed=5)
    full = run_pruning("relu", a, W, P)
    key = {"t": 1}
    path = tmp_path / "ck.json"

    def stop(label, k):
        if k == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pruning("relu", a, W, P, checkpoint=Checkpoint(path, key, interval=0),
                    progress=stop)
    ck = Checkpoint(path, key)
    assert ck.resumed == 3  # steps 0, 1, 2 kept
    resumed = run_pruning("relu", a, W, P, checkpoint=ck)
    for x, y in zip(full.records, resumed.records, strict=True):
        assert x.exact_loss == y.exact_loss and x.retained == y.retained
    for x, y in zip(full.states, resumed.states, strict=True):
        assert (x.mask == y.mask).all()


def test_float64_error_bound_covers_nearly_parallel_pairs():
    """Pruning one tiny entry per neuron leaves each neuron nearly parallel to its pruned self
    (1 - rho down to 1e-14), where sqrt(1 - rho^2) loses digits: the float64 loss must still lie
    within its error bound of the mpmath value."""
    rng = np.random.default_rng(1)
    a, W = rng.standard_normal(3), rng.standard_normal((3, 5))
    for e in (1e-2, 1e-4, 3e-5, 1e-6, 1e-7):
        W[:, 0] = e * rng.standard_normal(3)
        Wt = W.copy()
        Wt[:, 0] = 0
        ev = LossEvaluator("relu", a, W)
        f, m = ev.loss(a, Wt), ev.loss_mp(a, Wt, 30)
        with mpmath.workdps(40):
            assert abs(mpmath.mpf(f.value) - m.value) <= f.error
