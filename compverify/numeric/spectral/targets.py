"""The spectral targets: :class:`SpectralTarget` (i.i.d. entries), :class:`GaussianSpectralTarget`
and :class:`PowerSpectralTarget`, and :func:`spectral_target`, which picks between the last two.

:class:`SpectralTarget` holds the law, the activation's spectral form, the nodes and the mean
frame, and the parts of ``h`` outside the rule (the degree-2 terms); it is assembled from
:class:`~.float64.Float64Rule`, :class:`~.multiprecision.MultiprecisionRule`,
:class:`~.atoms.AtomCorrections` and :class:`~.constant.ConstantTerm`.
"""

from __future__ import annotations

import copy
import math
from functools import cached_property
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.gauss_rule import GaussRuleTarget
from compverify.numeric.rule_base import GaussianWeights, RuleTarget, iid_fields
from compverify.numeric.sampled import WeightRuleTarget, sample_iid
from compverify.numeric.spectral.arith import _arith
from compverify.numeric.spectral.atoms import AtomCorrections
from compverify.numeric.spectral.constant import ConstantTerm
from compverify.numeric.spectral.float64 import Float64Rule
from compverify.numeric.spectral.laws import _LAW_CLASSES, LAWS, _Gaussian
from compverify.numeric.spectral.multiprecision import MultiprecisionRule
from compverify.numeric.spectral.rule import STEP, X_LO, X_LO_FINE, _grid
from compverify.symbolic.activations import as_activation
from compverify.validate import check_finite_array


