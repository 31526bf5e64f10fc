"""The atom corrections: atoms of the Rademacher law near a direction, taken exactly.

*Atoms.*  For a relu-like activation the kernel is singular at ``|rho| = 1``, so an atom of the
Rademacher law (nearly) parallel to ``v`` makes a ridge in the frequency integrand, on which the
rule converges only algebraically (d = 10, ``v`` at an atom: error 4.3e-9 at step 1/8, 6.4e-10 at
1/16) and the squaring model underestimates the error.  The integrand is linear in the law, so the
atoms within ``ATOM_GAP`` (in ``1 - |cos|``; at most ``ATOM_CAP`` of them, found by
:meth:`_Rademacher.near_atoms`) are taken out of the rule (their own terms, same nodes) and put
back exactly through the closed-form kernel (:meth:`SpectralTarget._atom_correction`); measured
at d = 4, 6, 10: errors at float64 rounding, and below 1e-29 with the finer rule in mpmath.  A
direction with more near atoms than the cap has its nearest ones taken (the gap halved until they
fit) and keeps the conservative ``e = d1``.

:class:`AtomCorrections` is a part of :class:`compverify.numeric.spectral.SpectralTarget`.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from compverify.numeric.kernel_sums import cross_term, cross_term_mp
from compverify.numeric.spectral.arith import _MpArith
from compverify.numeric.spectral.laws import _Rademacher
from compverify.numeric.spectral.rule import ATOM_CAP, ATOM_GAP, _edge, _levels, _power_n_outside
from compverify.numeric.spectral.stable import _sinh_minus_x


class AtomCorrections:
    """The atom corrections of :class:`~compverify.numeric.spectral.SpectralTarget`, float64
    and multiprecision (module docstring)."""

    def near_atoms(self, V: np.ndarray) -> list:
        """Per direction, the law's atoms whose terms are taken exactly (:meth:`_atom_correction`):
        an array (k, d), or ``None`` when the correction does not apply (a continuous law, or an
        activation without ridges at atoms)."""
        return [atoms for atoms, _ in self._near(V)]

    def _near(self, V: np.ndarray) -> list:
        """Per direction ``(atoms, complete)``: the atoms within ``ATOM_GAP``, or when there are
        more than ``ATOM_CAP`` of them the nearest ones (the gap halved until they fit; measured,
        d = 40 at an atom: its 40 one-flip neighbours sit at gap 0.05), ``complete`` false then:
        near atoms are left in the rule, and the conservative estimate applies."""
        if not (self.ridges_at_atoms and isinstance(self.law, _Rademacher)):
            return [(None, False)] * len(V)
        out = []
        for v in V:
            gap, atoms = ATOM_GAP, None
            while atoms is None and gap > 1e-9:
                atoms = self.law.near_atoms(v, gap, ATOM_CAP)
                gap = gap if atoms is not None else gap / 2
            out.append((atoms, atoms is not None and gap == ATOM_GAP))
        return out

    def _atom_terms(self, a: np.ndarray, v: np.ndarray) -> list:
        """The rule's node terms of one atom ``a`` at ``v``: ``[(W, B phi, B phi', B phi'')]`` for
        the even part (``phi = cosh u - 1``) and the odd part (``phi = sinh u``), ``u = w1 w2 <a, v>``,
        ``B = exp(-(w1^2 |a|^2 + w2^2 |v|^2)/2)``; both exponentials ``B e^(+-u)`` are
        ``exp(-|w1 a -+ w2 v|^2/2) <= 1``."""
        w1, w2 = self.w[:, None], self.w[None, :]
        ww = self.ww
        u = w1 * w2 * float(a @ v)
        lB = -(w1 * w1 * float(a @ a) + w2 * w2 * float(v @ v)) / 2
        with np.errstate(under="ignore"):
            Ep, Em, B = np.exp(np.minimum(lB + u, 0.0)), np.exp(np.minimum(lB - u, 0.0)), np.exp(lB)
            small = np.abs(u) < 1
            cm1 = np.where(small, 2 * B * np.sinh(np.where(small, u, 0.0) / 2) ** 2, (Ep + Em) / 2 - B)
        Bs, Bc = (Ep - Em) / 2, (Ep + Em) / 2
        out = []
        if self.p is not None:
            out.append(((ww * self.p)[:, None] * (ww * self.p)[None, :], cm1, Bs, Bc))
        if self.q is not None:
            out.append(((ww * self.q)[:, None] * (ww * self.q)[None, :], Bs, Bc, Bs))
        if self.q3 is not None:  # phi = sinh u - u
            with np.errstate(under="ignore"):
                s3 = np.where(small, B * _sinh_minus_x(np.where(small, u, 0.0)), Bs - B * u)
            out.append(((ww * self.q3)[:, None] * (ww * self.q3)[None, :], s3, cm1, Bs))
        if self.pow_ww is not None:
            # relu_power:n, phi = cosh u - T_n(u) (or sinh): float64 magnitudes only, the weight's
            # 1/t^(n+1) taken in (as in _parts; the values are multiprecision)
            n, t = self.power_n, w1 * w2
            rn = float(self.form.power_coefficients_high_mp()[2])
            c = abs(float(a @ v))
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                taylor = sum(np.abs(u) ** m / math.factorial(m) for m in range(n + 1))
                bound = np.minimum(Bc * c ** (n + 1) / math.factorial(n + 1),
                                   (Bc + B * taylor) / t ** (n + 1))
            bound = np.where(np.isfinite(bound), bound, 0.0)
            out.append((rn * rn * self.pow_ww[:, None] * self.pow_ww[None, :], bound, bound, bound))
        return out

    def _atom_correction(self, V: np.ndarray, order: int) -> dict | None:
        """Exact kernel values for the atoms near each direction, in place of their rule terms.

        The relu-like kernel is singular at ``|rho| = 1``: an atom of the Rademacher law (nearly)
        parallel to ``v`` makes a ridge in the frequency integrand, on which the rule converges only
        algebraically.  The integrand is linear in the law, so the atom's share ``2^-d K(a, v)``
        can be taken out of the rule's sum (the same rule on the atom's own integrand, exactly
        :meth:`_atom_terms`) and put back exactly (the closed-form kernel, less its parts outside
        the frequency integrals: ``c0^2 + c0 (G(a) + G(v)) + c1^2 <a, v> + G(a) G(v)``,
        ``G(x) = c2 sqrt(2/pi) |x|``).  Returned as one more part of :meth:`_integrals` (levels: the
        exact value less the atom's rule terms at each level), or ``None`` if no direction has one.
        """
        near = self.near_atoms(V)
        if all(x is None or len(x) == 0 for x in near):
            return None
        M, d = V.shape
        c0, c1, c2 = self._c
        kg = c2 * math.sqrt(2 / math.pi)
        pcoefs = self._power_coefficients_float
        prob = 0.5**d
        res = {"h": [np.zeros(M) for _ in range(3)], "g": [np.zeros((M, d)) for _ in range(3)],
               "H": [np.zeros((M, d, d)) for _ in range(3)], "edge": np.zeros(M), "abs": np.zeros(M)}
        w1, w2 = self.w[:, None], self.w[None, :]
        eye = np.eye(d)
        for j, atoms in enumerate(near):
            if atoms is None or len(atoms) == 0:
                continue
            v = V[j]
            nv = float(np.linalg.norm(v))
            ct = cross_term(self.activation.kernel, np.full(len(atoms), prob), atoms, v[None], order=order)
            exact = [ct.h[0], None if ct.dh is None else ct.dh[0], None if ct.d2h is None else ct.d2h[0]]
            for a in atoms:
                Ga = kg * float(np.linalg.norm(a))
                exact[0] -= prob * (c0 * c0 + c0 * (Ga + kg * nv) + c1 * c1 * float(a @ v) + Ga * kg * nv)
                if order >= 1:
                    exact[1] = exact[1] - prob * ((c0 + Ga) * kg * v / nv + c1 * c1 * a)
                if order >= 2:
                    exact[2] = exact[2] - prob * (c0 + Ga) * kg * (eye - np.outer(v, v) / nv**2) / nv
                if pcoefs:
                    for k, x in enumerate(_power_n_outside(a, v, self.degree, pcoefs, order, math.sqrt)):
                        exact[k] = exact[k] - prob * x
                for W, f0, f1, f2 in self._atom_terms(a, v):
                    T = prob * W * f0
                    lv = _levels(T)
                    res["edge"][j] += _edge(T[..., None])[0]
                    res["abs"][j] += np.abs(T).sum()
                    for k in range(3):
                        res["h"][k][j] -= lv[k]
                    if order >= 1:
                        al = _levels(prob * W * (-w2 * w2) * f0)
                        be = _levels(prob * W * w1 * w2 * f1)
                        for k in range(3):
                            res["g"][k][j] -= al[k] * v + be[k] * a
                    if order >= 2:
                        A1 = _levels(prob * W * w2**4 * f0)
                        A2 = _levels(prob * W * (-w1 * w2**3) * f1)
                        A4 = _levels(prob * W * (w1 * w2) ** 2 * f2)
                        for k in range(3):
                            res["H"][k][j] -= (A1[k] * np.outer(v, v) + al[k] * eye + A4[k] * np.outer(a, a)
                                               + A2[k] * (np.outer(a, v) + np.outer(v, a)))
            for k in range(3):
                res["h"][k][j] += exact[0]
                if order >= 1:
                    res["g"][k][j] += exact[1]
                if order >= 2:
                    res["H"][k][j] += exact[2]
        res = {key: (tuple(val) if isinstance(val, list) else val) for key, val in res.items()}
        return res

    def _atom_correction_mp(self, Vm: np.ndarray, near: list, keep: np.ndarray, order: int,
                            dps: int) -> tuple:
        """:meth:`_atom_correction` in mpmath (at the node's raised precision, like the main loop):
        ``[h, grad, hess]`` and ``h`` at the three levels."""
        M, d = Vm.shape
        zero = mpmath.mpf(0)
        acc = [[zero] * M, np.full((M, d), zero, dtype=object), np.full((M, d, d), zero, dtype=object)]
        lev = [[zero] * M for _ in range(3)]
        # each node at its own raised precision, once for all directions
        nodes = []
        for i, j in zip(*(idx.tolist() for idx in np.nonzero(keep)), strict=True):
            extra = dps + self._extra_digits(i, j)
            with mpmath.workdps(extra):
                nodes.append((i, j, extra, self._weights_mp(i, j)))
        top = max((n[2] for n in nodes), default=dps + 10)
        with mpmath.workdps(dps + 10):
            c0, c1, c2 = self.form.coefficients_mp()
            kg = c2 * mpmath.sqrt(2 / mpmath.pi)
            prob = mpmath.mpf(2) ** -self.d
            pcoefs = self._power_coefficients(dps)
        npow = self.power_n
        for jm, atoms in enumerate(near):
            if atoms is None or len(atoms) == 0:
                continue
            v = list(Vm[jm])
            atoms_mp = self._atoms_mp(atoms, top)
            with mpmath.workdps(top):  # <a, v>, |a|^2, |v|^2 do not depend on the node
                r2 = mpmath.fsum(x * x for x in v)
                dots = [(mpmath.fsum(x * y for x, y in zip(am, v, strict=True)),
                         mpmath.fsum(x * x for x in am)) for am in atoms_mp]
            sums = [[mpmath.mpf(0)] * 3 for _ in atoms]  # value at the three levels
            scal = [[mpmath.mpf(0)] * 5 for _ in atoms]  # al, be, A1, A2, A4 (finest level)
            for i, j, extra, wt in nodes:
                with mpmath.workdps(extra):
                    w1, w2 = wt["w1"], wt["w2"]
                    for ia, (t, na2) in enumerate(dots):
                        u = w1 * w2 * t
                        lB = -(w1 * w1 * na2 + w2 * w2 * r2) / 2
                        Ep, Em, B = mpmath.exp(lB + u), mpmath.exp(lB - u), mpmath.exp(lB)
                        Bs, Bc = (Ep - Em) / 2, (Ep + Em) / 2
                        terms = []
                        if "even" in wt:
                            terms.append((wt["even"], Bc - B, Bs, Bc))
                        if "odd" in wt:
                            terms.append((wt["odd"], Bs, Bc, Bs))
                        if "odd3" in wt:
                            terms.append((wt["odd3"], Bs - B * u, Bc - B, Bs))
                        if "pow" in wt:  # phi = cosh u - T_n(u) or sinh u - T_n(u), and phi', phi''
                            tay = [mpmath.mpf(1)]
                            for m in range(1, npow + 1):
                                tay.append(tay[-1] * u / m)
                            par = (npow + 1) % 2
                            T0, T1, T2 = (B * mpmath.fsum(tay[m - q] for m in range(q, npow + 1)
                                                          if m % 2 == par) for q in (0, 1, 2))
                            e0, e1 = (Bc, Bs) if par == 0 else (Bs, Bc)
                            terms.append((wt["pow"], e0 - T0, e1 - T1, e0 - T2))
                        for W, f0, f1, f2 in terms:
                            T = W * f0
                            sums[ia][0] += T
                            if i % 2 == 0 and j % 2 == 0:
                                sums[ia][1] += 4 * T
                                if i % 4 == 0 and j % 4 == 0:
                                    sums[ia][2] += 16 * T
                            if order >= 1:
                                scal[ia][0] += -W * w2 * w2 * f0
                                scal[ia][1] += W * w1 * w2 * f1
                            if order >= 2:
                                scal[ia][2] += W * w2**4 * f0
                                scal[ia][3] += -W * w1 * w2**3 * f1
                                scal[ia][4] += W * (w1 * w2) ** 2 * f2
            with mpmath.workdps(dps + 10):
                ct = cross_term_mp(self.activation.kernel, [prob] * len(atoms),
                                   np.array(atoms_mp, dtype=object), np.array([v], dtype=object),
                                   order=order, dps=dps + 10)
                nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
                hval = ct.h[0]
                g = np.array(ct.dh[0], dtype=object) if order >= 1 else None
                H = np.array(ct.d2h[0], dtype=object) if order >= 2 else None
                lv = [mpmath.mpf(0)] * 3
                vv = np.array(v, dtype=object)
                for ia, row in enumerate(atoms_mp):
                    am = np.array(row, dtype=object)
                    Ga = kg * mpmath.sqrt(mpmath.fsum(x * x for x in am))
                    hval -= prob * (c0 * c0 + c0 * (Ga + kg * nv) + c1 * c1 * np.dot(am, vv)
                                    + Ga * kg * nv)
                    if pcoefs:
                        po = _power_n_outside(am, vv, self.degree, pcoefs, order, mpmath.sqrt)
                        hval -= prob * po[0]
                        if order >= 1:
                            g = g - prob * po[1]
                        if order >= 2:
                            H = H - prob * po[2]
                    for k in range(3):
                        lv[k] -= prob * sums[ia][k]
                    al, be, A1, A2, A4 = (prob * x for x in scal[ia])
                    if order >= 1:
                        g = g - ((c0 + Ga) * kg / nv * prob) * vv - (prob * c1 * c1) * am - al * vv - be * am
                    if order >= 2:
                        P = np.array([[(1 if k == l else 0) - vv[k] * vv[l] / nv**2 for l in range(d)]
                                      for k in range(d)], dtype=object)
                        H = (H - (prob * (c0 + Ga) * kg / nv) * P - A1 * np.outer(vv, vv)
                             - A2 * (np.outer(am, vv) + np.outer(vv, am)) - A4 * np.outer(am, am))
                        for k in range(d):
                            H[k, k] -= al
                acc[0][jm] = hval + lv[0]
                for k in range(3):
                    lev[k][jm] = hval + lv[k]
                if order >= 1:
                    acc[1][jm] = g
                if order >= 2:
                    acc[2][jm] = H
        return acc, lev

    def _atoms_mp(self, atoms: np.ndarray, dps: int) -> list:
        """Float atoms ``m + s eps`` rebuilt exactly in mpmath (``eps`` read off the signs)."""
        with mpmath.workdps(dps):
            hi, lo = self.law.atoms_in(_MpArith)
            return [[hi if x > self.m else lo for x in row] for row in atoms]
