"""``compverify derive ACTIVATION``: the derived Gaussian kernel, its partials and the steps."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "derive", help="derive the Gaussian kernel E[sigma(<u,x>) sigma(<v,x>)] of an activation",
        description="ACTIVATION is a registry spec (relu, abs, step, sign, leaky_relu:0.1, "
                    "relu_power:2, erf, tanh, sigmoid, gelu, silu, polynomial:c0,c1,...) or a "
                    "quoted expression in z (numbers, z, + - * / **, Max, Min, Abs, Heaviside, "
                    "sign, erf, exp, tanh, log, sqrt).")
    p.add_argument("activation", metavar="ACTIVATION")
    p.add_argument("--format", choices=("text", "latex", "json"), default="text")
    p.set_defaults(func=run)


def derivation_dict(spec: str) -> dict:
    """The JSON object of ``derive --format json``."""
    from compverify.symbolic import get_activation
    from compverify.symbolic.steps import to_latex

    act = get_activation(spec)
    k = act.kernel
    closed = k.expr is not None
    return {
        "activation": act.spec, "sigma": str(act.expr), "route": k.route,
        "is_closed_form": closed,
        "kernel": str(k.expr) if closed else None,
        "kernel_latex": to_latex(k.expr) if closed else None,
        "partials": {n: str(e) for n, e in k.partials.items()} if closed else None,
        "partials_latex": {n: to_latex(e) for n, e in k.partials.items()} if closed else None,
        "steps": [st.to_dict() for st in k.steps],
        "note": None if closed else "no closed form: evaluated by numerical quadrature",
    }


def run(args: argparse.Namespace) -> int:
    out = derivation_dict(args.activation)
    if args.format == "json":
        print(json.dumps(out, indent=2))
        return 0
    if args.format == "latex":
        print(f"% compverify derive {out['activation']}: route {out['route']}")
        for i, st in enumerate(out["steps"], 1):
            print(f"% step {i}: {st['description']}\n\\[ {st['latex']} \\]")
        if out["kernel_latex"]:
            print(f"\\[ k(\\nu_u, \\nu_v, \\rho) = {out['kernel_latex']} \\]")
            for n, e in out["partials_latex"].items():
                print(f"\\[ \\partial_{{{n}}} k = {e} \\]")
        return 0
    print(f"activation  {out['activation']}   sigma(z) = {out['sigma']}")
    print(f"route       {out['route']}")
    for i, st in enumerate(out["steps"], 1):
        print(f"  {i}. {st['description']}")
        print(f"     {st['latex']}")
    if out["kernel"]:
        print(f"kernel      k(nu, nv, rho) = {out['kernel']}")
        for n, e in out["partials"].items():
            print(f"  d/d{n:<4} = {e}")
    else:
        print(f"kernel      {out['note']}")
    return 0
