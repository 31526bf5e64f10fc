"""Route ``iid-polynomial``: i.i.d. entries and a polynomial sigma: ``h`` is a polynomial in the
power sums of ``v``, from the entries' log-MGF, exact for any ``d``
(:class:`compverify.numeric.polynomial_iid.PolynomialIidTarget`)."""

from __future__ import annotations

from compverify.numeric.polynomial_iid import PolynomialIidTarget, supports
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._iid import IID_FAMILIES, abar
from compverify.numeric.targets.spec import TargetSpec


def accepts(spec: TargetSpec) -> bool:
    return not spec.rule and supports(spec.activation)


def build(spec: TargetSpec) -> PolynomialIidTarget:
    return PolynomialIidTarget(spec.activation, spec.d, spec.law, mean=spec.scalar_mean,
                               scale=spec.scale, **abar(spec))


ROUTE = Route(
    name="iid-polynomial", families=IID_FAMILIES,
    activations="polynomial", condition="iid:rademacher with d > 12; no --rule-points",
    precision="exact",
    description="SymPy closed form: `h` a polynomial in the power sums of `v`, from the "
                "entries' log-MGF (`symbolic/iid_moments.py`, `numeric/polynomial_iid.py`)",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
