r"""Proved strict local minima for polynomial activations and finite-network targets.

The reduced objective and its charts are :mod:`compverify.numeric.rigorous_general`; the proof
is the same as :mod:`.local_proof` (Krawczyk test for one critical point in a box, ball Cholesky
of the Hessian over the box, value enclosure) in the chart's coordinates.  From a solve result:

* the problem: the activation, ``d``, ``M`` and the target as exact numbers (a finite target's
  ``W`` and ``a`` read from its ``.npz``, whose SHA-256 must match the result's; a Gaussian
  target's ``|mean|^2`` as the exact sum of the squares of its decimal entries);
* the chart and the point's coordinates (:func:`chart_coordinates`): ``sphere`` angles of the unit
  directions (homogeneous activation, finite target); the weights themselves (polynomial, finite
  target); the weights rotated by an LQ factorisation (``lower:0``, centred Gaussian target), or
  first by a Householder reflection taking the mean to ``|mean| e_1`` and then an LQ factorisation
  of the other columns (``lower:1``).  Every rotation is exact up to the working precision of
  mpmath, and the objective is invariant under it, so the proved point is the solve result's
  point moved by a symmetry.

>>> general_applies({"problem": {"activation": "tanh", "target": {"family": "isotropic"}}})
False
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric import rigorous_objective as ro
from compverify.numeric.rigorous_general import GeneralObjective, is_polynomial

__all__ = ["general_applies", "general_problem", "chart_coordinates", "general_point",
           "prove_local_general"]

_DPS = 60


def general_applies(result: dict) -> bool:
    """Whether the result's problem is one this module proves (else the centred isotropic route
    of :mod:`.local_proof`, or no proof)."""
    prob = result.get("problem", {}) if isinstance(result, dict) else {}
    spec = str(prob.get("activation", ""))
    fam = (prob.get("target") or {}).get("family") if isinstance(prob.get("target"), dict) else None
    homogeneous = spec in ro.SUPPORTED or spec.startswith("leaky_relu:")
    if fam == "finite":
        return is_polynomial(spec) or homogeneous
    return fam in ("isotropic", "gaussian") and is_polynomial(spec)


def _fraction_text(x: Any) -> str:
    q = Fraction(float(x))
    return str(q)


def _finite_target(result: dict) -> tuple[list[list[str]], list[str]]:
    from compverify.numeric.finite_network import load_npz

    prob = result["problem"]
    path = (prob.get("inputs") or {}).get("target")
    if not isinstance(path, str) or not path.endswith(".npz"):
        raise CompverifyError("the result's finite target has no .npz path (problem.inputs.target)")
    net = load_npz(path, prob["activation"])
    want = prob["target"].get("sha256")
    desc = net.describe() if hasattr(net, "describe") else {}
    if want is not None and desc.get("sha256") != want:
        raise CompverifyError(f"{path}: its arrays do not match the result's sha256 (another file?)")
    W = np.asarray(net.W, dtype=float)
    a = np.asarray(net.a, dtype=float)
    return [[_fraction_text(x) for x in r] for r in W], [_fraction_text(x) for x in a]


def general_problem(result: dict) -> dict:
    """The exact problem (certificate ``problem`` field) of a solve result."""
    prob = result["problem"]
    spec, d, M = str(prob["activation"]), int(prob["d"]), int(prob["M"])
    t = prob["target"]
    fam = t.get("family")
    if fam == "finite":
        V, a = _finite_target(result)
        target: dict = {"family": "finite", "V": V, "a": a}
        chart = f"lower:{d}" if is_polynomial(spec) else "sphere"
    elif fam in ("isotropic", "gaussian"):
        mean = t.get("mean") or []
        try:
            mm = sum((Fraction(str(m)) ** 2 for m in mean), Fraction(0))
        except (ValueError, ZeroDivisionError):
            raise CompverifyError(f"target mean {mean!r} is not a list of numbers") from None
        target = {"family": "gaussian", "mean_norm_squared": str(mm),
                  "scale": str(t.get("scale", "1/sqrt(d)")), "abar": str(t.get("abar", "1"))}
        chart = "lower:0" if mm == 0 else "lower:1"
    else:
        raise CompverifyError(f"no proof for target family {fam!r}")
    problem = {"objective": "general", "activation": spec, "d": d, "M": M, "target": target,
               "chart": chart}
    GeneralObjective(spec, d, M, target, chart)  # validates
    return problem


def _mp_rows(rows: Any, d: int, M: int) -> mpmath.matrix:
    if not isinstance(rows, list) or len(rows) != M or any(
            not isinstance(r, list) or len(r) != d for r in rows):
        raise CompverifyError(f"the result's weights must be {M} rows of {d} numbers")
    try:
        return mpmath.matrix([[mpmath.mpf(str(x)) for x in r] for r in rows])
    except (ValueError, TypeError):
        raise CompverifyError("the result's weights hold a non-number") from None


def _lq(W: mpmath.matrix) -> mpmath.matrix:
    """``W Q`` with ``Q`` orthogonal from a QR factorisation of the leading rows' transpose: row
    ``j`` of the product has zeros beyond column ``j``.  The first ``min(M, d) - 1`` rows must be
    independent (they fix the rotation up to a reflection; the last leading row's last entry is a
    free coordinate, possibly 0), so every nearby configuration is rotated into the chart near
    the point."""
    M, d = W.rows, W.cols
    m = min(M, d)
    A = mpmath.matrix([[W[i, k] for i in range(m)] for k in range(d)])  # d x m
    Q, R = mpmath.qr(A, mode="full")
    if any(abs(R[i, i]) < mpmath.mpf("1e-20") for i in range(m - 1)):
        raise CompverifyError("the leading rows of the weights are dependent: no chart "
                              "(a degenerate configuration)")
    return W * Q


def chart_coordinates(problem: dict, result: dict) -> list:
    """The coordinates (mpf) of the result's point in the problem's chart."""
    d, M, chart = problem["d"], problem["M"], problem["chart"]
    with mpmath.workdps(_DPS):
        if chart == "sphere":
            U = _mp_rows(result["directions"], d, M)
            out = []
            for j in range(M):
                u = [U[j, k] for k in range(d)]
                nrm = mpmath.sqrt(sum(x * x for x in u))
                u = [x / nrm for x in u]
                for t in range(d - 1):
                    if t == d - 2:
                        out.append(mpmath.atan2(u[d - 1], u[d - 2]))
                    else:
                        out.append(mpmath.atan2(mpmath.sqrt(sum(x * x for x in u[t + 1:])), u[t]))
            return out
        W = _mp_rows(result["V"], d, M)
        o = int(chart.split(":", 1)[1])
        if o == 0:
            W = _lq(W)
        elif o == 1:
            mean = [mpmath.mpf(str(m)) for m in result["problem"]["target"]["mean"]]
            e = mpmath.matrix(mean) / mpmath.sqrt(sum(m * m for m in mean))
            v = e.copy()
            v[0] -= 1
            vv = sum(x * x for x in v)
            Hh = mpmath.eye(d) if vv == 0 else mpmath.eye(d) - 2 * (v * v.T) / vv
            W = W * Hh  # rows H w_j (H symmetric): <e_1, H w_j> = <mean, w_j>/|mean|
            if d > 1:
                rest = mpmath.matrix([[W[j, k] for k in range(1, d)] for j in range(M)])
                rest = _lq(rest)
                for j in range(M):
                    for k in range(1, d):
                        W[j, k] = rest[j, k - 1]
        from compverify.numeric.rigorous_general import chart_shape

        shape = chart_shape(chart, d, M)
        return [W[j, k] for j in range(M) for k in range(d) if shape[j][k]]


def general_point(result: dict) -> tuple[dict, list]:
    """The exact problem and the point's chart coordinates (CompverifyError for unusable input)."""
    problem = general_problem(result)
    try:
        return problem, chart_coordinates(problem, result)
    except KeyError as exc:
        raise CompverifyError(f"the solve result lacks {exc}") from None


def prove_local_general(result: dict) -> dict:
    """Certificate that the result's point is a strict local minimum (general problems)."""
    from compverify.proofs_check.local_proof import prove_local_at

    problem, x = general_point(result)
    return prove_local_at(problem, x, list(range(problem["M"])))
