"""Two-layer networks in .safetensors files: read, refuse, write back, and solve on them.

Files are built with ``safetensors.numpy`` (the package's own writer, independent of
:mod:`compverify.numeric.model_files`); torch is not needed.  The exported network is checked
against a closed form computed in the torch convention ``f(x) = W2 (W1 x)^2`` for the activation
``z^2``: with ``x ~ N(0, I)`` and ``A = W1t' diag(a) W1t - W1c' diag(b) W1c``,
``E[(x' A x)^2] = 2 tr(A^2) + tr(A)^2``.
"""

from __future__ import annotations

import json
import struct

import mpmath
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork, load_npz
from compverify.numeric.model_files import load_safetensors, read_header, save_safetensors
from compverify.numeric.targets import from_options
from compverify.numeric.targets.spec import split_file_target, with_layers

POLY = ["--activation", "polynomial:0,0,1"]  # sigma(z) = z^2: kernel derived in 0.1 s


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)


@pytest.fixture
def weights():
    rng = np.random.default_rng(3)
    return rng.standard_normal((5, 3)), rng.standard_normal(5) / 5


def test_read_keeps_every_bit_and_maps_the_layers(tmp_path, weights):
    W, a = weights
    p = tmp_path / "m.safetensors"
    save_file({"0.weight": W, "2.weight": a[None, :]}, str(p))
    net = load_safetensors(p, "relu")
    assert net.N == 5 and net.d == 3
    assert np.array_equal(_bits(net.W), _bits(W)) and np.array_equal(_bits(net.a), _bits(a))
    # write back with compverify, read with the package's own loader: the same bits
    q = tmp_path / "back.safetensors"
    save_safetensors(q, net.a, net.W, {"activation": "relu"})
    back = load_file(str(q))
    assert set(back) == {"0.weight", "2.weight"}
    assert np.array_equal(_bits(back["0.weight"]), _bits(W))
    assert np.array_equal(_bits(back["2.weight"]), _bits(a[None, :]))
    with safe_open(str(q), framework="numpy") as fh:
        assert fh.metadata() == {"activation": "relu"}
    assert read_header(q)[1] == {"activation": "relu"}


def test_float32_and_zero_bias_and_named_layers(tmp_path, weights):
    W, a = weights
    W32, a32 = W.astype(np.float32), a.astype(np.float32)
    p = tmp_path / "m.safetensors"
    save_file({"fc1.weight": W32, "fc1.bias": np.zeros(5, np.float32),
               "fc2.weight": a32[None, :], "fc2.bias": np.zeros(1, np.float32)}, str(p))
    net = load_safetensors(p, "relu", "fc1.weight,fc2.weight")
    assert net.W.dtype == np.float64
    assert np.array_equal(net.W, W32.astype(np.float64))  # float32 -> float64 is exact
    assert np.array_equal(net.a, a32.astype(np.float64))
    # the same through the target options: PATH.safetensors[FIRST,SECOND]
    spec = with_layers(str(p), "fc1.weight,fc2.weight")
    assert split_file_target(spec) == ("safetensors", str(p), ("fc1.weight", "fc2.weight"))
    t = from_options(spec, d=None, mean=None, scale=None, activation="relu")
    assert np.array_equal(t.W, net.W)
    with pytest.raises(CompverifyError, match="lacks tensor '0.weight'"):
        load_safetensors(p, "relu")


def _write(path, tensors):
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("tensors,layers,needle", [
    ({"0.weight": np.ones((4, 2))}, None, "lacks tensor '2.weight'"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones((1, 4)), "1.weight": np.ones(4)}, None,
     "has tensor '1.weight' besides"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones((1, 4)), "0.bias": np.full(4, 0.5)},
     None, "'0.bias' is nonzero"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones((1, 4)), "2.bias": np.ones(1)}, None,
     "'2.bias' is nonzero"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones((1, 4)), "0.bias": np.zeros(3)}, None,
     "'0.bias' has shape (3,)"),
    ({"0.weight": np.ones((4, 2), np.int32), "2.weight": np.ones((1, 4))}, None,
     "'0.weight' has dtype I32"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones((2, 4))}, None,
     "'2.weight' has shape (2, 4)"),
    ({"0.weight": np.ones((4, 2)), "2.weight": np.ones(4)}, None, "'2.weight' has shape (4,)"),
    ({"0.weight": np.ones(4), "2.weight": np.ones((1, 4))}, None, "'0.weight' has shape (4,)"),
    ({"0.weight": np.array([[1.0, np.nan]]), "2.weight": np.ones((1, 1))}, None,
     "'0.weight' has 1 non-finite"),
    ({"0.weight": np.ones((1, 2)), "2.weight": np.array([[np.inf]])}, None,
     "'2.weight' has 1 non-finite"),
    ({"a.weight": np.ones((1, 2)), "b.weight": np.ones((1, 1))}, "a.weight,a.weight",
     "two different tensor names"),
])
def test_refusals_name_the_key(tmp_path, tensors, layers, needle):
    p = _write(tmp_path / "m.safetensors", tensors)
    with pytest.raises(CompverifyError, match=None) as info:
        load_safetensors(p, "relu", layers)
    assert needle in str(info.value) and "\n" not in str(info.value)


