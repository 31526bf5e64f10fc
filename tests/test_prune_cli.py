"""compverify prune / sparsity through the command line: outputs, formats, bad input."""

import json

import numpy as np
import pytest

from compverify.cli import main
from compverify.numeric.targets import load_npz


@pytest.fixture
def netfile(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "net.npz"
    np.savez(path, a=np.full(5, 0.2), W=rng.standard_normal((5, 4)) / 2)
    return path


BAD = [
    (["--p", "1", "--q", "1"], "p must be < q"),
    (["--p", "0"], "p must be > 0, got 0"),
    (["--p", "-0.5"], "p must be > 0, got -0.5"),
    (["--eta", "-0.1"], "eta must be >= 0, got -0.1"),
    (["--gamma", "0"], "gamma must be > 0, got 0"),
    (["--beta", "1"], "beta must be in (0, 1), got 1"),
    (["--beta", "1.5"], "beta must be in (0, 1), got 1.5"),
    (["--steps", "0"], "steps must be an integer >= 1, got 0"),
    (["--method", "prune-all"], "unknown pruning method 'prune-all'"),
]


@pytest.mark.parametrize("extra,msg", BAD)
def test_bad_parameters_exit_2_with_one_line_and_no_files(netfile, tmp_path, capsys, extra,
                                                          msg):
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["prune", str(netfile), "--out", str(tmp_path / "out")] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("fix,msg", [("nan", "non-finite entry at index (2, 1): nan"),
                                     ("zero", "neuron 3 has an all-zero weight vector")])
def test_bad_networks_exit_2(tmp_path, capsys, fix, msg):
    W = np.ones((5, 3))
    if fix == "nan":
        W[2, 1] = np.nan
    else:
        W[3] = 0
    path = tmp_path / "bad.npz"
    np.savez(path, a=np.ones(5), W=W)
    for cmd in (["prune", str(path), "--out", str(tmp_path / "out")], ["sparsity", str(path)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz"]


def test_prune_writes_json_csv_plot_and_loadable_steps(netfile, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prune", str(netfile), "--method", "magnitude", "--scope", "global",
                 "--rate", "0.25", "--steps", "2", "--dps", "20", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["prune.csv", "prune.json", "prune.png", "step-0.npz", "step-1.npz",
                     "step-2.npz"]
    assert not (tmp_path / "out.checkpoint.json").exists()
    data = json.loads((out / "prune.json").read_text())
    assert {"method", "parameters", "network", "steps"} <= set(data)
    assert data["network"]["N"] == 5 and len(data["network"]["sha256"]) == 64
    s = data["steps"][1]
    for k in ("step", "retained", "retained_fraction", "pq_index", "exact_loss",
              "relative_loss", "lipschitz_bound", "lq_bound", "bounds_hold"):
        assert k in s
    assert isinstance(s["exact_loss"], str) and float(s["exact_loss"]) > 0
    assert s["retained"] == 20 - 5 and s["bounds_hold"] is True
    # a pruned network is a target: the same arrays, pruned entries zero
    src = np.load(netfile)
    net = load_npz(out / "step-1.npz", "relu")
    kept = np.abs(src["W"]).ravel() > np.sort(np.abs(src["W"]).ravel())[4]
    assert np.array_equal(net.W.ravel() != 0, kept) and np.array_equal(net.a, src["a"])
    lines = (out / "prune.csv").read_text().splitlines()
    assert lines[0].startswith("step,retained") and len(lines) == 4


@pytest.mark.slow
def test_several_methods_and_compare(netfile, tmp_path):
    out = tmp_path / "many"
    assert main(["prune", str(netfile), "--method", "sap", "--method", "neurons",
                 "--steps", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["neurons", "prune.png", "sap-neuron"]
    assert (out / "neurons" / "step-2.npz").exists()
    cmp_ = tmp_path / "cmp"
    assert main(["prune", "iid:laplace", "--N", "8", "--d", "6", "--compare", "--steps", "3",
                 "--scope", "layer", "--out", str(cmp_)]) == 0
    data = json.loads((cmp_ / "compare.json").read_text())
    assert set(data["summary"]) == {"magnitude-global", "magnitude-neuron", "random-global"}
    # SAP on a layer keeps the largest entries: at equal counts it is global magnitude pruning
    assert all(c["winner"] == "tie" for c in data["comparisons"]["magnitude-global"])
    assert main(["prune", str(netfile), "--out", str(cmp_)]) == 2  # exists, no --force


def test_sparsity_law_and_network(netfile, tmp_path, capsys):
    assert main(["sparsity", "--law", "uniform", "--p", "0.5", "--q", "1", "--dps", "25",
                 "--out", str(tmp_path / "s.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    # (E|w|^(1/2))^2 / E|w| = (2/3)^2 / (1/2) = 8/9 for the uniform law on [-1, 1]
    assert data["population_one_minus_index"] == "0." + "8" * 24 + "9"
    assert {data["law"], data["p"], data["q"], data["dps"]} == {"uniform", "0.5", "1", 25}
    assert json.loads((tmp_path / "s.json").read_text()) == data
    assert main(["sparsity", str(netfile), "--eta", "0.1"]) == 0
    net = json.loads(capsys.readouterr().out)
    assert len(net["neurons"]) == 5 and net["global"]["n"] == 20
    assert main(["sparsity", str(netfile), "--law", "gaussian"]) == 2
