"""The disk cache of derived kernels: a cached kernel is the freshly derived one, and a bad entry is
rejected (never evaluated) and derived again."""

import json
import warnings

import mpmath
import numpy as np
import pytest
import sympy

from compverify.symbolic import NU, NV, RHO, Z, kernel_cache
from compverify.symbolic.derivation import derive_kernel
from compverify.symbolic.kernel import Kernel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVERIFY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COMPVERIFY_CACHE", raising=False)
    return tmp_path / "cache" / "kernels"


def _entries(cache):
    return sorted(cache.glob("*.json")) if cache.exists() else []


class _Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


_PTS = (np.array([0.7, 1.3, 0.0, 2.0]), np.array([1.1, 0.4, 0.9, 2.0]),
        np.array([0.3, -0.95, 0.5, 1.0]))


def _values(k):
    return (k.grad(*_PTS), k.hess(*_PTS),
            [k.value_mp(nu, nv, rho, dps=30) for nu, nv, rho in zip(*_PTS, strict=True)])


def _fresh_kernel(sigma, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("COMPVERIFY_CACHE", "off")
        k = Kernel(derive_kernel(sigma), sigma)
        return k, k.partials, k.second_partials, _values(k)


def _cached_kernel(sigma):
    k = Kernel(kernel_cache.cached_derivation(sigma, derive_kernel), sigma)
    return k, k.partials, k.second_partials


def _check_same_kernel(sigma, cache, monkeypatch):
    fresh, fp, fh, fresh_values = _fresh_kernel(sigma, monkeypatch)
    assert not _entries(cache)
    _values(_cached_kernel(sigma)[0])  # derives and writes
    written = _entries(cache)
    assert {p.name.split("-")[0] for p in written} >= {"derivation", "partials", "second",
                                                       "endpoints"}
    # a new Kernel reads every expression back from disk: nothing is derived
    calls = []

    def no_derivation(expr):
        calls.append(expr)
        raise AssertionError("derived instead of read from the cache")

    got = Kernel(kernel_cache.cached_derivation(sigma, no_derivation), sigma)
    assert not calls
    # structural equality of the kernel, its steps (descriptions and LaTeX) and every partial
    assert got.route == fresh.route and got.expr == fresh.expr and got.steps == fresh.steps
    assert [s.expr for s in got.steps] == [s.expr for s in fresh.steps]
    assert got.partials == fp and got.second_partials == fh
    assert len(_entries(cache)) == len(written)
    # numeric agreement, float64 and 30 digits, at a few points (endpoints included)
    grad, hess, mp_values = _values(got)
    for a, b in zip(grad + hess, fresh_values[0] + fresh_values[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert mp_values == fresh_values[2]
    return got


@pytest.mark.slow
def test_cached_polynomial_kernel_is_the_fresh_one(cache, monkeypatch):
    _check_same_kernel(1 + Z - 2 * Z**3 / 3, cache, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [sympy.Max(0, Z), sympy.erf(Z)], ids=["relu", "erf"])
def test_cached_closed_form_kernel_is_the_fresh_one(sigma, cache, monkeypatch):
    k = _check_same_kernel(sigma, cache, monkeypatch)
    # and against the closed forms themselves: relu's arc-cosine kernel, erf's arcsine kernel
    with mpmath.workdps(40):  # the reference at 40 digits
        nu, nv, rho = mpmath.mpf("0.7"), mpmath.mpf("1.1"), mpmath.mpf("0.3")
        if sigma == sympy.erf(Z):
            want = 2 / mpmath.pi * mpmath.asin(2 * nu * nv * rho
                                               / mpmath.sqrt((1 + 2 * nu**2) * (1 + 2 * nv**2)))
        else:
            want = nu * nv * (mpmath.sqrt(1 - rho**2) + (mpmath.pi - mpmath.acos(rho)) * rho) / (
                2 * mpmath.pi)
        assert abs(k.value_mp(nu, nv, rho, dps=30) - want) < mpmath.mpf(10) ** -29 * abs(want)


def test_round_trip_of_numbers_symbols_and_functions():
    c = sympy.Symbol("C", real=True)
    exprs = [sympy.Float("0.1", 40), sympy.Float("-3.25e-300", 20), sympy.Rational(-7, 3),
             sympy.Integer(10) ** 40, NU * sympy.gamma(sympy.Rational(5, 2) + RHO),
             sympy.Piecewise((NU, RHO > 0), (NV, True)),
             sympy.Eq(sympy.Function("k")(c), sympy.Integral(c**2, (c, 0, sympy.oo))),
             sympy.Derivative(sympy.Function("k")(c), (c, 2)), sympy.sqrt(1 - RHO**2) * sympy.pi,
             sympy.Heaviside(Z, sympy.S.Half) + sympy.Abs(Z) + sympy.Max(0, Z) ** 2]
    for e in exprs:
        back = kernel_cache.decode_expr(json.loads(json.dumps(kernel_cache.encode_expr(e))))
        assert back == e, e
    f = kernel_cache.decode_expr(kernel_cache.encode_expr(exprs[0]))
    assert f._prec == exprs[0]._prec
    assert kernel_cache.decode_expr(kernel_cache.encode_expr(NU)).is_nonnegative
    with pytest.raises(ValueError):
        kernel_cache.encode_expr(sympy.Dummy("x"))


@pytest.mark.parametrize("tree", [
    {"f": "__import__", "a": [{"sym": "os", "as": {}}]},
    {"f": "eval", "a": [{"sym": "1+1", "as": {}}]},
    {"f": "Function", "a": []},
    {"int": "__import__('os').system('touch PWNED')"},
    {"rat": ["1", "__import__('os')"]},
    {"sym": "x", "as": {"__class__": True}},
    {"const": "__builtins__"},
    {"float": [0, "1", 0, 10**9]},
    {"int": "9" * 5000},
    {"f": "Pow", "a": [{"int": "2"}, {"int": "10" + "0" * 30}]},
    {"f": "gamma", "a": [{"int": "1" + "0" * 12}]},
    {"f": "Add", "a": [{"int": "1"}], "x": 1},
    "__import__('os').system('touch PWNED')",
    [1, 2, 3],
])
def test_decoder_rejects_anything_outside_the_whitelist(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kernel_cache.UnsafeCacheEntry):
        kernel_cache.decode_expr(tree)
    assert not (tmp_path / "PWNED").exists()


def test_symbol_names_are_only_names():
    s = kernel_cache.decode_expr({"sym": "__import__('os').system('x')", "as": {}})
    assert isinstance(s, sympy.Symbol) and s.name == "__import__('os').system('x')"


def _one_entry(cache, key=NU * RHO):
    value = [sympy.acos(RHO) * NU, sympy.sqrt(1 - RHO**2)]
    first = _Counter(value)
    assert kernel_cache.cached_exprs("test", key, first) == value and first.calls == 1
    (path,) = _entries(cache)
    return path, value


def test_entry_is_read_back_not_recomputed(cache):
    path, value = _one_entry(cache)
    again = _Counter(None)
    assert kernel_cache.cached_exprs("test", NU * RHO, again) == value and again.calls == 0
    other = _Counter([NV])  # another key is another entry
    assert kernel_cache.cached_exprs("test", NV * RHO, other) == [NV] and other.calls == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign", "malicious", "evil-string"])
def test_bad_entry_is_ignored_with_a_warning_and_rewritten(damage, cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, value = _one_entry(cache)
    entry = json.loads(path.read_text())
    if damage == "truncate":
        path.write_text(path.read_text()[:30])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x81 not json")
    elif damage == "foreign":
        entry["key"]["sympy"] = "0.0"
        path.write_text(json.dumps(entry))
    elif damage == "malicious":
        entry["value"]["list"][0] = {"f": "__import__", "a": [{"sym": "os", "as": {}}]}
        path.write_text(json.dumps(entry))
    else:
        entry["value"]["list"][0] = {"int": "__import__('os').system('touch PWNED')"}
        path.write_text(json.dumps(entry))
    again = _Counter(value)
    with pytest.warns(kernel_cache.KernelCacheWarning, match="deriving again"):
        assert kernel_cache.cached_exprs("test", NU * RHO, again) == value
    assert again.calls == 1
    assert not (tmp_path / "PWNED").exists()
    # the fresh value replaced the bad entry
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = _Counter(None)
        assert kernel_cache.cached_exprs("test", NU * RHO, third) == value and third.calls == 0


def test_cache_off_derives_every_time_and_writes_nothing(cache, monkeypatch):
    monkeypatch.setenv("COMPVERIFY_CACHE", "off")
    assert not kernel_cache.enabled()
    for _ in range(2):
        c = _Counter([NU])
        assert kernel_cache.cached_exprs("test", NU * RHO, c) == [NU] and c.calls == 1
    k = Kernel(kernel_cache.cached_derivation(Z**2, derive_kernel), Z**2)
    assert sympy.expand(k.partials["rho"] - 4 * NU**2 * NV**2 * RHO) == 0  # k = nu^2 nv^2 (1 + 2 rho^2)
    assert not cache.parent.exists()


def test_unwritable_cache_directory_does_not_fail_the_computation(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("COMPVERIFY_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv("COMPVERIFY_CACHE", raising=False)
    kernel_cache._warned.clear()
    with pytest.warns(kernel_cache.KernelCacheWarning, match="not usable"):
        assert kernel_cache.cached_exprs("test", NU, _Counter([NV])) == [NV]
    with warnings.catch_warnings():  # reported once per directory
        warnings.simplefilter("error")
        assert kernel_cache.cached_exprs("test", NV, _Counter([NU])) == [NU]


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("COMPVERIFY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernel_cache.cache_dir() == tmp_path / "compverify"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kernel_cache.cache_dir() == tmp_path / "home" / ".cache" / "compverify"
    monkeypatch.setenv("COMPVERIFY_CACHE_DIR", str(tmp_path / "x"))
    assert kernel_cache.cache_dir() == tmp_path / "x"
