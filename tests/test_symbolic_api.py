"""Activations, the whitelist parser, compiled kernels (numpy vs mpmath, partials) and `derive`."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import sympy

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.symbolic import get_activation, parse_activation

CLOSED = ["relu", "abs", "leaky_relu:0.1", "relu_power:2", "erf", "polynomial:1,0,-2,1",
          "step", "sign"]


# ------------------------------------------------------------------------- parser / registry
@pytest.mark.parametrize("text", ["Max(0, z)**2 + 0.5*z", "sqrt(Abs(z)) - exp(-z**2)/3",
                                  "Heaviside(z) * tanh(z)", "log(1 + exp(z))", "-(z - 1)**3",
                                  "Min(z, 1) + sign(z) + erf(z / 2)"])
def test_parser_accepts_whitelist(text):
    expr = parse_activation(text)
    assert expr.free_symbols == {sympy.Symbol("z", real=True)}
    # compare with an independent numeric evaluation via Python's math (the same formula by hand)
    f = sympy.lambdify(sympy.Symbol("z", real=True), expr, "mpmath")
    assert mpmath.isfinite(f(mpmath.mpf("0.7")))


@pytest.mark.parametrize("text,needle", [
    ("__import__('os').system('true')", "__import__"),
    ("z.__class__", "Attribute"),
    ("open('x')", "open"),
    ("lambda: 1", "Lambda"),
    ("z if z else 1", "IfExp"),
    ("'abc'", "not a number"),
    ("x + 1", "'x'"),
    ("z ** 1000", "exponent"),
    ("(z + 1", "not a valid expression"),
    ("z // 2", "FloorDiv"),
    ("z+" * 600 + "z", "characters long"),
    ("exp(z, 2)", "takes 1 argument"),
    ("1/0", "division by zero"),
])
def test_parser_rejects_with_named_reason(text, needle):
    with pytest.raises(CompverifyError, match=None) as exc:
        parse_activation(text)
    assert needle in str(exc.value)


@pytest.mark.parametrize("spec", ["foo", "leaky_relu", "leaky_relu:x", "relu_power:0",
                                  "relu_power:1.5", "polynomial:", "polynomial:0,0", "relu:3",
                                  "  ", "3"])
def test_bad_specs(spec):
    with pytest.raises(CompverifyError):
        get_activation(spec)


def test_specs_round_trip_and_degree():
    for spec, deg in [("relu", 1), ("abs", 1), ("step", 0), ("sign", 0), ("leaky_relu:0.1", 1),
                      ("relu_power:3", 3), ("erf", None), ("tanh", None), ("polynomial:0,0,1", 2),
                      ("polynomial:1,0,1", None), ("Max(0,z)*2", 1)]:
        act = get_activation(spec)
        assert get_activation(act.spec).expr == act.expr
        assert act.homogeneous_degree == deg, spec
        # homogeneity checked numerically and independently of the symbolic test
        if deg is not None:
            z = np.array([-1.3, 0.4, 2.2])
            np.testing.assert_allclose(act.numpy(2.5 * z), 2.5**deg * act.numpy(z), rtol=1e-12)


def test_activation_numpy_matches_mp():
    for spec in ["relu", "gelu", "silu", "sigmoid", "step", "Max(0,z)**2 - z/3"]:
        act = get_activation(spec)
        z = np.linspace(-3, 3, 13)
        with mpmath.workdps(30):
            ref = np.array([float(act.mp(x)) for x in z])
        np.testing.assert_allclose(act.numpy(z), ref, rtol=1e-14, atol=1e-15)


# ------------------------------------------------------------------------- compiled kernels
@pytest.mark.slow
@pytest.mark.parametrize("spec", CLOSED)
def test_numpy_matches_mpmath_and_finite_differences(spec, rng):
    k = get_activation(spec).kernel
    nu, nv = rng.uniform(0.3, 2, 2)
    rho = rng.uniform(-0.9, 0.9)
    g = k.grad(nu, nv, rho)
    gm = k.grad_mp(nu, nv, rho, dps=30)
    for x, y in zip(g, gm, strict=True):
        assert abs(float(x) - float(y)) <= 1e-13 * max(1, abs(float(y)))
    # partials vs mpmath numerical differentiation (central differences, step 1e-15, on values
    # at 60 digits: truncation ~1e-30, rounding ~1e-45), compared at 40 digits
    f = lambda a, b, r: k.value_mp(a, b, r, dps=60)  # noqa: E731
    with mpmath.workdps(60):
        p = [mpmath.mpf(nu), mpmath.mpf(nv), mpmath.mpf(rho)]
        for i in range(3):
            num = mpmath.diff(lambda t, i=i: f(*[t if j == i else p[j] for j in range(3)]), p[i],
                              h=mpmath.mpf(10) ** -15)
            exact = k.grad_mp(*p, dps=40)[i + 1]
            assert abs(num - exact) < mpmath.mpf(10) ** -25 * max(1, abs(exact)), (spec, i)
    # second partials vs central differences of the first (float64)
    h = k.hess(nu, nv, rho)
    e = 1e-6
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    for val, (a, b) in zip(h, pairs, strict=True):
        pp = np.array([nu, nv, rho])
        d = np.zeros(3)
        d[b] = e
        fd = (k.grad(*(pp + d))[a + 1] - k.grad(*(pp - d))[a + 1]) / (2 * e)
        assert abs(float(val) - float(fd)) < 1e-6 * max(1, abs(float(fd))), (spec, a, b)


@pytest.mark.parametrize("spec", ["relu", "abs", "leaky_relu:0.1", "relu_power:2", "erf",
                                  "polynomial:1,0,-2,1"])
def test_endpoints_have_no_nan(spec):
    k = get_activation(spec).kernel
    nu = np.array([0.0, 1.0, 1.2, 0.0, 0.7])
    nv = np.array([1.0, 0.0, 0.8, 0.0, 1.1])
    for rho in (1.0, -1.0, 1 - 1e-9, -1 + 1e-9, 0.2):
        r = np.full(5, rho)
        vals = [*k.grad(nu, nv, r)]
        assert not np.any(np.isnan(np.array(vals))), (spec, rho)
        # the value at the endpoint is the limit: continuity from inside
        np.testing.assert_allclose(k.value(nu, nv, np.full(5, 1.0)),
                                   k.value(nu, nv, np.full(5, 1 - 1e-12)), atol=1e-5)


def test_relu_first_partial_continuous_at_rho_1():
    k = get_activation("relu").kernel
    at = k.grad(1.3, 0.9, 1.0)[3]
    near = k.grad(1.3, 0.9, 1 - 1e-12)[3]
    assert abs(float(at) - float(near)) < 1e-5 and np.isfinite(at)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["tanh", "silu"])
def test_numeric_kernel_vs_monte_carlo_and_mp(spec, rng):
    """Trapezoidal float64 kernel vs Monte Carlo (5 SE) and vs SciPy's adaptive dblquad."""
    act = get_activation(spec)
    k = act.kernel
    assert k.route == "numeric" and k.expr is None
    a, b, r = 1.2, 0.7, 0.4
    n = 1_000_000
    z1, z2 = rng.standard_normal((2, n))
    prod = act.numpy(a * z1) * act.numpy(b * (r * z1 + math.sqrt(1 - r * r) * z2))
    val = float(k.value(a, b, r))
    assert abs(val - prod.mean()) < 5 * prod.std() / math.sqrt(n)
    from scipy.integrate import dblquad

    s = math.sqrt(1 - r * r)
    phi = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    ref, err = dblquad(lambda z2, z1: float(act.numpy(a * z1)) * float(act.numpy(
        b * (r * z1 + s * z2))) * phi(z1) * phi(z2), -9, 9, -9, 9, epsabs=1e-11, epsrel=1e-11)
    assert abs(val - ref) < 1e-9 + 10 * err


