r"""Rich display in notebooks: one escaped HTML table, one LaTeX table, one Markdown table.

The result types (activations, kernels, solve results, frame reports, sweeps, pruning and
lossless results) give Jupyter ``_repr_html_``, ``_repr_latex_`` and ``_repr_markdown_`` through
these helpers, so every table is built and escaped in one place.  This module sits at the lowest
layer (beside :mod:`compverify.io`): every layer may use it, it imports nothing from compverify.

Every cell is text: :func:`cell` turns a value into it (an ``mpf`` or a float with ``digits``
significant digits, ``None`` as ``-``), and each renderer escapes it for its format
(:func:`html.escape` for HTML, :func:`latex_escape` for LaTeX, ``|`` and newlines for Markdown).
A cell that is LaTeX mathematics is wrapped in :class:`Math`: HTML shows it escaped between
``\(`` and ``\)`` (MathJax typesets it in the notebook), LaTeX keeps it as it is.  LaTeX tables
are math-mode arrays, so that MathJax in the notebook and LaTeX (nbconvert) both typeset them.

>>> html_table([["<b>", 1]])
'<table class="compverify"><tbody><tr><td>&lt;b&gt;</td><td>1</td></tr></tbody></table>'
>>> latex_escape("50% of a_b")
'\\text{50}\\%\\text{ of a}\\_\\text{b}'
>>> markdown_table([["a|b", Math("x^2")]], header=["k", "v"])
'| k | v |\n|---|---|\n| a\\|b | $x^2$ |'
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import mpmath

__all__ = ["Math", "TableDisplay", "cell", "html_table", "latex_array", "latex_escape", "latex_table",
           "markdown_table"]

#: Significant digits a table shows of a real unless told otherwise.
DIGITS = 12


class Math(str):
    """A table cell that is LaTeX mathematics (rendered as math, still escaped in HTML)."""


def cell(value: Any, digits: int = DIGITS) -> str:
    """The text of one cell: reals to ``digits`` significant digits, ``None`` as ``-``.

    Decimal strings (as stored in JSON) are shown as they are: they carry their own digits.

    >>> cell(mpmath.mpf(1) / 3, 5), cell(None), cell(True), cell(0.1 + 0.2, 4)
    ('0.33333', '-', 'yes', '0.3')
    """
    if isinstance(value, Math):
        return value
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, (numbers.Real, mpmath.mpf)):
        try:
            return mpmath.nstr(mpmath.mpf(value), digits)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _rows(rows: Iterable[Sequence[Any]], digits: int) -> list[list[str]]:
    return [[cell(v, digits) for v in row] for row in rows]


def _html_cell(text: str) -> str:
    body = html.escape(str(text), quote=True)
    return f"\\({body}\\)" if isinstance(text, Math) else body


def html_table(rows: Iterable[Sequence[Any]], header: Sequence[Any] | None = None, *,
               caption: str | None = None, digits: int = DIGITS) -> str:
    """An HTML ``<table>`` with every cell (and the caption) passed through :func:`html.escape`."""
    parts = ['<table class="compverify">']
    if caption:
        parts.append(f"<caption>{html.escape(str(caption), quote=True)}</caption>")
    if header is not None:
        parts.append("<thead><tr>" + "".join(f"<th>{_html_cell(cell(h))}</th>" for h in header)
                     + "</tr></thead>")
    parts.append("<tbody>")
    for row in _rows(rows, digits):
        parts.append("<tr>" + "".join(f"<td>{_html_cell(v)}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


#: Characters that are not plain text in LaTeX, and how math mode writes each of them.
_LATEX_MATH = {"\\": r"\backslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\sim{}", "^": r"\hat{}", "<": "<", ">": ">"}


def latex_escape(text: str) -> str:
    r"""``text`` for LaTeX *math mode*: runs of plain characters in ``\text{...}``, each special
    character (``\ & % $ # _ { } ~ ^``) as its math-mode command outside it, newlines as spaces.

    The result typesets the same in LaTeX and in MathJax (whose ``\text`` takes no commands), and
    no input can close the ``\text`` group or the surrounding math.
    """
    out, run = [], []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        if ch in _LATEX_MATH:
            if run:
                out.append(r"\text{" + "".join(run) + "}")
                run = []
            out.append(_LATEX_MATH[ch])
        else:
            run.append(ch)
    if run:
        out.append(r"\text{" + "".join(run) + "}")
    return "".join(out)


def _latex_cell(text: str) -> str:
    return "{" + str(text) + "}" if isinstance(text, Math) else latex_escape(text)


def latex_array(rows: Iterable[Sequence[Any]], header: Sequence[Any] | None = None, *,
                caption: str | None = None, digits: int = DIGITS) -> str:
    r"""The table as a LaTeX ``array`` in math mode (no ``$$``): text cells through
    :func:`latex_escape`, :class:`Math` cells as they are, the caption as a first row of one
    cell."""
    body = _rows(rows, digits)
    ncols = max([len(header or ())] + [len(r) for r in body] + [1])
    lines = [r"\begin{array}{" + "l" * ncols + "}"]
    if caption:
        lines.append(latex_escape(caption) + r" \\")  # one cell (MathJax has no \multicolumn)
    if header is not None:
        lines.append(" & ".join(_latex_cell(cell(h)) for h in header) + r" \\ \hline")
    for row in body:
        lines.append(" & ".join(_latex_cell(v) for v in row) + r" \\")
    lines.append(r"\end{array}")
    return "\n".join(lines)


def latex_table(rows: Iterable[Sequence[Any]], header: Sequence[Any] | None = None, *,
                caption: str | None = None, digits: int = DIGITS) -> str:
    r"""The table in display math, ``$$\begin{array}...\end{array}$$`` (:func:`latex_array`): what
    Jupyter's ``_repr_latex_`` shows through MathJax and nbconvert passes to LaTeX."""
    return "$$" + latex_array(rows, header, caption=caption, digits=digits) + "$$"


def _md_cell(text: str) -> str:
    if isinstance(text, Math):  # no raw HTML can reach the page: < and > as math commands
        body = str(text).replace("<", r"\lt ").replace(">", r"\gt ").replace("|", r"\vert ")
        return f"${body}$"
    text = str(text).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    text = html.escape(text, quote=False)  # Markdown passes raw HTML through: escape it
    for ch in "|$*_`[]":
        text = text.replace(ch, "\\" + ch)
    return text


def markdown_table(rows: Iterable[Sequence[Any]], header: Sequence[Any], *,
                   digits: int = DIGITS) -> str:
    """A Markdown pipe table: text cells HTML-escaped (Markdown passes raw HTML through), with
    ``\\ | $ * _ ` [ ]`` backslash-escaped and newlines made spaces."""
    lines = ["| " + " | ".join(_md_cell(cell(h)) for h in header) + " |",
             "|" + "---|" * len(header)]
    for row in _rows(rows, digits):
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(lines)


#: One table of a display: ``(caption, header, rows)``.
Table = tuple[str | None, Sequence[Any], list[Sequence[Any]]]


class TableDisplay:
    """Mixin: ``_repr_html_``, ``_repr_latex_`` and ``_repr_markdown_`` from
    ``_display_tables()``, a list of ``(caption, header, rows)``."""

    def _display_tables(self) -> list[Table]:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return "".join(html_table(rows, header, caption=cap)
                       for cap, header, rows in self._display_tables())

    def _repr_latex_(self) -> str:
        arrays = [latex_array(rows, header, caption=cap)
                  for cap, header, rows in self._display_tables()]
        if len(arrays) == 1:
            return "$$" + arrays[0] + "$$"
        return "$$" + r"\begin{array}{l}" + r" \\ ".join(arrays) + r"\end{array}$$"

    def _repr_markdown_(self) -> str:
        parts = []
        for cap, header, rows in self._display_tables():
            if cap:
                parts.append("**" + _md_cell(cap) + "**\n")
            parts.append(markdown_table(rows, header) + "\n")
        return "\n".join(parts)
