"""Input validation shared by every layer.

Each check raises :class:`CompverifyError` naming the bad value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compverify.errors import CompverifyError

#: Upper limit on the working precision; far beyond anything the solvers need, it stops typos
#: such as ``--dps 1000000`` from hanging a run.
MAX_DPS = 2000
MIN_DPS = 1


def check_dps(dps: Any, *, name: str = "dps", minimum: int = MIN_DPS,
              maximum: int = MAX_DPS) -> int:
    """Return ``dps`` as an int in ``[minimum, maximum]`` or raise naming it.

    >>> check_dps(30)
    30
    >>> check_dps(-5)
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: dps must be an integer in [1, 2000], got -5
    """
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)) or not (
        minimum <= int(dps) <= maximum
    ):
        raise CompverifyError(f"{name} must be an integer in [{minimum}, {maximum}], got {dps!r}")
    return int(dps)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise naming it.

    >>> check_positive_int(3, "M")
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise CompverifyError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_finite_array(x: Any, name: str, ndim: int | None = None,
                       shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a float64 array after checking dimension, shape and finiteness.

    ``shape`` entries that are ``None`` are free.

    >>> check_finite_array([1.0, 2.0], "a", ndim=1).shape
    (2,)
    >>> check_finite_array([1.0, float("nan")], "a")
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: a has a non-finite entry at index (1,): nan
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise CompverifyError(f"{name} must be an array of real numbers ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise CompverifyError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != t for s, t in zip(shape, arr.shape, strict=True)
        ):
            want = tuple("*" if s is None else s for s in shape)
            raise CompverifyError(f"{name} must have shape {want}, got {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise CompverifyError(f"{name} has a non-finite entry at index {idx}: {arr[idx]}")
    return arr


def check_finite_scalar(value: Any, name: str) -> float:
    """Return ``value`` as a finite float or raise naming it.

    >>> check_finite_scalar("2.5", "scale")
    2.5
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CompverifyError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise CompverifyError(f"{name} must be finite, got {value!r}")
    return v
