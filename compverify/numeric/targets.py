"""Targets: the network being compressed, finite or mean-field, with ``h``, its derivatives and ``C``.

Every target bound to an activation offers (docs/INTERFACES.md): ``d``, ``rotation_invariant``,
``h(V)`` (M,), ``h_grad(V)`` (M, d), ``h_hess(V)`` (M, d, d) -- the derivatives of ``h(v_j)`` in
``v_j`` -- ``C()``, their mpmath versions ``h_mp(V, dps)``, ``h_grad_mp``, ``h_hess_mp``,
``C_mp(dps)``, ``sample(N, seed)`` (a finite realization, ``a_i = abar / N``) and ``describe()``.

Families:

* :class:`FiniteNetwork` -- explicit ``(a, W)``: ``h = h_N = sum_i a_i K(w_i, .)``, ``C = C_N``
  (exact kernel sums, :mod:`compverify.numeric.kernel_sums`); ``.npz`` files with arrays ``a``, ``W``.
* :class:`GaussianTarget` -- ``w ~ N(mu, s^2 I_d)``, mean second layer ``abar``: closed forms from
  :mod:`compverify.symbolic.meanfield` (homogeneous sigma with ``mu = 0``; polynomial sigma, any
  ``mu``); homogeneous sigma with ``mu != 0``: the convergent series of
  :mod:`compverify.numeric.meanfield_series` (tail bounded below the working precision).
  ``isotropic`` is ``mu = 0, s^2 = 1/d, abar = 1``; i.i.d. Gaussian entries with mean m are
  ``mu = m 1``.
* :class:`RademacherTarget` -- entries ``m + s eps``, ``eps = +-1``: for ``d <= 12`` the expectation is
  the exact finite sum over the ``2^d`` sign patterns.

* :class:`compverify.numeric.polynomial_iid.PolynomialIidTarget` -- i.i.d. entries and a polynomial
  sigma: exact closed forms in the power sums of ``v`` (any ``d``).

Gaussian weights with a non-polynomial, non-homogeneous sigma use the product Gauss rule of
:mod:`compverify.numeric.gauss_rule` (about 9-14 digits); i.i.d. uniform entries and Rademacher
entries with ``d > 12`` the spectral rule of :mod:`compverify.numeric.spectral` where the activation
has a spectral form, else the randomized quasi-Monte Carlo rules of
:mod:`compverify.numeric.sampled` (about 4-6 digits).  All carry an error estimate
(``loss_error``) that caps the solver's verified digits.  :func:`gaussian_target` and
:func:`from_options` choose the route.

>>> t = from_options("isotropic", d=3, mean=None, scale=None, activation="relu")
>>> import numpy as np
>>> import math
>>> c3 = 1.5 * math.gamma(1.5) / (math.sqrt(math.pi) * math.gamma(2))    # SPEC A3: c_d, d = 3
>>> h = float(t.h(np.array([[1.0, 0.0, 0.0]]))[0])
>>> abs(h - c3 / math.sqrt(3) / math.sqrt(2 * math.pi)) < 1e-15          # s |v| c_d / sqrt(2 pi)
True
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from decimal import Decimal
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.errors import CompverifyError
from compverify.numeric.kernel_sums import (
    constant_term,
    constant_term_mp,
    cross_term,
    cross_term_mp,
)
from compverify.symbolic.activations import as_activation
from compverify.validate import (
    check_dps,
    check_finite_array,
    check_memory,
    check_npz_arrays,
    check_positive_int,
    check_target_numbers,
)

__all__ = ["FiniteNetwork", "GaussianTarget", "RademacherTarget", "from_options", "gaussian_target",
           "has_closed_form", "isotropic", "load_npz", "MAX_RADEMACHER_D"]

MAX_RADEMACHER_D = 12
_GUARD = 10


def check_rows(V: Any, d: int) -> np.ndarray:
    """``V`` as a finite float64 (M, d) array, or an error naming its shape."""
    V = check_finite_array(V, "V", ndim=2)
    if V.shape[1] != d:
        raise CompverifyError(f"V must have d = {d} columns like the target, got shape {V.shape}")
    return V


def mp_rows(V: Any, d: int, dps: int) -> np.ndarray:
    """``V`` (M, d) as an object array of ``mpf`` at ``dps`` digits, or an error naming its shape."""
    Vm = np.asarray(V, dtype=object)
    if Vm.ndim != 2 or Vm.shape[1] != d:
        raise CompverifyError(f"V must have shape (M, {d}), got {Vm.shape}")
    return _mp_matrix(Vm, dps)


def _mp_matrix(V: Any, dps: int) -> np.ndarray:
    with mpmath.workdps(dps):
        A = np.asarray(V, dtype=object)
        return np.vectorize(lambda x: mpmath.mpf(x), otypes=[object])(A) if A.size else A


def round_mp(x: Any, dps: int) -> Any:
    """``x`` (an mpf or an object array of them) rounded to ``dps`` digits."""
    with mpmath.workdps(dps):
        if isinstance(x, np.ndarray):
            return np.vectorize(lambda y: +y, otypes=[object])(x)
        return +x


# ----------------------------------------------------------------------------- finite
class FiniteNetwork:
    """An explicit network ``f(x) = sum_i a_i sigma(<w_i, x>)``; exact kernel sums."""

    rotation_invariant = False
    method = "exact kernel sums"

    def __init__(self, activation: Any, a: Any, W: Any, *, name: str = "finite") -> None:
        self.activation = as_activation(activation)
        W = check_finite_array(W, "W", ndim=2) if W is not None else W
        a = check_finite_array(a, "a", ndim=1)
        if a.shape[0] != W.shape[0]:
            raise CompverifyError(f"a has length {a.shape[0]} but W has {W.shape[0]} rows")
        if W.shape[0] < 1 or W.shape[1] < 1:
            raise CompverifyError(f"W must have at least one row and column, got shape {W.shape}")
        self.a, self.W = a, W
        self.d = int(W.shape[1])
        self.N = int(W.shape[0])
        self.name = name
        self._C: float | None = None

    def __repr__(self) -> str:
        return f"FiniteNetwork(N={self.N}, d={self.d}, activation={self.activation.spec!r})"

    def describe(self) -> dict:
        # the digest names the network itself, not only its file name: results say which
        # network they are about, and a checkpoint of an edited .npz is not resumed
        digest = hashlib.sha256(np.ascontiguousarray(self.a, dtype=float).tobytes()
                                + np.ascontiguousarray(self.W, dtype=float).tobytes())
        return {"family": "finite", "name": self.name, "N": self.N, "d": self.d,
                "sha256": digest.hexdigest(), "method": self.method}

    def h(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=0).h

    def h_grad(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=1).dh

    def h_hess(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=2).d2h

    def C(self) -> float:
        if self._C is None:
            self._C = float(constant_term(self.activation, self.a, self.W))
        return self._C

    def h_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=0, dps=dps).h

    def h_grad_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=1, dps=dps).dh

    def h_hess_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=2, dps=dps).d2h

    def C_mp(self, dps: int) -> mpmath.mpf:
        return constant_term_mp(self.activation, self.a, self.W, dps=dps)

    def sample(self, N: int, seed: int) -> FiniteNetwork:
        raise CompverifyError("a finite network is already a realization; it has no sample()")

    def save(self, path: str | os.PathLike) -> None:
        """Write ``a`` and ``W`` to an ``.npz`` file atomically."""
        import io

        from compverify.io import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, a=self.a, W=self.W)
        atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike, activation: Any) -> FiniteNetwork:
    """A :class:`FiniteNetwork` from an ``.npz`` file with arrays ``a`` (N,) and ``W`` (N, d)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise CompverifyError(f"target file {p!r} does not exist")
    if not zipfile.is_zipfile(p):
        # np.load falls back to unpickling, and its message then speaks of pickled data
        raise CompverifyError(f"target file {p!r} is not a readable .npz: not a complete zip "
                              "archive (np.savez writes one)")
    check_npz_arrays(p, ("a", "W"))  # real dtypes and a size that fits, before loading
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("a", "W") if k not in data.files]
            if missing:
                raise CompverifyError(f"target file {p!r} lacks array(s) {', '.join(missing)} "
                                      f"(has {', '.join(data.files) or 'none'})")
            a, W = np.array(data["a"]), np.array(data["W"])
    except CompverifyError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CompverifyError(f"target file {p!r} is not a readable .npz: {exc}") from None
    if not (np.issubdtype(a.dtype, np.number) and np.issubdtype(W.dtype, np.number)):
        raise CompverifyError(f"target file {p!r}: a and W must be numeric arrays")
    if a.ndim != 1 or W.ndim != 2:
        raise CompverifyError(f"target file {p!r}: a must have shape (N,) and W (N, d); got "
                              f"{a.shape} and {W.shape}")
    return FiniteNetwork(activation, a.astype(float), W.astype(float), name=os.path.basename(p))


