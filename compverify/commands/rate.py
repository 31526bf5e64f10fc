"""``compverify rate``: the error rate of the mean-field simplification on a (d, N) grid."""

from __future__ import annotations

import argparse
import csv
import io
import sys

from compverify.commands.solve import add_plot_argument, add_target_arguments, target_text
from compverify.errors import CompverifyError
from compverify.validate import check_positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rate", help="measure sup|h_N - h| and the shift of the optimum against N and d",
        description="For each (d, N) and each target realization: sup over unit u of "
                    "|h_N(u) - h(u)| (exact kernel sums), the relative shift of the optimum and "
                    "the Gram distance of the minimisers; fits the exponents of N and d.")
    p.add_argument("--activation", default="relu")
    p.add_argument("--d", default="2,4", help="dimensions: list '2,4' or range '2:6'")
    p.add_argument("--N", default="64,256,1024", help="target widths: list or range")
    p.add_argument("--samples", type=int, default=8, help="realizations per point (>= 2)")
    p.add_argument("--M", default=None, help="compressed width: integer, 'd' or 'd+k' (default d+1)")
    add_target_arguments(p)
    add_plot_argument(p)
    p.add_argument("--restarts", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-optimum", action="store_true",
                   help="measure sup|h_N - h| only (skip the minimisations)")
    p.add_argument("--out", default="rate", metavar="PREFIX",
                   help="writes PREFIX.json (also the checkpoint), .csv, .png, .svg; a name "
                        "ending in .json is that JSON file (r.json: r.json, r.csv, ...)")
    p.set_defaults(func=run)


#: Most values a --d or --N range may expand to.
MAX_GRID = 1000


def parse_int_list(text: str, name: str) -> list[int]:
    """'2,4,8' or '2:6' (inclusive) -> integers, each >= 1."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if ":" in part:
                lo, hi = (int(x) for x in part.split(":"))
                if hi < lo:
                    raise ValueError
                if hi - lo >= MAX_GRID:
                    raise CompverifyError(f"{name} range {part!r} has {hi - lo + 1} values (at "
                                          f"most {MAX_GRID})")
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except CompverifyError:
            raise
        except ValueError:
            raise CompverifyError(f"{name} must be integers or ranges like 2:6, got {text!r}") \
                from None
    for v in out:
        check_positive_int(v, name)
    return sorted(set(out))


OUTPUT_SUFFIXES = (".json", ".csv", ".png", ".svg")


def output_prefix(out: str) -> str:
    """The prefix of the four output files, checked writable before any work.

    ``r`` and ``r.json`` both mean ``r.json``, ``r.csv``, ``r.png``, ``r.svg``; a directory (an
    existing one, or a name ending in ``/``) is refused rather than filled with ``.json``.
    """
    import os

    from compverify.io import check_output_file

    text = str(out)
    if not text.strip() or text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise CompverifyError(f"--out {text!r} is a directory or empty; give a file prefix, "
                              f"e.g. {os.path.join(text, 'rate')!r}")
    prefix = text[:-len(".json")] if text.endswith(".json") else text
    if not os.path.basename(prefix):
        raise CompverifyError(f"--out {text!r} has an empty file name")
    for suffix in OUTPUT_SUFFIXES:
        check_output_file(prefix + suffix, option="--out")
    return prefix


def csv_text(result: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    opt = "shift" in result["points"][0]
    w.writerow(["d", "N", "M", "realization", "seed", "delta"]
               + (["shift", "gram_distance"] if opt else []))
    for p in result["points"]:
        for r, delta in enumerate(p["delta"]):
            row = [p["d"], p["N"], p["M"], r, p["realization_seeds"][r], repr(delta)]
            if opt:
                row += [repr(p["shift"][r]), repr(p["gram_distance"][r])]
            w.writerow(row)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    d_list = parse_int_list(args.d, "--d")
    N_list = parse_int_list(args.N, "--N")
    check_positive_int(args.samples, "--samples", minimum=2)
    check_positive_int(args.restarts, "--restarts")
    check_positive_int(args.seed, "--seed", minimum=0)
    prefix = output_prefix(args.out)
    from compverify.api import error_rate
    from compverify.io import atomic_write_text
    from compverify.report.rate_plot import plot_rate

    res = error_rate(args.activation, target_text(args), d_list, N_list, samples=args.samples,
                   seed=args.seed, M=args.M, restarts=args.restarts, target_mean=args.target_mean,
                   target_scale=args.target_scale, optimum=not args.no_optimum,
                   checkpoint=f"{prefix}.json")
    atomic_write_text(f"{prefix}.csv", csv_text(res))
    if not args.no_plot:
        plot_rate(res, prefix)
    f = res["fit"]
    line = (f"sup|h_N - h| ~ N^{f['N_exponent']:.3f} (95% CI [{f['N_exponent_ci'][0]:.3f}, "
            f"{f['N_exponent_ci'][1]:.3f}])")
    if f["d_exponent"] is not None:
        line += (f" d^{f['d_exponent']:.3f} (95% CI [{f['d_exponent_ci'][0]:.3f}, "
                 f"{f['d_exponent_ci'][1]:.3f}])")
    print(line)
    print("candidates: N^-0.5 (d^0), sqrt(d/N) = N^-0.5 d^0.5")
    fs = res.get("fit_shift")
    if fs:
        print(f"optimum shift |min L_N - min Lbar|/Cbar ~ N^{fs['N_exponent']:.3f} "
              f"(95% CI [{fs['N_exponent_ci'][0]:.3f}, {fs['N_exponent_ci'][1]:.3f}])")
    for warning in res.get("warnings", []):
        print(f"warning: {warning}")
    print(f"written: {prefix}.json, .csv" + ("" if args.no_plot else ", .png, .svg"),
          file=sys.stderr)
    return 0
