"""A disk cache of derived SymPy expressions: kernels, their derivation steps and partials.

Deriving a kernel with SymPy (the route's integrals, the ``simplify`` of each partial derivative,
the limits at the endpoints ``rho = +-1``, ``nu = 0``, ``nv = 0``) takes seconds to a minute per
activation, and it is the same in every process. :func:`cached` stores such a pure result on disk
the first time and reads it back afterwards. Only SymPy *expressions* are stored, never compiled
functions: what is compiled from them (NumPy, ball arithmetic) is rebuilt in each process.

Where: ``$COMPVERIFY_CACHE_DIR``, else ``$XDG_CACHE_HOME/compverify``, else
``~/.cache/compverify``; ``COMPVERIFY_CACHE=off`` turns the cache off (every value is derived).
Each entry is one JSON file ``<kind>-<key>.json`` written atomically (:mod:`compverify.io`), so
two processes writing the same entry at once leave one complete file. The key is the SHA-256 of
the entry's kind, its input expression, :data:`FORMAT_VERSION`, the SymPy and compverify versions
and a digest of the source of the modules that derive the values (:data:`SOURCE_MODULES`), so an
edit of the derivation code, like a new SymPy, starts from fresh entries.

Safety: a file is never unpickled, evaluated or sympified. An expression is stored as a JSON tree
of whitelisted node types (:data:`FUNCTIONS`, numbers, symbols with their assumptions, undefined
function names) and rebuilt by :func:`decode_expr`, which accepts nothing else and bounds the
sizes of numbers and exponents. An entry that cannot be read, does not parse, names another key,
or holds a node outside the whitelist is ignored with a :class:`KernelCacheWarning`, and the
value is derived again and rewritten; a cache directory that cannot be written is reported once
and never fails a computation. A result that does not survive the round trip
``decode(encode(x)) == x`` is simply not stored.

>>> import sympy
>>> from compverify.symbolic.steps import NU, RHO
>>> e = NU * sympy.acos(RHO) / sympy.pi + sympy.sqrt(1 - RHO**2)
>>> decode_expr(encode_expr(e)) == e
True
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import mpmath
import sympy
from sympy.core.assumptions import _assume_defined
from sympy.core.function import AppliedUndef

from compverify._version import __version__
from compverify.errors import CompverifyError
from compverify.io import atomic_write_text
from compverify.symbolic.derivation import ROUTES, Derivation, piecewise_homogeneous_form
from compverify.symbolic.steps import DerivationStep

__all__ = ["FORMAT_VERSION", "FUNCTIONS", "KernelCacheWarning", "UnsafeCacheEntry", "cache_dir",
           "cached", "cached_derivation", "cached_exprs", "cached_homogeneous_form", "decode_expr",
           "encode_expr", "enabled"]

T = TypeVar("T")

#: Bumped whenever the file layout or the tree encoding changes.
FORMAT_VERSION = 1
#: The modules whose source decides the cached values (their digest is part of every key).
SOURCE_MODULES = ("derivation.py", "kernel.py", "steps.py", "kernel_cache.py", "activations.py")
#: Largest entry file read (bytes), largest integer literal (decimal digits), largest exponent or
#: argument of an evaluating function on numbers: a hostile file cannot make the decoder build
#: astronomically large numbers.
MAX_FILE_BYTES = 64 * 2**20
MAX_DIGITS = 4096
MAX_NUMERIC_EXPONENT = 4096

#: Node types the tree may name, each rebuilt unevaluated as ``cls(*args, evaluate=False)``
#: (SymPy's invariant ``expr.func(*expr.args) == expr``).
FUNCTIONS: dict[str, type] = {cls.__name__: cls for cls in (
    sympy.Add, sympy.Mul, sympy.Pow, sympy.exp, sympy.log, sympy.erf, sympy.erfc, sympy.asin,
    sympy.acos, sympy.atan, sympy.atan2, sympy.sin, sympy.cos, sympy.tan, sympy.sinh, sympy.cosh,
    sympy.tanh, sympy.gamma, sympy.sign, sympy.Abs, sympy.Heaviside, sympy.Max, sympy.Min,
    sympy.Piecewise, sympy.functions.elementary.piecewise.ExprCondPair, sympy.Eq, sympy.Ne,
    sympy.Lt, sympy.Le, sympy.Gt, sympy.Ge, sympy.And, sympy.Or, sympy.Not, sympy.Tuple,
    sympy.Integral, sympy.Derivative, sympy.Limit, sympy.floor, sympy.ceiling,
    sympy.re, sympy.im)}
_TAKES_NO_EVALUATE = (sympy.functions.elementary.piecewise.ExprCondPair, sympy.Integral,
                      sympy.Limit)
#: Functions that would evaluate on numeric arguments when the expression is used later
#: (``gamma(10**9)`` is a huge factorial): their numeric arguments are bounded.
_EVALUATING = (sympy.gamma, sympy.Pow)
_CONSTANTS: dict[str, sympy.Basic] = {
    "pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "-oo": sympy.S.NegativeInfinity,
    "zoo": sympy.zoo, "nan": sympy.nan, "true": sympy.true, "false": sympy.false,
    "EulerGamma": sympy.EulerGamma}
_CONSTANT_NAMES = {id(v): k for k, v in _CONSTANTS.items()}
_ASSUMPTION_NAMES = frozenset(_assume_defined)


class KernelCacheWarning(UserWarning):
    """An unreadable or rejected cache entry, or a cache directory that cannot be written."""


class UnsafeCacheEntry(ValueError):
    """A tree with a node outside the whitelist, or a number beyond the bounds."""


class _Unencodable(Exception):
    """A value with a node type the tree format does not store (it is then not cached)."""


# ----------------------------------------------------------------------------- the tree format
def encode_expr(expr: sympy.Basic) -> Any:
    """A JSON-ready tree of ``expr``: ``{"f": name, "a": [...]}`` for whitelisted node types,
    ``{"int": "123"}``, ``{"rat": ["p", "q"]}``, ``{"float": [sign, "man", exp, prec]}``,
    ``{"sym": name, "as": {assumption: bool}}``, ``{"const": "pi"}``, ``{"undef": name, "a": [...]}``.

    Raises ``ValueError`` for any other node type.
    """
    try:
        return _encode(expr)
    except _Unencodable as exc:
        raise ValueError(str(exc)) from None


def _encode(e: sympy.Basic) -> Any:
    name = _CONSTANT_NAMES.get(id(e))
    if name is not None:
        return {"const": name}
    if isinstance(e, sympy.Integer):
        return {"int": str(int(e))}
    if isinstance(e, sympy.Rational):
        return {"rat": [str(e.p), str(e.q)]}
    if isinstance(e, sympy.Float):
        sign, man, exp, _ = e._mpf_
        if not man and exp:  # inf / nan as a Float: not stored
            raise _Unencodable(f"special Float {e}")
        return {"float": [int(sign), str(int(man)), int(exp), int(e._prec)]}
    if type(e) is sympy.Symbol:
        orig = getattr(e, "_assumptions_orig", None)
        if orig is None:
            orig = e.assumptions0
        return {"sym": e.name, "as": {k: bool(v) for k, v in sorted(orig.items())
                                      if v is not None}}
    if isinstance(e, AppliedUndef):
        return {"undef": e.func.__name__, "a": [_encode(a) for a in e.args]}
    cls = FUNCTIONS.get(type(e).__name__)
    if cls is None or type(e) is not cls:
        raise _Unencodable(f"node type {type(e).__name__}")
    return {"f": cls.__name__, "a": [_encode(a) for a in e.args]}


def decode_expr(tree: Any) -> sympy.Basic:
    """Rebuild the expression of :func:`encode_expr`'s tree; ``UnsafeCacheEntry`` for any node
    outside the whitelist or any number beyond the bounds (nothing is evaluated from text)."""
    try:
        return _decode(tree)
    except RecursionError:
        raise UnsafeCacheEntry("tree nested too deeply") from None


def _text_int(s: Any) -> int:
    if not isinstance(s, str) or not s.lstrip("-").isdigit() or len(s) > MAX_DIGITS:
        raise UnsafeCacheEntry(f"bad integer literal {str(s)[:40]!r}")
    return int(s)


def _small(e: sympy.Basic) -> bool:
    """A number small enough to be an exponent or the argument of an evaluating function."""
    if not e.is_Number:
        return True
    if isinstance(e, sympy.Rational):
        return abs(e.p) <= MAX_NUMERIC_EXPONENT and e.q <= MAX_NUMERIC_EXPONENT
    return bool(abs(e) <= MAX_NUMERIC_EXPONENT)


def _decode(t: Any) -> sympy.Basic:
    if not isinstance(t, dict) or len(t) > 2:
        raise UnsafeCacheEntry(f"bad node {str(t)[:60]!r}")
    if "const" in t:
        name = t["const"]
        if not isinstance(name, str) or name not in _CONSTANTS:
            raise UnsafeCacheEntry(f"unknown constant {str(name)[:40]!r}")
        return _CONSTANTS[name]
    if "int" in t:
        return sympy.Integer(_text_int(t["int"]))
    if "rat" in t:
        pq = t["rat"]
        if not isinstance(pq, list) or len(pq) != 2:
            raise UnsafeCacheEntry("bad rational")
        p, q = _text_int(pq[0]), _text_int(pq[1])
        if q <= 0:
            raise UnsafeCacheEntry("bad rational denominator")
        return sympy.Rational(p, q)
    if "float" in t:
        f = t["float"]
        if (not isinstance(f, list) or len(f) != 4 or f[0] not in (0, 1)
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in (f[2], f[3]))
                or not 1 <= f[3] <= 4 * MAX_DIGITS or abs(f[2]) > 10**6):
            raise UnsafeCacheEntry("bad float")
        man = _text_int(f[1])
        mpf = mpmath.libmp.from_man_exp(-man if f[0] else man, f[2])
        return sympy.Float._new(mpf, f[3])
    if "sym" in t:
        name, assumptions = t["sym"], t.get("as", {})
        if (not isinstance(name, str) or not isinstance(assumptions, dict)
                or not set(assumptions) <= _ASSUMPTION_NAMES
                or not all(isinstance(v, bool) for v in assumptions.values())):
            raise UnsafeCacheEntry(f"bad symbol {str(name)[:40]!r}")
        return sympy.Symbol(name, **assumptions)
    args = t.get("a")
    if not isinstance(args, list):
        raise UnsafeCacheEntry("node without an argument list")
    if "undef" in t:
        name = t["undef"]
        if not isinstance(name, str) or not name or len(name) > 64:
            raise UnsafeCacheEntry("bad function name")
        return sympy.Function(name)(*[_decode(a) for a in args])
    name = t.get("f")
    cls = FUNCTIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnsafeCacheEntry(f"node type {str(name)[:40]!r} is not in the whitelist")
    built = [_decode(a) for a in args]
    if cls in _EVALUATING and not all(_small(b) for b in built[1 if cls is sympy.Pow else 0:]):
        raise UnsafeCacheEntry(f"{name} of a number beyond {MAX_NUMERIC_EXPONENT}")
    try:
        # unevaluated: the stored arguments are already canonical, and nothing (an equation's
        # truth, an integral's value) is computed from a file
        return cls(*built) if cls in _TAKES_NO_EVALUATE else cls(*built, evaluate=False)
    except (TypeError, ValueError) as exc:
        raise UnsafeCacheEntry(f"cannot build {name}: {exc}") from None


# ----------------------------------------------------------------------------- the store
def enabled() -> bool:
    """False when ``COMPVERIFY_CACHE`` is ``off`` (or ``0``, ``false``, ``no``)."""
    return os.environ.get("COMPVERIFY_CACHE", "").strip().lower() not in ("off", "0", "false", "no")


def cache_dir() -> Path:
    """The cache directory (not created here): ``$COMPVERIFY_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/compverify``, else ``~/.cache/compverify``."""
    explicit = os.environ.get("COMPVERIFY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "compverify"


@cache
def _source_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in SOURCE_MODULES:
        try:
            h.update(name.encode() + b"\0" + (here / name).read_bytes())
        except OSError:
            h.update(name.encode() + b"\0missing")
    return h.hexdigest()


def _key(kind: str, tree: Any) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "kind": kind, "input": tree, "sympy": sympy.__version__,
            "compverify": __version__, "source": _source_digest(),
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


_warned: set[str] = set()


def _warn(message: str, once: str | None = None) -> None:
    if once is not None:
        if once in _warned:
            return
        _warned.add(once)
    warnings.warn(message, KernelCacheWarning, stacklevel=3)


_MISSING = object()


def _read(path: Path, key: dict[str, Any]) -> Any:
    """The stored payload, or ``_MISSING`` (missing: silently; unreadable or foreign: a
    warning)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return _MISSING
    except OSError as exc:
        _warn(f"kernel cache entry {str(path)!r} cannot be read ({exc.strerror}); deriving again",
              once=f"read {path.parent}")
        return _MISSING
    try:
        if len(raw) > MAX_FILE_BYTES:
            raise ValueError("file too large")
        entry = json.loads(raw.decode("utf-8"))
        if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
            raise ValueError("it belongs to another key or format")
        return entry["value"]
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        _warn(f"kernel cache entry {str(path)!r} ignored ({str(exc)[:80]}); deriving again")
        return _MISSING


