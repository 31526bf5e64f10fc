"""Renderers and the staged output directory, on hand-made documents (no solver involved)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import sympy

from compverify.report.document import (
    CodeBlock,
    Document,
    Figure,
    Items,
    Math,
    MathBlock,
    Num,
    Para,
    Section,
    Table,
    Text,
    round_decimal,
)
from compverify.report.figures import directions_figure
from compverify.report.output import staged_directory
from compverify.report.render_html import render_html
from compverify.report.render_latex import render_latex
from compverify.report.render_markdown import render_markdown
from compverify.report.sections import setting_section

XHTML = "{http://www.w3.org/1999/xhtml}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"


def _doc() -> Document:
    nu, rho = sympy.symbols("nu rho")
    png = directions_figure([["1", "0"], ["-0.5", "0.8660254037844386"]], "two")
    return Document("T & <title>", [
        setting_section({"activations": ["relu"], "cases": ["(2, 3)"]}),
        Section("s", "Numbers", [
            Para(["loss ", Num("0.123456789012345678901234567890", "solve/0/loss", 8), " and ",
                  Math.of(nu * sympy.sqrt(1 - rho ** 2) / (2 * sympy.pi)), " ",
                  Text("x_1", "code")]),
            MathBlock([Math.eq(sympy.Symbol("Cbar"), sympy.Rational(1, 3))]),
            Table(["a|b", "value"], [[Text("relu", "code"), Num("-1.5e-40", "k", 3)]],
                  caption="50% & more"),
            Figure("figures/f.png", png, "image/png", ["caption"], alt="fig"),
            CodeBlock("compverify report --out 'a b'"),
            Items([["one"], ["two ", Math("x^2", None)]]),
        ]),
    ])


def test_html_is_wellformed_xhtml_with_mathml_and_numbers():
    page = render_html(_doc())
    assert "http://" not in page.replace("http://www.w3.org/", "")  # nothing fetched
    assert "<script" not in page and "<link" not in page
    root = ET.fromstring(page)
    assert root.tag == f"{XHTML}html"
    maths = list(root.iter(f"{MATHML}math"))
    assert len(maths) > 10
    nums = [e for e in root.iter(f"{XHTML}span") if e.get("class") == "num"]
    by_key = {e.get("data-key"): e for e in nums}
    assert by_key["solve/0/loss"].get("data-value") == "0.123456789012345678901234567890"
    assert by_key["solve/0/loss"].text == "0.12345679"
    assert by_key["k"].text == "-1.5e-40"
    img = next(root.iter(f"{XHTML}img"))
    assert img.get("src").startswith("data:image/png;base64,")


def test_markdown_and_latex_carry_the_same_content():
    md = render_markdown(_doc())
    assert "0.12345679" in md and "$$" in md and "![fig](figures/f.png)" in md
    assert r"\frac{\sqrt{1 - \rho^{2}}" in md or r"\sqrt{1 - \rho^{2}}" in md
    tex = render_latex(_doc())
    assert tex.startswith("%") and r"\begin{document}" in tex and tex.rstrip().endswith(
        r"\end{document}")
    assert "0.12345679" in tex and r"-1.5\times 10^{-40}" in tex
    assert r"T \& \textless{}title\textgreater{}" in tex and r"50\% \& more" in tex
    assert r"\includegraphics[width=0.8\linewidth]{figures/f.png}" in tex


@pytest.mark.parametrize("value, digits, shown", [
    ("0.333333333333333333333", 5, "0.33333"),
    ("2.5", 10, "2.5"),
    ("1e-45", 3, "1e-45"),
    ("-0.000123456789", 4, "-0.0001235"),
    ("17", 1, "17"),
    ("nan", 3, "nan"),
])
def test_round_decimal(value, digits, shown):
    assert round_decimal(value, digits) == shown


def test_staged_directory_keeps_nothing_half_written(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError), staged_directory(out, force=False) as tmp:
        (tmp / "report.html").write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    # a complete build replaces an old one only with --force, and only at the end
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]
    assert (out / "old.txt").read_text() == "old"
    with staged_directory(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_existing_directory_without_force_is_refused(tmp_path):
    from compverify.errors import CompverifyError

    out = tmp_path / "rep"
    out.mkdir()
    with pytest.raises(CompverifyError, match="--force"), staged_directory(out, force=False):
        pass  # pragma: no cover


def test_cli_existing_output_without_force_exit_2(tmp_path, capsys):
    from compverify.cli import main

    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    rc = main(["report", "--out", str(out)])  # the default configuration; refused at once
    err = capsys.readouterr().err
    assert rc == 2 and "exists" in err and "--force" in err and err.count("\n") == 1
    assert (out / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_direction_figures_for_d2_d3_d4():
    for d in (2, 3, 4):
        rows = [[("1" if t == j % d else "0") for t in range(d)] for j in range(d + 1)]
        data = directions_figure(rows, f"d = {d}")
        assert data.startswith(b"\x89PNG")
