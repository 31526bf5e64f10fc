"""The report fits a printed page: wide tables, long equations and long lines, checked by pdflatex
itself (skipped, with the reason, where it is not installed); the HTML's MathML parsed; the
summary's statements follow the numbers it is given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import sympy
from report_checks import MATHML_NS, assert_html_has_only_mathml, compile_latex, overfull_boxes

from compverify.report.document import (
    CodeBlock,
    Document,
    Figure,
    Math,
    MathBlock,
    Num,
    Para,
    Section,
    Table,
    Text,
    _split_term,
    inline_width,
)
from compverify.report.render_html import render_html
from compverify.report.render_latex import COLUMN_SEP_EM, TABLE_WIDTH_EM, fit_columns, render_latex
from compverify.report.section_summary import summary_section
from compverify.report.sections import kernel_section


def _wide_table(cols: int) -> Table:
    header = ["case", "description"] + [f"value number {k}" for k in range(cols)]
    rows = []
    for r in range(4):
        rows.append([Text(f"polynomial:0,0,{r}", "code"),
                     "isotropic target, mean (0.1, 0.2, ...), scale 1/sqrt(d), closed form"]
                    + [Num(f"-0.{r}23456789012345678901234e-4{k}", f"t/{r}/{k}", 15)
                       for k in range(cols)])
    return Table(header, rows, caption="A table far wider than the page.")


def _long_sum(n: int) -> sympy.Expr:
    xs = sympy.symbols(f"x1:{n + 1}")
    return sum(sympy.sqrt(1 - x ** 2) * sympy.acos(x) / (2 * sympy.pi + x) for x in xs)


def _document() -> Document:
    a, i, big_n = sympy.IndexedBase("a"), sympy.Symbol("i"), sympy.Symbol("N")
    x, y = sympy.IndexedBase("x"), sympy.IndexedBase("y")
    summand = a[i] * (sympy.acos(x[i]) * sympy.sqrt(1 - x[i] ** 2) * y[i] ** 3 / (1 + x[i] ** 2)
                      + sympy.asin(y[i]) * sympy.sqrt(1 + y[i] ** 4) * x[i] / (2 + y[i] ** 2)
                      + sympy.atan(x[i] * y[i]) * sympy.exp(x[i] - y[i]) / (3 + x[i] * y[i]))
    grad = 2 * sympy.Symbol("b") * sympy.Sum(summand, (i, 1, big_n)) + _long_sum(4)
    return Document("Fitting the page", [Section("s", "Wide things", [
        Para(["A table that must wrap:"]),
        _wide_table(3),
        Para(["A table that must be split:"]),
        _wide_table(12),
        MathBlock([Math.broken(sympy.Symbol("F"), _long_sum(14), max_width=34),
                   Math.broken(sympy.Symbol("G"), grad, max_width=34, distribute=True)]),
        MathBlock([Math.of(_long_sum(3))]),  # a single formula a little too wide: set smaller
        CodeBlock("title = \"" + "a long configuration value " * 12 + "\" # \u03c3 {x} \\ end"),
    ])])


@pytest.mark.slow
def test_wide_tables_long_equations_and_code_fit_the_page(tmp_path):
    tex = render_latex(_document())
    assert "Part 2 of" in tex  # the 14-column table was split ...
    assert r"\begin{aligned}" in tex  # ... and the sums broken over lines
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    log = compile_latex(tmp_path / "doc.tex", tmp_path / "build")
    assert overfull_boxes(log) == []


def test_fit_columns_covers_every_column_within_the_width():
    table = _wide_table(12)
    parts = fit_columns(table.header, table.rows, repeat=1)
    assert len(parts) > 1
    seen = set()
    for cols, widths in parts:
        assert cols[0] == 0  # the row label repeated in each part
        seen.update(cols)
        used = sum(w if w is not None else max(
            [inline_width([table.header[c]])] + [inline_width([row[c]]) for row in table.rows])
            for c, w in zip(cols, widths, strict=True))
        assert used + COLUMN_SEP_EM * len(cols) <= TABLE_WIDTH_EM
    assert seen == set(range(len(table.header)))


def test_split_terms_sum_to_the_term():
    """Splitting c * Sum(g (f1 + f2)) by linearity keeps the value (checked for N = 3, expanded)."""
    a, w, i = sympy.IndexedBase("a"), sympy.IndexedBase("w"), sympy.Symbol("i")
    c = -2 * sympy.Symbol("b")
    term = c * sympy.Sum((1 - sympy.KroneckerDelta(i, 2)) * a[i] * (w[i] ** 2 - sympy.sin(w[i])
                                                                   + 3 * w[i]), (i, 1, 3))
    parts = _split_term(term)
    assert len(parts) == 3
    diff = (sum(parts) - term).subs(sympy.Symbol("b"), 1).doit()
    assert sympy.expand(diff) == 0


def test_broken_formula_is_wellformed_mathml():
    m = Math.broken(sympy.Symbol("F"), _long_sum(8), max_width=20)
    assert m.latex.count(r"\\") >= 2
    root = ET.fromstring(f'<math xmlns="{MATHML_NS}">{m.mathml}</math>')
    assert len(root.findall(f"{{{MATHML_NS}}}mtable/{{{MATHML_NS}}}mtr")) == m.latex.count(
        r"\\") + 1
    assert_html_has_only_mathml(render_html(_document()))


def test_steps_without_a_formula_show_no_placeholder():
    steps = [{"description": "whiten the pair", "latex": r"\text{--}"},
             {"description": "integrate", "latex": "x^{2}"}]
    disp = {"steps": [{"latex": r"\text{--}", "mathml": None},
                      {"latex": "x^{2}", "mathml": "<msup><mi>x</mi><mn>2</mn></msup>"}]}
    sec = kernel_section([{"activation": "relu", "route": "test", "steps": steps,
                           "display": disp, "kernel": None}])
    doc = Document("t", [sec])
    page, tex = render_html(doc), render_latex(doc)
    assert "whiten the pair" in page and "--}" not in page and r"\text{--}" not in tex
    assert_html_has_only_mathml(page)


def _solve(d: int, m: int, verdict: str, gap: str | None, unc: str | None,
           exists: str = "exists") -> dict:
    return {"problem": {"activation": "relu", "d": d, "M": m},
            "evidence": {"verified_digits": 40},
            "frame": {"verdict": verdict, "etf_gap": gap, "etf_gap_uncertainty": unc,
                      "etf_existence": {"status": exists, "reason": "because"}}}


def _summary_text(results: dict) -> str:
    return "".join(ET.fromstring(render_html(Document("t", [summary_section(results)])))
                   .itertext())


def test_summary_follows_the_numbers():
    held = _summary_text({"solve": [_solve(2, 3, "ETF", "-2e-44", "1e-43")],
                          "rate": {"fit": {"N_exponent": "-0.52",
                                           "N_exponent_ci": ["-0.6", "-0.41"]}}})
    assert "Held: for ReLU with (d, M) = (2, 3)" in held
    assert "consistent with the rate" in held and "not consistent" not in held
    failed = _summary_text({"solve": [_solve(3, 6, "neither", "1e-3", "1e-30")],
                            "rate": {"fit": {"N_exponent": "-0.9",
                                             "N_exponent_ci": ["-1.0", "-0.8"]}}})
    assert "Did not hold: for ReLU with (d, M) = (3, 6) every known ETF is worse" in failed
    assert "not consistent with the rate" in failed
    missed = _summary_text({"solve": [_solve(3, 4, "neither", "-1e-3", "1e-30")]})
    assert "a known ETF is better than the point the solver returned" in missed
    none = _summary_text({"conjecture": {"activation": "relu", "cases": [
        {"d": 2, "M": 4, "frame": {"verdict": "neither", "etf_existence": {
            "status": "does not exist", "reason": "Gerzon bound"}}}]}})
    assert "no ETF of M unit vectors exists" in none and "(2, 4): Gerzon bound" in none


def _png(path, aspect: float) -> bytes:
    """A small PNG of the given height/width ratio (a plot's shape), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 6.0 * aspect))
    ax.plot([0, 1, 2], [1, 0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path.read_bytes()


def test_figures_after_a_long_table_stay_on_the_page(tmp_path):
    """Figures after a longtable that breaks across pages, and a wrapping column of words the
    width estimate finds hard ("Lipschitz bound"): no box sticks out, vertically or sideways."""
    header = ["step", "retained", "PQ index", "exact loss", "relative loss", "loss error",
              "Lipschitz bound", "lq bound", "count claim", "bounds hold"]
    rows = [[str(k), "20", "0.05742", Num("-5.55112e-17", f"s/{k}/loss", 6),
             Num("-3.51105e-16", f"s/{k}/relative", 6), Num("3.9e-13", f"s/{k}/error", 2), "0.0",
             "0.0", "verified", "yes"] for k in range(70)]
    short = Table(["d", "ETF gap", "proof"], [["2", "0.0", "proved strict local minimum"]] * 2)
    figures = [Figure(f"figures/f{k}.png", _png(tmp_path / f"figures/f{k}.png", aspect),
                      "image/png", [f"Figure {k}."]) for k, aspect in enumerate((0.7, 0.38, 0.63))]
    # The order of the report's rate and atlas sections: a table, a figure, short tables, a figure.
    blocks = [Para(["A table longer than a page, then figures:"]),
              Table(header, rows, caption="Steps."), figures[0],
              Para(["Text between the figures. " * 20]), short, short, figures[1],
              Para(["Text after the figures. " * 40]), figures[2], Table(header, rows[:30])]
    tex = render_latex(Document("Figures after tables", [Section("s", "Steps", blocks)]))
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    log = compile_latex(tmp_path / "doc.tex", tmp_path / "build")
    assert overfull_boxes(log) == []
