r"""The certificate checker: re-checks a proof certificate from scratch with ball arithmetic.

It imports python-flint and :mod:`compverify.numeric.rigorous_objective` (the ball evaluation of
the reduced objective) and nothing of the solver or the provers.  :func:`check` returns
``(True, "valid")`` or ``(False, "<first failing step>")``.  Every claimed number is recomputed and
must equal the canonical rounding of the recomputation (a changed digit fails), and the digest
(SHA-256 of the canonical JSON without the digest) catches any other edit.

Kinds and what is checked (numbers are decimal strings; dyadics are ``[mantissa, exponent]``):

``strict local minimum``
    box ``X = c + [-2^k, 2^k]^n`` in the slice angles (optionally a larger convex box, its
    Hessian certified positive definite on a grid of sub-boxes); the Krawczyk image
    ``c - Y g(c) + (I - Y H(X))(X - c)``, ``Y`` the midpoints of ``H(c)^-1``, lies within
    ``image_radius < 2^k`` of ``c`` (so exactly one critical point in ``X``); Cholesky of
    ``H(X) - mu I`` succeeds (``lambda_min >= mu > 0`` on ``X``); the value enclosure
    ``r(c) - delta' H(X) delta / 2`` and ``L* = C r``.
``ETF not optimal``
    the sign pattern ``S`` of an ETF (``S^2 = (M-1) I + c S`` with integer ``c`` and
    ``c^2 alpha^2 = (M/d - 2)^2``, which makes ``G = I + alpha S`` satisfy ``G^2 = (M/d) G``:
    rank ``d``, unit diagonal, so a Gram of ``M`` unit vectors in ``R^d``); all ``2^(M-1)``
    switchings ``D S D`` (``D_11 = 1``) evaluated; the point's value (rows normalised) is below
    the smallest of them.
``bundle``
    a list of certificates, each checked as above.
``global minimum``
    the bisection tree over the angle domain (preorder, ``1`` split the widest side, lowest
    index first, ``0`` leaf) tiles the domain; each leaf is ``x`` (excluded: the upper bound of
    ``F`` over it is below the certified ``F`` at the local minimum), ``s`` (outside the sorted
    region ``t_2 <= ... <= t_M``, d = 2, a permuted copy of a point inside), ``l`` (inside one of
    the local certificates' boxes) or ``d`` (unresolved, and some pair of directions is within
    angle ``delta`` of coinciding over the whole leaf); the counts match the claims.

>>> ok, why = check({"format": "nonsense"})
>>> ok, why
(False, 'format: expected compverify-certificate/1')
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from typing import Any

import flint
from flint import arb, arb_mat

from compverify.numeric import rigorous_objective as ro

__all__ = ["FORMAT", "check", "digest", "dyadic", "local_claims", "is_general", "general_objective",
           "derivatives_of", "n_coordinates", "constant_of", "etf_claims", "scale_abar",
           "leaf_boxes", "leaf_status_ok", "f_star", "value_hull"]

FORMAT = "compverify-certificate/1"


class Invalid(Exception):
    """A failing step (its message is what ``certify`` prints after ``invalid:``)."""


def digest(cert: dict) -> str:
    """``sha256:`` of the canonical JSON (sorted keys, no spaces) of everything but ``digest``."""
    body = {k: v for k, v in cert.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def dyadic(pair: Any) -> arb:
    """The exact ball ``m 2^e`` of a ``[m, e]`` pair of integers."""
    if (not isinstance(pair, list) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise Invalid(f"{pair!r} is not a dyadic [mantissa, exponent]")
    if abs(pair[1]) > 100000:
        raise Invalid(f"dyadic exponent {pair[1]} out of range")
    return arb(pair[0]) * arb(2) ** pair[1]


def _frac(text: Any, what: str) -> Fraction:
    try:
        return Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        raise Invalid(f"{what} {text!r} is not a number") from None


def _ball(q: Fraction) -> arb:
    return arb(q.numerator) / q.denominator


def scale_abar(problem: dict) -> tuple[arb, arb]:
    """The target's ``s`` (``"1/sqrt(d)"`` or a decimal) and ``abar`` as balls."""
    t = problem["target"]
    s = t["scale"]
    scale = 1 / arb(problem["d"]).sqrt() if s == "1/sqrt(d)" else _ball(_frac(s, "scale"))
    return scale, _ball(_frac(t["abar"], "abar"))