def _write(path: Path, key: dict[str, Any], payload: Any) -> None:
    try:
        text = json.dumps({"key": key, "value": payload}, separators=(",", ":"))
        atomic_write_text(path, text, make_parents=True)
    except (CompverifyError, OSError, ValueError, RecursionError) as exc:
        _warn(f"kernel cache at {str(path.parent)!r} is not usable ({str(exc)[:120]}); derived "
              "kernels are not cached", once=str(path.parent))


def cached(kind: str, key_expr: sympy.Basic, compute: Callable[[], T],
           encode: Callable[[T], Any], decode: Callable[[Any], T]) -> T:
    """``compute()`` for the input ``key_expr``, from the disk cache when a valid entry exists.

    ``encode`` turns the value into JSON data (raising ``ValueError`` for a value the tree format
    cannot hold: it is then returned but not stored); ``decode`` rebuilds it and must raise
    ``ValueError`` (such as :class:`UnsafeCacheEntry`) on bad data.
    """
    if not enabled():
        return compute()
    try:
        tree = encode_expr(key_expr)
    except ValueError:
        return compute()
    key = _key(kind, tree)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:40]
    path = cache_dir() / "kernels" / f"{kind}-{digest}.json"
    payload = _read(path, key)
    if payload is not _MISSING:
        try:
            return decode(payload)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            _warn(f"kernel cache entry {str(path)!r} rejected ({str(exc)[:80]}); deriving again")
    value = compute()
    try:
        stored = encode(value)
        if decode(stored) != value:  # only values that survive the round trip are stored
            return value
    except ValueError:
        return value
    _write(path, key, stored)
    return value


