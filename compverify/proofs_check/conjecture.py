r"""The conjecture check as a library: grid, one case, the resumable sweep, the frame block.

The ETF conjecture (SPEC A4): for ReLU the minimiser of the simplified objective puts its
directions on an equiangular tight frame.  A *sweep* runs :func:`compverify.numeric.solver.solve`
over a grid of ``(d, M)``, classifies each minimiser's directions
(:func:`compverify.proofs_check.frames.frame_block`) and, where the catalogue builds an ETF for
``(d, M)``, compares with the best value reachable on it
(:func:`compverify.proofs_check.etf_value.best_on_etf`).

Grid syntax
-----------
``d``: comma-separated items, each an integer or an inclusive range ``a:b`` (``a:b:step``).
``M``: comma-separated items, each an expression of ``d`` or an inclusive range ``lo:hi`` whose
ends are expressions of ``d``.  Expressions use integers, ``d``, ``+ - * / //`` and parentheses
only; they are parsed with :mod:`ast` and evaluated by walking a whitelist of node types in exact
rational arithmetic (never ``eval``); ``/`` must divide exactly.

>>> parse_dims("2:4,7")
(2, 3, 4, 7)
>>> eval_width("d*(d+1)/2", 4), eval_width("2*d - 1", 3), eval_width("(d+1)//2", 4)
(10, 5, 2)
>>> expand_grid((2, 3), "d+1, d-2")
([(2, 3), (3, 4), (3, 1)], [{'d': 2, 'M': 0, 'from': 'd-2', 'note': 'M = 0 < 1: skipped'}])
>>> try:
...     eval_width("open('f')", 2)
... except CompverifyError as exc:
...     print(exc)
--M expression "open('f')": a call is not allowed (only integers, d, + - * / // and parentheses)

The sweep file (checkpoint and result in one)
---------------------------------------------
``--out sweep.json`` is rewritten atomically (:func:`compverify.io.atomic_write_text`) after each
finished case.  Its top level holds the sweep's parameters (activation, target options, grid,
restarts, dps, seed, compverify version: :data:`PARAMETER_KEYS`), ``grid`` (the cases in order),
``skipped`` (widths below 1, with a note), ``cases`` (the finished ones, in grid order), ``failed``
(cases that raised, retried on resume) and ``complete``.  Running the same command again resumes:
finished cases are kept as they are, the others are run; a file whose parameters differ is a clear
error, never silently mixed (the grid is compared expanded: ``--d 2:3`` and ``--d 2,3`` are the
same sweep).  ``--jobs`` is not a parameter (it does not change results).

Reproducibility: the file contains no timestamps or durations, and every case is a deterministic
function of the parameters (same seed, same answer), so a resumed sweep writes exactly the same
JSON as an uninterrupted one.  Wall times are printed on stderr only.  If a solve result itself
carries timing keys or ``jobs`` (:data:`VOLATILE_KEYS`), they are removed before storing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import mpmath

from compverify._version import __version__
from compverify.display import TableDisplay
from compverify.errors import CompverifyError
from compverify.io import atomic_write_text, to_jsonable
from compverify.validate import check_memory, check_positive_int

__all__ = [
    "FORMAT",
    "PARAMETER_KEYS",
    "FrameReport",
    "SweepParams",
    "SweepResult",
    "eval_width",
    "expand_grid",
    "format_table",
    "frame_report",
    "load_sweep",
    "parse_dims",
    "parse_widths",
    "run_case",
    "run_sweep",
    "table_rows",
]

#: Marker of a sweep file.
FORMAT = "compverify-conjecture-sweep/1"
#: Keys of the sweep file that must agree for a resume.
PARAMETER_KEYS = ("format", "version", "activation", "target", "target_mean", "target_scale",
                  "target_sha256", "d", "M", "grid", "restarts", "dps", "seed")
#: Keys removed from stored solve results so that the file is a function of the parameters:
#: wall times, and ``jobs`` (the answer does not depend on it).
VOLATILE_KEYS = frozenset({"time", "times", "timing", "timings", "seconds", "elapsed", "duration",
                           "wall_time", "wall_seconds", "started", "finished", "timestamp",
                           "jobs"})
#: Largest width or dimension a grid may contain, and longest expression accepted.
MAX_GRID_VALUE = 10_000
MAX_EXPR_LEN = 200


# ---------------------------------------------------------------------------------------------
# grid parsing


def _ev(node: ast.AST, d: int | None, text: str, opt: str) -> Fraction:
    def bad(what: str) -> CompverifyError:
        return CompverifyError(f"{opt} expression {text!r}: {what} is not allowed (only "
                               f"integers, d, + - * / // and parentheses)")

    if isinstance(node, ast.Expression):
        return _ev(node.body, d, text, opt)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return Fraction(node.value)
        raise bad(f"the constant {node.value!r}")
    if isinstance(node, ast.Name):
        if node.id == "d" and d is not None:
            return Fraction(d)
        raise bad(f"the name {node.id!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _ev(node.operand, d, text, opt)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div,
                                                            ast.FloorDiv)):
        a, b = _ev(node.left, d, text, opt), _ev(node.right, d, text, opt)
        if isinstance(node.op, ast.Add):
            v = a + b
        elif isinstance(node.op, ast.Sub):
            v = a - b
        elif isinstance(node.op, ast.Mult):
            v = a * b
        else:
            if b == 0:
                raise CompverifyError(f"{opt} expression {text!r}: division by zero at d = {d}")
            v = a / b if isinstance(node.op, ast.Div) else Fraction(a // b)
        if abs(v) > MAX_GRID_VALUE ** 2:
            raise CompverifyError(f"{opt} expression {text!r}: value too large at d = {d}")
        return v
    kind = {ast.Call: "a call", ast.Attribute: "an attribute", ast.Subscript: "a subscript",
            ast.Pow: "a power"}.get(type(node))
    if isinstance(node, ast.BinOp):
        kind = f"the operator {type(node.op).__name__}"
    raise bad(kind or f"the syntax {type(node).__name__}")


def _parse_expr(text: str, opt: str) -> ast.Expression:
    text = text.strip()
    if not text:
        raise CompverifyError(f"{opt}: empty item")
    if len(text) > MAX_EXPR_LEN:
        raise CompverifyError(f"{opt} expression is longer than {MAX_EXPR_LEN} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CompverifyError(f"{opt} expression {text!r} is not valid (use integers, d, "
                              f"+ - * / // and parentheses)") from None
    _ev_check(tree, text, opt)
    return tree


def _ev_check(tree: ast.AST, text: str, opt: str) -> None:
    """Reject disallowed syntax before evaluation (so errors do not depend on d)."""
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.UnaryOp, ast.BinOp, ast.UAdd,
               ast.USub, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Load)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            _ev(node, 1, text, opt)  # raises with the right wording
            raise CompverifyError(f"{opt} expression {text!r} is not allowed")  # pragma: no cover
        if isinstance(node, ast.Name) and node.id != "d":
            raise CompverifyError(f"{opt} expression {text!r}: the name {node.id!r} is not "
                                  f"allowed (only integers, d, + - * / // and parentheses)")
        if isinstance(node, ast.Constant):
            _ev(node, 1, text, opt)


def eval_width(expr: str | int, d: int, *, opt: str = "--M") -> int:
    """Value of a width expression of ``d`` (integers, ``d``, ``+ - * / //``, parentheses).

    The result must be an integer (``/`` must divide exactly).  Never calls ``eval``.
    """
    text = str(expr)
    v = _ev(_parse_expr(text, opt), int(d), text.strip(), opt)
    if v.denominator != 1:
        raise CompverifyError(f"{opt} expression {text.strip()!r} is {v} at d = {d}, not an "
                              f"integer (use // to round down)")
    return int(v)


def _split_items(spec: str, opt: str) -> list[str]:
    if not isinstance(spec, str) or not spec.strip():
        raise CompverifyError(f"{opt} must be a non-empty list such as 2:6 or 2,3,5, got {spec!r}")
    items = [t.strip() for t in spec.split(",")]
    if any(not t for t in items):
        raise CompverifyError(f"{opt} {spec!r} has an empty item")
    return items


def parse_dims(spec: str, *, opt: str = "--d") -> tuple[int, ...]:
    """Dimensions from ``'2:6'`` (inclusive), ``'2,3,5'``, ``'2:10:2'`` or a mix (no repeats)."""
    out: list[int] = []
    for item in _split_items(spec, opt):
        parts = item.split(":")
        try:
            nums = [int(p.strip()) for p in parts]
        except ValueError:
            raise CompverifyError(f"{opt} item {item!r} is not an integer or a range a:b") \
                from None
        if len(nums) == 1:
            vals = nums
        elif len(nums) in (2, 3):
            step = nums[2] if len(nums) == 3 else 1
            if step < 1:
                raise CompverifyError(f"{opt} range {item!r}: the step must be >= 1")
            if nums[0] > nums[1]:
                raise CompverifyError(f"{opt} range {item!r} is empty (start > end)")
            vals = list(range(nums[0], nums[1] + 1, step))
        else:
            raise CompverifyError(f"{opt} item {item!r} is not an integer or a range a:b")
        for v in vals:
            if not 1 <= v <= MAX_GRID_VALUE:
                raise CompverifyError(f"{opt} values must be in [1, {MAX_GRID_VALUE}], got {v}")
            if v not in out:
                out.append(v)
    return tuple(out)


def parse_widths(spec: str, *, opt: str = "--M") -> tuple[tuple[str, ...], ...]:
    """Validated width items: ``(expr,)``, ``(lo, hi)`` or ``(lo, hi, step)`` expression strings."""
    out = []
    for item in _split_items(spec, opt):
        parts = tuple(p.strip() for p in item.split(":"))
        if len(parts) > 3:
            raise CompverifyError(f"{opt} item {item!r}: a range is lo:hi or lo:hi:step")
        for p in parts:
            _parse_expr(p, opt)
        out.append(parts)
    return tuple(out)


def expand_grid(dims: tuple[int, ...], widths: str) -> tuple[list[tuple[int, int]], list[dict]]:
    """The cases ``(d, M)`` in order (``d`` outer, width items inner, repeats dropped) and the
    skipped ones (``M < 1``, or an empty range) with a note.  ``M <= d`` cases are kept."""
    cases: list[tuple[int, int]] = []
    skipped: list[dict] = []
    items = parse_widths(widths)
    for d in dims:
        for parts in items:
            if len(parts) == 1:
                values = [eval_width(parts[0], d)]
            else:
                lo, hi = eval_width(parts[0], d), eval_width(parts[1], d)
                step = eval_width(parts[2], d) if len(parts) == 3 else 1
                if step < 1:
                    raise CompverifyError(f"--M range {':'.join(parts)!r}: the step is {step} "
                                          f"at d = {d}, must be >= 1")
                values = list(range(lo, hi + 1, step))
                if not values:
                    skipped.append({"d": d, "M": None, "from": ":".join(parts),
                                    "note": f"empty range {lo}:{hi}: skipped"})
            for m in values:
                if m < 1:
                    note = {"d": d, "M": m, "from": ":".join(parts),
                            "note": f"M = {m} < 1: skipped"}
                    if note not in skipped:
                        skipped.append(note)
                    continue
                if m > MAX_GRID_VALUE:
                    raise CompverifyError(f"--M gives M = {m} at d = {d}, above {MAX_GRID_VALUE}")
                if (d, m) not in cases:
                    cases.append((d, m))
    return cases, skipped


# ---------------------------------------------------------------------------------------------
# parameters, targets, one case


@dataclass(frozen=True)
class SweepParams:
    """What a sweep computes (``jobs`` is not part of it: it does not change results)."""

    activation: str = "relu"
    d: str = "2:6"
    M: str = "d+1"
    target: str = "isotropic"
    target_mean: str | None = None
    target_scale: str | None = None
    restarts: int = 32
    dps: int = 30
    seed: int = 0

    def header(self) -> dict:
        """The parameter part of the sweep file, validated, with the expanded grid."""
        dims = parse_dims(self.d)
        grid, skipped = expand_grid(dims, self.M)
        if not grid:
            raise CompverifyError(f"--d {self.d!r} with --M {self.M!r} gives no case with M >= 1")
        check_positive_int(self.restarts, "--restarts")
        sha = None
        from compverify.numeric.targets.spec import split_file_target

        file_target = split_file_target(self.target)
        if file_target is not None:  # the file's content is a parameter too
            try:
                sha = hashlib.sha256(Path(file_target[1]).read_bytes()).hexdigest()
            except OSError as exc:
                raise CompverifyError(f"--target {self.target!r}: cannot read ({exc.strerror})") \
                    from None
        head = {"format": FORMAT, "version": __version__, **asdict(self),
                "target_sha256": sha, "grid": [list(c) for c in grid], "skipped": skipped}
        return {k: head[k] for k in (*PARAMETER_KEYS, "skipped")}


def make_problem(params: SweepParams, d: int, M: int) -> Any:
    """The :class:`compverify.numeric.objective.Problem` of one case (target options as ``solve``,
    through :func:`compverify.numeric.targets.build_target`)."""
    from compverify.numeric.objective import Problem
    from compverify.numeric.targets import build_target
    from compverify.symbolic import get_activation

    activation = get_activation(params.activation)
    target = build_target(params.target, d=d, mean=params.target_mean,
                          scale=params.target_scale, activation=activation)
    return Problem(activation, target, M)


_FRAME_ROWS = (("verdict", "verdict"), ("coherence", "coherence mu"),
               ("welch_bound", "Welch bound"), ("tightness_defect", "tightness defect"),
               ("equiangularity_spread", "equiangularity spread"),
               ("distance_lower_bound_etf", "certified distance to the ETFs >="),
               ("distance_lower_bound_tight", "certified distance to the tight frames >="),
               ("nearest_etf", "nearest ETF"), ("etf_relative_loss", "best relative loss on the ETF"),
               ("etf_gap", "ETF gap (ETF value - relative loss)"),
               ("etf_gap_uncertainty", "uncertainty of the gap"),
               ("etf_gap_zero_within_uncertainty", "gap zero within it"))


class FrameReport(TableDisplay, dict):
    """The ``frame`` block (a ``dict``, keys as :func:`frame_report` says) that a notebook shows
    as a table of the verdict and its evidence."""

    def _display_tables(self) -> list:
        rows = [(label, self.get(key)) for key, label in _FRAME_ROWS if key in self]
        exist = self.get("etf_existence")
        if exist is not None:
            rows.append(("ETF exists for (d, M)", exist.get("status") if isinstance(exist, dict)
                         else exist))
        d, M = self.get("d"), self.get("M")
        where = f" (d = {d}, M = {M})" if d is not None else ""
        return [(f"frame report{where}", ("quantity", "value"), rows)]


def _result_fields(result: Any) -> tuple[list, Any, Any, int]:
    """``(directions, verified_digits, relative_loss, dps)`` of a SolveResult or its JSON dict."""
    if isinstance(result, dict):
        dps = int(result["dps"])
        with mpmath.workdps(dps):
            directions = [[mpmath.mpf(x) for x in row] for row in result["directions"]]
            rel = mpmath.mpf(result["relative_loss"])
        return directions, (result.get("evidence") or {}).get("verified_digits"), rel, dps
    return (result.directions, result.evidence.verified_digits, result.relative_loss,
            int(result.dps))


def frame_report(problem: Any, result: Any, *, seed: int = 0) -> FrameReport:
    """The ``frame`` block of a solve result.

    ``result``: a :class:`~compverify.numeric.solver.SolveResult` or its ``to_dict()``.  Gives
    H3's :func:`compverify.proofs_check.frames.frame_block` (verdict, coherence, welch_bound,
    tightness_defect, equiangularity_spread, distance_lower_bound_etf, distance_lower_bound_tight)
    plus ``etf_relative_loss`` (best value on the catalogue's ETF for ``(d, M)`` divided by ``C``)
    and ``etf_gap = etf_relative_loss - relative_loss`` (both ``None`` when the catalogue has no
    ETF for ``(d, M)``), ``etf_gap_uncertainty = |relative_loss|·10^-verified_digits`` (how well
    the gap is known) with ``etf_gap_zero_within_uncertainty``,
    ``etf_existence`` (the existence table's entry) and ``etf`` (the evidence
    of :class:`~compverify.proofs_check.etf_value.EtfValue`, or ``None``).
    """
    from compverify.proofs_check import catalogue
    from compverify.proofs_check.etf_value import best_on_etf
    from compverify.proofs_check.frames import frame_block

    directions, verified, rel, dps = _result_fields(result)
    block = dict(frame_block(directions, verified, dps))
    d, M = int(problem.target.d), int(problem.M)
    etf = best_on_etf(problem, dps=dps, seed=seed)
    block["etf_existence"] = catalogue.existence(d, M)
    if etf is None:
        block.update(etf_relative_loss=None, etf_gap=None, etf_gap_uncertainty=None,
                     etf_gap_zero_within_uncertainty=None, etf=None)
    else:
        with mpmath.workdps(dps):
            gap = etf.relative_value - rel
            # the gap is only known to the verified digits of the relative loss: say how well
            unc = abs(rel) * mpmath.mpf(10) ** (-int(verified)) if verified else None
            block.update(etf_relative_loss=etf.relative_value, etf_gap=gap,
                         etf_gap_uncertainty=unc,
                         etf_gap_zero_within_uncertainty=bool(unc is not None and abs(gap) <= unc),
                         etf=etf.to_dict())
    return FrameReport(block)


def solve_frame_block(problem: Any, result: Any, seed: int = 0) -> FrameReport | None:
    """The ``frame`` block of ``compverify solve``'s JSON: :func:`frame_report`, or ``None`` (no
    ``frame`` key) for ``M = 1``, where there is no frame to test."""
    if int(problem.M) < 2:
        return None
    return frame_report(problem, result, seed=seed)


def run_case(params: SweepParams, d: int, M: int, *, jobs: int = 1) -> dict:
    """Solve one case and classify it: the record stored in the sweep file (JSON-ready)."""
    from compverify.numeric.solver import solve

    problem = make_problem(params, d, M)
    result = solve(problem, restarts=params.restarts, seed=params.seed, dps=params.dps,
                   jobs=jobs, progress=False)
    res = _strip_timing(to_jsonable(result.to_dict(), params.dps))
    frame = frame_report(problem, result, seed=params.seed)
    from compverify.proofs_check.prover import proof_fields

    proof = proof_fields({**res, "frame": {"verdict": frame.get("verdict")}})
    return to_jsonable({"d": d, "M": M, "relative_loss": res["relative_loss"],
                        "frame": frame, **proof, "result": res}, params.dps)


def _strip_timing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_timing(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_strip_timing(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# the sweep


def load_sweep(path: str | Path, *, hint: str = "; choose another --out") -> SweepResult:
    """Read a sweep file (a :class:`SweepResult`: a notebook shows its table); a clear error
    (ending with ``hint``) if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompverifyError(f"sweep file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompverifyError(f"{str(path)!r} is not a sweep file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CompverifyError(f"{str(path)!r} is not a compverify conjecture sweep "
                              f"(format {FORMAT!r}){hint}")
    return SweepResult(data)


def _check_resume(old: dict, head: dict, path: Path) -> dict:
    """The header to keep writing: the file's own, if its parameters agree with ``head``.

    The grid strings ``d`` and ``M`` are not compared, the expanded ``grid`` is: ``--d 2:3`` and
    ``--d 2,3`` are the same sweep.
    """
    diffs = [k for k in PARAMETER_KEYS if k not in ("d", "M") and old.get(k) != head.get(k)]
    if diffs:
        k = diffs[0]
        raise CompverifyError(
            f"{str(path)!r} holds a sweep with different parameters ({k}: {old.get(k)!r} there, "
            f"{head.get(k)!r} now); rerun with the same options to resume, or choose another "
            f"--out")
    return {k: old[k] if k in old else head[k] for k in head}


class _Progress:
    """tqdm bar on a terminal, one line per case otherwise (stderr)."""

    def __init__(self, total: int, done: int, mode: str, stream: IO[str]):
        self.stream = stream
        if mode == "auto":
            mode = "bar" if getattr(stream, "isatty", lambda: False)() else "lines"
        self.mode, self.total, self.done = mode, total, done
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, file=stream, unit="case",
                            dynamic_ncols=True)

    def start(self, d: int, M: int) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"d={d} M={M}")
        elif self.mode == "lines":
            print(f"compverify conjecture: [{self.done + 1}/{self.total}] d = {d}, M = {M} ...",
                  file=self.stream, flush=True)

    def finish(self, seconds: float, failed: str | None = None,
               case: tuple[int, int] | None = None) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.mode == "lines":
            what = f"failed: {failed}" if failed else "done"
            which = "" if case is None else f" d = {case[0]}, M = {case[1]}"
            print(f"compverify conjecture: [{self.done}/{self.total}]{which} {what} "
                  f"({seconds:.1f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _write(path: Path | None, head: dict, cases: dict, failed: dict) -> dict:
    grid = [tuple(c) for c in head["grid"]]
    data = {**head,
            "cases": [cases[c] for c in grid if c in cases],
            "failed": [failed[c] for c in grid if c in failed],
            "complete": all(c in cases for c in grid)}
    if path is not None:
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return data


def run_sweep(params: SweepParams, out: str | Path | None = None, *, jobs: int = 1,
              progress: str = "auto", stream: IO[str] | None = None,
              case_runner: Callable[..., dict] | None = None, dask: Any = None,
              case_seconds: dict | None = None) -> SweepResult:
    """Run (or resume) a sweep; returns the sweep data written to ``out``.

    ``case_runner(params, d, M, jobs=...)`` computes one case (default :func:`run_case`).  A case
    that raises an unexpected exception is recorded in ``failed`` (retried by a resume); bad input
    (:class:`CompverifyError`) stops the sweep.  ``progress``: ``auto``, ``bar``, ``lines`` or
    ``off``.

    ``dask``: ``None`` runs the cases here, one after the other; ``"local:N"``,
    ``"tcp://HOST:PORT"`` or a :class:`distributed.Client` runs them on a Dask cluster
    (:mod:`compverify.cluster`), one case a task (``jobs`` must then be 1).  The cases
    are the same pure functions of the parameters, and only this process writes ``out`` (as the
    cases finish, atomically), so the file is byte for byte the one of the serial run.
    ``case_seconds``, if given, receives each case's compute time (``(d, M) -> {"wall", "cpu"}``
    seconds of this process or, on a cluster, of its worker).
    """
    stream = stream if stream is not None else sys.stderr
    runner = case_runner or run_case
    if dask is not None and jobs != 1:
        raise CompverifyError(f"--jobs {jobs} with --dask: a Dask worker runs one case in one "
                              f"process (its processes cannot start others); add workers instead")
    head = params.header()
    path = Path(out) if out is not None else None
    cases: dict[tuple[int, int], dict] = {}
    if path is not None and path.exists():
        old = load_sweep(path)
        head = _check_resume(old, head, path)
        for c in old.get("cases") or []:
            cases[(int(c["d"]), int(c["M"]))] = c
    with ExitStack() as stack:
        client = None
        if dask is not None:  # connect first: an unreachable scheduler fails before any work
            from compverify.cluster import connect

            client = stack.enter_context(connect(dask))
        return _run_cases(params, head, path, cases, runner, jobs, progress, stream, client,
                          case_seconds)


def _run_cases(params: SweepParams, head: dict, path: Path | None, cases: dict, runner: Callable,
               jobs: int, progress: str, stream: IO[str], client: Any,
               case_seconds: dict | None) -> SweepResult:
    if runner is run_case:
        from compverify.validate import memory_estimate

        for d, M in head["grid"]:  # before any work: every case must fit in memory
            check_memory(memory_estimate(M, d, params.dps),
                         f"the case d = {d}, M = {M} at {params.dps} digits")
        for d in sorted({d for d, _ in head["grid"]}):  # bad target options fail before any work
            make_problem(params, d, next(m for dd, m in head["grid"] if dd == d))
    failed: dict[tuple[int, int], dict] = {}
    grid = [tuple(c) for c in head["grid"]]
    todo = [c for c in grid if c not in cases]
    bar = _Progress(len(grid), len(grid) - len(todo), progress, stream)
    seconds = case_seconds if case_seconds is not None else {}
    try:
        if client is not None and todo:
            from compverify.cluster import run_unordered

            for (d, M), record, sec, exc in run_unordered(
                    client, runner, todo, lambda c: (params, *c), kwargs={"jobs": jobs}):
                err = None if exc is None else f"{type(exc).__name__}: {exc}"
                if exc is None:
                    cases[(d, M)] = record
                else:
                    failed[(d, M)] = {"d": d, "M": M, "error": err}
                seconds[(d, M)] = sec
                _write(path, head, cases, failed)
                bar.finish(sec.get("wall", 0.0), err, case=(d, M))
        for d, M in todo if client is None else ():
            bar.start(d, M)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                cases[(d, M)] = runner(params, d, M, jobs=jobs)
                err = None
            except CompverifyError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
                err = f"{type(exc).__name__}: {exc}"
                failed[(d, M)] = {"d": d, "M": M, "error": err}
            seconds[(d, M)] = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
            _write(path, head, cases, failed)
            bar.finish(seconds[(d, M)]["wall"], err)
    finally:
        bar.close()
    return SweepResult(_write(path, head, cases, failed))


# ---------------------------------------------------------------------------------------------
# the final table


def _fmt(x: Any, digits: int) -> str:
    if x is None:
        return "-"
    try:
        return mpmath.nstr(mpmath.mpf(x), digits)
    except (TypeError, ValueError):
        return str(x)


#: Columns of the sweep's table.
TABLE_HEADER = ("d", "M", "relative loss", "verdict", "ETF known?", "ETF gap", "proof")


def table_rows(sweep: dict) -> list[tuple[str, ...]]:
    """One row of :data:`TABLE_HEADER` per grid case, in grid order (failed and not-run cases
    say so); the text table and the notebook's tables are both made of these."""
    rows = []
    by_case = {(int(c["d"]), int(c["M"])): c for c in sweep.get("cases") or []}
    fails = {(int(c["d"]), int(c["M"])): c for c in sweep.get("failed") or []}
    for d, M in (tuple(c) for c in sweep.get("grid") or []):
        if (d, M) in by_case:
            c = by_case[(d, M)]
            fr = c.get("frame") or {}
            built = fr.get("etf")
            known = f"yes ({built['construction']})" if built else _existence_word(
                fr.get("etf_existence"))
            rows.append((str(d), str(M), _fmt(c.get("relative_loss"), 15),
                         str(fr.get("verdict", "-")), known, _fmt(fr.get("etf_gap"), 3),
                         str(c.get("proof", "-"))))
        elif (d, M) in fails:
            rows.append((str(d), str(M), "-", "failed", "-", "-", "-"))
        else:
            rows.append((str(d), str(M), "-", "not run", "-", "-", "-"))
    return rows


def format_table(sweep: dict) -> str:
    """The closing table: d, M, relative loss, verdict, ETF known?, ETF gap (skips noted)."""
    rows = [TABLE_HEADER, *table_rows(sweep)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in sweep.get("skipped") or []:
        lines.append(f"skipped: d = {s['d']}, M from {s['from']!r}: {s['note']}")
    return "\n".join(lines)


class SweepResult(TableDisplay, dict):
    """The sweep's data (a ``dict``: the sweep file's content) that a notebook shows as the
    closing table (:func:`table_rows`)."""

    def _display_tables(self) -> list:
        done = len(self.get("cases") or [])
        cap = (f"conjecture sweep: {self.get('activation')}, target {self.get('target')}, "
               f"{done} of {len(self.get('grid') or [])} cases done, {self.get('dps')} digits")
        return [(cap, TABLE_HEADER, table_rows(self))]


def _existence_word(entry: Any) -> str:
    if entry is None:
        return "no"
    if isinstance(entry, dict):
        entry = entry.get("status", entry)
    text = str(entry)
    return "no" if text in ("does not exist", "no", "False") else f"not built ({text})"
