"""The constant term ``C = abar^2 E K(w, w')`` of the spectral targets, with its error estimate.

For Rademacher entries and a closed-form kernel ``C`` is the exact sum over sign-count classes
(:func:`rademacher_C`, ``O(d^3)`` kernel values); otherwise the two-frequency rule with ``E
exp(-(w1 w + w2 w')^2/2)`` per coordinate, in multiprecision at its three nested levels.
:class:`ConstantTerm` is a part of :class:`compverify.numeric.spectral.SpectralTarget`.
"""

from __future__ import annotations

from math import comb
from typing import Any

import mpmath
import numpy as np

from compverify.numeric.spectral.rule import _difference_estimate, _estimate
from compverify.numeric.spectral_power import outside_C, product_cumulants, taylor_terms
from compverify.validate import check_dps


class ConstantTerm:
    """The ``C`` methods of :class:`~compverify.numeric.spectral.SpectralTarget` (module
    docstring)."""

    def _C_levels_mp(self, dps: int) -> tuple:
        """``C`` at the three rule levels, mpmath at ``dps`` digits (continuous laws)."""
        n, d, law, A = self.w.size, self.d, self.law, self.arith
        with A.precision(dps + 10):
            sums = {key: [A.num(0)] * 3 for key in ("even", "odd", "odd3", "pow")}
        npow = self.power_n
        for i in range(n):
            for j in range(i, n):  # the integrand is symmetric in (w1, w2): w, w' are iid
                extra = dps + self._extra_digits(i, j)
                with mpmath.workdps(extra):
                    wt = {k: A.num(x) for k, x in self._weights_mp(i, j).items()}
                with A.precision(extra):
                    w1, w2 = wt["w1"], wt["w2"]
                    Fp = law.pair_mp(w1, w2, A) ** d
                    Fm = law.pair_mp(w1, -w2, A) ** d
                    zero = A.num(0)
                    (f1, l1, _), (f2, l2, _) = law.f_mp(w1, zero, A), law.f_mp(w2, zero, A)
                    B = (f1 * f2) ** d
                    vals = {"even": (Fp + Fm) / 2 - B, "odd": (Fm - Fp) / 2}
                    if "odd3" in wt:  # less w1 w2 E[<w, w'> e1 e2] = w1 w2 d mu(w1) mu(w2) B
                        vals["odd3"] = vals["odd"] - d * (l1 / w1) * (l2 / w2) * w1 * w2 * B
                    if npow:  # less B T_n(t), T_n from the cumulants of <w, w'> = d kappa(w w')
                        kap = [d * x for x in product_cumulants(self._tilted_mp(i, dps, A)[0],
                                                                self._tilted_mp(j, dps, A)[0])]
                        Tn = taylor_terms(kap, [A.num(1)], w1 * w2, (npow + 1) % 2, 0, A.num(1))[0]
                        vals["pow"] = (vals["even"] + B if npow % 2 else vals["odd"]) - B * Tn
                    for key in sums:
                        if key not in wt:
                            continue
                        T = wt[key] * vals[key] * (1 if i == j else 2)
                        sums[key][0] += T
                        if i % 2 == 0 and j % 2 == 0:
                            sums[key][1] += 4 * T
                        if i % 4 == 0 and j % 4 == 0:
                            sums[key][2] += 16 * T
        with mpmath.workdps(dps + 10):
            sums = {key: [A.to_mpf(x) for x in val] for key, val in sums.items()}
            c0, c1, _ = self.form.coefficients_mp()
            Ee = self.even_mean_mp(dps + 5)
            m = self.law.moments_mp()[0]
            base = c0 * c0 + 2 * c0 * Ee + c1 * c1 * d * m * m + Ee**2
            if self.form.has_power:
                # c_square^2 E[|w|^2 |w'|^2 + 2 <w, w'>^2] + c_zabs^2 (8/pi) E[<w, w'> |w| |w'|]
                k2, k3, m1, m2, zm = self._power_means_mp(dps + 10)
                base += k2 * ((d * m2) ** 2 + 2 * (d * m2 * m2 + d * (d - 1) * m1**4)) + k3 * d * zm**2
            if npow:
                base += outside_C(law, npow, d, self._power_coefficients(dps), dps + 5)
            a2 = mpmath.mpf(self.abar) ** 2
            return tuple(+(a2 * (base + sums["even"][k] + sums["odd"][k] + sums["odd3"][k]
                                 + sums["pow"][k])) for k in range(3))

    def C_mp(self, dps: int) -> mpmath.mpf:
        dps = check_dps(dps)
        cache = self.__dict__.setdefault("_C_cache", {})
        if dps not in cache:
            if self.law_name == "rademacher" and self.activation.kernel.route != "numeric":
                # exact: the frequency integrand has ridges for a discrete law (w' = w has
                # probability 2^-d), and the sum over sign-count classes is O(d^3)
                c = rademacher_C(self.activation.kernel, self.d, self.m, self.s, self.abar, dps)
                cache[dps] = (c, c, c)
            else:
                # a numeric kernel costs seconds per mpmath value (O(d^3) of them); its activation
                # is analytic, so the ridges at w' = +-w are damped by the exponentially decaying
                # densities and the frequency rule converges (the gaussian law has no ridges)
                cache[dps] = self._C_levels_mp(dps)
        with mpmath.workdps(dps):
            return +cache[dps][0]

    def C(self) -> float:
        return float(self.C_mp(20))

    def C_estimate_mp(self, dps: int) -> tuple[mpmath.mpf, mpmath.mpf]:
        """``C`` and its estimated error in mpmath (exact for rademacher: only rounding)."""
        C = self.C_mp(dps)
        fine, mid, coarse = self.__dict__["_C_cache"][dps]
        with mpmath.workdps(dps + 5):
            err = mpmath.mpf(10) ** (-dps) * abs(fine)
            err += _difference_estimate(abs(fine - mid), abs(mid - coarse), self.squaring)
        return C, err

    def C_error(self) -> float:
        self.C_mp(20)
        fine, mid, coarse = (float(x) for x in self.__dict__["_C_cache"][20])
        return float(_estimate(fine, mid, coarse, 0.0, abs(fine), model=self.squaring))


