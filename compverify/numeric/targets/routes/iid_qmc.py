"""Route ``iid-qmc``: i.i.d. entries with any other activation, or with ``--rule-points``:
randomized quasi-Monte Carlo over the weights
(:class:`compverify.numeric.sampled.WeightRuleTarget`, about 4-6 digits)."""

from __future__ import annotations

from compverify.numeric.sampled import WeightRuleTarget
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._iid import IID_FAMILIES, abar
from compverify.numeric.targets.spec import TargetSpec


def build(spec: TargetSpec) -> WeightRuleTarget:
    return WeightRuleTarget(spec.activation, spec.d, spec.law, mean=spec.scalar_mean,
                            scale=spec.scale_float, **abar(spec), **spec.rule_options)


ROUTE = Route(
    name="iid-qmc", families=IID_FAMILIES,
    activations="any other, or any with --rule-points", condition="iid:rademacher with d > 12",
    precision="QMC",
    description="randomized quasi-Monte Carlo over the weights (8 replicates x `--rule-points`, "
                "default 1024; `numeric/sampled.py`); the replicate spread gives a 99% error "
                "estimate",
    accepts=lambda spec: True, build=build)

__all__ = ["ROUTE", "build"]
