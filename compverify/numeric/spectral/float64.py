"""The float64 evaluation of the spectral rule: ``h``, its gradient and Hessian, their error.

Near the axes ``(P(+) + P(-))/2 - B`` is ``O(w1^2 w2^2)``, so float64 would lose everything to
cancellation.  The float64 path writes ``P(+-) = B exp(S +- O)`` with ``S`` and ``O`` the even and
odd parts of ``sum_k log E_tilt[exp(-w1 w2 v_k w_k)]`` (the law tilted by ``exp(-w1^2 w^2/2)``),
computed without cancellation (closed forms in ``log cosh`` for rademacher); then
``(P(+) + P(-))/2 - B = B (expm1(S) cosh O + 2 sinh(O/2)^2)``.  The mpmath path evaluates the
plain formulas at a working precision raised by the digits the cancellation costs; the tests
check that the two agree.

:class:`Float64Rule` is a part of :class:`compverify.numeric.spectral.SpectralTarget` (its
float64 methods); it uses the target's laws, nodes and weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.spectral.rule import ATOM_GAP, _edge, _estimate, _levels, _lift
from compverify.numeric.spectral.stable import _sinh_minus_x
from compverify.validate import check_finite_array

#: Working memory in bytes one float64 evaluation of the spectral rule may use (directions are
#: evaluated in blocks sized to it; all at once, 64 directions at d = 2 took 1.9 GB).
ROW_BLOCK_BYTES = 2 ** 28


def _stack_rows(outs: list[tuple]) -> tuple:
    """``(h, grad, hess)`` of consecutive blocks of directions joined (``None`` stays ``None``)."""
    return tuple(None if parts[0] is None else np.concatenate(parts)
                 for parts in zip(*outs, strict=True))


class Float64Rule:
    """The float64 methods of :class:`~compverify.numeric.spectral.SpectralTarget`: the rule's
    sums, ``_eval``, ``h_error`` and ``loss_error`` (module docstring)."""

    # --------------------------------------------------------------- float64 h
    def _parts(self, V: np.ndarray, order: int) -> tuple:
        """Node arrays of the two frequency integrals and their derivatives (float64)."""
        w, d = self.w, self.d
        w1 = w[:, None, None]
        w2 = w[None, :, None]
        beta = w1[..., None] * w2[..., None] * V[None, None, :, :]  # (n, n, M, d)
        # where |w2 v_k| exceeds w1 max|w| by 40, both P(+-) and B are below e^-800: the node
        # contributes nothing, and the law's formulas would be evaluated far outside their range
        far = np.any(np.abs(w2[..., None] * V[None, None]) - w1[..., None] * self.law.bound() > 40,
                     axis=-1)
        with np.errstate(all="ignore"):
            parts_eo = self.law.eo(w, np.where(far[..., None], 0.0, beta))
        E, O, E1, O1, E2, O2, LP, LM = (np.where(far[..., None], 0.0, p) for p in parts_eo)
        S, Od = E.sum(-1), O.sum(-1)
        logB = d * self.logf0[:, None, None] - w2**2 * np.sum(V * V, axis=1)[None, None, :] / 2
        logB = np.where(far, -np.inf, logB)
        big = logB + S + np.abs(Od)
        # where S is large, logB + S +- O would cancel digits: take log P(+-) directly
        direct = np.abs(S) + np.abs(Od) > 30
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            lp = np.where(direct, LP.sum(-1), -np.inf)
            lm = np.where(direct, LM.sum(-1), -np.inf)
            Bu = np.where(direct, (np.exp(lp) + np.exp(lm)) / 2,
                          np.exp(big) * (1 + np.exp(-2 * np.abs(Od))) / 2)
            Bw = np.where(direct, (np.exp(lp) - np.exp(lm)) / 2,
                          np.sign(Od) * np.exp(big) * (-np.expm1(-2 * np.abs(Od))) / 2)
            Sc, Oc = np.minimum(S, 1.0), np.clip(Od, -1.0, 1.0)
            stable = np.exp(logB) * (np.expm1(Sc) * np.cosh(Oc) + 2 * np.sinh(Oc / 2) ** 2)
            BG = np.where((S < 1) & (np.abs(Od) < 1), stable, Bu - np.exp(logB))
        parts = {}
        ww = self.ww
        if self.p is not None:
            parts["even"] = (BG, Bu, Bw, (ww * self.p)[:, None] * (ww * self.p)[None, :], None)
        if self.q is not None:
            parts["odd"] = (Bw, Bw, Bu, -(ww * self.q)[:, None] * (ww * self.q)[None, :], None)
        ww12 = (w1 * w2)[..., None]
        if self.q3 is not None:
            # z|z|: Bw less its linear term B Olin, Olin = w1 w2 lam(w1) sum(v) (module docstring);
            # B (e^S sinh O - Olin) = B (expm1(S) sinh O + (sinh O - O) + O3), O3 = O - Olin
            O3, dO, lam = self.law.o3(w, np.where(far[..., None], 0.0, beta), O, O1)
            O3s = np.where(far, 0.0, O3.sum(-1))
            dO = np.where(far[..., None], 0.0, dO)
            lam = np.broadcast_to(lam, beta.shape)[..., 0]
            Olin = w1 * w2 * lam * V.sum(axis=1)[None, None, :]
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                B = np.exp(logB)
                stable3 = B * (np.expm1(Sc) * np.sinh(Oc) + _sinh_minus_x(Oc) + O3s)
                val3 = np.where((S < 1) & (np.abs(Od) < 1), stable3, Bw - B * Olin)
                # d/dv_k of B Olin is b_k B Olin + w1 w2 lam B: with it, the c_k Bu term of the
                # gradient becomes w1 w2 D_k, D_k = (O'_k - lam) Bu + lam (Bu - B), no cancellation
                D = dO * Bu[..., None] + lam[..., None] * BG[..., None]
            T3 = (ww12 * E1) * Bw[..., None] + ww12 * D if order >= 1 else None
            parts["odd3"] = (val3, Bw, Bu, -(ww * self.q3)[:, None] * (ww * self.q3)[None, :], T3)
        if self.pow_ww is not None:
            # relu_power:n: a bound on |node term| only (the values are multiprecision, the loop
            # of _eval_mp_rule), the weight's 1/t^(n+1) (t = w1 w2) taken into it: with |X| <=
            # R1 = R |v|_1 (R: tilted_reach), |cosh y - T_n(y)| <= |y|^(n+1)/(n+1)! cosh y for small t, and
            # |B (E cosh(t X) - T_n)| <= Bu + B sum_(m <= n) (t R1)^m/m! for large t
            n = self.power_n
            rn = float(self.form.power_coefficients_high_mp()[2])
            reach = self.law.tilted_reach(w)[:, None, None] * np.abs(V).sum(axis=1)[None, None, :]
            t = w1 * w2
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                taylor = sum((t * reach) ** m / math.factorial(m) for m in range(n + 1))
                large = (Bu + np.exp(logB) * taylor) / t ** (n + 1)
                bound = np.minimum(Bu * reach ** (n + 1) / math.factorial(n + 1), large)
            W = rn * rn * self.pow_ww[:, None] * self.pow_ww[None, :]
            parts["pow"] = (np.where(np.isfinite(bound), bound, 0.0), Bu, Bw, W, None)
        if order == 0:
            return parts, None
        deriv = dict(s=ww12 * E1, c=ww12 * O1, e2=ww12**2 * E2, o2=ww12**2 * O2,
                     b=-(w2[..., None] ** 2) * V[None, None, :, :], w2sq=w2**2)
        return parts, deriv

    def _integrals(self, V: np.ndarray, order: int) -> dict:
        """Per part: value, gradient, Hessian at the three rule levels, edge sum, abs sum."""
        parts, dv = self._parts(V, order)
        out = {}
        for key, (val, P1, P2, W, Tk_part) in parts.items():
            T = W[:, :, None] * val
            res = {"h": _levels(T), "edge": _edge(T), "abs": np.abs(T).sum(axis=(0, 1))}
            if order >= 1:
                b, s, c = dv["b"], dv["s"], dv["c"]
                # the derivative of val less its b term (the z|z| part supplies its own)
                Tk = s * P1[..., None] + c * P2[..., None] if Tk_part is None else Tk_part
                G = W[:, :, None, None] * (b * val[..., None] + Tk)
                res["g"] = _levels(G)
            if order >= 2:
                Wv = W[:, :, None] * val
                W1, W2 = W[:, :, None] * P1, W[:, :, None] * P2
                H = (np.einsum("abm,abmk,abml->abmkl", Wv, b, b)
                     + np.einsum("abmk,abml->abmkl", W[:, :, None, None] * b, Tk)
                     + np.einsum("abmk,abml->abmkl", W[:, :, None, None] * Tk, b)
                     + np.einsum("abm,abmk,abml->abmkl", W1, s, s)
                     + np.einsum("abm,abmk,abml->abmkl", W1, c, c)
                     + np.einsum("abm,abmk,abml->abmkl", W2, s, c)
                     + np.einsum("abm,abmk,abml->abmkl", W2, c, s))
                diag = (-dv["w2sq"] * Wv)[..., None] + W1[..., None] * dv["e2"] + W2[..., None] * dv["o2"]
                idx = np.arange(self.d)
                H[..., idx, idx] += diag
                res["H"] = _levels(H)
            out[key] = res
        if self.p_smooth is not None:
            out["even1"] = self._even_1d(V, order)
        atoms = self._atom_correction(V, order)
        if atoms is not None:
            out["atoms"] = atoms
        return out

    def _even_1d(self, V: np.ndarray, order: int) -> dict:
        """``G(v) = E_x sigma_s(<v, x>) = int p_s(w) (1 - exp(-w^2 |v|^2/2)) dw`` (``sigma_s`` the even
        atoms) on the rule's nodes, with derivatives, at the three nested levels."""
        w = self.w[:, None]
        W = (self.ww * self.p_smooth)[:, None]
        r2 = np.sum(V * V, axis=1)[None, :]
        e = np.exp(-w * w * r2 / 2)
        T = W * -np.expm1(-w * w * r2 / 2)

        def levels(X: np.ndarray) -> tuple:
            return X.sum(0), 2 * X[::2].sum(0), 4 * X[::4].sum(0)

        res = {"h": levels(T), "edge": np.abs(T[0]) + np.abs(T[-1]), "abs": np.abs(T).sum(0)}
        if order >= 1:
            res["g"] = levels((W * w * w * e)[:, :, None] * V[None])
        if order >= 2:
            a, b = W * w * w * e, W * w**4 * e
            H = (a[..., None, None] * np.eye(self.d)
                 - b[..., None, None] * V[None, :, :, None] * V[None, :, None, :])
            res["H"] = levels(H)
        return res

    def _coef(self, key: str) -> float:
        """The factor of a part in ``h``: ``c0 + E sigma_e(A)`` for the even atoms' ``G(v)``."""
        return self._c[0] + self.even_mean if key == "even1" else 1.0

    def _assemble(self, V: np.ndarray, integ: dict, level: int, order: int) -> tuple:
        if self.power_n:
            raise CompverifyError(
                f"{self.activation.spec}: the spectral rule evaluates relu_power:n (n >= 3) in "
                "multiprecision only; use PowerSpectralTarget (from_options) for float64 values")
        c0, c1, c2 = self._c
        Ee = self.even_mean
        nv = np.linalg.norm(V, axis=1)
        # E_x of the |z| part at v is c2 sqrt(2/pi) |v|; it multiplies c0 + E sigma_e(A)
        lin_norm = (c0 + Ee) * c2 * math.sqrt(2 / math.pi)
        h = c0 * c0 + c0 * Ee + lin_norm * nv + c1 * c1 * self.m * V.sum(axis=1)
        for key, r in integ.items():
            h = h + self._coef(key) * r["h"][level]
        g = H = None
        if order >= 1:
            vhat = V / nv[:, None]
            g = lin_norm * vhat + c1 * c1 * self.m
            for key, r in integ.items():
                g = g + self._coef(key) * r["g"][level]
        if order >= 2:
            eye = np.eye(self.d)
            H = lin_norm * (eye[None] - vhat[:, :, None] * vhat[:, None, :]) / nv[:, None, None]
            for key, r in integ.items():
                H = H + self._coef(key) * r["H"][level]
        if self.form.has_power:
            h, g, H = self._power_terms(V, h, g, H, order)
        a = self.abar
        return a * h, None if g is None else a * g, None if H is None else a * H

    def _check_v(self, V: Any) -> np.ndarray:
        V = self._check(V)
        if np.any(np.linalg.norm(V, axis=1) == 0):
            raise CompverifyError("the spectral target needs nonzero directions v (|v| = 0 given)")
        return V

    def _eval_rule(self, V: np.ndarray, order: int) -> tuple:
        return self._assemble(V, self._integrals(V, order), 0, order)

    def _eval(self, V: np.ndarray, order: int) -> tuple:
        V = self._check_v(V)
        if self.rotation is not None:
            return self._from_frame(self._eval_unrotated(self._to_frame(V), order))
        return self._eval_unrotated(V, order)

    def _row_block(self, order: int) -> int:
        """How many directions one float64 rule evaluation takes at once (:data:`ROW_BLOCK_BYTES`):
        the rule's arrays hold about 50 floats per node pair, direction and coordinate (measured,
        relu with uniform entries, d = 2: 28 MB per direction for :meth:`h_error`)."""
        per_row = 8 * 50 * self.w.size ** 2 * (self.d + 1) * max(1, self.d) ** order
        return max(1, ROW_BLOCK_BYTES // per_row)

    def _eval_unrotated(self, V: np.ndarray, order: int) -> tuple:
        block = self._row_block(order)
        if len(V) > block:  # directions are independent: evaluate them in blocks
            return _stack_rows([self._eval_unrotated(V[i:i + block], order)
                                for i in range(0, len(V), block)])
        if self.degree is None:
            return self._eval_rule(V, order)
        r = np.linalg.norm(V, axis=1)
        out = self._eval_rule(V / r[:, None], order)
        return _lift(r, V / r[:, None], out, self.degree, order)

    def h_error(self, V: Any) -> np.ndarray:
        """Estimated error of ``h(v_j)`` (module docstring), shape (M,)."""
        V = self._to_frame(self._check_v(V))
        block = self._row_block(0)
        return np.concatenate([self._h_error_unrotated(V[i:i + block])
                               for i in range(0, len(V), block)])

    def _h_error_unrotated(self, V: np.ndarray) -> np.ndarray:
        scale = 1.0
        if self.degree is not None:  # the rule runs on unit directions (exact homogeneity)
            r = np.linalg.norm(V, axis=1)
            V, scale = V / r[:, None], r**self.degree
        integ = self._integrals(V, 0)
        levels = [self._assemble(V, integ, k, 0)[0] for k in range(3)]
        edge, absum = self._edge_terms(integ)
        return scale * _estimate(*levels, edge, absum + np.abs(levels[0]), model=self._model(V))

    def _model(self, V: np.ndarray) -> np.ndarray:
        """Where the squaring model may be used: not for a direction within ``ATOM_GAP`` of an atom
        of a discrete law (the kernel's singularity at ``|rho| = 1`` makes a ridge in the frequency
        integrand; measured, Rademacher d = 6, 10, 12: the model fails for ``1 - |rho| <= 0.01``
        while ``d1`` still bounds the error)."""
        if not self.ridges_at_atoms:
            return np.full(len(V), self.squaring)
        corrected = np.array([complete for _, complete in self._near(V)], dtype=bool)
        return self.squaring & ((self.law.atom_gap(V) >= ATOM_GAP) | corrected)

    def _edge_terms(self, integ: dict) -> tuple[np.ndarray, np.ndarray]:
        """What the truncated rule leaves out (its outermost nodes) and the sum of |terms|."""
        edge = sum(abs(self._coef(key)) * r["edge"] for key, r in integ.items())
        absum = sum(abs(self._coef(key)) * r["abs"] for key, r in integ.items())
        return self.abar * edge, self.abar * absum

    def loss_error(self, b: Any, V: Any) -> float:
        """Estimated error of ``C - 2 sum_j b_j h(v_j) + b^T K b``: ``C_error + 2 sum |b_j| e_j``."""
        b = check_finite_array(b, "b", ndim=1)
        return float(self.C_error() + 2 * np.abs(b) @ self.h_error(V))
