"""The HTML renderer: one self-contained, well-formed XHTML page.

Math is presentation MathML printed by SymPy (browsers render it natively, nothing is fetched),
images are embedded as ``data:`` URIs, the stylesheet is inline, and there is no script. The page
is well-formed XML (numeric character references only), so :mod:`xml.etree.ElementTree` parses it.
A wide table scrolls sideways inside its ``div.tablewrap``; a formula broken over lines
(:meth:`compverify.report.document.Math.broken`) is an ``mtable``.
Every number shown is a ``<span class="num">`` carrying the full decimal string of the result in
``data-value`` and its path in the results in ``data-key``.
"""

from __future__ import annotations

import base64
from html import escape

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

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #1a1a1a; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .92rem; }
th, td { border: 1px solid #bbb; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
caption { caption-side: bottom; font-size: .9rem; color: #444; padding-top: .3rem; }
.num { font-family: 'DejaVu Sans Mono', Menlo, monospace; font-size: .9em; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
code { font-family: 'DejaVu Sans Mono', Menlo, monospace; font-size: .9em; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { font-size: .9rem; color: #444; }
.mathblock { overflow-x: auto; margin: .6rem 0; }
.mathblock .label { color: #555; margin-right: .6rem; }
.tex { color: #555; }
.tablewrap { overflow-x: auto; }
mtable { text-align: left; }
nav ol { columns: 2; }
math[display=block] { margin: .3rem 0; }
"""


def _math(m: Math, display: bool) -> str:
    if m.mathml is None:
        return f'<code class="tex" title="LaTeX">{escape(m.latex)}</code>'
    mode = "block" if display else "inline"
    return (f'<math xmlns="{MATHML_NS}" display="{mode}" alttext="{escape(m.latex)}">'
            f"{m.mathml}</math>")


def _inline(item: object) -> str:
    if isinstance(item, str):
        return escape(item, quote=False)
    if isinstance(item, Math):
        return _math(item, display=False)
    if isinstance(item, Num):
        return (f'<span class="num" data-key="{escape(item.key)}" '
                f'data-value="{escape(item.value)}">{escape(item.shown)}</span>')
    if isinstance(item, Text):
        tag = {"em": "em", "strong": "strong", "code": "code"}[item.style]
        return f"<{tag}>{escape(item.text, quote=False)}</{tag}>"
    raise TypeError(f"not an inline item: {item!r}")


def _inlines(items: list) -> str:
    return "".join(_inline(i) for i in items)


def _block(b: object) -> str:
    if isinstance(b, Para):
        return f"<p>{_inlines(b.items)}</p>"
    if isinstance(b, MathBlock):
        out = []
        for i, m in enumerate(b.formulas):
            label = b.labels[i] if b.labels else ""
            lab = f'<span class="label">{escape(label)}</span>' if label else ""
            out.append(f'<div class="mathblock">{lab}{_math(m, display=True)}</div>')
        return "\n".join(out)
    if isinstance(b, Table):
        key = f' data-key="{escape(b.key)}"' if b.key else ""
        head = "".join(f"<th>{escape(h)}</th>" for h in b.header)
        rows = "\n".join(
            "<tr>" + "".join(f"<td>{_inlines(as_inlines(c))}</td>" for c in row) + "</tr>"
            for row in b.rows)
        cap = f"<caption>{escape(b.caption)}</caption>" if b.caption else ""
        return (f'<div class="tablewrap"><table{key}>{cap}<thead><tr>{head}</tr></thead><tbody>\n'
                f"{rows}\n</tbody></table></div>")
    if isinstance(b, Figure):
        data = base64.b64encode(b.data).decode("ascii")
        return (f'<figure><img src="data:{b.mime};base64,{data}" alt="{escape(b.alt)}"/>'
                f"<figcaption>{_inlines(b.caption)}</figcaption></figure>")
    if isinstance(b, CodeBlock):
        return f"<pre><code>{escape(b.text, quote=False)}</code></pre>"
    if isinstance(b, Items):
        lis = "".join(f"<li>{_inlines(it)}</li>" for it in b.items)
        return f"<ul>{lis}</ul>"
    raise TypeError(f"not a block: {b!r}")


def _section(s: Section, level: int) -> str:
    h = min(level, 6)
    parts = [f'<section id="{escape(s.ident)}"><h{h}>{escape(s.title)}</h{h}>']
    parts += [_block(b) for b in s.blocks]
    parts += [_section(sub, level + 1) for sub in s.subsections]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(doc: Document) -> str:
    """The page as a string (UTF-8 XHTML)."""
    toc = "".join(f'<li><a href="#{escape(s.ident)}">{escape(s.title)}</a></li>'
                  for s in doc.sections)
    body = "\n".join(_section(s, 2) for s in doc.sections)
    sub = f"<p>{_inlines(doc.subtitle)}</p>" if doc.subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n'
        '<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{escape(doc.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(doc.title)}</h1>\n{sub}\n<nav><ol>{toc}</ol></nav>\n{body}\n"
        "</body>\n</html>\n")
