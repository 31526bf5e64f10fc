"""``compverify frame RESULT.json``: frame diagnostics and the ETF verdict of a solve result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from compverify._version import __version__
from compverify.errors import CompverifyError
from compverify.validate import check_memory

_REQUIRED = ("directions", "dps", "evidence", "version", "problem")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "frame", help="frame diagnostics and ETF verdict of a `compverify solve --out` result",
        description="Reads a solve result (JSON), prints the Gram diagnostics, the certified "
                    "distance bounds to the ETF / tight-frame sets and the verdict.")
    p.add_argument("result", metavar="RESULT.json", help="a file written by compverify solve --out")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def load_solve_result(path: str) -> dict:
    """The JSON of a solve result, checked for its keys and a compatible version."""
    p = Path(path)
    if p.is_dir():
        raise CompverifyError(f"result file {path!r} is a directory; give the JSON file "
                              "`compverify solve --out` wrote")
    if not p.is_file():
        raise CompverifyError(f"result file {path!r} does not exist" if not p.exists() else
                              f"result file {path!r} is not a regular file")
    check_memory(40.0 * p.stat().st_size, f"result file {path!r}")  # parsed JSON vs its text
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as exc:
        raise CompverifyError(f"result file {path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
        raise CompverifyError(f"{path!r} is not a compverify solve result (missing "
                              f"{', '.join(missing)})")
    ver = str(data["version"]).split(".")[:2]
    if ver != __version__.split(".")[:2]:
        raise CompverifyError(f"{path!r} was written by compverify {data['version']}, incompatible "
                              f"with {__version__} (major.minor differ)")
    ev = data["evidence"]
    if not isinstance(ev, dict) or "verified_digits" not in ev:
        raise CompverifyError(f"{path!r}: evidence.verified_digits is missing")
    return data


def checked_frame_inputs(data: dict, path: str) -> tuple[int, int, list]:
    """``(dps, verified_digits, directions as mpf rows)`` of a solve result, each validated.

    A file is data, not a trusted source: ``dps`` must be an integer in the range ``solve``
    accepts (``0`` would give a tolerance of 1, ``10^9`` would hang), ``verified_digits`` an
    integer in ``[0, dps]`` (it sets the verdict's tolerance ``10^-(digits/2)``), and the
    directions a non-empty matrix of finite numbers with at least two rows.
    """
    import mpmath

    from compverify.commands.solve import MIN_DPS
    from compverify.validate import MAX_DPS, check_dps

    def integer(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise CompverifyError(f"{path!r}: {name} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise CompverifyError(f"{path!r}: {name} must be an integer, got {value!r}") from None

    dps = check_dps(integer(data["dps"], "dps"), name=f"{path!r}: dps", minimum=MIN_DPS,
                    maximum=MAX_DPS)
    vd = integer(data["evidence"]["verified_digits"], "evidence.verified_digits")
    if not 0 <= vd <= dps:
        raise CompverifyError(f"{path!r}: evidence.verified_digits must be in [0, dps = {dps}], "
                              f"got {vd}")
    dirs = data["directions"]
    if not isinstance(dirs, list) or not dirs or not all(isinstance(r, list) and r for r in dirs):
        raise CompverifyError(f"{path!r}: directions must be a non-empty list of non-empty rows")
    if len({len(r) for r in dirs}) > 1:
        raise CompverifyError(f"{path!r}: direction rows have different lengths")
    if len(dirs) < 2:
        raise CompverifyError(f"{path!r}: a frame needs at least 2 directions, got {len(dirs)}")
    M = len(dirs)  # the Gram matrix and its certificates, in mpf and float64
    check_memory(3.0 * M * M * (100 + 0.42 * dps + 8), f"the frame of {M} directions in {path!r}")
    rows = []
    with mpmath.workdps(dps):
        for i, r in enumerate(dirs):
            row = []
            for j, x in enumerate(r):
                try:
                    if isinstance(x, bool) or not isinstance(x, int | float | str):
                        raise ValueError
                    v = mpmath.mpf(str(x).strip())
                except (ValueError, TypeError):
                    raise CompverifyError(f"{path!r}: directions[{i}][{j}] = {x!r} is not a "
                                          "number") from None
                if not mpmath.isfinite(v):
                    raise CompverifyError(f"{path!r}: directions[{i}][{j}] = {x!r} is not finite")
                row.append(v)
            if all(v == 0 for v in row):
                raise CompverifyError(f"{path!r}: direction {i} is the zero vector")
            rows.append(row)
    return dps, vd, rows


def run(args: argparse.Namespace) -> int:
    from compverify.io import mp_to_str, to_jsonable
    from compverify.proofs_check.frames import frame_block

    data = load_solve_result(args.result)
    dps, vd, rows = checked_frame_inputs(data, args.result)
    block = frame_block(rows, vd, dps)
    if args.format == "json":
        print(json.dumps(to_jsonable(block, dps=dps), indent=2))
        return 0

    def s(x, n=12):
        return "-" if x is None else (mp_to_str(x, n) if not isinstance(x, float) else f"{x:.6g}")

    print(f"frame of {args.result}: M = {block['M']} unit vectors in R^{block['d']}")
    print(f"  coherence             {s(block['coherence'])}   (Welch bound {s(block['welch_bound'])})")
    print(f"  tightness defect      {s(block['tightness_defect'], 6)}")
    print(f"  equiangularity spread {s(block['equiangularity_spread'], 6)}")
    print(f"  frame potential       {s(block['frame_potential'])}   (>= M^2/d = "
          f"{s(block['frame_potential_bound'])})")
    print(f"  certified distance >= {s(block['distance_lower_bound_etf'])} to every ETF, "
          f">= {s(block['distance_lower_bound_tight'])} to every unit-norm tight frame")
    if block.get("distance_upper_bound_etf") is not None:
        print(f"  distance <= {s(block['distance_upper_bound_etf'])} to the catalogue's "
              f"{block['nearest_etf']} ETF")
    print(f"  tolerance {block['tolerance']:.0e} ({vd} verified digits)")
    print(f"  verdict: {block['verdict']}")
    return 0
