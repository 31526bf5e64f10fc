"""Certificates that a binary matching system has no solution: a proven positive lower bound on
``max_k |F_k|`` over a box covering the feasible region.

Two kinds:

``analytic`` (any ``{0, b}``-valued activation, the whole ordered region with ``|b| <= B``)
    The indicators are disjoint, so ``d3_b = (b - 2 d0_b) d2_b`` with ``d0_b`` between 0 and ``b``,
    hence ``|d3_b| <= |b| |d2_b|``.  With ``F2 = d2_b - d2``, ``F3 = d3_b - d3``:
    ``|F3| >= |d3| - B |d2| - B |F2|``, so ``max(|F2|, |F3|) >= (|d3| - B|d2|)/(1 + B)`` whenever
    that is positive (always for an odd activation, where ``d2 = 0 != d3``).  Evaluated in
    python-flint ``arb`` with the moments entered as balls of radius their error estimate.
``interval``
    branch and bound in ``arb``: the box is bisected along its widest side until on every piece
    some component's enclosure ``F_k(piece)`` excludes 0; the bound is the smallest, over the
    pieces, of the largest ``mig |F_k(piece)|``.  Pieces that violate the ordering everywhere are
    dropped (they are not in the feasible region).

A certificate is a dict (``kind``, ``bound`` as a decimal string rounded down, ``box``, ``pieces``,
``proved``); :func:`check_certificate` re-verifies an ``interval`` certificate from its stored
pieces alone (each piece re-evaluated), so a wrong bound fails.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import flint
import mpmath
import sympy

from compverify.symbolic.gaussian_moments import S1, S2, S3, TAU, B, binary_moments

__all__ = ["analytic_bound", "interval_bound", "check_certificate", "match_json", "MAX_PIECES"]

MAX_PIECES = 20000
_MOMENTS = ("d0", "d1", "d2", "d3", "tau_next_sq")


def _ball(value: Any, radius: float = 0.0) -> flint.arb:
    return flint.arb(mpmath.nstr(mpmath.mpf(value), 60), mpmath.nstr(mpmath.mpf(radius), 5)) \
        if radius else flint.arb(mpmath.nstr(mpmath.mpf(value), 60))


def _lower(x: flint.arb) -> str:
    """A 12-digit decimal string rounded down below every point of the (positive) ball ``x``."""
    with mpmath.workdps(40):
        v = mpmath.mpf(x.lower().str(35, radius=False)) * (1 - mpmath.mpf(10)**-30)
        e = int(mpmath.floor(mpmath.log10(v)))
        m = int(mpmath.floor(v * mpmath.mpf(10)**(11 - e)))
        return f"{m}e{e - 11}"


def analytic_bound(d2: Any, d3: Any, bmax: float, err2: float = 0.0, err3: float = 0.0) -> dict:
    """``(|d3| - B|d2|)/(1 + B)`` proven positive, or ``proved = False``."""
    with flint.ctx.workprec(200):
        D2, D3 = abs(_ball(d2, err2)), abs(_ball(d3, err3))
        Bb = flint.arb(str(bmax))
        bound = (D3 - Bb * D2) / (1 + Bb)
        proved = bool(bound > 0)
        return {"kind": "analytic", "proved": proved,
                "bound": _lower(bound) if proved else None,
                "b_max": str(bmax),
                "statement": "|d3_b| <= |b| |d2_b| for every {0,b}-valued activation, so "
                             "max(|F2|, |F3|) >= (|d3| - B|d2|)/(1 + B) for |b| <= B"}


@cache
def _arb_functions(kind: str):
    mods = [{"exp": lambda x: flint.arb(x).exp(), "erf": lambda x: flint.arb(x).erf(),
             "sqrt": lambda x: flint.arb(x).sqrt(), "pi": flint.arb.pi()}]
    m = binary_moments(kind)
    args = (S1, S2, B, TAU) if kind == "binary" else (S1, S2, S3, B, TAU)
    return sympy.lambdify(args, [getattr(m, n) for n in _MOMENTS], modules=mods)


def _eval_piece(system_data: dict, piece: list[tuple[str, str]]) -> flint.arb | None:
    """``max_k mig |F_k|`` on a piece (``None`` if 0 is not excluded), or ``flint.arb(-1)`` when the
    piece lies outside the ordered region."""
    lo = [flint.arb(a) for a, _ in piece]
    hi = [flint.arb(b) for _, b in piece]
    xs = [flint.arb.union(a, b) for a, b in zip(lo, hi, strict=True)]
    kind = system_data["kind"]
    k = 2 if kind == "binary" else 3
    if any(bool(lo[i] >= hi[i + 1]) for i in range(k - 1)):  # s_i >= s_{i+1} on the whole piece
        return flint.arb(-1)
    tau = flint.arb(system_data["tau"])
    f = _arb_functions(kind)
    full = f(*xs, tau) if kind == "binary" else f(*xs, flint.arb(system_data["b"]), tau)
    best = None
    for name, target in zip(system_data["equations"], system_data["targets"], strict=True):
        F = full[_MOMENTS.index(name)] - flint.arb(target[0], target[1])
        if not F.contains(0):
            m = abs(F).lower()
            best = m if best is None or m > best else best
    return None if best is None else flint.arb(best)


def interval_bound(system: Any, errors: dict[str, float] | None = None, *,
                   max_pieces: int = MAX_PIECES, prec: int = 120) -> dict:
    """Branch and bound over ``system.box`` (a :class:`~compverify.numeric.lossless_matching.
    BinarySystem`); the targets are balls of radius ``errors[name]`` (default ``10^-30``)."""
    errors = errors or {}
    data = {"kind": system.kind, "tau": mpmath.nstr(system.tau, 50),
            "b": None if system.b is None else mpmath.nstr(system.b, 50),
            "equations": list(system.equations),
            "targets": [(mpmath.nstr(t, 50), f"{max(errors.get(n, 0.0), 1e-30):.3e}")
                        for n, t in zip(system.equations, system.targets, strict=True)]}
    with flint.ctx.workprec(prec):
        if system.b is not None:  # b fixed: exact decimal of the mpf is a tiny ball
            data["b"] = mpmath.nstr(system.b, 50)
        stack = [[(repr(float(lo)), repr(float(hi))) for lo, hi in system.box]]
        done: list[tuple[list, str]] = []
        bound = None
        while stack:
            if len(done) + len(stack) > max_pieces:
                return {"kind": "interval", "proved": False, "bound": None, "pieces_tried": len(done),
                        "reason": f"more than {max_pieces} pieces needed", "system": data}
            piece = stack.pop()
            r = _eval_piece(data, piece)
            if r is None:
                widths = [float(b) - float(a) for a, b in piece]
                i = max(range(len(piece)), key=lambda j: widths[j])
                a, b = piece[i]
                mid = repr((float(a) + float(b)) / 2)
                stack.append(piece[:i] + [(a, mid)] + piece[i + 1:])
                stack.append(piece[:i] + [(mid, b)] + piece[i + 1:])
                continue
            if r < 0:
                done.append((piece, "unordered"))
                continue
            done.append((piece, r.str(10, radius=False)))
            bound = r if bound is None or r < bound else bound
        proved = bound is not None and bool(bound > 0)
        return {"kind": "interval", "proved": proved,
                "bound": _lower(bound) if proved else None,
                "box": [[repr(float(lo)), repr(float(hi))] for lo, hi in system.box],
                "pieces": len(done), "system": data, "_pieces": done}


def check_certificate(cert: dict) -> bool:
    """Re-verify an ``interval`` certificate: every stored piece re-evaluated must exclude 0 with
    at least the claimed bound (or be unordered), and the pieces must cover the box (volume)."""
    if cert.get("kind") != "interval" or not cert.get("proved"):
        return False
    data = cert["system"]
    claimed = flint.arb(cert["bound"])
    vol_box = 1.0
    for lo, hi in cert["box"]:
        vol_box *= float(hi) - float(lo)
    vol = 0.0
    with flint.ctx.workprec(120):
        for piece, _ in cert["_pieces"]:
            r = _eval_piece(data, piece)
            if r is None or (r >= 0 and not bool(r >= claimed)):
                return False
            v = 1.0
            for a, b in piece:
                v *= float(b) - float(a)
            vol += v
    return abs(vol - vol_box) <= 1e-9 * vol_box


def _certificate(sol, layer_match, dps: int, interval: bool = True) -> dict:
    system = sol.system
    mom = layer_match.moments
    bmax = system.box[2][1] if system.kind == "binary" else None
    if system.kind == "binary":
        cert = analytic_bound(mom.values["d2"], mom.values["d3"], bmax, mom.error["d2"],
                              mom.error["d3"])
        if cert["proved"]:
            return cert
    if not interval:
        return {"kind": "interval", "proved": False, "reason": "not attempted (interval=False)"}
    cert = interval_bound(system, mom.error, max_pieces=20000)
    cert.pop("_pieces", None)
    return cert


def match_json(matches: list, dps: int, certify: bool, interval: bool = True) -> list[dict]:
    """The ``layers`` list of the JSON (all reals as decimal strings)."""
    out = []
    for lm in matches:
        names = ("s1", "s2", "b") if lm.kind == "binary" else ("s1", "s2", "s3")
        roots, certs, least, lbs = [], [], [], []
        for sol in lm.solutions:
            roots += [r.to_dict(names, dps, lm.b) | {"system": sol.system.label} for r in sol.roots]
            if not sol.roots:
                if sol.least_squares is not None:
                    least.append(sol.least_squares.to_dict(names, dps, lm.b) | {"system": sol.system.label})
                if certify:
                    c = _certificate(sol, lm, dps, interval) | {"system": sol.system.label}
                    certs.append(c)
                    if c.get("proved"):
                        lbs.append(mpmath.mpf(c["bound"]))
        solvable = bool(roots)
        binary: dict[str, Any] = {"kind": lm.kind, "unknowns": list(names), "roots": roots,
                                  "solvable": solvable}
        if lm.b is not None:
            binary["b"] = mpmath.nstr(lm.b, dps)
        if not solvable:
            binary["least_squares"] = least
            binary["certificate"] = certs or [{"kind": "none", "proved": False, "reason": n}
                                              for n in lm.notes]
            if certify and lbs and len(lbs) == len(lm.solutions):
                binary["residual_lower_bound"] = mpmath.nstr(min(lbs), 12)
        else:
            binary["certificate"] = None
        mom = lm.moments
        out.append({"layer": lm.layer, "tau": mpmath.nstr(lm.tau, dps),
                    "moments": mom.to_dict() | {"route": mom.route,
                                                "error": {k: f"{v:.2e}" for k, v in mom.error.items()}},
                    "binary": binary, "notes": list(lm.notes)})
    return out
