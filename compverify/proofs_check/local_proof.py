r"""Proved strict local minima of the reduced objective (Krawczyk test, certified Hessian).

Problem (see :mod:`compverify.numeric.rigorous_objective`): a positively homogeneous activation
with a centred isotropic Gaussian target; the objective on the quotient by ``O(d)`` is
``r(x) = L*/C = 1 - q 1' K(G(x))^-1 1`` in the slice angles ``x`` (``n = (d - 1)(M - d/2)`` of
them).

From a solve result, :func:`prove_local` rotates the directions into the slice (an LQ
factorisation in mpmath), reads off the angles ``c`` (a dyadic point), and for the box
``X = c + [-eps, eps]^n`` (``eps = 2^-k``, the largest of :data:`RADII_LOG2` that works) computes
in ball arithmetic:

1. the Krawczyk image ``Kr(X) = c - Y g(c) + (I - Y H(X))(X - c)``, ``Y ~ H(c)^-1`` any fixed
   matrix, ``g``, ``H`` the gradient and Hessian of ``r``.  If ``Kr(X)`` lies in the interior of
   ``X``, ``g`` has exactly one zero ``x*`` in ``X`` and it lies in ``Kr(X)`` (Krawczyk 1969,
   Moore 1977);
2. a Cholesky factorisation of ``H(X) - mu I`` in ball arithmetic: if every pivot is certainly
   positive, ``lambda_min(H(x)) >= mu > 0`` for every ``x`` in ``X``, so ``r`` is strictly convex on
   ``X`` and ``x*`` is its unique minimiser there: a strict local minimum on the quotient;
3. ``r(x*) in r(c) - (1/2) delta' H(X) delta``, ``delta = c - Kr(X)`` (Taylor at ``x*``, where
   ``g = 0``), and ``L* = C r``.

``K(G)`` being proved invertible over ``X`` (step 1 inverts it) makes ``L*`` the minimum over the
coefficients there, so the point is also a strict local minimum of the full objective modulo the
rotations and the neuron rescaling.  The certificate (:mod:`.certificate_format`) is re-checked by
:mod:`.certificate_checker` before it is returned.

>>> # cert = prove_local(json.load(open("r.json")))   # see tests/test_proofs.py
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from flint import arb, arb_mat

from compverify.errors import CompverifyError
from compverify.numeric import rigorous_objective as ro
from compverify.proofs_check import certificate_format as cf

__all__ = ["RADII_LOG2", "ProblemSpec", "problem_spec", "slice_angles", "prove_local",
           "krawczyk", "prove_local_at"]

#: box radii tried, 2^-k, the largest first
RADII_LOG2 = (-8, -12, -16, -24, -32, -48, -64)
#: radii tried for the value box (the center is as accurate as the solve's digits)
VALUE_RADII_LOG2 = (-160, -128, -100, -80, -64, -48, -32)
#: working precision of the proofs (bits)
PREC_BITS = 256


class ProblemSpec(dict):
    """``{"activation", "target": {"family", "scale", "abar"}, "d", "M"}`` of a provable problem."""


def problem_spec(result: dict) -> ProblemSpec:
    """The provable problem of a solve result, or a :class:`CompverifyError` saying why not."""
    if not isinstance(result, dict) or "problem" not in result or "directions" not in result:
        raise CompverifyError("not a compverify solve result (needs 'problem' and 'directions')")
    prob = result["problem"]
    try:
        spec, d, M = str(prob["activation"]), int(prob["d"]), int(prob["M"])
        target = prob["target"]
        family = str(target["family"])
    except (KeyError, TypeError, ValueError):
        raise CompverifyError("solve result: problem.activation, d, M, target.family are "
                              "needed") from None
    ro.parse_activation(spec)
    if family not in ("isotropic", "gaussian"):
        raise CompverifyError(f"no proof for target family {family!r}: proofs cover centred "
                              "isotropic Gaussian targets (isotropic, gaussian with mean 0)")
    mean = target.get("mean", [])
    try:
        if any(float(m) != 0.0 for m in mean):
            raise CompverifyError(
                f"no proof for {spec} with a target of nonzero mean: its h is the series of "
                "numeric/meanfield_series, whose tail bound covers the value but not the first "
                "and second derivatives a proof needs, and whose terms are mpmath values, not "
                "ball enclosures (polynomial activations with a mean are proved)")
    except (TypeError, ValueError):
        raise CompverifyError(f"target mean {mean!r} is not a list of numbers") from None
    scale = str(target.get("scale", "1/sqrt(d)"))
    abar = str(target.get("abar", "1"))
    for what, text in (("scale", scale), ("abar", abar)):
        if what == "scale" and text == "1/sqrt(d)":
            continue
        try:
            Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise CompverifyError(f"target {what} {text!r} is not a decimal number") from None
    if M < 2 or d < 2 or M < d:
        raise CompverifyError(f"proofs need 2 <= d <= M, got d = {d}, M = {M}")
    return ProblemSpec(activation=spec, target={"family": family, "scale": scale, "abar": abar},
                       d=d, M=M)


def _rows(result: dict, d: int, M: int, dps: int) -> np.ndarray:
    dirs = result["directions"]
    if not isinstance(dirs, list) or len(dirs) != M or any(
            not isinstance(r, list) or len(r) != d for r in dirs):
        raise CompverifyError(f"directions must be {M} rows of {d} numbers")
    with mpmath.workdps(dps):
        try:
            U = np.array([[mpmath.mpf(str(x)) for x in r] for r in dirs], dtype=object)
        except (ValueError, TypeError):
            raise CompverifyError("directions hold a non-number") from None
        for r in U:
            n = mpmath.sqrt(sum(x * x for x in r))
            if not mpmath.isfinite(n) or abs(n - 1) > mpmath.mpf("1e-6"):
                raise CompverifyError("directions must be unit rows")
    return U


def slice_angles(U: np.ndarray, d: int, dps: int = 80) -> tuple[list[int], list]:
    """A row order with ``d`` independent leading rows, and the slice angles of ``U`` (mpf).

    The order comes from a pivoted QR of ``U'`` in float64 (permuting neurons is a symmetry);
    the rotation from an LQ factorisation of the leading rows in mpmath (positive diagonal).
    """
    from scipy.linalg import qr

    M = U.shape[0]
    Uf = np.array(U.tolist(), dtype=float)
    _, R, piv = qr(Uf.T, pivoting=True)
    if abs(R[d - 1, d - 1]) < 1e-8:
        raise CompverifyError("the directions span less than R^d: no proof for a degenerate "
                              "configuration")
    order = [int(i) for i in piv[:d]] + [i for i in range(M) if i not in set(piv[:d].tolist())]
    with mpmath.workdps(dps):
        A = mpmath.matrix([[U[i, k] for k in range(d)] for i in order[:d]])
        Q, R = mpmath.qr(A.T)
        for k in range(d):
            if R[k, k] < 0:
                for i in range(d):
                    Q[i, k] = -Q[i, k]
        angles = []
        for j, i in enumerate(order):
            x = [sum(U[i, m] * Q[m, k] for m in range(d)) for k in range(d)]
            k = min(j, d - 1)
            if j == 0:
                continue
            x = x[:k + 1]
            for t in range(k):
                tail = mpmath.sqrt(sum(v * v for v in x[t + 1:]))
                if t == k - 1:
                    tail = x[k] if j >= d else abs(x[k])
                angles.append(mpmath.atan2(tail, x[t]))
    return order, angles


def _dyadic(x: Any, bits: int) -> tuple[int, int]:
    """``x`` rounded to a dyadic ``man * 2^exp`` with at most ``bits`` bits of mantissa."""
    if isinstance(x, arb):
        m, e = (int(t) for t in x.mid().man_exp())
        shift = max(abs(m).bit_length() - bits, 0)
        return m >> shift if m >= 0 else -((-m) >> shift), e + shift
    with mpmath.workprec(bits):
        y = +mpmath.mpf(x)
    sign, man, exp, _ = y._mpf_  # man_exp drops the sign
    return (-1 if sign else 1) * int(man), int(exp)


def krawczyk(deriv: Any, center: list[arb], eps: arb) -> dict:
    """Krawczyk image radius, the Hessian over the box and the value enclosure (see the docstring).

    Returns ``{"ok", "image_radius", "hess_box", "value", "mu"}``; ``ok`` is False when the image
    is not inside the box or ``K`` is not proved invertible.
    """
    n = len(center)
    try:
        r_c, g_c, H_c = deriv(center)
        box = [arb(c, 0) + arb(0, eps) for c in center]
        _, _, H_X = deriv(box)
    except ZeroDivisionError:
        return {"ok": False}
    Hm = np.array([[float(h.mid()) for h in row] for row in H_c])
    if not np.all(np.isfinite(Hm)):
        return {"ok": False}
    try:
        Yf = np.linalg.inv(Hm)
    except np.linalg.LinAlgError:
        return {"ok": False}
    Y = arb_mat([[arb(float(v)) for v in row] for row in Yf])
    gv = arb_mat([[g] for g in g_c])
    HX = arb_mat(H_X)
    dev = arb_mat([[arb(0, eps)] for _ in range(n)])
    image = -(Y * gv) + (arb_mat(np.eye(n).tolist()) - Y * HX) * dev
    rad = max((image[i, 0].abs_upper() for i in range(n)), key=float)
    ok = bool(rad < eps)
    delta = [arb(0, rad) for _ in range(n)]
    quad = sum((delta[a] * H_X[a][b] * delta[b] for a in range(n) for b in range(n)), arb(0))
    value = r_c - quad / 2
    lam = float(np.linalg.eigvalsh(np.array([[float(h.mid()) for h in row] for row in H_X])).min())
    return {"ok": ok, "image_radius": rad, "hess_box": H_X, "value": value, "lam_est": lam}


def prove_local(result: dict, *, prec_bits: int = PREC_BITS) -> dict:
    """Certificate that the solve result's point is a strict local minimum, or CompverifyError."""
    ps = problem_spec(result)
    d, M = ps["d"], ps["M"]
    U = _rows(result, d, M, 60)
    order, angles = slice_angles(U, d)
    return prove_local_at(ps, angles, order, prec_bits=prec_bits)