# ----------------------------------------------------------------------------- Gaussian
class GaussianTarget:
    """``w ~ N(mu, s^2 I_d)`` with mean second layer ``abar``; closed-form mean-field quantities.

    ``h`` and ``C`` come from :mod:`compverify.symbolic.meanfield` (``method`` says which closed
    form); both float64 and mpmath evaluate the same SymPy expressions.
    """

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1, name: str = "gaussian") -> None:
        from compverify.symbolic import meanfield

        self.activation = act = as_activation(activation)
        self.d = check_positive_int(d, "d")
        check_memory(64.0 * self.d, f"a Gaussian target in dimension d = {self.d}")  # mean, work
        self.name = name
        self.scale = _positive(scale, "scale") if scale is not None else None
        self.scale_str = str(scale) if scale is not None else None
        mean = np.zeros(self.d) if mean is None else np.asarray(mean, dtype=float)
        if mean.shape != (self.d,):
            raise CompverifyError(f"mean must have d = {self.d} entries, got {mean.size}")
        check_finite_array(mean, "mean")
        self.mean = mean
        self.mean_str = None
        self.abar = abar
        self.rotation_invariant = not np.any(mean)
        self.series = None
        if act.expr.is_polynomial(sympy.Symbol("z", real=True)):
            self.mf = meanfield.polynomial_gaussian(act)
        elif act.homogeneous_degree is not None and self.rotation_invariant:
            self.mf = meanfield.homogeneous_isotropic(act)
        elif act.homogeneous_degree is not None:
            from compverify.numeric.meanfield_series import HomogeneousMeanSeries
            from compverify.symbolic.derivation import piecewise_homogeneous_form

            n, alpha, beta = piecewise_homogeneous_form(act.expr)
            s_text = self.scale_str
            if self.scale is None:
                with mpmath.workdps(2100):  # 1/sqrt(d) to far beyond any working precision
                    s_text = mpmath.nstr(1 / mpmath.sqrt(self.d), 2050)
            self.mf = None
            self.series = HomogeneousMeanSeries(
                int(n), sympy.N(alpha, 60), sympy.N(beta, 60), d=self.d,
                # the exact decimals of the floats: the same mean as mp_rows gives the mpmath
                # path (repr's shortest decimal, 0.3 for the double 0.29999..., differed by 1e-17)
                mu=[str(Decimal(float(x))) for x in mean], s=s_text, abar=str(abar))
            self._n = int(n)
            self.method = (f"series in the mean (order {self.series.order(30)[0]} at 30 digits, "
                           "tail bounded)")
            return
        else:
            _check_nonzero_target(act, self.rotation_invariant)
            raise CompverifyError(
                f"no closed-form mean-field target for the non-homogeneous, non-polynomial "
                f"activation {act.spec!r}: use gaussian_target(), which falls back to the "
                "product Gauss rule of compverify.numeric.gauss_rule")
        self.method = f"closed form ({self.mf.kind})"
        self._compile()

    # scale symbolic value: default 1/sqrt(d), kept exact for the mpmath path
    def _s_mp(self) -> mpmath.mpf:
        return (1 / mpmath.sqrt(self.d)) if self.scale is None else mpmath.mpf(self.scale_str)

    def _s(self) -> float:
        return 1 / np.sqrt(self.d) if self.scale is None else float(self.scale)

    def _compile(self) -> None:
        from compverify.symbolic import meanfield as mfm
        from compverify.symbolic.steps import NV

        h, C = self.mf.h, self.mf.C
        if self.mf.kind == "homogeneous-isotropic":
            n = self.mf.degree
            coef = h.subs(NV, 1)
            self._coef = sympy.lambdify((mfm.D, mfm.S, mfm.ABAR), coef, "mpmath")
            self._n = n
            self._Cf = sympy.lambdify((mfm.D, mfm.S, mfm.ABAR), C, "mpmath")
        else:
            args = (mfm.VV, mfm.MUV, mfm.MM, mfm.D, mfm.S, mfm.ABAR)
            H = h
            derivs = {"H": H, "Hv": sympy.diff(H, mfm.VV), "Hm": sympy.diff(H, mfm.MUV),
                      "Hvv": sympy.diff(H, mfm.VV, 2), "Hvm": sympy.diff(H, mfm.VV, mfm.MUV),
                      "Hmm": sympy.diff(H, mfm.MUV, 2)}
            self._poly_np = {k: sympy.lambdify(args, e, "numpy") for k, e in derivs.items()}
            self._poly_mp = {k: sympy.lambdify(args, e, "mpmath") for k, e in derivs.items()}
            self._Cf = sympy.lambdify((mfm.MM, mfm.D, mfm.S, mfm.ABAR), C, "mpmath")

    def __repr__(self) -> str:
        return (f"GaussianTarget({self.name}, d={self.d}, activation={self.activation.spec!r}, "
                f"{self.method})")

    def describe(self) -> dict:
        return {"family": self.name, "d": self.d, "mean": [float(x) for x in self.mean],
                "scale": self.scale_str if self.scale is not None else "1/sqrt(d)",
                "abar": str(self.abar), "method": self.method,
                **({"h": str(self.mf.h), "C": str(self.mf.C)} if self.mf is not None else
                   {"h": "abar E[r^(2n)] |v|^n G(<mu, v>/|v|), G a series in the mean "
                         "(compverify.numeric.meanfield_series)",
                    "series_tail_bound": {k: str(v) for k, v in
                                          self.series.tail_bound(30).items()}})}

    # ---------------------------------------------------------------- evaluation core
    def _eval(self, V: np.ndarray, order: int, mp: bool) -> Any:
        """(h, grad, hess) with entries float (mp False) or mpf at the working precision."""
        M, d = V.shape
        if V.shape[1] != self.d:
            raise CompverifyError(f"V must have d = {self.d} columns, got shape {V.shape}")
        one = mpmath.mpf(1) if mp else 1.0
        s = self._s_mp() if mp else self._s()
        dd = mpmath.mpf(self.d) if mp else float(self.d)
        abar = mpmath.mpf(str(self.abar)) if mp else float(self.abar)
        mu = _mp_matrix(self.mean, mpmath.mp.dps) if mp else self.mean
        dtype = object if mp else float
        h = np.zeros(M, dtype=dtype)
        g = np.zeros((M, d), dtype=dtype)
        H = np.zeros((M, d, d), dtype=dtype)
        eye = np.eye(d, dtype=int)
        for j in range(M):
            v = V[j]
            vv = sum(x * x for x in v) if mp else float(v @ v)
            if self.series is not None:
                h[j], g[j], H[j] = self._series_row(v, vv, mu, order, mp, eye * one, j)
            elif self.mf.kind == "homogeneous-isotropic":
                n = self._n
                A = self._coef(dd, s, abar)
                A = A if mp else float(A)
                nv = mpmath.sqrt(vv) if mp else np.sqrt(vv)
                if nv == 0 and (order >= 1 and n < 1 or order >= 2 and n < 2):
                    raise CompverifyError(f"V row {j} has zero norm: h is not differentiable "
                                          "there")
                h[j] = A * nv**n
                if order >= 1:
                    g[j] = (n * A * nv ** (n - 2) * v) if nv != 0 else 0 * v
                if order >= 2:
                    if nv == 0:
                        H[j] = (A * 2 * eye * one) if n == 2 else 0 * eye * one
                    else:
                        outer = np.outer(v, v) / vv
                        H[j] = n * A * nv ** (n - 2) * (eye * one + (n - 2) * outer)
            else:
                fns = self._poly_mp if mp else self._poly_np
                muv = sum(a * b for a, b in zip(mu, v, strict=True)) if mp else float(mu @ v)
                mm = sum(a * a for a in mu) if mp else float(mu @ mu)
                args = (vv, muv, mm, dd, s, abar)
                ev = {k: (f(*args) if mp else float(f(*args))) for k, f in fns.items()}
                h[j] = ev["H"]
                if order >= 1:
                    g[j] = 2 * ev["Hv"] * v + ev["Hm"] * mu
                if order >= 2:
                    H[j] = (2 * ev["Hv"] * eye * one + 4 * ev["Hvv"] * np.outer(v, v)
                            + 2 * ev["Hvm"] * (np.outer(v, mu) + np.outer(mu, v))
                            + ev["Hmm"] * np.outer(mu, mu))
        return h, g, H

    def _series_row(self, v, vv, mu, order: int, mp: bool, eye, j: int) -> tuple:
        """``h``, gradient, Hessian of ``A |v|^n G(t)``, ``t = <mu, v>/|v|`` (series route)."""
        ser, n = self.series, self._n
        nv = mpmath.sqrt(vv) if mp else np.sqrt(vv)
        if nv == 0:
            raise CompverifyError(f"V row {j} has zero norm: h is not differentiable there and "
                                  "its direction is undefined")
        muv = sum(a * b for a, b in zip(mu, v, strict=True)) if mp else float(mu @ v)
        t = muv / nv
        if mp:
            A = ser.amplitude_mp(mpmath.mp.dps)
            G, G1, G2 = ser.G_mp(t, mpmath.mp.dps)
        else:
            A = ser.A_float
            G, G1, G2 = (float(x[0]) for x in ser.G_float([t]))
        h = A * nv**n * G
        zero = 0 * v
        if order < 1:
            return h, zero, np.outer(zero, zero)
        e = v / nv
        dt = (mu - t * e) / nv
        P, dP = nv**n, n * nv ** (n - 2) * v
        g = A * (dP * G + P * G1 * dt)
        if order < 2:
            return h, g, np.outer(zero, zero)
        d2P = n * nv ** (n - 2) * (eye + (n - 2) * np.outer(e, e))
        d2t = (-(np.outer(mu, e) + np.outer(e, mu)) - t * eye + 3 * t * np.outer(e, e)) / vv
        H = A * (d2P * G + G1 * (np.outer(dP, dt) + np.outer(dt, dP))
                 + P * (G2 * np.outer(dt, dt) + G1 * d2t))
        return h, g, H

    def _check(self, V: Any) -> np.ndarray:
        return check_rows(V, self.d)

    def h(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 0, False)[0]

    def h_grad(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 1, False)[1]

    def h_hess(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 2, False)[2]

    def C(self) -> float:
        if self.series is not None:
            return self.series.C_float
        return float(self.C_mp(20))

    def _mp_eval(self, V: Any, order: int, dps: int) -> Any:
        dps = check_dps(dps)
        Vm = mp_rows(V, self.d, dps + _GUARD)
        with mpmath.workdps(dps + _GUARD):
            out = self._eval(Vm, order, True)
        return tuple(round_mp(x, dps) for x in out)

    def h_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._mp_eval(V, 0, dps)[0]

    def h_grad_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._mp_eval(V, 1, dps)[1]

    def h_hess_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._mp_eval(V, 2, dps)[2]

    def C_mp(self, dps: int) -> mpmath.mpf:
        dps = check_dps(dps)
        if self.series is not None:
            return self.series.C_mp(dps)
        with mpmath.workdps(dps + _GUARD):
            s, dd, abar = self._s_mp(), mpmath.mpf(self.d), mpmath.mpf(str(self.abar))
            if self.mf.kind == "homogeneous-isotropic":
                c = self._Cf(dd, s, abar)
            else:
                mm = sum(mpmath.mpf(x) ** 2 for x in self.mean)
                c = self._Cf(mm, dd, s, abar)
        with mpmath.workdps(dps):
            return +mpmath.mpf(c)

    def sample(self, N: int, seed: int) -> FiniteNetwork:
        """A realization: ``w_i ~ N(mu, s^2 I)`` (seeded), ``a_i = abar / N``."""
        N = check_positive_int(N, "N")
        rng = np.random.default_rng(seed)
        W = self.mean + self._s() * rng.standard_normal((N, self.d))
        return FiniteNetwork(self.activation, np.full(N, float(self.abar) / N), W,
                             name=f"{self.name} sample N={N} seed={seed}")