def _pair(x: arb) -> list[str]:
    return [ro.decimal_down(x, 25), ro.decimal_up(x, 25)]


# ---------------------------------------------------------------- strict local minimum


def is_general(problem: dict) -> bool:
    """Whether the problem is one of :mod:`compverify.numeric.rigorous_general` (polynomial
    activation or finite target, in a chart), not the centred isotropic Gram-matrix objective."""
    return problem.get("objective") == "general"


def general_objective(problem: dict) -> Any:
    """The :class:`~compverify.numeric.rigorous_general.GeneralObjective` of a general problem."""
    from compverify.numeric.rigorous_general import GeneralObjective

    return GeneralObjective(problem["activation"], problem["d"], problem["M"], problem["target"],
                            problem["chart"])


def derivatives_of(problem: dict) -> Any:
    """``x -> (r, grad, Hessian)`` (balls) of the problem's reduced objective in its coordinates."""
    if is_general(problem):
        obj = general_objective(problem)
        return obj.derivatives
    spec, d, M = problem["activation"], problem["d"], problem["M"]
    return lambda x, order=2: ro.relative_derivatives(spec, d, M, x, order)


def n_coordinates(problem: dict) -> int:
    """Number of coordinates of the problem's chart."""
    if is_general(problem):
        return general_objective(problem).n
    return ro.n_coords(problem["d"], problem["M"])


def constant_of(problem: dict) -> arb:
    """``C = E f^2`` of the problem's target, as a ball."""
    if is_general(problem):
        return general_objective(problem).constant_C()
    spec, d = problem["activation"], problem["d"]
    scale, abar = scale_abar(problem)
    return ro.constant_C(spec, d, scale, abar)


def _krawczyk(deriv: Any, center: list[arb], eps: arb) -> tuple[arb, list[list[arb]], arb]:
    """Radius of the Krawczyk image of ``c + [-eps, eps]^n`` about ``c``, ``H(X)`` and ``r(c)``."""
    n = len(center)
    try:
        r_c, g_c, H_c = deriv(center)
        _, _, H_X = deriv([c + arb(0, eps) for c in center])
        Yb = arb_mat(H_c).inv()
    except ZeroDivisionError:
        raise Invalid("K or the Hessian is not proved invertible over the box") from None
    Y = arb_mat([[arb(Yb[i, j].mid()) for j in range(n)] for i in range(n)])  # any fixed matrix
    ident = arb_mat([[1 if i == j else 0 for j in range(n)] for i in range(n)])
    image = -(Y * arb_mat([[g] for g in g_c])) + (ident - Y * arb_mat(H_X)) * arb_mat(
        [[arb(0, eps)] for _ in range(n)])
    rad = arb(0)
    for i in range(n):
        rad = rad.max(arb(image[i, 0].abs_upper()))
    return rad, H_X, r_c


def local_claims(problem: dict, center: list[arb], k: int, k_value: int, mu_text: str) -> dict:
    """The canonical claims of a local certificate, recomputed (raises :class:`Invalid`).

    ``2^k``: the box of uniqueness and convexity; ``2^k_value <= 2^k``: a small box around the same
    center, also passing the Krawczyk test, that gives the value enclosure.
    """
    deriv = derivatives_of(problem)
    n = len(center)
    if not k_value <= k:
        raise Invalid("box: value_radius_log2 must not exceed radius_log2")
    eps = arb(2) ** k
    rad, H_X, _ = _krawczyk(deriv, center, eps)
    if not rad < eps:
        raise Invalid("the Krawczyk image is not inside the box: no unique critical point proved")
    mu = _frac(mu_text, "hessian_min_eigenvalue_lower")
    if not mu > 0 or not ro.cholesky_ok(H_X, _ball(mu)):
        raise Invalid(f"Cholesky of H(X) - {mu_text} I failed: the Hessian bound does not hold")
    # the unique critical point also lies in the small box (its own Krawczyk test), so the value
    # r(x*) = r(c) - (c - x*)' H(xi) (c - x*) / 2 with xi in the small box
    eps_v = arb(2) ** k_value
    rad_v, H_v, r_c = _krawczyk(deriv, center, eps_v)
    if not rad_v < eps_v:
        raise Invalid("the Krawczyk image of the value box is not inside it")
    delta = [arb(0, rad_v) for _ in range(n)]
    value = r_c - sum((delta[a] * H_v[a][b] * delta[b] for a in range(n) for b in range(n)),
                      arb(0)) / 2
    C = constant_of(problem)
    return {"krawczyk_image_radius_upper": ro.decimal_up(rad, 6),
            "value_box_image_radius_upper": ro.decimal_up(rad_v, 6),
            "hessian_min_eigenvalue_lower": mu_text,
            "relative_value": _pair(value), "value": _pair(C * value)}


