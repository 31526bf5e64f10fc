"""What the i.i.d.-entry routes share (``iid:uniform``, ``iid:rademacher`` with ``d > 12``)."""

from __future__ import annotations

from typing import Any

from compverify.numeric.targets.spec import SCALAR_MEAN_FAMILIES, TargetSpec

#: The families the i.i.d. rule routes serve (Rademacher entries only above the exact sum's d).
IID_FAMILIES = SCALAR_MEAN_FAMILIES


def abar(spec: TargetSpec) -> dict[str, Any]:
    """``{"abar": ...}`` when the spec sets it, else nothing (the target's default 1)."""
    return {} if spec.abar is None else {"abar": spec.abar}
