"""``compverify atlas FILE``: the table and findings of an atlas (or any conjecture sweep) file.

Reads a sweep file written by ``compverify conjecture --atlas --out FILE`` (finished or not) and
prints one row per finished case with the computed findings (``--format markdown`` is the text of
``docs/atlas.md``'s findings), or the rows as JSON; ``--png OUT`` also writes the heat map of the
relative loss and the ETF gap over (d, M). Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "atlas", help="table and findings of an atlas / conjecture sweep file",
        description="The finished cases of an atlas or conjecture sweep file, with the findings "
                    "(where the optimum is the ETF, where it is not, what the frames are).")
    p.add_argument("file", help="sweep file (compverify conjecture --atlas --out FILE)")
    p.add_argument("--format", default="markdown", choices=("markdown", "json"),
                   help="output format (default markdown)")
    p.add_argument("--png", default=None, metavar="OUT.png",
                   help="also write the heat map (relative loss and ETF gap over (d, M))")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify import io
    from compverify.proofs_check.atlas import atlas_summary
    from compverify.proofs_check.conjecture import load_sweep
    from compverify.report.plots import sweep_figure
    from compverify.report.section_atlas import atlas_markdown

    if args.png is not None:
        io.check_output_file(args.png)
    sweep = load_sweep(args.file, hint="")
    if args.format == "json":
        print(json.dumps(atlas_summary(sweep), indent=1))
    else:
        print(atlas_markdown(sweep), end="")
    if args.png is not None:
        io.atomic_write_bytes(args.png, sweep_figure(sweep))
    return 0
