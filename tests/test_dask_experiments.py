"""``lossless spectra`` and ``prune`` on Dask: the files of the in-process run, a checkpoint that
either kind of run resumes, a killed worker that loses nothing but its case, and bad ``--dask``
values as one-line errors (exit 2) before any work.

One two-worker LocalCluster serves the module; the commands reach it by the scheduler's
``tcp://127.0.0.1:PORT`` address, as ``--dask tcp://HOST:PORT`` does (``local:N`` starts the
same kind of cluster inside the command)."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import mpmath
import numpy as np
import pytest

from compverify import cluster
from compverify.cli import main
from compverify.commands import lossless as lossless_cmd
from compverify.numeric import lossless_spectra, pruning
from compverify.numeric.checkpoint import Checkpoint
from compverify.proofs_check.pruning_study import prune_methods

distributed = pytest.importorskip("distributed")

#: A compressed network for the spectra runs: one binary layer (thresholds -0.5, 0.5, value 1,
#: centring 0.3).  Its parameters need not be matched ones: serial and cluster runs are compared
#: with each other, and the matching itself (about 20 s) is not what is tested here.
TERNARY = [("binary", (mpmath.mpf("-0.5"), mpmath.mpf("0.5"), mpmath.mpf(1)), mpmath.mpf("0.3"))]
SPECTRA = ["lossless", "spectra", "--activation", "relu", "--layers", "1", "--no-plot"]


@pytest.fixture(scope="module")
def lc():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, distributed.Client(lc) as client:
        # the workers import this tree's compverify (not another installed copy)
        files = client.run(lambda: __import__("compverify").__file__)
        assert all(f == cluster.__file__.replace("cluster.py", "__init__.py")
                   for f in files.values())
        yield lc, client


def _files(out) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _kill_a_busy_worker(client, deadline: float = 300) -> str:
    """Wait until a worker is inside a task, kill its process, return its address."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            time.sleep(0.5)  # inside the case
            if client.processing().get(busy[0]):
                try:
                    client.run(os._exit, 1, workers=[busy[0]])
                except Exception:  # noqa: BLE001,S110 - the worker dies before it answers
                    pass
                return busy[0]
        time.sleep(0.05)
    raise AssertionError("no case ever started")


@pytest.mark.slow
def test_spectra_on_dask_is_the_serial_file_even_when_a_worker_dies(lc, tmp_path, monkeypatch,
                                                                     capsys):
    cl, client = lc
    monkeypatch.setattr(lossless_cmd, "_ternary", lambda *a: TERNARY)
    argv = [*SPECTRA, "--n", "48,64,96,128"]  # more sizes than workers
    assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    capsys.readouterr()
    out = tmp_path / "dask"
    codes: list = []
    th = threading.Thread(target=lambda: codes.append(
        main([*argv, "--out", str(out), "--dask", cl.scheduler_address])))
    th.start()
    victim = _kill_a_busy_worker(client)
    th.join(600)
    assert not th.is_alive() and codes == [0]
    assert victim not in client.scheduler_info()["workers"]  # it did die
    assert _files(out) == _files(tmp_path / "serial")
    assert float(json.loads((out / "spectra.json").read_text())["points"][0]["original_vs_ternary"]) > 0
    # progress: the finished sizes, k of 4, each once
    done = re.findall(r"n = (\d+) done \((\d)/4, [\d.]+ s\)", capsys.readouterr().err)
    assert [k for _, k in done] == ["1", "2", "3", "4"]
    assert sorted(int(n) for n, _ in done) == [48, 64, 96, 128]


