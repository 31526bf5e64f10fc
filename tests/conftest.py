"""Shared fixtures: every test starts at mpmath's default precision with seeded generators.

Derived kernels are cached on disk (:mod:`compverify.symbolic.kernel_cache`) in one directory per
test run, created empty at the start and shared by the xdist workers, so each kernel is derived
once per run and no run depends on a cache left by an earlier one.
"""

import os
import shutil
import tempfile

import mpmath
import numpy as np
import pytest

_CACHE_OWNER = "_COMPVERIFY_TEST_CACHE_OWNER"


def pytest_configure(config):
    # The controller (or a run without xdist) makes the run's cache directory; the xdist workers
    # it starts inherit the environment and share it (entries are written by atomic rename).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    path = tempfile.mkdtemp(prefix="compverify-test-cache-")
    os.environ["COMPVERIFY_CACHE_DIR"] = path
    os.environ[_CACHE_OWNER] = str(os.getpid())
    config._compverify_cache_dir = path


def pytest_unconfigure(config):
    path = getattr(config, "_compverify_cache_dir", None)
    if path and os.environ.get(_CACHE_OWNER) == str(os.getpid()):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fresh_derivation(monkeypatch):
    """Derive kernels afresh in this test: the disk cache off and the in-process caches empty."""
    from compverify.symbolic import activations

    monkeypatch.setenv("COMPVERIFY_CACHE", "off")
    activations._get.cache_clear()
    activations._derive_cached.cache_clear()
    yield
    activations._get.cache_clear()
    activations._derive_cached.cache_clear()


@pytest.fixture(autouse=True)
def _reset_precision():
    mpmath.mp.dps = 15
    yield
    mpmath.mp.dps = 15


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
