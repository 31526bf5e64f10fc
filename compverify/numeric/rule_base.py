"""What the quadrature-rule targets share: the Target protocol on top of ``_eval``/``_eval_mp``.

A rule target implements ``_eval(V, order)`` (float64) and ``_eval_mp(V, order, dps)`` returning
``(h, grad, hess)``, ``C()`` and ``loss_error(b, V)``; :class:`RuleTarget` supplies the public
``h``, ``h_grad``, ``h_hess``, their mpmath versions, ``C_mp`` and input checks.
:class:`GaussianWeights` holds ``w ~ N(mu, s^2 I_d)`` with mean second layer ``abar`` (validation
and finite realizations).
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork, check_rows, mp_rows
from compverify.symbolic.activations import as_activation
from compverify.validate import check_dps, check_finite_array, check_positive_int

__all__ = ["RuleTarget", "GaussianWeights", "iid_fields"]


def iid_fields(d: Any, mean: Any, scale: Any) -> tuple[int, float, float]:
    """Checked ``(d, m, s)`` of i.i.d. entries ``m + s xi``; ``scale=None`` means ``1/sqrt(d)``."""
    d = check_positive_int(d, "d")
    m = float(mean)
    s = 1 / math.sqrt(d) if scale is None else float(scale)
    if not math.isfinite(m):
        raise CompverifyError(f"the mean must be finite, got {mean!r}")
    if not (math.isfinite(s) and s > 0):
        raise CompverifyError(f"scale must be positive, got {scale!r}")
    return d, m, s


class RuleTarget:
    """The public Target methods of a quadrature-rule target (module docstring)."""

    rotation_invariant = False
    d: int

    def _check(self, V: Any) -> np.ndarray:
        return check_rows(V, self.d)

    def _mp_rows(self, V: Any, dps: int) -> np.ndarray:
        return mp_rows(V, self.d, dps)

    def _eval(self, V: np.ndarray, order: int) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def _eval_mp(self, V: Any, order: int, dps: int) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def C(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def h(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 0)[0]

    def h_grad(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 1)[1]

    def h_hess(self, V: Any) -> np.ndarray:
        return self._eval(self._check(V), 2)[2]

    def h_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._eval_mp(V, 0, dps)[0]

    def h_derivatives(self, V: Any, order: int) -> tuple:
        """``(h, grad, hess)`` up to ``order`` (``None`` above it) from one pass of the rule."""
        out = self._eval(self._check(V), order)
        return tuple(x if k <= order else None for k, x in enumerate(out))

    def h_derivatives_mp(self, V: Any, order: int, dps: int) -> tuple:
        """mpmath :meth:`h_derivatives` at ``dps`` digits."""
        out = self._eval_mp(V, order, dps)
        return tuple(x if k <= order else None for k, x in enumerate(out))

    def h_grad_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._eval_mp(V, 1, dps)[1]

    def h_hess_mp(self, V: Any, dps: int) -> np.ndarray:
        return self._eval_mp(V, 2, dps)[2]

    def C_mp(self, dps: int) -> mpmath.mpf:
        # C is a constant of the loss: it moves no minimiser, and the rule's error of it (C_error)
        # is far above float64 rounding, so its float64 value is all the precision it has
        check_dps(dps)
        with mpmath.workdps(dps):
            return mpmath.mpf(self.C())


class GaussianWeights:
    """``w ~ N(mu, s^2 I_d)``, mean second layer ``abar``: checked fields and realizations."""

    def _init_law(self, activation: Any, d: int, mean: Any, scale: Any, abar: Any,
                  name: str) -> None:
        self.activation = as_activation(activation)
        self.d = d = check_positive_int(d, "d")
        self.name = name
        self.mean = np.zeros(d) if mean is None else check_finite_array(mean, "mean", ndim=1)
        if self.mean.shape != (d,):
            raise CompverifyError(f"mean must have d = {d} entries, got {self.mean.size}")
        self.s = 1 / math.sqrt(d) if scale is None else float(scale)
        if not (math.isfinite(self.s) and self.s > 0):
            raise CompverifyError(f"scale must be positive, got {scale!r}")
        self.abar = float(abar)
        self.rotation_invariant = not np.any(self.mean)

    def sample(self, N: int, seed: int) -> Any:
        """A realization: ``w_i ~ N(mu, s^2 I)`` (seeded), ``a_i = abar / N``."""
        N = check_positive_int(N, "N")
        rng = np.random.default_rng(seed)
        W = self.mean + self.s * rng.standard_normal((N, self.d))
        return FiniteNetwork(self.activation, np.full(N, self.abar / N), W,
                             name=f"{self.name} sample N={N} seed={seed}")
