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

Fitting a printed page (for section builders):

- Tables: the LaTeX renderer fits every :class:`Table` to the text width by itself. It estimates
  each column's width (:func:`inline_width`, in ems of the table font) and sets the columns
  natural (``l``) when they fit; otherwise text columns become wrapping ``p`` columns (a cell
  breaks at spaces, never inside a number or a formula); if even the unbreakable widths do not fit,
  the table is split into several tables of consecutive columns, each repeating the first
  ``Table.repeat_columns`` columns (the row labels). Long tables break across pages with the
  header repeated. Keep cells short: put a long description in the text and a short label (see
  :func:`compverify.report.sections.target_label`) in the cell. The HTML scrolls a wide table
  sideways.
- Equations: :meth:`Math.broken` prints ``lhs = t1 + t2 + ...`` over several lines (``aligned``
  in LaTeX, ``mtable`` in MathML), packing the terms of the sum into lines of at most
  ``max_width`` ems (estimated by :func:`latex_width`); ``distribute=True`` first splits a term
  too wide for a line that is a sum whose summand contains a sum (``c sum_i a_i (x + y)`` into
  ``c sum_i a_i x + c sum_i a_i y``), an exact identity. :func:`formula` takes the same
  ``max_width`` for JSON-ready formulas.
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
    def broken(cls, lhs: Any, rhs: Any, rel: str = "=", max_width: float = 40.0,
               distribute: bool = False) -> Math:
        """``lhs rel rhs`` over several lines: the terms of the sum ``rhs`` packed into lines.

        Each line holds as many consecutive terms (in SymPy's printing order) as fit in
        ``max_width`` ems (:func:`latex_width`; the text width of the LaTeX report is about 44 em
        at 11 pt); a single wider term gets a line of its own. With ``distribute``, a term
        ``c * Sum(f_1 + f_2 + ..., limits)`` (or ``c * Sum(g * (f_1 + f_2), limits)``) is first
        written as ``c * Sum(f_1, limits) + c * Sum(f_2, limits) + ...``: the same value, shorter
        terms (only terms wider than a line are split). LaTeX: ``\\begin{aligned}`` (amsmath);
        MathML: an ``mtable`` of one row per line. An expression that fits on one line gives the
        same as :meth:`eq`.

        >>> x, y = sympy.symbols("x y")
        >>> Math.broken(sympy.Symbol("f"), x ** 2 + y ** 2 + x * y, max_width=3).latex.count("&")
        3
        """
        if not isinstance(rhs, sympy.Basic):
            rhs = sympy.sympify(rhs)
        terms = []
        for t in rhs.as_ordered_terms() if isinstance(rhs, sympy.Add) else [rhs]:
            if distribute and latex_width(sympy.latex(t)) > max_width:
                terms += _split_term(t)
            else:
                terms.append(t)
        left = cls.of(lhs)
        pieces: list[tuple[str, Math]] = []  # (sign, term without its sign)
        for k, t in enumerate(terms):
            neg = t.could_extract_minus_sign()
            body = cls.of(-t if neg else t)
            pieces.append(("-" if neg else ("+" if k else ""), body))
        lines: list[list[tuple[str, Math]]] = [[]]
        width = 0.0
        for sign, body in pieces:
            w = latex_width(body.latex) + (1.3 if sign else 0.0)
            if lines[-1] and width + w > max_width:
                lines.append([])
                width = 0.0
            lines[-1].append((sign, body))
            width += w
        if len(lines) == 1:
            return cls.eq(lhs, rhs, rel)
        tex_rel = _REL_TEX[rel]
        mo_rel = _REL_MO[rel]

        def tex_line(line: list[tuple[str, Math]], first: bool) -> str:
            out = ""
            for k, (sign, body) in enumerate(line):
                if k == 0 and not first:
                    out += f"\\quad {{}}{sign} " if sign else "\\quad "
                elif sign:
                    out += f" {sign} "
                out += body.latex
            return out

        def ml_line(line: list[tuple[str, Math]]) -> str:
            out = ""
            for sign, body in line:
                if sign:
                    out += f"<mo>{'&#8722;' if sign == '-' else '+'}</mo>"
                out += f"<mrow>{body.mathml}</mrow>"
            return out

        tex_rows = [f"{left.latex} &{tex_rel} {tex_line(lines[0], True)}"]
        tex_rows += [f"&{tex_line(line, False)}" for line in lines[1:]]
        latex = "\\begin{aligned}\n" + " \\\\\n".join(tex_rows) + "\n\\end{aligned}"
        ml_rows = [f"<mtr><mtd>{left.mathml}</mtd><mtd><mo>{mo_rel}</mo>{ml_line(lines[0])}</mtd>"
                   "</mtr>"]
        ml_rows += [f"<mtr><mtd></mtd><mtd><mspace width=\"1em\"></mspace>{ml_line(line)}</mtd>"
                    "</mtr>" for line in lines[1:]]
        mathml = ('<mtable columnalign="right left" displaystyle="true">' + "".join(ml_rows)
                  + "</mtable>")
        return cls(latex, mathml)

    @classmethod
    def join(cls, parts: list[Math], rel: str = "=") -> Math:
        """Formulas joined by a relation sign: ``a = b = c``."""
        tex, mo = _REL_TEX[rel], _REL_MO[rel]
        latex = f" {tex} ".join(p.latex for p in parts)
        if any(p.mathml is None for p in parts):
            return cls(latex, None)
        ml = f"<mo>{mo}</mo>".join(p.mathml for p in parts)  # type: ignore[misc]
        return cls(latex, f"<mrow>{ml}</mrow>")


