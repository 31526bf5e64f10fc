"""Model-file benchmark: a two-layer network with N = 10^5 units in d = 100, in and out.

Run: python bench/bench_model_files.py [N d]    Reads and writes the weights (80 MB in float64)
as ``.safetensors`` (:mod:`compverify.numeric.model_files`: header checks, load, finiteness and
bias checks, atomic write) and, as the baseline in the same run, as ``.npz``
(:func:`compverify.numeric.finite_network.load_npz`, ``FiniteNetwork.save``).  Prints the times,
the ratios safetensors / npz, and whether the round trip kept every bit.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np


def _best(f, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main(N: int = 100_000, d: int = 100) -> None:
    from compverify.numeric.finite_network import FiniteNetwork, load_npz
    from compverify.numeric.model_files import load_safetensors, save_safetensors

    rng = np.random.default_rng(0)
    W = rng.standard_normal((N, d)) / np.sqrt(d)
    a = rng.standard_normal(N) / N
    with tempfile.TemporaryDirectory() as tmp:
        st, st2, npz = (os.path.join(tmp, n) for n in ("w.safetensors", "w2.safetensors", "w.npz"))
        t_st_write = _best(lambda: save_safetensors(st, a, W))
        t_st_read = _best(lambda: load_safetensors(st, "relu"))
        net = load_safetensors(st, "relu")
        save_safetensors(st2, net.a, net.W)
        back = load_safetensors(st2, "relu")
        same = (np.array_equal(back.W.view(np.uint64), W.view(np.uint64))
                and np.array_equal(back.a.view(np.uint64), a.view(np.uint64)))
        ref = FiniteNetwork("relu", a, W)
        t_npz_write = _best(lambda: ref.save(npz))
        t_npz_read = _best(lambda: load_npz(npz, "relu"))
        size = os.path.getsize(st)
    print(f"N = {N}, d = {d}: {size / 1e6:.1f} MB of float64 weights (best of 3)")
    print(f"  safetensors: write {t_st_write:.3f} s, read {t_st_read:.3f} s, "
          f"round trip {t_st_write + t_st_read:.3f} s")
    print(f"  npz        : write {t_npz_write:.3f} s, read {t_npz_read:.3f} s, "
          f"round trip {t_npz_write + t_npz_read:.3f} s")
    print(f"  ratio safetensors / npz: write {t_st_write / t_npz_write:.2f}, "
          f"read {t_st_read / t_npz_read:.2f}, round trip "
          f"{(t_st_write + t_st_read) / (t_npz_write + t_npz_read):.2f}")
    print(f"  round trip keeps every bit: {same}")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
