"""The report's Part B piece and section on a tiny configuration: every shown number is the
value at its key in the piece's JSON, the page is well-formed XHTML."""

import json
import xml.etree.ElementTree as ET

import numpy as np

from compverify.io import to_jsonable
from compverify.report.document import Document, Items, Section
from compverify.report.pieces import pruning_piece
from compverify.report.render_html import render_html
from compverify.report.render_markdown import render_markdown
from compverify.report.section_pruning import (
    figure_for,
    piece_figures,
    pruning_section,
    summary_items,
)

XHTML = "{http://www.w3.org/1999/xhtml}"


def _lookup(data, key):
    node = {"pruning": data}
    for part in key.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_piece_and_section_on_a_tiny_configuration():
    rng = np.random.default_rng(0)
    solve = {"problem": {"activation": "relu", "d": 3, "M": 4},
             "b": [repr(float(x)) for x in rng.random(4)],
             "V": [[repr(float(x)) for x in row] for row in rng.standard_normal((4, 3))]}
    table = {"activation": "relu", "laws": ["laplace"], "N": 10, "d": 8, "steps": 2,
             "scopes": ["neuron"], "p": "0.5", "q": "1", "dps": 20,
             "population_laws": ["uniform"]}
    res = json.loads(json.dumps(to_jsonable(pruning_piece(table, seed=0, solves=[solve]))))
    assert [n["name"] for n in res["networks"]] == ["laplace", "solve-student"]
    assert res["networks"][1]["mp_check"]["float_within_bound"] is True
    assert res["population"][0]["population_one_minus_index"].startswith("0.8888888888")
    figs = piece_figures(res)
    plots = {k: figure_for(k, v) for k, v in figs.items()}
    doc = Document("t", [pruning_section(res, plots),
                         Section("summary", "Summary", [Items(summary_items(res))])])
    root = ET.fromstring(render_html(doc))
    nums = [e for e in root.iter(f"{XHTML}span") if e.get("class") == "num"]
    assert len(nums) > 20
    for e in nums:
        value = _lookup(res, e.get("data-key"))
        shown = "yes" if value is True else "no" if value is False else str(value)
        assert e.get("data-value") == shown
    assert "Is SAP better than magnitude pruning" in render_markdown(doc)