def _encode_exprs(value: Any) -> Any:
    if isinstance(value, dict):
        return {"dict": {k: encode_expr(v) for k, v in value.items()}}
    return {"list": [encode_expr(v) for v in value]}


def _decode_exprs(data: Any) -> Any:
    if not isinstance(data, dict) or len(data) != 1:
        raise UnsafeCacheEntry("bad expression collection")
    if "dict" in data and isinstance(data["dict"], dict):
        return {str(k): decode_expr(v) for k, v in data["dict"].items()}
    if "list" in data and isinstance(data["list"], list):
        return [decode_expr(v) for v in data["list"]]
    raise UnsafeCacheEntry("bad expression collection")


def cached_exprs(kind: str, key_expr: sympy.Basic,
                 compute: Callable[[], dict[str, sympy.Basic] | list[sympy.Basic]]) -> Any:
    """:func:`cached` for a dict (``str`` -> expression) or a list of SymPy expressions."""
    return cached(kind, key_expr, compute, _encode_exprs, _decode_exprs)


def _encode_derivation(d: Derivation) -> Any:
    steps = []
    for st in d.steps:
        try:
            tree = None if st.expr is None else encode_expr(st.expr)
        except ValueError:
            tree = None  # the step keeps its LaTeX; only its SymPy form is not stored
        steps.append({"description": st.description, "latex": st.latex, "expr": tree})
    return {"route": d.route, "expr": None if d.expr is None else encode_expr(d.expr),
            "steps": steps}


