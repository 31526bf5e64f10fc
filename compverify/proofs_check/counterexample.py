r"""Proofs that an ETF is not optimal: a certified value below the best value on the ETF.

For a centred isotropic target the reduced objective ``r = L*/C = 1 - q 1' K(G)^-1 1`` depends on
the directions only through their Gram matrix ``G`` (:mod:`compverify.numeric.rigorous_objective`),
so:

* **orientation**: rotating an ETF (any ``Q`` in ``O(d)``) leaves ``G``, hence ``r``, unchanged;
  the orientation is accounted for exactly, not searched;
* **order**: permuting the neurons permutes ``G``; ``r`` is unchanged;
* **signs**: ``u_j -> s_j u_j`` turns ``G = I + alpha S`` into ``I + alpha D S D``,
  ``D = diag(s)``; ``s`` and ``-s`` give the same ``G``, so the ``2^(M-1)`` switchings with
  ``s_1 = +1`` are all the configurations on the ETF's lines, each a certified linear solve.

The statement proved: the configuration of the solve result (its rows, normalised) has a value
below ``min over all switchings`` of the ETF whose sign pattern ``S`` is in the certificate (that
``I + alpha S`` is the Gram of an ETF is checked exactly from ``S``), so no configuration on the
lines of that ETF, in any orientation, order or signs, with any coefficients, is a global minimum.
For ``(d, M) = (3, 6)`` the 6 equiangular lines in ``R^3`` are unique up to isometry (Haantjes
1948; Lemmens and Seidel 1973), so the statement covers every ETF with these ``(d, M)``.

>>> # cert = prove_etf_not_optimal(json.load(open("r36.json")))   # see tests/test_proofs.py
"""

from __future__ import annotations

from fractions import Fraction

import flint
import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.proofs_check import certificate_checker as checker
from compverify.proofs_check import certificate_format as cf
from compverify.proofs_check.catalogue import lookup
from compverify.proofs_check.local_proof import PREC_BITS, problem_spec

__all__ = ["etf_sign_pattern", "prove_etf_not_optimal"]

#: ETFs with (d, M) whose uniqueness up to isometry and switching is classical
UNIQUE_ETFS = {(3, 6): "the 6 equiangular lines in R^3 are unique up to isometry (Haantjes 1948; "
                       "Lemmens and Seidel 1973)"}


def etf_sign_pattern(d: int, M: int) -> tuple[str, list[list[int]]]:
    """The catalogue ETF's name and sign pattern ``S = sign(G - I)`` (integers)."""
    etf = lookup(d, M, dps=30)
    if etf is None:
        raise CompverifyError(f"the catalogue has no ETF with d = {d}, M = {M}")
    V = np.array(etf.vectors.tolist(), dtype=float)
    G = V @ V.T
    S = [[0 if j == k else (1 if G[j, k] > 0 else -1) for k in range(M)] for j in range(M)]
    return etf.name, S


def prove_etf_not_optimal(result: dict, *, prec_bits: int = PREC_BITS) -> dict:
    """Certificate that the result's point beats every configuration on the catalogue ETF."""
    ps = problem_spec(result)
    d, M = ps["d"], ps["M"]
    if M <= d:
        raise CompverifyError(f"no ETF with M = {M} <= d = {d}")
    name, S = etf_sign_pattern(d, M)
    alpha2 = Fraction(M - d, d * (M - 1))
    rows = result["directions"]
    with mpmath.workdps(50):
        try:
            rows = [[str(mpmath.mpf(str(x))) for x in r] for r in rows]
        except (ValueError, TypeError):
            raise CompverifyError("directions hold a non-number") from None
    with flint.ctx.workprec(prec_bits):
        try:
            claims = checker.etf_claims(dict(ps), rows, S, alpha2)
        except checker.Invalid as exc:
            raise CompverifyError(f"not proved: {exc}") from None
    unique = UNIQUE_ETFS.get((d, M))
    statement = (
        f"For sigma = {ps['activation']} and the centred isotropic Gaussian target in d = {d}, "
        f"M = {M}: the configuration 'point' (rows normalised) has r = L*/C in "
        f"[{claims['relative_value_point'][0]}, {claims['relative_value_point'][1]}], while every "
        f"configuration on the lines of the ETF with sign pattern 'etf.sign_pattern' ({name}), in "
        f"any orientation, order and signs, with the best coefficients, has r >= "
        f"{claims['relative_value_etf_best'][0]}: that ETF is not optimal"
        + (f"; {unique}, so no ETF with these (d, M) is optimal." if unique else "."))
    return cf.finish({"kind": "ETF not optimal", "statement": statement, "problem": dict(ps),
                      "prec_bits": prec_bits, "point": rows,
                      "etf": {"name": name, "sign_pattern": S, "alpha_squared": str(alpha2)},
                      "claims": claims})
