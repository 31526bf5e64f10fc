r"""Kernel sums: the chain rule from ``(nu, nv, rho)`` to weight vectors.

A Gaussian kernel ``K(u, v) = E_x[sigma(<u,x>) sigma(<v,x>)]`` (``x ~ N(0, I_d)``) depends on its
two vectors only through ``k(|u|, |v|, rho)`` with ``rho = <u,v>/(|u||v|)`` (SPEC A2).  This module
turns the partials of ``k`` (supplied by :mod:`compverify.symbolic`) into derivatives in the
vectors, and sums them over the neurons of a network:

* :func:`kernel_matrix` -- ``K(u_i, v_j)`` for all pairs;
* :func:`cross_term` -- ``h(v_j) = sum_i a_i K(w_i, v_j)`` with its gradient and Hessian in each row
  ``v_j`` (blocked over the rows of ``W``: memory ``O(block * M + M d^2)``, never ``O(N M)``);
* :func:`self_term` -- ``S(b, V) = sum_{j,j'} b_j b_j' K(v_j, v_j')`` with its gradient and Hessian
  blocks in ``(b, V)``;
* :func:`constant_term` -- ``C = sum_{i,i'} a_i a_i' K(w_i, w_i')`` (``O(N^2 d)``, blocked);

each in float64 (numpy) and in mpmath (``*_mp``, at ``dps`` digits, computed with 10 guard digits
and rounded on the way out).  Both share one implementation of the formulas.

Chain rule (derivatives in the second argument; ``e = v/|v|``, ``uh = u/|u|``)::

    p      = d rho / dv = (uh - rho e) / |v|
    dK/dv  = k_nv e + k_rho p
    d2K/dv2 = k_nvnv e e' + (k_nvrho - k_rho/|v|)(e p' + p e') + k_rhorho p p'
              + (k_nv/|v| - rho k_rho/|v|^2)(I - e e')
    d2K/dv du' (rows: components of v, columns: components of u; q = d rho/du = (e - rho uh)/|u|)
            = k_nunv e uh' + k_nvrho e q' + k_nurho p uh' + k_rhorho p q'
              + k_rho (I - uh uh' - e e' + rho e uh') / (|u||v|)

A diagonal term ``K(v, v) = k(|v|, |v|, 1) = phi(|v|)`` is a function of one vector and is
differentiated as such: ``grad = phi' e``, ``Hess = phi'' e e' + (phi'/|v|)(I - e e')`` with
``phi' = k_nu + k_nv`` and ``phi'' = k_nunu + 2 k_nunv + k_nvnv`` at ``(|v|, |v|, 1)``.

Singular points, defined rather than left to produce NaN:

* a zero row ``w_i`` of the target: ``uh = 0`` and ``rho = 0`` (``k`` does not depend on ``rho``
  when a norm is 0); a zero row ``v_j``: the value uses ``k(., 0, 0)``; derivatives of order ``r``
  at ``v_j = 0`` are the limit 0 when the activation is positively homogeneous of degree ``> r``,
  and a :class:`~compverify.errors.CompverifyError` otherwise (the chain rule through ``|v|`` and
  ``rho`` is singular there and the derivative need not exist, e.g. ReLU at ``v = 0``);
* an exactly parallel or antiparallel pair (``|rho| = 1``, e.g. coinciding neurons): there
  ``p = q = 0`` and every term carrying ``p`` or ``q`` is taken as 0 (its limit when ``k_rho`` is
  finite at ``|rho| = 1``, as for ReLU and abs, whose ``k_rhorho`` blows up like
  ``(1 - rho^2)^(-1/2)``); if ``k_rho`` itself is not finite there (step, sign) the loss is not
  differentiable at that point and a :class:`~compverify.errors.CompverifyError` names the pair;
* any other non-finite result raises :class:`~compverify.errors.CompverifyError`; nothing returns
  NaN silently.

>>> import numpy as np
>>> from compverify.numeric.kernel_sums import kernel_matrix
>>> class Lin:   # K(u, v) = <u, v>, the kernel of sigma(z) = z
...     def value(self, nu, nv, rho): return nu * nv * rho
>>> kernel_matrix(Lin(), np.array([[1.0, 0.0], [0.0, 2.0]]))
array([[1., 0.],
       [0., 4.]])
"""

from __future__ import annotations

import os
import threading
from typing import Any, NamedTuple

import mpmath
import numpy as np

from compverify.errors import CompverifyError
from compverify.validate import check_dps, check_finite_array, check_positive_int

__all__ = [
    "DEFAULT_BLOCK",
    "GUARD_DPS",
    "CrossTerm",
    "SelfTerm",
    "default_jobs",
    "resolve_kernel",
    "kernel_matrix",
    "kernel_matrix_mp",
    "cross_term",
    "cross_term_mp",
    "self_term",
    "self_term_mp",
    "self_term_ball",
    "cross_term_ball",
    "has_ball",
    "constant_term",
    "constant_term_mp",
]

#: Rows of ``W`` processed at once: peak memory of :func:`cross_term` is a few ``block x M`` float64
#: arrays (about 4 MB each for M = 32) plus ``M d^2`` for a Hessian.
DEFAULT_BLOCK = 1 << 14
#: Side of the square tiles of :func:`constant_term`: its peak memory is a few ``tile x tile``
#: float64 arrays (8 MB each); the rows' block above would make them 2 GB each (measured: N = 4096
#: took 770 MB in one tile).
CONSTANT_TILE = 1 << 10
#: Extra digits the mpmath variants work with before rounding their results to ``dps``.
GUARD_DPS = 10


class CrossTerm(NamedTuple):
    """``h(v_j) = sum_i a_i K(w_i, v_j)`` and its derivatives in ``v_j``, one row per ``j``.

    ``h``: ``(M,)``; ``dh``: ``(M, d)`` or ``None`` (order 0); ``d2h``: ``(M, d, d)`` or ``None``
    (order < 2).  float64 arrays, or object arrays of ``mpf`` for the ``*_mp`` variants.  A
    mean-field target supplies the same three arrays for ``h(v) = E[abar K(w, v)]``.
    """

    h: Any
    dh: Any = None
    d2h: Any = None


