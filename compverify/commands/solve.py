"""``compverify solve``: minimise the compression objective to high precision, with evidence.

Builds the problem (activation, target, M), runs :func:`compverify.numeric.solver.solve`, prints a
short human summary and, with ``--out``, writes the result as JSON (atomically; every real number
a decimal string with all its digits) and its figure next to it (same stem, ``.png``: the loss
over the restarts, the Gram matrix of the directions and, for d <= 3, the directions; ``--no-plot``
skips it).  ``--export FILE.safetensors`` writes the compressed network as the two weights of a
``torch.nn.Sequential(Linear(d, M, bias=False), act, Linear(M, 1, bias=False))``
(:mod:`compverify.numeric.model_files`).  Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from compverify.errors import CompverifyError
from compverify.validate import (
    MAX_DPS,
    check_dps,
    check_jobs,
    check_memory,
    check_positive_int,
    check_target_numbers,
    memory_estimate,
)

#: Lowest working precision accepted (the polish and its verification need more than float64).
MIN_DPS = 15


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "solve",
        help="minimise the mean-field compression objective to high precision, with evidence",
        description="Seeded float64 multi-start search, basins, Newton polish in mpmath at --dps "
                    "digits on the quotient by the symmetries, and the evidence (gradient norm, "
                    "reduced Hessian spectrum, digits verified by a re-polish at dps + 20).")
    p.add_argument("--activation", default="relu",
                   help="activation spec, e.g. relu, leaky_relu:0.1, erf, polynomial:0,0,1 "
                        "(default relu)")
    p.add_argument("--d", type=int, default=None,
                   help="input dimension (required unless --target is a file, whose weights "
                        "give it)")
    p.add_argument("--M", type=int, required=True, help="neurons of the compressed network")
    add_target_arguments(p)
    p.add_argument("--restarts", type=int, default=32, help="float64 restarts (default 32)")
    p.add_argument("--dps", type=int, default=30,
                   help=f"decimal digits of the polish (default 30; {MIN_DPS} to {MAX_DPS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the restarts (default 0)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the result as JSON, and its figure as FILE's stem + .png")
    p.add_argument("--export", default=None, metavar="FILE.safetensors",
                   help="write the compressed network sum_j b_j sigma(<v_j, x>) as the weights "
                        "0.weight = V (M, d) and 2.weight = b (1, M) of a torch two-layer "
                        "Sequential (float64; the names of --layers if given)")
    add_plot_argument(p)
    p.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="keep the finished work (restarts, Newton steps) in FILE, and resume from "
                        "it when the same command runs again (default with --out: "
                        "OUT.checkpoint.json; removed once the result is written to --out)")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes for the restarts (default 1; the answer does not depend on it)")
    p.add_argument("--method", default="varpro", choices=("varpro", "lbfgs", "trust"),
                   help="float64 local method (default varpro: L-BFGS on the reduced objective)")
    p.set_defaults(func=run)


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    """``--target``, ``--layers``, ``--target-mean``, ``--target-scale`` (shared by solve,
    conjecture, rate; :func:`target_text` folds ``--layers`` into the target)."""
    p.add_argument("--target", default="isotropic",
                   help="isotropic | gaussian | iid:LAW (gaussian, rademacher, uniform) | "
                        "PATH.npz with arrays a (N,) and W (N, d) | PATH.safetensors with the "
                        "weights 0.weight (N, d) and 2.weight (1, N) of a torch two-layer "
                        "Sequential without biases (default isotropic)")
    p.add_argument("--layers", default=None, metavar="FIRST,SECOND",
                   help="with a .safetensors target: the names of the two weight tensors "
                        "(default 0.weight,2.weight, as model.state_dict() names them)")
    p.add_argument("--target-mean", default=None, metavar="m|m1,...,md",
                   type=_checked_text("--target-mean"),
                   help="mean of the target weights: a number m (meaning m*1) or d numbers")
    p.add_argument("--target-scale", default=None, metavar="s",
                   type=_checked_text("--target-scale", positive=True),
                   help="scale s of the target weights (default 1/sqrt(d))")
    p.add_argument("--rule-points", type=int, default=None, metavar="N",
                   help="use the quasi-Monte Carlo rule with N points per replicate (a power of 2; "
                        "default rule 1024) for iid:uniform or iid:rademacher with d > 12; without "
                        "it they use the spectral rule when the activation has a spectral form")


def target_text(args: argparse.Namespace) -> str:
    """``--target`` with ``--layers`` folded in (``PATH.safetensors[FIRST,SECOND]``)."""
    from compverify.numeric.targets.spec import with_layers

    return with_layers(args.target, getattr(args, "layers", None))


def add_plot_argument(p: argparse.ArgumentParser) -> None:
    """``--no-plot``: the commands that write JSON also write its figure unless told not to."""
    p.add_argument("--no-plot", action="store_true",
                   help="do not write the figure (.png) next to the JSON")


def _checked_text(option: str, positive: bool = False):
    """An argparse ``type`` that checks the numbers at parse time and keeps the text (the
    targets read it as exact decimals)."""
    def check(text: str) -> str:
        try:
            values = check_target_numbers(text, option, positive=positive)
        except CompverifyError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if positive and len(values) != 1:
            raise argparse.ArgumentTypeError(f"{option} must be one number, got {text!r}")
        return text

    check.__name__ = option
    return check


def _check_args(args: argparse.Namespace) -> None:
    check_positive_int(args.M, "--M")
    if args.d is not None:
        check_positive_int(args.d, "--d")
    check_positive_int(args.restarts, "--restarts")
    check_jobs(args.jobs, "--jobs")
    check_positive_int(args.seed, "--seed", minimum=0)
    check_dps(args.dps, name="--dps", minimum=MIN_DPS, maximum=MAX_DPS)


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    target_spec = target_text(args)
    from compverify.numeric.targets.spec import is_file_target

    if args.d is None and not is_file_target(target_spec):
        raise CompverifyError("--d is required unless --target is a file (.npz, .safetensors)")
    from compverify.io import atomic_write_json, check_output_file

    if args.out is not None:  # before any work: a run must not end unable to save its result
        check_output_file(args.out, option="--out")
        if not args.no_plot:
            from compverify.report.plots import figure_path

            check_output_file(figure_path(args.out), option="--out (its figure)")
    if args.export is not None:
        if not str(args.export).endswith(".safetensors"):
            raise CompverifyError(f"--export {args.export!r} must end in .safetensors")
        check_output_file(args.export, option="--export")
    if args.checkpoint is not None or args.out is not None:
        check_output_file(args.checkpoint or f"{args.out}.checkpoint.json",
                          option="--checkpoint" if args.checkpoint else "--out (its checkpoint)")
    if args.d is not None:  # before the heavy imports and the target (a large d is slow)
        check_memory(memory_estimate(args.M, args.d, args.dps),
                     f"a solve with M = {args.M}, d = {args.d} at {args.dps} digits")
    from compverify import api

    activation = api.activation(args.activation)
    target = api.target(target_spec, d=args.d, mean=args.target_mean, scale=args.target_scale,
                        activation=activation, rule_points=args.rule_points)
    if activation.kernel.route == "numeric":
        print(f"note: the kernel of {activation.spec} is numeric; the mpmath polish evaluates it by "
              "a 2-D trapezoidal rule at each step, which can take tens of minutes", file=sys.stderr)
    problem = api.Problem(activation, target, args.M)
    api.check_problem(problem, args.dps, args.restarts)
    path = args.checkpoint or (f"{args.out}.checkpoint.json" if args.out else None)
    checkpoint = None
    if path is not None:
        checkpoint = api.solve_checkpoint(problem, path, restarts=args.restarts, seed=args.seed,
                                          dps=args.dps, method=args.method)
        if checkpoint.resumed:
            print(f"resuming from {path}: {len(checkpoint.names('restart '))} of {args.restarts} "
                  "restarts done", file=sys.stderr)
    try:
        result = api.solve(problem, restarts=args.restarts, seed=args.seed, dps=args.dps,
                           jobs=args.jobs, method=args.method, checkpoint=checkpoint)
    except KeyboardInterrupt:
        if path is not None and os.path.isfile(path):  # solve() flushed what was finished
            print(f"compverify solve: the finished work is kept in {path}; run the same command "
                  "again to resume", file=sys.stderr)
        elif path is not None:
            print(f"compverify solve: interrupted before any restart finished; nothing was kept "
                  f"(no {path} written)", file=sys.stderr)
        raise
    print(result.summary())
    if args.out:
        data = result.to_dict()
        data["problem"] = {
            "inputs": {"activation": args.activation, "d": problem.d, "M": args.M,
                       "target": target_spec, "target_mean": args.target_mean,
                       "target_scale": args.target_scale},
            **data["problem"],
        }
        frame = api.frame_report(problem, result, seed=args.seed)
        if frame is not None:
            data["frame"] = frame
        atomic_write_json(args.out, data, dps=args.dps)
        print(f"  written: {args.out}", file=sys.stderr)
        if not args.no_plot:
            from compverify.report.plots import solve_figure, write_figure

            print(f"  written: {write_figure(args.out, solve_figure(data))}", file=sys.stderr)
    if args.export is not None:
        api.export_network(result, args.export, layers=args.layers, target=target_spec)
        print(f"  written: {args.export}", file=sys.stderr)
    if checkpoint is not None and args.out:  # the result is saved; without --out it is kept
        checkpoint.remove()
    return 0
