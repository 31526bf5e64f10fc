"""Matching an activation's Gaussian moments with a binary activation, at 40+ digits.

Hidden layer ``l < L`` (kind ``binary``): ``sigma_b(x) = b (1[x < s1] + 1[x > s2])``, ``s1 < s2``,
unknowns ``(s1, s2, b)``.  The published equations are ``d1(sigma_b)^2 = d1^2``,
``d2(sigma_b)^2 = d2^2``, ``d3(sigma_b) = d3`` at that layer's ``tau``.  They are solved here
unsquared, ``F(x) = (d1_b - d1, d2_b - d2, d3_b - d3) = 0``: the maps ``(s1, s2, b) -> (s1, s2, -b)``
(flips ``d1, d2``) and ``-> (-s2, -s1, b)`` (flips ``d1``) carry the solutions of this sign choice
onto those of the other three, so together with its *symmetric copies* they are all the solutions
of the squared system.

Last layer (kind ``binary-last``): ``b (1[x < s1] + 1[s2 < x < s3] + 1[x > s4])``,
``s4 = s3 + s2 - s1``, ``s1 < s2 < s3``, unknowns ``(s1, s2, s3)``, ``b`` fixed by
``b^2 = d3^2/d2^2 + 4 tau'^2`` (the published code's ``b1 = sqrt(d3^2/D2 + 4 tau'^2)`` with its
variable ``D2 = d2^2``), four equations ``tau'^2_b = tau'^2``, ``d1_b = d1``, ``d2_b = +-d2``,
``d3_b = d3`` (the reflection ``s -> (-s4, -s3, -s2)`` flips ``d1``; ``b -> -b`` flips ``d1, d2``).
The formula for ``b`` is the identity ``b^2 = (b - 2 d0_b)^2 + 4 d0_b (b - d0_b)`` of every
``{0, b}``-valued activation (``d3_b = (b - 2 d0_b) d2_b``, ``tau'^2_b = d0_b (b - d0_b)``): once
``tau'^2`` and ``d2`` are matched, ``d3`` is matched up to its sign, so the 4 x 3 system is
consistent exactly when a root of its first three equations gets that sign right.

Solver (:func:`solve_system`): float64 multi-start over a stated box, each start run by
``scipy.optimize.root`` (square) or ``least_squares`` (overdetermined) on the *deflated* residual
``F(x) prod_j (1 + 1/|x - r_j|^2)`` so that the roots already found repel; every candidate is
polished by Newton (``mpmath.findroot``, analytic Jacobian) or Gauss-Newton at ``dps + 10`` digits
on the undeflated equations (Gauss-Newton for the least-squares point), and re-solved at
``2 dps`` digits: the agreeing digits are reported.
Each root carries its residual, the singular values of its Jacobian and its symmetric copies.  A
system with no root gets its least-squares point; the certificate that no root exists is in
:mod:`compverify.proofs_check.lossless_certificates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy
from scipy import optimize

from compverify.display import TableDisplay
from compverify.errors import CompverifyError
from compverify.numeric.lossless_moments import MomentValues, check_tau, gaussian_moments
from compverify.symbolic.gaussian_moments import S1, S2, S3, TAU, B, binary_moments
from compverify.validate import check_dps, check_positive_int

__all__ = ["BinarySystem", "Root", "SystemSolution", "hidden_system", "last_system", "solve_system",
           "LayerMatch", "match_network", "BOX_S", "last_layer_b", "binary_moment_values"]

#: Thresholds are searched in ``[-BOX_S tau, BOX_S tau]``.
BOX_S = 6.0
#: ``|b|`` is searched up to ``BOX_B_FACTOR * max(1, tau)`` (hidden layers).
BOX_B_FACTOR = 20.0
#: A polished point is a root when its residual is below ``10^(-dps + ROOT_SLACK)``.
ROOT_SLACK = 8

_MOMENTS = ("d0", "d1", "d2", "d3", "tau_next_sq")


@cache
def _functions(kind: str, module: str):
    """Lambdified moments of the binary family and their Jacobians in the unknowns."""
    m = binary_moments(kind)
    if kind == "binary":
        unknowns, args = (S1, S2, B), (S1, S2, B, TAU)
    else:
        unknowns, args = (S1, S2, S3), (S1, S2, S3, B, TAU)
    exprs = [getattr(m, name) for name in _MOMENTS]
    vals = sympy.lambdify(args, exprs, modules=module)
    jac = sympy.lambdify(args, [[sympy.diff(e, u) for u in unknowns] for e in exprs], modules=module)
    return vals, jac


def binary_moment_values(kind: str, params: tuple, tau: Any, dps: int) -> dict[str, mpmath.mpf]:
    """``d0, d1, d2, d3, tau_next_sq`` of the binary activation ``params`` (``(s1, s2, b)`` or
    ``(s1, s2, s3, b)``) at ``tau``, in mpmath at ``dps`` digits."""
    vals, _ = _functions(kind, "mpmath")
    with mpmath.workdps(dps):
        out = vals(*[mpmath.mpf(p) for p in params], mpmath.mpf(tau))
        return dict(zip(_MOMENTS, (mpmath.mpf(v) for v in out), strict=True))


@dataclass(frozen=True)
class BinarySystem:
    """``F(x) = 0``: the binary activation's moments minus the targets, at ``tau``.

    ``equations`` names the rows (moments), ``targets`` their right sides (mpf), ``b`` the fixed
    height of the last layer (``None`` for hidden layers, where ``b`` is unknown).
    """

    kind: str
    tau: mpmath.mpf
    equations: tuple[str, ...]
    targets: tuple[mpmath.mpf, ...]
    b: mpmath.mpf | None
    box: tuple[tuple[float, float], ...]
    label: str = ""

    @property
    def unknowns(self) -> tuple[str, ...]:
        return ("s1", "s2", "b") if self.kind == "binary" else ("s1", "s2", "s3")

    @property
    def square(self) -> bool:
        return len(self.equations) == len(self.unknowns)

    def _args(self, x: Any, conv: Any) -> list:
        if self.kind == "binary":
            return [conv(x[0]), conv(x[1]), conv(x[2]), conv(self.tau)]
        return [conv(x[0]), conv(x[1]), conv(x[2]), conv(self.b), conv(self.tau)]

    def _rows(self, full: list) -> list:
        return [full[_MOMENTS.index(e)] for e in self.equations]

    def residual(self, x: Any) -> np.ndarray:
        """``F(x)`` in float64."""
        vals, _ = _functions(self.kind, "math")
        full = vals(*self._args(x, float))
        return np.array([v - float(t) for v, t in zip(self._rows(full), self.targets, strict=True)])

    def jacobian(self, x: Any) -> np.ndarray:
        _, jac = _functions(self.kind, "math")
        return np.array(self._rows(jac(*self._args(x, float))), dtype=float)

    def residual_mp(self, x: Any) -> mpmath.matrix:
        """``F(x)`` in mpmath at the working precision."""
        vals, _ = _functions(self.kind, "mpmath")
        full = vals(*self._args(x, mpmath.mpf))
        return mpmath.matrix([v - t for v, t in zip(self._rows(full), self.targets, strict=True)])

    def jacobian_mp(self, x: Any) -> mpmath.matrix:
        _, jac = _functions(self.kind, "mpmath")
        return mpmath.matrix(self._rows(jac(*self._args(x, mpmath.mpf))))

    def feasible(self, x: Any, margin: float = 0.0) -> bool:
        """Ordering ``s1 < s2 (< s3)`` and inside the box."""
        xs = [float(v) for v in x]
        ordered = xs[0] + margin < xs[1] and (self.kind == "binary" or xs[1] + margin < xs[2])
        inside = all(lo <= v <= hi for v, (lo, hi) in zip(xs, self.box, strict=True))
        return ordered and inside

    def copies(self, x: tuple) -> list[tuple]:
        """The symmetric copies of a point (they solve the other sign choices)."""
        if self.kind == "binary":
            s1, s2, b = x
            return [(s1, s2, -b), (-s2, -s1, b), (-s2, -s1, -b)]
        s1, s2, s3 = x
        return [(-(s3 + s2 - s1), -s3, -s2)]


def hidden_system(moments: MomentValues) -> BinarySystem:
    """The hidden-layer system at ``moments.tau``: ``(d1_b, d2_b, d3_b) = (d1, d2, d3)``."""
    v = moments.values
    tau = moments.tau
    bmax = BOX_B_FACTOR * max(1.0, float(tau))
    box = ((-BOX_S * float(tau), BOX_S * float(tau)),) * 2 + ((-bmax, bmax),)
    return BinarySystem("binary", tau, ("d1", "d2", "d3"), (v["d1"], v["d2"], v["d3"]), None, box,
                        "hidden")


def last_layer_b(moments: MomentValues) -> mpmath.mpf | None:
    """``b = sqrt(d3^2/d2^2 + 4 tau'^2)``; ``None`` when ``d2 = 0`` (no finite ``b``)."""
    v = moments.values
    with mpmath.workdps(moments.dps + 10):
        if v["d2"] == 0 or abs(v["d2"]) <= moments.error.get("d2", 0.0):
            return None
        return mpmath.sqrt(v["d3"]**2 / v["d2"]**2 + 4 * v["tau_next_sq"])


def last_system(moments: MomentValues, d2_sign: int = 1) -> BinarySystem | None:
    """The last-layer system (``b > 0`` fixed), with ``d2_b = d2_sign * d2``; ``None`` if no ``b``."""
    b = last_layer_b(moments)
    if b is None:
        return None
    v = moments.values
    t = float(moments.tau)
    box = ((-BOX_S * t, BOX_S * t),) * 3
    return BinarySystem("binary-last", moments.tau, ("tau_next_sq", "d1", "d2", "d3"),
                        (v["tau_next_sq"], v["d1"], d2_sign * v["d2"], v["d3"]), b, box,
                        f"last, d2 sign {'+' if d2_sign > 0 else '-'}")


@dataclass(frozen=True)
class Root:
    """A polished point: the unknowns (mpf), ``residual`` (max |F| at ``dps``), the singular values
    of the Jacobian, ``digits`` agreeing with the re-solve at ``2 dps``, ``copies``, ``exact``
    (residual at rounding level: a root, not only a least-squares point)."""

    x: tuple[mpmath.mpf, ...]
    residual: mpmath.mpf
    singular_values: tuple[mpmath.mpf, ...]
    digits: int
    copies: tuple[tuple[mpmath.mpf, ...], ...]
    exact: bool

    def to_dict(self, names: tuple[str, ...], dps: int, b: mpmath.mpf | None = None) -> dict:
        # a point not re-solved (a float64 least-squares point) is printed to float64's digits
        shown = dps if self.digits else 17
        out: dict[str, Any] = {n: mpmath.nstr(v, shown) for n, v in zip(names, self.x, strict=True)}
        if b is not None:
            out["b"] = mpmath.nstr(b, dps)
            out["s4"] = mpmath.nstr(self.x[2] + self.x[1] - self.x[0], shown)
        out["residual"] = mpmath.nstr(self.residual, 5)
        out["jacobian_singular_values"] = [mpmath.nstr(s, 10) for s in self.singular_values]
        out["verified_digits"] = self.digits
        out["copies"] = [[mpmath.nstr(v, shown) for v in c] for c in self.copies]
        return out


@dataclass(frozen=True)
class SystemSolution:
    """All roots found in the box (``roots``), or the least-squares point (``least_squares``)."""

    system: BinarySystem
    roots: tuple[Root, ...]
    least_squares: Root | None
    starts: int
    dps: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def _polish(system: BinarySystem, x0: Any, dps: int) -> tuple[mpmath.matrix, mpmath.mpf] | None:
    """Newton (square) or Gauss-Newton (overdetermined) at ``dps`` digits from ``x0``."""
    with mpmath.workdps(dps):
        x = mpmath.matrix([mpmath.mpf(float(v)) if not isinstance(v, mpmath.mpf) else v for v in x0])
        tol = mpmath.mpf(10)**(-dps + 3)
        best = None
        for _ in range(60):
            F = system.residual_mp(x)
            J = system.jacobian_mp(x)
            try:
                if system.square:
                    step = mpmath.lu_solve(J, -F)
                else:  # Gauss-Newton (linear convergence when F != 0 at the minimum)
                    step = mpmath.qr_solve(J, -F)[0]
            except (ZeroDivisionError, ValueError):
                return None
            # damped: halve until the residual does not grow (keeps the ordering too)
            norm0 = mpmath.norm(F)
            lam = mpmath.mpf(1)
            for _ in range(30 if system.square else 1):
                xn = x + lam * step
                if system.feasible(xn) or not system.feasible(x):
                    Fn = system.residual_mp(xn)
                    if mpmath.norm(Fn) <= norm0 * (1 + mpmath.mpf(10)**(-dps // 2)) or lam < 1e-6:
                        break
                lam /= 2
            x = xn
            best = x
            if not system.square and not system.feasible(x):
                return None  # the least-squares minimiser is not inside the box
            if mpmath.norm(step) * lam <= tol * (1 + mpmath.norm(x)):
                break
        if best is None or not all(mpmath.isfinite(v) for v in best):
            return None
        return best, mpmath.norm(system.residual_mp(best), mpmath.inf)


def _evidence(system: BinarySystem, x: mpmath.matrix, residual: mpmath.mpf, dps: int) -> Root:
    hi = _polish(system, x, 2 * dps)
    with mpmath.workdps(dps):
        J = system.jacobian_mp(x)
        sv = mpmath.svd_r(J, compute_uv=False)
        svs = tuple(sorted((mpmath.mpf(s) for s in sv), reverse=True))
        if hi is None:
            digits = 0
        else:
            diff = mpmath.norm(hi[0] - x, mpmath.inf)
            scale = max(mpmath.norm(x, mpmath.inf), mpmath.mpf(1))
            digits = dps if diff == 0 else max(0, min(dps, int(-mpmath.log10(diff / scale))))
        exact = residual <= mpmath.mpf(10)**(-dps + ROOT_SLACK)
        xs = tuple(+v for v in x)
        copies = tuple(tuple(+c for c in cp) for cp in system.copies(xs))
        return Root(xs, +residual, svs, digits, copies, bool(exact))


def _deflated(system: BinarySystem, found: list[np.ndarray]):
    def f(x):
        F = system.residual(x)
        m = 1.0
        for r in found:
            m *= 1.0 + 1.0 / max(float(np.sum((x - r)**2)), 1e-300)
        return F * m
    return f


def _ordered(y: np.ndarray, kind: str) -> np.ndarray:
    """``y = (s1, log(s2 - s1), log(s3 - s2) | b)`` -> ``x``: ordered by construction."""
    with np.errstate(over="ignore"):
        if kind == "binary":
            return np.array([y[0], y[0] + np.exp(y[1]), y[2]])
        return np.array([y[0], y[0] + np.exp(y[1]), y[0] + np.exp(y[1]) + np.exp(y[2])])


def _least_squares_search(system: BinarySystem, starts: int, rng: np.random.Generator):
    """The smallest ``max |F|`` found by bounded least squares from ``starts`` starts in the box
    (ordered parametrisation; gaps between ``1e-6`` and the box width)."""
    (lo, hi) = system.box[0]
    width = hi - lo
    if system.kind == "binary":
        bl, bh = system.box[2]
        bounds = ([lo, math.log(1e-6), bl], [hi, math.log(width), bh])
    else:
        bounds = ([lo, math.log(1e-6), math.log(1e-6)], [hi, math.log(width), math.log(width)])
    best = None
    for x0 in _starts(system, starts, rng):
        y0 = [x0[0], math.log(max(x0[1] - x0[0], 1e-3)),
              x0[2] if system.kind == "binary" else math.log(max(x0[2] - x0[1], 1e-3))]
        y0 = np.clip(y0, np.array(bounds[0]) + 1e-9, np.array(bounds[1]) - 1e-9)
        with np.errstate(all="ignore"):
            try:
                sol = optimize.least_squares(lambda y: system.residual(_ordered(y, system.kind)), y0,
                                             bounds=bounds, method="trf", xtol=1e-15, ftol=1e-15,
                                             gtol=1e-15, max_nfev=500)
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
        x = _ordered(sol.x, system.kind)
        r = float(np.max(np.abs(system.residual(x))))
        if math.isfinite(r) and (best is None or r < best[0]):
            best = (r, x)
    return best


def _starts(system: BinarySystem, n: int, rng: np.random.Generator) -> np.ndarray:
    lo = np.array([b[0] for b in system.box])
    hi = np.array([b[1] for b in system.box])
    pts = rng.uniform(lo, hi, size=(n, len(lo)))
    k = 2 if system.kind == "binary" else 3
    pts[:, :k] = np.sort(pts[:, :k], axis=1)
    if system.kind == "binary":  # heights spread on a log scale (the moments scale like b)
        pts[:, 2] = np.sign(pts[:, 2]) * np.exp(rng.uniform(np.log(0.05), np.log(hi[2]), size=n))
    return pts


def solve_system(system: BinarySystem, *, dps: int = 40, starts: int = 40, seed: int = 0,
                 progress: Any = None) -> SystemSolution:
    """All roots of ``system`` found from ``starts`` seeded starts in its box, each polished at
    ``dps + 10`` digits and re-solved at ``2 dps``; the least-squares point when none is exact.

    Roots outside the box or violating the ordering are discarded; two roots are the same when
    they agree to ``1e-8`` (relative).
    """
    dps = check_dps(dps, minimum=15)
    check_positive_int(starts, "starts")
    rng = np.random.default_rng(seed)
    found: list[np.ndarray] = []
    roots: list[Root] = []
    best: tuple[float, Any] | None = None
    notes = []
    for i, x0 in enumerate(_starts(system, starts, rng)):
        if progress is not None:
            progress(i)
        if not system.square:
            continue  # the overdetermined systems are searched by least squares below
        with np.errstate(all="ignore"):
            try:
                x = optimize.root(_deflated(system, found), x0, method="hybr").x
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
        if not np.all(np.isfinite(x)) or not system.feasible(x):
            continue
        r = float(np.max(np.abs(system.residual(x))))
        if not math.isfinite(r):
            continue
        if best is None or r < best[0]:
            best = (r, x)
        if r > 1e-6:
            continue
        if any(np.max(np.abs(x - f) / (1 + np.abs(f))) < 1e-8 for f in found):
            continue
        polished = _polish(system, x, dps + 10)
        if polished is None:
            continue
        xp, res = polished
        if not system.feasible(xp):
            continue
        xf = np.array([float(v) for v in xp])
        if any(np.max(np.abs(xf - f) / (1 + np.abs(f))) < 1e-8 for f in found):
            continue
        root = _evidence(system, xp, res, dps)
        if root.exact:
            found.append(xf)
            roots.append(root)
    least = None
    if not roots:
        best = _least_squares_search(system, starts, rng)
    if not roots and best is not None:
        polished = _polish(system, best[1], dps + 10)
        if polished is not None and system.feasible(polished[0]) and float(polished[1]) <= best[0] * 1.001:
            least = _evidence(system, polished[0], polished[1], dps)
            if least.exact:  # the least-squares start reached an exact root
                roots.append(least)
                least = None
        else:  # the minimiser is on the box's boundary: the float64 point, its residual at dps
            with mpmath.workdps(dps + 10):
                xp = mpmath.matrix([mpmath.mpf(float(v)) for v in best[1]])
                res = mpmath.norm(system.residual_mp(xp), mpmath.inf)
            least = _evidence(system, xp, res, dps)
            least = Root(least.x, least.residual, least.singular_values, 0, least.copies, False)
            notes.append("least-squares point on the boundary of the box (float64 search)")
    if not roots and least is None:
        notes.append("no start converged inside the box")
    roots.sort(key=lambda r: [float(v) for v in r.x])
    return SystemSolution(system, tuple(roots), least, starts, dps, tuple(notes))


@dataclass(frozen=True)
class LayerMatch(TableDisplay):
    """One layer: its input scale ``tau``, the original moments, and the binary systems solved."""

    layer: int
    tau: mpmath.mpf
    moments: MomentValues
    kind: str
    solutions: tuple[SystemSolution, ...]
    b: mpmath.mpf | None
    notes: tuple[str, ...]

    @property
    def solvable(self) -> bool:
        return any(s.roots for s in self.solutions)

    def _display_tables(self) -> list:
        """One row per root found (or the least-squares point when there is none) of each
        system: the unknowns to their verified digits, the residual, the digits, the kind."""
        rows = []
        for sol in self.solutions:
            sys_ = sol.system
            found = [(r, "root") for r in sol.roots] or (
                [(sol.least_squares, "least-squares point (no root)")]
                if sol.least_squares is not None else [])
            if not found:
                rows.append((sys_.label or sys_.kind, "-", "-", "-", "nothing found"))
            for root, what in found:
                shown = root.digits if root.digits else 17
                point = ", ".join(f"{n} = {mpmath.nstr(v, max(shown, 1))}"
                                  for n, v in zip(sys_.unknowns, root.x, strict=True))
                rows.append((sys_.label or sys_.kind, point, mpmath.nstr(root.residual, 5),
                             root.digits, what))
        return [(f"layer {self.layer}: tau = {mpmath.nstr(self.tau, 15)}, {self.kind}"
                 + ("" if self.b is None else f", b = {mpmath.nstr(self.b, 15)}"),
                 ("system", "point", "residual max |F|", "verified digits", "kind"), rows)]


def match_network(activation: str, layers: int, tau0: Any, *, dps: int = 40, starts: int = 40,
                  seed: int = 0, tau_mode: str = "original", progress: Any = None,
                  cache: Any = None) -> list[LayerMatch]:
    """Match every layer of an ``L``-layer network with activation ``activation`` (same at every
    layer), input scale ``tau0``.

    ``tau_mode = "original"``: layer ``l`` is matched at the original network's scale
    ``tau_{l-1}`` (``tau_l^2 = Var sigma(tau_{l-1} xi)``); ``"propagated"`` (the published code):
    the binary moments of layer ``l`` are taken at the *compressed* network's scale, propagated
    through the binary activations found for the earlier layers (``tau_l^2 = d0_b (b - d0_b)``).
    ``cache`` (a mapping with ``get``/``put``) keeps finished layers for a resumed run.
    """
    check_positive_int(layers, "layers")
    dps = check_dps(dps, minimum=15)
    if tau_mode not in ("original", "propagated"):
        raise CompverifyError(f"tau_mode must be 'original' or 'propagated', got {tau_mode!r}")
    tau = check_tau(tau0, "tau0")
    tau_b = tau
    out = []
    for layer in range(1, layers + 1):
        key = f"layer {layer}"
        mom = gaussian_moments(activation, tau, dps=dps)
        at = tau if tau_mode == "original" else tau_b
        # the binary side is evaluated at `at`; the targets are the original's moments at `tau`
        target_mom = mom if at == tau else MomentValues(mom.spec, at, mom.dps, mom.route, mom.values,
                                                        mom.error)
        notes: list[str] = []
        if layer < layers:
            systems = [hidden_system(target_mom)]
            b = None
        else:
            b = last_layer_b(target_mom)
            if b is None:
                systems = []
                notes.append("d2 = 0: b^2 = d3^2/d2^2 + 4 tau'^2 is infinite, the last-layer "
                             "system is undefined")
            else:
                systems = [s for s in (last_system(target_mom, 1), last_system(target_mom, -1)) if s]
        sols = []
        for j, system in enumerate(systems):
            name = f"{key} system {j}"
            cached = cache.get(name) if cache is not None else None
            if cached is not None:
                sols.append(solution_from_plain(system, cached))
                continue
            sol = solve_system(system, dps=dps, starts=starts, seed=seed + 1000 * layer + j,
                               progress=None if progress is None else
                               (lambda i, _l=layer: progress(_l, i)))
            sols.append(sol)
            if cache is not None:
                cache.put(name, solution_to_plain(sol))
        match = LayerMatch(layer, at, mom, "binary" if layer < layers else "binary-last",
                           tuple(sols), b, tuple(notes))
        out.append(match)
        with mpmath.workdps(dps + 10):
            tau_next = mpmath.sqrt(mom.values["tau_next_sq"])
            if layer < layers and sols and sols[0].roots:
                s1, s2, bb = sols[0].roots[0].x
                tb = binary_moment_values("binary", (s1, s2, bb), tau_b, dps + 10)["tau_next_sq"]
                tau_b = mpmath.sqrt(tb)
            else:
                tau_b = tau_next
        tau = tau_next
    return out


def solution_to_plain(sol: SystemSolution) -> dict:
    """A JSON-ready form of a solution (mpf kept bit for bit by :func:`compverify.io.exact_encode`),
    for checkpoints; :func:`solution_from_plain` inverts it given the same system."""
    from compverify.io import exact_encode

    def root(r: Root | None):
        return None if r is None else exact_encode(
            [list(r.x), r.residual, list(r.singular_values), r.digits, [list(c) for c in r.copies], r.exact])

    return {"roots": [root(r) for r in sol.roots], "least": root(sol.least_squares),
            "starts": sol.starts, "dps": sol.dps, "notes": list(sol.notes)}


def solution_from_plain(system: BinarySystem, data: dict) -> SystemSolution:
    from compverify.io import exact_decode

    def root(d):
        if d is None:
            return None
        x, res, sv, digits, copies, exact = exact_decode(d)
        return Root(tuple(x), res, tuple(sv), int(digits), tuple(tuple(c) for c in copies), bool(exact))

    return SystemSolution(system, tuple(root(r) for r in data["roots"]), root(data["least"]),
                          int(data["starts"]), int(data["dps"]), tuple(data["notes"]))
