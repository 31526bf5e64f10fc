"""``compverify report``: the derivation report (HTML with MathML, Markdown, LaTeX), the main job.

With no arguments it runs the embedded default configuration and writes ``./compverify-report/``.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_OUT = "compverify-report"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="derivation report (HTML with MathML, Markdown, LaTeX) from results of the run",
        description="Run the pieces a configuration names (kernel derivations, gradient formulas, "
                    "mean-field closed forms, high-precision solves with frame verdicts, the "
                    "conjecture sweep, the error-rate experiment) and write a self-contained "
                    "report. Without --config the embedded default configuration runs (the main "
                    "job). `compverify report --print-default-config` shows it.")
    p.add_argument("--config", metavar="FILE.toml",
                   help="TOML configuration (default: the embedded default configuration)")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output directory (default: ./{DEFAULT_OUT})")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output directory that is not a report written by "
                        "compverify (a report it wrote is replaced without --force); the old one "
                        "is removed only once the new one is complete")
    p.add_argument("--print-default-config", action="store_true",
                   help="print the embedded default configuration and exit")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                   help="progress display on stderr (default: a bar on a terminal, else lines)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify.report.config import default_config_text, load_config, load_default

    if args.print_default_config:
        sys.stdout.write(default_config_text())
        return 0
    from compverify.report.output import check_target

    check_target(args.out, args.force)  # before the configuration runs
    cfg = load_config(args.config) if args.config else load_default()
    from compverify.report.build import build_report

    result = build_report(cfg, args.out, force=args.force, progress=args.progress)
    print(result.excerpt)
    return 0
