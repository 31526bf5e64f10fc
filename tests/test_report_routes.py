"""The report's route table is the route registry: every route, in dispatch order, with its
targets, activations, condition, precision class and method."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from compverify.numeric.targets import registry, table
from compverify.numeric.targets.spec import FILE_LABELS
from compverify.report.build import plan
from compverify.report.config import load_default
from compverify.report.document import Document, Table, Text
from compverify.report.render_html import render_html
from compverify.report.render_markdown import render_markdown
from compverify.report.section_routes import inline_code, routes_section


def _plain(cell) -> str:
    items = cell if isinstance(cell, list) else [cell]
    return "".join(i.text if isinstance(i, Text) else str(i) for i in items)


def test_route_table_rows_are_the_registry_in_dispatch_order():
    rows = json.loads(json.dumps(table.rows()))  # as stored in results.json
    sec = routes_section(rows)
    (tab,) = [b for b in sec.blocks if isinstance(b, Table)]
    assert len(tab.rows) == len(registry.ROUTES) >= 10
    for row, route in zip(tab.rows, registry.ROUTES, strict=True):
        families = ", ".join(FILE_LABELS.get(f, f) for f in route.families)
        got = [_plain(c) for c in row]
        assert got[0] == route.name and got[1] == families
        assert got[2] == route.activations.replace("`", "")
        assert got[3] == (route.condition.replace("`", "") or "-")
        assert got[4] == route.precision
        assert got[5] == route.description.replace("`", "")


def test_route_table_renders_every_route():
    doc = Document("routes", [routes_section(table.rows())])
    md, html = render_markdown(doc), render_html(doc)
    names = [r.name for r in registry.ROUTES]
    # in dispatch order in both renderings
    for text in (md, html):
        pos = [text.index(n) for n in names]
        assert pos == sorted(pos)
    assert len(re.findall(r"^\| `?" + "|".join(map(re.escape, names)), md, re.M)) >= len(names)


def test_backticks_become_code():
    assert [(type(x).__name__, getattr(x, "text", x)) for x in inline_code("sum `h = a` here")] == \
        [("str", "sum "), ("Text", "h = a"), ("str", " here")]
    assert inline_code("") == ["-"]


def test_the_report_plan_stores_the_route_table():
    cfg = load_default()
    results: dict = {}
    plan(cfg, results, {})  # plans the default job; runs nothing
    assert results["routes"] == table.rows()


@pytest.mark.slow
def test_route_table_fits_the_latex_page(tmp_path):
    from report_checks import compile_latex, overfull_boxes

    from compverify.report.render_latex import render_latex

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    tex = render_latex(Document("routes", [routes_section(table.rows())]))
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    assert overfull_boxes(compile_latex(tmp_path / "doc.tex", tmp_path / "build")) == []
