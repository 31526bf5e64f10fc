"""The spectral rule evaluates directions in blocks: the same values, memory bounded by the block.

Evaluated all at once, 64 directions at d = 2 took 1.9 GB (the rule's arrays scale with nodes x
directions x coordinates); in blocks, the peak is that of one block whatever the number of rows.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import compverify.numeric.spectral.float64 as spectral_float64
from compverify.numeric.targets import from_options


def _peak(fn, *args):
    tracemalloc.start()
    try:
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_blocks_give_the_same_values_with_a_bounded_peak(monkeypatch):
    t = from_options("iid:uniform", d=2, mean=None, scale=None, activation="relu")
    U = np.random.default_rng(3).standard_normal((4, 2))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    whole_err, whole_peak = _peak(t.h_error, U)
    whole_h = t.h(U)
    # one direction per block
    monkeypatch.setattr(spectral_float64, "ROW_BLOCK_BYTES", 1)
    assert t._row_block(0) == 1
    block_err, block_peak = _peak(t.h_error, U)
    block_h = t.h(U)
    np.testing.assert_allclose(block_h, whole_h, rtol=1e-14)
    # the estimate is a difference of rule levels (about 1e-7 here, against h about 0.1): the
    # rounding of sums taken in another order shows at about 1e-15 absolute
    np.testing.assert_allclose(block_err, whole_err, rtol=0, atol=1e-14)
    assert np.all(whole_err > 1e-9)
    # the peak of one direction at a time is a fraction of four at once
    assert block_peak < whole_peak / 2, (block_peak, whole_peak)
