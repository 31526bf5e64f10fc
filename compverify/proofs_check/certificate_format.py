r"""Writing proof certificates: the JSON layout, the statement texts, versions and the digest.

A certificate is a JSON object::

    {"format": "compverify-certificate/1", "kind": ..., "statement": ..., "problem": {...},
     "coordinates": ..., "prec_bits": 256, ... kind-specific inputs ...,
     "claims": {... decimal strings ...}, "versions": {...}, "digest": "sha256:..."}

Inputs are exact (dyadic ``[mantissa, exponent]`` pairs, integers, decimal strings); claims are
the canonical outward roundings of ball enclosures (:mod:`.certificate_checker` recomputes them and
compares them string for string).  :func:`finish` adds the versions and the digest and refuses to
return a certificate the checker rejects.

>>> round_sig(0.0123456, 3, up=False)
'0.0123'
"""

from __future__ import annotations

import platform
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import flint

from compverify._version import __version__
from compverify.errors import CompverifyError
from compverify.proofs_check import certificate_checker as checker

__all__ = ["round_sig", "versions", "finish", "COORDINATES", "local_certificate"]

COORDINATES = ("slice angles of compverify.numeric.rigorous_objective.slice_rows: u_1 = e_1, "
               "u_j in span(e_1..e_j) with hyperspherical angles (j <= d), d - 1 angles for j > d")


def round_sig(x: float, digits: int, *, up: bool) -> str:
    """``x`` rounded up or down to ``digits`` significant decimal digits, as a string."""
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_CEILING if up else ROUND_FLOOR
        return str(+Decimal(x))


def versions() -> dict:
    """The library versions the certificate was written with (informative, not checked)."""
    return {"compverify": __version__, "python-flint": flint.__version__,
            "python": platform.python_version()}


def finish(cert: dict) -> dict:
    """Add versions and digest; run the checker; return the certificate or raise."""
    cert = dict(cert)
    cert["format"] = checker.FORMAT
    cert["versions"] = versions()
    cert["digest"] = checker.digest(cert)
    ok, why = checker.check(cert)
    if not ok:
        raise CompverifyError(f"the certificate did not pass its own check: {why}")
    return cert


def local_certificate(problem: dict, order: list[int], center: list[tuple[int, int]], k: int,
                      k_value: int, prec_bits: int, mu_text: str,
                      convex: tuple[int, int] | None = None) -> dict:
    """A ``strict local minimum`` certificate (claims recomputed by the checker's own code)."""
    with flint.ctx.workprec(prec_bits):
        claims = checker.local_claims(dict(problem), [checker.dyadic(list(c)) for c in center], k,
                                      k_value, mu_text)
    d, M = problem["d"], problem["M"]
    if checker.is_general(problem):
        t = problem["target"]
        what = ("the finite target network (target.V, target.a)" if t["family"] == "finite" else
                f"the Gaussian target with |mean|^2 = {t['mean_norm_squared']}, scale "
                f"{t['scale']}, abar {t['abar']} (in the frame where the mean is along e_1)")
        where = (f"the reduced objective r = L*/C over M = {M} neurons in the coordinates of "
                 f"chart {problem['chart']} (compverify.numeric.rigorous_general)")
    else:
        what = "the centred isotropic Gaussian target"
        where = (f"the reduced objective r = L*/C over M = {M} unit directions (modulo O(d), "
                 "neurons in the order neuron_order of the solve result)")
    statement = (
        f"For sigma = {problem['activation']} and {what} in "
        f"d = {d}, {where} has exactly one critical point in "
        f"the box of radius 2^{k} around the center; its Hessian there is >= "
        f"{claims['hessian_min_eigenvalue_lower']} (so it is a strict local minimum on the "
        f"quotient), with r in [{claims['relative_value'][0]}, {claims['relative_value'][1]}] and "
        f"L* in [{claims['value'][0]}, {claims['value'][1]}].")
    box = {"center": [list(c) for c in center], "radius_log2": k, "value_radius_log2": k_value}
    if convex is not None:
        box["convex_radius_log2"], box["convex_split"] = convex
        statement += (f" The Hessian is positive definite on the box of radius 2^{convex[0]} (checked "
                      f"on {convex[1]}^n sub-boxes), so this is the only minimiser there.")
    return finish({"kind": "strict local minimum", "statement": statement, "problem": dict(problem),
                   "coordinates": COORDINATES, "prec_bits": prec_bits, "neuron_order": order,
                   "box": box, "claims": claims})