def _check_local(cert: dict) -> None:
    problem = cert["problem"]
    box = cert["box"]
    center = [dyadic(p) for p in box["center"]]
    n = n_coordinates(problem)
    if len(center) != n:
        raise Invalid(f"box: {len(center)} center coordinates, {n} expected")
    k = box["radius_log2"]
    if not isinstance(k, int) or not -4000 < k < 0:
        raise Invalid(f"box: radius_log2 {k!r} must be a negative integer")
    kv = box["value_radius_log2"]
    if not isinstance(kv, int) or not -4000 < kv < 0:
        raise Invalid(f"box: value_radius_log2 {kv!r} must be a negative integer")
    mu = str(cert["claims"]["hessian_min_eigenvalue_lower"])
    _compare(cert["claims"], local_claims(problem, center, k, kv, mu))
    if "convex_radius_log2" in box:
        _check_convex(problem, center, k, box["convex_radius_log2"], box["convex_split"])


def convex_box(center: list[arb], kc: int) -> list[tuple[arb, arb]]:
    """The box ``c + [-2^kc, 2^kc]^n``."""
    eps = arb(2) ** kc
    return [(c - eps, c + eps) for c in center]


def _check_convex(problem: dict, center: list[arb], k: int, kc: Any, split: Any) -> None:
    """The Hessian is positive definite on every one of ``split^n`` equal sub-boxes of the convex
    box ``c + [-2^kc, 2^kc]^n`` (``kc >= k``), so ``r`` is strictly convex there and the critical
    point of the Krawczyk box is the only minimiser (and critical point) in the convex box."""
    if not isinstance(kc, int) or not isinstance(split, int) or not k <= kc < 4 or not (
            1 <= split <= 64):
        raise Invalid("box: convex_radius_log2 must be an integer >= radius_log2, convex_split in "
                      "[1, 64]")
    deriv = derivatives_of(problem)
    n = len(center)
    box = convex_box(center, kc)
    step = (arb(2) ** (kc + 1)) / split
    idx = [0] * n
    while True:
        sub = [box[a][0] + step * idx[a] for a in range(n)]
        x = [lo + step / 2 + arb(0, (step / 2).upper()) for lo in sub]
        try:
            _, _, H = deriv(x)
        except ZeroDivisionError:
            raise Invalid(f"convex box: K not proved invertible on sub-box {idx}") from None
        if not ro.cholesky_ok(H):
            raise Invalid(f"convex box: Hessian not proved positive definite on sub-box {idx}")
        a = 0
        while a < n and idx[a] == split - 1:
            idx[a] = 0
            a += 1
        if a == n:
            return
        idx[a] += 1


def _compare(claimed: dict, recomputed: dict) -> None:
    for key, val in recomputed.items():
        if claimed.get(key) != val:
            raise Invalid(f"claim {key}: certificate says {claimed.get(key)!r}, recomputed {val!r}")


# ---------------------------------------------------------------- ETF not optimal