@pytest.mark.slow
def test_numeric_kernel_mp_rule_converges(rng):
    """tanh: the mpmath trapezoidal rule at 20 and 30 digits agrees to 19 digits, and with float64."""
    k = get_activation("tanh").kernel
    a, b, r = 0.9, 0.6, -0.35
    with mpmath.workdps(40):
        v20, v30 = k.value_mp(a, b, r, dps=20), k.value_mp(a, b, r, dps=30)
        assert abs(v20 - v30) <= mpmath.mpf(10) ** -19 * abs(v30)
    assert float(v30) == pytest.approx(float(k.value(a, b, r)), rel=1e-12)
    # rho = 1 (one node in z2) is the limit of rho -> 1 and matches float64
    with mpmath.workdps(30):
        at_one = k.value_mp(a, b, 1, dps=20)
        near = k.value_mp(a, b, 1 - mpmath.mpf(10) ** -16, dps=20)
        assert abs(at_one - near) < mpmath.mpf(10) ** -7
    assert float(at_one) == pytest.approx(float(k.value(a, b, 1.0)), rel=1e-12)
    g20, g30 = k.grad_mp(a, b, r, dps=20), k.grad_mp(a, b, r, dps=30)
    for x, y, f in zip(g20, g30, k.grad(a, b, r), strict=True):
        assert abs(x - y) <= mpmath.mpf(10) ** -18 * (1 + abs(y))
        assert float(y) == pytest.approx(float(f), rel=1e-11, abs=1e-13)


