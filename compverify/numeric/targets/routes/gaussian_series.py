"""Route ``gaussian-series``: Gaussian weights with a nonzero mean and a positively homogeneous
sigma: ``h`` is ``abar E[r^(2n)] |v|^n G(<mu, v>/|v|)`` with ``G`` a convergent series in the mean
whose tail is bounded below the working precision (:mod:`compverify.numeric.meanfield_series`)."""

from __future__ import annotations

from compverify.numeric.targets.gaussian import GaussianTarget, is_homogeneous
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes._gaussian import common
from compverify.numeric.targets.spec import GAUSSIAN_FAMILIES, TargetSpec


def accepts(spec: TargetSpec) -> bool:
    # a polynomial, or a zero mean, went to gaussian-closed-form, declared before this route
    return is_homogeneous(spec.activation)


def build(spec: TargetSpec) -> GaussianTarget:
    return GaussianTarget(spec.activation, spec.d, mean=spec.mean_array, **common(spec))


ROUTE = Route(
    name="gaussian-series", families=GAUSSIAN_FAMILIES,
    activations="positively homogeneous", condition="a nonzero mean", precision="series",
    description="series in the mean (`numeric/meanfield_series.py`), tail bounded below the "
                "working precision",
    accepts=accepts, build=build)

__all__ = ["ROUTE", "accepts", "build"]
