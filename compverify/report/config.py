"""The report configuration: a TOML file, its schema, defaults and validation.

A configuration names what the report computes (or loads). Every table is optional except that a
report without any of ``kernels``, ``gradients``, ``meanfield``, ``solve``, ``conjecture`` or
``rate`` would be empty; tables that are absent give no section. Keys absent from a table take the
defaults of :data:`SCHEMA`. The embedded default configuration (the main job) is
``compverify/report/default.toml``; :func:`load_default` reads it.

Errors name the line
--------------------
:mod:`tomllib` gives parsed values but no positions. To report an unknown key or a wrong type with
its line, :func:`locate_keys` scans the source text once more with a small lexer of its own: it
follows table headers (``[a.b]`` and ``[[a]]``, counting the entries of arrays of tables), reads the
key (bare, quoted or dotted) at the start of each statement, and skips over values, including
multi-line arrays and strings, by tracking brackets, quotes and comments. The result maps each key
path, such as ``("solve", 1, "restarts")`` for ``restarts`` in the second ``[[solve]]`` table, to
its 1-based line. Keys inside an inline table (``t = {a = 1}``) are not indexed separately: a
lookup falls back to the longest indexed prefix of the path, here the line of ``t``. Only files
that :mod:`tomllib` accepted are scanned, so the lexer never has to diagnose syntax itself.

>>> cfg = load_config_text('[report]\\nseed = 3\\n[kernels]\\nactivations = ["relu"]\\n')
>>> cfg.report["seed"], cfg.kernels["activations"]
(3, ['relu'])
>>> try:
...     load_config_text('[kernels]\\nactivation = "relu"\\n', source="my.toml")
... except CompverifyError as exc:
...     print(exc)
my.toml, line 2: unknown key 'kernels.activation' (known keys: activations)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from compverify.errors import CompverifyError
from compverify.validate import MAX_DPS

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_CONFIG_NAME = "default.toml"
FORMATS = ("html", "markdown", "latex")
MIN_SOLVE_DPS = 15

# ----------------------------------------------------------------------------------------------
# Locating keys in the source text
# ----------------------------------------------------------------------------------------------

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_SIMPLE_KEY = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED_KEY = rf"{_SIMPLE_KEY}(?:[ \t]*\.[ \t]*{_SIMPLE_KEY})*"
_KEY_RE = re.compile(rf"[ \t]*({_DOTTED_KEY})[ \t]*=")
_ARRAY_TABLE_RE = re.compile(rf"[ \t]*\[\[[ \t]*({_DOTTED_KEY})[ \t]*\]\]")
_TABLE_RE = re.compile(rf"[ \t]*\[[ \t]*({_DOTTED_KEY})[ \t]*\]")
_PART_RE = re.compile(_SIMPLE_KEY)


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _PART_RE.finditer(dotted):
        tok = m.group(0)
        if tok[0] == '"':
            tok = ast.literal_eval(tok)  # a TOML basic string uses JSON/Python-like escapes
        elif tok[0] == "'":
            tok = tok[1:-1]
        parts.append(tok)
    return tuple(parts)


def _skip_value(text: str, i: int) -> int:
    """Index just past the value that starts at ``text[i]`` (to the end of its statement)."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith('"""', i) or text.startswith("'''", i):
            q = text[i:i + 3]
            j = i + 3
            while True:
                k = text.find(q, j)
                if k < 0:
                    return n
                if q == '"""':
                    # an escaped quote does not close the string
                    bs = 0
                    while k - 1 - bs >= j and text[k - 1 - bs] == "\\":
                        bs += 1
                    if bs % 2:
                        j = k + 1
                        continue
                while text.startswith(q[0], k + 3):  # up to two extra quotes belong to the content
                    k += 1
                i = k + 3
                break
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "'":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "\n" and depth <= 0:
            return i + 1
        i += 1
    return n