_REL_TEX = {"=": "=", "<=": r"\le", ">=": r"\ge", "approx": r"\approx", ":=": ":=", "~": r"\sim"}
_REL_MO = {"=": "=", "<=": "&#8804;", ">=": "&#8805;", "approx": "&#8776;", ":=": ":=",
           "~": "&#8764;"}


def _split_term(term: Any) -> list:
    """``c * Sum(g * (f_1 + f_2), limits)`` as ``[c * Sum(g f_1, limits), c * Sum(g f_2, limits)]``
    (the widest sum factor of the summand is split; any other term comes back alone)."""
    factors = sympy.Mul.make_args(term)
    sums = [f for f in factors if isinstance(f, sympy.Sum)]
    if len(sums) != 1:
        return [term]
    s = sums[0]
    coeff = sympy.Mul(*[f for f in factors if f is not s])
    body = s.function
    if isinstance(body, sympy.Add):
        parts = body.as_ordered_terms()
    else:
        adds = [f for f in sympy.Mul.make_args(body) if isinstance(f, sympy.Add)]
        if not adds:
            return [term]
        widest = max(adds, key=lambda a: len(sympy.latex(a)))
        rest = sympy.Mul(*[f for f in sympy.Mul.make_args(body) if f is not widest])
        parts = [rest * a for a in widest.as_ordered_terms()]
    out = []
    for p in parts:
        if p.could_extract_minus_sign():
            out.append(-coeff * sympy.Sum(-p, *s.limits))
        else:
            out.append(coeff * sympy.Sum(p, *s.limits))
    return out


def is_placeholder_latex(latex: str | None) -> bool:
    """True for LaTeX that shows no formula (empty, or a dash standing for "no expression")."""
    text = (latex or "").replace(" ", "")
    return text in ("", r"\text{--}", r"\text{-}", "--", "-", r"\text{}", r"\text{\textendash}")


def formula(expr: Any = None, latex: str | None = None, lhs: Any = None,
            max_width: float | None = None, distribute: bool = False) -> dict:
    """A JSON-ready formula ``{"latex", "mathml"}``: both printed by SymPy from ``expr``.

    ``latex`` overrides the LaTeX (for example the text a derivation recorded); without ``expr``
    the MathML is ``None``. With ``lhs``, the formula is ``lhs = expr``; with ``lhs`` and
    ``max_width`` (ems), it is broken over lines by :meth:`Math.broken` (both printed by SymPy,
    ``latex`` then ignored).
    """
    if expr is None:
        return {"latex": latex or "", "mathml": None}
    if lhs is not None and max_width is not None:
        m = Math.broken(lhs, expr, max_width=max_width, distribute=distribute)
        return {"latex": m.latex, "mathml": m.mathml}
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
    #: columns repeated in each part when the LaTeX renderer splits a table too wide for the page
    repeat_columns: int = 1


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


