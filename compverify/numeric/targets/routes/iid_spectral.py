"""Route ``iid-spectral``: i.i.d. entries and an activation with a spectral form: the
two-frequency quadrature, in which the Gaussian expectation factors over the weight coordinates
(:class:`compverify.numeric.spectral.SpectralTarget`)."""

from __future__ import annotations

from compverify.numeric.spectral import SpectralTarget, supports
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._iid import IID_FAMILIES, abar
from compverify.numeric.targets.spec import TargetSpec


def accepts(spec: TargetSpec) -> bool:
    return not spec.rule and supports(spec.activation)


def build(spec: TargetSpec) -> SpectralTarget:
    return SpectralTarget(spec.activation, spec.d, spec.law, mean=spec.scalar_mean,
                          scale=spec.scale_float, **abar(spec))


ROUTE = Route(
    name="iid-spectral", families=IID_FAMILIES,
    activations="with a spectral form: relu, abs, leaky_relu, step, sign, tanh, sigmoid, erf, "
                "gelu, silu, relu_power:2",
    condition="iid:rademacher with d > 12; no --rule-points", precision="rule with estimate",
    description="two-frequency quadrature, the expectation factored over the weight "
                "coordinates (`numeric/spectral/`); Rademacher `C` exact by sign-count classes "
                "for closed-form kernels; estimate from nested rules",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