def locate_keys(text: str) -> dict[tuple, int]:
    """Map every key path of a TOML document to its 1-based line (see the module docstring).

    >>> locs = locate_keys('a = 1\\n[[s]]\\nx = [1,\\n  2]\\ny = 2\\n[[s]]\\n"x" = 3\\n')
    >>> locs[("a",)], locs[("s", 0)], locs[("s", 0, "y")], locs[("s", 1, "x")]
    (1, 2, 5, 7)
    """
    locs: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    prefix: tuple = ()
    i, n = 0, len(text)
    while i < n:
        line = text.count("\n", 0, i) + 1
        eol = text.find("\n", i)
        eol = n if eol < 0 else eol
        stripped = text[i:eol].strip()
        if not stripped or stripped.startswith("#"):
            i = eol + 1
            continue
        m = _ARRAY_TABLE_RE.match(text, i)
        if m:
            key = _split_key(m.group(1))
            idx = counts.get(key, 0)
            counts[key] = idx + 1
            # nested arrays of tables ([[a.b]]) attach to the last entry of a parent array
            path: tuple = ()
            for part in key:
                path = path + (part,)
                if path in counts and path != key:
                    path = path + (counts[path] - 1,)
            prefix = path + (idx,)
            locs.setdefault(path, line)
            locs[prefix] = line
            i = eol + 1
            continue
        m = _TABLE_RE.match(text, i)
        if m:
            key = _split_key(m.group(1))
            path = ()
            for part in key:
                path = path + (part,)
                if path in counts:
                    path = path + (counts[path] - 1,)
            prefix = path
            locs.setdefault(prefix, line)
            i = eol + 1
            continue
        m = _KEY_RE.match(text, i)
        if m:
            key = _split_key(m.group(1))
            for k in range(1, len(key) + 1):
                locs.setdefault(prefix + key[:k], line)
            i = _skip_value(text, m.end())
            continue
        i = eol + 1  # not a statement we understand (tomllib accepted the file, so rare)
    return locs


def line_of(locs: dict[tuple, int], path: tuple) -> int | None:
    """Line of ``path``, or of its longest located prefix; ``None`` when nothing matches."""
    for k in range(len(path), 0, -1):
        if path[:k] in locs:
            return locs[path[:k]]
    return None


# ----------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One configuration key: its kind (see :func:`_check_kind`), default and description."""

    kind: str
    default: Any
    doc: str


_TARGET_FIELDS = {
    "target": Field("str", "isotropic",
                    "target family: isotropic, gaussian, iid:LAW, or a path to an .npz"),
    "target_mean": Field("mean", None, "a number m (meaning m*1) or a list of d numbers"),
    "target_scale": Field("scale", None, "scale s of the target weights (default 1/sqrt(d))"),
}

