"""The Markdown renderer: the same content as the HTML page, math as LaTeX (``$...$``, ``$$...$$``).

Figures are relative links to the PNG files written next to ``report.md``.
"""

from __future__ import annotations

import re

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

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$])")


def _esc(s: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", s)


def _inline(item: object, in_table: bool = False) -> str:
    if isinstance(item, str):
        return _esc(item)
    if isinstance(item, Math):
        tex = item.latex.replace("|", r"\vert ") if in_table else item.latex
        return f"${tex}$"
    if isinstance(item, Num):
        return item.shown
    if isinstance(item, Text):
        if item.style == "code":
            return f"`{item.text}`"
        mark = "*" if item.style == "em" else "**"
        return f"{mark}{_esc(item.text)}{mark}"
    raise TypeError(f"not an inline item: {item!r}")


def _inlines(items: list, in_table: bool = False) -> str:
    return "".join(_inline(i, in_table) for i in items)


def _block(b: object) -> str:
    if isinstance(b, Para):
        return _inlines(b.items)
    if isinstance(b, MathBlock):
        out = []
        for i, m in enumerate(b.formulas):
            label = b.labels[i] if b.labels else ""
            out.append((f"{_esc(label)}\n\n" if label else "") + f"$$\n{m.latex}\n$$")
        return "\n\n".join(out)
    if isinstance(b, Table):
        lines = ["| " + " | ".join(_esc(h) for h in b.header) + " |",
                 "|" + "|".join("---" for _ in b.header) + "|"]
        for row in b.rows:
            cells = [_inlines(as_inlines(c), in_table=True).replace("\n", " ") for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        if b.caption:
            lines += ["", f"*{_esc(b.caption)}*"]
        return "\n".join(lines)
    if isinstance(b, Figure):
        return f"![{_esc(b.alt)}]({b.name})\n\n*{_inlines(b.caption)}*"
    if isinstance(b, CodeBlock):
        fence = "````" if "```" in b.text else "```"
        return f"{fence}{b.language}\n{b.text.rstrip()}\n{fence}"
    if isinstance(b, Items):
        return "\n".join(f"- {_inlines(it)}" for it in b.items)
    raise TypeError(f"not a block: {b!r}")


def _section(s: Section, level: int) -> str:
    parts = [f'<a id="{s.ident}"></a>\n\n' + f"{'#' * min(level, 6)} {s.title}"]
    parts += [_block(b) for b in s.blocks]
    parts += [_section(sub, level + 1) for sub in s.subsections]
    return "\n\n".join(parts)


def render_markdown(doc: Document) -> str:
    """The report as Markdown text."""
    parts = [f"# {doc.title}"]
    if doc.subtitle:
        parts.append(_inlines(doc.subtitle))
    parts.append("\n".join(f"{i}. [{s.title}](#{s.ident})" for i, s in enumerate(doc.sections, 1)))
    parts += [_section(s, 2) for s in doc.sections]
    return "\n\n".join(parts) + "\n"
