r"""Interval branch-and-bound for the global minimum of the reduced objective (small d, M).

The reduced objective ``r = L*/C = 1 - q F``, ``F = 1' K(G)^-1 1`` (SPEC A3; centred isotropic
target, homogeneous activation) is a function of the slice angles ``x``
(:func:`compverify.numeric.rigorous_objective.slice_rows`); every configuration modulo ``O(d)``
has angles in the domain (:func:`domain`: ``[0, 13/4] ⊇ [0, pi]``, the last angle of rows
``j > d`` in ``[-13/4, 13/4]``; for ``d = 2`` every angle in ``[0, 403/64] ⊇ [0, 2 pi]``, the neurons
sorted counterclockwise from the largest gap, and the second gap at least the last, which a
rotation, a reflection and a relabeling always achieve).  The domain is
bisected (widest side first); a leaf's status is tried in the order :data:`LEAF_ORDER`, each
re-proved by :func:`~compverify.proofs_check.certificate_checker.leaf_status_ok`:

* ``s`` (d = 2) outside that fundamental region: a copy of a point inside;
* ``l`` inside the box of a strict-local-minimum certificate (one critical point, strictly
  convex there), or its convex box;
* ``g`` (d = 2) an empty arc longer than ``pi``: ``r >= (G - pi)/(2 pi)``
  (:func:`~compverify.numeric.rigorous_objective.relative_lower_gap_2d`); ``c`` (d = 3) an empty
  cap: ``r >= (1 - sin beta)/2`` (:func:`~compverify.numeric.rigorous_objective.relative_lower_cap_3d`);
  both for activations that vanish on a half-line, above the certified minimum;
* ``x`` excluded: an upper bound of ``F`` over the leaf (the Loewner bound, else the first-order
  centred form) below ``F`` at a certified local minimiser; ``t`` the same with the second-order
  Taylor form (:func:`~compverify.numeric.rigorous_objective.F_upper_taylor`);
* ``p``, ``q`` (d = 2, ReLU): the same in a divided-difference basis for one close pair, or for
  every close adjacent pair at once, where ``K`` is nearly singular (merging directions tend to
  a "dipole", not to ``M - 1`` neurons, so the value of fewer neurons is not the limit).

The checker also accepts ``d`` (two directions within ``delta`` over the whole leaf; the statement
then excludes that region), but the prover does not use it: a leaf that reaches the minimum width
with no status seeds a new local proof (Newton from its centre), and the search repeats.  The
result is a ``global minimum`` certificate (the global minimum of ``r`` lies in the union of the
local boxes, with the value enclosure of the local certificates), or a partial account (boxes,
time, settled fraction of the domain, leaves left).

>>> domain(2, 3)
[('0', '403/64'), ('0', '403/64')]
"""

from __future__ import annotations

import math
import resource
import time
from fractions import Fraction
from typing import Any

import flint
import numpy as np
from flint import arb
from scipy.optimize import minimize

from compverify.errors import CompverifyError
from compverify.numeric import rigorous_objective as ro
from compverify.proofs_check import certificate_checker as checker
from compverify.proofs_check import certificate_format as cf
from compverify.proofs_check.local_proof import PREC_BITS, prove_local_at

__all__ = ["domain", "prove_global", "COS_DELTA", "BOX_PREC_BITS"]

#: cos of the angle below which a pair of directions counts as coinciding (leaf status ``d``)
COS_DELTA = "0.9990234375"  # 1 - 2^-10
#: precision of the box evaluations (bits)
BOX_PREC_BITS = 64
#: the order in which a leaf's statuses are tried (cheapest and most frequent first)
LEAF_ORDER = ("s", "l", "g", "c", "x", "t", "p", "q")
#: leaves narrower than this (widest side) are not split further
MIN_WIDTH = 2.0 ** -18


def domain(d: int, M: int) -> list[tuple[str, str]]:
    """The angle domain (exact dyadic bounds, as fraction strings) of the branch-and-bound."""
    out = []
    for j in range(1, M):
        k = min(j, d - 1)
        for t in range(k):
            if d == 2:
                out.append(("0", "403/64"))
            elif j >= d and t == k - 1:
                out.append(("-13/4", "13/4"))
            else:
                out.append(("0", "13/4"))
    return out


def _float_r(spec: str, d: int, M: int, x: np.ndarray) -> float:
    with flint.ctx.workprec(53):
        try:
            return float(ro.relative_value(spec, d, ro.gram_of_angles(
                spec, d, M, [arb(float(t)) for t in x])).mid())
        except ZeroDivisionError:
            return 1.0