#: Tables, their keys and defaults. ``array`` tables are arrays of tables (``[[solve]]``).
SCHEMA: dict[str, dict[str, Any]] = {
    "report": {
        "array": False,
        "fields": {
            "title": Field("str", "compverify derivation report", "title of the report"),
            "seed": Field("seed", 0, "seed of every random choice in the run"),
            "jobs": Field("posint", 2, "worker processes for solves and sweeps"),
            "formats": Field("formats", list(FORMATS), "which of html, markdown, latex to write"),
        },
    },
    "kernels": {
        "array": False,
        "fields": {
            "activations": Field("strlist", ["relu"], "activations whose kernel is derived"),
        },
    },
    "gradients": {
        "array": False,
        "fields": {
            "activations": Field("strlist", ["relu"], "activations whose loss gradient is shown"),
        },
    },
    "meanfield": {
        "array": False,
        "fields": {
            "activations": Field("strlist", ["relu"],
                                 "activations whose mean-field closed forms are derived"),
            **_TARGET_FIELDS,
        },
    },
    "solve": {
        "array": True,
        "fields": {
            "activation": Field("str", "relu", "activation of both networks"),
            **_TARGET_FIELDS,
            "d": Field("dlist", [2], "input dimensions (an integer or a list)"),
            "M": Field("mlist", ["d+1"], "widths: integers or expressions of d such as 'd+1'"),
            "restarts": Field("posint", 32, "float64 multi-start restarts"),
            "dps": Field("dps", 30, "decimal digits of the polish"),
            "from": Field("pathlist", None,
                          "solve result files to load instead of solving (excludes other keys)"),
        },
    },
    "conjecture": {
        "array": False,
        "fields": {
            "activation": Field("str", "relu", "activation"),
            **_TARGET_FIELDS,
            "d": Field("dlist", [2, 3], "input dimensions"),
            "M": Field("mlist", ["d+1"], "widths: integers or expressions of d"),
            "restarts": Field("posint", 16, "restarts per case"),
            "dps": Field("dps", 20, "digits of the polish"),
            "from": Field("path", None, "a sweep result file to load instead (no other keys)"),
        },
    },
    "atlas": {
        "array": False,
        "fields": {
            "max_params": Field("posint", 16, "only the atlas cases with at most this many "
                                              "parameters M(d+1) (the full atlas: compverify "
                                              "conjecture --atlas)"),
            "restarts": Field("posint", 8, "restarts per case"),
            "dps": Field("dps", 20, "digits of the polish"),
            "from": Field("path", None, "an atlas file to load instead (no other keys)"),
        },
    },
    "rate": {
        "array": False,
        "fields": {
            "activation": Field("str", "relu", "activation"),
            **_TARGET_FIELDS,
            "d": Field("dlist", [2, 4], "input dimensions"),
            "N": Field("nlist", [64, 256, 1024], "target widths N"),
            "samples": Field("posint", 8, "target realizations per (d, N)"),
            "from": Field("path", None, "a rate result file to load instead (excludes other keys)"),
        },
    },
    "lossless": {
        "array": False,
        "fields": {
            "activation": Field("str", "relu", "activation of the original network"),
            "layers": Field("posint", 2, "depth L"),
            "tau0": Field("str", "1", "input scale tau0 > 0 (a decimal)"),
            "dps": Field("dps", 40, "digits of the matching"),
            "starts": Field("posint", 8, "multi-start points per system"),
            "n": Field("nlist", [64, 128, 256], "sample sizes of the spectral experiment"),
        },
    },
}

SCHEMA["pruning"] = {
    "array": False,
    "fields": {
        "activation": Field("str", "relu", "activation of the pruned networks"),
        "laws": Field("strlist", ["gaussian", "bernoulli-gaussian:0.2"],
                      "laws of the i.i.d. networks drawn (plus the run's solve student)"),
        "N": Field("posint", 256, "neurons of the drawn networks"),
        "d": Field("posint", 64, "input dimension of the drawn networks"),
        "steps": Field("posint", 8, "SAP steps"),
        "scopes": Field("strlist", ["neuron", "layer"], "SAP scopes compared"),
        "p": Field("str", "0.5", "PQ index exponent p"),
        "q": Field("str", "1", "PQ index exponent q"),
        "dps": Field("dps", 30, "digits of the population limits and the mpmath check"),
        "population_laws": Field("strlist", ["gaussian", "laplace", "uniform", "rademacher",
                                             "student-t:3", "bernoulli-gaussian:0.1"],
                                 "laws whose population PQ index is derived"),
    },
}

SECTIONS = ("kernels", "gradients", "meanfield", "solve", "conjecture", "rate", "pruning",
            "lossless", "atlas")


