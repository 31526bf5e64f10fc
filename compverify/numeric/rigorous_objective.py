r"""Ball-arithmetic (python-flint ``arb``) evaluation of the reduced objective, for proofs (SPEC D).

Scope: a positively homogeneous activation (``relu``, ``abs``, ``step``, ``leaky_relu:a``,
``relu_power:2``) with a centred isotropic Gaussian target ``w ~ N(0, s^2 I_d)``, ``abar`` its mean
second layer (``isotropic`` and ``gaussian`` with mean 0).  Then ``h(u) = h0`` is the same for
every unit ``u`` and ``K(u_j, u_k) = k(rho_jk)`` depends on ``rho_jk = <u_j, u_k>`` only, so the
reduced objective of SPEC A3 is a function of the Gram matrix ``G = U U'``::

    L*(U) = C - h0^2 1' K(G)^-1 1,        r(U) = L*(U)/C = 1 - q F(G),   F(G) = 1' K(G)^-1 1,

with ``q = h0^2/C = m^2 E|x|^(2n) / (E|x|^n)^2``, ``m = E sigma(z)``, ``z ~ N(0, 1)``,
``x ~ N(0, I_d)``, ``E|x|^p = 2^(p/2) Gamma((d+p)/2)/Gamma(d/2)`` (because ``f-bar(x) =
abar s^n m |x|^n``), and ``C = abar^2 s^(2n) m^2 E|x|^(2n)``.  Every quantity is an ``arb`` ball
(``sqrt``, ``acos``, ``asin``, ``Gamma``, ``pi`` through arb, never a float), so each result is a
rigorous enclosure of the exact real number, for a point or for every point of a box.

Kernels on unit vectors (``rho`` in ``[-1, 1]``; ``a = (1 + alpha)/2``, ``b = (1 - alpha)/2``)::

    relu          (sqrt(1 - rho^2) + (pi - acos rho) rho) / (2 pi)
    abs           (2/pi) (sqrt(1 - rho^2) + rho asin rho)
    step          (pi - acos rho) / (2 pi)
    leaky_relu:a  a^2 rho + b^2 k_abs(rho)
    relu_power:2  (3 rho sqrt(1 - rho^2) + (pi - acos rho)(1 + 2 rho^2)) / (2 pi)

Coordinates on the quotient by ``O(d)`` (:func:`slice_rows`): ``u_1 = e_1``; for ``2 <= j <= d``,
``u_j`` lies in ``span(e_1..e_j)`` with hyperspherical angles ``phi_1..phi_(j-1)``
(``x_1 = cos phi_1``, ``x_2 = sin phi_1 cos phi_2``, ..., last ``= prod sin``); ``u_j`` for
``j > d`` has ``d - 1`` angles.  ``n = (d - 1)(M - d/2)`` coordinates in all.  Every configuration
is rotated into this form by an orthogonal map (angles in ``[0, pi]``, the last one of each row
``j > d`` in ``[-pi, pi]``), so the map from angle boxes onto configurations modulo ``O(d)`` is
onto; near a configuration whose first ``d`` directions are independent it is a local chart of the
quotient, so the Hessian in these coordinates is the Hessian on the quotient.

Derivatives come from second-order forward differentiation (:class:`Jet`, value, gradient and
Hessian as balls) through the angles, the Gram entries and the kernel, and from
``F_a = -w' K_a w``, ``F_ab = -w' K_ab w + 2 (K_a w)' K^-1 (K_b w)``, ``w = K^-1 1``.

Why this lives in ``numeric``: it is evaluation (no search, no proof logic); both the prover
(:mod:`compverify.proofs_check.local_proof`, ...) and the independent certificate checker
(:mod:`compverify.proofs_check.certificate_checker`) use it, so the trusted code is this module
and the checker, nothing of the solver.

>>> import flint
>>> with flint.ctx.workprec(128):
...     r = relative_value("relu", 2, gram_of_angles("relu", 2, 3, [flint.arb(2) * flint.arb.pi() / 3,
...                                                               4 * flint.arb.pi() / 3]))
>>> r.contains(flint.arb("0.0017581003142"))  # the README's d = 2, M = 3 relative loss
False
>>> abs(float(r.mid()) - 0.00175810031420) < 1e-14
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import flint
from flint import arb, arb_mat

from compverify.errors import CompverifyError

__all__ = ["Jet", "SUPPORTED", "parse_activation", "kernel", "degree", "gaussian_mean",
           "loss_ratio", "constant_C", "n_coords", "slice_rows", "gram", "gram_box",
           "gram_of_angles", "reduced_F", "relative_value", "relative_derivatives", "cholesky_ok",
           "F_upper_over_box", "F_upper_centered", "F_upper_taylor", "F_upper_pair_relu_2d",
           "F_upper_pairs_relu_2d",
           "relative_lower_gap_2d", "relative_lower_cap_3d", "HALF_SPACE", "loewner_upper",
           "decimal_down", "decimal_up"]

#: activations with a closed-form unit kernel here
SUPPORTED = ("relu", "abs", "step", "leaky_relu", "relu_power:2")


def parse_activation(spec: str) -> tuple[str, Fraction | None]:
    """``(name, slope)`` of a supported activation spec; ``leaky_relu:a`` keeps ``a`` exact."""
    s = str(spec).strip()
    if s in ("relu", "abs", "step", "relu_power:2"):
        return s, None
    if s.startswith("leaky_relu:"):
        try:
            a = Fraction(s.split(":", 1)[1])
        except (ValueError, ZeroDivisionError):
            raise CompverifyError(f"leaky_relu slope in {spec!r} is not a number") from None
        return "leaky_relu", a
    raise CompverifyError(f"no rigorous kernel for activation {spec!r}; supported: "
                          f"{', '.join(SUPPORTED)} (leaky_relu:a)")


def _q(x: Fraction) -> arb:
    return arb(x.numerator) / x.denominator


def degree(spec: str) -> int:
    """Degree of positive homogeneity ``n``: ``sigma(c z) = c^n sigma(z)``, ``c > 0``."""
    name, _ = parse_activation(spec)
    return {"step": 0, "relu_power:2": 2}.get(name, 1)


# ---------------------------------------------------------------- jets (2nd-order forward AD)


class Jet:
    """``(value, gradient, Hessian)`` of a function of ``n`` variables, every entry an ``arb``.

    Arithmetic follows the product and chain rules; ``_unary(f, f1, f2)`` applies a scalar
    function with value ``f`` and derivatives ``f1``, ``f2`` at the value.
    """

    __slots__ = ("v", "g", "H")

    def __init__(self, v: arb, g: list, H: list):
        self.v, self.g, self.H = v, g, H

    @staticmethod
    def variable(v: arb, i: int, n: int, order: int = 2) -> Jet:
        """The coordinate ``x_i`` at ``v``; ``order = 1`` carries no Hessian (``H = None``)."""
        z = arb(0)
        return Jet(v, [arb(1) if k == i else z for k in range(n)],
                   [[z] * n for _ in range(n)] if order >= 2 else None)

    def __add__(self, o: Any) -> Jet:
        if not isinstance(o, Jet):
            return Jet(self.v + o, self.g, self.H)
        H = None if self.H is None else [[a + b for a, b in zip(r, s, strict=True)]
                                         for r, s in zip(self.H, o.H, strict=True)]
        return Jet(self.v + o.v, [a + b for a, b in zip(self.g, o.g, strict=True)], H)

    __radd__ = __add__

    def __neg__(self) -> Jet:
        H = None if self.H is None else [[-a for a in r] for r in self.H]
        return Jet(-self.v, [-a for a in self.g], H)

    def __sub__(self, o: Any) -> Jet:
        return self + (-o)

    def __rsub__(self, o: Any) -> Jet:
        return (-self) + o

    def __mul__(self, o: Any) -> Jet:
        if not isinstance(o, Jet):
            o = arb(o)
            H = None if self.H is None else [[a * o for a in r] for r in self.H]
            return Jet(self.v * o, [a * o for a in self.g], H)
        g1, g2 = self.g, o.g
        n = len(g1)
        H = None if self.H is None else [
            [self.v * o.H[i][k] + o.v * self.H[i][k] + g1[i] * g2[k] + g1[k] * g2[i]
             for k in range(n)] for i in range(n)]
        return Jet(self.v * o.v, [self.v * b + o.v * a for a, b in zip(g1, g2, strict=False)], H)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Jet:
        if isinstance(o, Jet):
            return self * o._unary(1 / o.v, -1 / (o.v * o.v), 2 / (o.v * o.v * o.v))
        return self * (1 / arb(o))

    def _unary(self, f: arb, f1: arb, f2: arb) -> Jet:
        g = self.g
        n = len(g)
        H = None if self.H is None else [[f1 * self.H[i][k] + f2 * g[i] * g[k] for k in range(n)]
                                         for i in range(n)]
        return Jet(f, [f1 * a for a in g], H)


def _cos(x: Any) -> Any:
    if isinstance(x, Jet):
        c, s = x.v.cos(), x.v.sin()
        return x._unary(c, -s, -c)
    return x.cos()


def _sin(x: Any) -> Any:
    if isinstance(x, Jet):
        c, s = x.v.cos(), x.v.sin()
        return x._unary(s, c, -s)
    return x.sin()


def _clip(r: arb) -> arb:
    """``r`` intersected with ``[-1, 1]`` (a cosine of an angle between unit vectors)."""
    return r.intersection(arb(0, 1))


def _ends(x: arb) -> tuple[arb, arb]:
    """Exact end points of ``x`` cut to ``[-1, 1]`` (a ball's outward rounding can poke past 1)."""
    one = arb(1)
    lo, hi = x.lower(), x.upper()
    lo = -one if lo < -one else (one if lo > one else lo)
    hi = one if hi > one else (-one if hi < -one else hi)
    return lo, hi


def _sqrt1m(x: Any) -> Any:
    """``sqrt(1 - x^2)``; for a plain ball the argument is cut at 0 (``|x| <= 1``)."""
    if isinstance(x, Jet):
        s = (1 - x.v * x.v).sqrt()
        return x._unary(s, -x.v / s, -1 / (s * s * s))
    return (1 - x * x).nonnegative_part().sqrt()


def _acos(x: Any) -> Any:
    """``acos``; for a plain ball from its (cut) end points, as ``acos`` is monotone."""
    if isinstance(x, Jet):
        s = (1 - x.v * x.v).sqrt()
        return x._unary(x.v.acos(), -1 / s, -x.v / (s * s * s))
    lo, hi = _ends(x)
    return lo.acos().union(hi.acos())


def _asin(x: Any) -> Any:
    """``asin``; for a plain ball from its (cut) end points, as ``asin`` is monotone."""
    if isinstance(x, Jet):
        s = (1 - x.v * x.v).sqrt()
        return x._unary(x.v.asin(), 1 / s, x.v / (s * s * s))
    lo, hi = _ends(x)
    return lo.asin().union(hi.asin())


def kernel(spec: str, rho: Any) -> Any:
    """``k(rho) = E[sigma(<u, x>) sigma(<v, x>)]`` for unit ``u, v`` with ``<u, v> = rho``.

    ``rho`` an ``arb`` (cut to ``[-1, 1]``) or a :class:`Jet`.
    """
    name, a = parse_activation(spec)
    if not isinstance(rho, Jet):
        rho = _clip(rho)
    pi = arb.pi()
    if name == "relu":
        return (_sqrt1m(rho) + (pi - _acos(rho)) * rho) / (2 * pi)
    if name == "abs":
        return (_sqrt1m(rho) + rho * _asin(rho)) * (2 / pi)
    if name == "step":
        return (pi - _acos(rho)) / (2 * pi)
    if name == "relu_power:2":
        return (3 * rho * _sqrt1m(rho) + (pi - _acos(rho)) * (1 + 2 * rho * rho)) / (2 * pi)
    lin, ev = _q((1 + a) / 2), _q((1 - a) / 2)
    return lin * lin * rho + ev * ev * kernel("abs", rho)


def gaussian_mean(spec: str) -> arb:
    """``m = E sigma(z)``, ``z ~ N(0, 1)``: the mean field is ``abar s^n m |x|^n``."""
    name, a = parse_activation(spec)
    pi = arb.pi()
    if name == "relu":
        return 1 / (2 * pi).sqrt()
    if name == "abs":
        return (2 / pi).sqrt()
    if name == "step":
        return arb(1) / 2
    if name == "relu_power:2":
        return arb(1) / 2
    return _q(1 - a) / (2 * pi).sqrt()


def _radial_moment(d: int, p: int) -> arb:
    """``E|x|^p = 2^(p/2) Gamma((d + p)/2) / Gamma(d/2)``, ``x ~ N(0, I_d)``."""
    half = arb(1) / 2
    return arb(2) ** (half * p) * (half * (d + p)).gamma() / (half * d).gamma()


def loss_ratio(spec: str, d: int) -> arb:
    """``q = h0^2 / C = m^2 E|x|^(2n) / (E|x|^n)^2``, so that ``L*/C = 1 - q F``."""
    n = degree(spec)
    m = gaussian_mean(spec)
    return m * m * _radial_moment(d, 2 * n) / _radial_moment(d, n) ** 2


def constant_C(spec: str, d: int, scale: arb, abar: arb) -> arb:
    """``C = abar^2 s^(2n) m^2 E|x|^(2n)`` (the target's own term)."""
    n = degree(spec)
    m = gaussian_mean(spec)
    return abar * abar * scale ** (2 * n) * m * m * _radial_moment(d, 2 * n)


# ---------------------------------------------------------------- coordinates and Gram


def n_coords(d: int, M: int) -> int:
    """``(d - 1)(M - d/2)`` angles for ``M >= d`` (``sum_(j<M) min(j, d - 1)`` in general)."""
    return sum(min(j, d - 1) for j in range(M))


def slice_rows(x: Sequence[Any], d: int, M: int) -> list[list[Any]]:
    """Unit rows ``u_1..u_M`` from the angles ``x`` (module docstring); zeros are ``None``."""
    if len(x) != n_coords(d, M):
        raise CompverifyError(f"{n_coords(d, M)} angles are needed for d = {d}, M = {M}, "
                              f"got {len(x)}")
    rows: list[list[Any]] = [[arb(1)] + [None] * (d - 1)]
    pos = 0
    for j in range(1, M):
        k = min(j, d - 1)
        ang = x[pos:pos + k]
        pos += k
        row: list[Any] = []
        tail: Any = None  # product of the sines so far
        for t in ang:
            c = _cos(t)
            row.append(c if tail is None else tail * c)
            s = _sin(t)
            tail = s if tail is None else tail * s
        row.append(tail)
        rows.append(row + [None] * (d - len(row)))
    return rows


def _dot(u: list, v: list) -> Any:
    acc: Any = None
    for a, b in zip(u, v, strict=False):
        if a is None or b is None:
            continue
        t = a * b
        acc = t if acc is None else acc + t
    return arb(0) if acc is None else acc


def gram(rows: list[list[Any]]) -> list[list[Any]]:
    """Off-diagonal ``<u_j, u_k>`` (the diagonal is exactly 1 for unit rows and set so)."""
    M = len(rows)
    G: list[list[Any]] = [[None] * M for _ in range(M)]
    for j in range(M):
        G[j][j] = arb(1)
        for k in range(j + 1, M):
            G[j][k] = G[k][j] = _dot(rows[j], rows[k])
    return G


def gram_box(x: Sequence[arb], d: int, M: int) -> list[list[arb]]:
    """:func:`gram` of :func:`slice_rows` for balls; for ``d = 2`` as ``cos(t_k - t_j)``
    (``t_1 = 0``), the same numbers with a much tighter enclosure over a box."""
    if d != 2:
        return gram(slice_rows(x, d, M))
    if len(x) != M - 1:
        raise CompverifyError(f"{M - 1} angles are needed for d = 2, M = {M}, got {len(x)}")
    t = [arb(0)] + list(x)
    return [[arb(1) if j == k else (t[k] - t[j]).cos() for k in range(M)] for j in range(M)]


def gram_of_angles(spec: str, d: int, M: int, x: Sequence[Any]) -> list[list[Any]]:
    """The Gram matrix of :func:`slice_rows` (``spec`` unused; kept for a uniform call)."""
    return gram(slice_rows(x, d, M))


def _kernel_matrix(spec: str, G: list[list[Any]]) -> list[list[Any]]:
    M = len(G)
    kd = kernel(spec, arb(1))
    K: list[list[Any]] = [[None] * M for _ in range(M)]
    for j in range(M):
        K[j][j] = kd
        for k in range(j + 1, M):
            K[j][k] = K[k][j] = kernel(spec, G[j][k])
    return K


def _val(x: Any) -> arb:
    return x.v if isinstance(x, Jet) else x


def reduced_F(spec: str, G: list[list[Any]]) -> arb:
    """``F = 1' K(G)^-1 1`` as a ball (``ZeroDivisionError`` if ``K`` is not proved invertible)."""
    K = _kernel_matrix(spec, G)
    Km = arb_mat([[_val(e) for e in r] for r in K])
    w = Km.solve(arb_mat([[1]] * len(G)))
    return sum((w[i, 0] for i in range(len(G))), arb(0))


def relative_value(spec: str, d: int, G: list[list[Any]]) -> arb:
    """``r = L*/C = 1 - q F(G)`` as a ball."""
    return 1 - loss_ratio(spec, d) * reduced_F(spec, G)


def relative_derivatives(spec: str, d: int, M: int, x: Sequence[arb], order: int = 2
                         ) -> tuple[arb, list[arb], list[list[arb]] | None]:
    """``r``, its gradient and (order 2) Hessian in the slice angles, balls valid over ``x``.

    ``x`` are balls (a point, or a box given by midpoints and radii).  Raises
    ``ZeroDivisionError`` if ``K`` is not proved invertible over ``x``.
    """
    n = len(x)
    jets = [Jet.variable(arb(t), i, n, order) for i, t in enumerate(x)]
    G = gram(slice_rows(jets, d, M))
    K = _kernel_matrix(spec, G)
    Km = arb_mat([[_val(e) for e in r] for r in K])
    Kinv = Km.inv()
    w = [sum((Kinv[i, k] for k in range(M)), arb(0)) for i in range(M)]
    F = sum(w, arb(0))

    def part(j: int, k: int, a: int, b: int | None = None) -> arb:
        e = K[j][k]
        if not isinstance(e, Jet):
            return arb(0)
        return e.g[a] if b is None else e.H[a][b]

    Kw = []  # K_a w, one vector per coordinate
    grad = []
    for a in range(n):
        v = [sum((part(j, k, a) * w[k] for k in range(M)), arb(0)) for j in range(M)]
        Kw.append(v)
        grad.append(-sum((w[j] * v[j] for j in range(M)), arb(0)))
    q = loss_ratio(spec, d)
    if order < 2:
        return 1 - q * F, [-q * g for g in grad], None
    KinvKw = [[sum((Kinv[i, k] * v[k] for k in range(M)), arb(0)) for i in range(M)] for v in Kw]
    H = [[arb(0)] * n for _ in range(n)]
    for a in range(n):
        for b in range(a, n):
            second = sum((w[j] * part(j, k, a, b) * w[k] for j in range(M) for k in range(M)),
                         arb(0))
            cross = sum((Kw[a][i] * KinvKw[b][i] for i in range(M)), arb(0))
            H[a][b] = H[b][a] = -second + 2 * cross
    return 1 - q * F, [-q * g for g in grad], [[-q * h for h in row] for row in H]


# ---------------------------------------------------------------- certified linear algebra


def cholesky_ok(A: list[list[arb]], shift: arb | None = None) -> bool:
    """True if the Cholesky factorisation of every symmetric matrix in ``A - shift I`` exists.

    Each pivot is a ball that must be certainly positive; by inclusion every real symmetric matrix
    whose entries lie in the balls then has positive pivots, i.e. is positive definite, so
    ``lambda_min >= shift`` for all of them.
    """
    n = len(A)
    L = [[arb(0)] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = A[i][j] - (shift if (i == j and shift is not None) else 0)
            s = s - sum((L[i][k] * L[j][k] for k in range(j)), arb(0))
            if i == j:
                if not s > 0:
                    return False
                L[i][i] = s.sqrt()
            else:
                L[i][j] = s / L[j][j]
    return True


def loewner_upper(K: list[list[arb]], rhs: list[Any]) -> arb | None:
    """An upper bound of ``b' K^-1 b`` over every symmetric ``K`` in the balls, ``b = rhs``.

    ``K = Kc + E`` with ``|E_jk| <= R_jk`` (the balls' midpoints and radii), so
    ``K >= Kc - r I`` with ``r = max_j sum_k R_jk >= ||E||_2``; if ``Kc - r I`` is proved positive
    definite, ``K^-1 <= (Kc - r I)^-1`` and ``b' K^-1 b <= b' (Kc - r I)^-1 b``.  ``None`` if not
    proved.
    """
    M = len(K)
    rads = [sum((K[j][k].rad() for k in range(M)), arb(0)) for j in range(M)]
    r = arb(max(rads, key=lambda t: float(t.upper())).upper())
    low = [[arb(K[j][k].mid()) - (r if j == k else 0) for k in range(M)] for j in range(M)]
    if not cholesky_ok(low):
        return None
    b = arb_mat([[v] for v in rhs])
    w = arb_mat(low).solve(b)
    return sum((w[i, 0] * rhs[i] for i in range(M)), arb(0))


def F_upper_over_box(spec: str, G: list[list[arb]]) -> arb | None:
    """An upper bound of ``F(G) = 1' K(G)^-1 1`` over every Gram matrix in the balls ``G``
    (:func:`loewner_upper`); ``None`` if not proved."""
    return loewner_upper(_kernel_matrix(spec, G), [arb(1)] * len(G))


def F_upper_centered(spec: str, d: int, M: int, box: Sequence[tuple[arb, arb]]) -> arb | None:
    """Centred-form upper bound of ``F`` over a box of slice angles: ``F(x) <= F(c) +
    sum_a |F_a(X)| w_a`` (mean value theorem; ``c`` the centre, ``w_a`` the half-widths, ``F_a``
    enclosed over the box by first-order jets).  ``None`` if ``K`` is not proved invertible."""
    c = [(lo + hi) / 2 for lo, hi in box]
    half = [((hi - lo) / 2).upper() for lo, hi in box]
    try:
        Fc = reduced_F(spec, gram_box(c, d, M))
        _, g, _ = relative_derivatives(spec, d, M, [ci + arb(0, h) for ci, h in zip(c, half,
                                                                                  strict=True)],
                                       order=1)
    except ZeroDivisionError:
        return None
    q = loss_ratio(spec, d)
    return Fc + sum((arb((gi / q).abs_upper()) * h for gi, h in zip(g, half, strict=True)),
                    arb(0))


def F_upper_taylor(spec: str, d: int, M: int, box: Sequence[tuple[arb, arb]]) -> arb | None:
    """Second-order (Taylor) upper bound of ``F`` over a box of slice angles.

    ``F(c + h) = F(c) + F'(c) h + h' F''(xi) h / 2`` for some ``xi`` in the box (Taylor with the
    Lagrange remainder), ``|h_a| <= w_a`` (the half-widths), so ``F <= F(c) + sum_a |F_a(c)| w_a +
    sum_ab |F_ab(X)| w_a w_b / 2`` with ``F_ab`` enclosed over the whole box by second-order jets.
    Near a minimiser ``F_a(c)`` is small and the remainder is quadratic in the widths, so leaves
    about the square root of the first-order form's size are settled.  ``None`` if ``K`` is not
    proved invertible.
    """
    c = [(lo + hi) / 2 for lo, hi in box]
    half = [arb(((hi - lo) / 2).upper()) for lo, hi in box]
    try:
        r_c, g_c, _ = relative_derivatives(spec, d, M, c, order=1)
        _, _, H = relative_derivatives(spec, d, M, [ci + arb(0, h) for ci, h in
                                                     zip(c, half, strict=True)], order=2)
    except ZeroDivisionError:
        return None
    q = loss_ratio(spec, d)
    n = len(c)
    lin = sum((arb(g.abs_upper()) * h for g, h in zip(g_c, half, strict=True)), arb(0))
    quad = sum((arb(H[a][b].abs_upper()) * half[a] * half[b] for a in range(n)
                for b in range(n)), arb(0))
    return (1 - r_c) / q + (lin + quad / 2) / q


#: activations with sigma(z) = 0 for z <= 0 (a neuron is dead on a half-space)
HALF_SPACE = ("relu", "step", "relu_power:2")


def relative_lower_gap_2d(spec: str, box: Sequence[tuple[arb, arb]]) -> arb | None:
    """A lower bound of ``r = L*/C`` over a box of ``d = 2`` angles with a wide empty arc.

    Directions ``u_j = (cos t_j, sin t_j)``, ``t_1 = 0`` and ``t_j`` (``j >= 2``) in the box's
    intervals.  An arc of the circle that meets none of these intervals (taken mod ``2 pi``) holds
    no direction for any point of the box.  If it has length ``G > pi``, then for ``theta`` in its
    middle part of length ``G - pi`` every direction is at angular distance ``>= pi/2`` from
    ``theta``, so ``<u_j, x> <= 0`` for ``x = R (cos theta, sin theta)`` and every neuron vanishes
    there (``sigma(z) = 0`` for ``z <= 0``, :data:`HALF_SPACE`).  With ``x ~ N(0, I_2)``, ``R`` and
    ``theta`` are independent and ``theta`` is uniform, and the centred isotropic target is
    ``fbar = c R^n``; hence for every choice of coefficients ``L >= E[fbar^2 1(theta in the
    part)] = C (G - pi)/(2 pi)``, i.e. ``r >= (G - pi)/(2 pi)``.  ``None`` when no certified empty
    arc is longer than ``pi``.
    """
    if parse_activation(spec)[0] not in HALF_SPACE:
        return None
    pi = arb.pi()
    two_pi = 2 * pi
    tp = float(two_pi.mid())
    pieces: list[tuple[arb, arb]] = [(arb(0), arb(0))]  # (lower, upper), exact end points
    for lo, hi in box:
        if not (hi - lo) < two_pi:
            return None
        shift = two_pi * int(float(lo.mid()) // tp)
        a, b = arb((lo - shift).lower()), arb((hi - shift).upper())
        if b > two_pi or not b < two_pi:  # may cross 2 pi: both parts
            pieces.append((a, arb(two_pi.upper())))
            pieces.append((arb(0).min(arb((b - two_pi).lower())), arb((b - two_pi).upper())))
        else:
            pieces.append((a, b))
    pieces.sort(key=lambda p: float(p[0].mid()))
    best = None
    reach = pieces[0][1]
    cands = []
    for p in pieces[1:]:
        cands.append((reach, p[0]))
        reach = reach.max(p[1])
    cands.append((reach, pieces[0][0] + two_pi))  # the arc across 2 pi
    for A, B in cands:
        # certify that no copy q + 2 pi m of a piece meets (A, B); the pieces lie in about
        # [0, 2 pi] and the arcs in about [0, 4 pi], so m = -1..2 are all the copies that can
        if all(q[1] + two_pi * m <= A or q[0] + two_pi * m >= B
               for q in pieces for m in (-1, 0, 1, 2)):
            low = arb(((B - A - pi) / two_pi).lower())
            if low > 0 and (best is None or low > best):
                best = low
    return best


def relative_lower_cap_3d(spec: str, G: list[list[arb]]) -> arb | None:
    """A lower bound of ``r = L*/C`` when every direction lies within angle ``beta < pi/2`` of one
    of them (``d = 3``, :data:`HALF_SPACE` activations, centred isotropic target).

    If ``<u_j, u_k> >= cos beta > 0`` for all ``j``, then for ``theta`` within angle
    ``pi/2 - beta`` of ``-u_k`` the angle from each ``u_j`` to ``theta`` is at least ``pi/2``, so
    every neuron vanishes on that cone; it is a cap of area fraction ``(1 - sin beta)/2`` of the
    sphere (``d = 3``).  As for the empty arc (:func:`relative_lower_gap_2d`), ``|x|`` and
    ``x/|x|`` are independent and the target is ``c |x|^n``, so ``r >= (1 - sin beta)/2``.  ``None``
    when no direction has all the others within a right angle.
    """
    if parse_activation(spec)[0] not in HALF_SPACE or len(G) < 2:
        return None
    M = len(G)
    best = None
    for k in range(M):
        c = min((arb(G[k][j].lower()) for j in range(M) if j != k), key=lambda t: float(t.mid()))
        if not c > 0:
            continue
        sin_beta = arb((1 - c * c).nonnegative_part().sqrt().upper())
        low = arb(((1 - sin_beta) / 2).lower())
        if low > 0 and (best is None or low > best):
            best = low
    return best


def F_upper_pair_relu_2d(alpha: list[arb], j: int, k: int) -> arb | None:
    """Upper bound of ``F`` for ReLU in ``d = 2`` near ``u_j = u_k``, in a divided-difference basis.

    ``u_l = (cos alpha_l, sin alpha_l)``; ``Delta = alpha_k - alpha_j`` with ``|Delta| <= pi/2``
    (else ``None``).  The span of ``phi_l = relu(<u_l, x>)`` is also spanned by ``phi_l``
    (``l != k``) and ``psi = (phi_k - phi_j)/s``, ``s = 2 sin(Delta/2) = +-|u_k - u_j|``, so
    ``F = b' K'^-1 b`` with ``b = 1`` except ``b_psi = (h0 - h0)/s = 0``, and, with
    ``e = (u_k - u_j)/s = (-sin m, cos m)``, ``m = (alpha_j + alpha_k)/2``:

    * ``<psi, phi_l> = (k(rho_kl) - k(rho_jl))/s = k'(xi) <e, u_l>`` for some ``xi`` between
      ``rho_jl`` and ``rho_kl`` (mean value theorem), ``k'(rho) = (pi - acos rho)/(2 pi)``;
    * ``<psi, psi> = 2 (k(1) - k(cos Delta))/s^2 = 1/2 - g/(2 pi)``,
      ``g = (sin D - D cos D)/(1 - cos D) = int_0^D t sin t dt / int_0^D sin t dt`` (``D = |Delta|``),
      a mean of ``t`` over ``[0, D]`` with increasing weight, so ``g in [D/2, D]``.

    No entry cancels as ``Delta -> 0`` (the limit is the dipole ``x.e 1(<u_j, x> > 0)``), and the
    bound also covers ``Delta = 0``, where the span is smaller.  ``None`` if not proved.
    """
    M = len(alpha)
    D = (alpha[k] - alpha[j]).abs_upper()
    half_pi = arb.pi() / 2
    if not arb(D) < half_pi:
        return None
    D = arb(0).union(arb(D))
    pi = arb.pi()
    u = [(a.cos(), a.sin()) for a in alpha]
    m = (alpha[j] + alpha[k]) / 2
    e = (-m.sin(), m.cos())
    idx = [l for l in range(M) if l != k]
    n = len(idx) + 1
    K = [[arb(0)] * n for _ in range(n)]
    for p, l in enumerate(idx):
        for q_, l2 in enumerate(idx):
            if q_ < p:
                continue
            v = kernel("relu", arb(1)) if l == l2 else kernel(
                "relu", u[l][0] * u[l2][0] + u[l][1] * u[l2][1])
            K[p][q_] = K[q_][p] = v
        rj = u[j][0] * u[l][0] + u[j][1] * u[l][1] if l != j else arb(1)
        rk = u[k][0] * u[l][0] + u[k][1] * u[l][1]
        kprime = (pi - _acos(rj.union(rk))) / (2 * pi)
        K[p][n - 1] = K[n - 1][p] = kprime * (e[0] * u[l][0] + e[1] * u[l][1])
    g = (D / 2).union(D)
    K[n - 1][n - 1] = arb(1) / 2 - g / (2 * pi)
    return loewner_upper(K, [arb(1)] * (n - 1) + [arb(0)])


def _relu_angle_g1(theta: arb) -> arb:
    """``g'(theta)`` for ``g(theta) = k_relu(cos theta)``: ``-(pi - |theta|) sin theta/(2 pi)`` on
    ``[-pi, pi]``, ``-|pi - theta| sin theta/(2 pi)`` on ``[0, 2 pi]`` (``g`` is even and
    ``2 pi``-periodic); the ball is first shifted by a multiple of ``2 pi`` into one of them."""
    pi = arb.pi()
    t = _shift_into(theta)
    if t is None:
        return arb(0, 1)  # |g'| <= 1/2 everywhere
    th, centred = t
    return (-(pi - abs(th)) if centred else -abs(pi - th)) * th.sin() / (2 * pi)


def _relu_angle_g2(theta: arb) -> arb:
    """``g''(theta)``: ``(|sin theta| - (pi - |theta|) cos theta)/(2 pi)`` on ``[-pi, pi]``,
    ``(|sin theta| - |pi - theta| cos theta)/(2 pi)`` on ``[0, 2 pi]`` (continuous: ``g`` is
    ``C^2``, its third derivative jumps at 0)."""
    pi = arb.pi()
    t = _shift_into(theta)
    if t is None:
        return arb(0, 1)  # |g''| <= (1 + pi)/(2 pi) < 1
    th, centred = t
    return (abs(th.sin()) - ((pi - abs(th)) if centred else abs(pi - th)) * th.cos()) / (2 * pi)


def _shift_into(theta: arb) -> tuple[arb, bool] | None:
    """``theta + 2 pi m`` inside ``[-pi, pi]`` (``True``) or ``[0, 2 pi]`` (``False``), or ``None``."""
    pi = arb.pi()
    two_pi = 2 * pi
    m = -math.floor(float(theta.mid()) / float(two_pi.mid()) + 0.5)
    for cand in (theta + two_pi * m, theta + two_pi * m + two_pi, theta + two_pi * m - two_pi):
        if cand >= -pi and cand <= pi:
            return cand, True
        if cand >= 0 and cand <= two_pi:
            return cand, False
    return None


def F_upper_pairs_relu_2d(alpha: list[arb], pairs: list[tuple[int, int]]) -> arb | None:
    """Upper bound of ``F`` for ReLU in ``d = 2`` with several close pairs, in angle divided
    differences.

    ``phi_l = relu(<u_l, x>)``, ``u_l = (cos alpha_l, sin alpha_l)``; for each pair ``(j, k)``
    (disjoint) ``phi_k`` is replaced by ``psi = (phi_k - phi_j)/(alpha_k - alpha_j)``: the same span
    when the angles differ, a larger one in the limit, so ``F <= b' K'^-1 b`` with ``b = 1`` on the
    ``phi`` and ``0`` on the ``psi`` (the target's correlations with ``phi_j``, ``phi_k`` are equal).
    With ``g(theta) = k(cos theta)`` (``C^2``, even, ``2 pi``-periodic) the entries are, by the mean
    value theorem (once, or twice for a mixed difference over a rectangle):

    * ``<phi_l, phi_m> = g(alpha_l - alpha_m)``;
    * ``<psi, phi_l> = g'(xi - alpha_l)``, ``xi`` between ``alpha_j`` and ``alpha_k``;
    * ``<psi, psi'> = -g''(xi - eta)`` for the two pairs' rectangles;
    * ``<psi, psi> = 2 (g(0) - g(Delta))/Delta^2 = -g''(xi)``, ``xi`` in ``[0, |Delta|]``.

    Each is enclosed over the hull of its arguments.  ``None`` if not proved.
    """
    M = len(alpha)
    drop = {k for _, k in pairs}
    keep = [l for l in range(M) if l not in drop]
    basis: list[tuple[str, Any]] = [("phi", l) for l in keep] + [("psi", p) for p in pairs]
    n = len(basis)

    def hull(vals: list[arb]) -> arb:
        out = vals[0]
        for v in vals[1:]:
            out = out.union(v)
        return out

    K = [[arb(0)] * n for _ in range(n)]
    for p, (kp, ip) in enumerate(basis):
        for q_, (kq, iq) in enumerate(basis):
            if q_ < p:
                continue
            if kp == "phi" and kq == "phi":
                v = kernel("relu", arb(1)) if ip == iq else kernel(
                    "relu", (alpha[ip] - alpha[iq]).cos())
            elif kp == "phi" or kq == "phi":
                l, (j, k) = (ip, iq) if kp == "phi" else (iq, ip)
                v = _relu_angle_g1(hull([alpha[j] - alpha[l], alpha[k] - alpha[l]]))
            elif ip == iq:
                j, k = ip
                D = (alpha[k] - alpha[j]).abs_upper()
                v = -_relu_angle_g2(arb(0).union(arb(D)))
            else:
                (j, k), (m, l) = ip, iq
                v = -_relu_angle_g2(hull([alpha[a] - alpha[b] for a in (j, k) for b in (m, l)]))
            K[p][q_] = K[q_][p] = v
    return loewner_upper(K, [arb(1) if kind == "phi" else arb(0) for kind, _ in basis])


# ---------------------------------------------------------------- decimal read-outs


def _exact_fraction(x: arb) -> Fraction:
    m, e = x.man_exp()
    m, e = int(m), int(e)
    return Fraction(m) * (Fraction(2) ** e)


def _round_dir(q: Fraction, digits: int, up: bool) -> str:
    from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_CEILING if up else ROUND_FLOOR
        v = Decimal(q.numerator) / Decimal(q.denominator)
    return str(v)


def decimal_down(x: arb, digits: int = 25) -> str:
    """A decimal string ``<= every point of x`` (its lower end rounded down to ``digits``)."""
    return _round_dir(_exact_fraction(x.lower()), digits, up=False)


def decimal_up(x: arb, digits: int = 25) -> str:
    """A decimal string ``>= every point of x`` (its upper end rounded up to ``digits``)."""
    return _round_dir(_exact_fraction(x.upper()), digits, up=True)


def workprec(bits: int) -> Any:
    """``flint.ctx.workprec(bits)``: every ball operation inside runs at ``bits`` bits."""
    return flint.ctx.workprec(int(bits))
