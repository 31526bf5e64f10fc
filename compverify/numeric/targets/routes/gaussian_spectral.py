"""Route ``gaussian-spectral``: Gaussian weights and a smooth activation with a spectral form
(tanh, sigmoid, erf, gelu, silu): float64 on the product Gauss rule, multiprecision on the
spectral rule (:class:`compverify.numeric.spectral.GaussianSpectralTarget`)."""

from __future__ import annotations

from compverify.numeric.spectral import GaussianSpectralTarget, supports
from compverify.numeric.targets.gaussian import check_nonzero_target
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._gaussian import common, mean_vector
from compverify.numeric.targets.spec import GAUSSIAN_FAMILIES, TargetSpec


def accepts(spec: TargetSpec) -> bool:
    return not spec.rule and supports(spec.activation)


def build(spec: TargetSpec) -> GaussianSpectralTarget:
    mu = mean_vector(spec)
    check_nonzero_target(spec.activation, not mu.any())
    return GaussianSpectralTarget(spec.activation, spec.d, mean=mu, **common(spec))


ROUTE = Route(
    name="gaussian-spectral", families=GAUSSIAN_FAMILIES,
    activations="other, with a spectral form (tanh, sigmoid, erf, gelu, silu)",
    condition="no Gauss-rule options", precision="rule with estimate",
    description="float64 (the search): product Gauss rule (`numeric/gauss_rule.py`); "
                "multiprecision (polish, answer, `C`): the spectral rule with Gaussian entries, "
                "the mean rotated to `|mu|/sqrt(d) 1` (`numeric/spectral/`)",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
