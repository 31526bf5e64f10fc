"""Route ``rademacher-exact``: entries ``m + s eps``, ``d <= 12``: the exact sum over the ``2^d``
sign patterns (:class:`compverify.numeric.targets.rademacher.RademacherTarget`)."""

from __future__ import annotations

from compverify.numeric.targets.rademacher import MAX_RADEMACHER_D, RademacherTarget
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.spec import TargetSpec


def accepts(spec: TargetSpec) -> bool:
    return spec.d <= MAX_RADEMACHER_D


def build(spec: TargetSpec) -> RademacherTarget:
    extra = {} if spec.abar is None else {"abar": spec.abar}
    return RademacherTarget(spec.activation, spec.d, mean=spec.scalar_mean,
                            scale=spec.scale_float, **extra)


ROUTE = Route(
    name="rademacher-exact", families=("iid:rademacher",),
    activations="any", condition=f"d <= {MAX_RADEMACHER_D}", precision="exact",
    description="exact sum over the 2^d sign patterns (a finite network)",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