def _raw(path, header: dict, data: bytes = b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_header_checked_before_loading(tmp_path, monkeypatch):
    # a header claiming 10^11 x 10^3 float64 entries, with no data behind it: refused by the
    # memory check before any tensor is read
    big = _raw(tmp_path / "big.safetensors", {
        "0.weight": {"dtype": "F64", "shape": [10**11, 1000], "data_offsets": [0, 8]},
        "2.weight": {"dtype": "F64", "shape": [1, 10**11], "data_offsets": [8, 16]}}, b"\0" * 16)
    with pytest.raises(CompverifyError, match="of memory"):
        load_safetensors(big, "relu")
    bf16 = _raw(tmp_path / "bf.safetensors", {
        "0.weight": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [0, 2]},
        "2.weight": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [2, 4]}}, b"\0" * 4)
    with pytest.raises(CompverifyError, match=r"'0.weight' has dtype BF16.*\.float\(\)"):
        load_safetensors(bf16, "relu")
    for name, blob, needle in [("short", b"\1\0", "shorter than"),
                               ("long", struct.pack("<Q", 10**9) + b"{}", "header length"),
                               ("json", struct.pack("<Q", 3) + b"{x}", "not JSON")]:
        (tmp_path / f"{name}.safetensors").write_bytes(blob)
        with pytest.raises(CompverifyError, match=needle):
            load_safetensors(tmp_path / f"{name}.safetensors", "relu")
    # data offsets that do not match the shapes: the package's own check, one line
    cut = _raw(tmp_path / "cut.safetensors", {
        "0.weight": {"dtype": "F64", "shape": [2, 2], "data_offsets": [0, 8]},
        "2.weight": {"dtype": "F64", "shape": [1, 2], "data_offsets": [8, 24]}}, b"\0" * 24)
    with pytest.raises(CompverifyError, match="not a readable .safetensors"):
        load_safetensors(cut, "relu")


def test_layers_apply_only_to_safetensors():
    with pytest.raises(CompverifyError, match="--layers applies only"):
        with_layers("isotropic", "a,b")
    assert with_layers("isotropic", None) == "isotropic"


def _loss_z2(Wt, a, Wc, b) -> float:
    """E_x[(sum_i a_i <w_i, x>^2 - sum_j b_j <v_j, x>^2)^2], x ~ N(0, I): 2 tr(A^2) + tr(A)^2."""
    A = Wt.T @ np.diag(a) @ Wt - Wc.T @ np.diag(b) @ Wc
    return float(2.0 * np.trace(A @ A) + np.trace(A) ** 2)


@pytest.mark.slow
def test_solve_on_safetensors_equals_npz_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    W, a = rng.standard_normal((6, 3)), rng.standard_normal(6) / 6
    save_file({"0.weight": W, "2.weight": a[None, :]}, "net.safetensors")
    FiniteNetwork("relu", a, W).save("net.npz")
    common = ["solve", "--M", "2", "--restarts", "2", "--dps", "20", *POLY]
    assert main([*common, "--target", "net.safetensors", "--out", "s.json",
                 "--export", "c.safetensors"]) == 0
    assert main([*common, "--target", "net.npz", "--out", "n.json", "--no-plot"]) == 0
    capsys.readouterr()
    s, n = json.loads((tmp_path / "s.json").read_text()), json.loads((tmp_path / "n.json").read_text())
    assert (tmp_path / "s.png").stat().st_size > 0 and not (tmp_path / "n.png").exists()
    for data, name in ((s, "net.safetensors"), (n, "net.npz")):
        assert data["problem"]["inputs"].pop("target") == name
        assert data["problem"]["target"].pop("name") == name
        data.pop("seconds")
    assert s == n  # everything else, the sha256 of the weights included, is identical
    # the export: 0.weight = V, 2.weight = b, float64, with its metadata
    out = load_file("c.safetensors")
    V = np.array([[float(x) for x in row] for row in s["V"]])
    b = np.array([float(x) for x in s["b"]])
    assert np.array_equal(out["0.weight"], V) and np.array_equal(out["2.weight"], b[None, :])
    assert out["0.weight"].dtype == np.float64
    meta = read_header("c.safetensors")[1]
    assert meta["activation"] == "polynomial:0,0,1" and meta["loss"] == s["loss"]
    assert int(meta["verified_digits"]) == s["evidence"]["verified_digits"]
    assert "compverify_version" in meta
    # the exported network, read in the torch convention f(x) = W2 (W1 x)^2, has the solve's
    # loss: an independent closed form (tolerance: the weights rounded to float64)
    loss = _loss_z2(W, a, out["0.weight"], out["2.weight"][0])
    assert loss == pytest.approx(float(mpmath.mpf(s["loss"])), rel=1e-9, abs=1e-14)
    # and it loads back as a target
    back = load_safetensors("c.safetensors", "polynomial:0,0,1")
    assert np.array_equal(back.W, V)


def test_export_and_plot_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "--d", "2", "--M", "2", *POLY, "--export", "c.npz"]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
    assert main(["solve", "--d", "2", "--M", "2", *POLY, "--export", "nodir/c.safetensors"]) == 2
    assert "--export" in capsys.readouterr().err
    assert main(["solve", "--d", "2", "--M", "2", *POLY, "--layers", "x,y"]) == 2
    assert "--layers applies only" in capsys.readouterr().err
    save_file({"0.weight": np.ones((2, 2)), "2.weight": np.ones((1, 2)),
               "0.bias": np.ones(2)}, "b.safetensors")
    assert main(["solve", "--M", "2", *POLY, "--target", "b.safetensors"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'0.bias' is nonzero" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.safetensors"]


def test_npz_and_safetensors_targets_agree(tmp_path, weights):
    W, a = weights
    save_file({"0.weight": W, "2.weight": a[None, :]}, str(tmp_path / "m.safetensors"))
    np.savez(tmp_path / "m.npz", a=a, W=W)
    s = load_safetensors(tmp_path / "m.safetensors", "polynomial:0,0,1")
    n = load_npz(tmp_path / "m.npz", "polynomial:0,0,1")
    V = np.random.default_rng(1).standard_normal((2, 3))
    assert np.array_equal(s.h(V), n.h(V)) and s.C() == n.C()
    assert s.describe()["sha256"] == n.describe()["sha256"]