class _KindError(Exception):
    """A value of the wrong type or out of range (message without the location)."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list) else [v]


def _check_m_expr(v: Any) -> Any:
    """An integer >= 1 or a width expression of d as ``compverify conjecture --M`` reads it
    (``d+1``, ``2*d``, ranges ``lo:hi``; see :mod:`compverify.proofs_check.conjecture`)."""
    if _is_int(v):
        if v < 1:
            raise _KindError(f"must be >= 1, got {v}")
        return v
    if isinstance(v, str) and v.strip():
        from compverify.proofs_check.conjecture import parse_widths

        try:
            parse_widths(v)
        except CompverifyError as exc:
            raise _KindError(f"is not a width: {exc}") from None
        return v
    raise _KindError(f"must be an integer or an expression of d such as 'd+1', got {v!r}")


def _check_kind(kind: str, v: Any) -> Any:
    """Validated (and normalised) value of a key of the given kind, or :class:`_KindError`."""
    if kind == "str":
        if not isinstance(v, str) or not v.strip():
            raise _KindError(f"must be a non-empty string, got {v!r}")
        return v
    if kind in ("path",):
        if not isinstance(v, str) or not v.strip():
            raise _KindError(f"must be a file path (a string), got {v!r}")
        return v
    if kind == "pathlist":
        vals = _as_list(v)
        if not vals or not all(isinstance(x, str) and x.strip() for x in vals):
            raise _KindError(f"must be a file path or a non-empty list of paths, got {v!r}")
        return vals
    if kind == "strlist":
        vals = _as_list(v)
        if not vals or not all(isinstance(x, str) and x.strip() for x in vals):
            raise _KindError(f"must be a non-empty list of strings, got {v!r}")
        return vals
    if kind == "seed":
        if not _is_int(v) or v < 0:
            raise _KindError(f"must be an integer >= 0, got {v!r}")
        return v
    if kind == "posint":
        if not _is_int(v) or v < 1:
            raise _KindError(f"must be an integer >= 1, got {v!r}")
        return v
    if kind == "dps":
        if not _is_int(v) or not (MIN_SOLVE_DPS <= v <= MAX_DPS):
            raise _KindError(f"must be an integer in [{MIN_SOLVE_DPS}, {MAX_DPS}], got {v!r}")
        return v
    if kind in ("dlist", "nlist"):
        vals = _as_list(v)
        least = 1 if kind == "dlist" else 2
        if not vals or not all(_is_int(x) and x >= least for x in vals):
            raise _KindError(
                f"must be an integer >= {least} or a non-empty list of them, got {v!r}")
        return vals
    if kind == "mlist":
        vals = _as_list(v)
        if not vals:
            raise _KindError("must not be empty")
        return [_check_m_expr(x) for x in vals]
    if kind == "mean":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, list) and v and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
        ):
            return [float(x) for x in v]
        raise _KindError(f"must be a number or a list of numbers, got {v!r}")
    if kind == "scale":
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
        raise _KindError(f"must be a positive number, got {v!r}")
    if kind == "formats":
        vals = _as_list(v)
        if not vals or not all(isinstance(x, str) and x in FORMATS for x in vals):
            raise _KindError(f"must be a non-empty list from {list(FORMATS)}, got {v!r}")
        return vals
    raise AssertionError(kind)  # pragma: no cover


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


@dataclass
class ReportConfig:
    """A validated configuration: one dict per table (defaults filled in), plus provenance.

    ``solve`` is a list of dicts (one per ``[[solve]]`` table); an absent table is ``None``
    (``[]`` for ``solve``). ``source`` names the file (or ``<default>``), ``text`` is its content,
    ``base_dir`` the directory that relative ``from`` paths are resolved against.
    """

    report: dict
    kernels: dict | None = None
    gradients: dict | None = None
    meanfield: dict | None = None
    solve: list[dict] = field(default_factory=list)
    conjecture: dict | None = None
    rate: dict | None = None
    pruning: dict | None = None
    lossless: dict | None = None
    atlas: dict | None = None
    source: str = "<default>"
    text: str = ""
    base_dir: Path = field(default_factory=Path.cwd)

    def as_dict(self) -> dict:
        """The validated values (what the run used), JSON-ready."""
        out: dict[str, Any] = {"report": self.report}
        for name in SECTIONS:
            val = getattr(self, name)
            if val not in (None, []):
                out[name] = val
        return out

    def resolve(self, path: str) -> Path:
        """A ``from`` path, relative to the configuration file's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _where(source: str, locs: dict, path: tuple) -> str:
    line = line_of(locs, path)
    return f"{source}, line {line}" if line is not None else source


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _validate_table(name: str, raw: Any, path: tuple, source: str, locs: dict) -> dict:
    spec = SCHEMA[name]["fields"]
    if not isinstance(raw, dict):
        raise CompverifyError(
            f"{_where(source, locs, path)}: '{_dotted(path)}' must be a table, got {raw!r}")
    out: dict[str, Any] = {}
    for key, val in raw.items():
        kpath = path + (key,)
        if key not in spec:
            known = ", ".join(sorted(spec))
            raise CompverifyError(
                f"{_where(source, locs, kpath)}: unknown key '{_dotted(kpath)}' "
                f"(known keys: {known})")
        try:
            out[key] = _check_kind(spec[key].kind, val)
        except _KindError as exc:
            raise CompverifyError(
                f"{_where(source, locs, kpath)}: '{_dotted(kpath)}' {exc}") from None
    if "from" in raw:
        others = [k for k in raw if k != "from"]
        if others:
            kpath = path + (others[0],)
            raise CompverifyError(
                f"{_where(source, locs, kpath)}: '{_dotted(kpath)}' cannot be combined with "
                f"'from' (a loaded result is rendered as it is)")
    for key, f in spec.items():
        if key not in out:
            out[key] = f.default if not isinstance(f.default, list) else list(f.default)
    if name in ("solve", "conjecture") and not out.get("from"):
        try:
            expand_cases(out)
        except CompverifyError as exc:
            kpath = path + ("M",)
            raise CompverifyError(f"{_where(source, locs, kpath)}: '{_dotted(kpath)}': {exc}") \
                from None
    return out


