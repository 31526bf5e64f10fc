"""``compverify targets``: the target routes, and the route a given target and activation take.

Prints the route registry (:mod:`compverify.numeric.targets.registry`) in dispatch order: each
route, the targets and activations it serves, its precision class and its method.  With
``--target`` or ``--activation`` it also names the route that ``solve`` would take for them.
``--format text|markdown|json``.  Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "targets",
        help="list the target routes (how h and C are computed) and the route a target takes",
        description="The target routes in the order the dispatcher tries them; with --target "
                    "and/or --activation, the route that solve would take.")
    p.add_argument("--activation", default=None,
                   help="activation spec (default relu when --target is given)")
    p.add_argument("--target", default=None,
                   help="isotropic | gaussian | iid:LAW | PATH.npz (default isotropic when "
                        "--activation is given)")
    p.add_argument("--d", type=int, default=3,
                   help="input dimension for the route choice (default 3; iid:rademacher is "
                        "exact for d <= 12)")
    p.add_argument("--target-mean", default=None, metavar="m|m1,...,md",
                   help="mean of the target weights (the Gaussian routes depend on it)")
    p.add_argument("--target-scale", default=None, metavar="s", help="scale of the target weights")
    p.add_argument("--rule-points", type=int, default=None, metavar="N",
                   help="ask for the quasi-Monte Carlo rule (as in solve)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "json"),
                   help="output format (default text)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify.numeric.targets import TargetSpec, route_for, table
    from compverify.numeric.targets.spec import is_file_target

    chosen = None
    if args.target is not None or args.activation is not None:
        target = args.target or "isotropic"
        spec = TargetSpec.from_options(target, d=None if is_file_target(target) else args.d,
                                       mean=args.target_mean, scale=args.target_scale,
                                       activation=args.activation or "relu",
                                       rule_points=args.rule_points)
        route = route_for(spec)
        chosen = {"target": spec.label, "activation": spec.activation.spec, "d": spec.d,
                  "route": route.name, "precision": route.precision}
    if args.format == "json":
        print(json.dumps({"routes": table.rows(), "selected": chosen}, indent=2))
        return 0
    print(table.markdown_table() if args.format == "markdown" else table.text_table())
    if chosen is not None:
        d = "" if chosen["d"] is None else f", d = {chosen['d']}"
        print(f"\n{chosen['target']} with {chosen['activation']}{d}: route {chosen['route']} "
              f"[{chosen['precision']}]")
    return 0
