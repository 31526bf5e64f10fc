"""The Gaussian moments of an activation at a scale tau, to ``dps`` digits with an error estimate.

``d0 = E sigma(tau xi)``, ``d1 = E[xi sigma(tau xi)]/tau``, ``d2 = E[(xi^2 - 1) sigma(tau xi)]/tau^2``,
``d3 = E[(xi^2 - 1)(sigma(tau xi) - d0)^2]/tau^2``, ``tau'^2 = Var sigma(tau xi)``,
``E sigma'(tau xi)^2`` (``xi ~ N(0, 1)``; see :mod:`compverify.symbolic.gaussian_moments`).

Two routes, chosen per activation:

``closed form``
    the SymPy expressions of :func:`compverify.symbolic.gaussian_moments.moments` evaluated in
    mpmath; the error estimate is the difference from an evaluation with 15 more digits.
``quadrature``
    ``mpmath.quad`` (tanh-sinh, split at 0, +-2, +-5, +-10) at ``dps + 5`` and at ``dps + 20``
    digits; the error estimate is their difference (plus ``10^-dps``).  Before integrating, the
    tails are checked: an integrand ``sigma(tau x)^2 phi(x)`` that does not decay by ``x = 40``
    means a divergent (or numerically meaningless) moment and is refused.

>>> m = gaussian_moments("relu", 1, dps=30)
>>> m.route, str(m.values["d1"])
('closed form', '0.5')
>>> t = gaussian_moments("tanh", 1, dps=20)
>>> t.route, t.error["d1"] < 1e-18
('quadrature', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import sympy

from compverify.errors import CompverifyError
from compverify.symbolic.activations import get_activation
from compverify.symbolic.gaussian_moments import MOMENT_NAMES, TAU, moments
from compverify.validate import check_dps

__all__ = ["MomentValues", "gaussian_moments", "check_tau", "QUAD_EXTRA", "QUAD_CHECK"]

#: Guard digits of the quadrature, and the extra digits of the check quadrature.
QUAD_EXTRA = 5
QUAD_CHECK = 20
_BREAKS = (-mpmath.inf, -10, -5, -2, 0, 2, 5, 10, mpmath.inf)


@dataclass(frozen=True)
class MomentValues:
    """The moments at one ``tau``: ``values[name]`` (mpf, ``None`` when divergent), ``error[name]``
    (a float estimate of the absolute error), ``route`` and ``dps``."""

    spec: str
    tau: mpmath.mpf
    dps: int
    route: str
    values: dict[str, mpmath.mpf | None]
    error: dict[str, float] = field(default_factory=dict)

    def digits(self, name: str) -> int:
        """Correct significant digits of ``values[name]`` implied by its error estimate."""
        v, e = self.values[name], self.error.get(name, 0.0)
        if v is None:
            return 0
        if v == 0:
            return self.dps if e == 0 else max(0, int(-mpmath.log10(e)))
        if e == 0:
            return self.dps
        return max(0, min(self.dps, int(mpmath.floor(mpmath.log10(abs(v) / e)))))

    def to_dict(self) -> dict[str, Any]:
        return {name: (None if self.values[name] is None else mpmath.nstr(self.values[name], self.dps))
                for name in MOMENT_NAMES}


def check_tau(tau: Any, name: str = "tau") -> mpmath.mpf:
    """``tau`` as an mpf (exact for decimal strings), refused unless finite and > 0."""
    try:
        t = mpmath.mpf(str(tau)) if not isinstance(tau, mpmath.mpf) else tau
    except (ValueError, TypeError):
        raise CompverifyError(f"{name} must be a positive number, got {tau!r}") from None
    if not mpmath.isfinite(t) or t <= 0:
        raise CompverifyError(f"{name} must be a positive number, got {tau!r}")
    return t


@cache
def _closed_form_functions(spec: str):
    m = moments(spec)
    if m is None:
        return None
    funcs = {name: (None if expr is None else sympy.lambdify(TAU, expr, modules="mpmath"))
             for name, expr in m.as_dict().items()}
    return m.route, funcs


def _closed_form(spec: str, tau: mpmath.mpf, dps: int):
    route, funcs = _closed_form_functions(spec)
    out = {}
    for extra in (5, 20):
        with mpmath.workdps(dps + extra):
            out[extra] = {name: (None if f is None else mpmath.mpf(f(tau))) for name, f in funcs.items()}
    with mpmath.workdps(dps):
        values = {k: (None if v is None else +v) for k, v in out[20].items()}
        floor = float(mpmath.mpf(10)**-dps)
        error = {k: (0.0 if v is None else float(abs(v - out[5][k])) + floor * float(abs(v)))
                 for k, v in out[20].items()}
    return values, error


def _check_tails(spec: str, tau: mpmath.mpf) -> None:
    """Refuse an activation whose second moment at ``tau`` diverges (or is not integrable)."""
    act = get_activation(spec)
    with mpmath.workdps(30):
        try:
            vals = []
            for x in (40, -40, 80, -80):
                s = act.mp(tau * x)
                vals.append(abs(s)**2 * mpmath.exp(-mpmath.mpf(x)**2 / 2))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise CompverifyError(f"the Gaussian moments of {spec} at tau = {mpmath.nstr(tau, 10)} "
                                  f"cannot be evaluated: {exc}") from None
        if any(not mpmath.isfinite(v) or v > mpmath.mpf(10)**-100 for v in vals):
            raise CompverifyError(f"the Gaussian moments of {spec} diverge at tau = "
                                  f"{mpmath.nstr(tau, 10)}: sigma(tau x)^2 exp(-x^2/2) does not "
                                  "decay (it is not square-integrable against the Gaussian)")


def _quad_once(spec: str, tau: mpmath.mpf, dps: int) -> dict[str, mpmath.mpf]:
    act = get_activation(spec)
    dsig = act.derivative_evaluators(1)[1]
    with mpmath.workdps(dps):
        t = mpmath.mpf(tau)
        c = 1 / mpmath.sqrt(2 * mpmath.pi)

        def quad(f):
            return mpmath.quad(lambda x: f(x) * c * mpmath.exp(-x * x / 2), _BREAKS)

        cache: dict = {}

        def sig(x):  # the six integrands share the nodes of each interval
            if x not in cache:
                cache[x] = act.mp(t * x)
            return cache[x]

        d0 = quad(sig)
        d1 = quad(lambda x: x * sig(x)) / t
        d2 = quad(lambda x: (x * x - 1) * sig(x)) / t**2
        var = quad(lambda x: (sig(x) - d0)**2)
        d3 = quad(lambda x: (x * x - 1) * (sig(x) - d0)**2) / t**2
        ds = quad(lambda x: mpmath.mpf(dsig(t * x))**2)
        return {"d0": d0, "d1": d1, "d2": d2, "d3": d3, "tau_next_sq": var, "dsigma_sq": ds}


def _quadrature(spec: str, tau: mpmath.mpf, dps: int):
    _check_tails(spec, tau)
    lo = _quad_once(spec, tau, dps + QUAD_EXTRA)
    hi = _quad_once(spec, tau, dps + QUAD_CHECK)
    with mpmath.workdps(dps):
        values = {k: +hi[k] for k in MOMENT_NAMES}
        error = {k: float(abs(hi[k] - lo[k])) + float(mpmath.mpf(10)**-dps) for k in MOMENT_NAMES}
    return values, error


def gaussian_moments(spec: str, tau: Any, *, dps: int = 30) -> MomentValues:
    """The moments of ``spec`` at scale ``tau`` to ``dps`` digits, with an error estimate.

    ``tau`` > 0 (a number or decimal string, read exactly); bad input -> ``CompverifyError``.
    """
    dps = check_dps(dps)
    spec = get_activation(spec).spec
    t = check_tau(tau)
    if _closed_form_functions(spec) is not None:
        values, error = _closed_form(spec, t, dps)
        route = "closed form"
    else:
        values, error = _quadrature(spec, t, dps)
        route = "quadrature"
    return MomentValues(spec, t, dps, route, values, error)
