"""The verdict on a frame: ETF, tight, equiangular, neither, or degenerate.

The tolerance is derived from the result's verified digits, never fixed: at a strict minimum the
loss is quadratic in the directions, so ``v`` verified digits of the loss pin the directions to
about ``v/2`` digits; :func:`tolerance` returns ``10^-(floor(v/2) - 1)`` (one digit of slack).
A certified lower bound (cvxpy dual, :mod:`.certificates`) above the tolerance rules a property out
whatever the diagnostics say.

>>> tolerance(40)
1e-19
"""

from __future__ import annotations

from typing import Any

__all__ = ["classify", "tolerance", "VERDICTS"]

VERDICTS = ("ETF", "tight, not equiangular", "equiangular, not tight", "neither", "degenerate")


def tolerance(verified_digits: int) -> float:
    """``10^-(floor(v/2) - 1)`` for ``v`` verified digits of the loss (at least 1e-1)."""
    v = max(int(verified_digits), 0)
    return 10.0 ** (-max(v // 2 - 1, 1))


def classify(fd: Any, tol: float, lower_etf: float | None = None,
             lower_tight: float | None = None) -> str:
    """One of :data:`VERDICTS` for :class:`~compverify.proofs_check.frames.FrameDiagnostics`."""
    M, d = fd.M, fd.d
    if M <= d or float(fd.max_abs_offdiagonal) >= 1 - tol:
        return "degenerate"
    scale = M / d
    tight = float(fd.tightness_defect) <= tol * scale
    equi = float(fd.equiangularity_spread) <= tol
    if lower_tight is not None and lower_tight > tol * scale:
        tight = False
    if lower_etf is not None and lower_etf > tol * scale and tight and equi:
        equi = False  # certified away from every ETF: cannot be both
    if tight and equi:
        return "ETF"
    if tight:
        return "tight, not equiangular"
    if equi:
        return "equiangular, not tight"
    return "neither"
