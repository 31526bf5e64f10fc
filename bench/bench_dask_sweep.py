"""The conjecture sweep on Dask: speed-up with ``local:N`` workers, and what ``k`` machines give.

Run: python bench/bench_dask_sweep.py [N]      (N workers, default 2)

One grid (relu, isotropic, d = 2, 3 with M = d+1 .. d+4: 8 cases, 4 restarts, 20 digits) is run
in this process (the baseline, measured in the same run) and then on ``local:N``; the two sweep
files must be byte-identical.  Printed: the wall times and their ratio, the load average, each
case's compute time, and from those the wall time on ``k`` machines of one worker each, as the
longest-processing-time-first schedule of the cases (its limit for ``k >= cases`` is the longest
case; the serial run is their sum).  Each worker pays the cold start (imports, the kernel's
derivation) once, as the serial process does.
"""

from __future__ import annotations

import heapq
import os
import sys
import tempfile
import time
from pathlib import Path


def lpt(times: list[float], k: int) -> float:
    """Makespan of the longest-first greedy schedule of ``times`` on ``k`` machines."""
    loads = [0.0] * k
    for t in sorted(times, reverse=True):
        heapq.heapreplace(loads, loads[0] + t)
    return max(loads)


def main() -> None:
    from compverify.proofs_check.conjecture import SweepParams, run_sweep

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    params = SweepParams(d="2:3", M="d+1:d+4", restarts=4, dps=20, seed=0)
    # workers are spawned processes: they must import this tree too
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + \
        os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        serial, dask = Path(tmp) / "serial.json", Path(tmp) / "dask.json"
        print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
        secs_serial: dict = {}
        t = time.perf_counter()
        run_sweep(params, serial, progress="off", case_seconds=secs_serial)
        t_serial = time.perf_counter() - t
        secs_dask: dict = {}
        t = time.perf_counter()
        run_sweep(params, dask, progress="lines", dask=f"local:{n}", case_seconds=secs_dask)
        t_dask = time.perf_counter() - t
        print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
        same = serial.read_bytes() == dask.read_bytes()
    print(f"{len(secs_serial)} cases; files byte-identical: {same}")
    print(f"serial (in-process): {t_serial:.1f} s; local:{n}: {t_dask:.1f} s "
          f"(cluster start included); speed-up {t_serial / t_dask:.2f}")
    print("case      serial s   on a worker s")
    for c in sorted(secs_serial):
        print(f"{str(c):9} {secs_serial[c]:9.1f} {secs_dask.get(c, float('nan')):12.1f}")
    times = list(secs_serial.values())
    total, longest = sum(times), max(times)
    print(f"sum of case times {total:.1f} s, longest case {longest:.1f} s: at most "
          f"{total / longest:.1f}x on any number of machines")
    for k in (1, 2, 4, 8):
        print(f"  k = {k}: {lpt(times, k):.1f} s (speed-up {total / lpt(times, k):.2f})")


if __name__ == "__main__":
    main()