def _check_nonzero_target(act: Any, mean_is_zero: bool) -> None:
    z = sympy.Symbol("z", real=True)
    if mean_is_zero and sympy.simplify(act.expr + act.expr.subs(z, -z)) == 0:
        raise CompverifyError(
            f"the mean-field target of the odd activation {act.spec!r} with mean 0 is "
            "identically zero (E_g sigma(s|x| g) = 0): nothing to compress; use a finite "
            ".npz target")


def has_closed_form(activation: Any) -> bool:
    """Whether Gaussian targets with this activation have closed-form (or series) ``h`` and ``C``."""
    act = as_activation(activation)
    return bool(act.expr.is_polynomial(sympy.Symbol("z", real=True))
                or act.homogeneous_degree is not None)


def gaussian_target(activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                    abar: Any = 1, name: str = "gaussian", **rule: Any) -> Any:
    """``w ~ N(mu, s^2 I_d)``: closed form or series where there is one, else the Gauss rule.

    Non-polynomial, non-homogeneous activations with a spectral form (tanh, sigmoid, erf, gelu,
    silu) get :class:`compverify.numeric.spectral.GaussianSpectralTarget` (float64 on the product
    Gauss rule, multiprecision on the spectral rule: 25-30 digits); others, or any when ``rule``
    sets the Gauss rule's ``nodes``, :class:`compverify.numeric.gauss_rule.GaussRuleTarget` (about
    9-14 digits).
    """
    act = as_activation(activation)
    mu = np.zeros(int(d)) if mean is None else np.asarray(mean, dtype=float)
    _check_nonzero_target(act, not np.any(mu))  # any route: a zero target has no relative loss
    if has_closed_form(act):
        return GaussianTarget(act, d, mean=mean, scale=scale, abar=abar, name=name)
    from compverify.numeric.gauss_rule import GaussRuleTarget
    from compverify.numeric.spectral import GaussianSpectralTarget, supports

    if not rule and supports(act):
        return GaussianSpectralTarget(act, d, mean=mu, scale=scale, abar=abar, name=name)
    return GaussRuleTarget(act, d, mean=mu, scale=scale, abar=abar, name=name, **rule)