class SelfTerm(NamedTuple):
    """``S(b, V) = sum_{j,j'} b_j b_j' K(v_j, v_j')`` with derivatives in ``theta = (b, V)``.

    ``K``: ``(M, M)`` kernel matrix ``K(v_j, v_j')``; ``value``: ``S``; ``grad_b = 2 K b``:
    ``(M,)``; ``grad_V``: ``(M, d)``; ``hess_bb = 2 K``: ``(M, M)``;
    ``hess_bV[j, l, :] = d2S/db_j dv_l``: ``(M, M, d)``;
    ``hess_VV[j, :, l, :] = d2S/dv_j dv_l``: ``(M, d, M, d)``.  Gradients are ``None`` for order 0,
    Hessian blocks ``None`` for order < 2.
    """

    K: Any
    value: Any
    grad_b: Any = None
    grad_V: Any = None
    hess_bb: Any = None
    hess_bV: Any = None
    hess_VV: Any = None


# --------------------------------------------------------------------------------------------
# kernels and backends


def resolve_kernel(kernel: Any) -> tuple[Any, int | None]:
    """Return ``(kernel, homogeneous_degree)`` from a Kernel, an Activation or a spec string.

    An Activation (anything with a ``kernel`` attribute) or a spec such as ``"relu"`` also gives
    the activation's positive-homogeneity degree, used for the limit at zero-norm neurons; a bare
    Kernel gives its own ``homogeneous_degree`` attribute if it has one, else ``None``.
    """
    if isinstance(kernel, str):
        from compverify.symbolic import get_activation  # symbolic is the layer below numeric

        kernel = get_activation(kernel)
    degree = getattr(kernel, "homogeneous_degree", None)
    if hasattr(kernel, "kernel") and not hasattr(kernel, "value"):
        kernel = kernel.kernel
        if degree is None:
            degree = getattr(kernel, "homogeneous_degree", None)
    if not hasattr(kernel, "value"):
        raise CompverifyError(
            f"kernel must be a Kernel, an Activation or an activation spec, got {kernel!r}")
    return kernel, degree


