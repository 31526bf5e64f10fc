"""Objectives: the ReLU odd/even split against independent quantities; finite-N vs mean field."""

from __future__ import annotations

import numpy as np
import pytest

from compverify.numeric.objective import Problem
from compverify.numeric.targets import FiniteNetwork, isotropic


def test_odd_even_split_of_a_finite_relu_target(rng):
    a = rng.standard_normal(7)
    W = rng.standard_normal((7, 3))
    prob = Problem("relu", FiniteNetwork("relu", a, W), 2)
    theta = rng.standard_normal(prob.n_params)
    split = prob.odd_even_split(theta)
    # the target's linear coefficient is sum_i a_i w_i (relu = z/2 + |z|/2), read independently
    np.testing.assert_allclose(split.beta, a @ W, rtol=1e-12, atol=1e-12)
    b, V = prob.split(theta)
    assert split.odd == pytest.approx(np.sum((a @ W - b @ V) ** 2) / 4, rel=1e-12)
    assert split.odd + split.even == pytest.approx(split.total, rel=1e-11)


def test_odd_even_split_isotropic_target_has_no_linear_part(rng):
    prob = Problem("relu", isotropic(4, "relu"), 3)
    theta = rng.standard_normal(prob.n_params)
    split = prob.odd_even_split(theta)
    np.testing.assert_allclose(split.beta, 0, atol=1e-14)  # E[w] = 0
    assert split.odd + split.even == pytest.approx(split.total, rel=1e-12)


def test_finite_objective_approaches_mean_field(rng):
    target = isotropic(3, "relu")
    mf = Problem("relu", target, 4)
    theta = rng.standard_normal(mf.n_params)
    gaps = [np.mean([abs(mf.sampled(N, s).value(theta) - mf.value(theta)) for s in range(4)])
            for N in (50, 2000)]
    assert gaps[1] < gaps[0] / 3  # ~N^-1/2: a factor ~6 expected
