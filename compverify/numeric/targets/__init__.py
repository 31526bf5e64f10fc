"""Targets: the network being compressed, finite or mean-field, with ``h``, its derivatives and ``C``.

Every target bound to an activation offers (docs/INTERFACES.md): ``d``, ``rotation_invariant``,
``h(V)`` (M,), ``h_grad(V)`` (M, d), ``h_hess(V)`` (M, d, d) -- the derivatives of ``h(v_j)`` in
``v_j`` -- ``C()``, their mpmath versions ``h_mp(V, dps)``, ``h_grad_mp``, ``h_hess_mp``,
``C_mp(dps)``, ``sample(N, seed)`` (a finite realization, ``a_i = abar / N``) and ``describe()``.

This package lives in :mod:`compverify.numeric` because a target is numeric work: it evaluates
``h`` and ``C`` (closed forms, series, quadrature rules) to a stated precision, on top of the
kernel sums and the rules of the modules beside it, and the objective and the solver use it.
It is the top of the target modules: the rules (:mod:`~compverify.numeric.rule_base`,
:mod:`~compverify.numeric.sampled`, :mod:`~compverify.numeric.gauss_rule`,
:mod:`~compverify.numeric.polynomial_iid`, :mod:`~compverify.numeric.spectral`) import only
:mod:`compverify.numeric.finite_network` below it, never this package.

How a target is chosen: :class:`~compverify.numeric.targets.spec.TargetSpec` describes it (family,
law, ``d``, mean, scale, activation, rule options), parsed and validated once
(:meth:`TargetSpec.from_options` for the command line); each *route*
(:class:`~compverify.numeric.targets.route.Route`, one module per route in
:mod:`compverify.numeric.targets.routes`) declares what it serves, its precision class and how it
builds the target; the registry (:mod:`compverify.numeric.targets.registry`) walks the routes in
declared order and the first that accepts the spec builds it.  ``compverify targets`` prints the
routes (:mod:`compverify.numeric.targets.table`).

Modules: ``spec`` (TargetSpec), ``route`` (Route, precision classes), ``routes/`` (the built-in
routes), ``registry`` (the dispatcher, ``register_route``), ``table`` (the registry as a table),
``gaussian`` (GaussianTarget: closed forms and the series in the mean), ``rademacher``
(RademacherTarget: the exact ``2^d`` sum); FiniteNetwork is in
:mod:`compverify.numeric.finite_network`.

>>> t = from_options("isotropic", d=3, mean=None, scale=None, activation="relu")
>>> import numpy as np
>>> import math
>>> c3 = 1.5 * math.gamma(1.5) / (math.sqrt(math.pi) * math.gamma(2))    # SPEC A3: c_d, d = 3
>>> h = float(t.h(np.array([[1.0, 0.0, 0.0]]))[0])
>>> abs(h - c3 / math.sqrt(3) / math.sqrt(2 * math.pi)) < 1e-15          # s |v| c_d / sqrt(2 pi)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import (
    FiniteNetwork,
    check_rows,
    load_npz,
    mp_rows,
    round_mp,
)
from compverify.numeric.targets.gaussian import GaussianTarget, has_closed_form
from compverify.numeric.targets.rademacher import MAX_RADEMACHER_D, RademacherTarget
from compverify.numeric.targets.registry import (
    ROUTES,
    build,
    register_route,
    route_for,
    unregister_route,
)
from compverify.numeric.targets.route import PRECISION_CLASSES, Route
from compverify.numeric.targets.spec import TargetSpec
from compverify.symbolic.activations import as_activation
from compverify.validate import check_positive_int

__all__ = ["FiniteNetwork", "GaussianTarget", "RademacherTarget", "TargetSpec", "Route",
           "ROUTES", "PRECISION_CLASSES", "build", "build_target", "from_options",
           "gaussian_target", "has_closed_form", "isotropic", "load_npz", "register_route",
           "route_for", "unregister_route", "MAX_RADEMACHER_D", "check_rows", "mp_rows",
           "round_mp"]


def from_options(target: str, *, d: int | None, mean: str | None, scale: str | None,
                 activation: Any, rule_points: int | None = None) -> Any:
    """The target named on the command line: ``isotropic``, ``gaussian``, ``iid:LAW``, a file
    (``PATH.npz``, ``PATH.safetensors``, ``PATH.safetensors[FIRST,SECOND]``).

    :meth:`TargetSpec.from_options` parses and checks the options, :func:`build` picks the route
    (``compverify targets`` lists them).  iid:uniform and iid:rademacher with ``d > 12`` are exact
    for a polynomial sigma (:mod:`compverify.numeric.polynomial_iid`); otherwise they use the
    spectral rule (:mod:`compverify.numeric.spectral`) when the activation has a spectral form,
    else the quasi-Monte Carlo rule (:mod:`compverify.numeric.sampled`).  ``rule_points``: points
    per replicate of the quasi-Monte Carlo rule (asking for it selects that rule); an error for
    any other target.
    """
    return build(TargetSpec.from_options(target, d=d, mean=mean, scale=scale,
                                         activation=activation, rule_points=rule_points))


def build_target(target: str, *, d: int | None, mean: str | None, scale: str | None,
                 activation: Any, rule_points: int | None = None) -> Any:
    """:func:`from_options`, and a given ``d`` checked against the target's (a file has its own).

    The one entry point of the command-line target options (``--target``, ``--d``,
    ``--target-mean``, ``--target-scale``, ``--rule-points``), shared by ``solve`` and the
    conjecture sweep.

    >>> build_target("isotropic", d=2, mean=None, scale=None, activation="relu").d
    2
    """
    built = from_options(target, d=d, mean=mean, scale=scale, activation=activation,
                         rule_points=rule_points)
    if d is not None and int(built.d) != d:
        raise CompverifyError(f"--target {target} has d = {built.d}, but --d is {d}")
    return built


def gaussian_target(activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                    abar: Any = 1, name: str = "gaussian", **rule: Any) -> Any:
    """``w ~ N(mu, s^2 I_d)``: closed form or series where there is one, else a rule.

    Non-polynomial, non-homogeneous activations with a spectral form (tanh, sigmoid, erf, gelu,
    silu) get :class:`compverify.numeric.spectral.GaussianSpectralTarget` (float64 on the product
    Gauss rule, multiprecision on the spectral rule: 25-30 digits); others, or any when ``rule``
    sets the Gauss rule's ``nodes``, :class:`compverify.numeric.gauss_rule.GaussRuleTarget` (about
    9-14 digits).  The routes ``gaussian-*`` and ``gauss-rule`` of the registry.
    """
    act = as_activation(activation)
    d = check_positive_int(d, "d")
    if mean is not None:
        arr = np.asarray(mean, dtype=float)
        if arr.shape != (d,):
            raise CompverifyError(f"mean must have d = {d} entries, got {arr.size}")
        mean = tuple(arr.tolist())
    return build(TargetSpec(family="gaussian", activation=act, d=d, law="gaussian", mean=mean,
                            scale=scale, abar=abar, name=name, rule=tuple(rule.items())))


def isotropic(d: int, activation: Any) -> GaussianTarget:
    """The isotropic target: ``w ~ N(0, I_d / d)``, ``abar = 1``."""
    return GaussianTarget(activation, d, name="isotropic")