@pytest.mark.slow
@pytest.mark.parametrize("first", ["serial", "dask"])
def test_spectra_checkpoint_resumes_across_serial_and_dask(lc, tmp_path, monkeypatch, first):
    """A checkpoint left by one kind of run, missing a middle size and the largest, is resumed by
    the other kind: the same result as one uninterrupted run, the saved sizes not recomputed."""
    _, client = lc
    ns = [32, 40, 48]
    opts = dict(ternary=TERNARY, seed=5, tau0=1.0)
    reference = lossless_spectra.run_spectra("relu", 1, ns, 2.0, **opts)
    path = tmp_path / "ck.json"
    key = {"test": "spectra"}
    lossless_spectra.run_spectra("relu", 1, ns, 2.0, cache=Checkpoint(path, key), **opts,
                                 dask=client if first == "dask" else None)
    data = json.loads(path.read_text())
    assert sorted(data["entries"]) == ["histogram", "n 32", "n 40", "n 48"]
    for name in ("n 40", "n 48"):
        del data["entries"][name]
    path.write_text(json.dumps(data))
    calls: list = []
    if first == "dask":  # the serial resume runs here: count its cases
        real = lossless_spectra.spectra_case
        monkeypatch.setattr(lossless_spectra, "spectra_case",
                            lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    done: list = []
    resumed = lossless_spectra.run_spectra(
        "relu", 1, ns, 2.0, cache=Checkpoint(path, key), **opts,
        dask=client if first == "serial" else None, progress=lambda k, t, n, s: done.append((k, n)))
    assert json.dumps(resumed) == json.dumps(reference)
    assert sorted(n for _, n in done) == [40, 48] and sorted(k for k, _ in done) == [2, 3]
    if first == "dask":
        assert sorted(calls) == [40, 48]


def _net(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "net.npz"
    np.savez(path, a=rng.standard_normal(12) / 4, W=rng.standard_normal((12, 5)))
    return path


def _without_seconds(out) -> dict:
    """The files of a prune output directory, each step's ``seconds`` (its wall time, which two
    in-process runs do not share either) blanked in the JSON files."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file():
            text = p.read_bytes()
            if p.suffix == ".json":
                text = re.sub(rb'"seconds": "[^"]*"', b'"seconds": ""', text)
            files[str(p.relative_to(out))] = text
    return files


@pytest.mark.slow
def test_prune_on_dask_resumes_a_serial_checkpoint_and_writes_the_serial_files(lc, tmp_path,
                                                                                monkeypatch,
                                                                                capsys):
    cl, _ = lc
    net = _net(tmp_path)
    argv = ["prune", str(net), "--method", "sap", "--method", "neurons", "--method", "random",
            "--steps", "3", "--dps", "20"]
    assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    out = tmp_path / "dask"
    # interrupted after 5 of the 12 steps in this process: the checkpoint keeps them
    real, calls = pruning.step_record, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(pruning, "step_record", interrupted)
        assert main([*argv, "--out", str(out)]) == 130
    ck = tmp_path / "dask.checkpoint.json"
    assert len(json.loads(ck.read_text())["entries"]) == 5 and not out.exists()
    capsys.readouterr()
    assert main([*argv, "--out", str(out), "--dask", cl.scheduler_address]) == 0
    err = capsys.readouterr().err
    assert "resuming" in err and not ck.exists()
    # progress counts the steps of all methods: 5 were done, 7 finish on the cluster
    assert sorted(int(k) for k in re.findall(r"prune: \[(\d+)/12\]", err)) == list(range(6, 13))
    assert _without_seconds(out) == _without_seconds(tmp_path / "serial")
    # --compare: SAP's steps and the baselines' losses on the cluster
    cmp_argv = ["prune", str(net), "--compare", "--steps", "3", "--no-plot"]
    assert main([*cmp_argv, "--out", str(tmp_path / "cmp-serial")]) == 0
    assert main([*cmp_argv, "--out", str(tmp_path / "cmp-dask"), "--dask",
                 cl.scheduler_address]) == 0
    assert _without_seconds(tmp_path / "cmp-dask") == _without_seconds(tmp_path / "cmp-serial")


@pytest.mark.slow
def test_a_dask_prune_checkpoint_resumes_in_process(lc, tmp_path):
    _, client = lc
    rng = np.random.default_rng(2)
    a, W = rng.standard_normal(10) / 3, rng.standard_normal((10, 4))
    params = [pruning.make_params("sap", steps=3), pruning.make_params("magnitude", steps=3)]
    path, key = tmp_path / "ck.json", {"test": "prune"}
    on_dask = prune_methods("relu", a, W, params, checkpoint=Checkpoint(path, key), dask=client)
    data = json.loads(path.read_text())
    assert len(data["entries"]) == 8
    for name in ("sap-neuron step 2", "magnitude-neuron step 1", "magnitude-neuron step 3"):
        del data["entries"][name]
    path.write_text(json.dumps(data))
    serial = prune_methods("relu", a, W, params)
    resumed = prune_methods("relu", a, W, params, checkpoint=Checkpoint(path, key))
    for x, y, z in zip(on_dask, serial, resumed, strict=True):
        strip = [{k: v for k, v in s.items() if k != "seconds"} for s in y.steps_json()]
        for other in (x, z):
            assert [{k: v for k, v in s.items() if k != "seconds"}
                    for s in other.steps_json()] == strip
            assert all(np.array_equal(s.mask, t.mask) and np.array_equal(s.alive, t.alive)
                       for s, t in zip(other.run.states, y.run.states, strict=True))


@pytest.mark.parametrize("argv", [
    ["lossless", "spectra", "--n", "32,48"],
    ["prune", "iid:gaussian", "--N", "6", "--d", "3"],
])
@pytest.mark.parametrize("spec, fragment", [
    ("local:0", "worker count"), ("tcp://host", "not local:N"), ("tcp://127.0.0.1:70000", "port"),
])
def test_malformed_dask_spec_exit_2_before_any_work(argv, spec, fragment, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "out"), "--dask", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and spec in err[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["lossless", "spectra", "--n", "32,48"],
    ["prune", "iid:gaussian", "--N", "6", "--d", "3"],
])
def test_unreachable_scheduler_exit_2_before_any_work(argv, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    work: list = []
    monkeypatch.setattr(lossless_cmd, "_ternary", lambda *a: work.append(1))
    monkeypatch.setattr(pruning, "LossEvaluator", lambda *a: work.append(1))
    assert main([*argv, "--out", str(tmp_path / "out"), "--dask", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Dask scheduler answered within 1 s" in err[0]
    assert work == [] and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_case_computes_the_same_bits_with_any_blas_thread_count():
    """OpenBLAS rounds a product differently with 1 and 2 threads (a Dask worker has 1, this
    process one per core): the cases pin BLAS to one thread, so the caller's count is irrelevant.
    The unpinned loss is shown to differ first, so that the comparison can fail."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from compverify.numeric.loss import population_loss

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        if min(i["num_threads"] for i in threadpoolctl.threadpool_info()
               if i["user_api"] == "blas") < 2:
            pytest.skip("BLAS runs one thread here")
    rng = np.random.default_rng(0)
    a, W = rng.standard_normal(1500) / 1500, rng.standard_normal((1500, 100))
    V = np.where(rng.random(W.shape) < 0.7, W, 0.0)
    ev = pruning.LossEvaluator("relu", a, W)
    raw, pinned, points = {}, {}, {}
    for t in (1, 2):
        with threadpoolctl.threadpool_limits(t, user_api="blas"):
            raw[t] = population_loss("relu", a, W, a, V, order=0, include_constant=False)
            pinned[t] = ev.loss(a, V).value
            points[t] = lossless_spectra.spectra_case("relu", 1, 256, 2.0, ternary=TERNARY,
                                                      tau0=1.0)
    assert raw[1].theta_part != raw[2].theta_part  # the effect is there on this machine
    assert pinned[1] == pinned[2]
    assert json.dumps(points[1]) == json.dumps(points[2])


class KilledWorker(Exception):
    """Stands for ``distributed.KilledWorker`` (matched by name, as Dask's own is)."""


@pytest.mark.parametrize("argv, fragment", [
    (["lossless", "spectra", "--layers", "1", "--n", "32,40", "--no-plot"],
     "lossless spectra: the size n = 32 killed the Dask workers"),
    # slow when it is the first to need the ReLU kernel (derived once per test run)
    pytest.param(["prune", "iid:gaussian", "--N", "6", "--d", "3", "--steps", "1"],
                 "prune: step 0 of sap-neuron killed the Dask workers", marks=pytest.mark.slow),
])
def test_a_case_that_kills_its_workers_is_one_line_exit_1(argv, fragment, monkeypatch, capsys,
                                                          tmp_path):
    """After Dask's allowed failures a case comes back as ``KilledWorker``: one line, exit 1,
    the finished cases kept (here none)."""
    import contextlib

    client = object()  # not a spec: connect() takes it as the client it is
    monkeypatch.setattr(cluster, "connect", lambda spec: contextlib.nullcontext(client))
    monkeypatch.setattr(lossless_cmd, "_ternary", lambda *a: None)

    def run_unordered(given, fn, items, args_of, **kw):
        assert given is client
        yield items[0], None, {}, KilledWorker("attempted to run task 3 times")

    monkeypatch.setattr(cluster, "run_unordered", run_unordered)
    assert main([*argv, "--out", str(tmp_path / "out"), "--dask", "local:2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and "attempted to run task 3 times" in err[0]
