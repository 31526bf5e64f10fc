"""The LaTeX renderer: a standalone ``article`` source with the same content as the HTML page.

It needs only packages of TeX Live's latex-base, -recommended and -extra sets (amsmath, amssymb,
graphicx, array, longtable, booktabs, caption, fvextra, hyperref; lmodern when installed) and
compiles with ``pdflatex report.tex`` (or lualatex/xelatex); figures are the PNG files next to it.
Non-ASCII characters in prose are mapped to LaTeX commands.

Everything fits the text width (:data:`TEXT_WIDTH_EM` ems at 11 pt, US letter or A4 with the
2.2 cm margins):

- a table is fitted by :func:`fit_columns`: natural columns if they fit; else wrapping columns
  (``p``, ragged right) for the cells that can break at spaces; else split into several tables of
  consecutive columns that each repeat the first ``Table.repeat_columns`` columns. Widths are the
  estimates of :func:`compverify.report.document.inline_width` in ems of the table's ``\\small``
  font; long tables break across pages with the header repeated;
- display formulas break where the builder broke them (:meth:`~compverify.report.document.Math.
  broken`: ``aligned``); a display formula wider than the page is set in a smaller font;
- code blocks (``fvextra``'s ``Verbatim``) wrap long lines, marking the continuation.
"""

from __future__ import annotations

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
    as_inlines,
    inline_width,
    latex_width,
)

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}
_UNICODE = {
    "\u2014": "---", "\u2013": "--", "\u2212": "$-$", "\u00d7": r"$\times$", "\u2264": r"$\le$",
    "\u2265": r"$\ge$", "\u2248": r"$\approx$", "\u2192": r"$\to$", "\u221e": r"$\infty$",
    "\u00b1": r"$\pm$", "\u2016": r"$\|$", "\u27e8": r"$\langle$", "\u27e9": r"$\rangle$",
    "\u2026": r"\ldots{}", "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''",
    "\u00a0": "~", "\u2202": r"$\partial$", "\u2211": r"$\sum$", "\u221a": r"$\surd$",
    "\u2208": r"$\in$", "\u2225": r"$\|$", "\u00b2": r"$^2$", "\u00b3": r"$^3$",
    "\u2080": r"$_0$", "\u2081": r"$_1$", "\u2082": r"$_2$", "\u1d40": r"$^T$",
    "\u0304": "",  # combining macron (as in L-bar): dropped in plain text
}
_GREEK_LOWER = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi rho "
                "varsigma sigma tau upsilon phi chi psi omega").split()
for _i, _name in enumerate(_GREEK_LOWER):  # U+03B1 .. U+03C9
    _UNICODE[chr(0x3B1 + _i)] = "o" if _name == "o" else rf"$\{_name}$"
for _c, _name in {"\u0393": "Gamma", "\u0394": "Delta", "\u0398": "Theta", "\u039b": "Lambda",
                  "\u039e": "Xi", "\u03a0": "Pi", "\u03a3": "Sigma", "\u03a6": "Phi",
                  "\u03a8": "Psi", "\u03a9": "Omega"}.items():
    _UNICODE[_c] = rf"$\{_name}$"


def escape_tex(s: str) -> str:
    """Text made safe for LaTeX.

    >>> escape_tex("50% of a_1 & σ ≤ 1")
    '50\\\\% of a\\\\_1 \\\\& $\\\\sigma$ $\\\\le$ 1'
    """
    return "".join(_SPECIAL.get(c) or _UNICODE.get(c) or c for c in s)


def _inline(item: object) -> str:
    if isinstance(item, str):
        return escape_tex(item)
    if isinstance(item, Math):
        return f"${item.latex}$"
    if isinstance(item, Num):
        shown = item.shown
        try:
            float(shown)
        except ValueError:  # not a number (a status word): plain text
            return escape_tex(shown)
        if "e" in shown.lower():  # braced: a number never breaks across lines
            mant, _, exp = shown.lower().partition("e")
            return f"${{{mant}\\times 10^{{{int(exp)}}}}}$"
        return f"${{{shown}}}$" if shown.startswith("-") else shown
    if isinstance(item, Text):
        cmd = {"em": "emph", "strong": "textbf", "code": "texttt"}[item.style]
        return f"\\{cmd}{{{escape_tex(item.text)}}}"
    raise TypeError(f"not an inline item: {item!r}")


def _inlines(items: list) -> str:
    return "".join(_inline(i) for i in items)


