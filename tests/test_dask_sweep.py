"""The conjecture sweep on Dask: the same file as the serial run, a killed worker loses nothing
but the case it ran, and bad ``--dask`` values are one-line errors (exit 2)."""

from __future__ import annotations

import io
import os
import re
import threading
import time

import pytest

from compverify import cluster
from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.proofs_check.conjecture import SweepParams, run_sweep

distributed = pytest.importorskip("distributed")

#: A tiny grid: three cases (the simplex ETF at M = 3, none at M = 4, 5), few restarts, low
#: precision: one case more than workers, so that a worker takes a second case.
TINY = SweepParams(d="2", M="3:5", restarts=2, dps=15, seed=3)


def _serial(tmp_path):
    out = tmp_path / "serial.json"
    run_sweep(TINY, out, progress="off")
    return out.read_bytes()


@pytest.mark.slow
def test_two_workers_give_the_serial_file_even_when_one_dies_mid_case(tmp_path):
    serial = _serial(tmp_path)
    out = tmp_path / "dask.json"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, distributed.Client(lc) as client:
        # the workers import this tree's compverify (not another installed copy)
        files = client.run(lambda: __import__("compverify").__file__)
        assert all(f == cluster.__file__.replace("cluster.py", "__init__.py")
                   for f in files.values())
        seconds: dict = {}
        errors: list = []
        log = io.StringIO()

        def sweep() -> None:
            try:
                # by the scheduler's address, as --dask tcp://HOST:PORT does
                run_sweep(TINY, out, progress="lines", stream=log, dask=lc.scheduler_address,
                          case_seconds=seconds)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        th = threading.Thread(target=sweep)
        th.start()
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline:  # a worker busy with a case
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                time.sleep(0.5)  # inside the case
                if client.processing().get(busy[0]):
                    victim = busy[0]
            time.sleep(0.05)
        assert victim is not None, "no case ever started"
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:  # noqa: BLE001,S110 - the worker dies before it answers
            pass
        th.join(600)
        assert not th.is_alive() and not errors, errors
        assert victim not in client.scheduler_info()["workers"]  # it did die
    assert out.read_bytes() == serial
    # progress: the finished cases, k of n, each once
    done = re.findall(r"\[(\d)/3\] d = 2, M = (\d) done", log.getvalue())
    assert [k for k, _ in done] == ["1", "2", "3"] and sorted(m for _, m in done) == ["3", "4", "5"]
    assert sorted(seconds) == [(2, 3), (2, 4), (2, 5)]
    assert all(s["wall"] >= 0 and s["cpu"] >= 0 for s in seconds.values())


@pytest.mark.parametrize("spec, fragment", [
    ("local:0", "worker count"), ("local:x", "worker count"), ("tcp://host", "not local:N"),
    ("http://127.0.0.1:8786", "not local:N"), ("tcp://127.0.0.1:70000", "port 70000"),
])
def test_malformed_dask_spec_exit_2(spec, fragment, capsys, tmp_path):
    assert main(["conjecture", "--d", "2", "--dask", spec, "--out",
                 str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and spec in err[0]
    assert not (tmp_path / "s.json").exists()


def test_jobs_with_dask_is_refused(capsys):
    assert main(["conjecture", "--d", "2", "--jobs", "2", "--dask", "local:2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs 2 with --dask" in err[0]


def test_unreachable_scheduler_exit_2_within_the_timeout(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    t0 = time.monotonic()
    assert main(["conjecture", "--d", "2", "--restarts", "1", "--dps", "15",
                 "--dask", "tcp://127.0.0.1:9", "--out", str(tmp_path / "s.json")]) == 2
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Dask scheduler answered within 1 s" in err[0]


def test_missing_distributed_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(CompverifyError, match="pip install 'compverify\\[dask\\]'"):
        with cluster.connect("local:1"):
            pass
