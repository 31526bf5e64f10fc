"""``compverify lossless``: bad input is one line and exit 2; small runs write the stated layout."""

import json

import pytest

from compverify.cli import main


@pytest.mark.parametrize("argv,word", [
    (["lossless", "match", "--tau0", "0"], "tau0"),
    (["lossless", "match", "--tau0", "-2"], "tau0"),
    (["lossless", "match", "--layers", "0"], "layers"),
    (["lossless", "match", "--activation", "exp(z**2)"], "diverge"),
    (["lossless", "spectra", "--n", "8", "--out", "OUT"], "p ="),
    (["lossless", "spectra", "--n", "64,128", "--ratio", "0", "--out", "OUT"], "ratio"),
    (["lossless", "spectra", "--n", "64", "--ratio", "-1", "--out", "OUT"], "ratio"),
    (["lossless", "spectra", "--n", "64", "--layers", "0", "--out", "OUT"], "layers"),
])
def test_bad_input_one_line_exit_2(argv, word, capsys, tmp_path):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("eps", ["1", "-0.1", "nan"])
def test_bad_eps_exits_before_any_work_and_leaves_no_directory(eps, capsys, tmp_path):
    out = tmp_path / "o"
    assert main(["lossless", "spectra", "--n", "64", "--eps", eps, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eps" in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_match_json_layout(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["lossless", "match", "--activation", "relu", "--layers", "2", "--tau0", "1",
                 "--dps", "20", "--starts", "4", "--certify", "none", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [L["layer"] for L in data["layers"]] == [1, 2]
    first = data["layers"][0]
    assert set(first["moments"]) >= {"d0", "d1", "d2", "d3", "tau_next_sq"}
    assert isinstance(first["moments"]["d1"], str)
    b = first["binary"]
    assert b["kind"] == "binary" and b["unknowns"] == ["s1", "s2", "b"] and b["solvable"]
    root = b["roots"][0]
    assert {"s1", "s2", "b", "residual", "jacobian_singular_values"} <= set(root)
    assert float(root["s1"]) < float(root["s2"])
    last = data["layers"][1]["binary"]
    assert last["kind"] == "binary-last" and not last["solvable"] and last["least_squares"]
    assert not (tmp_path / "m.json.checkpoint.json").exists()
    import io

    import matplotlib.image
    import numpy as np

    img = matplotlib.image.imread(io.BytesIO((tmp_path / "m.png").read_bytes()), format="png")
    assert img.shape[0] > 100 and float(np.std(img[..., :3])) > 0.01  # a figure, not a blank


@pytest.mark.slow
def test_spectra_outputs(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["lossless", "spectra", "--activation", "relu", "--layers", "1", "--n", "32,64,128",
                 "--ratio", "2", "--out", str(out)]) == 0
    data = json.loads((out / "spectra.json").read_text())
    assert [p["n"] for p in data["points"]] == [32, 64, 128]
    assert float(data["fits"]["exact_vs_tilde_diagonal"]["slope"]) < 0
    for name in ("spectra.csv", "histogram.png", "decay.png"):
        assert (out / name).stat().st_size > 0


@pytest.mark.slow
def test_spectra_tanh_ntk_runs_with_the_error_carried(tmp_path, capsys):
    """tanh has a numeric kernel: the exact mean goes through the Mehler series, whose error
    (truncation bound plus quadrature estimate) is recorded per size."""
    out = tmp_path / "t"
    assert main(["lossless", "spectra", "--activation", "tanh", "--layers", "1", "--n", "32,48,64",
                 "--kernel", "ntk", "--out", str(out)]) == 0
    data = json.loads((out / "spectra.json").read_text())
    assert data["kernel"] == "ntk" and data["ternary"] is None  # no binary match for tanh
    for p in data["points"]:
        assert 0 < float(p["exact_error"]) < 1e-6
        assert float(p["exact_vs_tilde_diagonal"]) < 0.5
    assert set(data["points"][0]["exact_vs_tilde_diagonal_spectral"]) == {
        "op", "fro", "wasserstein", "kolmogorov", "top"}