def isotropic(d: int, activation: Any) -> GaussianTarget:
    """The isotropic target: ``w ~ N(0, I_d / d)``, ``abar = 1``."""
    return GaussianTarget(activation, d, name="isotropic")


# ----------------------------------------------------------------------------- Rademacher
class RademacherTarget(FiniteNetwork):
    """Entries ``w_k = m + s eps_k``, ``eps_k = +-1`` i.i.d.; exact: a sum over ``2^d`` patterns.

    The mean-field ``h`` and ``C`` equal those of the finite network whose rows are all ``2^d``
    patterns with weights ``abar / 2^d``, so they are exact kernel sums (``d <= 12``).
    """

    def __init__(self, activation: Any, d: int, *, mean: float = 0.0, scale: float | None = None,
                 abar: float = 1.0) -> None:
        d = check_positive_int(d, "d")
        if d > MAX_RADEMACHER_D:
            raise CompverifyError(f"the Rademacher target is exact only for d <= "
                                  f"{MAX_RADEMACHER_D} (2^d sign patterns); got d = {d}")
        s = 1 / np.sqrt(d) if scale is None else float(scale)
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * d, indexing="ij")).reshape(d, -1).T
        super().__init__(activation, np.full(2**d, abar / 2**d), mean + s * signs,
                         name="iid:rademacher")
        self.m, self.s, self.abar = float(mean), s, abar
        self.method = f"exact finite sum over the 2^{d} sign patterns"

    def describe(self) -> dict:
        return {"family": "iid:rademacher", "d": self.d, "mean": self.m, "scale": self.s,
                "abar": self.abar, "method": self.method}

    def sample(self, N: int, seed: int) -> FiniteNetwork:
        N = check_positive_int(N, "N")
        rng = np.random.default_rng(seed)
        W = self.m + self.s * rng.choice([-1.0, 1.0], size=(N, self.d))
        return FiniteNetwork(self.activation, np.full(N, self.abar / N), W,
                             name=f"rademacher sample N={N} seed={seed}")


