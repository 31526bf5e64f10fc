"""What the Gaussian-weight routes share: the keyword arguments of their target classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from compverify.numeric.targets.spec import TargetSpec


def common(spec: TargetSpec) -> dict[str, Any]:
    """``scale``, ``abar`` (default 1) and ``name`` (default the family) of a Gaussian spec."""
    return {"scale": spec.scale, "abar": 1 if spec.abar is None else spec.abar,
            "name": spec.name or spec.family}


def mean_vector(spec: TargetSpec) -> np.ndarray:
    """The mean as a float64 vector of ``d`` entries (zeros for mean 0)."""
    return np.zeros(int(spec.d)) if spec.mean is None else np.asarray(spec.mean, dtype=float)
