"""``compverify lossless match|spectra`` interrupted by Ctrl-C and resumed: the resumed run writes
the same file as an uninterrupted run, and the pieces finished before the interrupt are not
computed again (the solver/experiment calls are counted)."""

import json

import pytest

from compverify.cli import main
from compverify.commands import lossless as lossless_cmd
from compverify.numeric import lossless_matching, lossless_spectra


def _counting(monkeypatch, module, name, interrupt_at=None):
    real = getattr(module, name)
    calls = []

    def wrapper(*a, **k):
        calls.append(1)
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.mark.slow
def test_match_interrupted_after_one_system_resumes_identically(tmp_path, monkeypatch, capsys):
    argv = ["lossless", "match", "--activation", "relu", "--layers", "2", "--tau0", "1",
            "--dps", "20", "--starts", "3", "--certify", "none"]
    ref = tmp_path / "ref.json"
    with monkeypatch.context() as m:
        calls = _counting(m, lossless_matching, "solve_system")
        assert main([*argv, "--out", str(ref)]) == 0
    total = len(calls)  # the hidden system and the last layer's two sign systems
    assert total == 3
    out = tmp_path / "m.json"
    ck = tmp_path / "m.json.checkpoint.json"
    with monkeypatch.context() as m:
        _counting(m, lossless_matching, "solve_system", interrupt_at=2)
        assert main([*argv, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "finished work is kept" in err and not out.exists() and ck.exists()
    assert list(json.loads(ck.read_text())["entries"]) == ["layer 1 system 0"]
    with monkeypatch.context() as m:
        calls = _counting(m, lossless_matching, "solve_system")
        assert main([*argv, "--out", str(out)]) == 0
    assert len(calls) == total - 1  # the finished system was not solved again
    assert "resuming" in capsys.readouterr().err
    assert out.read_bytes() == ref.read_bytes()
    assert not ck.exists()


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["ck", "ntk"])
def test_spectra_interrupted_after_two_sizes_resumes_identically(tmp_path, monkeypatch, capsys,
                                                                    kernel):
    step = "_ck_point" if kernel == "ck" else "_ntk_point"
    # no compressed network: its matching is not checkpointed and is not what is tested here
    monkeypatch.setattr(lossless_cmd, "_ternary", lambda *a: None)
    argv = ["lossless", "spectra", "--activation", "relu", "--layers", "1", "--n", "32,40,48",
            "--kernel", kernel]
    ref = tmp_path / "ref"
    with monkeypatch.context() as m:
        calls = _counting(m, lossless_spectra, step)
        assert main([*argv, "--out", str(ref)]) == 0
    assert len(calls) == 3
    out = tmp_path / "s"
    with monkeypatch.context() as m:
        _counting(m, lossless_spectra, step, interrupt_at=3)
        assert main([*argv, "--out", str(out)]) == 130
    assert "finished work is kept" in capsys.readouterr().err
    assert not (out / "spectra.json").exists()
    with monkeypatch.context() as m:
        calls = _counting(m, lossless_spectra, step)
        assert main([*argv, "--out", str(out)]) == 0
    assert len(calls) == 1
    a = json.loads((out / "spectra.json").read_text())
    b = json.loads((ref / "spectra.json").read_text())
    # the histogram is of the last size's matrices, computed in both runs; everything else too
    assert a == b
    assert (out / "spectra.csv").read_bytes() == (ref / "spectra.csv").read_bytes()
    assert not (out / "spectra.checkpoint.json").exists()