#: The text width in ems of the 11 pt body font (US letter, 2.2 cm margins: 489 pt; A4 is wider).
TEXT_WIDTH_EM = 44.4
#: The same in ems of the ``\\small`` (10 pt) table font.
TABLE_WIDTH_EM = 48.9
#: Table fonts tried in turn, with the text width in their ems; a table that fits in neither as
#: one table is split at the first.
TABLE_FONTS = (("small", TABLE_WIDTH_EM), ("footnotesize", 54.3))
#: Fraction of the width a table may fill by the estimates (they err by up to about 5%).
_SAFETY = 0.95
#: Space between two columns (2 x ``\\tabcolsep``, set to 4 pt in tables) in ems of the table
#: font (at most 0.89 em: 8 pt at 9 pt).
COLUMN_SEP_EM = 0.9
#: Added to a wrapping column's widest word (the word widths are estimates).
WORD_MARGIN_EM = 0.3


def fit_columns(header: list[str], rows: list[list], width: float = TABLE_WIDTH_EM,
                repeat: int = 1) -> list[tuple[list[int], list[float | None]]]:
    """How to set a table within ``width`` ems: a list of parts, each ``(columns, widths)``.

    ``columns`` are the column indices of a part; ``widths[k]`` is ``None`` for a natural
    (``l``) column and a width in ems for a wrapping ``p`` column. One part when the table fits
    (wrapping if needed); several when even the unbreakable pieces are too wide, each part
    repeating the first ``repeat`` columns.

    >>> fit_columns(["a", "b"], [["x", "y"]])
    [([0, 1], [None, None])]
    >>> parts = fit_columns(["n"] + [f"c{k}" for k in range(8)], [["1"] + ["0.123456789012"] * 8])
    >>> [cols for cols, _ in parts]
    [[0, 1, 2, 3, 4, 5], [0, 6, 7, 8]]
    """
    n = len(header)
    cells = [[as_inlines(row[c]) if c < len(row) else [] for row in rows] for c in range(n)]
    pref = [max([inline_width([header[c]])] + [inline_width(x) for x in cells[c]])
            for c in range(n)]
    # The widths are estimates from per-character widths; a wrapping column gets WORD_MARGIN_EM
    # more than its widest word so that an underestimated word (e.g. "Lipschitz") still fits.
    least = [max([inline_width([header[c]], breakable=True)]
                 + [inline_width(x, breakable=True) for x in cells[c]]) + WORD_MARGIN_EM
             for c in range(n)]
    repeat = max(0, min(repeat, n - 1))

    def fit(cols: list[int]) -> list[float | None] | None:
        avail = width * _SAFETY - COLUMN_SEP_EM * len(cols)
        if sum(pref[c] for c in cols) <= avail:
            return [None] * len(cols)
        if sum(least[c] for c in cols) > avail:
            return None
        slack = avail - sum(least[c] for c in cols)
        want = sum(pref[c] - least[c] for c in cols)
        out: list[float | None] = []
        for c in cols:
            if pref[c] <= least[c]:
                out.append(None)
            else:
                out.append(round(least[c] + slack * (pref[c] - least[c]) / want, 2))
        return out

    whole = fit(list(range(n)))
    if whole is not None:
        return [(list(range(n)), whole)]
    parts: list[tuple[list[int], list[float | None]]] = []
    fixed = list(range(repeat))
    current: list[int] = []
    for c in range(repeat, n):
        trial = fixed + current + [c]
        if current and fit(trial) is None:
            cols = fixed + current
            parts.append((cols, fit(cols) or [None] * len(cols)))
            current = [c]
        else:
            current.append(c)
    if current:
        cols = fixed + current
        parts.append((cols, fit(cols) or [None] * len(cols)))
    return parts


def _table(b: Table) -> str:
    font = TABLE_FONTS[0][0]
    parts = fit_columns(b.header, b.rows, width=TABLE_FONTS[0][1], repeat=b.repeat_columns)
    for smaller, width in TABLE_FONTS[1:]:
        if len(parts) == 1:
            break
        trial = fit_columns(b.header, b.rows, width=width, repeat=b.repeat_columns)
        if len(trial) == 1:
            font, parts = smaller, trial
    out = []
    for k, (cols, widths) in enumerate(parts):
        spec = "".join("l" if w is None else f">{{\\raggedright\\arraybackslash}}p{{{w:g}em}}"
                       for w in widths)
        head = " & ".join(escape_tex(b.header[c]) for c in cols) + r" \\"
        rows = "\n".join(" & ".join(_inlines(as_inlines(row[c]) if c < len(row) else [])
                                     for c in cols) + r" \\" for row in b.rows)
        caption = (b.caption or "") if k == 0 else "Continued."
        if len(parts) > 1:
            note = (f"Part {k + 1} of {len(parts)} (columns: "
                    + ", ".join(b.header[c] for c in cols) + ").")
            caption = f"{caption} {note}".strip()
        cap = f"\\caption*{{{escape_tex(caption)}}}\\\\\n" if caption else ""
        out.append(f"{{\\{font}\\setlength{{\\tabcolsep}}{{4pt}}"
                   f"\\begin{{longtable}}{{{spec}}}\n{cap}\\toprule\n{head}\n"
                   f"\\midrule\n\\endfirsthead\n\\toprule\n{head}\n\\midrule\n\\endhead\n"
                   f"{rows}\n\\bottomrule\n\\end{{longtable}}}}")
    return "\n\n".join(out)