def rademacher_C(kernel: Any, d: int, m: float, s: float, abar: float, dps: int) -> Any:
    """``abar^2 E K(w, w')`` for independent ``w, w'`` with entries ``m + s eps``, exactly.

    ``K`` depends on ``|w|^2``, ``|w'|^2`` and ``<w, w'>``, which depend only on the number ``j``
    of +1 signs in ``w``, ``j'`` in ``w'`` and ``i`` of positions where both are +1; the class
    has probability ``C(d,j) C(j,i) C(d-j, j'-i) / 4^d``.  mpmath at ``dps`` digits for a
    closed-form kernel; a numeric kernel is summed in float64 (about 15 digits).
    """
    numeric = kernel.route == "numeric"
    work = 20 if numeric else dps + 10
    with mpmath.workdps(work):
        M, S = mpmath.mpf(m), mpmath.mpf(s)
        total = mpmath.mpf(0)
        rows = []
        for j in range(d + 1):
            for jp in range(d + 1):
                for i in range(max(0, j + jp - d), min(j, jp) + 1):
                    weight = comb(d, j) * comb(j, i) * comb(d - j, jp - i)
                    agree = d - j - jp + 2 * i
                    uu = d * (M * M + S * S) + 2 * M * S * (2 * j - d)
                    vv = d * (M * M + S * S) + 2 * M * S * (2 * jp - d)
                    uv = d * M * M + M * S * (2 * j - d) + M * S * (2 * jp - d) + S * S * (2 * agree - d)
                    rows.append((weight, uu, vv, uv))
        if numeric:
            wgt = np.array([float(r[0]) for r in rows])
            nu = np.sqrt(np.array([float(r[1]) for r in rows]))
            nv = np.sqrt(np.array([float(r[2]) for r in rows]))
            den = nu * nv
            rho = np.where(den > 0, np.array([float(r[3]) for r in rows]) / np.where(den > 0, den, 1), 0.0)
            total = mpmath.mpf(float(wgt @ kernel.value(nu, nv, np.clip(rho, -1, 1)) / 4.0**d))
        else:
            for weight, uu, vv, uv in rows:
                nu, nv = mpmath.sqrt(uu), mpmath.sqrt(vv)
                rho = uv / (nu * nv) if nu * nv > 0 else mpmath.mpf(0)
                rho = min(max(rho, mpmath.mpf(-1)), mpmath.mpf(1))
                total += weight * kernel.value_mp(nu, nv, rho, dps=dps + 5)
            total /= mpmath.mpf(4) ** d
        return +(mpmath.mpf(abar) ** 2 * total)