def _etf_gram_ok(S: list[list[int]], d: int, M: int, alpha2: Fraction) -> None:
    if (len(S) != M or any(len(r) != M for r in S)
            or any(not isinstance(v, int) or isinstance(v, bool) for r in S for v in r)):
        raise Invalid("etf.sign_pattern must be an M x M matrix of integers")
    for j in range(M):
        if S[j][j] != 0 or any(S[j][k] not in (-1, 1) or S[j][k] != S[k][j]
                               for k in range(M) if k != j):
            raise Invalid("etf.sign_pattern must be symmetric, 0 on the diagonal, +-1 elsewhere")
    if alpha2 != Fraction(M - d, d * (M - 1)):
        raise Invalid(f"etf.alpha_squared {alpha2} is not the Welch bound (M-d)/(d(M-1))")
    S2 = [[sum(S[i][t] * S[t][j] for t in range(M)) for j in range(M)] for i in range(M)]
    c = S2[0][1] * S[0][1]  # S^2 = (M-1) I + c S, checked entry by entry
    if any(S2[i][j] != ((M - 1) if i == j else c * S[i][j]) for i in range(M) for j in range(M)):
        raise Invalid("etf.sign_pattern: S^2 is not (M-1) I + c S")
    # (I + alpha S)^2 = (1 + alpha^2 (M-1)) I + (2 alpha + alpha^2 c) S = (M/d)(I + alpha S) iff
    # 1 + alpha^2 (M-1) = M/d (the Welch bound, checked above) and alpha c = M/d - 2
    target = Fraction(M, d) - 2
    if Fraction(c) ** 2 * alpha2 != target ** 2 or (c > 0) != (target > 0) or (c < 0) != (
            target < 0):
        raise Invalid("etf.sign_pattern: I + alpha S is not (M/d) times a projection of rank d")


def etf_claims(problem: dict, rows: list[list[str]], S: list[list[int]], alpha2: Fraction
               ) -> dict:
    """Canonical claims of an ``ETF not optimal`` certificate, recomputed."""
    spec, d, M = problem["activation"], problem["d"], problem["M"]
    _etf_gram_ok(S, d, M, alpha2)
    if len(rows) != M or any(len(r) != d for r in rows):
        raise Invalid(f"point: {M} rows of {d} numbers expected")
    U = [[_ball(_frac(x, "point entry")) for x in r] for r in rows]
    norms = [sum((x * x for x in r), arb(0)).sqrt() for r in U]
    if not all(n > 0 for n in norms):
        raise Invalid("point: a row is zero")
    U = [[x / n for x in r] for r, n in zip(U, norms, strict=False)]
    G = [[sum((a * b for a, b in zip(U[j], U[k], strict=False)), arb(0)) if j != k else arb(1)
          for k in range(M)] for j in range(M)]
    try:
        found = ro.relative_value(spec, d, G)
    except ZeroDivisionError:
        raise Invalid("K at the point is not proved invertible") from None
    alpha = _ball(alpha2).sqrt()
    best = None
    for mask in range(2 ** (M - 1)):
        D = [1] + [(-1 if (mask >> (j - 1)) & 1 else 1) for j in range(1, M)]
        Gs = [[arb(1) if j == k else alpha * (D[j] * S[j][k] * D[k]) for k in range(M)]
              for j in range(M)]
        try:
            v = ro.relative_value(spec, d, Gs)
        except ZeroDivisionError:
            raise Invalid(f"K of switching {mask} is not proved invertible") from None
        best = v if best is None else best.min(v)
    if not found < best:
        raise Invalid("the point's value is not proved below the best value on the ETF")
    scale, abar = scale_abar(problem)
    C = ro.constant_C(spec, d, scale, abar)
    return {"relative_value_point": _pair(found), "relative_value_etf_best": _pair(best),
            "value_point": _pair(C * found), "value_etf_best": _pair(C * best),
            "relative_gap_lower": ro.decimal_down(best - found, 6),
            "switchings_evaluated": 2 ** (M - 1)}


def _check_etf(cert: dict) -> None:
    etf = cert["etf"]
    claims = etf_claims(cert["problem"], cert["point"], etf["sign_pattern"],
                        _frac(etf["alpha_squared"], "alpha_squared"))
    _compare(cert["claims"], claims)


# ---------------------------------------------------------------- global minimum