class SpectralTarget(Float64Rule, MultiprecisionRule, AtomCorrections, ConstantTerm, RuleTarget):
    """I.i.d. entries of a scalar law, activation with a spectral form (module docstring)."""

    def __init__(self, activation: Any, d: int, law: str, *, mean: Any = 0.0,
                 scale: float | None = None, abar: float = 1.0, name: str | None = None) -> None:
        self.activation = act = as_activation(activation)
        self.form = act.spectral_form
        if self.form is None:
            raise CompverifyError(
                f"activation {act.spec!r} has no spectral form (c0 + c1 z + even cosine transform "
                "+ odd sine transform); the spectral route covers relu, abs, leaky_relu, step, "
                "sign, tanh, sigmoid, erf, gelu, silu")
        if law not in _LAW_CLASSES:
            raise CompverifyError(f"unknown law {law!r}; expected one of {', '.join(LAWS)}")
        self.mean_vector = self.rotation = None
        if np.ndim(mean) == 1:
            mean = self._set_mean_vector(mean, d, law)
        d, m, s = iid_fields(d, mean, scale)
        self.d, self.m, self.s = d, m, s
        self.law_name, self.name = law, name or f"iid:{law}"
        self.abar = float(abar)
        if law == "gaussian":
            self._scale_text = None if scale is None else str(scale)
            self.law = _Gaussian(self.m, self.s, s_exact=self._scale_mp,
                                 m_exact=self._mean_norm_per_coordinate_mp)
            self.rotation_invariant = self.mean_vector is not None and not np.any(self.mean_vector)
        else:
            self.law = _LAW_CLASSES[law](self.m, self.s)
        # a positively homogeneous activation gets an exactly homogeneous h: the rule runs on
        # unit directions (the frequency grid is not invariant under rescaling v, so otherwise h
        # would be homogeneous only to the rule's error, and Newton on the quotient by the
        # rescaling symmetry could not converge)
        self.degree = act.homogeneous_degree
        f = self.form
        self._c = tuple(float(c) for c in (f.c0, f.c1, f.c2))
        if f.even and f.odd:
            # even x odd cross terms vanish (x -> -x), but no registry activation has both and the
            # tests cover neither: refuse rather than run untested
            raise CompverifyError(f"activation {act.spec!r}: an even atom z a(l z) together with an "
                                  "odd part is not supported by the spectral route")
        # the squaring model: always for rademacher/gaussian; for the uniform law only when the
        # activation's spectral density decays exponentially (no |z| part, not homogeneous:
        # tanh, sigmoid, erf), measured: uniform tanh, d = 2, successive differences 2.4e-10,
        # 1.4e-18, 4.3e-26 at steps 1/4 .. 1/32, while uniform relu converges algebraically
        self.ridges_at_atoms = self.degree is not None or self._c[2] != 0
        self.power_n = f.power_n  # relu_power:n, n >= 3: multiprecision only (spectral_power)
        if self.power_n and law == "gaussian":
            raise CompverifyError(f"activation {act.spec!r} with Gaussian weights has its exact "
                                  "series route (gaussian_target); the spectral route takes it "
                                  "for rademacher and uniform entries")
        self.squaring = self.law.squaring or not self.ridges_at_atoms
        self._set_grid(STEP, X_LO)
        self.arith = _arith()

    # --------------------------------------------------------------- a Gaussian mean vector
    def _set_mean_vector(self, mean: Any, d: Any, law: str) -> float:
        """``w ~ N(mu, s^2 I)`` with any ``mu``: the rule runs in the frame of the reflection ``R``
        (``R = I - 2 u u^T / |u|^2``, ``u = mu/|mu| - 1/sqrt(d)``) that maps ``mu`` to ``|mu|/sqrt(d)
        1``, i.i.d. entries of mean ``|mu|/sqrt(d)``: ``h(v) = h_iid(R v)``, ``grad = R grad_iid``,
        ``hess = R hess_iid R``.  Returns that mean (float)."""
        if law != "gaussian":
            raise CompverifyError(f"a mean vector applies to the gaussian law, not {law!r} "
                                  "(i.i.d. entries take one mean m)")
        d = int(d)
        mu = check_finite_array(mean, "mean", ndim=1)
        if mu.shape != (d,):
            raise CompverifyError(f"mean must have d = {d} entries, got {mu.size}")
        self.mean_vector = mu
        norm = float(np.linalg.norm(mu))
        if norm > 0 and not (np.all(mu == mu[0]) and mu[0] > 0):
            u = mu / norm - 1 / math.sqrt(d)
            self.rotation = np.eye(d) - 2 * np.outer(u, u) / (u @ u)
        return norm / math.sqrt(d)

    def _mean_mp(self) -> list:
        """The gaussian law's mean entries in mpmath: the floats exactly (as everywhere: a target's
        float parameters are the binary numbers they hold)."""
        mu = [self.m] * self.d if self.mean_vector is None else self.mean_vector
        return [mpmath.mpf(float(x)) for x in mu]

    def _mean_norm_per_coordinate_mp(self) -> Any:
        """The rotated frame's entry mean ``|mu| / sqrt(d)`` to 600 digits (once); the mean itself
        without a mean vector (no rotation)."""
        cache = self.__dict__.setdefault("_mean_mp_cache", [])
        if not cache:
            with mpmath.workdps(600):
                mu = self._mean_mp()
                cache.append(mu[0] if self.mean_vector is None
                             else mpmath.sqrt(mpmath.fsum(x * x for x in mu) / self.d))
        return cache[0]

    def _scale_mp(self) -> Any:
        """The gaussian law's scale to 600 digits (once): ``1/sqrt(d)`` by default, else the given
        number read exactly (a decimal string keeps all its digits)."""
        cache = self.__dict__.setdefault("_scale_mp_cache", [])
        if not cache:
            with mpmath.workdps(600):
                text = self._scale_text
                cache.append(1 / mpmath.sqrt(self.d) if text is None else mpmath.mpf(text))
        return cache[0]

    def _rotation_mp(self) -> np.ndarray:
        """``R`` of :meth:`_set_mean_vector` in mpmath at the working precision."""
        mu = self._mean_mp()
        norm = mpmath.sqrt(mpmath.fsum(x * x for x in mu))
        root = 1 / mpmath.sqrt(self.d)
        u = [x / norm - root for x in mu]
        uu = mpmath.fsum(x * x for x in u)
        return np.array([[(1 if i == j else 0) - 2 * u[i] * u[j] / uu for j in range(self.d)]
                         for i in range(self.d)], dtype=object)

    def _to_frame(self, V: np.ndarray) -> np.ndarray:
        return V if self.rotation is None else V @ self.rotation

    def _from_frame(self, out: tuple, R: Any = None) -> tuple:
        """``(h, grad, hess)`` of the rotated frame back to the caller's (``R`` symmetric)."""
        if self.rotation is None:
            return out
        R = self.rotation if R is None else R
        h, g, H = out
        g = None if g is None else g @ R
        H = None if H is None else np.array([R @ Hj @ R for Hj in H])
        return h, g, H

    def _set_grid(self, step: float, x_lo: float) -> None:
        self.step, self.x_lo = step, x_lo
        self.x, self.w, self.ww = _grid(self.d, step, x_lo)
        self.q = self.form.q(self.w) if self.form.odd else None
        self.q3 = self.form.q3(self.w) if self.form.c_zabs != 0 else None
        # relu_power:n: node weights without the density (c_rho/I_n)^2/(w1 w2)^(n+1), which
        # cancels against the integrand's (w1 w2)^(n+1) in the magnitude bound of _parts
        self.pow_ww = self.ww if self.form.power_n else None
        self.p = self.form.p(self.w) if self.form.has_even else None
        self.p_smooth = self.p - self._c[2] * (2 / math.pi) / self.w**2 if self.form.even else None
        self.logf0 = self.law.log_f0(self.w)
        self.method = (f"spectral quadrature: trapezoidal rule in two frequencies, step {step}, "
                       f"{self.w.size}^2 nodes; error from the nested rules of step {2 * step}, "
                       f"{4 * step}")

    def finer(self) -> SpectralTarget:
        """The same target on the rule of half the step (four times the nodes).

        The rules are nested, so the finer rule's levels are this rule and the next coarser one.
        """
        t = copy.copy(self)
        t.__dict__.pop("_C_cache", None)  # C depends on the rule; E|w| does not
        # the part of the integral below the first node is about w(x_lo) ~ 1e-20 at X_LO;
        # X_LO_FINE takes it to ~1e-52, below what a finer rule can reach
        t._set_grid(self.step / 2, min(self.x_lo, X_LO_FINE))
        return t

    # --------------------------------------------------------------- E|w| (once, mpmath)
    def mean_norm_mp(self, dps: int) -> mpmath.mpf:
        """``E|w|`` to ``dps`` digits (module docstring; mpmath quad, checked against its own
        error estimate)."""
        cache = self.__dict__.setdefault("_mean_norm_cache", {})
        if dps in cache:
            return cache[dps]
        d, law = self.d, self.law
        with mpmath.workdps(dps + 15):
            def integrand(u: Any) -> Any:  # lam = u^2
                g0, g1 = law.g01_mp(u * u)
                return 2 * g1 * g0 ** (d - 1)

            val, err = mpmath.quad(integrand, [0, 1, mpmath.inf], error=True)
            if err > mpmath.mpf(10) ** (-dps) * abs(val):
                raise CompverifyError(f"E|w| quadrature did not converge (error {err})")
            cache[dps] = +(d * val / mpmath.sqrt(mpmath.pi))
            return cache[dps]

    @cached_property
    def mean_norm(self) -> float:
        return float(self.mean_norm_mp(17))

    def zabs_mean_mp(self, dps: int) -> mpmath.mpf:
        """``E[w_1 |w|]`` to ``dps`` digits, for the ``z|z|`` part: with ``1/|w| = pi^(-1/2) int_0^inf
        lam^(-1/2) exp(-lam |w|^2) dlam``, ``E[w_1 |w|^2 exp(-lam |w|^2)] = g3 g0^(d-1) + (d-1) g1
        g2 g0^(d-2)``, ``g_k = E w^k exp(-lam w^2)`` (mpmath quad in ``lam = u^2``)."""
        cache = self.__dict__.setdefault("_zabs_mean_cache", {})
        if dps in cache:
            return cache[dps]
        d, law = self.d, self.law
        with mpmath.workdps(dps + 15):
            def integrand(u: Any) -> Any:
                lam = u * u
                g = [law.gk_mp(lam, k) for k in range(4)]
                rest = (d - 1) * g[1] * g[2] * g[0] ** (d - 2) if d > 1 else 0
                return 2 * (g[3] * g[0] ** (d - 1) + rest)

            val, err = mpmath.quad(integrand, [0, 1, mpmath.inf], error=True)
            if err > mpmath.mpf(10) ** (-dps) * max(abs(val), 1):
                raise CompverifyError(f"E[w_1 |w|] quadrature did not converge (error {err})")
            cache[dps] = +(val / mpmath.sqrt(mpmath.pi))
            return cache[dps]

    def _power_means_mp(self, dps: int) -> tuple:
        """``(c_square^2, c_zabs^2 8/pi, E w, E w^2, E[w_1 |w|])`` in mpmath at ``dps`` digits."""
        with mpmath.workdps(dps):
            csq, czabs = self.form.power_coefficients_mp()
            m1, m2 = self.law.moments_mp()
            zm = self.zabs_mean_mp(dps) if self.q3 is not None else mpmath.mpf(0)
            return csq * csq, czabs * czabs * 8 / mpmath.pi, m1, m2, zm

    @cached_property
    def _power_means(self) -> tuple:
        return tuple(float(x) for x in self._power_means_mp(20))

    def even_mean_mp(self, dps: int) -> mpmath.mpf:
        """``E_w E_x sigma_e(<w, x>)`` of the even part ``sigma_e = int p(w) (1 - cos(w z)) dw``:
        ``c2 sqrt(2/pi) E|w| + int_0^inf p_s(w) (1 - f(w, 0)^d) dw`` with ``p_s`` the even atoms'
        density (mpmath quad; ``1 - f(w, 0)`` from the law without cancellation)."""
        cache = self.__dict__.setdefault("_even_mean_cache", {})
        if dps in cache:
            return cache[dps]
        c2 = self._c[2]
        with mpmath.workdps(dps + 15):
            val = mpmath.mpf(0)
            if c2 != 0:
                val += self.form.coefficients_mp()[2] * mpmath.sqrt(2 / mpmath.pi) * \
                    self.mean_norm_mp(dps + 5)
            if self.form.even:
                d, law, form = self.d, self.law, self.form

                def integrand(w: Any) -> Any:
                    if w == 0:
                        return mpmath.mpf(0)  # p_s(w) (1 - f^d) -> a constant; a null set
                    return form.p_mp(w, smooth_only=True) * -mpmath.expm1(
                        d * mpmath.log1p(-law.one_minus_f0_mp(w)))

                part, err = mpmath.quad(integrand, [0, 0.5, 2, 8, 32, mpmath.inf], error=True)
                if err > mpmath.mpf(10) ** (-dps - 2) * max(abs(part), 1):
                    raise CompverifyError(f"E sigma_e(<w, x>) quadrature did not converge "
                                          f"(error {mpmath.nstr(err, 3)})")
                val += part
            cache[dps] = +val
            return cache[dps]

    @cached_property
    def even_mean(self) -> float:
        return float(self.even_mean_mp(17))

    def _power_terms(self, V: Any, h: Any, g: Any, H: Any, order: int, dps: int | None = None) -> tuple:
        """Add the degree-2 part outside the frequency rule (float64, or mpmath at ``dps``):
        ``c_square^2 E[A^2 B^2] = c_square^2 (E|w|^2 |v|^2 + 2 E<w, v>^2)`` (``E<w, v>^2 = (E w^2 -
        (E w)^2) |v|^2 + (E w)^2 sum(v)^2``) and ``c_zabs^2 (8/pi) E[w_1 |w|] |v| sum(v)``, the
        ``z|z|`` kernel's term ``(8/pi) <u, v> |u| |v|`` averaged (the ``z^2 x z|z|`` cross terms
        vanish by ``x -> -x``).  Works on float and object rows."""
        if dps is None:
            k2, k3, m1, m2, zm = self._power_means
        else:
            k2, k3, m1, m2, zm = self._power_means_mp(dps)
        d = self.d
        norm2 = k2 * (d * m2 + 2 * (m2 - m1 * m1))  # coefficient of |v|^2
        sum2 = 2 * k2 * m1 * m1                       # of sum(v)^2
        kz = k3 * zm
        for j, v in enumerate(V):
            r2 = sum(x * x for x in v)
            nv = mpmath.sqrt(r2) if dps is not None else math.sqrt(r2)
            S1 = sum(v)
            h[j] = h[j] + norm2 * r2 + sum2 * S1 * S1 + kz * nv * S1
            if order >= 1:
                for k in range(d):
                    g[j][k] = g[j][k] + 2 * norm2 * v[k] + 2 * sum2 * S1 + kz * (S1 * v[k] / nv + nv)
            if order >= 2:
                for k in range(d):
                    for l in range(d):
                        H[j][k][l] = H[j][k][l] + (2 * norm2 * (k == l) + 2 * sum2 + kz * (
                            S1 * ((k == l) - v[k] * v[l] / r2) / nv + (v[k] + v[l]) / nv))
        return h, g, H

    def describe(self) -> dict:
        mean = self.m if self.mean_vector is None else [float(x) for x in self.mean_vector]
        return {"family": self.name, "d": self.d, "mean": mean, "scale": self.s,
                "abar": self.abar, "method": self.method, "C_error": self.C_error()}

    def sample(self, N: int, seed: int) -> Any:
        if self.mean_vector is not None:
            law = GaussianWeights()
            law._init_law(self.activation, self.d, self.mean_vector, self.s, self.abar, self.name)
            return law.sample(N, seed)

        return sample_iid(self.activation, self.law_name, self.d, self.m, self.s, self.abar, N,
                          seed)


