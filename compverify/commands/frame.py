"""``compverify frame RESULT.json``: frame diagnostics and the ETF verdict of a solve result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from compverify._version import __version__
from compverify.errors import CompverifyError

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
    if not p.is_file():
        raise CompverifyError(f"result file {path!r} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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


def run(args: argparse.Namespace) -> int:
    from compverify.io import mp_to_str, to_jsonable
    from compverify.proofs_check.frames import frame_block

    data = load_solve_result(args.result)
    try:
        dps = int(data["dps"])
        vd = int(data["evidence"]["verified_digits"])
    except (TypeError, ValueError):
        raise CompverifyError(f"{args.result!r}: dps and verified_digits must be integers") from None
    dirs = data["directions"]
    if not isinstance(dirs, list) or not all(isinstance(r, list) for r in dirs):
        raise CompverifyError(f"{args.result!r}: directions must be a list of rows")
    if len({len(r) for r in dirs}) > 1:
        raise CompverifyError(f"{args.result!r}: direction rows have different lengths")
    try:
        import mpmath
        with mpmath.workdps(dps):
            rows = [[mpmath.mpf(str(x)) for x in r] for r in dirs]
    except (ValueError, TypeError) as exc:
        raise CompverifyError(f"{args.result!r}: a direction entry is not a number: {exc}") from None
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
