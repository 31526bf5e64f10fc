"""``compverify certify CERT.json``: re-check a proof certificate from scratch.

Uses only :mod:`compverify.proofs_check.certificate_checker` (ball arithmetic, no solver).  Prints
``valid`` (exit 0) or ``invalid: <first failing step>`` (exit 1); a missing or non-JSON file is a
usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from compverify.errors import CompverifyError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "certify", help="re-check a certificate written by `compverify prove`",
        description="Re-checks every step of a proof certificate with ball arithmetic (arb); "
                    "prints valid, or invalid: and the first failing step (exit 1).")
    p.add_argument("certificate", metavar="CERT.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify.proofs_check.certificate_checker import check

    path = Path(args.certificate)
    if not path.is_file():
        raise CompverifyError(f"certificate file {args.certificate!r} does not exist")
    try:
        cert = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompverifyError(f"certificate file {args.certificate!r} is not JSON: {exc}") from None
    ok, why = check(cert)
    print("valid" if ok else f"invalid: {why}")
    return 0 if ok else 1
