"""A proof of how many roots a square binary matching system has in its box: interval branch and
bound with the Krawczyk test (python-flint ``arb``), and an independent re-check of the leaves.

For ``F: R^3 -> R^3`` (the hidden-layer system ``(d1_b, d2_b, d3_b) - (d1, d2, d3)`` in
``x = (s1, s2, b)``; the last layer's ``(s1, s2, s3)`` system is not square) and a piece ``X`` of
the box, with ``c`` its centre, ``Y`` a float inverse of ``F'(c)`` and ``F'(X)`` an interval
enclosure of the Jacobian, the Krawczyk operator is

``K(X) = c - Y F(c) + (I - Y F'(X)) (X - c)``.

Every zero of ``F`` in ``X`` lies in ``K(X)``; if ``K(X)`` lies in the interior of ``X``, ``F`` has
exactly one zero in ``X`` (Krawczyk 1969, Moore 1977).  Each piece gets one verdict:

``exclude``   some ``F_k(X)`` does not contain 0 (no zero);
``empty``     ``K(X)`` and ``X`` are disjoint (no zero);
``unordered`` ``s1 >= s2`` on all of ``X`` (outside the ordered region; not counted);
``unique``    ``K(X)`` inside the interior of ``X``, and ``s1 < s2`` on all of ``X`` (one zero);

otherwise ``X`` is bisected along its widest side.  When every leaf has a verdict the number of
zeros in the ordered part of the box is the number of ``unique`` leaves, *provided no zero is
counted twice*: two unique leaves share at most a face, and a zero on a shared face would be
counted in both; :func:`count_roots` therefore also encloses each unique leaf's zero (the
Krawczyk image) and checks that the enclosures are pairwise disjoint.

The certificate stores the leaves; :func:`check_root_count` re-evaluates every leaf's verdict from
the stored piece alone (its own ``F``/``F'`` enclosures and Krawczyk step, at its own precision),
checks that the leaves tile the box (volume, and pairwise interiors disjoint by a sweep) and that
the zero enclosures are disjoint, so a changed verdict, a removed leaf or a raised count fails.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import flint
import mpmath
import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.gaussian_moments import S1, S2, TAU, B, binary_moments

__all__ = ["count_roots", "check_root_count", "MAX_LEAVES"]

MAX_LEAVES = 200000
_VARS = (S1, S2, B)


@cache
def _functions(equations: tuple[str, ...]):
    """arb evaluators of ``F`` (rows ``equations`` of the binary moments, targets not subtracted)
    and of its Jacobian (SymPy derivatives), in ``(s1, s2, b, tau)``."""
    mods = [{"exp": lambda x: flint.arb(x).exp(), "erf": lambda x: flint.arb(x).erf(),
             "sqrt": lambda x: flint.arb(x).sqrt(), "pi": flint.arb.pi()}]
    m = binary_moments("binary")
    rows = [getattr(m, e) for e in equations]
    jac = [[sympy.diff(r, v) for v in _VARS] for r in rows]
    args = (S1, S2, B, TAU)
    return (sympy.lambdify(args, rows, modules=mods), sympy.lambdify(args, jac, modules=mods))


def _arb_box(piece: list[tuple[str, str]]) -> list[flint.arb]:
    return [flint.arb.union(flint.arb(a), flint.arb(b)) for a, b in piece]


def _verdict(data: dict, piece: list[tuple[str, str]]) -> tuple[str, Any]:
    """``(verdict, detail)`` of one piece (module docstring); ``("split", None)`` if undecided.
    ``detail`` is the excluding row for ``exclude`` and the zero's enclosure (decimal strings)
    for ``unique``."""
    lo = [flint.arb(a) for a, _ in piece]
    hi = [flint.arb(b) for _, b in piece]
    if bool(lo[0] >= hi[1]):
        return "unordered", None
    X = _arb_box(piece)
    f, jf = _functions(tuple(data["equations"]))
    tau = flint.arb(data["tau"])
    targets = [flint.arb(t, r) for t, r in data["targets"]]
    FX = [v - t for v, t in zip(f(*X, tau), targets, strict=True)]
    for k, v in enumerate(FX):
        if not v.contains(0):
            return "exclude", k
    c = [x.mid() for x in X]
    Fc = [v - t for v, t in zip(f(*c, tau), targets, strict=True)]
    J = [[flint.arb(e) for e in row] for row in jf(*X, tau)]
    Jc = flint.arb_mat([[float(e.mid()) for e in row] for row in jf(*c, tau)])
    try:
        Y = Jc.inv()  # a float-ish inverse: any matrix is valid for Krawczyk
    except ZeroDivisionError:
        return "split", None
    Y = flint.arb_mat([[float(Y[i, j].mid()) for j in range(3)] for i in range(3)])
    Jm = flint.arb_mat(J)
    M = flint.arb_mat([[1 if i == j else 0 for j in range(3)] for i in range(3)]) - Y * Jm
    d = flint.arb_mat([[X[i] - c[i]] for i in range(3)])
    K = flint.arb_mat([[c[i]] for i in range(3)]) - Y * flint.arb_mat([[v] for v in Fc]) + M * d
    Kx = [K[i, 0] for i in range(3)]
    if any(bool(Kx[i].upper() < lo[i]) or bool(Kx[i].lower() > hi[i]) for i in range(3)):
        return "empty", None
    inside = all(bool(Kx[i].lower() > lo[i]) and bool(Kx[i].upper() < hi[i]) for i in range(3))
    if inside and bool(hi[0] < lo[1]):
        return "unique", [[Kx[i].lower().str(30, radius=False), Kx[i].upper().str(30, radius=False)]
                          for i in range(3)]
    return "split", None


def _system_data(system: Any, errors: dict[str, float] | None) -> dict:
    if system.kind != "binary" or len(system.equations) != 3:
        raise CompverifyError(f"root counting needs the square hidden-layer system, got {system.kind} "
                              f"with equations {system.equations}")
    errors = errors or {}
    return {"kind": system.kind, "tau": mpmath.nstr(system.tau, 50), "equations": list(system.equations),
            "targets": [(mpmath.nstr(t, 50), f"{max(errors.get(n, 0.0), 1e-30):.3e}")
                        for n, t in zip(system.equations, system.targets, strict=True)]}


def count_roots(system: Any, errors: dict[str, float] | None = None, *,
                box: Any = None, max_leaves: int = MAX_LEAVES, prec: int = 106,
                time_limit: float | None = None, progress: Any = None) -> dict:
    """Branch and bound over ``box`` (default ``system.box``); a certificate dict with ``proved``,
    ``roots`` (the count, when proved), ``enclosures``, ``leaves`` (``[piece, verdict, detail]``)
    and per-verdict counts.  Not proved when ``max_leaves`` or ``time_limit`` is reached."""
    data = _system_data(system, errors)
    box = [(repr(float(a)), repr(float(b))) for a, b in (box or system.box)]
    t0 = time.monotonic()
    leaves: list = []
    stack = [box]
    reason = None
    with flint.ctx.workprec(prec):
        while stack:
            if len(leaves) + len(stack) > max_leaves:
                reason = f"more than {max_leaves} leaves needed"
                break
            if time_limit is not None and time.monotonic() - t0 > time_limit:
                reason = f"time limit {time_limit} s reached"
                break
            piece = stack.pop()
            v, detail = _verdict(data, piece)
            if v != "split":
                leaves.append([piece, v, detail])
                if progress is not None and len(leaves) % 5000 == 0:
                    progress(len(leaves), len(stack))
                continue
            widths = [float(b) - float(a) for a, b in piece]
            i = max(range(3), key=lambda j: widths[j] / (1.0 if j < 2 else 3.0))
            a, b = piece[i]
            if widths[i] < 1e-12:
                reason = f"a piece narrower than 1e-12 stays undecided at {piece}"
                break
            mid = repr((float(a) + float(b)) / 2)
            stack.append(piece[:i] + [(a, mid)] + piece[i + 1:])
            stack.append(piece[:i] + [(mid, b)] + piece[i + 1:])
    counts = {k: sum(1 for leaf in leaves if leaf[1] == k)
              for k in ("exclude", "empty", "unordered", "unique")}
    encl = [leaf[2] for leaf in leaves if leaf[1] == "unique"]
    disjoint = _pairwise_disjoint(encl)
    proved = reason is None and disjoint
    if reason is None and not disjoint:
        reason = "two zero enclosures overlap (a zero on a shared face?)"
    return {"kind": "root-count", "proved": proved, "roots": len(encl) if proved else None,
            "box": [list(p) for p in box], "system": data, "leaves": leaves, "counts": counts,
            "enclosures": encl, "seconds": time.monotonic() - t0, "reason": reason, "prec": prec}


def _pairwise_disjoint(encl: list) -> bool:
    for i in range(len(encl)):
        for j in range(i):
            if all(float(encl[i][k][0]) <= float(encl[j][k][1]) and
                   float(encl[j][k][0]) <= float(encl[i][k][1]) for k in range(3)):
                return False
    return True


def check_root_count(cert: dict, prec: int = 128) -> tuple[bool, str]:
    """Re-verify a :func:`count_roots` certificate: ``(valid, message)``.  Every leaf's verdict is
    re-derived from its piece alone; the leaves must tile the box (equal volume, interiors
    pairwise disjoint) and the zero enclosures be disjoint; the count is the number of unique
    leaves."""
    if cert.get("kind") != "root-count" or not cert.get("proved"):
        return False, "not a proved root-count certificate"
    data, box, leaves = cert["system"], cert["box"], cert["leaves"]
    with flint.ctx.workprec(prec):
        for piece, verdict, _ in leaves:
            v, detail = _verdict(data, [tuple(p) for p in piece])
            if v != verdict:
                return False, f"leaf {piece}: claimed {verdict}, re-evaluated {v}"
    vol = lambda p: (float(p[0][1]) - float(p[0][0])) * (float(p[1][1]) - float(p[1][0])) * \
        (float(p[2][1]) - float(p[2][0]))  # noqa: E731
    total = sum(vol(leaf[0]) for leaf in leaves)
    if abs(total - vol(box)) > 1e-12 * vol(box):
        return False, f"the leaves' volume {total!r} is not the box's {vol(box)!r}"
    for piece, _, _ in leaves:
        if any(float(a) < float(lo) or float(b) > float(hi)
               for (a, b), (lo, hi) in zip(piece, box, strict=True)):
            return False, f"leaf {piece} is outside the box"
    if not _interiors_disjoint([leaf[0] for leaf in leaves]):
        return False, "two leaves overlap"
    encl = [leaf[2] for leaf in leaves if leaf[1] == "unique"]
    if not _pairwise_disjoint(encl):
        return False, "two zero enclosures overlap"
    if cert["roots"] != len(encl):
        return False, f"claimed {cert['roots']} roots, {len(encl)} unique leaves"
    return True, f"valid: exactly {len(encl)} root(s) with s1 < s2 in the box"


def _interiors_disjoint(pieces: list) -> bool:
    """Sweep along the first axis: no two pieces overlap in an open set (volume equality plus this
    makes the leaves a tiling of the box)."""
    ps = sorted(((float(p[0][0]), float(p[0][1]), [(float(a), float(b)) for a, b in p[1:]])
                 for p in pieces), key=lambda t: t[0])
    active: list = []
    for lo, hi, rest in ps:
        active = [q for q in active if q[1] > lo]
        for q in active:
            if all(min(b, d) > max(a, c) for (a, b), (c, d) in zip(rest, q[2], strict=True)):
                return False
        active.append((lo, hi, rest))
    return True
