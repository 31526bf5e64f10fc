"""End to end: a report from a tiny configuration, checked against the JSON it was built from."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from report_checks import assert_html_has_only_mathml, compile_latex, overfull_boxes

from compverify.cli import main
from compverify.report import pieces
from compverify.report.build import build_report
from compverify.report.config import load_config_text
from compverify.report.document import round_decimal

XHTML = "{http://www.w3.org/1999/xhtml}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"

TINY = """\
[report]
title = "tiny report"
seed = 1
jobs = 1

[kernels]
activations = ["relu", "polynomial:0,0,1"]

[gradients]
activations = ["relu"]

[meanfield]
activations = ["relu"]
target = "isotropic"

[[solve]]
activation = "relu"
d = [2]
M = ["d+1"]
restarts = 4
dps = 20

[conjecture]
activation = "relu"
d = [2]
M = [2]
restarts = 4
dps = 20

[rate]
activation = "relu"
d = [2]
N = [16, 64]
samples = 3
"""


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    cfg = load_config_text(TINY, source="tiny.toml", base_dir=root)
    out = root / "out"
    res = build_report(cfg, out, command="compverify report --config tiny.toml", progress="off")
    assert res.out == out
    return out


def _resolve(results: dict, key: str):
    node = results
    for part in key.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _sig_digits(shown: str) -> int:
    return len(Decimal(shown).as_tuple().digits)


def test_files_written(tiny_report: Path):
    names = {str(p.relative_to(tiny_report)) for p in tiny_report.rglob("*") if p.is_file()}
    for name in ("report.html", "report.md", "report.tex", "results.json", "config.toml",
                 "results/rate.json", "results/conjecture.json", "results/kernels.json"):
        assert name in names
    assert any(n.startswith("results/solve-") for n in names)
    assert any(n.startswith("figures/directions-") for n in names)
    assert "figures/rate.png" in names
    # nothing left over from the staging
    assert [p.name for p in tiny_report.parent.iterdir()] == ["out"]


def test_html_numbers_are_the_json_numbers(tiny_report: Path):
    results = json.loads((tiny_report / "results.json").read_text())
    root = ET.fromstring((tiny_report / "report.html").read_text(encoding="utf-8"))
    assert next(root.iter(f"{MATHML}math"), None) is not None
    spans = [e for e in root.iter(f"{XHTML}span") if e.get("class") == "num"]
    assert len(spans) > 20
    seen = set()
    for e in spans:
        key, value, shown = e.get("data-key"), e.get("data-value"), e.text
        assert str(_resolve(results, key)) == value, key
        if value.lstrip("-").isdigit() or not _is_decimal(value):
            assert shown == value  # integers and words (a status) are shown verbatim
        else:
            assert shown == round_decimal(value, _sig_digits(shown)), (key, value, shown)
        seen.add(key)
    # every case's headline numbers are in the page
    for k, case in enumerate(results["solve"]):
        for field in ("loss", "relative_loss", "evidence/verified_digits",
                      "evidence/grad_norm", "frame/coherence", "frame/welch_bound"):
            assert f"solve/{k}/{field}" in seen, field
        verdict = case["frame"]["verdict"]
        assert verdict in "".join(root.itertext())
    for k, _ in enumerate(results["conjecture"]["cases"]):
        assert f"conjecture/cases/{k}/relative_loss" in seen
    assert "rate/fit/N_exponent" in seen
    assert "rate/fit/N_exponent_ci/0" in seen and "rate/fit/N_exponent_ci/1" in seen


def test_markdown_and_latex_show_the_same_numbers(tiny_report: Path):
    results = json.loads((tiny_report / "results.json").read_text())
    md = (tiny_report / "report.md").read_text(encoding="utf-8")
    tex = (tiny_report / "report.tex").read_text(encoding="utf-8")
    root = ET.fromstring((tiny_report / "report.html").read_text(encoding="utf-8"))
    shown = {e.get("data-key"): e.text for e in root.iter(f"{XHTML}span")
             if e.get("class") == "num"}
    for k, _ in enumerate(results["solve"]):
        rel = shown[f"solve/{k}/relative_loss"]
        assert rel in md and rel in tex
    assert shown["rate/fit/N_exponent"] in md
    assert "$$" in md and r"\begin{document}" in tex


@pytest.mark.slow
def test_latex_report_compiles_and_fits_the_page(tiny_report: Path, tmp_path):
    """pdflatex, run as a reader would, compiles report.tex with nothing wider than the page."""
    log = compile_latex(tiny_report / "report.tex", tmp_path)
    assert overfull_boxes(log) == []


def test_html_mathml_is_wellformed_and_no_latex_is_left(tiny_report: Path):
    page = (tiny_report / "report.html").read_text(encoding="utf-8")
    assert_html_has_only_mathml(page)


def test_summary_is_first_and_cites_the_paper(tiny_report: Path):
    results = json.loads((tiny_report / "results.json").read_text())
    root = ET.fromstring((tiny_report / "report.html").read_text(encoding="utf-8"))
    first = next(e for e in root.iter(f"{XHTML}section"))
    assert first.get("id") == "summary"
    text = "".join(first.itertext())
    assert "Amani et al. (2022)" in text
    # the sweep case (2, 2) has M <= d: its verdict is stated, from the results
    verdict = results["conjecture"]["cases"][0]["frame"]["verdict"]
    assert verdict in text
    refs = "".join(next(e for e in root.iter(f"{XHTML}section")
                        if e.get("id") == "references").itertext())
    assert "Sharp asymptotics on the compression of two-layer neural networks" in refs


def test_piece_files_match_results_json(tiny_report: Path):
    results = json.loads((tiny_report / "results.json").read_text())
    solve_files = sorted((tiny_report / "results").glob("solve-*.json"))
    assert [json.loads(p.read_text()) for p in solve_files] == results["solve"]
    assert json.loads((tiny_report / "results/rate.json").read_text()) == results["rate"]
    assert results["run"]["command"] == "compverify report --config tiny.toml"
    for pkg in ("compverify", "python", "sympy", "mpmath", "numpy", "scipy", "cvxpy"):
        assert pkg in results["run"]["versions"]


def test_interrupted_build_leaves_no_partial_directory(tmp_path, monkeypatch):
    cfg = load_config_text('[kernels]\nactivations = ["relu"]\n[gradients]\nactivations = '
                           '["relu"]\n', source="c.toml")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pieces, "gradient_piece", boom)  # after the kernel is derived
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_report(cfg, out, progress="off")
    assert list(tmp_path.iterdir()) == []
    # with --force, the previous report stays in place until a new one is complete
    out.mkdir()
    (out / "report.html").write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        build_report(cfg, out, force=True, progress="off")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "report.html").read_text() == "previous"


def test_cli_report_with_config_and_force(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kernels]\nactivations = ["relu"]\n')
    out = tmp_path / "rep"
    assert main(["report", "--config", str(cfg), "--out", str(out), "--progress", "lines"]) == 0
    cap = capsys.readouterr()
    assert "wrote" in cap.out and "[1/" in cap.err
    # the quick start can be rerun: a report the tool wrote is replaced
    first = (out / "results.json").stat().st_ino
    (out / "report.aux").write_text("pdflatex's, rebuilt from report.tex")
    assert main(["report", "--config", str(cfg), "--out", str(out), "--progress", "off"]) == 0
    assert (out / "results.json").stat().st_ino != first
    capsys.readouterr()
    # ... but not once it holds a file the tool did not write, nor any other directory
    (out / "my-notes.txt").write_text("keep me")
    assert main(["report", "--config", str(cfg), "--out", str(out), "--progress", "off"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "my-notes.txt").read_text() == "keep me"
    assert main(["report", "--config", str(cfg), "--out", str(out), "--force",
                 "--progress", "off"]) == 0
    assert (out / "report.html").exists() and not (out / "my-notes.txt").exists()
