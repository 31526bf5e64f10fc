"""``compverify prove RESULT.json [--global] [--out CERT.json]``: proofs for a solve result.

Runs every proof the result admits (:func:`compverify.proofs_check.prover.prove_result`): a strict
local minimum (Krawczyk test, certified Hessian), ``the ETF is not optimal`` where the catalogue
has an ETF and the point beats it, and with ``--global`` an interval branch-and-bound.  Prints one
line per proof and the status; writes the bundle certificate (``compverify certify`` re-checks
it).  Exit 0 if something was proved, 1 if nothing was (``numerical only``), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json

from compverify.errors import CompverifyError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prove", help="rigorous proofs (ball arithmetic) for a `compverify solve --out` result",
        description="Proves a strict local minimum (Krawczyk, certified Hessian), that the ETF is "
                    "not optimal (certified values), and with --global runs an interval "
                    "branch-and-bound; writes a certificate that `compverify certify` re-checks.")
    p.add_argument("result", metavar="RESULT.json", help="a file written by compverify solve --out")
    p.add_argument("--global", dest="global_search", action="store_true",
                   help="also run the interval branch-and-bound for a global minimum (d = 2)")
    p.add_argument("--max-boxes", type=int, default=200_000,
                   help="box budget of the branch-and-bound (default 200000)")
    p.add_argument("--time-limit", type=float, default=600.0,
                   help="seconds for the branch-and-bound (default 600)")
    p.add_argument("--out", metavar="CERT.json", help="write the certificate here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify.commands.frame import load_solve_result
    from compverify.io import atomic_write_text
    from compverify.proofs_check.prover import prove_result
    from compverify.validate import check_positive_int

    check_positive_int(args.max_boxes, "--max-boxes")
    if not args.time_limit > 0:
        raise CompverifyError(f"--time-limit must be positive, got {args.time_limit}")
    if args.out:  # before the proof runs
        from compverify.io import check_output_file

        check_output_file(args.out, option="--out")
    data = load_solve_result(args.result)
    proof = prove_result(data, global_search=args.global_search, max_boxes=args.max_boxes,
                         time_limit=args.time_limit)
    for line in proof.lines:
        print(line)
    for line in proof.failures:
        print(f"not proved: {line}")
    print(f"status: {proof.status}")
    if proof.certificate is not None and args.out:
        atomic_write_text(args.out, json.dumps(proof.certificate, indent=1) + "\n")
        print(f"written: {args.out}")
    return 0 if proof.certificate is not None else 1
