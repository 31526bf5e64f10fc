"""The conjecture sweep on Dask: speed-up with ``local:N`` workers, and what ``k`` machines give.

Run: PYTHONPATH=. python bench/bench_dask_sweep.py [N]      (N workers, default 2)

One grid (relu, isotropic, d = 2, 3 with M = d+1 .. d+4: 8 cases, 4 restarts, 20 digits) is run
in this process (the baseline, measured in the same run) and then on ``local:N``; the two sweep
files must be byte-identical.  Printed: the wall times and their ratio, the load average, each
case's wall and CPU time, the cold start (imports and the kernel's derivation, which the serial
run pays once and each worker pays again), and from the per-case CPU times the time on ``k``
machines of one worker each, as the longest-processing-time-first schedule of the cases (its
limit for ``k >= cases`` is the longest case; one machine takes their sum).
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


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    # workers are spawned processes: they must import this tree too
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + \
        os.environ.get("PYTHONPATH", "")
    t, c = time.perf_counter(), time.process_time()
    from compverify.proofs_check.conjecture import SweepParams, make_problem, run_sweep

    params = SweepParams(d="2:3", M="d+1:d+4", restarts=4, dps=20, seed=0)
    for d in (2, 3):  # the cold start: imports, the kernel's derivation, the targets
        make_problem(params, d, d + 1)
    cold_wall, cold_cpu = time.perf_counter() - t, time.process_time() - c
    with tempfile.TemporaryDirectory() as tmp:
        serial, dask = Path(tmp) / "serial.json", Path(tmp) / "dask.json"
        print(f"load average before: {load()}")
        secs_serial: dict = {}
        t = time.perf_counter()
        run_sweep(params, serial, progress="off", case_seconds=secs_serial)
        t_serial = time.perf_counter() - t
        print(f"load average between: {load()}")
        secs_dask: dict = {}
        t = time.perf_counter()
        run_sweep(params, dask, progress="lines", dask=f"local:{n}", case_seconds=secs_dask)
        t_dask = time.perf_counter() - t
        print(f"load average after: {load()}")
        same = serial.read_bytes() == dask.read_bytes()
    print(f"{len(secs_serial)} cases; files byte-identical: {same}")
    print(f"cold start in this process: {cold_wall:.1f} s wall, {cold_cpu:.1f} s CPU")
    print(f"serial (warm, in-process): {t_serial:.1f} s; local:{n}: {t_dask:.1f} s (cluster start "
          f"and each worker's cold start included); speed-up {t_serial / t_dask:.2f}")
    print("case      serial wall / cpu s   worker wall / cpu s")
    for key in sorted(secs_serial):
        s, w = secs_serial[key], secs_dask.get(key, {})
        print(f"{str(key):9} {s['wall']:9.1f} {s['cpu']:7.1f} {w.get('wall', float('nan')):11.1f}"
              f" {w.get('cpu', float('nan')):7.1f}")
    cpu = [s["cpu"] for s in secs_serial.values()]
    total, longest = sum(cpu), max(cpu)
    print(f"CPU: sum over cases {total:.1f} s, longest case {longest:.1f} s: at most "
          f"{total / longest:.1f}x on any number of machines (plus each machine's cold start, "
          f"{cold_cpu:.1f} s CPU here)")
    for k in (1, 2, 4, 8):
        span = lpt(cpu, k)
        print(f"  k = {k}: {span:.1f} s (speed-up {total / span:.2f}; with the cold start "
              f"{(total + cold_cpu) / (span + cold_cpu):.2f})")


if __name__ == "__main__":
    main()
