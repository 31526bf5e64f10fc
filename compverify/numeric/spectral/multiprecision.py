"""The multiprecision (arb or mpmath) evaluation of the spectral rule.

The plain formulas at a working precision raised by the digits the cancellation near the axes
costs (:meth:`MultiprecisionRule._extra_digits`), node by node, in python-flint's ``arb`` or in
mpmath (:mod:`.arith`); the nested levels give :meth:`MultiprecisionRule.h_grad_estimate_mp`, the
estimate summed in mpmath, so it is not floored at float64 rounding.  :class:`MultiprecisionRule`
is a part of :class:`compverify.numeric.spectral.SpectralTarget`.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import mpmath
import numpy as np

from compverify.numeric.finite_network import round_mp
from compverify.numeric.spectral.rule import SAFETY, SAFETY_POWER_N, _difference_estimate, _lift
from compverify.numeric.spectral_power import (
    OutsidePolynomial,
    cumulants,
    kernel_coefficients,
    taylor_terms,
    tilted_moments,
)
from compverify.validate import check_dps


class MultiprecisionRule:
    """The multiprecision methods of :class:`~compverify.numeric.spectral.SpectralTarget`
    (module docstring)."""

    def h_grad_estimate_mp(self, V: Any, dps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``h(v_j)``, its gradient and the rule's error estimate of ``h``, all in mpmath.

        The estimate is that of :meth:`h_error` (module docstring) with the nested rules summed
        in mpmath at ``dps`` digits, so it is not floored at float64 rounding: this is how a
        finer rule (:meth:`finer`) shows the digits it adds.
        """
        dps = check_dps(dps)
        self._check_v(np.array([[float(x) for x in row] for row in np.asarray(V)]))
        R = None
        if self.rotation is not None:
            with mpmath.workdps(dps + 10):
                R = self._rotation_mp()
                V = self._mp_rows(V, dps + 10) @ R
        out, lv, U, scale = self._eval_mp_lifted(V, 1, dps, levels=True)
        if R is not None:
            with mpmath.workdps(dps + 10):
                out = self._from_frame(out, R)
        with mpmath.workdps(dps + 10):
            Uf = np.array([[float(x) for x in row] for row in U])
            edge, absum = self._edge_terms(self._integrals(Uf, 0))
            err = np.empty(len(U), dtype=object)
            floor = mpmath.mpf(10) ** (-dps)
            model = self._model(Uf)
            for j in range(len(U)):
                d1, d2 = abs(lv[0][j] - lv[1][j]), abs(lv[1][j] - lv[2][j])
                e = _difference_estimate(d1, d2, bool(model[j]),
                                         SAFETY_POWER_N if self.power_n else SAFETY)
                e += mpmath.mpf(float(edge[j])) + floor * (mpmath.mpf(float(absum[j]))
                                                           + abs(lv[0][j]))
                err[j] = scale[j] * e
        return round_mp(out[0], dps), round_mp(out[1], dps), round_mp(err, dps)

    # --------------------------------------------------------------- mpmath h and C
    def _extra_digits(self, i: int, j: int) -> int:
        # the digits lost to cancellation near the axes: (w1 w2)^2 in the value, (w1 w2)^(n+1)
        # for relu_power:n (and (n+1)! more where the Taylor terms are large)
        lw = -math.log10(self.w[i]) if self.w[i] < 1 else 0.0
        lw2 = -math.log10(self.w[j]) if self.w[j] < 1 else 0.0
        if self.power_n:
            n1 = self.power_n + 1
            return int(12 + math.log10(math.factorial(n1)) + n1 * (lw + lw2))
        return int(12 + 3 * lw + 3 * lw2)

    def _node_mp(self, i: int) -> tuple:
        """Node ``i`` of the rule in one frequency, in mpmath: ``(w, W)``, ``w = exp(x - exp(-x))``
        and its trapezoid weight ``W = w'(x) step`` (``_grid`` in float64)."""
        cache = self.__dict__.setdefault("_node_cache", {})
        key = (i, mpmath.mp.prec, self.step, self.x_lo)
        if key not in cache:
            x = mpmath.mpf(float(self.x[i]))
            w = mpmath.exp(x - mpmath.exp(-x))
            cache[key] = (w, w * (1 + mpmath.exp(-x)) * mpmath.mpf(self.step))  # dyadic step: exact
        return cache[key]

    def _weights_mp(self, i: int, j: int) -> dict:
        (w1, W1), (w2, W2) = self._node_mp(i), self._node_mp(j)
        out = {"w1": w1, "w2": w2}
        if self.p is not None:
            out["even"] = W1 * W2 * self.form.p_mp(w1) * self.form.p_mp(w2)
        if self.q is not None:  # integrand (P(-) - P(+))/2 here (the float path uses -Bw)
            out["odd"] = W1 * W2 * self.form.q_mp(w1) * self.form.q_mp(w2)
        if self.q3 is not None:  # (P(-) - P(+))/2 less w1 w2 mu(w1) B sum(v)
            out["odd3"] = W1 * W2 * self.form.q3_mp(w1) * self.form.q3_mp(w2)
        if self.power_n:  # (c_rho/I_n)^2 / (w1 w2)^(n+1)
            cache = self.__dict__.setdefault("_rho_scale_cache", {})
            if mpmath.mp.prec not in cache:  # SymPy's evalf is slow: once per precision
                cache[mpmath.mp.prec] = self.form.power_coefficients_high_mp()[2] ** 2
            out["pow"] = W1 * W2 * cache[mpmath.mp.prec] / (w1 * w2) ** (self.power_n + 1)
        return out

    def _keep(self, T_abs: np.ndarray, dps: int) -> np.ndarray:
        """Nodes whose float64 contribution is not negligible at ``dps`` digits."""
        total = T_abs.sum()
        # relu_power:n: T_abs are bounds, up to (R |v|_1 / |X|)^(n+1) above the terms
        margin = 8 + (4 * self.power_n if self.power_n else 0)
        return T_abs > total * 10.0 ** (-(dps + margin)) if total > 0 else T_abs >= 0

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:
        dps = check_dps(dps)
        if self.rotation is not None:
            with mpmath.workdps(dps + 10):
                R = self._rotation_mp()
                out = self._eval_mp_unrotated(self._mp_rows(V, dps + 10) @ R, order, dps)
                out = self._from_frame(out, R)
            return tuple(None if x is None else round_mp(x, dps) for x in out)
        return self._eval_mp_unrotated(V, order, dps)

    def _eval_mp_unrotated(self, V: Any, order: int, dps: int) -> tuple:
        if self.degree is None:
            return self._eval_mp_rule(self._mp_rows(V, dps), order, dps)
        out, _, _, _ = self._eval_mp_lifted(V, order, dps, levels=False)
        return tuple(None if x is None else round_mp(x, dps) for x in out)

    def _eval_mp_lifted(self, V: Any, order: int, dps: int, levels: bool) -> tuple:
        """The mpmath rule at ``dps + 10`` digits, on unit directions for a homogeneous sigma
        (lifted back, :func:`_lift`): ``(out, levels or None, U, scale)`` with ``U`` the
        directions the rule ran on and ``scale`` the factors ``|v|^n`` of the levels."""
        with mpmath.workdps(dps + 10):
            Vm = self._mp_rows(V, dps + 10)
            if self.degree is None:
                res = self._eval_mp_rule(Vm, order, dps + 10, levels=levels)
                out, lv = res if levels else (res, None)
                return out, lv, Vm, [mpmath.mpf(1)] * len(Vm)
            n = self.degree
            r = np.array([mpmath.sqrt(mpmath.fsum(x * x for x in row)) for row in Vm], dtype=object)
            U = np.array([[x / rj for x in row] for row, rj in zip(Vm, r, strict=True)],
                         dtype=object)
            res = self._eval_mp_rule(U, order, dps + 10, levels=levels)
            out, lv = res if levels else (res, None)
            return _lift(r, U, out, n, order), lv, U, [rj**n for rj in r]

    def _eval_mp_rule(self, Vm: Any, order: int, dps: int, levels: bool = False) -> tuple:
        """``(h, grad, hess)`` of the rule in mpmath; with ``levels``, also ``h`` at the three
        nested levels (steps ``step``, ``2 step``, ``4 step``) for the error estimate."""
        Vf = self._check_v(np.array([[float(x) for x in row] for row in Vm]))
        parts, _ = self._parts(Vf, 0)
        T_abs = sum(np.abs(W[:, :, None] * val).sum(-1) for val, _, _, W, _ in parts.values())
        near = self.near_atoms(Vf)
        prob = 0.5**self.d
        for v, atoms in zip(Vf, near, strict=True):  # the atoms' own terms (the odd part may cancel)
            for a in [] if atoms is None else atoms:
                T_abs = T_abs + sum(prob * np.abs(W * f0) for W, f0, _, _ in self._atom_terms(a, v))
        keep = self._keep(T_abs, dps)
        M, d = Vm.shape
        A = self.arith
        with A.precision(dps + 10):
            zero = A.num(0)
        acc = {key: [[zero] * M, np.full((M, d), zero, dtype=object),
                     np.full((M, d, d), zero, dtype=object)] for key in parts}
        lev = {key: [[zero] * M for _ in range(3)] for key in parts}
        law = self.law
        npow = self.power_n
        with mpmath.workprec(100_000):  # exact conversion (arb's num is exact at any precision)
            Vnum = [[A.num(x) for x in row] for row in Vm]  # once, not at every node
        for i, j in zip(*(idx.tolist() for idx in np.nonzero(keep)), strict=True):
            extra = dps + self._extra_digits(i, j)
            with mpmath.workdps(extra):
                wt = {k: A.num(x) for k, x in self._weights_mp(i, j).items()}
            with A.precision(extra):
                w1, w2 = wt["w1"], wt["w2"]
                f0, f0l, _ = law.f_mp(w1, zero, A)
                Phi1 = f0**d
                mu = -f0l / w1  # E_tilt w at w1: f'/f = -w1 E_tilt w at t = 0
                for jm in range(M):
                    v = Vnum[jm]
                    fp = [law.f_mp(w1, w2 * vk, A) for vk in v]
                    fm = [law.f_mp(w1, -w2 * vk, A) for vk in v]
                    P = A.fprod(f[0] for f in fp)
                    Q = A.fprod(f[0] for f in fm)
                    B = Phi1 * A.exp(-w2 * w2 * A.fsum(vk * vk for vk in v) / 2)
                    if "odd3" in acc:
                        S1 = A.fsum(v)
                        lin = w1 * w2 * mu * B  # times sum(v): the z|z| part's linear term
                    if npow:  # the Taylor terms of E_tilt cosh/sinh(t X) (spectral_power)
                        Tn, dTn, d2Tn = taylor_terms(self._tilted_mp(i, dps, A)[1], v, w1 * w2,
                                                     (npow + 1) % 2, order, A.num(1))
                    for key in acc:
                        W = wt[key]
                        if key == "even" or (key == "pow" and npow % 2):
                            cp, cq, cb = P / 2, Q / 2, (-B * Tn if key == "pow" else -B)
                        elif key == "pow":
                            cp, cq, cb = -P / 2, Q / 2, -B * Tn
                        else:
                            cp, cq, cb = -P / 2, Q / 2, zero
                        T = W * (cp + cq + cb - (lin * S1 if key == "odd3" else zero))
                        acc[key][0][jm] += T
                        if levels and i % 2 == 0 and j % 2 == 0:
                            lev[key][1][jm] += 4 * T
                            if i % 4 == 0 and j % 4 == 0:
                                lev[key][2][jm] += 16 * T
                        if order >= 1:
                            for k in range(d):
                                acc[key][1][jm, k] += W * (w2 * (cp * fp[k][1] - cq * fm[k][1])
                                                           - cb * w2 * w2 * v[k])
                                if key == "odd3":
                                    acc[key][1][jm, k] -= W * lin * (1 - S1 * w2 * w2 * v[k])
                                elif key == "pow":
                                    acc[key][1][jm, k] -= W * B * dTn[k]
                        if order >= 2:
                            for k in range(d):
                                for l in range(k, d):
                                    tp = fp[k][1] * fp[l][1]
                                    tq = fm[k][1] * fm[l][1]
                                    if k == l:
                                        tp += fp[k][2] - fp[k][1] ** 2
                                        tq += fm[k][2] - fm[k][1] ** 2
                                    tb = w2**4 * v[k] * v[l] - (w2 * w2 if k == l else 0)
                                    acc[key][2][jm, k, l] += W * (w2 * w2 * (cp * tp + cq * tq)
                                                                  + cb * tb)
                                    if key == "odd3":
                                        acc[key][2][jm, k, l] -= W * lin * (
                                            S1 * tb - w2 * w2 * (v[k] + v[l]))
                                    elif key == "pow":
                                        acc[key][2][jm, k, l] += W * B * (
                                            w2 * w2 * (v[k] * dTn[l] + v[l] * dTn[k]) - d2Tn[k][l])
        with mpmath.workdps(dps + 10):
            def to_mp(x: Any) -> Any:
                return np.vectorize(A.to_mpf, otypes=[object])(x) if isinstance(x, np.ndarray) \
                    else [A.to_mpf(y) for y in x]

            acc = {key: [to_mp(x) for x in val] for key, val in acc.items()}
            lev = {key: [to_mp(x) for x in val] for key, val in lev.items()}
            if self.p_smooth is not None:
                acc["even1"], lev["even1"] = self._even_1d_mp(Vm, order, dps)
            if any(x is not None and len(x) for x in near):
                acc["atoms"], lev["atoms"] = self._atom_correction_mp(Vm, near, keep, order, dps)
            out = self._assemble_mp(Vm, acc, order, dps)
            if not levels:
                return out
            coarser = tuple(self._assemble_mp(Vm, {key: [lev[key][k], None, None] for key in acc},
                                              0, dps)[0] for k in (1, 2))
            return out, (out[0], *coarser)

    def _even_1d_mp(self, Vm: np.ndarray, order: int, dps: int) -> tuple:
        """:meth:`_even_1d` in mpmath: ``[h, grad, hess]`` and ``h`` at the three levels."""
        M, d = Vm.shape
        zero = mpmath.mpf(0)
        acc = [[zero] * M, np.full((M, d), zero, dtype=object), np.full((M, d, d), zero, dtype=object)]
        lev = [[zero] * M for _ in range(3)]
        r2 = [mpmath.fsum(x * x for x in row) for row in Vm]
        for i in range(self.w.size):
            w, Wi = self._node_mp(i)
            W = Wi * self.form.p_mp(w, smooth_only=True)
            for jm in range(M):
                e = mpmath.exp(-w * w * r2[jm] / 2)
                T = W * -mpmath.expm1(-w * w * r2[jm] / 2)
                acc[0][jm] += T
                if i % 2 == 0:
                    lev[1][jm] += 2 * T
                    if i % 4 == 0:
                        lev[2][jm] += 4 * T
                v = Vm[jm]
                for k in range(d if order >= 1 else 0):
                    acc[1][jm, k] += W * w * w * e * v[k]
                    for l in range(k, d if order >= 2 else 0):
                        acc[2][jm, k, l] += W * w * w * e * ((1 if k == l else 0) - w * w * v[k] * v[l])
        lev[0] = list(acc[0])
        return acc, lev

    def _assemble_mp(self, Vm: np.ndarray, acc: dict, order: int, dps: int) -> tuple:
        M, d = Vm.shape
        c0, c1, c2 = self.form.coefficients_mp()
        Ee = self.even_mean_mp(dps + 5)
        m = self.law.moments_mp()[0]  # the law's own mean (uniform: of its float endpoints)
        lin_norm = (c0 + Ee) * c2 * mpmath.sqrt(2 / mpmath.pi)
        a = mpmath.mpf(self.abar)
        coef = {"even": mpmath.mpf(1), "odd": mpmath.mpf(1), "odd3": mpmath.mpf(1), "even1": c0 + Ee,
                "atoms": mpmath.mpf(1), "pow": mpmath.mpf(1)}
        h = np.empty(M, dtype=object)
        g = np.empty((M, d), dtype=object)
        H = np.empty((M, d, d), dtype=object)
        for jm in range(M):
            v = list(Vm[jm])
            nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
            val = c0 * c0 + c0 * Ee + lin_norm * nv + c1 * c1 * m * mpmath.fsum(v)
            val += mpmath.fsum(coef[k] * acc[k][0][jm] for k in acc)
            h[jm] = a * val
            for k in range(d if order >= 1 else 0):
                gk = lin_norm * v[k] / nv + c1 * c1 * m
                gk += mpmath.fsum(coef[key] * acc[key][1][jm, k] for key in acc)
                g[jm, k] = a * gk
                for l in range(d):
                    lo, hi = min(k, l), max(k, l)
                    hk = lin_norm * ((1 if k == l else 0) - v[k] * v[l] / nv**2) / nv
                    hk += mpmath.fsum(coef[key] * acc[key][2][jm, lo, hi] for key in acc)
                    H[jm, k, l] = a * hk
        if self.form.has_power:
            zero = mpmath.mpf(0)
            ph, pg, pH = self._power_terms(
                Vm, np.full(M, zero, dtype=object), np.full((M, d), zero, dtype=object),
                np.full((M, d, d), zero, dtype=object), order, dps)
            h = h + a * ph
            if order >= 1:
                g = g + a * pg
            if order >= 2:
                H = H + a * pH
        if self.power_n:  # relu_power:n, the kernel's terms outside the rule
            outside = self._outside_polynomial(dps)
            for jm in range(M):
                oh, og, oH = outside.evaluate(list(Vm[jm]), order)
                h[jm] += a * oh
                for k in range(d if order >= 1 else 0):
                    g[jm, k] += a * og[k]
                    for l in range(d if order >= 2 else 0):
                        H[jm, k, l] += a * oH[k][l]
        return (round_mp(h, dps), round_mp(g, dps) if order >= 1 else None,
                round_mp(H, dps) if order >= 2 else None)

    def _tilted_mp(self, i: int, dps: int, A: Any) -> tuple:
        """relu_power:n: moments and cumulants (1..n) of one entry under the tilt ``exp(-w^2 x^2/2)``
        at node ``i``, in the arithmetic ``A``, at the highest precision any node pair with ``i``
        asks (``_extra_digits(i, 0)``: node 0 has the smallest frequency); cached per node."""
        cache = self.__dict__.setdefault("_tilted_cache", {})
        key = (i, dps, self.step, self.x_lo, A.name)
        if key not in cache:
            with mpmath.workdps(dps + self._extra_digits(i, 0)):
                w1 = self._node_mp(i)[0]
                mom = tilted_moments(self.law, w1, self.power_n)
                cache[key] = ([A.num(x) for x in mom], [A.num(x) for x in cumulants(mom)])
        return cache[key]

    def _power_coefficients(self, dps: int) -> list:
        """``[(k, coef_k)]`` of the kernel's terms outside the rule (mpmath): relu_power:n, and
        the degree-2 form (``c_square z^2 + c_zabs z|z|`` is ``c_mono z^2 + c_rho rho_2``); empty
        for other activations."""
        with mpmath.workdps(dps + 10):
            if self.power_n:
                c_mono, c_rho, _ = self.form.power_coefficients_high_mp()
                return kernel_coefficients(self.power_n, c_mono, c_rho)
            if self.form.has_power:
                return kernel_coefficients(2, *self.form.power_coefficients_mp())
            return []

    @cached_property
    def _power_coefficients_float(self) -> list:
        return [(k, float(c)) for k, c in self._power_coefficients(17)]

    def _outside_polynomial(self, dps: int) -> OutsidePolynomial:
        """relu_power:n: ``E_w`` of the kernel's terms outside the rule, a polynomial in the power
        sums of ``v`` times powers of ``|v|`` (:mod:`compverify.numeric.spectral_power`), built once
        per precision (its coefficients are one-dimensional quadratures)."""
        cache = self.__dict__.setdefault("_outside_cache", {})
        if dps not in cache:
            cache[dps] = OutsidePolynomial(self.law, self.power_n, self.d,
                                           self._power_coefficients(dps), dps)
        return cache[dps]
