"""Shared checks of a target's derivatives (imported by the target tests)."""

from __future__ import annotations

import numpy as np


def check_derivatives(t, V, *, atol_g: float, atol_H: float, eps: float = 1e-6) -> None:
    """``h_grad`` and ``h_hess`` against central finite differences of ``h`` and ``h_grad``."""
    g, H = t.h_grad(V), t.h_hess(V)
    for k in range(V.shape[1]):
        E = np.zeros_like(V)
        E[:, k] = eps
        assert np.allclose((t.h(V + E) - t.h(V - E)) / (2 * eps), g[:, k], atol=atol_g)
        assert np.allclose((t.h_grad(V + E) - t.h_grad(V - E)) / (2 * eps), H[:, :, k], atol=atol_H)


def check_mp_matches_float(t, V, *, dps: int = 30, rtol: tuple = (1e-13, 1e-12, 1e-11)) -> None:
    """The mpmath path rounds to the float64 path (value, gradient, Hessian)."""
    pairs = ((t.h_mp(V, dps), t.h(V)), (t.h_grad_mp(V, dps), t.h_grad(V)),
             (t.h_hess_mp(V, dps), t.h_hess(V)))
    for (mp_val, fl_val), r in zip(pairs, rtol, strict=True):
        assert np.allclose(mp_val.astype(float), fl_val, rtol=r, atol=r * 1e-2)