def load_config_text(text: str, *, source: str = "<config>",
                     base_dir: Path | None = None) -> ReportConfig:
    """Parse and validate configuration text; :class:`CompverifyError` names the line and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CompverifyError(f"{source}: not valid TOML: {exc}") from None
    locs = locate_keys(text)
    for key in raw:
        if key not in SCHEMA:
            known = ", ".join(sorted(SCHEMA))
            raise CompverifyError(
                f"{_where(source, locs, (key,))}: unknown key '{key}' (known tables: {known})")
    cfg = ReportConfig(report=_validate_table("report", raw.get("report", {}), ("report",),
                                              source, locs),
                       source=source, text=text, base_dir=base_dir or Path.cwd())
    for name in SECTIONS:
        if name not in raw:
            continue
        if SCHEMA[name]["array"]:
            entries = raw[name]
            if isinstance(entries, dict):
                entries = [entries]
                paths = [(name,)]
            elif isinstance(entries, list):
                paths = [(name, i) for i in range(len(entries))]
            else:
                raise CompverifyError(
                    f"{_where(source, locs, (name,))}: '{name}' must be a table or an array of "
                    f"tables ([[{name}]]), got {entries!r}")
            setattr(cfg, name, [_validate_table(name, e, p, source, locs)
                                for e, p in zip(entries, paths, strict=True)])
        else:
            setattr(cfg, name, _validate_table(name, raw[name], (name,), source, locs))
    if not any(getattr(cfg, name) not in (None, []) for name in SECTIONS):
        raise CompverifyError(
            f"{source}: the configuration asks for nothing: add at least one of the tables "
            + ", ".join(f"[{s}]" for s in SECTIONS))
    return cfg


def load_config(path: str | Path) -> ReportConfig:
    """Read and validate a configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompverifyError(f"configuration file not found: {str(p)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompverifyError(f"cannot read configuration file {str(p)!r}: {exc}") from None
    return load_config_text(text, source=str(p), base_dir=p.resolve().parent)


def default_config_text() -> str:
    """The embedded default configuration (package data ``default.toml``)."""
    return resources.files("compverify.report").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")


def load_default() -> ReportConfig:
    """The validated default configuration: the main job."""
    return load_config_text(default_config_text(), source=f"<embedded {DEFAULT_CONFIG_NAME}>")


def expand_cases(entry: dict) -> list[tuple[int, int]]:
    """The (d, M) pairs of a ``solve``/``conjecture`` entry, in order, without repeats.

    >>> expand_cases({"d": [2, 3], "M": ["d+1", 2]})
    [(2, 3), (2, 2), (3, 4), (3, 2)]
    """
    from compverify.proofs_check.conjecture import expand_grid

    grid, skipped = expand_grid(tuple(int(d) for d in entry["d"]),
                                ",".join(str(m) for m in entry["M"]))
    if skipped:
        s = skipped[0]
        raise CompverifyError(f"width M = {s['from']} gives {s['M']} < 1 for d = {s['d']}")
    out: list[tuple[int, int]] = []
    for pair in grid:
        if tuple(pair) not in out:
            out.append(tuple(pair))
    return out