def leaf_boxes(domain: list[list[arb]], tree: str) -> list[list[tuple[arb, arb]]]:
    """Leaves of the bisection ``tree`` (preorder) over ``domain``; raises on a malformed tree."""
    leaves: list[list[tuple[arb, arb]]] = []
    stack = [[(lo, hi) for lo, hi in domain]]
    pos = 0
    while stack:
        if pos >= len(tree):
            raise Invalid("tree ends early: the leaves do not tile the domain")
        box = stack.pop()
        bit = tree[pos]
        pos += 1
        if bit == "0":
            leaves.append(box)
        elif bit == "1":
            widths = [hi - lo for lo, hi in box]
            i = max(range(len(box)), key=lambda t: (widths[t].mid(), -t))
            lo, hi = box[i]
            mid = (lo + hi) / 2
            left, right = list(box), list(box)
            left[i], right[i] = (lo, mid), (mid, hi)
            stack.append(right)
            stack.append(left)
        else:
            raise Invalid(f"tree holds {bit!r}")
    if pos != len(tree):
        raise Invalid("tree has bits after the last leaf")
    return leaves


def _outside_fundamental_2d(box: list[tuple[arb, arb]]) -> bool:
    """d = 2: the whole leaf violates one of the normalisations of a configuration.

    Label the directions counterclockwise, ``u_1 = e_1`` at the start of a largest gap, so the gaps
    ``g_1 = t_2, g_j = t_(j+1) - t_j, g_M = 2 pi - t_M`` satisfy ``g_1 >= g_j``; reflecting about
    the bisector of that gap reverses the other gaps, so also ``g_2 >= g_M`` can be had.  A leaf
    where the angles are certainly unsorted, or some ``g_j > g_1``, or ``g_M > g_2`` everywhere,
    holds only copies of configurations found elsewhere.
    """
    t = [(arb(0), arb(0))] + list(box)
    n = len(t)
    if any(t[j][0] > t[j + 1][1] for j in range(n - 1)):
        return True
    two_pi = 2 * arb.pi()
    g1_hi = t[1][1]
    gaps_lo = [t[j + 1][0] - t[j][1] for j in range(1, n - 1)] + [two_pi - t[n - 1][1]]
    if any(g > g1_hi for g in gaps_lo):
        return True
    if n >= 3:
        gM_lo = two_pi - t[n - 1][1]
        g2_hi = t[2][1] - t[1][0]
        if gM_lo > g2_hi:
            return True
    return False


def leaf_status_ok(spec: str, d: int, M: int, box: list[tuple[arb, arb]], status: str,
                   F_star: arb, local_boxes: list[list[tuple[arb, arb]]], cos_delta: arb) -> bool:
    """Whether one leaf's status holds (see the module docstring)."""
    if status == "s":
        return d == 2 and _outside_fundamental_2d(box)
    if status == "l":
        return any(all(lo >= blo and hi <= bhi for (lo, hi), (blo, bhi) in zip(box, lb, strict=False))
                   for lb in local_boxes)
    x = [(lo + hi) / 2 + arb(0, ((hi - lo) / 2).upper()) for lo, hi in box]
    G = ro.gram_box(x, d, M)
    if status == "d":
        return any(G[j][k] > cos_delta for j in range(M) for k in range(j + 1, M))
    if status == "x":  # the Loewner bound, else the centred form
        up = ro.F_upper_over_box(spec, G)
        if up is not None and up < F_star:
            return True
        up = ro.F_upper_centered(spec, d, M, box)
        return up is not None and bool(up < F_star)
    if status == "c" and d == 3:  # a cap where every neuron vanishes
        low = ro.relative_lower_cap_3d(spec, G)
        return low is not None and bool((1 - low) / ro.loss_ratio(spec, d) < F_star)
    if status == "t":  # second-order Taylor form about the centre
        up = ro.F_upper_taylor(spec, d, M, box)
        return up is not None and bool(up < F_star)
    if status == "g" and d == 2:  # a half-plane where every neuron vanishes
        low = ro.relative_lower_gap_2d(spec, box)
        return low is not None and bool((1 - low) / ro.loss_ratio(spec, d) < F_star)
    if status == "q" and d == 2 and spec == "relu":  # every close adjacent pair at once
        pairs, wrap = _close_pairs_2d(x)
        if len(pairs) < 2:
            return False
        up = ro.F_upper_pairs_relu_2d([2 * arb.pi() if wrap else arb(0)] + x, pairs)
        return up is not None and bool(up < F_star)
    if status == "p" and d == 2 and spec == "relu":
        alpha = [arb(0)] + x
        pairs = [(a, a + 1, alpha) for a in range(M - 1)]
        pairs.append((M - 1, 0, [2 * arb.pi()] + x))  # u_1 = e_1 at angle 2 pi, next to u_M
        for j, k, al in pairs:
            up = ro.F_upper_pair_relu_2d(al, j, k)
            if up is not None and up < F_star:
                return True
    return False


