"""Gaussian moments (closed form and quadrature) against independent quadrature at another precision.

The reference integrates the definitions directly: ``d1`` as ``E sigma'(tau xi)`` for smooth sigma
(the derivative form, not Stein's), ``d2``, ``d3`` and ``tau'^2`` by their Stein forms, with
``mpmath.quad`` at 25 digits on a different subdivision; the binary family by integrating the
indicators over their intervals.
"""

import mpmath
import pytest

from compverify.errors import CompverifyError
from compverify.numeric.lossless_moments import gaussian_moments
from compverify.symbolic import get_activation
from compverify.symbolic.gaussian_moments import binary_moments

REF_DPS = 25


def _reference(spec, tau, derivative_form=False):
    act = get_activation(spec)
    with mpmath.workdps(REF_DPS):
        t = mpmath.mpf(tau)
        pts = [-mpmath.inf, -7, -3, -1, 0, 1, 3, 7, mpmath.inf]

        def E(f):
            return mpmath.quad(lambda x: f(x) * mpmath.npdf(x), pts)

        def s(x):
            return act.mp(t * x)
        d0 = E(s)
        if derivative_form:
            ds = act.derivative_evaluators(1)[1]
            d1 = E(lambda x: ds(t * x))
        else:
            d1 = E(lambda x: x * s(x)) / t
        d2 = E(lambda x: (x * x - 1) * s(x)) / t**2
        var = E(lambda x: (s(x) - d0)**2)
        d3 = E(lambda x: (x * x - 1) * (s(x) - d0)**2) / t**2
        return {"d0": d0, "d1": d1, "d2": d2, "d3": d3, "tau_next_sq": var}


@pytest.mark.parametrize("spec,tau", [("relu", "0.5"), ("relu", "2"), ("leaky_relu:0.1", "2"),
                                      ("abs", "0.5"), ("step", "2"), ("sign", "0.5"), ("erf", "2"),
                                      ("polynomial:0,1,1", "0.5"), ("relu_power:2", "2")])
@pytest.mark.slow
def test_closed_forms_against_quadrature(spec, tau):
    m = gaussian_moments(spec, tau, dps=40)
    assert m.route == "closed form"
    ref = _reference(spec, tau)
    for name, value in ref.items():
        assert abs(m.values[name] - value) < mpmath.mpf(10)**-18 * (1 + abs(value)), (spec, name)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["tanh", "sin(z)", "sigmoid", "gelu", "silu"])
def test_quadrature_route_derivative_form(spec):
    m = gaussian_moments(spec, "1.5", dps=25)
    assert m.route == "quadrature"
    ref = _reference(spec, "1.5", derivative_form=True)
    for name, value in ref.items():
        assert abs(m.values[name] - value) < mpmath.mpf(10)**-18 * (1 + abs(value)), name
        assert m.error[name] < 1e-24  # the estimate's floor is 10^-dps


@pytest.mark.slow
def test_error_estimate_bounds_the_true_error():
    lo = gaussian_moments("tanh", 1, dps=20)
    hi = gaussian_moments("tanh", 1, dps=45)
    for name in ("d1", "d3", "tau_next_sq"):
        assert abs(lo.values[name] - hi.values[name]) <= max(lo.error[name], 1e-20) * 10


def test_jump_gives_divergent_dsigma_sq():
    assert gaussian_moments("step", 1, dps=20).values["dsigma_sq"] is None
    assert gaussian_moments("relu", 1, dps=20).values["dsigma_sq"] == mpmath.mpf(1) / 2


@pytest.mark.parametrize("kind,params", [("binary", ("-0.3", "1.1", "1.7")),
                                         ("binary-last", ("-1.2", "-0.1", "0.8", "1.3"))])
def test_binary_closed_forms_against_indicator_quadrature(kind, params):
    import sympy

    from compverify.symbolic.gaussian_moments import S1, S2, S3, TAU, B
    m = binary_moments(kind)
    tau = mpmath.mpf("0.9")
    with mpmath.workdps(REF_DPS):
        vals = [mpmath.mpf(v) for v in params]
        if kind == "binary":
            s1, s2, b = vals
            ivs = [(-mpmath.inf, s1 / tau), (s2 / tau, mpmath.inf)]
            subs = {S1: s1, S2: s2, B: b, TAU: tau}
        else:
            s1, s2, s3, b = vals
            s4 = s3 + s2 - s1
            ivs = [(-mpmath.inf, s1 / tau), (s2 / tau, s3 / tau), (s4 / tau, mpmath.inf)]
            subs = {S1: s1, S2: s2, S3: s3, B: b, TAU: tau}

        def E(f):
            return b * sum(mpmath.quad(lambda x: f(x) * mpmath.npdf(x), iv) for iv in ivs)
        d0 = E(lambda x: 1)
        ref = {"d0": d0, "d1": E(lambda x: x) / tau, "d2": E(lambda x: x * x - 1) / tau**2,
               "tau_next_sq": b * d0 - d0**2}
        # (sigma - d0)^2 = sigma^2 - 2 d0 sigma + d0^2 with sigma^2 = b sigma on the indicators
        ref["d3"] = (b * E(lambda x: x * x - 1) - 2 * d0 * E(lambda x: x * x - 1)) / tau**2
        for name, value in ref.items():
            got = sympy.N(getattr(m, name).subs(subs), REF_DPS)
            assert abs(mpmath.mpf(str(got)) - value) < mpmath.mpf(10)**-20, name


def test_bad_input():
    with pytest.raises(CompverifyError, match="tau"):
        gaussian_moments("relu", 0)
    with pytest.raises(CompverifyError, match="tau"):
        gaussian_moments("relu", "-1")
    with pytest.raises(CompverifyError, match="diverge"):
        gaussian_moments("exp(z**2)", 1)
