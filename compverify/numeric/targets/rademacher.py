"""Rademacher weights ``w_k = m + s eps_k`` for ``d <= 12``: the exact sum over the ``2^d`` sign patterns.

>>> t = RademacherTarget("relu", 2, mean=0.1)
>>> t.N, round(float(t.a.sum()), 15)
(4, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compverify.errors import CompverifyError
from compverify.numeric.finite_network import FiniteNetwork
from compverify.validate import check_positive_int

__all__ = ["RademacherTarget", "MAX_RADEMACHER_D"]

#: Largest ``d`` of the exact Rademacher target (``2^d`` sign patterns); above it the rules.
MAX_RADEMACHER_D = 12


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
