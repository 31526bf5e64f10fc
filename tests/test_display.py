"""Notebook displays: well-formed escaped HTML, math-mode LaTeX that no text can break out of,
Markdown without raw HTML, and tables showing the objects' own values."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import mpmath
import numpy as np
import pytest

from compverify.display import (
    Math,
    TableDisplay,
    html_table,
    latex_escape,
    latex_table,
    markdown_table,
)

HOSTILE = "<script>alert('x')</script> & \"q\" }$$\\end{array}\\input{/etc/passwd}$ | **b** _i_"


def tables(markup: str) -> list[list[list[str]]]:
    """Each table of ``markup`` (parsed as XML: it must be well formed) as rows of cell texts."""
    root = ET.fromstring(f"<div>{markup}</div>")
    assert root.find(".//script") is None
    return [[["".join(c.itertext()) for c in tr] for tr in t.iter("tr")]
            for t in root.iter("table")]


def as_dict(table: list[list[str]]) -> dict[str, str]:
    return {r[0]: r[1] for r in table[1:]}


def test_html_table_escapes_every_cell_and_stays_well_formed():
    markup = html_table([[HOSTILE, 1.5, None], [Math("x<y"), True, 7]],
                        header=["a<b", "value", "n"], caption=HOSTILE)
    (t,) = tables(markup)
    assert t[0] == ["a<b", "value", "n"]
    assert t[1] == [HOSTILE, "1.5", "-"]
    assert t[2] == ["\\(x<y\\)", "yes", "7"]
    assert "<script" not in markup and html.escape(HOSTILE, quote=True) in markup


def test_latex_escape_leaves_no_command_of_the_text():
    out = latex_escape(HOSTILE)
    # the only control sequences are the escapes' own; braces are balanced
    assert set(re.findall(r"\\([A-Za-z]+)", out)) <= {"text", "backslash", "sim", "hat"}
    depth = 0
    for a, b in zip(" " + out[:-1], out, strict=True):
        if b in "{}" and a != "\\":
            depth += 1 if b == "{" else -1
            assert depth >= 0
    assert depth == 0 and "$" not in out.replace("\\$", "")
    tab = latex_table([[HOSTILE, Math("x^2")]], header=["k", "v"])
    assert tab.startswith("$$\\begin{array}{ll}") and tab.endswith("\\end{array}$$")
    assert tab.count("$$") == 2 and "{x^2}" in tab


def test_markdown_table_has_no_raw_html_and_keeps_the_columns():
    md = markdown_table([[HOSTILE, 2]], header=["text", "n"])
    lines = md.splitlines()
    assert "<" not in md and len(lines) == 3
    assert len(re.split(r"(?<!\\)\|", lines[2])) == len(re.split(r"(?<!\\)\|", lines[0]))


class _Hostile(TableDisplay):
    def _display_tables(self):
        return [(HOSTILE, ("k", "v"), [(HOSTILE, mpmath.mpf(1) / 3)])]


def test_a_result_type_escapes_hostile_fields_in_every_format():
    obj = _Hostile()
    (t,) = tables(obj._repr_html_())
    assert t[1][0] == HOSTILE and mpmath.almosteq(mpmath.mpf(t[1][1]), mpmath.mpf(1) / 3,
                                                    1e-11)
    assert "\\input" not in obj._repr_latex_() and "<" not in obj._repr_markdown_()


@pytest.mark.slow
def test_kernel_and_activation_show_the_closed_form_and_every_step():
    import compverify as cv
    from compverify.symbolic.steps import to_latex

    k = cv.derive("polynomial:1,0,1")  # 1 + z^2: a quick derivation with several steps
    first, steps = tables(k._repr_html_())
    shown = as_dict(first)
    assert shown["route"] == k.route
    assert shown["kernel"] == f"\\(k(\\nu_{{u}}, \\nu_{{v}}, \\rho) = {to_latex(k.expr)}\\)"
    assert [r[1] for r in steps[1:]] == [s.description for s in k.steps]
    assert [r[2] for r in steps[1:]] == [f"\\({s.latex}\\)" for s in k.steps]
    latex = k._repr_latex_()
    assert latex.startswith("$$") and to_latex(k.expr) in latex
    act = cv.activation("polynomial:0,1")
    (t,) = tables(act._repr_html_())
    assert as_dict(t)["positively homogeneous of degree"] == str(act.homogeneous_degree) == "1"
    assert as_dict(t)["formula"] == f"\\(\\sigma(z) = {to_latex(act.expr)}\\)"


def test_sweep_table_equals_the_sweep_records(tmp_path):
    from compverify.proofs_check.conjecture import (
        TABLE_HEADER,
        SweepParams,
        run_sweep,
        table_rows,
    )

    def fake(params, d, M, jobs=1):  # a stand-in case: the table must show what it returns
        rel = mpmath.mpf(d) / (7 * M)
        return {"d": d, "M": M, "relative_loss": mpmath.nstr(rel, 25),
                "frame": {"verdict": "ETF" if M == d + 1 else "<neither>", "etf": None,
                          "etf_existence": None, "etf_gap": None}, "proof": "none"}

    sweep = run_sweep(SweepParams(d="2:3", M="d+1,d+2", restarts=1), tmp_path / "s.json",
                      progress="off", case_runner=fake)
    (t,) = tables(sweep._repr_html_())
    assert tuple(t[0]) == TABLE_HEADER and [tuple(r) for r in t[1:]] == table_rows(sweep)
    for row, case in zip(t[1:], sweep["cases"], strict=True):
        assert (int(row[0]), int(row[1])) == (case["d"], case["M"])
        assert mpmath.almosteq(mpmath.mpf(row[2]), mpmath.mpf(case["d"]) / (7 * case["M"]),
                               1e-14)
        assert row[3] == case["frame"]["verdict"]
    assert "4 of 4 cases done" in sweep._repr_markdown_()


@pytest.mark.slow
def test_pruning_run_table_shows_each_step():
    from compverify.numeric.pruning import make_params
    from compverify.proofs_check.pruning_study import prune_methods

    rng = np.random.default_rng(5)
    a, W = rng.standard_normal(6), rng.standard_normal((6, 3))
    (res,) = prune_methods("relu", a, W, [make_params("magnitude", scope="global", rate="0.3",
                                                      steps=2)])
    (t,) = tables(res._repr_html_())
    assert t[0][-3:] == ["Lipschitz bound", "lq bound", "bounds hold"]
    for row, rec, chk in zip(t[1:], res.run.records, res.checks, strict=True):
        assert [int(row[0]), int(row[1]), int(row[2])] == [rec.step, rec.retained, rec.total]
        assert float(row[6]) == pytest.approx(float(rec.exact_loss), rel=1e-11)
        assert row[-1] == {True: "yes", False: "no", None: "-"}[chk.bounds_hold]
    (t2,) = tables(res.run._repr_html_())
    assert len(t2) == len(res.run.records) + 1


@pytest.mark.slow
def test_lossless_layer_table_shows_the_roots():
    from compverify.numeric.lossless_matching import match_network

    (layer, *_) = match_network("relu", 2, "1", dps=20, starts=8, seed=0)
    (t,) = tables(layer._repr_html_())
    roots = [r for s in layer.solutions for r in s.roots]
    assert roots, "relu's hidden layer has a root"
    shown = [r for r in t[1:] if r[4] == "root"]
    assert len(shown) == len(roots)
    for row, root in zip(shown, roots, strict=True):
        values = dict(part.split(" = ") for part in row[1].split(", "))
        for name, x in zip(("s1", "s2", "b"), root.x, strict=True):
            with mpmath.workdps(40):
                assert mpmath.almosteq(mpmath.mpf(values[name]), x, 10.0 ** (1 - root.digits))
        assert int(row[3]) == root.digits


@pytest.mark.slow
def test_solve_result_and_frame_report_show_their_values():
    import compverify as cv

    p = cv.Problem("relu", cv.target("isotropic", d=2, activation="relu"), M=3)
    r = cv.solve(p, restarts=4, seed=0, dps=20, progress=False)
    answer, minimiser = tables(r._repr_html_())
    shown = as_dict(answer)
    digits = max(2, r.evidence.verified_digits)
    with mpmath.workdps(40):
        assert mpmath.almosteq(mpmath.mpf(shown["relative loss L / C"]), r.relative_loss,
                               10.0 ** (1 - digits))
        assert mpmath.almosteq(mpmath.mpf(shown["loss L"]), r.loss, 10.0 ** (1 - digits))
    assert shown["verified digits"].startswith(f"{r.evidence.verified_digits} ")
    assert shown["status"] == r.status
    for row, c in zip(minimiser[1:], r.coefficients, strict=True):
        with mpmath.workdps(40):
            assert mpmath.almosteq(mpmath.mpf(row[1]), c, 10.0 ** (1 - digits))
    f = cv.frame_report(p, r)
    (ft,) = tables(f._repr_html_())
    fs = as_dict(ft)
    assert fs["verdict"] == f["verdict"] == "ETF"
    assert mpmath.almosteq(mpmath.mpf(fs["coherence mu"]), f["coherence"], 1e-11)
    assert fs["gap zero within it"] == "yes"
    assert "| verdict | ETF |" in f._repr_markdown_()