# ----------------------------------------------------------------------------------------------
# Estimated typeset widths (for fitting tables and breaking equations)
# ----------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\\[A-Za-z]+|\\.|.", re.S)
_NARROW = set("iljtf.,;:!'|()[]")
_WIDE = set("mwMW")
_SPACES = {"quad": 1.0, "qquad": 2.0, ",": 0.17, ";": 0.28, ":": 0.22, "!": -0.17, " ": 0.33}
_BIG_OPS = {"sum": 1.1, "prod": 1.1, "int": 0.8, "oint": 0.8, "bigcup": 1.0, "bigcap": 1.0}
_RELATIONS = {"le", "ge", "leq", "geq", "approx", "sim", "to", "in", "times", "cdot", "pm", "mp",
              "neq", "ne", "equiv", "rightarrow", "mapsto", "subset", "cup", "cap"}
_DELIMS = {"lVert", "rVert", "Vert", "|", "langle", "rangle", "lvert", "rvert", "{", "}",
           "lfloor", "rfloor", "lceil", "rceil"}
_CONTENT_CMDS = {"text", "mathrm", "operatorname", "mathbb", "mathbf", "mathit", "mathsf",
                 "mathcal", "textbf", "textit", "texttt", "emph", "bar", "hat", "tilde",
                 "overline", "vec", "dot", "boldsymbol", "mathtt", "widehat", "widetilde"}
_SKIP_CMDS = {"left", "right", "big", "Big", "bigg", "Bigg", "displaystyle", "limits",
              "nolimits", "textstyle", "scriptstyle"}


def text_width(s: str, per_char: float | None = None) -> float:
    """Estimated width in ems of plain text in a roman font (``per_char`` fixed for monospace).

    >>> round(text_width("relative loss"), 2), round(text_width("abc", per_char=0.525), 3)
    (5.45, 1.575)
    """
    if per_char is not None:
        return per_char * len(s)
    w = 0.0
    for c in s:
        if c == " ":
            w += 0.33
        elif c in _NARROW:
            w += 0.28
        elif c in _WIDE:
            w += 0.83
        elif c.isupper():
            w += 0.72
        else:
            w += 0.5
    return w


def latex_width(tex: str) -> float:
    """Estimated width in ems of a LaTeX math formula as typeset (an estimate, not a layout).

    Scripts count at 70% size, a fraction as its wider part, ``aligned`` as its widest line;
    binary operators and relations include their spacing. Good to about 20%, enough to decide
    where to break lines and how to size table columns.

    >>> round(latex_width(r"\\frac{a + b}{2}"), 2), round(latex_width("x^{2}"), 2)
    (2.71, 0.93)
    """
    tokens = _TOKEN_RE.findall(tex)
    return _seq_width(tokens, 0, len(tokens))[0]


def _group_end(tokens: list[str], i: int) -> int:
    """Index just past the group that starts at ``tokens[i] == "{"``."""
    depth = 0
    for k in range(i, len(tokens)):
        if tokens[k] == "{":
            depth += 1
        elif tokens[k] == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    return len(tokens)


def _atom(tokens: list[str], i: int, end: int) -> tuple[float, int]:
    """Width of the atom at ``i`` (a group or a single token) and the index after it."""
    if i >= end:
        return 0.0, i
    if tokens[i] == "{":
        j = _group_end(tokens, i)
        return _seq_width(tokens, i + 1, j - 1)[0], j
    return _seq_width(tokens, i, i + 1)[0], i + 1