# ----------------------------------------------------------------------------- options
def _positive(text: Any, what: str) -> float:
    try:
        x = float(str(text).strip())
    except ValueError:
        raise CompverifyError(f"{what} must be a number, got {text!r}") from None
    if not np.isfinite(x) or x <= 0:
        raise CompverifyError(f"{what} must be a positive finite number, got {text!r}")
    return x


def _parse_mean(text: str | None, d: int) -> np.ndarray:
    if text is None:
        return np.zeros(d)
    parts = [p for p in str(text).split(",")]
    try:
        vals = [float(p.strip()) for p in parts]
    except ValueError:
        raise CompverifyError(f"--target-mean must be a number or {d} comma-separated numbers, "
                              f"got {text!r}") from None
    if not all(np.isfinite(vals)):
        raise CompverifyError(f"--target-mean must be finite, got {text!r}")
    if len(vals) == 1:
        return np.full(d, vals[0])
    if len(vals) != d:
        raise CompverifyError(f"--target-mean has {len(vals)} entries but d = {d}")
    return np.array(vals)


def _iid_closed_form(act: Any, law: str, d: int, m: float, scale: str | None) -> Any:
    """The exact target for a polynomial sigma with i.i.d. entries, or None for other sigma."""
    from compverify.numeric.polynomial_iid import PolynomialIidTarget, supports

    if not supports(act):
        return None
    return PolynomialIidTarget(act, d, law, mean=m, scale=scale)


