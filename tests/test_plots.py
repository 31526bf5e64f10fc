"""The figures next to the JSON results: valid, non-blank PNGs for every valid input shape, written
next to the JSON (same stem) by the commands, and skipped with --no-plot."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from compverify.cli import main
from compverify.report.plots import figure_path, gram_matrix, solve_figure, sweep_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(data: bytes) -> np.ndarray:
    """Decode the PNG (matplotlib's reader): non-empty, not one flat colour."""
    import matplotlib.image

    assert data[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(np.std(img[..., :3])) > 0.01  # something is drawn
    return img


def _solve_data(d: int, M: int, seed: int, *, relative_loss: str = "0.01",
                basins=None) -> dict:
    u = np.random.default_rng(seed).standard_normal((M, d))
    u /= np.linalg.norm(u, axis=1)[:, None]
    return {"problem": {"activation": "relu", "d": d, "M": M}, "C": "2.0",
            "relative_loss": relative_loss, "directions": [[repr(float(x)) for x in r] for r in u],
            "basins": basins if basins is not None else [
                {"loss_float64": "0.02", "count": 3}, {"loss_float64": "0.05", "count": 2}],
            "failed_restarts": 1}


SLOW = pytest.mark.slow  # about 1 s of matplotlib each


@pytest.mark.parametrize("d,M", [(1, 3), (3, 4), (5, 7), pytest.param(1, 1, marks=SLOW),
                                 pytest.param(2, 1, marks=SLOW), pytest.param(2, 5, marks=SLOW),
                                 pytest.param(4, 30, marks=SLOW)])
def test_solve_figure_every_shape(d, M):
    assert_png(solve_figure(_solve_data(d, M, seed=d * 100 + M)))


def test_solve_figure_zero_loss():
    # an exact fit (loss 0) has no logarithm: drawn at the floor, not refused
    assert_png(solve_figure(_solve_data(2, 3, 0, relative_loss="0",
                                        basins=[{"loss_float64": "0.0", "count": 2}])))


@SLOW
def test_solve_figure_without_basins():
    assert_png(solve_figure(_solve_data(2, 3, 0, basins=[])))


def test_gram_matrix_is_the_inner_products():
    u = [["1", "0"], ["0.6", "0.8"]]
    assert np.allclose(gram_matrix(u), [[1.0, 0.6], [0.6, 1.0]])
    with pytest.raises(ValueError):
        gram_matrix([])


def _sweep(cases, grid, failed=()):
    return {"activation": "relu", "target": "isotropic", "grid": grid, "cases": cases,
            "failed": list(failed)}


def test_sweep_figure_with_gaps_missing_and_failed_cases():
    cases = [{"d": 2, "M": 3, "relative_loss": "0.0017", "frame": {"etf_gap": "0.0"}},
             {"d": 2, "M": 4, "relative_loss": "0.0012", "frame": {"etf_gap": None}},
             {"d": 3, "M": 6, "relative_loss": "0.0024", "frame": {"etf_gap": "0.0073"}},
             {"d": 3, "M": 4, "relative_loss": "0", "frame": None}]
    grid = [[2, 3], [2, 4], [3, 4], [3, 5], [3, 6], [4, 5]]
    assert_png(sweep_figure(_sweep(cases, grid, failed=[{"d": 4, "M": 5}])))
    assert_png(sweep_figure(_sweep(cases[:1], [[2, 3]])))  # one cell
    assert_png(sweep_figure(_sweep([], [[2, 3]], failed=[{"d": 2, "M": 3}])))  # nothing finished
    with pytest.raises(ValueError):
        sweep_figure(_sweep([], []))


def test_figure_path(tmp_path):
    assert figure_path("r.json").name == "r.png"
    assert figure_path("dir/run").as_posix() == "dir/run.png"
    assert figure_path("x.png").name == "x.png.png"  # never the JSON file itself


@pytest.mark.slow
def test_conjecture_writes_its_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["conjecture", "--activation", "polynomial:0,0,1", "--d", "2", "--M", "d+1",
            "--restarts", "2", "--dps", "20"]
    assert main([*argv, "--out", "sw.json"]) == 0
    assert main([*argv, "--out", "quiet.json", "--no-plot"]) == 0
    capsys.readouterr()
    sweep = json.loads((tmp_path / "sw.json").read_text())
    assert sweep["cases"]
    assert_png((tmp_path / "sw.png").read_bytes())
    assert not (tmp_path / "quiet.png").exists()


def test_sparsity_figure_network_and_law():
    from compverify.report.plots import sparsity_figure

    rng = np.random.default_rng(0)
    net = {"network": {"source": "n.npz", "N": 30, "d": 4}, "p": "1/2", "q": "1",
           "global": {"pq_index": "0.14"},
           "neurons": [{"pq_index": repr(float(x))} for x in rng.uniform(0, 0.3, 30)]}
    law = {"law": "gaussian", "p": "1/2", "q": "1", "population_one_minus_index": "0.847",
           "finite_n": [{"n": 100, "one_minus_index": "0.86", "standard_error": "0.01"},
                        {"n": 1000, "one_minus_index": "0.85", "standard_error": None}]}
    assert_png(sparsity_figure(net))
    assert_png(sparsity_figure(law))


@SLOW
def test_sweep_figure_atlas_sized_grid():
    # an atlas-sized grid (hundreds of cells): drawn without per-cell text
    grid = [[d, M] for d in range(2, 30) for M in range(d + 1, min(51, 2 * d + 3))]
    cases = [{"d": d, "M": M, "relative_loss": repr(1e-3 * M / d), "frame": {"etf_gap": "0.0"}}
             for d, M in grid[::3]]
    assert_png(sweep_figure(_sweep(cases, grid)))


def test_match_figure_binary_activations_and_panels():
    from compverify.report.lossless_plot import _binary_values, match_figure

    x = np.array([-2.0, -0.5, 0.5, 1.5, 2.5, 3.5])
    hidden = _binary_values(x, "binary", {"s1": "-1", "s2": "1", "b": "2"})
    assert hidden.tolist() == [2.0, 0.0, 0.0, 2.0, 2.0, 2.0]
    # last layer: s4 = s3 + s2 - s1 = 3 when it is not stored
    last = _binary_values(x, "binary-last", {"s1": "-1", "s2": "0", "s3": "2", "b": "1"})
    assert last.tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    data = {"activation": "relu", "layers": [
        {"layer": 1, "tau": "1", "binary": {"kind": "binary", "roots": [
            {"s1": "0.9995", "s2": "2.2125", "b": "-2.4087"}]}},
        {"layer": 2, "tau": "0.58", "binary": {"kind": "binary-last", "roots": [], "least_squares": [
            {"s1": "-3.5", "s2": "0.63", "s3": "1.52", "s4": "5.65", "b": "1.21"}]}}]}
    assert_png(match_figure(data))
