"""The example notebook runs from a clean kernel, and its verdict cell shows the ETF verdict it
computed (relu, d = 2, M = 3: the regular simplex)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "examples" / "quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_notebook_runs_and_shows_the_etf_verdict():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    root = NOTEBOOK.parents[2]  # the kernel starts in the repository: it imports this tree
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=900,
                            resources={"metadata": {"path": str(root)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    by_source = {c.source.split("\n")[0]: c for c in code}
    # the kernel, the solve result and the frame report rendered as HTML tables
    for first in ('kernel = cv.derive("relu")', 'target = cv.target("isotropic", d=2, '
                  'activation="relu")', "frame = cv.frame_report(problem, result, seed=0)"):
        (out,) = [o for o in by_source[first].outputs if o.output_type == "execute_result"]
        assert out.data["text/html"].startswith('<table class="compverify">')
        assert "text/latex" in out.data and "text/markdown" in out.data
    frame_html = by_source["frame = cv.frame_report(problem, result, seed=0)"].outputs[0]
    assert "<tr><td>verdict</td><td>ETF</td></tr>" in frame_html.data["text/html"]
    verdict_cell = code[-1]
    text = "".join(o.text for o in verdict_cell.outputs if o.output_type == "stream")
    assert re.match(r"verdict: ETF; ETF gap \S+ \(zero within its uncertainty: True\)", text)