def _close_pairs_2d(x: list[arb], limit: float = 0.75) -> tuple[list[tuple[int, int]], bool]:
    """Disjoint pairs of circularly adjacent directions (``t_1 = 0, t_2, ..., t_M``, the last one
    next to ``t_1 = 2 pi``) closer than ``limit`` radians over the leaf, the closest first; and
    whether the pair ``(M, 1)`` across ``2 pi`` is among them."""
    M = len(x) + 1
    al = [arb(0)] + x
    cand = []
    for a in range(M - 1):
        cand.append((float((al[a + 1] - al[a]).abs_upper()), (a, a + 1)))
    cand.append((float((2 * arb.pi() - al[M - 1]).abs_upper()), (M - 1, 0)))
    used: set[int] = set()
    pairs = []
    for gap, (j, k) in sorted(cand):
        if gap < limit and j not in used and k not in used:
            pairs.append((j, k))
            used.update((j, k))
    return pairs, (M - 1, 0) in pairs


def _check_global(cert: dict) -> None:
    problem = cert["problem"]
    spec, d, M = problem["activation"], problem["d"], problem["M"]
    locals_ = cert["local_certificates"]
    if not locals_:
        raise Invalid("no local certificate")
    lboxes = []
    for i, lc in enumerate(locals_):
        if lc.get("problem") != problem or lc.get("neuron_order") != list(range(M)):
            raise Invalid(f"local certificate {i}: another problem or neuron order")
        ok, why = check(lc)  # at its own precision
        if not ok or lc.get("kind") != "strict local minimum":
            raise Invalid(f"local certificate {i}: {why}")
        lboxes.append(convex_box([dyadic(p) for p in lc["box"]["center"]],
                                 lc["box"].get("convex_radius_log2", lc["box"]["radius_log2"])))
    F_star = f_star(spec, d, locals_)
    domain = [(_ball(_frac(lo, "domain")), _ball(_frac(hi, "domain"))) for lo, hi in cert["domain"]]
    if len(domain) != ro.n_coords(d, M):
        raise Invalid("domain has the wrong number of coordinates")
    covered = _domain_covers(d, M, domain)
    if not covered:
        raise Invalid("domain does not contain the angle ranges of the slice")
    leaves = leaf_boxes(domain, cert["tree"])
    status = cert["leaf_status"]
    if len(status) != len(leaves):
        raise Invalid(f"{len(status)} leaf statuses for {len(leaves)} leaves")
    cos_delta = _ball(_frac(cert["degenerate_cos_delta"], "degenerate_cos_delta"))
    counts = {c: 0 for c in "xtgcqpsld"}
    for i, (box, st) in enumerate(zip(leaves, status, strict=False)):
        if not leaf_status_ok(spec, d, M, box, st, F_star, lboxes, cos_delta):
            raise Invalid(f"leaf {i} (status {st!r}) does not hold")
        counts[st] += 1
    claimed = cert["claims"]
    recomputed = {"leaves": len(leaves), "excluded": counts["x"],
                  "excluded_pair_basis": counts["p"] + counts["q"], "excluded_taylor": counts["t"],
                  "excluded_gap": counts["g"] + counts["c"], "symmetric_copies": counts["s"],
                  "in_local_boxes": counts["l"], "unresolved_degenerate": counts["d"],
                  "relative_value": value_hull(locals_)}
    _compare(claimed, recomputed)


