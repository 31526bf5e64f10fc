"""A small document model shared by the three renderers (HTML, Markdown, LaTeX).

Section builders (:mod:`compverify.report.sections`) turn result dicts into :class:`Section` s made
of blocks (:class:`Para`, :class:`MathBlock`, :class:`Table`, :class:`Figure`, :class:`CodeBlock`,
:class:`Items`); a paragraph or a table cell is a list of inline items: plain ``str``,
:class:`Math`, :class:`Num` and :class:`Text` (emphasis, code). The renderers know nothing about
the mathematics, the builders nothing about the output formats.

Numbers are never typed in: a :class:`Num` carries the decimal string of a result (``value``), the
path of that value in the results (``key``, for example ``solve/relu-d2-M3/relative_loss``) and
how many significant digits to show. The HTML keeps the full string in ``data-value`` and the path
in ``data-key``, so a reader (or a test) can check every shown number against the JSON results.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.pretty.pretty_symbology import greek_unicode

# ----------------------------------------------------------------------------------------------
# Inline items
# ----------------------------------------------------------------------------------------------

_ENTITY_RE = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


def _numeric_entities(markup: str) -> str:
    """Replace HTML named entities (``&InvisibleTimes;``, ``&pi;``) by numeric references.

    SymPy's MathML printer emits named entities that XML does not know; numeric references keep
    the page well-formed XHTML.

    >>> _numeric_entities("<mi>&pi;</mi><mo>&InvisibleTimes;</mo><mo>&lt;</mo>")
    '<mi>&#960;</mi><mo>&#8290;</mo><mo>&lt;</mo>'
    """

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name in _XML_ENTITIES:
            return m.group(0)
        chars = html.entities.html5.get(name + ";")
        if chars is None:
            raise ValueError(f"unknown entity &{name}; in MathML")
        return "".join(f"&#{ord(c)};" for c in chars)

    return _ENTITY_RE.sub(repl, markup)


_ACCENTS = {"bar": "\u00af", "hat": "^", "tilde": "~", "dot": "\u02d9", "vec": "\u2192",
            "prime": "\u2032"}


class _PresentationPrinter(MathMLPresentationPrinter):
    """SymPy's presentation MathML printer, with two fixes for reports.

    Undefined functions keep their name as a symbol would print it (``sigma`` as σ, ``f_N`` with a
    subscript; SymPy lower-cases them as plain text), and symbol names ending in modifiers
    (``Cbar``, ``uhat``, ``abarprime``, as SymPy's LaTeX printer reads them) get the accents.
    """

    def _accented(self, text: str) -> Any:
        """An identifier with SymPy's name modifiers (``Cbar``, ``nuprime``) as accents."""
        mods = []
        base = text
        while True:
            for mod in _ACCENTS:
                if base.endswith(mod) and len(base) > len(mod):
                    mods.append(mod)
                    base = base[: -len(mod)]
                    break
            else:
                break
        node = self.dom.createElement("mi")
        node.appendChild(self.dom.createTextNode(greek_unicode.get(base, base)))
        for mod in reversed(mods):
            mo = self.dom.createElement("mo")
            mo.appendChild(self.dom.createTextNode(_ACCENTS[mod]))
            if mod == "prime":
                wrap = self.dom.createElement("msup")
            else:
                wrap = self.dom.createElement("mover")
                wrap.setAttribute("accent", "true")
            wrap.appendChild(node)
            wrap.appendChild(mo)
            node = wrap
        return node

    def _print_Symbol(self, sym: Any, style: str = "plain") -> Any:
        name, supers, subs = self._split_super_sub(sym.name)

        def join(items: list[str]) -> Any:
            if len(items) == 1:
                return self._accented(items[0])
            row = self.dom.createElement("mrow")
            for k, item in enumerate(items):
                if k:
                    comma = self.dom.createElement("mo")
                    comma.appendChild(self.dom.createTextNode(","))
                    row.appendChild(comma)
                row.appendChild(self._accented(item))
            return row

        x = self._accented(name)
        if supers or subs:
            tag = "msubsup" if supers and subs else ("msup" if supers else "msub")
            wrap = self.dom.createElement(tag)
            wrap.appendChild(x)
            if subs:
                wrap.appendChild(join(subs))
            if supers:
                wrap.appendChild(join(supers))
            x = wrap
        if style == "bold":
            x.setAttribute("mathvariant", "bold")
        return x

    def _print_Function(self, e: Any) -> Any:
        if isinstance(e, AppliedUndef) or not type(e).__module__.startswith("sympy"):
            mrow = self.dom.createElement("mrow")
            mrow.appendChild(self._print_Symbol(sympy.Symbol(e.func.__name__)))
            mrow.appendChild(self._paren_comma_separated(*e.args))
            return mrow
        return super()._print_Function(e)


def expr_mathml(expr: Any) -> str:
    """Presentation MathML (without the ``<math>`` element) of a SymPy expression.

    >>> expr_mathml(sympy.Symbol("Cbar"))
    '<mover accent="true"><mi>C</mi><mo>&#175;</mo></mover>'
    """
    printer = _PresentationPrinter()
    return _numeric_entities(printer.doprint(expr))


@dataclass(frozen=True)
class Math:
    """A formula: LaTeX for Markdown/LaTeX and presentation MathML (from SymPy) for HTML.

    ``mathml`` is ``None`` only when the formula exists as LaTeX alone (a recorded derivation step
    without its expression); the HTML then shows the LaTeX source verbatim, marked as such.
    """

    latex: str
    mathml: str | None = None

    @classmethod
    def of(cls, expr: Any) -> Math:
        """From a SymPy expression (or anything :func:`sympy.sympify` accepts, e.g. an Eq)."""
        if not isinstance(expr, sympy.Basic):
            expr = sympy.sympify(expr)
        return cls(sympy.latex(expr), expr_mathml(expr))

    @classmethod
    def from_dict(cls, d: Any) -> Math:
        """From a formula dict ``{"latex": ..., "mathml": ...}`` (see :func:`formula`)."""
        if isinstance(d, Math):
            return d
        if isinstance(d, str):
            return cls(d, None)
        return cls(d.get("latex", ""), d.get("mathml"))

    @classmethod
    def eq(cls, lhs: Any, rhs: Any, rel: str = "=") -> Math:
        """``lhs rel rhs``, both sides printed by SymPy (``rel``: ``=``, ``<=``, ``approx``...)."""
        left, right = cls.of(lhs), cls.of(rhs)
        return cls.join([left, right], rel)

    @classmethod
    def join(cls, parts: list[Math], rel: str = "=") -> Math:
        """Formulas joined by a relation sign: ``a = b = c``."""
        tex = {"=": "=", "<=": r"\le", ">=": r"\ge", "approx": r"\approx", ":=": ":=",
               "~": r"\sim"}[rel]
        mo = {"=": "=", "<=": "&#8804;", ">=": "&#8805;", "approx": "&#8776;", ":=": ":=",
              "~": "&#8764;"}[rel]
        latex = f" {tex} ".join(p.latex for p in parts)
        if any(p.mathml is None for p in parts):
            return cls(latex, None)
        ml = f"<mo>{mo}</mo>".join(p.mathml for p in parts)  # type: ignore[misc]
        return cls(latex, f"<mrow>{ml}</mrow>")


def formula(expr: Any = None, latex: str | None = None, lhs: Any = None) -> dict:
    """A JSON-ready formula ``{"latex", "mathml"}``: both printed by SymPy from ``expr``.

    ``latex`` overrides the LaTeX (for example the text a derivation recorded); without ``expr``
    the MathML is ``None``. With ``lhs``, the formula is ``lhs = expr``.
    """
    if expr is None:
        return {"latex": latex or "", "mathml": None}
    m = Math.of(expr) if lhs is None else Math.eq(lhs, expr)
    return {"latex": latex if latex is not None else m.latex, "mathml": m.mathml}


@dataclass(frozen=True)
class Num:
    """A number taken from a result: its decimal string, its path in the results, digits shown."""

    value: str
    key: str
    digits: int | None = 12

    @property
    def shown(self) -> str:
        return round_decimal(self.value, self.digits)


@dataclass(frozen=True)
class Text:
    """Styled text: ``style`` is ``"em"``, ``"strong"`` or ``"code"``."""

    text: str
    style: str = "em"


Inline = str | Math | Num | Text


def round_decimal(value: Any, digits: int | None) -> str:
    """A decimal string rounded to ``digits`` significant digits (exact decimal arithmetic).

    Strings that are not numbers (``"inf"`` is one, ``"n/a"`` is not) come back unchanged, as do
    integers and strings already short enough.

    >>> round_decimal("0.12345678901234567890", 6), round_decimal("-2.5e-30", 6)
    ('0.123457', '-2.5e-30')
    >>> round_decimal("12", 3), round_decimal("123456", 3), round_decimal("n/a", 3)
    ('12', '123456', 'n/a')
    """
    s = str(value)
    if digits is None or re.fullmatch(r"[+-]?\d+", s):
        return s
    try:
        dec = Decimal(s)
    except InvalidOperation:
        return s
    if not dec.is_finite():
        return s
    sig = len(dec.as_tuple().digits)
    if sig <= digits:
        return s
    out = format(dec, f".{digits}g")
    return out


# ----------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------


@dataclass
class Para:
    """A paragraph of inline items."""

    items: list[Inline]


@dataclass
class MathBlock:
    """Display formulas, one per line, each with an optional label in front."""

    formulas: list[Math]
    labels: list[str] | None = None


@dataclass
class Table:
    """A table: header strings and rows of cells (each cell a list of inline items or one)."""

    header: list[str]
    rows: list[list[Any]]
    caption: str | None = None
    key: str | None = None


@dataclass
class Figure:
    """An image written next to the report (``name`` relative to the output directory)."""

    name: str
    data: bytes
    mime: str
    caption: list[Inline]
    alt: str = ""


@dataclass
class CodeBlock:
    """Preformatted text (a command line, a configuration file)."""

    text: str
    language: str = ""


@dataclass
class Items:
    """A bulleted list; each item is a list of inline items."""

    items: list[list[Inline]]


Block = Para | MathBlock | Table | Figure | CodeBlock | Items


@dataclass
class Section:
    """A titled section (``ident`` is its anchor), with blocks and subsections."""

    ident: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)


@dataclass
class Document:
    """The whole report."""

    title: str
    sections: list[Section]
    subtitle: list[Inline] = field(default_factory=list)


def as_inlines(cell: Any) -> list[Inline]:
    """A table cell or paragraph as a list of inline items."""
    if isinstance(cell, list):
        return cell
    if cell is None:
        return ["\u2014"]
    return [cell]
