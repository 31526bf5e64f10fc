"""``compverify lossless match|spectra``: the NTK "lossless" ternary compression, checked.

``match``: the Gaussian moments of every layer of an ``L``-layer network at its scale, the binary
matching systems solved at ``--dps`` digits (roots with residuals, Jacobian singular values,
symmetric copies, verified digits), a solvability verdict per layer with a certificate when no
root exists.  ``spectra``: the spectral-equivalence experiment over ``--n`` (JSON, CSV, PNG);
with ``--dask local:N | tcp://HOST:PORT`` the sizes run on a Dask cluster (the same files; this
process alone writes the checkpoint and the outputs).  Both resumable (``--checkpoint``,
default ``OUT.checkpoint.json``), with progress on stderr.  Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io as _io
import math
import sys
from pathlib import Path
from typing import Any

import mpmath

from compverify.errors import CompverifyError
from compverify.validate import MAX_DPS, check_dps, check_positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lossless", help='NTK "lossless" ternary compression: moment '
                              "matching at high precision, spectral equivalence")
    sub = p.add_subparsers(dest="lossless_command", metavar="{match,spectra}")
    m = sub.add_parser("match", help="match each layer's moments with a binary activation")
    _common(m)
    m.add_argument("--dps", type=int, default=40, help=f"digits (default 40; 15 to {MAX_DPS})")
    m.add_argument("--starts", type=int, default=30, help="multi-start points per system (default 30)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--tau-mode", default="original", choices=("original", "propagated"),
                   help="binary moments at the original network's tau (default) or at the "
                        "compressed network's propagated tau (the published code)")
    m.add_argument("--certify", default="auto", choices=("auto", "none"),
                   help="certificates for systems without a root (default auto)")
    m.add_argument("--out", default=None, metavar="FILE")
    m.add_argument("--no-plot", action="store_true",
                   help="do not write the figure (.png: each layer's activation and its match) "
                        "next to the JSON")
    m.add_argument("--checkpoint", default=None, metavar="FILE")
    m.set_defaults(func=run_match)
    s = sub.add_parser("spectra", help="spectral-equivalence experiment (CK or NTK) over growing n")
    _common(s)
    s.add_argument("--n", required=True, help="comma-separated sample sizes, e.g. 512,1024,2048")
    s.add_argument("--ratio", type=float, default=2.0, help="n/p (default 2)")
    s.add_argument("--width", type=float, default=2.0, help="hidden width / n (default 2)")
    s.add_argument("--eps", type=float, default=0.5, help="sparsity of the ternary weights (0.5)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--kernel", default="ck", choices=("ck", "ntk"),
                   help="conjugate kernel (default) or neural tangent kernel")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--no-plot", action="store_true",
                   help="do not write histogram.png and decay.png")
    s.add_argument("--checkpoint", default=None, metavar="FILE")
    s.add_argument("--dask", default=None, metavar="WHERE",
                   help="compute the sizes on Dask: local:N (N worker processes here) or "
                        "tcp://HOST:PORT (a running scheduler); same files as without it "
                        "(needs pip install 'compverify[dask]')")
    s.set_defaults(func=run_spectra)
    p.set_defaults(func=lambda args: _help(p))


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", default="relu", help="activation spec (default relu)")
    p.add_argument("--layers", type=int, default=2, help="depth L (default 2)")
    p.add_argument("--tau0", default="1", help="input scale tau0 > 0 (default 1)")


def _tau0(text: str) -> mpmath.mpf:
    from compverify.numeric.lossless_moments import check_tau

    return check_tau(text, "--tau0")


@contextlib.contextmanager
def _keep_on_interrupt(ck, path: str | None, command: str):
    """On Ctrl-C, write the finished pieces to the checkpoint and say so; then re-raise."""
    try:
        yield
    except KeyboardInterrupt:
        if ck is not None:
            ck.flush()
            if ck.entries:
                print(f"\ncompverify {command}: the finished work is kept in {path}; run the same "
                      "command again to resume", file=sys.stderr)
        raise


def run_match(args: argparse.Namespace) -> int:
    from compverify.io import atomic_write_json
    from compverify.numeric.checkpoint import Checkpoint
    from compverify.numeric.lossless_matching import match_network
    from compverify.proofs_check.lossless_certificates import match_json
    from compverify.symbolic import get_activation

    check_positive_int(args.layers, "--layers")
    dps = check_dps(args.dps, name="--dps", minimum=15, maximum=MAX_DPS)
    check_positive_int(args.starts, "--starts")
    if args.out:  # before any work
        from compverify.io import check_output_file

        check_output_file(args.out, option="--out")
        if not args.no_plot:
            from compverify.report.plots import figure_path

            check_output_file(figure_path(args.out), option="--out (its figure)")
    tau0 = _tau0(args.tau0)
    spec = get_activation(args.activation).spec
    path = args.checkpoint or (f"{args.out}.checkpoint.json" if args.out else None)
    ck = None
    if path:
        ck = Checkpoint(path, {"command": "lossless match", "activation": spec, "layers": args.layers,
                               "tau0": args.tau0, "dps": dps, "starts": args.starts, "seed": args.seed,
                               "tau_mode": args.tau_mode})

    def progress(layer: int, i: int) -> None:
        if i % 10 == 0:
            print(f"\rlayer {layer}/{args.layers}: start {i}/{args.starts}", end="", file=sys.stderr)

    if ck is not None and ck.resumed:
        print(f"resuming from {path}: {ck.resumed} system(s) done", file=sys.stderr)
    with _keep_on_interrupt(ck, path, "lossless match"):
        matches = match_network(spec, args.layers, tau0, dps=dps, starts=args.starts, seed=args.seed,
                                tau_mode=args.tau_mode, progress=progress, cache=ck)
    print("", file=sys.stderr)
    layers = match_json(matches, dps, args.certify == "auto")
    for L in layers:
        b = L["binary"]
        verdict = "solvable" if b["solvable"] else "no solution"
        extra = f", {len(b['roots'])} root(s)" if b["solvable"] else (
            f", residual >= {b['residual_lower_bound']}" if "residual_lower_bound" in b else "")
        print(f"layer {L['layer']} (tau = {L['tau'][:12]}): {b['kind']}: {verdict}{extra}")
    data = {"activation": spec, "layers": layers, "tau0": args.tau0, "dps": dps,
            "tau_mode": args.tau_mode, "starts": args.starts, "seed": args.seed}
    if args.out:
        atomic_write_json(args.out, data)
        print(f"  written: {args.out}", file=sys.stderr)
        if not args.no_plot:
            from compverify.report.lossless_plot import match_figure
            from compverify.report.plots import write_figure

            print(f"  written: {write_figure(args.out, match_figure(data))}", file=sys.stderr)
        if ck is not None:
            ck.remove()
    return 0


def _ns(text: str) -> list[int]:
    try:
        ns = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise CompverifyError(f"--n must be comma-separated integers, got {text!r}") from None
    if not ns:
        raise CompverifyError(f"--n is empty: {text!r}")
    return ns


def _ternary(spec: str, layers: int, tau0: mpmath.mpf) -> list | None:
    """Per layer ``(kind, params, d0)`` of the compressed network (a quick 12-start match)."""
    from compverify.numeric.lossless_matching import binary_moment_values, match_network

    matches = match_network(spec, layers, tau0, dps=20, starts=12, tau_mode="propagated")
    out = []
    for lm in matches:
        sol = lm.solutions[0] if lm.solutions else None
        pt = (sol.roots[0] if sol and sol.roots else (sol.least_squares if sol else None))
        if pt is None:
            return None
        params = tuple(pt.x) if lm.kind == "binary" else (*pt.x, lm.b)
        d0 = binary_moment_values(lm.kind, params, lm.tau, 20)["d0"]
        out.append((lm.kind, params, d0))
    return out


def run_spectra(args: argparse.Namespace) -> int:
    from compverify.symbolic import get_activation

    check_positive_int(args.layers, "--layers")
    if args.dask is not None:  # a malformed spec fails before any work
        from compverify.cluster import parse_dask

        parse_dask(args.dask)
    ns = _ns(args.n)
    if not (args.ratio > 0 and math.isfinite(args.ratio)):
        raise CompverifyError(f"--ratio must be a positive number, got {args.ratio}")
    if not (args.width > 0 and math.isfinite(args.width)):
        raise CompverifyError(f"--width must be a positive number, got {args.width}")
    if not 0 <= args.eps < 1:  # before the ternary match and before --out is created
        raise CompverifyError(f"--eps must be in [0, 1), got {args.eps}")
    from compverify.numeric.lossless_spectra import MIN_N, MIN_P
    from compverify.validate import check_memory
    for n in ns:
        if n < MIN_N or round(n / args.ratio) < MIN_P:
            raise CompverifyError(f"--n {n} with --ratio {args.ratio} gives p = {round(n / args.ratio)}"
                                  f": need n >= {MIN_N} and p >= {MIN_P}")
        # the n x n kernel matrices and the (width n) x n hidden features, a few copies
        check_memory(8.0 * 4 * n * n * (1 + args.width), f"lossless spectra with n = {n}")
    spec = get_activation(args.activation).spec
    tau0 = _tau0(args.tau0)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CompverifyError(f"--out {args.out!r} exists and is not a directory")
    from compverify.io import check_writable_directory

    check_writable_directory(out.resolve().parent, path=args.out)  # no silent parent directories
    with contextlib.ExitStack() as stack:
        client = None
        if args.dask is not None:  # connect first: an unreachable scheduler fails before any work
            from compverify.cluster import connect

            client = stack.enter_context(connect(args.dask))
        return _spectra_into(out, args, spec, tau0, ns, client)


def _spectra_into(out: Path, args: argparse.Namespace, spec: str, tau0: mpmath.mpf,
                  ns: list[int], client: Any) -> int:
    from compverify.io import atomic_write_bytes, atomic_write_json, atomic_write_text
    from compverify.numeric.checkpoint import Checkpoint
    from compverify.numeric.lossless_spectra import run_spectra as experiment

    out.mkdir(exist_ok=True)
    path = args.checkpoint or str(out / "spectra.checkpoint.json")
    ck = Checkpoint(path, {"command": "lossless spectra", "activation": spec, "layers": args.layers,
                           "n": ns, "ratio": args.ratio, "width": args.width, "eps": args.eps,
                           "seed": args.seed, "kernel": args.kernel, "tau0": args.tau0})

    def progress(k: int, total: int, n: int, seconds: float) -> None:
        print(f"n = {n} done ({k}/{total}, {seconds:.1f} s)", file=sys.stderr)

    if ck.resumed:
        print(f"resuming from {path}: {len(ck.names('n '))} size(s) done", file=sys.stderr)
    ternary = _ternary(spec, args.layers, tau0)
    with _keep_on_interrupt(ck, path, "lossless spectra"):
        result = experiment(spec, args.layers, ns, args.ratio, ternary=ternary, width=args.width,
                            eps=args.eps, seed=args.seed, progress=progress, cache=ck,
                            tau0=float(tau0), kernel=args.kernel, dask=client)
    result["ternary"] = None if ternary is None else [
        {"kind": k, "params": [mpmath.nstr(v, 20) for v in p], "d0": mpmath.nstr(d, 20)}
        for k, p, d in ternary]
    atomic_write_json(out / "spectra.json", result)
    buf = _io.StringIO()
    keys = [k for k in result["points"][0]
            if k not in ("alignment", "widths") and not k.endswith("_spectral")]
    w = csv.writer(buf)
    w.writerow(keys)
    for pt in result["points"]:
        w.writerow([pt.get(k, "") for k in keys])  # a size resumed from an older checkpoint
    atomic_write_text(out / "spectra.csv", buf.getvalue())
    from compverify.report.lossless_plot import decay_png, histogram_png
    if not args.no_plot:
        atomic_write_bytes(out / "histogram.png", histogram_png(result))
        atomic_write_bytes(out / "decay.png", decay_png(result))
    for name, fit in result["fits"].items():
        if fit.get("slope") is not None:
            print(f"{name}: slope {fit['slope']:.3f}, 95% CI [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]")
    print(f"  written: {out}/spectra.json, spectra.csv"
          + ("" if args.no_plot else ", histogram.png, decay.png"), file=sys.stderr)
    ck.remove()
    return 0
