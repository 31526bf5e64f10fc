"""Shared fixtures: every test starts at mpmath's default precision with seeded generators."""

import mpmath
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _reset_precision():
    mpmath.mp.dps = 15
    yield
    mpmath.mp.dps = 15


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
