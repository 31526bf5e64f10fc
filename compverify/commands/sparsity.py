"""``compverify sparsity``: the PQ index and retained-count bound of a network, or of a law.

``compverify sparsity NET --p 0.5 --q 1 [--eta 0] [--dps D]``: per neuron and for the whole
first layer, the PQ index ``I_{p,q}`` and the retained-count bound (float64, or mpmath at ``D``
digits checked at ``D + 10``).  ``compverify sparsity --law LAW --p 0.5 --q 1 --dps 30``: the
population limit ``1 - I -> (E|w|^p)^(1/p) / (E|w|^q)^(1/q)`` from the SymPy-derived moments,
and the finite-n values of seeded samples converging to it.  Both print JSON on standard output
(reals as decimal strings) and write it with ``--out FILE`` (atomically), with its figure next
to it (same stem, ``.png``: the per-neuron PQ indices, or the finite-n values against the limit;
``--no-plot`` skips it).
"""

from __future__ import annotations

import argparse
import json

from compverify.errors import CompverifyError

#: Sample sizes of the finite-n convergence shown with ``--law``.
FINITE_N = (100, 1000, 10000, 100000)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sparsity",
        help="PQ index and retained-count bound of a network, or the population limit of a law",
        description="Soft sparsity by the PQ index I_{p,q}(w) = 1 - n^(1/q-1/p) |w|_p/|w|_q "
                    "(0 < p < q) and the retained-count bound r = ceil(n (1+eta)^(q/(p-q)) "
                    "(1-I)^(qp/(q-p))), per neuron and per layer; or, with --law, the population "
                    "limit (E|w|^p)^(1/p)/(E|w|^q)^(1/q) from SymPy-derived moments.")
    p.add_argument("network", nargs="?", default=None,
                   help="PATH.npz (arrays a, W), PATH.safetensors (torch weights 0.weight, "
                        "2.weight), a solve result .json, or iid:LAW with --N --d")
    p.add_argument("--law", default=None,
                   help="gaussian | laplace | uniform | rademacher | student-t:NU | "
                        "bernoulli-gaussian:PI (population limit instead of a network)")
    p.add_argument("--p", default="0.5", help="exponent p, 0 < p < q (default 0.5)")
    p.add_argument("--q", default="1", help="exponent q (default 1)")
    p.add_argument("--eta", default="0", help="tolerance eta >= 0 of the bound (default 0)")
    p.add_argument("--dps", type=int, default=None,
                   help="decimal digits (mpmath, checked at dps + 10); default float64 for a "
                        "network, 30 for --law")
    p.add_argument("--N", type=int, default=None, help="neurons of an iid:LAW network")
    p.add_argument("--d", type=int, default=None, help="input dimension of an iid:LAW network")
    p.add_argument("--seed", type=int, default=0, help="seed of iid:LAW draws (default 0)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="also write the JSON to FILE, and its figure as FILE's stem + .png")
    p.add_argument("--no-plot", action="store_true", help="do not write the figure")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from compverify.io import atomic_write_text, check_output_file, to_jsonable
    from compverify.validate import check_dps

    if args.out is not None:  # before any work
        check_output_file(args.out, option="--out")
        if not args.no_plot:
            from compverify.report.plots import figure_path

            check_output_file(figure_path(args.out), option="--out (its figure)")
    if (args.network is None) == (args.law is None):
        raise CompverifyError("give either a network (NET.npz, solve .json, iid:LAW) or --law, "
                              "not both and not neither")
    if args.dps is not None:
        check_dps(args.dps, name="--dps")
    if args.law is not None:
        from compverify.numeric.pq_index import finite_n_convergence
        from compverify.symbolic.lq_moments import population_one_minus_index

        pop = population_one_minus_index(args.law, args.p, args.q, dps=args.dps or 30)
        data = pop.to_dict()
        data["finite_n"] = finite_n_convergence(args.law, args.p, args.q, FINITE_N,
                                                seed=args.seed, limit=pop.value)
    else:
        from compverify.numeric.pq_index import network_sparsity
        from compverify.numeric.pruning import check_network
        from compverify.numeric.pruning_networks import network_from_spec

        net = network_from_spec(args.network, N=args.N, d=args.d, seed=args.seed)
        check_network(net.a, net.W)
        data = {"network": net.describe(),
                **network_sparsity(net.W, args.p, args.q, args.eta, dps=args.dps)}
    text = json.dumps(to_jsonable(data, args.dps), indent=2) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
        if not args.no_plot:
            from compverify.report.plots import sparsity_figure, write_figure

            write_figure(args.out, sparsity_figure(json.loads(text)))
    print(text, end="")
    return 0