def prove_local_at(ps: dict, angles: list, order: list[int], *, prec_bits: int = PREC_BITS,
                   radii_log2: tuple[int, ...] = RADII_LOG2, convex: bool = False) -> dict:
    """Certificate for the slice angles ``angles`` (mpf or arb) of the problem ``ps``."""
    from compverify.proofs_check.certificate_checker import derivatives_of

    deriv = derivatives_of(ps)
    with ro.workprec(prec_bits):
        center_dy = [_dyadic(a, prec_bits - 8) for a in angles]
        center = [arb(m) * arb(2) ** e for m, e in center_dy]
        for k in radii_log2:
            eps = arb(2) ** k
            out = krawczyk(deriv, center, eps)
            if not out.get("ok"):
                continue
            lam = out["lam_est"]
            if not lam > 0:
                continue
            mu_text = cf.round_sig(lam / 2, 3, up=False)
            mu = Fraction(mu_text)
            if ro.cholesky_ok(out["hess_box"], arb(mu.numerator) / mu.denominator):
                break
        else:
            raise CompverifyError(
                f"the Krawczyk test failed for every box radius 2^{radii_log2[0]} .. "
                f"2^{radii_log2[-1]}: not proved (the point may not be a nondegenerate minimum)")
        # the value box: as small as the center's accuracy allows (the solve's digits)
        for kv in VALUE_RADII_LOG2:
            if kv <= k and krawczyk(deriv, center, arb(2) ** kv).get("ok"):
                break
        else:
            kv = k
    cv = _convex_box(ps, center_dy, k, prec_bits) if convex else None
    return cf.local_certificate(ps, order, center_dy, k, kv, prec_bits, mu_text, cv)


def _convex_box(ps: dict, center_dy: list, k: int, prec_bits: int) -> tuple[int, int] | None:
    """The largest ``(kc, split)`` whose convexity check passes (sub-boxes of side 2^-7)."""
    from compverify.proofs_check import certificate_checker as checker

    n = len(center_dy)
    with ro.workprec(prec_bits):
        center = [checker.dyadic(list(c)) for c in center_dy]
        for kc in (-3, -4, -5, -6):
            if kc < k:
                break
            split = 2 ** max(kc + 8, 0)
            if split ** n > 4096:
                continue
            try:
                checker._check_convex(dict(ps), center, k, kc, split)
            except checker.Invalid:
                continue
            return kc, split
    return None
