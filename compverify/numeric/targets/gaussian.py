"""Gaussian weights ``w ~ N(mu, s^2 I_d)`` with closed-form or series ``h`` and ``C``.

:class:`GaussianTarget` evaluates the mean-field ``h``, its derivatives and ``C`` from
:mod:`compverify.symbolic.meanfield` (homogeneous sigma with ``mu = 0``; polynomial sigma, any
``mu``), or for a homogeneous sigma with ``mu != 0`` from the convergent series of
:mod:`compverify.numeric.meanfield_series` (tail bounded below the working precision).  Both
float64 and mpmath evaluate the same SymPy expressions.  ``isotropic`` is ``mu = 0, s^2 = 1/d,
abar = 1``; i.i.d. Gaussian entries with mean m are ``mu = m 1``.  Other activations go to the
rule routes (:mod:`compverify.numeric.targets.routes`).

>>> import math
>>> import numpy as np
>>> t = GaussianTarget("relu", 3, name="isotropic")
>>> c3 = 1.5 * math.gamma(1.5) / (math.sqrt(math.pi) * math.gamma(2))    # SPEC A3: c_d, d = 3
>>> h = float(t.h(np.array([[1.0, 0.0, 0.0]]))[0])
>>> abs(h - c3 / math.sqrt(3) / math.sqrt(2 * math.pi)) < 1e-15          # s |v| c_d / sqrt(2 pi)
True
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import mpmath
import numpy as np
import sympy

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork, check_rows, mp_matrix, mp_rows, round_mp
from compverify.numeric.meanfield_series import HomogeneousMeanSeries
from compverify.numeric.targets.spec import positive_number
from compverify.symbolic import meanfield
from compverify.symbolic.activations import as_activation
from compverify.symbolic.derivation import piecewise_homogeneous_form
from compverify.symbolic.steps import NV
from compverify.validate import check_dps, check_finite_array, check_memory, check_positive_int

__all__ = ["GaussianTarget", "check_nonzero_target", "has_closed_form", "is_polynomial",
           "is_homogeneous"]

_GUARD = 10


def is_polynomial(activation: Any) -> bool:
    """Whether sigma is a polynomial in ``z``."""
    return bool(as_activation(activation).expr.is_polynomial(sympy.Symbol("z", real=True)))


def is_homogeneous(activation: Any) -> bool:
    """Whether sigma is positively homogeneous (relu, abs, leaky_relu, relu_power, step, sign)."""
    return as_activation(activation).homogeneous_degree is not None


class GaussianTarget:
    """``w ~ N(mu, s^2 I_d)`` with mean second layer ``abar``; closed-form mean-field quantities.

    ``h`` and ``C`` come from :mod:`compverify.symbolic.meanfield` (``method`` says which closed
    form); both float64 and mpmath evaluate the same SymPy expressions.
    """

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1, name: str = "gaussian") -> None:
        self.activation = act = as_activation(activation)
        self.d = check_positive_int(d, "d")
        check_memory(64.0 * self.d, f"a Gaussian target in dimension d = {self.d}")  # mean, work
        self.name = name
        self.scale = positive_number(scale, "scale") if scale is not None else None
        self.scale_str = str(scale) if scale is not None else None
        mean = np.zeros(self.d) if mean is None else np.asarray(mean, dtype=float)
        if mean.shape != (self.d,):
            raise CompverifyError(f"mean must have d = {self.d} entries, got {mean.size}")
        check_finite_array(mean, "mean")
        self.mean = mean
        self.mean_str = None
        self.abar = abar
        self.rotation_invariant = not np.any(mean)
        check_nonzero_target(act, self.rotation_invariant)  # every route: 0 has no relative loss
        self.series = None
        if act.expr.is_polynomial(sympy.Symbol("z", real=True)):
            self.mf = meanfield.polynomial_gaussian(act)
        elif act.homogeneous_degree is not None and self.rotation_invariant:
            self.mf = meanfield.homogeneous_isotropic(act)
        elif act.homogeneous_degree is not None:
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
            check_nonzero_target(act, self.rotation_invariant)
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
        h, C = self.mf.h, self.mf.C
        if self.mf.kind == "homogeneous-isotropic":
            n = self.mf.degree
            coef = h.subs(NV, 1)
            self._coef = sympy.lambdify((meanfield.D, meanfield.S, meanfield.ABAR), coef, "mpmath")
            self._n = n
            self._amplitudes: dict[tuple[bool, int], Any] = {}
            self._Cf = sympy.lambdify((meanfield.D, meanfield.S, meanfield.ABAR), C, "mpmath")
        else:
            args = (meanfield.VV, meanfield.MUV, meanfield.MM, meanfield.D, meanfield.S, meanfield.ABAR)
            H = h
            VV, MUV = meanfield.VV, meanfield.MUV
            derivs = {"H": H, "Hv": sympy.diff(H, VV), "Hm": sympy.diff(H, MUV),
                      "Hvv": sympy.diff(H, VV, 2), "Hvm": sympy.diff(H, VV, MUV),
                      "Hmm": sympy.diff(H, MUV, 2)}
            self._poly_np = {k: sympy.lambdify(args, e, "numpy") for k, e in derivs.items()}
            self._poly_mp = {k: sympy.lambdify(args, e, "mpmath") for k, e in derivs.items()}
            self._Cf = sympy.lambdify((meanfield.MM, meanfield.D, meanfield.S, meanfield.ABAR), C, "mpmath")

    def _amplitude(self, mp: bool, dd: Any, s: Any, abar: Any) -> Any:
        """The factor ``A = h(v)/|v|^n`` of a homogeneous isotropic target (gamma functions of
        ``d``), evaluated once per precision and kept: it does not depend on ``v``."""
        key = (mp, mpmath.mp.prec)
        A = self._amplitudes.get(key)
        if A is None:
            A = self._coef(dd, s, abar)
            A = A if mp else float(A)
            self._amplitudes[key] = A
        return A

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
        mu = mp_matrix(self.mean, mpmath.mp.dps) if mp else self.mean
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
                A = self._amplitude(mp, dd, s, abar)
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


def check_nonzero_target(act: Any, mean_is_zero: bool) -> None:
    z = sympy.Symbol("z", real=True)
    if mean_is_zero and sympy.simplify(act.expr + act.expr.subs(z, -z)) == 0:
        raise CompverifyError(
            f"the mean-field target of the odd activation {act.spec!r} with mean 0 is "
            "identically zero (E_g sigma(s|x| g) = 0): nothing to compress; use a finite "
            ".npz target")


def has_closed_form(activation: Any) -> bool:
    """Whether Gaussian targets with this activation have closed-form (or series) ``h`` and ``C``."""
    act = as_activation(activation)
    return is_polynomial(act) or is_homogeneous(act)
