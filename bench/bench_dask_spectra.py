"""``lossless spectra`` on Dask: in-process against ``local:N`` on sizes of a few seconds each.

Run: PYTHONPATH=. python bench/bench_dask_spectra.py [N] [n1,n2,...] [unpinned]
(default 2 workers; sizes 384,512,640,768)

The compressed network is matched once here (as the command does before either kind of run, so
it is in neither time).  The experiment (ReLU, 2 layers, ratio 2, CK) then runs in this process,
warm (imports and kernels loaded), and on ``local:N``, timed from the cluster's start (each
worker's cold start included); the two results, written as ``spectra.json`` is, must be
byte-identical.  With ``unpinned``, a third run, in this process with BLAS free to use every core (the cases
normally pin it to one thread, :func:`compverify.cluster.one_blas_thread`), prices the pinning.
Printed: the wall times and their ratios, the load average, each size's wall time in this
process and on its worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    ns = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "384,512,640,768").split(",")]
    # workers are spawned processes: they must import this tree too
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + \
        os.environ.get("PYTHONPATH", "")
    import mpmath

    from compverify.commands.lossless import _ternary
    from compverify.io import atomic_write_json
    from compverify.numeric import lossless_spectra
    from compverify.numeric.lossless_spectra import run_spectra, spectra_case

    layers = 2
    ternary = _ternary("relu", layers, mpmath.mpf(1))
    spectra_case("relu", layers, 32, 2.0, ternary=ternary, tau0=1.0)  # warm this process
    runs = {}
    for name, dask in (("serial", None), (f"local:{workers}", f"local:{workers}")):
        secs: dict = {}
        print(f"load average before {name}: {load()}", flush=True)
        t = time.perf_counter()
        res = run_spectra("relu", layers, ns, 2.0, ternary=ternary, tau0=1.0, dask=dask,
                          case_seconds=secs)
        runs[name] = (time.perf_counter() - t, secs, res)
    free: dict = {}
    t_free = None
    if "unpinned" in sys.argv[3:]:
        print(f"load average before serial, BLAS unpinned: {load()}", flush=True)
        pinned, lossless_spectra.one_blas_thread = lossless_spectra.one_blas_thread, \
            contextlib.nullcontext
        t = time.perf_counter()
        run_spectra("relu", layers, ns, 2.0, ternary=ternary, tau0=1.0,
                    progress=lambda k, total, n, s: free.__setitem__(n, s))
        t_free = time.perf_counter() - t
        lossless_spectra.one_blas_thread = pinned
    print(f"load average after: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, (_, _, res) in runs.items():
            path = Path(tmp) / f"{name.replace(':', '-')}.json"
            atomic_write_json(path, res)
            files.append(path.read_bytes())
    (t_s, s_s, _), (t_d, s_d, _) = runs.values()
    print(f"sizes {ns}, relu, {layers} layers; files byte-identical: {files[0] == files[1]}")
    print(f"serial (warm, in-process): {t_s:.1f} s; local:{workers}: {t_d:.1f} s (cluster start "
          f"and each worker's cold start included); speed-up {t_s / t_d:.2f}")
    if t_free is not None:
        print(f"serial with BLAS on every core: {t_free:.1f} s (pinned / unpinned "
              f"{t_s / t_free:.2f})")
    print("n      serial wall / cpu s   worker wall / cpu s   serial, BLAS unpinned, wall s")
    for n in ns:
        print(f"{n:<6} {s_s[n]['wall']:9.1f} {s_s[n]['cpu']:7.1f} {s_d[n]['wall']:11.1f} "
              f"{s_d[n]['cpu']:7.1f} {free.get(n, float('nan')):19.1f}")
    cpu_s, cpu_d = (sum(v["cpu"] for v in x.values()) for x in (s_s, s_d))
    print(f"CPU summed over the cases: serial {cpu_s:.1f} s, on the workers {cpu_d:.1f} s "
          f"(their first cases include each worker's cold start); the longest case "
          f"{max(v['cpu'] for v in s_s.values()):.1f} s CPU bounds any cluster's time from below")


if __name__ == "__main__":
    main()