class _Float:
    """float64 backend: vectorised numpy calls of the kernel.

    A compiled :class:`~compverify.symbolic.Kernel` is called through its ``*_into`` methods
    (``rho`` is already in ``[-1, 1]`` here, and the results go into per-thread buffers that the
    next block of the same thread reuses: no fresh full-size arrays, hence no page faults, per
    block); any other kernel object through ``value/grad/hess``.  :meth:`scratch` gives per-thread
    buffers for the sums' own temporaries.  Results are valid until the same thread's next call.
    """

    mp = False
    zero = 0.0
    one = 1.0

    def __init__(self, kern: Any):
        self.kern = kern
        self._local = threading.local()
        self._into = all(hasattr(kern, m) for m in ("value_into", "grad_into", "hess_into"))

    def _workspaces(self) -> dict:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = {}
        return ws

    def _ws(self, key):
        from compverify.symbolic.numpy_codegen import Workspace  # symbolic is below numeric

        ws = self._workspaces()
        if key not in ws:
            ws[key] = Workspace()
        return ws[key]

    def scratch(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float64 buffer of ``shape`` owned by the calling thread, reused across blocks."""
        ws = self._workspaces()
        buf = ws.get(name)
        if buf is None or buf.shape != shape:
            buf = ws[name] = np.empty(shape)
        return buf

    @staticmethod
    def zeros(shape):
        return np.zeros(shape)

    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def isfinite(x):
        return np.isfinite(x)

    @staticmethod
    def rowsq(x):
        return np.einsum("ij,ij->i", x, x)

    @staticmethod
    def eye(d):
        return np.eye(d)

    @staticmethod
    def _bc(outs, shape):
        return tuple(np.broadcast_to(np.asarray(o, dtype=float), shape) for o in outs)

    # reuse=True: the results may live in the thread's buffers (consume them before the next
    # call); reuse=False: fresh arrays, safe to keep
    def value(self, nu, nv, rho, reuse=False):
        if self._into:
            out = self.kern.value_into(nu, nv, rho, self._ws("value") if reuse else None)
        else:
            out = self.kern.value(nu, nv, rho)
        return self._bc((out,), np.shape(rho))[0]

    def grad(self, nu, nv, rho, reuse=False):
        if self._into:
            outs = self.kern.grad_into(nu, nv, rho, self._ws("grad") if reuse else None)
        else:
            outs = self.kern.grad(nu, nv, rho)
        return self._bc(outs, np.shape(rho))

    def hess(self, nu, nv, rho, reuse=False):
        if self._into:
            outs = self.kern.hess_into(nu, nv, rho, self._ws("hess") if reuse else None)
        else:
            outs = self.kern.hess(nu, nv, rho)
        return self._bc(outs, np.shape(rho))

    def out(self, x):
        return x

    @staticmethod
    def exact(x):
        return x


class _ObjectArrays:
    """Array helpers shared by the object-array backends (:class:`_MP`, :class:`_Ball`): each
    sets ``zero``, ``one`` and the elementwise ``_sqrt``/``_isfinite`` of its number type."""

    def zeros(self, shape):
        return np.full(shape, self.zero, dtype=object)

    def sqrt(self, x):
        return np.asarray(self._sqrt(x), dtype=object)

    def isfinite(self, x):
        return np.asarray(self._isfinite(x), dtype=bool)

    @staticmethod
    def rowsq(x):
        return (x * x).sum(axis=1)

    def eye(self, d):
        out = self.zeros((d, d))
        for i in range(d):
            out[i, i] = self.one
        return out


class _MP(_ObjectArrays):
    """mpmath backend: object arrays of mpf; arithmetic at the caller's ``workdps``."""

    mp = True
    zero = mpmath.mpf(0)
    one = mpmath.mpf(1)

    def __init__(self, kern: Any, dps: int):
        self.kern = kern
        self.dps = dps
        self.work = dps + GUARD_DPS
        self._value = np.frompyfunc(lambda a, b, c: kern.value_mp(a, b, c, self.work), 3, 1)
        self._grad = np.frompyfunc(lambda a, b, c: tuple(kern.grad_mp(a, b, c, self.work)), 3, 1)
        self._hess = np.frompyfunc(lambda a, b, c: tuple(kern.hess_mp(a, b, c, self.work)), 3, 1)
        self._sqrt = np.frompyfunc(mpmath.sqrt, 1, 1)
        self._isfinite = np.frompyfunc(mpmath.isfinite, 1, 1)
        self._round = np.frompyfunc(lambda x: +x, 1, 1)

    @staticmethod
    def _split(res, n):
        res = np.asarray(res, dtype=object)
        return tuple(np.frompyfunc(lambda t, i=i: mpmath.mpf(t[i]), 1, 1)(res).astype(object)
                     for i in range(n))

    def value(self, nu, nv, rho, reuse=False):
        return np.asarray(self._value(nu, nv, rho), dtype=object)

    def grad(self, nu, nv, rho, reuse=False):
        return self._split(self._grad(nu, nv, rho), 4)

    def hess(self, nu, nv, rho, reuse=False):
        return self._split(self._hess(nu, nv, rho), 6)

    def out(self, x):
        """Round a result (scalar or array) to ``dps`` digits."""
        with mpmath.workdps(self.dps):
            if isinstance(x, np.ndarray):
                return np.asarray(self._round(x), dtype=object) if x.size else x
            return +x

    @staticmethod
    def exact(x):
        return x


class _Ball(_ObjectArrays):
    """Ball backend: object arrays of python-flint ``arb`` at ``dps + GUARD_DPS`` digits (the
    caller holds that precision, :func:`compverify.numeric.arb_arrays.arb_prec`).

    The same formulas as :class:`_MP`, each elementwise operation a C call on a ball instead of
    pure-Python ``mpf`` arithmetic (about 20 times faster, measured); the kernel's components
    come from its ball functions on the arbs directly (``Kernel.partials_arb``).  Norms,
    inverse norms and cosines are kept as exact midpoints (:meth:`exact`), so the tests on them
    (zero rows, ``|rho| = 1``) compare numbers as the other backends do.
    """

    mp = True

    def __init__(self, kern: Any, dps: int):
        from flint import arb

        self.kern = kern
        self.dps = dps
        self.work = dps + GUARD_DPS
        self.zero, self.one = arb(0), arb(1)
        part = kern.partials_arb
        self._parts = [np.frompyfunc(lambda a, b, c, o=o: part(a, b, c, o, self.work), 3, 1)
                       for o in (0, 1, 2)]
        self._sqrt = np.frompyfunc(lambda x: x.sqrt().mid(), 1, 1)
        self._isfinite = np.frompyfunc(lambda x: x.is_finite(), 1, 1)
        self._mid = np.frompyfunc(lambda x: x.mid(), 1, 1)

    def exact(self, x):
        """Midpoints (exact balls) of an array or a scalar."""
        if isinstance(x, np.ndarray):
            return np.asarray(self._mid(x), dtype=object) if x.size else x
        return x.mid()

    @staticmethod
    def _split(res, n):
        res = np.asarray(res, dtype=object)
        return tuple(np.frompyfunc(lambda t, i=i: t[i], 1, 1)(res).astype(object)
                     for i in range(n))

    def value(self, nu, nv, rho, reuse=False):
        return self._split(self._parts[0](nu, nv, rho), 1)[0]

    def grad(self, nu, nv, rho, reuse=False):
        return self._split(self._parts[1](nu, nv, rho), 4)

    def hess(self, nu, nv, rho, reuse=False):
        return self._split(self._parts[2](nu, nv, rho), 6)

    def out(self, x):
        return self.exact(x)


def _where(cond, x, y):
    """np.where that keeps object arrays as object arrays (and mpf zeros)."""
    return np.where(cond, x, y)


def _clip_rho(rho, one):
    return np.where(rho > one, one, np.where(rho < -one, -one, rho))


#: Cosines within this distance of +-1 are recomputed as ``+-(1 - |uh -+ e|^2 / 2)``.
NEAR_PARALLEL = 1e-8


def _cosines(bk, G, A, ia, B):
    """``rho = <a_i, b_j> / |a_i|`` from ``G = A B'`` (rows of ``B`` unit or zero), in [-1, 1].

    Near +-1 a dot product resolves the angle only to about ``sqrt(eps)``, so there ``1 - |rho|`` is
    recomputed from the difference of the unit vectors, ``|uh -+ e|^2 / 2``: exactly parallel
    vectors (``v' = c v``) get ``|rho| = 1`` exactly, whatever the rounding of ``uh`` and ``e``.
    Returns ``(rho, max |rho|)``; in float64 ``rho`` is computed in the buffer of ``G`` (every
    caller passes a product it does not keep).
    """
    if bk.mp:
        rho = _clip_rho(bk.exact(G * ia[:, None]), bk.one)
        big = float(np.max(np.abs(rho))) if rho.size else 0.0
    else:
        rho = np.multiply(G, ia[:, None], out=G)
        np.clip(rho, -1.0, 1.0, out=rho)
        big = float(max(rho.max(), -rho.min())) if rho.size else 0.0
    if big > 1 - NEAR_PARALLEL:
        ii, jj = np.nonzero(np.asarray(abs(rho) > 1 - NEAR_PARALLEL, dtype=bool))
        one = bk.one
        sg = np.where(np.asarray(rho[ii, jj] > 0, dtype=bool), one, -one)
        diff = A[ii] * ia[ii, None] - sg[:, None] * B[jj]
        rho[ii, jj] = sg * (one - bk.rowsq(diff) / 2)
        rho = _clip_rho(bk.exact(rho), one) if bk.mp else np.clip(rho, -1.0, 1.0, out=rho)
        big = float(np.max(np.abs(rho)))
    return rho, big


# --------------------------------------------------------------------------------------------
# input checks


def _as_mp_array(x: Any, name: str, ndim: int) -> np.ndarray:
    """Object array of mpf from numbers, strings or mpf; CompverifyError naming bad entries."""
    try:
        arr = np.array(x, dtype=object)
    except (TypeError, ValueError) as exc:  # pragma: no cover - ragged input
        raise CompverifyError(f"{name} must be an array of real numbers ({exc})") from None
    if arr.ndim != ndim:
        raise CompverifyError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        try:
            v = mpmath.mpf(arr[idx])
        except (TypeError, ValueError):
            raise CompverifyError(
                f"{name} has a non-real entry at index {idx}: {arr[idx]!r}") from None
        if not mpmath.isfinite(v):
            raise CompverifyError(f"{name} has a non-finite entry at index {idx}: {v}")
        out[idx] = v
    return out


def _finite_float(x, name, ndim):
    """float64 array checked by :func:`compverify.validate.check_finite_array`.

    Fast path for big arrays: one sum (NaN and +-inf propagate through it) instead of an
    elementwise mask; the full check (which names the bad entry) runs only if the sum is not finite.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == ndim:
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(x.sum()):
                return x
    return check_finite_array(x, name, ndim=ndim)


def _check_matrix(x, name, mp):
    if mp:
        return _as_mp_array(x, name, 2)
    return _finite_float(x, name, 2)


def _check_vector(x, name, mp):
    if mp:
        return _as_mp_array(x, name, 1)
    return _finite_float(x, name, 1)


def _check_jobs(jobs):
    """Threads for :func:`cross_term`; ``None`` means :func:`default_jobs`."""
    if jobs is None:
        return default_jobs()
    return check_positive_int(jobs, "jobs")


def default_jobs() -> int:
    """The threads a float64 kernel sum uses when not told: one per CPU this process may use, each
    with one BLAS thread (measured fastest, see ``bench/bench_loss.py``); 1 inside a worker process
    of a multiprocessing pool, whose processes already share the CPUs out."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


_BLAS = None


def _one_blas_thread():
    """A context with BLAS limited to one thread per call (threadpoolctl), for threaded sums."""
    global _BLAS
    from threadpoolctl import ThreadpoolController

    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _check_nonempty(arr, name):
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise CompverifyError(f"{name} must be non-empty, got shape {arr.shape}")


def _check_pair(coef, mat, cname, mname):
    _check_nonempty(mat, mname)
    if coef.shape[0] != mat.shape[0]:
        raise CompverifyError(
            f"{cname} has length {coef.shape[0]} but {mname} has {mat.shape[0]} rows")


def _check_order(order: Any) -> int:
    if isinstance(order, bool) or order not in (0, 1, 2):
        raise CompverifyError(f"order must be 0, 1 or 2, got {order!r}")
    return int(order)


def _check_zero_rows(zero, order, degree, name="V"):
    """Derivatives at a zero row exist (and are 0) only for homogeneity degree > order."""
    if order == 0 or not zero.any():
        return
    j = int(np.flatnonzero(zero)[0])
    if degree is None or degree <= order:
        what = "not positively homogeneous" if degree is None else f"homogeneous of degree {degree}"
        raise CompverifyError(
            f"{name} row {j} has zero norm: derivatives of order {order} at a zero neuron are "
            f"defined only for positively homogeneous activations of degree > {order} (this "
            f"activation is {what}); move v_{j} off 0 or ask for order 0")


def _check_finite(bk, arr, what):
    if arr is None:
        return
    fin = bk.isfinite(arr) if isinstance(arr, np.ndarray) else bk.isfinite(np.asarray([arr]))
    if not np.all(fin):
        idx = tuple(int(i) for i in np.argwhere(~np.asarray(fin))[0])
        raise CompverifyError(
            f"{what} is not finite at index {idx}: the kernel or its partials are not finite "
            f"there (a zero or tiny norm, an overflow, or a kernel not differentiable at "
            f"rho = +-1)")


def _check_parallel(bk, kr, par, what):
    """k_rho must be finite where |rho| = 1 for the derivative to exist."""
    if par.any():
        bad = par & ~bk.isfinite(kr)
        if bad.any():
            i, j = (int(t) for t in np.argwhere(bad)[0])
            raise CompverifyError(
                f"{what} pair ({i}, {j}) is exactly (anti)parallel and k_rho is not finite at "
                f"rho = +-1: the loss is not differentiable there")


def _norms(bk, X):
    n = bk.sqrt(bk.rowsq(X))
    zero = np.asarray(n == 0, dtype=bool)
    one = bk.one
    safe = _where(zero, one, n)
    inv = bk.exact(_where(zero, bk.zero, one / safe))
    return n, zero, safe, inv


# --------------------------------------------------------------------------------------------
# kernel matrix and constant term


def _kernel_matrix_core(bk, U, V, block):
    nu, _, _, iu = _norms(bk, U)
    if V is None:
        nv, iv, Vs = nu, iu, U
    else:
        nv, _, _, iv = _norms(bk, V)
        Vs = V
    Eh = Vs * iv[:, None]
    out = []
    for s in range(0, U.shape[0], block):
        Ub = U[s:s + block]
        rho, _ = _cosines(bk, Ub @ Eh.T, Ub, iu[s:s + block], Eh)
        if V is None:
            rows = np.arange(rho.shape[0])
            rho[rows, s + rows] = 1  # K(v, v) = k(|v|, |v|, 1) exactly
        out.append(bk.value(nu[s:s + block, None], nv[None, :], rho))
    K = np.concatenate(out, axis=0)
    _check_finite(bk, K, "kernel matrix")
    return K


def kernel_matrix(kernel: Any, U: Any, V: Any = None, *, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """``K(u_i, v_j)`` for the rows of ``U`` (n, d) and ``V`` (m, d); ``V=None`` means ``V = U``.

    With ``V=None`` the diagonal is ``k(|u_i|, |u_i|, 1)`` exactly (no rounding in rho).  Zero rows
    use ``rho = 0``.  float64 ``(n, m)`` array.
    """
    kern, _ = resolve_kernel(kernel)
    block = check_positive_int(block, "block")
    U = check_finite_array(U, "U", ndim=2)
    _check_nonempty(U, "U")
    if V is not None:
        V = check_finite_array(V, "V", ndim=2, shape=(None, U.shape[1]))
        _check_nonempty(V, "V")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _kernel_matrix_core(_Float(kern), U, V, block)


def kernel_matrix_mp(kernel: Any, U: Any, V: Any = None, *, dps: int = 30) -> np.ndarray:
    """mpmath variant of :func:`kernel_matrix`: object array of mpf at ``dps`` digits."""
    kern, _ = resolve_kernel(kernel)
    dps = check_dps(dps)
    bk = _MP(kern, dps)
    with mpmath.workdps(bk.work):
        U = _as_mp_array(U, "U", 2)
        _check_nonempty(U, "U")
        if V is not None:
            V = _as_mp_array(V, "V", 2)
            _check_nonempty(V, "V")
            if V.shape[1] != U.shape[1]:
                raise CompverifyError(
                    f"V must have {U.shape[1]} columns like U, got shape {V.shape}")
        K = _kernel_matrix_core(bk, U, V, max(U.shape[0], 1))
    return bk.out(K)


def _constant_core(bk, a, W, block):
    nw, _, _, iw = _norms(bk, W)
    Eh = W * iw[:, None]
    N = W.shape[0]
    total = bk.zeros(())[()] if bk.mp else 0.0
    for s in range(0, N, block):
        for t in range(s, N, block):
            Es = Eh[s:s + block]
            rho, _ = _cosines(bk, Es @ Eh[t:t + block].T, Es, np.ones(len(Es)), Eh[t:t + block])
            if s == t:
                rows = np.arange(rho.shape[0])
                rho[rows, rows] = 1
            Kst = bk.value(nw[s:s + block, None], nw[None, t:t + block], rho, reuse=True)
            _check_finite(bk, Kst, "target kernel K(w_i, w_i')")
            part = a[s:s + block] @ Kst @ a[t:t + block]
            total = total + (part if s == t else 2 * part)
    return total


def constant_term(kernel: Any, a: Any, W: Any, *, block: int = CONSTANT_TILE) -> float:
    """``C_N = sum_{i,i'} a_i a_i' K(w_i, w_i')``, the target's own term, blockwise.

    Cost ``O(N^2 d)`` time, ``O(block^2)`` memory (``block`` the side of a square tile): feasible
    up to ``N`` of a few times 10^4; for
    larger ``N`` it is the constant that :func:`compverify.numeric.loss.population_loss` can skip.
    """
    kern, _ = resolve_kernel(kernel)
    block = check_positive_int(block, "block")
    W = check_finite_array(W, "W", ndim=2)
    a = check_finite_array(a, "a", ndim=1)
    _check_pair(a, W, "a", "W")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(_constant_core(_Float(kern), a, W, block))


def constant_term_mp(kernel: Any, a: Any, W: Any, *, dps: int = 30):
    """mpmath variant of :func:`constant_term` (an mpf at ``dps`` digits)."""
    kern, _ = resolve_kernel(kernel)
    dps = check_dps(dps)
    bk = _MP(kern, dps)
    with mpmath.workdps(bk.work):
        W = _as_mp_array(W, "W", 2)
        a = _as_mp_array(a, "a", 1)
        _check_pair(a, W, "a", "W")
        c = _constant_core(bk, a, W, W.shape[0])
    return bk.out(c)


# --------------------------------------------------------------------------------------------
# cross term h(v_j) = sum_i a_i K(w_i, v_j)


def _cross_block(bk, ab, Wb, E, NV, NVs, nvs, order):
    """Partial sums of one block of target rows; returned in a fixed order for accumulation."""
    nw, _, _, iw = _norms(bk, Wb)
    if bk.mp:
        G = Wb @ E.T
    else:  # the block's products in the thread's buffers, reused by its next block
        G = np.matmul(Wb, E.T, out=bk.scratch("G", (Wb.shape[0], E.shape[0])))
    rho, max_rho = _cosines(bk, G, Wb, iw, E)
    NU = nw[:, None]
    if order == 0:
        k = bk.value(NU, NV, rho, reuse=True)
        return max_rho, (ab @ k,)
    k, _knu, knv, kr = bk.grad(NU, NV, rho, reuse=True)
    par = None
    if max_rho == 1:  # exactly (anti)parallel pairs: p = 0 there
        par = np.asarray(abs(rho) == 1, dtype=bool)
        _check_parallel(bk, kr, par, "(w_i, v_j)")
    krp = kr if par is None else _where(par, bk.zero, kr)  # k_rho where it multiplies p
    aw = ab * iw
    if bk.mp:
        out = [ab @ k, ab @ knv - (ab @ (krp * rho)) / nvs, (aw[:, None] * krp).T @ Wb]
    else:
        t = bk.scratch("t", rho.shape)
        out = [ab @ k, ab @ knv - (ab @ np.multiply(krp, rho, out=t)) / nvs,
               np.multiply(krp, aw[:, None], out=t).T @ Wb]
    if order >= 2:
        M = E.shape[0]
        _k11, _k12, _k1r, k22, k2r, krr = bk.hess(NU, NV, rho, reuse=True)
        beta = k2r - kr / NVs
        gam = krr
        if par is not None:
            beta = _where(par, bk.zero, beta)
            gam = _where(par, bk.zero, gam)
        Uh = Wb * iw[:, None]
        c = ab[:, None] * gam
        Gg = bk.zeros((M, E.shape[1], E.shape[1]))
        for j in range(M):
            P = (Uh - rho[:, j, None] * E[j][None, :]) / nvs[j]
            Gg[j] = (P * c[:, j, None]).T @ P
        out += [ab @ k22, ab @ (knv / NVs - kr * rho / (NVs * NVs)),
                (aw[:, None] * beta).T @ Wb, ab @ (beta * rho), Gg]
    return max_rho, tuple(out)


def _cross_core(bk, a, W, V, order, block, degree, jobs=1):
    M, d = V.shape
    nv, zero_v, nvs, iv = _norms(bk, V)
    _check_zero_rows(zero_v, order, degree)
    E = V * iv[:, None]
    NV = nv[None, :]
    NVs = nvs[None, :]
    starts = range(0, W.shape[0], block)

    def run(s):
        return _cross_block(bk, a[s:s + block], W[s:s + block], E, NV, NVs, nvs, order)

    acc = None
    max_rho = 0.0

    def add(res):
        nonlocal acc, max_rho
        m, parts = res
        max_rho = max(max_rho, m)
        acc = parts if acc is None else tuple(x + y for x, y in zip(acc, parts, strict=True))

    if jobs > 1 and len(starts) > 1 and not bk.mp:
        from concurrent.futures import ThreadPoolExecutor

        # waves of `jobs` blocks, added in block order: deterministic, memory O(jobs * block * M);
        # one BLAS thread per worker: `jobs` threads each waking a multi-threaded BLAS
        # oversubscribe the cores (measured on a busy 2-core machine: 10.6-14.2 s instead of 0.6 s)
        with _one_blas_thread(), ThreadPoolExecutor(max_workers=jobs) as pool:
            for w in range(0, len(starts), jobs):
                for fut in [pool.submit(run, s) for s in starts[w:w + jobs]]:
                    add(fut.result())
    else:
        for s in starts:
            add(run(s))
    h = acc[0]
    dh = d2h = None
    if order >= 1:
        ce, S = acc[1], acc[2]
        dh = ce[:, None] * E + S / nvs[:, None]
    if order >= 2:
        Aa, Ad, Sb, cbr, Gg = acc[3:]
        sv = (Sb - cbr[:, None] * E) / nvs[:, None]
        EE = E[:, :, None] * E[:, None, :]
        SE = sv[:, :, None] * E[:, None, :]
        d2h = (Aa[:, None, None] * EE + SE + np.swapaxes(SE, 1, 2) + Gg
               + Ad[:, None, None] * (bk.eye(d)[None, :, :] - EE))
    if order >= 1 and zero_v.any():  # the homogeneous limit (checked above): derivatives are 0
        dh[zero_v] = bk.zero
        if d2h is not None:
            d2h[zero_v] = bk.zero
    for arr, what in ((h, "h(v_j)"), (dh, "dh/dv_j"), (d2h, "d2h/dv_j^2")):
        _check_finite(bk, arr, what)
    return CrossTerm(h, dh, d2h), max_rho


def _validate_cross(a, W, V, mp):
    W = _check_matrix(W, "W", mp)
    a = _check_vector(a, "a", mp)
    V = _check_matrix(V, "V", mp)
    _check_pair(a, W, "a", "W")
    _check_nonempty(V, "V")
    if V.shape[1] != W.shape[1]:
        raise CompverifyError(
            f"V must have d = {W.shape[1]} columns like W, got shape {V.shape}")
    return a, W, V


def cross_term(kernel: Any, a: Any, W: Any, V: Any, *, order: int = 0,
               block: int = DEFAULT_BLOCK, jobs: int | None = None) -> CrossTerm:
    """``h_N(v_j) = sum_i a_i K(w_i, v_j)`` and its derivatives in each row ``v_j`` (float64).

    ``a`` (N,), ``W`` (N, d), ``V`` (M, d); ``order`` 0, 1 or 2.  ``W`` is processed ``block`` rows
    at a time, so memory is ``O(jobs * block * M + M d^2)`` for any ``N``; cost ``O(N M d)`` (order
    <= 1, two matrix products per block) or ``O(N M d^2)`` (order 2).  ``jobs`` threads work on
    consecutive blocks (numpy releases the GIL); partial sums are added in block order, so the
    result does not depend on ``jobs``.  ``None`` (the default) is :func:`default_jobs`: one
    thread per usable CPU.  With more than one thread, BLAS is limited to one thread per call
    while the sum runs (threadpoolctl): concurrent calls into a multi-threaded OpenBLAS contend.
    Each thread reuses its own buffers from block to block.

    >>> import numpy as np
    >>> class Lin:   # sigma(z) = z: K(u, v) = <u, v> = nu nv rho
    ...     def value(self, nu, nv, rho): return nu * nv * rho
    ...     def grad(self, nu, nv, rho): return nu * nv * rho, nv * rho, nu * rho, nu * nv
    >>> a, W, V = np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[3.0, 4.0]])
    >>> ct = cross_term(Lin(), a, W, V, order=1)      # h(v) = <a W, v>, dh/dv = a W
    >>> ct.h, ct.dh
    (array([11.]), array([[1., 2.]]))
    """
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    block = check_positive_int(block, "block")
    jobs = _check_jobs(jobs)
    a, W, V = _validate_cross(a, W, V, False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ct, _ = _cross_core(_Float(kern), a, W, V, order, block, degree, jobs)
    return ct


def cross_term_mp(kernel: Any, a: Any, W: Any, V: Any, *, order: int = 0,
                  dps: int = 30) -> CrossTerm:
    """mpmath variant of :func:`cross_term`: object arrays of mpf at ``dps`` digits.

    Inputs may be floats, integers, decimal strings or mpf (strings keep all their digits).
    """
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    dps = check_dps(dps)
    bk = _MP(kern, dps)
    with mpmath.workdps(bk.work):
        a, W, V = _validate_cross(a, W, V, True)
        ct, _ = _cross_core(bk, a, W, V, order, W.shape[0], degree)
    return CrossTerm(*(None if x is None else bk.out(x) for x in ct))


# --------------------------------------------------------------------------------------------
# self term S(b, V) = sum_{j,j'} b_j b_j' K(v_j, v_j')


def _self_core(bk, b, V, order, degree):
    M, d = V.shape
    n, zero, ns, inv = _norms(bk, V)
    _check_zero_rows(zero, order, degree)
    E = V * inv[:, None]
    one = bk.one
    R, _ = _cosines(bk, E @ E.T, E, np.ones(M), E)  # rows of E are unit (or zero)
    diag = np.arange(M)
    R[diag, diag] = one  # K(v, v) = k(|v|, |v|, 1): rho = 1 exactly on the diagonal
    NU, NV = n[:, None], n[None, :]
    off = ~np.eye(M, dtype=bool)
    max_rho = float(np.max(np.abs(R[off]))) if M > 1 else 0.0
    if order == 0:
        K = bk.value(NU, NV, R)
        _check_finite(bk, K, "K(v_j, v_j')")
        return SelfTerm(K, b @ K @ b), max_rho
    K, knu, knv, kr = bk.grad(NU, NV, R)
    _check_finite(bk, K, "K(v_j, v_j')")
    par = np.asarray(abs(R) == 1, dtype=bool) & off
    _check_parallel(bk, kr, par, "(v_j, v_j')")
    zero_o = bk.zero
    krp = _where(par | ~off, zero_o, kr)      # k_rho where it multiplies p (0 on the diagonal)
    knv_o = _where(off, knv, zero_o)
    phi1 = (knu + knv)[diag, diag]              # phi'(|v|) for K(v, v) = phi(|v|)
    nsr = ns[None, :, None]
    # g[l, j] = d/dv_j K(v_l, v_j) for l != j (0 on the diagonal)
    g = (knv_o[:, :, None] * E[None, :, :]
         + krp[:, :, None] * (E[:, None, :] - R[:, :, None] * E[None, :, :]) / nsr)
    bg = (b[:, None, None] * g).sum(axis=0)     # sum_l b_l g[l, j]
    value = b @ K @ b
    grad_b = 2 * (K @ b)
    grad_V = 2 * b[:, None] * bg + (b * b * phi1)[:, None] * E
    if order == 1:
        gv = grad_V
        if zero.any():
            gv[zero] = bk.zero
        _check_finite(bk, grad_V, "dS/dV")
        return SelfTerm(K, value, grad_b, gv), max_rho
    k11, k12, k1r, k22, k2r, krr = bk.hess(NU, NV, R)
    hide = par | ~off
    I = bk.eye(d)
    phi2 = (k11 + 2 * k12 + k22)[diag, diag]
    # second-argument Hessians d2/dv_j^2 K(v_m, v_j), m != j, weighted by b_m:
    #   alpha e e' + beta (e p' + p e') + gam p p' + delta (I - e e'),  p = p[m, j]
    alpha = _where(off, k22, zero_o)
    beta = _where(hide, zero_o, k2r - kr / NV)
    gam = _where(hide, zero_o, krr)
    delta = _where(off, knv / NV - kr * R / (NV * NV), zero_o)
    P = (E[:, None, :] - R[:, :, None] * E[None, :, :]) / nsr  # p[m, j] = d rho/dv_j  (M, M, d)
    # mixed blocks d2/dv_j dv_l' K(v_j, v_l), j != l (u = v_j, v = v_l): coefficients at [j, l]
    c12 = _where(off, k12, zero_o)
    c2r = _where(hide, zero_o, k2r)
    c1r = _where(hide, zero_o, k1r)
    crr = _where(hide, zero_o, krr)
    cr = _where(off, kr / (NU * NV), zero_o)
    Q = (E[None, :, :] - R[:, :, None] * E[:, None, :]) / ns[:, None, None]  # d rho/dv_j at [j, l]
    EE = E[:, :, None] * E[:, None, :]                         # (M, d, d)
    hess_VV = bk.zeros((M, d, M, d))
    for j in range(M):  # one block row at a time: memory O(M d^2)
        Ej = E[j]
        ejej = EE[j]
        Pj = P[:, j]                                           # (M, d) over m
        sj = (b * beta[:, j]) @ Pj
        es = Ej[:, None] * sj[None, :]
        # array * scalar, never mpf * array: mpf.__mul__ first tries to convert the array,
        # and mpmath's failed conversion formats the whole array into its error message
        diag_block = (ejej * (b @ alpha[:, j]) + es + es.T
                      + (Pj * (b * gam[:, j])[:, None]).T @ Pj
                      + (I - ejej) * (b @ delta[:, j])) * (2 * b[j])
        diag_block = diag_block + (ejej * phi2[j] + (I - ejej) * (phi1[j] / ns[j])) * (b[j] * b[j])
        El = E[:, None, :]                                     # E_l as columns, over l
        ej_el = Ej[None, :, None] * El                         # E_j E_l'  (M, d, d)
        Qj, Pjl = Q[j], P[j]                                   # (M, d) over l
        Xj = (c12[j][:, None, None] * ej_el
              + c2r[j][:, None, None] * (Qj[:, :, None] * El)
              + c1r[j][:, None, None] * (Ej[None, :, None] * Pjl[:, None, :])
              + crr[j][:, None, None] * (Qj[:, :, None] * Pjl[:, None, :])
              + cr[j][:, None, None] * (I[None] - ejej[None] - EE + R[j][:, None, None] * ej_el))
        row = (2 * b[j] * b)[:, None, None] * Xj               # (l, a, c)
        row[j] = diag_block
        hess_VV[j] = row.transpose(1, 0, 2)                    # (a, l, c)
    # hess_bV[j, l] = d2S/db_j dv_l
    hess_bV = 2 * b[None, :, None] * g   # 2 b_l g[j, l] (l != j)
    hess_bV[diag, diag] = 2 * bg + 2 * (b * phi1)[:, None] * E
    hess_bb = 2 * K
    gv = grad_V
    if zero.any():  # the homogeneous limit (checked above): derivatives in a zero row are 0
        gv[zero] = bk.zero
        hess_bV[:, zero] = bk.zero
        hess_VV[zero] = bk.zero
        hess_VV[:, :, zero] = bk.zero
    for arr, what in ((gv, "dS/dV"), (hess_bV, "d2S/db dV"), (hess_VV, "d2S/dV2")):
        _check_finite(bk, arr, what)
    return SelfTerm(K, value, grad_b, gv, hess_bb, hess_bV, hess_VV), max_rho


def _validate_self(b, V, mp):
    b = _check_vector(b, "b", mp)
    V = _check_matrix(V, "V", mp)
    _check_pair(b, V, "b", "V")
    return b, V


def self_term(kernel: Any, b: Any, V: Any, *, order: int = 0) -> SelfTerm:
    """``S(b, V) = sum_{j,j'} b_j b_j' K(v_j, v_j')`` with gradient and Hessian blocks (float64).

    ``b`` (M,), ``V`` (M, d).  Diagonal terms are differentiated as functions of one vector
    (``K(v, v) = k(|v|, |v|, 1)``).  Memory ``O(M^2 d^2)`` for order 2.

    >>> import numpy as np
    >>> class Lin:   # sigma(z) = z: S = |V' b|^2, dS/dV = 2 b (V' b)'
    ...     def value(self, nu, nv, rho): return nu * nv * rho
    ...     def grad(self, nu, nv, rho): return nu * nv * rho, nv * rho, nu * rho, nu * nv
    >>> st = self_term(Lin(), np.array([1.0, -1.0]), np.array([[1.0, 0.0], [1.0, 1.0]]), order=1)
    >>> round(float(st.value), 12), st.grad_V.round(12).tolist()
    (1.0, [[0.0, -2.0], [0.0, 2.0]])
    """
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    b, V = _validate_self(b, V, False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        st, _ = _self_core(_Float(kern), b, V, order, degree)
    return st._replace(value=float(st.value))


def self_term_mp(kernel: Any, b: Any, V: Any, *, order: int = 0, dps: int = 30) -> SelfTerm:
    """mpmath variant of :func:`self_term` (object arrays of mpf at ``dps`` digits)."""
    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    dps = check_dps(dps)
    bk = _MP(kern, dps)
    with mpmath.workdps(bk.work):
        b, V = _validate_self(b, V, True)
        st, _ = _self_core(bk, b, V, order, degree)
    return SelfTerm(*(None if x is None else bk.out(x) for x in st))


def has_ball(kernel: Any) -> bool:
    """Whether the kernel can be summed in ball arithmetic (it offers ``partials_arb``)."""
    kern, _ = resolve_kernel(kernel)
    return hasattr(kern, "partials_arb")


def _ball_array(x, name, ndim):
    """Object array of exact arb from numbers, strings, mpf or arb; CompverifyError if bad."""
    from compverify.numeric.arb_arrays import to_arb

    arr = np.asarray(x, dtype=object)
    if arr.ndim != ndim:
        raise CompverifyError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        try:
            v = to_arb(arr[idx])
        except (TypeError, ValueError):
            raise CompverifyError(
                f"{name} has a non-real entry at index {idx}: {arr[idx]!r}") from None
        if not v.is_finite():
            raise CompverifyError(f"{name} has a non-finite entry at index {idx}: {v}")
        out[idx] = v
    return out


def self_term_ball(kernel: Any, b: Any, V: Any, *, order: int = 0, dps: int = 30) -> SelfTerm:
    """Ball-arithmetic variant of :func:`self_term_mp`: object arrays of exact ``arb`` (the
    midpoints) carrying ``dps`` digits, computed with ``GUARD_DPS`` more.

    Same formulas as :func:`self_term_mp`, on python-flint balls (:class:`_Ball`), at about a
    twentieth of its cost; ``b`` and ``V`` may hold floats, decimal strings, mpf or arb.  The
    kernel must offer ``partials_arb`` (:func:`has_ball`).  Convert with
    :func:`compverify.numeric.arb_arrays.to_mpf_array`.
    """
    from compverify.numeric.arb_arrays import arb_prec, bits_for

    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    dps = check_dps(dps)
    bk = _Ball(kern, dps)
    with arb_prec(bits_for(bk.work)):
        b, V = _ball_array(b, "b", 1), _ball_array(V, "V", 2)
        _check_pair(b, V, "b", "V")
        st, _ = _self_core(bk, b, V, order, degree)
        return SelfTerm(*(None if x is None else bk.out(x) for x in st))


def cross_term_ball(kernel: Any, a: Any, W: Any, V: Any, *, order: int = 0,
                    dps: int = 30) -> CrossTerm:
    """Ball-arithmetic variant of :func:`cross_term_mp` (object arrays of exact ``arb``)."""
    from compverify.numeric.arb_arrays import arb_prec, bits_for

    kern, degree = resolve_kernel(kernel)
    order = _check_order(order)
    dps = check_dps(dps)
    bk = _Ball(kern, dps)
    with arb_prec(bits_for(bk.work)):
        a, W, V = _ball_array(a, "a", 1), _ball_array(W, "W", 2), _ball_array(V, "V", 2)
        _check_pair(a, W, "a", "W")
        _check_nonempty(V, "V")
        if V.shape[1] != W.shape[1]:
            raise CompverifyError(
                f"V must have d = {W.shape[1]} columns like W, got shape {V.shape}")
        ct, _ = _cross_core(bk, a, W, V, order, W.shape[0], degree)
        return CrossTerm(*(None if x is None else bk.out(x) for x in ct))