def from_options(target: str, *, d: int | None, mean: str | None, scale: str | None,
                 activation: Any, rule_points: int | None = None) -> Any:
    """The target named on the command line: ``isotropic``, ``gaussian``, ``iid:LAW`` or ``.npz``.

    iid:uniform and iid:rademacher with ``d > 12`` are exact for a polynomial sigma
    (:mod:`compverify.numeric.polynomial_iid`); otherwise they use the spectral rule
    (:mod:`compverify.numeric.spectral`) when the activation has a spectral form, else the
    quasi-Monte Carlo rule (:mod:`compverify.numeric.sampled`).  ``rule_points``: points per
    replicate of the quasi-Monte Carlo rule (asking for it selects that rule); an error for any
    other target.
    """
    act = as_activation(activation)
    for value, option in ((mean, "--target-mean"), (scale, "--target-scale")):
        if value is not None:  # finite and inside the float64 range of C (validate's bounds)
            check_target_numbers(value, option, positive=option == "--target-scale")
    rule = {} if rule_points is None else {"points": check_positive_int(rule_points, "--rule-points")}
    t = str(target).strip()
    big_d = isinstance(d, (int, np.integer)) and d > MAX_RADEMACHER_D
    uses_qmc = t == "iid:uniform" or (t == "iid:rademacher" and big_d)
    if rule and not uses_qmc:
        raise CompverifyError("--rule-points applies only to the quasi-Monte Carlo targets "
                              f"(iid:uniform, iid:rademacher with d > {MAX_RADEMACHER_D}), not to {t!r}")
    if t.endswith(".npz"):
        if mean is not None or scale is not None:
            raise CompverifyError("--target-mean/--target-scale do not apply to an .npz target")
        return load_npz(t, act)
    if d is None:
        raise CompverifyError(f"--d is required for the target {t!r}")
    d = check_positive_int(d, "--d")
    if t == "isotropic":
        if mean is not None or scale is not None:
            raise CompverifyError("the isotropic target has mean 0 and scale 1/sqrt(d); use "
                                  "--target gaussian to set them")
        return gaussian_target(act, d, name="isotropic")
    mu = _parse_mean(mean, d)
    if scale is not None:
        _positive(scale, "--target-scale")
    s = None if scale is None else str(scale).strip()
    if t == "gaussian" or t == "iid:gaussian":
        return gaussian_target(act, d, mean=mu, scale=s, name=t)
    if t in ("iid:rademacher", "iid:uniform") and np.ptp(mu) != 0:
        raise CompverifyError(f"{t} takes one mean m (entries m + s xi), not a list")
    if t in ("iid:rademacher", "iid:uniform") and not rule and (t == "iid:uniform" or big_d):
        exact = _iid_closed_form(act, t[4:], d, float(mu[0]), s)
        if exact is not None:
            return exact
    if t == "iid:rademacher":
        if d > MAX_RADEMACHER_D and not rule:
            from compverify.numeric.spectral import spectral_target, supports

            if supports(act):
                return spectral_target(act, d, "rademacher", mean=float(mu[0]),
                                       scale=None if s is None else float(s))
        if d > MAX_RADEMACHER_D:
            from compverify.numeric.sampled import rademacher_sampled_target

            return rademacher_sampled_target(act, d, mean=float(mu[0]),
                                             scale=None if s is None else float(s), **rule)
        return RademacherTarget(act, d, mean=float(mu[0]),
                                scale=None if s is None else float(s))
    if t == "iid:uniform":
        from compverify.numeric.sampled import uniform_target
        from compverify.numeric.spectral import spectral_target, supports

        if not rule and supports(act):
            return spectral_target(act, d, "uniform", mean=float(mu[0]),
                                   scale=None if s is None else float(s))

        return uniform_target(act, d, mean=float(mu[0]), scale=None if s is None else float(s),
                              **rule)
    raise CompverifyError(f"unknown target {t!r}; expected isotropic, gaussian, iid:gaussian, "
                          "iid:rademacher, iid:uniform or a path to an .npz file")