def _decode_derivation(data: Any) -> Derivation:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise UnsafeCacheEntry("bad derivation")
    steps = []
    for st in data["steps"]:
        if not (isinstance(st, dict) and isinstance(st.get("description"), str)
                and isinstance(st.get("latex"), str)):
            raise UnsafeCacheEntry("bad derivation step")
        expr = None if st.get("expr") is None else decode_expr(st["expr"])
        steps.append(DerivationStep(st["description"], st["latex"], expr))
    route = data.get("route")
    if route not in ROUTES:
        raise UnsafeCacheEntry("bad route")
    expr = None if data.get("expr") is None else decode_expr(data["expr"])
    return Derivation(route, expr, tuple(steps))


def cached_derivation(sigma: sympy.Expr, derive: Callable[[sympy.Expr], Derivation]) -> Derivation:
    """``derive(sigma)`` (a :class:`~compverify.symbolic.derivation.Derivation`: route, kernel and
    the steps with their descriptions and LaTeX) through the disk cache."""
    return cached("derivation", sigma, lambda: derive(sigma), _encode_derivation,
                  _decode_derivation)


def _encode_form(form: tuple | None) -> Any:
    return None if form is None else [int(form[0]), encode_expr(form[1]), encode_expr(form[2])]


def _decode_form(data: Any) -> tuple[int, sympy.Basic, sympy.Basic] | None:
    if data is None:
        return None
    if (not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], int)
            or isinstance(data[0], bool) or not 0 <= data[0] <= 64):
        raise UnsafeCacheEntry("bad homogeneous form")
    return data[0], decode_expr(data[1]), decode_expr(data[2])


def cached_homogeneous_form(sigma: sympy.Expr) -> tuple[int, sympy.Expr, sympy.Expr] | None:
    """:func:`~compverify.symbolic.derivation.piecewise_homogeneous_form` through the disk cache:
    ``(n, alpha, beta)`` if ``sigma(z) = alpha z_+^n + beta z_-^n``, else ``None``."""
    return cached("homogeneous-form", sigma, lambda: piecewise_homogeneous_form(sigma),
                  _encode_form, _decode_form)