@pytest.mark.slow
def test_numeric_kernel_mp_at_large_norms():
    # the mpmath rule's steps follow the precision and the norms (never stretched): at rho = 1 the
    # inner axis is one node, so large norms stay affordable and two precisions agree to the
    # lower one
    k = get_activation("silu").kernel
    for a, b, r in ((10.0, 10.0, 1.0), (40.0, 40.0, 1.0)):
        with mpmath.workdps(45):
            v30, v40 = k.value_mp(a, b, r, dps=30), k.value_mp(a, b, r, dps=40)
            assert abs(v30 - v40) <= mpmath.mpf(10) ** -28 * abs(v40)
    assert float(k.value_mp(10, 10, 1.0, dps=20)) == pytest.approx(float(k.value(10.0, 10.0, 1.0)),
                                                                     rel=1e-7)
    # beyond the uniform rule's node budget the graded rule takes over: two precisions agree
    with mpmath.workdps(40):
        g20, g30 = k.value_mp(12, 7, 0.3, dps=20), k.value_mp(12, 7, 0.3, dps=30)
        assert abs(g20 - g30) <= mpmath.mpf(10) ** -20 * abs(g30)
    # an independent check with a known kernel: erf's numeric rule is not used (closed form), so
    # compare the quadrature class directly on erf at large norms
    from compverify.symbolic.kernel import _Quadrature

    q = _Quadrature(get_activation("erf").expr)
    ek = get_activation("erf").kernel
    for a, b, r, tol in ((2, 1.5, "0.4", 1e-18), (10, 10, "1", 1e-25)):
        with mpmath.workdps(30):
            got = q.mp(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(r), 0)[0]
            want = ek.value_mp(a, b, mpmath.mpf(r), dps=30)
            assert abs(got - want) < tol * abs(want)


# ------------------------------------------------------------------------- derive CLI
@pytest.mark.slow
@pytest.mark.parametrize("spec", ["relu", "erf", "polynomial:1,0,-2,1", "tanh", "Max(0,z)**2"])
def test_derive_json(spec, capsys):
    assert main(["derive", spec, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("activation", "route", "kernel", "kernel_latex", "partials", "steps"):
        assert key in out
    k = get_activation(spec).kernel
    if k.expr is None:
        assert out["kernel"] is None
        return
    nu, nv, rho = sympy.symbols("nu nv rho")
    back = sympy.sympify(out["kernel"])
    f1 = sympy.lambdify((nu, nv, rho), back, "mpmath")
    assert abs(f1(1.1, 0.8, 0.3) - float(k.value(1.1, 0.8, 0.3))) < 1e-13
    for var in ("nu", "nv", "rho"):
        pv = sympy.lambdify((nu, nv, rho), sympy.sympify(out["partials"][var]), "mpmath")
        i = ("nu", "nv", "rho").index(var)
        assert abs(pv(1.1, 0.8, 0.3) - float(k.grad(1.1, 0.8, 0.3)[i + 1])) < 1e-12


@pytest.mark.parametrize("fmt", ["text", "latex"])
def test_derive_text_formats(fmt, capsys):
    assert main(["derive", "relu", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "piecewise-homogeneous" in out and ("acos" in out or "operatorname" in out)


@pytest.mark.parametrize("argv", [["derive", "nosuch"], ["derive", "__import__('os')"],
                                  ["derive", "relu", "--format", "xml"]])
def test_derive_bad_input_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