def f_star(spec: str, d: int, local_certs: list[dict]) -> arb:
    """A lower bound of ``F`` at the best certified local minimiser: ``r <= hi`` there and
    ``r = 1 - q F``, so ``F >= (1 - hi)/q``; a leaf whose ``F`` stays below holds no better point."""
    q = ro.loss_ratio(spec, d)
    bounds = [arb(((1 - _ball(_frac(lc["claims"]["relative_value"][1], "relative value"))) / q
                   ).lower()) for lc in local_certs]
    return max(bounds, key=lambda t: float(t.mid()))


def value_hull(local_certs: list[dict]) -> list[str]:
    """The smallest lower and the largest upper end of the local certificates' ``r`` intervals."""
    lows = [lc["claims"]["relative_value"][0] for lc in local_certs]
    his = [lc["claims"]["relative_value"][1] for lc in local_certs]
    return [min(lows, key=lambda t: _frac(t, "relative value")),
            max(his, key=lambda t: _frac(t, "relative value"))]


def _domain_covers(d: int, M: int, domain: list[tuple[arb, arb]]) -> bool:
    """The slice's angles range over ``[0, pi]`` (last angle of rows ``j > d``: ``[-pi, pi]``);
    for d = 2 the sorted domain ``[0, 2 pi]`` is used (every angle taken mod 2 pi)."""
    pi = arb.pi()
    pos = 0
    for j in range(1, M):
        k = min(j, d - 1)
        for t in range(k):
            lo, hi = domain[pos]
            pos += 1
            if d == 2:
                need = (arb(0), 2 * pi)
            elif j >= d and t == k - 1:
                need = (-pi, pi)
            else:
                need = (arb(0), pi)
            if not (lo <= need[0] and hi >= need[1]):
                return False
    return True


# ---------------------------------------------------------------- bundles and entry point


def _check_bundle(cert: dict) -> None:
    parts = cert["certificates"]
    if not isinstance(parts, list) or not parts:
        raise Invalid("bundle: no certificates")
    for i, part in enumerate(parts):
        if isinstance(part, dict) and part.get("kind") == "bundle":
            raise Invalid(f"certificate {i}: nested bundle")
        ok, why = check(part)
        if not ok:
            raise Invalid(f"certificate {i} ({part.get('kind') if isinstance(part, dict) else '?'})"
                          f": {why}")
    if cert["claims"] != {"statuses": [p["kind"] for p in parts]}:
        raise Invalid("bundle: claims.statuses do not list the kinds of its certificates")


_KINDS = {"strict local minimum": _check_local, "ETF not optimal": _check_etf,
          "global minimum": _check_global, "bundle": _check_bundle}


def check(cert: Any) -> tuple[bool, str]:
    """``(True, "valid")`` or ``(False, reason)`` for a certificate (a parsed JSON object)."""
    try:
        if not isinstance(cert, dict) or cert.get("format") != FORMAT:
            raise Invalid(f"format: expected {FORMAT}")
        if cert.get("digest") != digest(cert):
            raise Invalid("digest: the certificate was edited after it was written")
        kind = cert.get("kind")
        if kind not in _KINDS:
            raise Invalid(f"kind {kind!r} unknown")
        if kind == "bundle":
            _check_bundle(cert)
            return True, "valid"
        prec = cert.get("prec_bits")
        if not isinstance(prec, int) or not 53 <= prec <= 4096:
            raise Invalid(f"prec_bits {prec!r} must be an integer in [53, 4096]")
        problem = cert["problem"]
        if is_general(problem):
            if kind != "strict local minimum":
                raise Invalid(f"kind {kind!r} is not available for a general problem")
            general_objective(problem)  # validates activation, target and chart
        else:
            ro.parse_activation(problem["activation"])
            if problem["target"]["family"] not in ("isotropic", "gaussian"):
                raise Invalid("target family must be isotropic or gaussian (centred)")
        with flint.ctx.workprec(prec):
            _KINDS[kind](cert)
    except Invalid as exc:
        return False, str(exc)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return False, f"malformed certificate ({type(exc).__name__}: {exc})"
    except Exception as exc:  # a CompverifyError from the evaluation (bad activation, ...)
        return False, f"{type(exc).__name__}: {exc}"
    return True, "valid"
