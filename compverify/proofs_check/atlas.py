r"""The ETF atlas: the conjecture sweep over every small ``(d, M)`` and every known real ETF.

The grid (:func:`atlas_grid`) is the union of

* every ``(d, M)`` with ``2 <= d <= d_max`` (8) and ``d < M <= 2 d + 2``, and
* every ``(d, M)`` with ``2 <= d < M <= M_max`` (50) for which a real ETF exists
  (:func:`compverify.proofs_check.catalogue.existence`: the regular simplices ``(d, d + 1)``,
  the Paley and conference-matrix frames ``(M/2, M)``, the Steiner / strongly-regular-graph frames
  ``(6, 16)``, ``(7, 28)``, ``(15, 36)`` and their Naimark complements),

ordered by the number of parameters ``M (d + 1)`` (then ``d``), so that an interrupted atlas has
the small cases done; ``max_params`` keeps only the cases with at most that many parameters.

Each case is a case of :func:`compverify.proofs_check.conjecture.run_sweep` (ReLU, isotropic
target by default): the solve with its verified digits, the frame verdict (coherence against the
Welch bound, tightness, equiangularity), the best value on the catalogue's ETF where it builds one
and the gap.  The atlas file is a sweep file (``format`` ``compverify-conjecture-sweep/1``): it
resumes the same way, and :func:`compverify.proofs_check.conjecture.format_table` prints it.
Its ``d`` and ``M`` entries describe the grid (``"atlas: 2 <= d <= 8, d < M <= 2d+2"``,
``"and every real ETF with M <= 50"``); the expanded ``grid`` is what a resume compares.

>>> [c for c in atlas_grid(d_max=2, M_max=4)]
[(2, 3), (2, 4), (2, 5), (3, 4), (2, 6)]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from compverify._version import __version__
from compverify.errors import CompverifyError
from compverify.proofs_check.conjecture import FORMAT, PARAMETER_KEYS, SweepParams
from compverify.validate import check_positive_int

__all__ = ["AtlasParams", "atlas_grid", "atlas_summary", "D_MAX", "M_MAX"]

#: Largest d of the dense part of the grid (every d < M <= 2d + 2).
D_MAX = 8
#: Largest M of the ETF part of the grid.
M_MAX = 50


def atlas_grid(d_max: int = D_MAX, M_max: int = M_MAX,
               max_params: int | None = None) -> list[tuple[int, int]]:
    """The atlas's ``(d, M)`` cases (module docstring), fewest parameters first."""
    from compverify.proofs_check.catalogue import existence

    d_max = check_positive_int(d_max, "d_max")
    M_max = check_positive_int(M_max, "M_max")
    cases = {(d, M) for d in range(2, d_max + 1) for M in range(d + 1, 2 * d + 3)}
    cases |= {(d, M) for M in range(3, M_max + 1) for d in range(2, M)
              if existence(d, M)["status"] == "exists"}
    if max_params is not None:
        max_params = check_positive_int(max_params, "max_params")
        cases = {(d, M) for d, M in cases if M * (d + 1) <= max_params}
    return sorted(cases, key=lambda c: (c[1] * (c[0] + 1), c[0]))


@dataclass(frozen=True)
class AtlasParams(SweepParams):
    """A conjecture sweep whose grid is :func:`atlas_grid` (the grid options replace ``d``, ``M``).

    ``d_max``, ``M_max``, ``max_params``: see :func:`atlas_grid`.
    """

    d_max: int = D_MAX
    M_max: int = M_MAX
    max_params: int | None = None

    def header(self) -> dict:
        grid = atlas_grid(self.d_max, self.M_max, self.max_params)
        if not grid:
            raise CompverifyError(f"the atlas with max_params = {self.max_params} has no case")
        check_positive_int(self.restarts, "--restarts")
        fields = asdict(self)
        fields["d"] = f"atlas: 2 <= d <= {self.d_max}, d < M <= 2d+2"
        fields["M"] = (f"and every real ETF with M <= {self.M_max}"
                       + ("" if self.max_params is None
                          else f"; at most {self.max_params} parameters M(d+1)"))
        head = {"format": FORMAT, "version": __version__, **fields, "target_sha256": None,
                "grid": [list(c) for c in grid], "skipped": []}
        return {k: head[k] for k in (*PARAMETER_KEYS, "skipped")}


def _f(x: Any) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def atlas_summary(sweep: dict) -> list[dict]:
    """One plain row per finished case, for tables, heat maps and the findings.

    Keys: ``d``, ``M``, ``params``, ``relative_loss`` (string, all stored digits),
    ``verified_digits``, ``status``, ``verdict``, ``coherence``, ``welch_bound``,
    ``tightness_defect``, ``equiangularity_spread``, ``etf_exists`` (the existence table's status),
    ``etf_built`` (the catalogue's construction or ``None``), ``etf_relative_loss``, ``etf_gap``,
    ``etf_gap_uncertainty``, ``etf_gap_zero`` (``True`` when the gap is zero within it),
    ``proof`` (the sweep's proof status of the case, ``None`` in files without one).
    """
    rows = []
    for c in sweep.get("cases") or []:
        fr = c.get("frame") or {}
        res = c.get("result") or {}
        ev = res.get("evidence") or {}
        etf = fr.get("etf") or None
        exist = fr.get("etf_existence")
        rows.append({
            "d": int(c["d"]), "M": int(c["M"]), "params": int(c["M"]) * (int(c["d"]) + 1),
            "relative_loss": c.get("relative_loss"),
            "verified_digits": ev.get("verified_digits"), "status": ev.get("status"),
            "verdict": fr.get("verdict"), "coherence": fr.get("coherence"),
            "welch_bound": fr.get("welch_bound"), "tightness_defect": fr.get("tightness_defect"),
            "equiangularity_spread": fr.get("equiangularity_spread"),
            "etf_exists": exist.get("status") if isinstance(exist, dict) else exist,
            "etf_built": etf.get("construction") if isinstance(etf, dict) else None,
            "etf_relative_loss": fr.get("etf_relative_loss"), "etf_gap": fr.get("etf_gap"),
            "etf_gap_uncertainty": fr.get("etf_gap_uncertainty"),
            "etf_gap_zero": fr.get("etf_gap_zero_within_uncertainty"),
            "proof": c.get("proof"),
        })
    return rows
