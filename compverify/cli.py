"""The ``compverify`` command line: a thin dispatcher over :mod:`compverify.commands`.

Each subcommand lives in its own module under :mod:`compverify.commands` with two functions,
``register(subparsers)`` (adds its parser and sets ``func``) and ``run(args) -> int``. Bad input
(:class:`CompverifyError`, argument errors) prints one line on stderr and exits with status 2;
:class:`ComputationFailed` (valid input the method cannot handle) one line and status 1; Ctrl-C
one line and status 130; a closed stdout pipe (``| head``) nothing, status 141 (128 + SIGPIPE).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from compverify._version import __version__
from compverify.errors import ComputationFailed, CompverifyError

#: Subcommand modules, in the order ``--help`` lists them. A module missing here is not an error
#: while the toolkit grows: it is simply not offered.
DESCRIPTION = ("compverify: symbolic-numeric verification of claims about compressing two-layer "
               "networks (derived Gaussian kernels, high-precision mean-field solutions, ETF "
               "tests, error rates, derivation reports).")

COMMANDS = ("derive", "solve", "frame", "conjecture", "atlas", "rate", "report", "targets", "sparsity",
            "prune", "lossless", "prove", "certify")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CompverifyError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="compverify", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"compverify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"compverify.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"compverify.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """The message on one line (a message quoting a file's contents may hold newlines)."""
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except ComputationFailed as exc:
        print(f"compverify: computation failed: {_one_line(exc)}", file=sys.stderr)
        return 1
    except CompverifyError as exc:
        print(f"compverify: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compverify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (``compverify targets | head``): stop quietly, as a
        # command killed by SIGPIPE does, and keep the interpreter's final flush from raising.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
