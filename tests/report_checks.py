"""Checks of a rendered report as a reader meets it: pdflatex's own layout and an XML parser.

``compile_latex`` runs pdflatex (skipping the test, with the reason shown, where pdflatex or one
of the report's LaTeX packages is not installed); ``overfull_boxes`` lists what pdflatex set wider
than the page; ``assert_html_has_only_mathml`` parses the page and every ``<math>`` element.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
XHTML_NS = "http://www.w3.org/1999/xhtml"
#: The LaTeX packages report.tex loads (lmodern is optional there).
PACKAGES = ("amsmath", "amssymb", "graphicx", "array", "longtable", "booktabs", "caption",
            "fvextra", "hyperref", "geometry")
_OVERFULL = re.compile(r"Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)(.*)")
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def compile_latex(tex: Path, workdir: Path) -> str:
    """Compile ``tex`` (with the figures beside it) twice in ``workdir``; return the log.

    Skips the calling test if pdflatex or a package is missing; fails it if pdflatex fails.
    """
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: report.tex is not compiled (apt-get install "
                    "texlive-latex-recommended texlive-latex-extra to run this check)")
    if shutil.which("kpsewhich") is not None:
        missing = [p for p in PACKAGES if not subprocess.run(
            ["kpsewhich", f"{p}.sty"], capture_output=True, text=True).stdout.strip()]
        if missing:
            pytest.skip("LaTeX packages not installed: " + ", ".join(missing)
                        + " (texlive-latex-recommended, texlive-latex-extra)")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tex, workdir / tex.name)
    figures = tex.parent / "figures"
    if figures.is_dir():
        shutil.copytree(figures, workdir / "figures", dirs_exist_ok=True)
    for _ in range(2):  # the second pass settles longtable's widths and the contents
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                               tex.name], cwd=workdir, capture_output=True, text=True,
                              timeout=300)
        log = (workdir / tex.with_suffix(".log").name).read_text(encoding="latin-1")
        assert proc.returncode == 0, "pdflatex failed:\n" + "\n".join(
            line for line in log.splitlines() if line.startswith("!"))
    assert (workdir / tex.with_suffix(".pdf").name).stat().st_size > 0
    return log


def overfull_boxes(log: str, tolerance_pt: float = 0.5) -> list[str]:
    """pdflatex's "Overfull \\hbox" (too wide) and "Overfull \\vbox" (too high: a page's material
    runs past its bottom) messages beyond ``tolerance_pt`` (something sticks out)."""
    return [m.group(0) for m in _OVERFULL.finditer(log) if float(m.group(1)) > tolerance_pt]


def assert_html_has_only_mathml(page: str) -> None:
    """The page is well-formed XHTML; every ``<math>`` element is well-formed MathML on its own;
    no LaTeX is left in the text a browser shows (only in ``alttext`` attributes)."""
    root = ET.fromstring(page)
    maths = list(root.iter(f"{{{MATHML_NS}}}math"))
    assert maths, "no MathML in the page"
    for m in maths:
        tail, m.tail = m.tail, None  # the element alone, without the text after it
        again = ET.fromstring(ET.tostring(m, encoding="unicode"))
        m.tail = tail
        assert again.tag == f"{{{MATHML_NS}}}math"
        for el in again.iter():
            assert el.tag.startswith(f"{{{MATHML_NS}}}"), el.tag
    shown = []
    verbatim = {f"{{{XHTML_NS}}}{t}" for t in ("style", "pre", "code")}
    for el in root.iter():
        texts = [el.tail] if el.tag in verbatim else [el.text, el.tail]
        for text in texts:
            if text and _TEX_COMMAND.search(text):
                shown.append(text.strip()[:80])
    assert shown == [], f"raw LaTeX shown in the page: {shown}"
    assert 'class="tex"' not in page