def _newton(spec: str, d: int, M: int, x0: list[float], iters: int = 40) -> list[arb] | None:
    """Newton on the gradient of ``r`` in ball arithmetic (midpoints); ``None`` if it diverges."""
    x = [arb(float(t)) for t in x0]
    with flint.ctx.workprec(PREC_BITS):
        for _ in range(iters):
            try:
                _, g, H = ro.relative_derivatives(spec, d, M, x)
                step = flint.arb_mat(H).solve(flint.arb_mat([[v] for v in g]))
            except ZeroDivisionError:
                return None
            x = [arb((x[i] - step[i, 0]).mid()) for i in range(len(x))]
            size = max(abs(float(step[i, 0].mid())) for i in range(len(x)))
            if not math.isfinite(size) or size > 10:
                return None
            if size < 1e-70:
                return x
    return x


def _local_minima_float(spec: str, d: int, M: int, starts: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lo = np.array([float(Fraction(a)) for a, _ in domain(d, M)])
    hi = np.array([float(Fraction(b)) for _, b in domain(d, M)])
    found = []
    for _ in range(starts):
        x0 = lo + (hi - lo) * rng.random(len(lo))
        res = minimize(lambda x: _float_r(spec, d, M, x), x0, method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
        found.append((res.fun, res.x))
    found.sort(key=lambda t: t[0])
    return [x for _, x in found]


def _sorted_copy(d: int, x: list[arb]) -> list[arb]:
    """For d = 2: the copy of the configuration in the fundamental region (u_1 at the start of a
    largest gap, counterclockwise, reflected if the last gap exceeds the second)."""
    if d != 2:
        return x
    with flint.ctx.workprec(PREC_BITS):
        two_pi = 2 * arb.pi()
        tp = float(two_pi.mid())

        def mod(t: arb) -> arb:
            return arb((t - math.floor(float(t.mid()) / tp) * two_pi).mid())

        al = sorted([arb(0)] + [mod(t) for t in x], key=lambda t: float(t.mid()))
        M = len(al)
        gaps = [float((al[(i + 1) % M] - al[i]).mid()) % tp for i in range(M)]
        i = max(range(M), key=lambda k: gaps[k])
        beta = [mod(al[(i + m) % M] - al[i]) for m in range(M)]
        if M >= 3 and float((two_pi - beta[M - 1]).mid()) > float((beta[2] - beta[1]).mid()):
            beta = [mod(beta[1] - beta[(1 - m) % M]) for m in range(M)]
        return beta[1:]


def prove_global(ps: dict, *, max_boxes: int = 200_000, time_limit: float = 600.0,
                 starts: int = 12, seed: int = 0) -> dict:
    """A ``global minimum`` certificate, or ``{"kind": "partial", "reason", "account"}``."""
    spec, d, M = ps["activation"], ps["d"], ps["M"]
    if not (d == 2 or (d, M) == (3, 4)):
        raise CompverifyError(f"the branch-and-bound handles d = 2 and (d, M) = (3, 4), not "
                              f"({d}, {M}): see docs/proofs.md for what larger cases take")
    t0 = time.perf_counter()
    order = list(range(M))
    local_certs: list[dict] = []
    best = _local_minima_float(spec, d, M, starts, seed)[0]
    x = _newton(spec, d, M, [float(v) for v in best])
    if x is None:
        raise CompverifyError("Newton from the best float local minimum diverged")
    local_certs.append(prove_local_at(ps, _sorted_copy(d, x), order, convex=True))
    seen_centers: list[list[float]] = []
    account: dict[str, Any] = {}
    for _round in range(8):
        out = _search(ps, local_certs, max_boxes, t0 + time_limit)
        account = out["account"]
        if out["candidates"] == [] and not out["budget_hit"]:
            # the account (informative: time, boxes/s, memory) is part of the digested body
            return _certificate(ps, local_certs, out, {
                **account, "seconds": round(time.perf_counter() - t0, 2)})
        if out["budget_hit"]:
            return {"kind": "partial", "reason": f"global minimum not proved: budget reached "
                    f"({account['boxes']} boxes, {account['seconds']} s, "
                    f"{account['resolved_fraction']:.1%} of the domain settled, "
                    f"{account['open']} boxes left open)", "account": account}
        new = 0
        for cand in out["candidates"]:
            c = [float(v) for v in cand]
            if any(max(abs(a - b) for a, b in zip(c, s, strict=True)) < 1e-3
                   for s in seen_centers):
                continue
            seen_centers.append(c)
            xn = _newton(spec, d, M, c)
            if xn is None:
                continue
            try:
                lc = prove_local_at(ps, xn, order, convex=True)
            except CompverifyError:
                continue
            local_certs.append(lc)
            new += 1
        if new == 0:
            return {"kind": "partial", "reason": f"global minimum not proved: "
                    f"{len(out['candidates'])} small leaves near no provable local minimum",
                    "account": account}
    return {"kind": "partial", "reason": "global minimum not proved: too many rounds",
            "account": account}


def _local_boxes(local_certs: list[dict]) -> list[list[tuple[arb, arb]]]:
    boxes = []
    for lc in local_certs:
        eps = arb(2) ** lc["box"]["radius_log2"]
        boxes.append([(checker.dyadic(p) - eps, checker.dyadic(p) + eps)
                      for p in lc["box"]["center"]])
    return boxes


def _search(ps: dict, local_certs: list[dict], max_boxes: int, deadline: float) -> dict:
    spec, d, M = ps["activation"], ps["d"], ps["M"]
    t0 = time.perf_counter()
    with flint.ctx.workprec(BOX_PREC_BITS):
        F_star = checker.f_star(spec, d, local_certs)
        lboxes = _local_boxes(local_certs)
        cos_delta = arb(Fraction(COS_DELTA).numerator) / Fraction(COS_DELTA).denominator
        dom = [(arb(Fraction(a).numerator) / Fraction(a).denominator,
                arb(Fraction(b).numerator) / Fraction(b).denominator) for a, b in domain(d, M)]
        stack = [dom]
        tree: list[str] = []
        status: list[str] = []
        candidates: list[list[float]] = []
        boxes = 0
        volume = 1.0
        for lo, hi in dom:
            volume *= float((hi - lo).mid())
        resolved = 0.0  # volume of the leaves with a status (the part of the domain settled)
        budget_hit = False
        while stack:
            box = stack.pop()
            boxes += 1
            if boxes > max_boxes or time.perf_counter() > deadline:
                budget_hit = True
                stack.append(box)
                break
            st = None
            for s in LEAF_ORDER:
                if checker.leaf_status_ok(spec, d, M, box, s, F_star, lboxes, cos_delta):
                    st = s
                    break
            widths = [float((hi - lo).mid()) for lo, hi in box]
            if st is None and max(widths) < MIN_WIDTH:
                candidates.append([float(((lo + hi) / 2).mid()) for lo, hi in box])
                st = "?"
            if st is not None:
                tree.append("0")
                status.append(st)
                if st != "?":
                    resolved += math.prod(widths)
                continue
            tree.append("1")
            i = max(range(len(box)), key=lambda t: ((box[t][1] - box[t][0]).mid(), -t))
            lo, hi = box[i]
            mid = (lo + hi) / 2
            left, right = list(box), list(box)
            left[i], right[i] = (lo, mid), (mid, hi)
            stack.append(right)
            stack.append(left)
    seconds = time.perf_counter() - t0
    counts = {c: status.count(c) for c in "xtgcqpsld?"}
    account = {"boxes": boxes, "seconds": round(seconds, 2),
               "boxes_per_second": round(boxes / max(seconds, 1e-9), 1),
               "open": len(stack), "excluded": counts["x"],
               "excluded_pair_basis": counts["p"] + counts["q"],
               "excluded_taylor": counts["t"], "excluded_gap": counts["g"] + counts["c"],
               "symmetric_copies": counts["s"],
               "in_local_boxes": counts["l"], "unresolved_degenerate": counts["d"],
               "small_leaves": counts["?"],
               "resolved_fraction": round(resolved / volume, 6),
               "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "local_minima": len(local_certs)}
    return {"tree": "".join(tree), "status": "".join(status), "candidates": candidates,
            "budget_hit": budget_hit, "account": account}


def _certificate(ps: dict, local_certs: list[dict], out: dict, account: dict) -> dict:
    spec, d, M = ps["activation"], ps["d"], ps["M"]
    acc = out["account"]
    claims = {"leaves": len(out["status"]), "excluded": acc["excluded"],
              "excluded_pair_basis": acc["excluded_pair_basis"],
              "excluded_taylor": acc["excluded_taylor"], "excluded_gap": acc["excluded_gap"],
              "symmetric_copies": acc["symmetric_copies"], "in_local_boxes": acc["in_local_boxes"],
              "unresolved_degenerate": acc["unresolved_degenerate"],
              "relative_value": checker.value_hull(local_certs)}
    where = ("over every configuration" if acc["unresolved_degenerate"] == 0 else
             f"over the configurations with no two directions within angle delta "
             f"(cos delta = {COS_DELTA}; {acc['unresolved_degenerate']} leaves of that region "
             "unresolved)")
    statement = (f"For sigma = {spec} and the centred isotropic Gaussian target in d = {d}, "
                 f"M = {M}: {where}, the global minimum of r = L*/C lies in the union of the "
                 f"{len(local_certs)} local certificates' boxes, with r in "
                 f"[{claims['relative_value'][0]}, {claims['relative_value'][1]}].")
    return cf.finish({"kind": "global minimum", "statement": statement, "problem": dict(ps),
                      "prec_bits": BOX_PREC_BITS, "domain": [list(t) for t in domain(d, M)],
                      "degenerate_cos_delta": COS_DELTA, "tree": out["tree"],
                      "leaf_status": out["status"], "local_certificates": local_certs,
                      "claims": claims, "account": account})
