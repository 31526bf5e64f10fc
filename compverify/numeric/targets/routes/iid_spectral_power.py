"""Route ``iid-spectral-power``: i.i.d. entries and relu_power:n, ``3 <= n <= 8``: the float64
search on the quasi-Monte Carlo rule, multiprecision on the spectral rule with the kernel's
Hermite terms of order below n outside it
(:class:`compverify.numeric.spectral.PowerSpectralTarget`)."""

from __future__ import annotations

from compverify.numeric.spectral import PowerSpectralTarget, supports
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._iid import IID_FAMILIES, abar
from compverify.numeric.targets.spec import TargetSpec


def accepts(spec: TargetSpec) -> bool:
    act = spec.activation
    return not spec.rule and supports(act) and bool(getattr(act.spectral_form, "power_n", 0))


def build(spec: TargetSpec) -> PowerSpectralTarget:
    return PowerSpectralTarget(spec.activation, spec.d, spec.law, mean=spec.scalar_mean,
                               scale=spec.scale_float, **abar(spec))


ROUTE = Route(
    name="iid-spectral-power", families=IID_FAMILIES,
    activations="relu_power:n, 3 <= n <= 8", condition="iid:rademacher with d > 12; no "
                                                      "--rule-points",
    precision="rule with estimate",
    description="float64 (the search): the quasi-Monte Carlo rule; multiprecision (polish, "
                "answer, `C`): the spectral rule, the kernel's Hermite terms of order < n outside "
                "it as polynomials in the power sums of `v` (`numeric/spectral_power.py`)",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
