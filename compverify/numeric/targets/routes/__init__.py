"""The built-in target routes, one module each, in the order the dispatcher tries them.

The order matters where two routes could serve the same spec: the first that accepts wins
(a closed form before a series before a rule; the quasi-Monte Carlo rule, which serves any
activation, last).  Add a route as a new module here and an entry in :data:`BUILTIN`, or at run
time with :func:`compverify.numeric.targets.registry.register_route`.
"""

from __future__ import annotations

from compverify.numeric.targets.routes import (
    finite,
    gauss_rule,
    gaussian_closed_form,
    gaussian_series,
    gaussian_spectral,
    iid_polynomial,
    iid_qmc,
    iid_spectral,
    iid_spectral_power,
    rademacher_exact,
)

#: The built-in routes in declared order.
BUILTIN = (
    finite.ROUTE,
    gaussian_closed_form.ROUTE,
    gaussian_series.ROUTE,
    gaussian_spectral.ROUTE,
    gauss_rule.ROUTE,
    rademacher_exact.ROUTE,
    iid_polynomial.ROUTE,
    iid_spectral_power.ROUTE,
    iid_spectral.ROUTE,
    iid_qmc.ROUTE,
)

__all__ = ["BUILTIN"]
