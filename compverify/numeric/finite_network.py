"""A finite network ``f(x) = sum_i a_i sigma(<w_i, x>)`` and the direction arrays every target takes.

The lowest of the target modules: :class:`FiniteNetwork` is a target (``h = h_N = sum_i a_i
K(w_i, .)``, ``C = C_N`` by exact kernel sums, :mod:`compverify.numeric.kernel_sums`) and also
what every mean-field target's ``sample(N, seed)`` returns; :func:`load_npz` reads one from an
``.npz`` file with arrays ``a`` (N,) and ``W`` (N, d).  :func:`check_rows`, :func:`mp_rows` and
:func:`round_mp` convert the directions ``V`` (M, d) to float64 or ``mpf`` arrays and round
multiprecision results, for all targets alike.  The rule targets
(:mod:`compverify.numeric.rule_base` and above) build on this module; the route registry
(:mod:`compverify.numeric.targets`) sits above them all.

>>> import numpy as np
>>> net = FiniteNetwork("relu", [1.0], [[1.0, 0.0]])
>>> h = float(net.h(np.array([[1.0, 0.0]]))[0])     # K(w, w) = |w|^2 / 2 for relu
>>> abs(h - 0.5) < 1e-15
True
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from typing import Any

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.io import atomic_write_bytes
from compverify.numeric.kernel_sums import (
    constant_term,
    constant_term_mp,
    cross_term,
    cross_term_mp,
)
from compverify.symbolic.activations import as_activation
from compverify.validate import check_finite_array, check_npz_arrays

__all__ = ["FiniteNetwork", "load_npz", "check_rows", "mp_rows", "mp_matrix", "round_mp"]


def check_rows(V: Any, d: int) -> np.ndarray:
    """``V`` as a finite float64 (M, d) array, or an error naming its shape."""
    V = check_finite_array(V, "V", ndim=2)
    if V.shape[1] != d:
        raise CompverifyError(f"V must have d = {d} columns like the target, got shape {V.shape}")
    return V


def mp_rows(V: Any, d: int, dps: int) -> np.ndarray:
    """``V`` (M, d) as an object array of ``mpf`` at ``dps`` digits, or an error naming its shape."""
    Vm = np.asarray(V, dtype=object)
    if Vm.ndim != 2 or Vm.shape[1] != d:
        raise CompverifyError(f"V must have shape (M, {d}), got {Vm.shape}")
    return mp_matrix(Vm, dps)


def mp_matrix(V: Any, dps: int) -> np.ndarray:
    """``V`` (any shape) as an object array of ``mpf`` at ``dps`` digits."""
    with mpmath.workdps(dps):
        A = np.asarray(V, dtype=object)
        return np.vectorize(lambda x: mpmath.mpf(x), otypes=[object])(A) if A.size else A


def round_mp(x: Any, dps: int) -> Any:
    """``x`` (an mpf or an object array of them) rounded to ``dps`` digits."""
    with mpmath.workdps(dps):
        if isinstance(x, np.ndarray):
            return np.vectorize(lambda y: +y, otypes=[object])(x)
        return +x


class FiniteNetwork:
    """An explicit network ``f(x) = sum_i a_i sigma(<w_i, x>)``; exact kernel sums."""

    rotation_invariant = False
    method = "exact kernel sums"

    def __init__(self, activation: Any, a: Any, W: Any, *, name: str = "finite") -> None:
        self.activation = as_activation(activation)
        W = check_finite_array(W, "W", ndim=2) if W is not None else W
        a = check_finite_array(a, "a", ndim=1)
        if a.shape[0] != W.shape[0]:
            raise CompverifyError(f"a has length {a.shape[0]} but W has {W.shape[0]} rows")
        if W.shape[0] < 1 or W.shape[1] < 1:
            raise CompverifyError(f"W must have at least one row and column, got shape {W.shape}")
        self.a, self.W = a, W
        self.d = int(W.shape[1])
        self.N = int(W.shape[0])
        self.name = name
        self._C: float | None = None

    def __repr__(self) -> str:
        return f"FiniteNetwork(N={self.N}, d={self.d}, activation={self.activation.spec!r})"

    def describe(self) -> dict:
        # the digest names the network itself, not only its file name: results say which
        # network they are about, and a checkpoint of an edited .npz is not resumed
        digest = hashlib.sha256(np.ascontiguousarray(self.a, dtype=float).tobytes()
                                + np.ascontiguousarray(self.W, dtype=float).tobytes())
        return {"family": "finite", "name": self.name, "N": self.N, "d": self.d,
                "sha256": digest.hexdigest(), "method": self.method}

    def h(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=0).h

    def h_grad(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=1).dh

    def h_hess(self, V: Any) -> np.ndarray:
        return cross_term(self.activation, self.a, self.W, V, order=2).d2h

    def C(self) -> float:
        if self._C is None:
            self._C = float(constant_term(self.activation, self.a, self.W))
        return self._C

    def h_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=0, dps=dps).h

    def h_grad_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=1, dps=dps).dh

    def h_hess_mp(self, V: Any, dps: int) -> np.ndarray:
        return cross_term_mp(self.activation, self.a, self.W, V, order=2, dps=dps).d2h

    def C_mp(self, dps: int) -> mpmath.mpf:
        return constant_term_mp(self.activation, self.a, self.W, dps=dps)

    def sample(self, N: int, seed: int) -> FiniteNetwork:
        raise CompverifyError("a finite network is already a realization; it has no sample()")

    def save(self, path: str | os.PathLike) -> None:
        """Write ``a`` and ``W`` to an ``.npz`` file atomically."""
        buf = io.BytesIO()
        np.savez(buf, a=self.a, W=self.W)
        atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike, activation: Any) -> FiniteNetwork:
    """A :class:`FiniteNetwork` from an ``.npz`` file with arrays ``a`` (N,) and ``W`` (N, d)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise CompverifyError(f"target file {p!r} does not exist")
    if not zipfile.is_zipfile(p):
        # np.load falls back to unpickling, and its message then speaks of pickled data
        raise CompverifyError(f"target file {p!r} is not a readable .npz: not a complete zip "
                              "archive (np.savez writes one)")
    check_npz_arrays(p, ("a", "W"))  # real dtypes and a size that fits, before loading
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("a", "W") if k not in data.files]
            if missing:
                raise CompverifyError(f"target file {p!r} lacks array(s) {', '.join(missing)} "
                                      f"(has {', '.join(data.files) or 'none'})")
            a, W = np.array(data["a"]), np.array(data["W"])
    except CompverifyError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CompverifyError(f"target file {p!r} is not a readable .npz: {exc}") from None
    if not (np.issubdtype(a.dtype, np.number) and np.issubdtype(W.dtype, np.number)):
        raise CompverifyError(f"target file {p!r}: a and W must be numeric arrays")
    if a.ndim != 1 or W.ndim != 2:
        raise CompverifyError(f"target file {p!r}: a must have shape (N,) and W (N, d); got "
                              f"{a.shape} and {W.shape}")
    return FiniteNetwork(activation, a.astype(float), W.astype(float), name=os.path.basename(p))
