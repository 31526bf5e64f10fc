"""Gaussian expectations ``E[f(z1) g(z1, z2)]`` of activations at large norms, by a graded rule.

A numeric kernel (no closed form) at norms ``nu, nv`` integrates ``sigma(nu z1)`` and
``sigma(nv (rho z1 + s z2))`` (``s = sqrt(1 - rho^2)``) against the standard normal density on
the plane. ``sigma(nu z1)`` changes on the scale ``1/nu`` around ``z1 = 0``, and, at fixed ``z1``,
``sigma(nv T)`` changes on the scale ``1/(nv s)`` around the crossing ``z2 = c(z1) = -rho z1/s``:
a uniform step small enough for those features costs ``nu`` times more nodes per axis than the
Gaussian needs. This rule maps each axis by

    z(t) = c + G asinh((eps / G) sinh(t)),   z'(t) = eps cosh(t) / sqrt(1 + (eps/G)^2 sinh(t)^2),

and applies the trapezoidal rule with step ``h`` in ``t``. Near ``c`` the node spacing is
``eps h`` (``eps`` the feature's scale), it grows geometrically away from ``c`` and levels off at
``G h`` (:func:`far_spacing`, set by the Gaussian factor), so the node count per axis grows
like ``log(G / eps) / h``: like the logarithm of the norm. For sigma analytic in
``|Im z| < strip`` and ``eps = strip / norm``, the singularities of ``sigma(norm z)`` map to
``|Im t| >= pi/2`` and the Gaussian factor stays bounded for ``|Im t| < pi/4``, so the error is
about ``exp(-2 pi d / h)`` with ``d = 0.9 pi / 4`` (the trapezoidal rule's rate for an integrand
analytic in the strip ``|Im t| < d``). ``eps`` is floored at ``10^-(D + 3)`` for ``D`` digits: a
feature narrower than that is resolved only to the size of the cells near ``c``, ``10^-(D + 3)``
times the integrand there, which is below the target whatever the norm.

Error estimate: every other node (even ``k`` on both axes) is the same rule with step ``2h``,
accumulated alongside at no extra evaluation. With exponential convergence the error at ``h`` is
about the square of the relative difference ``r`` between the two rules (halving the step squares
the error); the result is accepted when ``100 r^2`` is below the target, else the step is halved
once and the check repeated, and if that fails the caller raises. Errors are measured against
the integrand's absolute scale ``E|f g|`` (accumulated alongside); the caller decides how many
digits that scale is worth relative to the value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import mpmath
import numpy as np

__all__ = ["GRADED_STRIP", "AxisRule", "axis_rule", "graded_step", "gaussian_window",
           "GAUSS_STEP_FACTOR", "far_spacing", "expectations", "expectations_float64"]

#: Half-width of the strip in ``t`` where the mapped integrand is assumed analytic and bounded
#: (the Gaussian factor ``exp(-z(t)^2 / 2)`` grows for ``|Im t| > pi/4`` where the map is
#: exponential).
GRADED_STRIP = 0.9 * math.pi / 4
#: The Gaussian's own trapezoidal step for ``D`` digits is ``GAUSS_STEP_FACTOR / sqrt(D)``
#: (``pi sqrt(2 / (D ln 10))``: the rule's error ``exp(-2 pi^2 / h^2)`` for ``exp(-z^2/2)``).
GAUSS_STEP_FACTOR = math.pi * math.sqrt(2 / math.log(10))


def graded_step(digits: float) -> float:
    """The step ``h`` in ``t`` for an error about ``10^-digits``: ``2 pi d / (digits ln 10)``."""
    return 2 * math.pi * GRADED_STRIP / (digits * math.log(10))


def far_spacing(digits: float) -> float:
    """Node spacing far from the feature: the Gaussian's own step for ``digits`` digits divided
    by ``sqrt(2)``, so that the ``2h`` rule (spacing ``sqrt(2)`` times that step) still has
    ``digits / 2`` digits there (the Gaussian's error ``exp(-2 pi^2 / step^2)`` quarters its
    digits when the step doubles; the error estimate assumes that halving the step squares the
    error, which then holds on both parts of the axis)."""
    return GAUSS_STEP_FACTOR / math.sqrt(digits) / math.sqrt(2)


def gaussian_window(digits: float) -> float:
    """Half-width ``L`` beyond which ``exp(-z^2/2)`` is below ``10^-digits``."""
    return math.sqrt(2 * digits * math.log(10)) + 1


class AxisRule:
    """Nodes ``z_k = z(k h)`` and weights ``h z'(k h) phi(z_k)`` of the mapped trapezoidal rule on
    one axis, restricted to ``z in [lo, hi]``; ``even`` flags the nodes of the ``2h`` rule."""

    __slots__ = ("z", "w", "even")

    def __init__(self, z: list, w: list, even: list[bool]) -> None:
        self.z, self.w, self.even = z, w, even


def _inverse(delta: float, eps: float, G: float) -> float:
    """``t`` with ``z(t) - c = delta`` (float; ``asinh((G / eps) sinh(delta / G))``)."""
    if eps >= G:
        return delta / G
    if abs(delta / G) > 600:  # asinh((G/eps) sinh x) = x + log(G/eps) + O(e^-2x)
        return math.copysign(abs(delta) / G + math.log(G / eps), delta)
    x = math.sinh(delta / G)
    if x == 0:
        return 0.0
    # asinh(y) for y = (G/eps) x, without overflowing y: log(2|y|) + log1p(1/(4 y^2)) for big y
    ly = math.log(abs(x)) + math.log(G) - math.log(eps)
    if ly > 20:
        return math.copysign(ly + math.log(2), x)
    return math.asinh(math.copysign(math.exp(ly), x))


def axis_rule(c: mpmath.mpf, eps: float, G: float, h: float, lo: float, hi: float,
              density: bool = True) -> AxisRule:
    """The mapped rule centred at ``c`` (see the module docstring): feature scale ``eps``, far
    spacing ``G h``, step ``h`` in ``t``, nodes covering ``[lo, hi]`` (one node beyond each end).

    ``eps >= G`` gives the plain trapezoidal rule with spacing ``G h``. With ``density`` the
    weights include the standard normal density at the node.
    """
    cf = float(c)
    t_lo = _inverse(lo - cf, eps, G)
    t_hi = _inverse(hi - cf, eps, G)
    k_lo, k_hi = math.floor(t_lo / h) - 1, math.ceil(t_hi / h) + 1
    hm = mpmath.mpf(h)
    norm = 1 / mpmath.sqrt(2 * mpmath.pi)
    zs, ws, ev = [], [], []
    if eps >= G:
        Gm = mpmath.mpf(G)
        for k in range(k_lo, k_hi + 1):
            z = c + Gm * (k * hm)
            zs.append(z)
            ws.append(hm * Gm * (norm * mpmath.exp(-z * z / 2) if density else 1))
            ev.append(k % 2 == 0)
        return AxisRule(zs, ws, ev)
    Gm, q = mpmath.mpf(G), mpmath.mpf(eps) / mpmath.mpf(G)
    em = mpmath.mpf(eps)
    for k in range(k_lo, k_hi + 1):
        t = k * hm
        sh = mpmath.sinh(t)
        u = q * sh
        z = c + Gm * mpmath.asinh(u)
        dz = em * mpmath.cosh(t) / mpmath.sqrt(1 + u * u)
        zs.append(z)
        ws.append(hm * dz * (norm * mpmath.exp(-z * z / 2) if density else 1))
        ev.append(k % 2 == 0)
    return AxisRule(zs, ws, ev)


def feature_scale(strip: float, norm: float, digits: float) -> float:
    """``eps = strip / norm`` floored at ``10^-(digits + 3)`` (see the module docstring)."""
    floor = 10.0 ** -(digits + 3)
    return max(strip / norm, floor) if norm > 0 else math.inf


def expectations(f_mp: Sequence[Callable], nu: mpmath.mpf, nv: mpmath.mpf, rho: mpmath.mpf,
                 order: int, digits: float, strip: float, halve: bool = False
                 ) -> tuple[list, list, list]:
    """The ten expectations of :class:`compverify.symbolic.kernel._Quadrature` (only those the
    order needs are non-zero) by the graded rule at about ``digits`` digits of the integrand's
    scale: returns ``(fine, coarse, scale)``, each a list of ten mpf (``coarse`` the ``2h`` rule,
    ``scale`` the same sums with every factor replaced by its modulus). ``halve`` halves the step.

    The inner rule (in ``z2``, at fixed ``z1``) is centred at the crossing ``c = -rho z1 / s``, so
    its nodes are ``z2 = c + delta_k`` with ``delta_k`` the same for every ``z1``, and
    ``T = rho z1 + s z2 = s delta_k`` does not depend on ``z1``: ``sigma(nv T)`` and its
    derivatives are evaluated once per ``k``, and only the Gaussian weight changes with ``z1``.
    """
    h = graded_step(digits) / (2 if halve else 1)
    G = far_spacing(digits) / h
    L = gaussian_window(digits)
    nuf, nvf, rf = float(nu), float(nv), float(rho)
    s_f = math.sqrt(max(1 - rf * rf, 0.0))
    s = mpmath.sqrt(max(1 - rho * rho, mpmath.mpf(0)))
    eps1 = feature_scale(strip, max(abs(nuf), abs(nvf * rf)), digits)
    outer = axis_rule(mpmath.mpf(0), eps1, G, h, -L, L)
    eps2 = feature_scale(strip, abs(nvf) * s_f, digits)
    f0, f1, f2 = f_mp
    zero = mpmath.mpf(0)
    keys = (1, 3, 6)[order]
    fine = [zero] * 10
    coarse = [zero] * 10
    scale = [zero] * 10
    hm = mpmath.mpf(h)
    norm = 1 / mpmath.sqrt(2 * mpmath.pi)
    Gm = mpmath.mpf(G)
    linear = eps2 >= G
    q = mpmath.mpf(eps2) / Gm if not linear else zero
    em = mpmath.mpf(eps2) if not linear else zero
    cache: dict[int, tuple] = {}

    def inner_node(k: int) -> tuple:
        """``(delta_k, h z'(t_k) / sqrt(2 pi), values, moduli)`` of the inner rule's node k."""
        if linear:
            delta, dz = Gm * (k * hm), Gm
        else:
            t = k * hm
            u = q * mpmath.sinh(t)
            delta = Gm * mpmath.asinh(u)
            dz = em * mpmath.cosh(t) / mpmath.sqrt(1 + u * u)
        T = s * delta
        Y = nv * T
        vals = [f0(Y)]
        if order >= 1:
            g1 = f1(Y)
            vals += [g1, g1 * T]
        if order >= 2:
            g2 = f2(Y)
            g2T = g2 * T
            vals += [g2, g2T, g2T * T]
        return delta, hm * dz * norm, vals, [abs(v) for v in vals]

    for z1, w1, e1 in zip(outer.z, outer.w, outer.even, strict=True):
        z1f = float(z1)
        X = nu * z1
        fx = (f0(X), f1(X) if order >= 1 else zero, f2(X) if order >= 2 else zero)
        rz = rho * z1
        if s == 0:  # rho = +-1: T = rho z1, one node of weight 1
            Y = nv * rz
            Sf = [f0(Y)]
            if order >= 1:
                g1 = f1(Y)
                Sf += [g1, g1 * rz]
            if order >= 2:
                g2 = f2(Y)
                Sf += [g2, g2 * rz, g2 * rz * rz]
            Sc, Sa = Sf, [abs(v) for v in Sf]
        else:
            half = math.sqrt(max(L * L - z1f * z1f, 1.0))
            c = -rz / s
            cf = float(c)
            k_lo = math.floor(_inverse(-half - cf, eps2, G) / h) - 1
            k_hi = math.ceil(_inverse(half - cf, eps2, G) / h) + 1
            Sf = [zero] * keys
            Sc = [zero] * keys
            Sa = [zero] * keys
            for k in range(k_lo, k_hi + 1):
                node = cache.get(k)
                if node is None:
                    node = cache[k] = inner_node(k)
                delta, wk, vals, mods = node
                z2 = c + delta
                w2 = wk * mpmath.exp(-z2 * z2 / 2)
                even = k % 2 == 0
                for i in range(keys):
                    v = w2 * vals[i]
                    Sf[i] += v
                    Sa[i] += w2 * mods[i]
                    if even:
                        Sc[i] += v
        _combine(fine, Sf, fx, z1, w1, order)
        _combine(scale, Sa, tuple(abs(v) for v in fx), abs(z1), w1, order)
        if e1:
            _combine(coarse, Sc, fx, z1, w1, order)
    # the coarse rule has weights 2h on each axis: 4 times the fine weights in 2-D, twice in 1-D
    factor = 2 if s == 0 else 4
    coarse = [factor * v for v in coarse]
    return fine, coarse, scale


def _combine(acc: list, S: list, fx: tuple, z1: mpmath.mpf, w1: mpmath.mpf, order: int) -> None:
    """Add one outer node's contribution to the ten expectations (layout of ``S``: ``[S0, S1,
    S1T, S2, S2T, S2TT]`` as far as the order needs)."""
    a = w1 * fx[0]
    acc[0] += a * S[0]
    if order >= 1:
        b = w1 * fx[1]
        acc[1] += b * z1 * S[0]          # E[z1 s'(X) s(Y)]
        acc[2] += a * S[2]               # E[s(X) s'(Y) T]
        acc[3] += b * S[1]               # E[s'(X) s'(Y)]
    if order >= 2:
        e = w1 * fx[2]
        acc[4] += e * z1 * z1 * S[0]     # E[z1^2 s''(X) s(Y)]
        acc[5] += b * z1 * S[2]          # E[z1 s'(X) s'(Y) T]
        acc[6] += e * z1 * S[1]          # E[z1 s''(X) s'(Y)]
        acc[7] += a * S[5]               # E[s(X) s''(Y) T^2]
        acc[8] += b * S[4]               # E[s'(X) s''(Y) T]
        acc[9] += e * S[3]               # E[s''(X) s''(Y)]


def _map_float(t: np.ndarray, eps: float, G: float) -> tuple[np.ndarray, np.ndarray]:
    """``(z(t) - c, z'(t))`` of the map in float64, without overflow for large ``|t|`` (where
    ``asinh(q sinh t) = sign(t) (|t| + log q) + O(e^-2|t| / q^2)``)."""
    if eps >= G:
        return G * t, np.full_like(t, G)
    q = eps / G
    far = np.abs(t) + math.log(q) > 20
    with np.errstate(over="ignore", invalid="ignore"):
        tn = np.where(far, 0.0, t)
        u = q * np.sinh(tn)
        delta = np.where(far, np.sign(t) * G * (np.abs(t) + math.log(q)), G * np.arcsinh(u))
        dz = np.where(far, G, eps * np.cosh(tn) / np.sqrt(1 + u * u))
    return delta, dz


def _axis_float(eps: float, G: float, h: float, lo: float, hi: float, c: float = 0.0):
    """Float64 nodes, weights ``h z'(t) phi(z)`` and even-node flags of the mapped rule on
    ``[lo, hi]`` (see :func:`axis_rule`)."""
    k = np.arange(math.floor(_inverse(lo - c, eps, G) / h) - 1,
                  math.ceil(_inverse(hi - c, eps, G) / h) + 2)
    delta, dz = _map_float(k * h, eps, G)
    z = c + delta
    return z, h * dz * np.exp(-z * z / 2) / math.sqrt(2 * math.pi), k % 2 == 0


def expectations_float64(fn: Callable[[int, np.ndarray], np.ndarray], nu: float, nv: float,
                         rho: float, order: int, digits: float, strip: float
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ten expectations of :func:`expectations` for one point in float64, vectorised:
    ``fn(j, t)`` is ``sigma^(j)(t)`` elementwise. Returns ``(fine, coarse, scale)`` arrays.

    The inner rule is centred at the crossing ``c(z1)`` when the inner feature is narrower than
    the Gaussian's spacing (``T = s delta_k``, exact), and at 0 otherwise (a plain Gaussian rule:
    ``T = rho z1 + s z2``); each row ``z1`` takes its own window of ``k``.
    """
    h = graded_step(digits)
    G = far_spacing(digits) / h
    L = gaussian_window(digits)
    s = math.sqrt(max(1 - rho * rho, 0.0))
    eps1 = feature_scale(strip, max(abs(nu), abs(nv * rho)), digits)
    z1, w1, e1 = _axis_float(eps1, G, h, -L, L)
    X = nu * z1
    fx = [fn(j, X) if j <= order else np.zeros_like(X) for j in range(3)]
    col = z1[:, None]
    if s == 0:
        T = rho * col
        w2 = np.ones_like(T)
        e2 = np.ones(T.shape, dtype=bool)
    else:
        eps2 = feature_scale(strip, abs(nv) * s, digits)
        half = np.sqrt(np.maximum(L * L - z1 * z1, 1.0))
        if eps2 >= G:
            z2, w, e = _axis_float(math.inf, G, h, -L, L)
            T = rho * col + s * z2[None, :]
            w2 = np.where(np.abs(z2)[None, :] <= half[:, None] + G * h, w[None, :], 0.0)
            e2 = np.broadcast_to(e[None, :], T.shape)
        else:
            c = -rho * z1 / s
            lo = np.array([math.floor(_inverse(-hf - ci, eps2, G) / h) - 1
                           for hf, ci in zip(half, c, strict=True)])
            hi = np.array([math.ceil(_inverse(hf - ci, eps2, G) / h) + 1
                           for hf, ci in zip(half, c, strict=True)])
            if max(np.max(np.abs(lo)), np.max(np.abs(hi))) > 2 ** 50:
                raise ValueError("inner window beyond the float64 integers")
            k = lo[:, None] + np.arange(int(np.max(hi - lo)) + 1)[None, :]
            delta, dz = _map_float(k * h, eps2, G)
            T = s * delta
            z2 = c[:, None] + delta
            w2 = np.where(k <= hi[:, None], h * dz * np.exp(-z2 * z2 / 2) / math.sqrt(2 * math.pi),
                          0.0)
            e2 = k % 2 == 0
    Y = nv * T
    g = [fn(j, Y) if j <= order else None for j in range(3)]
    parts = [g[0]]
    if order >= 1:
        parts += [g[1], g[1] * T]
    if order >= 2:
        parts += [g[2], g[2] * T, g[2] * T * T]
    fine, coarse, scale = np.zeros(10), np.zeros(10), np.zeros(10)
    Sf = [np.sum(w2 * p, axis=1) for p in parts]
    Sc = [np.sum(np.where(e2, w2 * p, 0.0), axis=1) for p in parts]
    Sa = [np.sum(w2 * np.abs(p), axis=1) for p in parts]
    factor = 2 if s == 0 else 4
    for acc, S, wts, absolute in ((fine, Sf, w1, False), (coarse, Sc, np.where(e1, w1, 0.0), False),
                                  (scale, Sa, w1, True)):
        fxs = [np.abs(f) for f in fx] if absolute else fx
        zz = np.abs(z1) if absolute else z1
        a = wts * fxs[0]
        acc[0] = np.sum(a * S[0])
        if order >= 1:
            b = wts * fxs[1]
            acc[1] = np.sum(b * zz * S[0])
            acc[2] = np.sum(a * S[2])
            acc[3] = np.sum(b * S[1])
        if order >= 2:
            e = wts * fxs[2]
            acc[4] = np.sum(e * zz * zz * S[0])
            acc[5] = np.sum(b * zz * S[2])
            acc[6] = np.sum(e * zz * S[1])
            acc[7] = np.sum(a * S[5])
            acc[8] = np.sum(b * S[4])
            acc[9] = np.sum(e * S[3])
    coarse *= factor
    return fine, coarse, scale