def _display(m: Math) -> str:
    """A display formula; one estimated wider than the page is set smaller (never cut)."""
    w = latex_width(m.latex)
    if w <= TEXT_WIDTH_EM:
        return f"\\[\n{m.latex}\n\\]"
    size = "\\small" if w <= TEXT_WIDTH_EM * 1.09 else (
        "\\footnotesize" if w <= TEXT_WIDTH_EM * 1.22 else "\\scriptsize")
    return f"{{{size}\n\\[\n{m.latex}\n\\]}}"


def _code(text: str) -> str:
    """``Verbatim`` with wrapped lines; the text's TeX specials escaped (commandchars)."""
    body = "".join(_CODE_SPECIAL.get(c) or _code_unicode(c) for c in text.rstrip())
    return ("\\begin{Verbatim}[breaklines, breakanywhere, commandchars=\\\\\\{\\}, "
            "fontsize=\\small]\n" + body + "\n\\end{Verbatim}")


_CODE_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}"}


def _code_unicode(c: str) -> str:
    """A character in a code block: ASCII as is, others as the prose mapping (math in
    ``\\ensuremath``: ``$`` is not special there), else ``?``."""
    if ord(c) < 128:
        return c
    tex = _UNICODE.get(c)
    if tex is None:
        return "?"
    if tex.startswith("$") and tex.endswith("$"):
        return f"\\ensuremath{{{tex[1:-1]}}}"
    return "\\" + "textasciitilde{}" if tex == "~" else tex


def _block(b: object) -> str:
    if isinstance(b, Para):
        return _inlines(b.items)
    if isinstance(b, MathBlock):
        out = []
        for i, m in enumerate(b.formulas):
            label = b.labels[i] if b.labels else ""
            lead = f"\\noindent {escape_tex(label)}\n" if label else ""
            out.append(f"{lead}{_display(m)}")
        return "\n".join(out)
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Figure):
        # In place, not a float: floats deferred past a longtable are set by its output routine
        # on an overfull page (seen: 265 pt too high with two figures after the atlas table).
        return ("\\begin{center}\n"
                f"\\includegraphics[width=0.8\\linewidth]{{{b.name}}}\n"
                f"\\captionof*{{figure}}{{{_inlines(b.caption)}}}\n\\end{{center}}")
    if isinstance(b, CodeBlock):
        return _code(b.text)
    if isinstance(b, Items):
        lis = "\n".join(f"\\item {_inlines(it)}" for it in b.items)
        return f"\\begin{{itemize}}\n{lis}\n\\end{{itemize}}"
    raise TypeError(f"not a block: {b!r}")


_LEVELS = ("section", "subsection", "subsubsection", "paragraph", "subparagraph")


def _section(s: Section, level: int) -> str:
    cmd = _LEVELS[min(level, len(_LEVELS) - 1)]
    parts = [f"\\{cmd}{{{escape_tex(s.title)}}}\\label{{sec:{s.ident}}}"]
    parts += [_block(b) for b in s.blocks]
    parts += [_section(sub, level + 1) for sub in s.subsections]
    return "\n\n".join(parts)


def render_latex(doc: Document) -> str:
    """The report as a LaTeX source."""
    sub = f"\\date{{{_inlines(doc.subtitle)}}}" if doc.subtitle else "\\date{}"
    body = "\n\n".join(_section(s, 0) for s in doc.sections)
    return (
        "% Generated by compverify report; compile with pdflatex (figures are next to this file).\n"
        "\\documentclass[11pt]{article}\n"
        "\\usepackage[utf8]{inputenc}\n\\usepackage[T1]{fontenc}\n"
        "\\IfFileExists{lmodern.sty}{\\usepackage{lmodern}}{}\n"
        "\\usepackage[margin=2.2cm]{geometry}\n"
        "\\usepackage{amsmath,amssymb,graphicx,array,longtable,booktabs,caption,fvextra}\n"
        "\\allowdisplaybreaks\\emergencystretch=2em\n"
        "\\usepackage[hidelinks]{hyperref}\n"
        "\\setlength{\\parindent}{0pt}\\setlength{\\parskip}{0.5em}\n"
        f"\\title{{{escape_tex(doc.title)}}}\n\\author{{compverify}}\n{sub}\n"
        "\\begin{document}\n\\maketitle\n\\tableofcontents\n\n"
        f"{body}\n\n\\end{{document}}\n")
