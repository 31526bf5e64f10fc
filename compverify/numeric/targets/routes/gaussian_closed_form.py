"""Route ``gaussian-closed-form``: Gaussian weights, polynomial sigma (any mean) or positively
homogeneous sigma with mean 0: ``h`` and ``C`` are SymPy closed forms
(:mod:`compverify.symbolic.meanfield`, evaluated by
:class:`compverify.numeric.targets.gaussian.GaussianTarget`)."""

from __future__ import annotations

from compverify.numeric.targets.gaussian import GaussianTarget, is_homogeneous, is_polynomial
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._gaussian import common
from compverify.numeric.targets.spec import GAUSSIAN_FAMILIES, TargetSpec


def accepts(spec: TargetSpec) -> bool:
    act = spec.activation
    return is_polynomial(act) or (is_homogeneous(act) and spec.mean_is_zero)


def build(spec: TargetSpec) -> GaussianTarget:
    return GaussianTarget(spec.activation, spec.d, mean=spec.mean_array, **common(spec))


ROUTE = Route(
    name="gaussian-closed-form", families=GAUSSIAN_FAMILIES,
    activations="polynomial (any mean); positively homogeneous (relu, abs, leaky_relu, "
                "relu_power, step, sign) with mean 0",
    condition="", precision="exact",
    description="SymPy closed form (`symbolic/meanfield.py`; Gaussian moments for a polynomial)",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