def _seq_width(tokens: list[str], i: int, end: int) -> tuple[float, int]:
    total = 0.0
    last_script = 0.0  # width of the script just placed (a ^ and a _ on one base overlap)
    big_op = 0.0  # width of a big operator whose limits may stack above and below it
    while i < end:
        t = tokens[i]
        if t in "^_":
            w, i = _atom(tokens, i + 1, end)
            w *= 0.7
            if big_op:
                total += max(0.0, w - big_op - last_script)
                last_script = max(last_script, w - big_op)
            elif last_script:
                total += max(0.0, w - last_script)
                last_script = max(last_script, w)
            else:
                total += w
                last_script = w
            continue
        last_script = 0.0
        big_op = 0.0
        if t == "{":
            w, i = _atom(tokens, i, end)
            total += w
            continue
        if t == "}" or t.isspace() or t == "&":
            i += 1
            continue
        if t.startswith("\\") and len(t) > 1:
            name = t[1:]
            i += 1
            if name == "frac" or name == "dfrac" or name == "tfrac":
                w1, i = _atom(tokens, i, end)
                w2, i = _atom(tokens, i, end)
                total += max(w1, w2) + 0.25
            elif name == "sqrt":
                if i < end and tokens[i] == "[":
                    while i < end and tokens[i] != "]":
                        i += 1
                    i += 1
                w, i = _atom(tokens, i, end)
                total += w + 0.85
            elif name == "begin":
                _, i = _atom(tokens, i, end)  # the environment name
                depth, j = 1, i
                while j < end and depth:
                    if tokens[j] == "\\begin":
                        depth += 1
                    elif tokens[j] == "\\end":
                        depth -= 1
                    j += 1
                body_end = j - 1
                rows, start = [], i
                for k in range(i, body_end + 1):
                    if k == body_end or tokens[k] == "\\\\":
                        rows.append(_seq_width(tokens, start, k)[0])
                        start = k + 1
                total += max(rows or [0.0])
                _, i = _atom(tokens, j, end)  # the name after \end
            elif name == "end":
                _, i = _atom(tokens, i, end)
            elif name in _CONTENT_CMDS:
                if i < end and tokens[i] == "{":
                    j = _group_end(tokens, i)
                    inner = "".join(tokens[i + 1:j - 1])
                    if name in ("text", "textbf", "textit", "texttt", "emph", "operatorname",
                                "mathrm"):
                        total += text_width(inner)
                    else:
                        total += _seq_width(tokens, i + 1, j - 1)[0]
                    i = j
                else:
                    w, i = _atom(tokens, i, end)
                    total += w
            elif name in _SKIP_CMDS:
                if name in ("left", "right", "big", "Big", "bigg", "Bigg") and i < end:
                    total += 0.45 if tokens[i] != "." else 0.1
                    i += 1
            elif name in _SPACES:
                total += _SPACES[name]
            elif name in _BIG_OPS:
                total += _BIG_OPS[name]
                big_op = _BIG_OPS[name]
            elif name in _RELATIONS:
                total += 1.35
            elif name in _DELIMS:
                total += 0.45
            elif name == "substack":
                w, i = _atom(tokens, i, end)
                total += w / 2
            else:  # a Greek letter or a named symbol
                total += 0.6
            continue
        i += 1
        if t in "+-=<>":
            total += 1.3
        elif t == ",":
            total += 0.45
        elif t in "()[]|/":
            total += 0.42
        elif t in ".'!;:":
            total += 0.28
        elif t.isdigit():
            total += 0.5
        elif t.isupper():
            total += 0.75
        else:
            total += 0.58
    return total, end


def inline_width(items: list, breakable: bool = False) -> float:
    """Estimated width in ems of inline items as the LaTeX renderer sets them.

    ``breakable``: the width of the widest unbreakable piece (a word, a formula, a number), which
    is what a wrapping column needs at least.

    >>> inline_width(["relative loss"]) > inline_width(["relative loss"], breakable=True)
    True
    """
    parts: list[float] = []
    current = 0.0
    for item in items:
        if isinstance(item, str):
            words = item.split(" ")
            if not breakable:
                current += text_width(item)
                continue
            for k, word in enumerate(words):
                if k:
                    parts.append(current)
                    current = 0.0
                current += text_width(word)
        elif isinstance(item, Math):
            current += latex_width(item.latex)
        elif isinstance(item, Num):
            shown = item.shown
            if "e" in shown.lower():
                mant, _, exp = shown.lower().partition("e")
                current += 0.5 * len(mant) + 2.1 + 0.5 * len(str(int(exp)))
            else:
                current += 0.5 * len(shown)
        elif isinstance(item, Text):
            if item.style == "code":
                per, scale = 0.525, 1.0
            else:
                per, scale = None, (1.1 if item.style == "strong" else 1.0)
            if breakable:
                for k, word in enumerate(item.text.split(" ")):
                    if k:
                        parts.append(current)
                        current = 0.0
                    current += text_width(word, per) * scale
            else:
                current += text_width(item.text, per) * scale
        else:
            current += text_width(str(item))
    parts.append(current)
    return max(parts) if breakable else sum(parts)
