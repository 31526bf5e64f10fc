"""``compverify conjecture``: test the ETF conjecture over a grid of (d, M).

For each case: solve (as ``compverify solve``), classify the minimiser's directions (frame verdict
and certificates), and where the catalogue builds an ETF for (d, M), the best value on it and the
gap.  Progress on stderr (a bar on a terminal); with ``--out`` each finished case is written at
once (atomically) and running the same command again resumes the sweep, and at the end its
figure is written next to it (same stem, ``.png``: relative loss and ETF gap over (d, M);
``--no-plot`` skips it).  Ends with a table.
Bad input: one line on stderr, exit status 2; a case that fails unexpectedly is recorded and the
exit status is 1.  Library: :mod:`compverify.proofs_check.conjecture`.
"""

from __future__ import annotations

import argparse
import sys

from compverify.commands.solve import add_plot_argument, add_target_arguments, target_text
from compverify.validate import MAX_DPS, check_dps, check_jobs, check_positive_int

MIN_DPS = 15


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "conjecture",
        help="sweep (d, M): minimise, classify the directions, compare with the best ETF value",
        description="Sweep a grid of (d, M): solve each case, give its frame verdict and, where "
                    "an ETF is known, the best value on it and the gap. Resumable with --out.")
    p.add_argument("--activation", default="relu", help="activation spec (default relu)")
    p.add_argument("--d", default=None, metavar="GRID",
                   help="dimensions: a:b (inclusive), a:b:step, comma lists (default 2:6)")
    p.add_argument("--M", default=None, metavar="GRID",
                   help="widths: integers, expressions of d (d+1, 2*d, d*(d+1)/2), ranges lo:hi "
                        "of those, comma lists (default d+1); M < 1 is skipped with a note")
    add_target_arguments(p)
    p.add_argument("--restarts", type=int, default=32, help="restarts per case (default 32)")
    p.add_argument("--dps", type=int, default=30,
                   help=f"decimal digits (default 30; {MIN_DPS} to {MAX_DPS})")
    p.add_argument("--seed", type=int, default=0, help="seed of every case (default 0)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes for the restarts (default 1; results do not depend on it)")
    p.add_argument("--atlas", action="store_true",
                   help="the ETF atlas instead of --d/--M: every 2 <= d <= 8 with d < M <= 2d+2 "
                        "and every (d, M) with M <= 50 where a real ETF exists, fewest parameters "
                        "first (see docs/atlas.md)")
    p.add_argument("--atlas-max-params", type=int, default=None, metavar="N",
                   help="with --atlas: only the cases with at most N parameters M(d+1)")
    p.add_argument("--dask", default=None, metavar="WHERE",
                   help="run the cases on Dask: local:N (N worker processes here) or "
                        "tcp://HOST:PORT (a running scheduler); same results as without it "
                        "(needs pip install 'compverify[dask]')")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="sweep file: written after each case, resumed if it exists; its figure "
                        "(relative loss and ETF gap over (d, M)) is written next to it, .png")
    add_plot_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify import api
    from compverify.proofs_check.conjecture import format_table

    check_positive_int(args.restarts, "--restarts")
    check_jobs(args.jobs, "--jobs")
    check_positive_int(args.seed, "--seed", minimum=0)
    check_dps(args.dps, name="--dps", minimum=MIN_DPS, maximum=MAX_DPS)
    if args.dask is not None:  # a malformed spec fails before any work
        from compverify.cluster import parse_dask

        parse_dask(args.dask)
    if args.out is not None:  # before any case runs
        from compverify.io import check_output_file

        check_output_file(args.out, option="--out")
        if not args.no_plot:
            from compverify.report.plots import figure_path

            check_output_file(figure_path(args.out), option="--out (its figure)")
    common = dict(activation=args.activation, target=target_text(args), target_mean=args.target_mean,
                  target_scale=args.target_scale, restarts=args.restarts, dps=args.dps,
                  seed=args.seed)
    if args.atlas:
        from compverify.errors import CompverifyError
        from compverify.proofs_check.atlas import AtlasParams

        if args.d is not None or args.M is not None:
            raise CompverifyError("--atlas sets the grid itself: drop --d and --M")
        if args.atlas_max_params is not None:
            check_positive_int(args.atlas_max_params, "--atlas-max-params")
        params = AtlasParams(max_params=args.atlas_max_params, **common)
    else:
        if args.atlas_max_params is not None:
            from compverify.errors import CompverifyError

            raise CompverifyError("--atlas-max-params needs --atlas")
        params = api.SweepParams(d=args.d or "2:6", M=args.M or "d+1", **common)
    try:
        sweep = api.conjecture(params, args.out, jobs=args.jobs, dask=args.dask)
    except KeyboardInterrupt:
        if args.out:
            print(f"compverify conjecture: finished cases are saved in {args.out}; run the same "
                  f"command to resume", file=sys.stderr)
        raise
    print(format_table(sweep))
    if args.out:
        print(f"  written: {args.out}", file=sys.stderr)
        if not args.no_plot and (sweep.get("cases") or sweep.get("failed")):
            from compverify.report.plots import sweep_figure, write_figure

            print(f"  written: {write_figure(args.out, sweep_figure(sweep))}", file=sys.stderr)
    return 1 if sweep["failed"] else 0
