"""Route ``gauss-rule``: Gaussian weights with any other activation (or with the Gauss rule's
options): the product Gauss rule in reduced coordinates
(:class:`compverify.numeric.gauss_rule.GaussRuleTarget`, about 9-14 digits)."""

from __future__ import annotations

from compverify.numeric.gauss_rule import GaussRuleTarget
from compverify.numeric.targets.gaussian import check_nonzero_target
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._gaussian import common, mean_vector
from compverify.numeric.targets.spec import GAUSSIAN_FAMILIES, TargetSpec


def build(spec: TargetSpec) -> GaussRuleTarget:
    mu = mean_vector(spec)
    check_nonzero_target(spec.activation, not mu.any())
    return GaussRuleTarget(spec.activation, spec.d, mean=mu, **common(spec), **spec.rule_options)


ROUTE = Route(
    name="gauss-rule", families=GAUSSIAN_FAMILIES,
    activations="any other", condition="", precision="rule with estimate",
    description="product Gauss rule in reduced coordinates (`numeric/gauss_rule.py`); a coarser "
                "rule gives the estimate",
    accepts=lambda spec: True, build=build)

__all__ = ["ROUTE", "build"]