class GaussianSpectralTarget(SpectralTarget):
    """``w ~ N(mu, s^2 I_d)`` for a smooth activation with a spectral form (tanh, sigmoid, erf,
    gelu, silu): the float64 search on the product Gauss rule, everything multiprecision on the
    spectral rule.

    The Gauss rule (:mod:`compverify.numeric.gauss_rule`) is fast (milliseconds per evaluation)
    but tabulated in float64, so no better than about 15 digits (tanh: about 1e-10); the spectral
    rule with the gaussian law (in the frame where the mean is ``|mu|/sqrt(d) 1``) converges
    exponentially for these activations and runs in arb/mpmath, 30 digits and more with the
    finer rule (measured, tanh d = 3, mean 0.2 1: a 30-digit solve verifies 24 digits where the
    Gauss rule allowed 5).  The float64 methods (``h``, ``h_grad``, ``h_hess``, ``h_error``) are
    the Gauss rule's with its own error estimate; ``h_mp`` and the rest, ``C``, ``loss_error``
    (the cap of the solver's multiprecision loss) and ``finer`` are the spectral rule's.  The
    search's minimiser is within the Gauss rule's error of the spectral one; the Newton polish
    in multiprecision closes that gap.
    """

    def __init__(self, activation: Any, d: int, *, mean: Any = None, scale: Any = None,
                 abar: Any = 1.0, name: str = "gaussian") -> None:
        d = int(d)
        mu = np.zeros(d) if mean is None else np.asarray(mean, dtype=float)
        super().__init__(activation, d, "gaussian", mean=mu, scale=scale, abar=float(abar),
                         name=name)
        self.float_rule = GaussRuleTarget(activation, d, mean=mu, scale=scale, abar=abar,
                                          name=name)
        self.method = f"float64: {self.float_rule.method}; multiprecision: {self.method}"

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        return self.float_rule._eval(V, order)

    def h_error(self, V: Any) -> np.ndarray:
        """The float64 values' (Gauss rule's) estimated error."""
        return self.float_rule.h_error(V)

    def loss_error(self, b: Any, V: Any) -> float:
        """The spectral rule's estimated error of the multiprecision loss (the solver's answer)."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ SpectralTarget.h_error(self, V))


class PowerSpectralTarget(SpectralTarget):
    """I.i.d. ``rademacher`` or ``uniform`` entries with relu_power:n, ``n >= 3``: the float64 search
    on the quasi-Monte Carlo weight rule, everything multiprecision on the spectral rule.

    The spectral rule evaluates this activation in multiprecision only (the Taylor terms its
    integrand subtracts cancel ``(n+1)`` orders near the axes, absorbed by the working precision:
    :mod:`compverify.numeric.spectral_power`).  The float64 methods (``h``, ``h_grad``, ``h_hess``,
    ``h_error``) are those of :class:`compverify.numeric.sampled.WeightRuleTarget` (about 4-6
    digits, enough to find the basins); ``h_mp`` and the rest, ``C``, ``loss_error`` (the cap of
    the solver's multiprecision loss) and ``finer`` are the spectral rule's, so the Newton polish
    in multiprecision lands on the spectral rule's minimiser.
    """

    def __init__(self, activation: Any, d: int, law: str, *, mean: float = 0.0,
                 scale: float | None = None, abar: float = 1.0, **rule: Any) -> None:
        super().__init__(activation, d, law, mean=mean, scale=scale, abar=abar)
        if not self.power_n:
            raise CompverifyError(f"PowerSpectralTarget is for relu_power:n with n >= 3, not "
                                  f"{self.activation.spec!r}")
        self.float_rule = WeightRuleTarget(activation, d, law, mean=mean, scale=scale, abar=abar,
                                           **rule)
        self.method = (f"float64: {self.float_rule.method}; multiprecision: {self.method}; "
                       f"relu_power:{self.power_n} as z^n and rho_n parts, the Taylor terms of "
                       f"order <= {self.power_n} outside the rule")

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        return self.float_rule._eval(V, order)

    def h_error(self, V: Any) -> np.ndarray:
        """The float64 values' (quasi-Monte Carlo rule's) estimated error."""
        return self.float_rule.h_error(V)

    def h_error_mp(self, V: Any, dps: int = 20) -> np.ndarray:
        """The spectral rule's estimated error of ``h(v_j)`` (its nested levels in mpmath)."""
        return np.array([float(e) for e in self.h_grad_estimate_mp(V, dps)[2]])

    def loss_error(self, b: Any, V: Any) -> float:
        """The spectral rule's estimated error of the multiprecision loss (the solver's answer)."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ self.h_error_mp(V))


def spectral_target(activation: Any, d: int, law: str, *, mean: float = 0.0,
                    scale: float | None = None, abar: float = 1.0) -> SpectralTarget:
    """The spectral-rule target for i.i.d. entries: :class:`PowerSpectralTarget` for relu_power:n
    with ``n >= 3`` (multiprecision only on the spectral rule), else :class:`SpectralTarget`."""
    act = as_activation(activation)
    cls = PowerSpectralTarget if getattr(act.spectral_form, "power_n", 0) else SpectralTarget
    return cls(act, d, law, mean=mean, scale=scale, abar=abar)
