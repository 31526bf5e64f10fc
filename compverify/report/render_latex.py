"""The LaTeX renderer: a standalone ``article`` source with the same content as the HTML page.

It needs only standard packages (amsmath, amssymb, graphicx, longtable, booktabs, hyperref) and
compiles with ``pdflatex report.tex`` (or lualatex/xelatex); figures are the PNG files next to it.
Non-ASCII characters in prose are mapped to LaTeX commands.
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
        if "e" in shown.lower():
            mant, _, exp = shown.lower().partition("e")
            return f"${mant}\\times 10^{{{int(exp)}}}$"
        return f"${shown}$" if shown.startswith("-") else shown
    if isinstance(item, Text):
        cmd = {"em": "emph", "strong": "textbf", "code": "texttt"}[item.style]
        return f"\\{cmd}{{{escape_tex(item.text)}}}"
    raise TypeError(f"not an inline item: {item!r}")


def _inlines(items: list) -> str:
    return "".join(_inline(i) for i in items)


def _block(b: object) -> str:
    if isinstance(b, Para):
        return _inlines(b.items)
    if isinstance(b, MathBlock):
        out = []
        for i, m in enumerate(b.formulas):
            label = b.labels[i] if b.labels else ""
            lead = f"\\noindent {escape_tex(label)}\n" if label else ""
            out.append(f"{lead}\\[\n{m.latex}\n\\]")
        return "\n".join(out)
    if isinstance(b, Table):
        cols = "l" * len(b.header)
        head = " & ".join(escape_tex(h) for h in b.header) + r" \\"
        rows = "\n".join(" & ".join(_inlines(as_inlines(c)) for c in row) + r" \\"
                         for row in b.rows)
        cap = f"\\caption*{{{escape_tex(b.caption)}}}\\\\\n" if b.caption else ""
        return (f"{{\\small\\begin{{longtable}}{{{cols}}}\n{cap}\\toprule\n{head}\n\\midrule\n"
                f"{rows}\n\\bottomrule\n\\end{{longtable}}}}")
    if isinstance(b, Figure):
        return ("\\begin{figure}[htbp]\n\\centering\n"
                f"\\includegraphics[width=0.8\\linewidth]{{{b.name}}}\n"
                f"\\caption*{{{_inlines(b.caption)}}}\n\\end{{figure}}")
    if isinstance(b, CodeBlock):
        return f"\\begin{{verbatim}}\n{b.text.rstrip()}\n\\end{{verbatim}}"
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
        "\\usepackage[utf8]{inputenc}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        "\\usepackage[margin=2.2cm]{geometry}\n"
        "\\usepackage{amsmath,amssymb,graphicx,longtable,booktabs,caption}\n"
        "\\usepackage[hidelinks]{hyperref}\n"
        "\\setlength{\\parindent}{0pt}\\setlength{\\parskip}{0.5em}\n"
        f"\\title{{{escape_tex(doc.title)}}}\n\\author{{compverify}}\n{sub}\n"
        "\\begin{document}\n\\maketitle\n\\tableofcontents\n\n"
        f"{body}\n\n\\end{{document}}\n")
