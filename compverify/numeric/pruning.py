r"""Pruning a two-layer network and its exact population loss (SPEC Part B).

The network ``f(x) = sum_i a_i sigma(<w_i, x>)`` (``a`` (N,), ``W`` (N, d)), ``x ~ N(0, I_d)``, is
pruned to ``f~(x) = sum_i b_i sigma(<w~_i, x>)``: first-layer entries zeroed (``w~_i = w_i`` on
the retained ``mask``, 0 elsewhere; ``b = a``), or whole neurons removed (``b_i = 0``).  Its
accuracy loss is an exact kernel sum (SPEC A2)::

    E (f - f~)^2 = sum_{i,j} a_i a_j K(w_i, w_j) - 2 sum_{i,j} a_i b_j K(w_i, w~_j)
                   + sum_{i,j} b_i b_j K(w~_i, w~_j)

(:class:`LossEvaluator`, through :func:`compverify.numeric.loss.population_loss`), never an
average over sampled ``x``; removing the neurons ``R`` costs exactly ``a_R' K(W_R) a_R``.

Methods (:data:`METHODS`), each iterated ``steps`` times on what is left:

* ``sap`` -- the adaptive rule: in each group (scope ``neuron``: one row of ``W``; ``layer`` and
  ``global``: all retained first-layer entries, which coincide here because the first layer is the
  only pruned layer) with ``n`` retained entries, PQ index ``I`` and retained bound ``r``
  (:mod:`compverify.numeric.pq_index`), prune the ``c = floor(n clamp(gamma (1 - r/n), 0, beta))``
  entries of smallest magnitude (``c`` computed in exact rational arithmetic);
* ``magnitude`` -- ``torch.nn.utils.prune.l1_unstructured`` conventions: prune
  ``round(rate * n)`` of the currently unpruned entries of smallest magnitude (Python's ``round``,
  half to even, on the float product, as torch's ``_compute_nparams_toprune``), per group of the
  scope (``global``/``layer``: ``global_unstructured`` over the layer; ``neuron``: each row);
  ties: torch leaves the order of equal magnitudes to ``torch.topk``, which does not specify it;
  here the entry with the lower row-major index is pruned first (a stable sort);
* ``random`` -- the same counts, entries drawn uniformly (``random_unstructured``), seeded per step;
* ``neurons`` -- remove ``round(rate * alive)`` whole neurons per step, greedily, each time the one
  whose removal increases the exact loss least (``L(R + i) = L(R) + 2 a_i (K a_R)_i + a_i^2 K_ii``);
* ``neurons-norm`` -- the same counts, removing the smallest ``|a_i| ||w_i||_2``.

float64 losses carry an a-priori rounding bound (``error``, :meth:`LossEvaluator.loss`); the
mpmath loss (:meth:`LossEvaluator.loss_mp`) is computed at ``dps`` and ``dps + 10`` digits and
carries the digits on which they agree.

On a Dask cluster (:func:`run_pruning_on`): a run's states form a chain (step ``k`` prunes what
step ``k - 1`` left), so they are computed one after the other in the calling process, which is
cheap (sorts and PQ indices); what costs is each step's exact loss, and the steps' losses are
independent given their states, so those are the cluster's tasks, every method's steps at once.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, W = np.full(4, 0.25), rng.standard_normal((4, 3))
>>> run = run_pruning("relu", a, W, make_params("magnitude", scope="global", rate="0.5", steps=1))
>>> [s.retained for s in run.steps]
[12, 6]
"""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from compverify.cluster import one_blas_thread
from compverify.display import TableDisplay
from compverify.errors import ComputationFailed, CompverifyError
from compverify.numeric.kernel_sums import constant_term, kernel_matrix
from compverify.numeric.loss import population_loss, population_loss_mp
from compverify.numeric.pq_index import check_eta, row_sparsity
from compverify.symbolic.lq_moments import (
    agreeing_digits,
    check_pq,
    fraction_str,
    parse_exponent,
)
from compverify.validate import check_dps, check_finite_array, check_positive_int

__all__ = ["METHODS", "SCOPES", "PruneParams", "make_params", "check_network", "PruneState",
           "Pruner", "ExactLoss", "LossEvaluator", "StepRecord", "PruneRun", "run_pruning",
           "pruned_arrays", "mask_at_count", "losses_at_counts", "encode_state", "decode_state",
           "torch_count", "step_name", "step_record", "prune_states", "run_pruning_on",
           "baseline_loss"]

METHODS = ("sap", "magnitude", "random", "neurons", "neurons-norm")
SCOPES = ("neuron", "layer", "global")
_EPS = float(np.finfo(float).eps)
#: Rounding allowance of one float64 kernel value, in ulps of ``sqrt(K(u,u) K(v,v))``
#: (:class:`LossEvaluator`).
KERNEL_ULPS = 1000


def torch_count(rate: Fraction | float, n: int) -> int:
    """Entries to prune: ``round(rate * n)`` on the float product (torch's convention).

    >>> torch_count(0.5, 5), torch_count(0.5, 7), torch_count(0.3, 5)
    (2, 4, 2)
    """
    return int(round(float(rate) * n))


@dataclass(frozen=True)
class PruneParams:
    """A pruning method and its parameters (exact fractions; see the module docstring)."""

    method: str
    scope: str
    p: Fraction
    q: Fraction
    eta: Fraction
    gamma: Fraction
    beta: Fraction
    rate: Fraction
    steps: int
    seed: int

    @property
    def label(self) -> str:
        """``method`` or ``method-scope`` for the entry methods (a file-name-safe label)."""
        return self.method if self.method.startswith("neurons") else f"{self.method}-{self.scope}"

    def to_dict(self) -> dict:
        f = fraction_str
        return {"method": self.method, "scope": self.scope, "p": f(self.p), "q": f(self.q),
                "eta": f(self.eta), "gamma": f(self.gamma), "beta": f(self.beta),
                "rate": f(self.rate), "steps": self.steps, "seed": self.seed}


def make_params(method: str, *, scope: str = "neuron", p: Any = "0.5", q: Any = "1",
                eta: Any = "0", gamma: Any = "1", beta: Any = "0.9", rate: Any = "0.2",
                steps: Any = 5, seed: Any = 0) -> PruneParams:
    """Validated :class:`PruneParams`: ``0 < p < q``, ``eta >= 0``, ``gamma > 0``,
    ``0 < beta < 1``, ``0 < rate < 1``, ``steps >= 1``; :class:`CompverifyError` names a bad value.
    """
    if method not in METHODS:
        raise CompverifyError(f"unknown pruning method {method!r}; expected one of "
                              f"{', '.join(METHODS)}")
    if scope not in SCOPES:
        raise CompverifyError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    pe, qe = check_pq(p, q)
    ee = check_eta(eta)
    ge = parse_exponent(gamma, "gamma")
    if ge <= 0:
        raise CompverifyError(f"gamma must be > 0, got {gamma}")
    be = parse_exponent(beta, "beta")
    if not (0 < be < 1):
        raise CompverifyError(f"beta must be in (0, 1), got {beta}")
    re_ = parse_exponent(rate, "rate")
    if not (0 < re_ < 1):
        raise CompverifyError(f"rate must be in (0, 1), got {rate}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise CompverifyError(f"steps must be an integer >= 1, got {steps!r}")
    seed = check_positive_int(seed, "seed", minimum=0)
    return PruneParams(method, scope, pe, qe, ee, ge, be, re_, int(steps), seed)


def check_network(a: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(a, W)`` as float64 arrays; NaN/inf, mismatched shapes and all-zero neurons refused."""
    W = check_finite_array(W, "W", ndim=2)
    a = check_finite_array(a, "a", ndim=1)
    if a.shape[0] != W.shape[0]:
        raise CompverifyError(f"a has length {a.shape[0]} but W has {W.shape[0]} rows")
    if W.shape[0] < 1 or W.shape[1] < 1:
        raise CompverifyError(f"W must have at least one row and column, got shape {W.shape}")
    zero = np.flatnonzero(~np.any(W != 0, axis=1))
    if zero.size:
        raise CompverifyError(f"neuron {int(zero[0])} has an all-zero weight vector (row "
                              f"{int(zero[0])} of W); its PQ index is undefined: remove it first")
    return a, W


@dataclass(frozen=True)
class PruneState:
    """Retained first-layer entries ``mask`` (N, d) and kept neurons ``alive`` (N,)."""

    mask: np.ndarray
    alive: np.ndarray


def encode_state(state: PruneState) -> dict:
    """Compact, exact JSON-ready form of a state (bit-packed, base64)."""
    return {"shape": list(state.mask.shape),
            "mask": base64.b64encode(np.packbits(state.mask).tobytes()).decode("ascii"),
            "alive": base64.b64encode(np.packbits(state.alive).tobytes()).decode("ascii")}


def decode_state(data: dict) -> PruneState:
    """The inverse of :func:`encode_state`."""
    N, d = data["shape"]
    mask = np.unpackbits(np.frombuffer(base64.b64decode(data["mask"]), np.uint8))[: N * d]
    alive = np.unpackbits(np.frombuffer(base64.b64decode(data["alive"]), np.uint8))[:N]
    return PruneState(mask.reshape(N, d).astype(bool), alive.astype(bool))


def _prune_smallest(absw: np.ndarray, mask: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, clear the ``counts[i]`` retained entries of smallest ``absw`` (stable by index)."""
    key = np.where(mask, absw, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(mask.shape[0])[:, None]
    ranks[rows, order] = np.arange(mask.shape[1])[None, :]
    return mask & ~(ranks < counts[:, None])


def _prune_smallest_pooled(absw: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    flat = np.flatnonzero(mask)
    if count <= 0:
        return mask.copy()
    order = flat[np.argsort(absw.ravel()[flat], kind="stable")][:count]
    out = mask.copy().ravel()
    out[order] = False
    return out.reshape(mask.shape)


def mask_at_count(W: np.ndarray, count: int, scope: str, *, rng: np.random.Generator | None
                  = None) -> np.ndarray:
    """The magnitude mask (or random, with ``rng``) keeping exactly ``count`` entries of ``W``.

    ``scope`` ``layer``/``global``: the ``count`` largest ``|w|`` of the layer; ``neuron``: the
    uniform rate per neuron: each row keeps ``m = count // N`` entries, and the ``count - m N``
    rows whose ``(m+1)``-th largest magnitude is largest keep one more.
    """
    N, d = W.shape
    absw = np.abs(W)
    full = np.ones((N, d), bool)
    if not 0 <= count <= N * d:
        raise CompverifyError(f"count must be in [0, {N * d}], got {count}")
    if rng is not None:
        out = np.zeros(N * d, bool)
        if scope == "neuron":
            m, extra = divmod(count, N)
            rows_extra = rng.choice(N, extra, replace=False) if extra else []
            keep = np.full(N, m)
            keep[list(rows_extra)] += 1
            out = out.reshape(N, d)
            for i in range(N):
                out[i, rng.choice(d, keep[i], replace=False)] = True
            return out
        out[rng.choice(N * d, count, replace=False)] = True
        return out.reshape(N, d)
    if scope == "neuron":
        m, extra = divmod(count, N)
        keep = np.full(N, m)
        if extra:
            srt = -np.sort(-absw, axis=1)
            nxt = srt[:, m] if m < d else np.full(N, -np.inf)
            keep[np.argsort(-nxt, kind="stable")[:extra]] += 1
        return _prune_smallest(absw, full, d - keep)
    return _prune_smallest_pooled(absw, full, N * d - count)


class Pruner:
    """One pruning method applied step by step to a fixed network (see the module docstring)."""

    def __init__(self, activation: Any, a: np.ndarray, W: np.ndarray, params: PruneParams):
        self.activation = activation
        self.a, self.W = check_network(a, W)
        self.params = params
        self.absw = np.abs(self.W)
        self._K: np.ndarray | None = None

    def initial_state(self) -> PruneState:
        N, d = self.W.shape
        return PruneState(np.ones((N, d), bool), np.ones(N, bool))

    def _sap_counts(self, n: np.ndarray, r: np.ndarray) -> np.ndarray:
        g, b = self.params.gamma, self.params.beta
        out = np.zeros(len(n), dtype=int)
        for k, (ni, ri) in enumerate(zip(n.tolist(), r.tolist(), strict=True)):
            if ni == 0:
                continue
            frac = min(max(g * Fraction(ni - ri, ni), Fraction(0)), b)
            out[k] = math.floor(frac * ni)
        return out

    def step(self, state: PruneState, k: int) -> PruneState:
        """The state after step ``k`` (1-based) applied to ``state``."""
        P = self.params
        mask, alive = state.mask, state.alive
        if P.method in ("neurons", "neurons-norm"):
            return PruneState(mask, self._remove_neurons(alive))
        pooled = P.scope in ("layer", "global")
        if P.method == "sap":
            if pooled:
                n, _, _, r = row_sparsity(self.W.ravel()[None, :], mask.ravel()[None, :],
                                          P.p, P.q, P.eta)
                c = int(self._sap_counts(n, r)[0])
                return PruneState(_prune_smallest_pooled(self.absw, mask, c), alive)
            n, _, _, r = row_sparsity(self.W, mask, P.p, P.q, P.eta)
            return PruneState(_prune_smallest(self.absw, mask, self._sap_counts(n, r)), alive)
        if pooled:
            c = torch_count(P.rate, int(mask.sum()))
            if P.method == "magnitude":
                return PruneState(_prune_smallest_pooled(self.absw, mask, c), alive)
            rng = np.random.default_rng([P.seed, k])
            flat = np.flatnonzero(mask)
            out = mask.copy().ravel()
            out[rng.choice(flat, c, replace=False)] = False
            return PruneState(out.reshape(mask.shape), alive)
        counts = np.array([torch_count(P.rate, int(m)) for m in mask.sum(axis=1)])
        if P.method == "magnitude":
            return PruneState(_prune_smallest(self.absw, mask, counts), alive)
        rng = np.random.default_rng([P.seed, k])
        out = mask.copy()
        for i in range(mask.shape[0]):
            idx = np.flatnonzero(mask[i])
            out[i, rng.choice(idx, counts[i], replace=False)] = False
        return PruneState(out, alive)

    def _remove_neurons(self, alive: np.ndarray) -> np.ndarray:
        P = self.params
        count = torch_count(P.rate, int(alive.sum()))
        alive = alive.copy()
        if count <= 0:
            return alive
        if P.method == "neurons-norm":
            score = np.abs(self.a) * np.linalg.norm(self.W, axis=1)
            cand = np.flatnonzero(alive)
            alive[cand[np.argsort(score[cand], kind="stable")[:count]]] = False
            return alive
        if self._K is None:
            self._K = kernel_matrix(self.activation, self.W)
        K, a = self._K, self.a
        removed = ~alive
        g = K[:, removed] @ a[removed]
        for _ in range(count):
            delta = 2 * a * g + a * a * np.diag(K)
            delta = np.where(alive, delta, np.inf)
            i = int(np.argmin(delta))
            alive[i] = False
            g = g + K[:, i] * a[i]
        return alive


@dataclass(frozen=True)
class ExactLoss:
    """``E (f - f~)^2`` with its precision: ``error`` (float64: a-priori rounding bound) or
    ``verified_digits`` (mpmath: agreement of ``dps`` and ``dps + 10``, relative to the loss, or
    to ``E f^2`` when the loss is below ``E f^2 10^(-dps/2)``: ``relative_to`` says which)."""

    value: Any
    relative: Any
    error: float | None
    precision: str
    verified_digits: int | None
    seconds: float
    relative_to: str = "loss"


class LossEvaluator:
    """The exact pruned loss of one network: ``C_N`` and the diagonal kernels computed once.

    float64 error bound (:meth:`loss`): with ``A = sum_i |a_i| sqrt(K(w_i, w_i))`` and ``B`` the
    same for ``(b, W~)``, every term of the three double sums is at most ``(A + B)^2`` in total
    (Cauchy-Schwarz, ``|K(u, v)| <= sqrt(K(u,u) K(v,v))``); nested sums of lengths ``N``, ``N``
    and the blocks round with at most ``gamma_n = n eps / (1 - n eps)`` of that total (Higham,
    Accuracy and Stability, 2nd ed., section 3.1), and each kernel value is taken within
    :data:`KERNEL_ULPS` ulps of ``sqrt(K(u,u) K(v,v))``:
    ``error = (gamma_{2N + blocks + 3} + KERNEL_ULPS eps) (A + B)^2``.  The allowance covers nearly
    parallel pairs (a neuron and its pruned self, ``1 - rho`` down to ``1e-8``), where ReLU's
    ``sqrt(1 - rho^2)`` loses about ``eps / sqrt(1 - rho^2)``; it was checked against the mpmath
    loss on networks pruned by entries of ``1e-3`` to ``1e-7`` of the row norm.
    """

    def __init__(self, activation: Any, a: np.ndarray, W: np.ndarray):
        self.activation = activation
        self.a, self.W = a, W
        with one_blas_thread():  # the same bits in any process (compverify.cluster)
            self.C = float(constant_term(activation, a, W))
        self._diag = self._diag_kernel(W)
        self.A = float(np.sum(np.abs(a) * np.sqrt(self._diag)))
        self._C_mp: dict[int, Any] = {}

    def __reduce__(self) -> tuple:
        """Pickled (for a cluster task) as the activation's spec and the numbers computed once:
        the receiving process rebuilds the activation from its registry and repeats nothing."""
        spec = str(getattr(self.activation, "spec", self.activation))
        return (_rebuilt_evaluator, (spec, self.a, self.W, self.C, self._diag, self.A))

    def _diag_kernel(self, V: np.ndarray) -> np.ndarray:
        from compverify.numeric.kernel_sums import resolve_kernel

        kern, _ = resolve_kernel(self.activation)
        nv = np.linalg.norm(V, axis=1)
        return np.maximum(np.asarray(kern.value(nv, nv, np.ones_like(nv)), float), 0.0)

    def loss(self, b: np.ndarray, V: np.ndarray) -> ExactLoss:
        """float64 ``E (f - f~)^2`` for ``f~ = sum b_i sigma(<v_i, x>)`` with its error bound."""
        t0 = time.perf_counter()
        with one_blas_thread():  # the same bits in any process (compverify.cluster)
            res = population_loss(self.activation, self.a, self.W, b, V, order=0,
                                  include_constant=False)
        value = self.C + float(res.theta_part)
        B = float(np.sum(np.abs(b) * np.sqrt(self._diag_kernel(V))))
        n = 2 * len(self.a) + res.n_blocks + 3
        error = (n * _EPS / (1 - n * _EPS) + KERNEL_ULPS * _EPS) * (self.A + B) ** 2
        return ExactLoss(value, value / self.C if self.C else None, error, "float64", None,
                         time.perf_counter() - t0)

    def loss_mp(self, b: np.ndarray, V: np.ndarray, dps: int) -> ExactLoss:
        """mpmath ``E (f - f~)^2`` at ``dps`` digits, checked at ``dps + 10`` (small N only)."""
        t0 = time.perf_counter()
        dps = check_dps(dps)
        vals = []
        for prec in (dps, dps + 10):
            r = population_loss_mp(self.activation, self.a, self.W, b, V, order=0,
                                   include_constant=True, dps=prec)
            vals.append((r.value, r.constant))
        (v, c), (v2, _) = vals
        with mpmath.workdps(dps + 10):
            rel = v / c if c else None
            small = abs(v) < abs(c) * mpmath.mpf(10) ** (-(dps // 2))
            if small:  # a loss of (nearly) zero: its digits are counted against E f^2
                diff = abs(v - v2)
                digits = dps if diff == 0 else max(0, min(dps, int(mpmath.floor(
                    -mpmath.log10(diff / abs(c))))))
            else:
                digits = agreeing_digits(v, v2, dps)
        with mpmath.workdps(dps):
            rel = None if rel is None else +rel
        return ExactLoss(v, rel, None, f"mpmath, {dps} digits", digits,
                         time.perf_counter() - t0, "E f^2" if small else "loss")


def _rebuilt_evaluator(spec: str, a: np.ndarray, W: np.ndarray, C: float, diag: np.ndarray,
                       A: float) -> LossEvaluator:
    from compverify.symbolic import get_activation

    ev = LossEvaluator.__new__(LossEvaluator)
    ev.activation = get_activation(spec)
    ev.a, ev.W, ev.C, ev._diag, ev.A, ev._C_mp = a, W, C, diag, A, {}
    return ev


def pruned_arrays(activation: Any, a: np.ndarray, W: np.ndarray,
                  state: PruneState) -> tuple[np.ndarray, np.ndarray]:
    """``(b, V)`` of the pruned network as a file holds it: removed neurons dropped, and rows
    pruned to zero dropped too when ``sigma(0) = 0`` (then they contribute nothing); at least one
    row is kept (``a = 0``, ``w = 0`` if nothing is left)."""
    from compverify.symbolic import get_activation

    act = get_activation(activation) if isinstance(activation, str) else activation
    V = np.where(state.mask, W, 0.0)
    keep = state.alive.copy()
    if float(np.asarray(act.numpy(np.zeros(1)), float)[0]) == 0.0:
        keep &= np.any(V != 0, axis=1)
    if not keep.any():
        return np.zeros(1), np.zeros((1, W.shape[1]))
    return a[keep].copy(), V[keep].copy()


@dataclass(frozen=True)
class StepRecord:
    """One step of a pruning run: sizes, sparsity, the exact loss and its precision.

    ``pq_index``: the PQ index of all retained first-layer entries (of kept neurons);
    ``pq_index_neuron_mean``: its mean over the neurons with retained entries;
    ``retained_bound``: ``r`` of the retained entries at the run's ``eta``.
    """

    step: int
    retained: int
    total: int
    retained_fraction: float
    neurons_kept: int
    pq_index: float
    pq_index_neuron_mean: float
    retained_bound: int
    exact_loss: Any
    exact_loss_error: float | None
    relative_loss: Any
    loss_mp: Any = None
    loss_mp_digits: int | None = None
    loss_mp_relative_to: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: Columns of a pruning run's table (:func:`prune_table_row`).
PRUNE_TABLE_HEADER = ("step", "retained", "of", "retained fraction", "neurons kept", "PQ index",
                      "exact loss", "float64 error bound", "relative loss")


def prune_table_row(r: StepRecord) -> tuple:
    """A step's row of :data:`PRUNE_TABLE_HEADER` (the loss and its error bound as computed)."""
    return (r.step, r.retained, r.total, r.retained_fraction, r.neurons_kept, r.pq_index,
            r.exact_loss, r.exact_loss_error, r.relative_loss)


@dataclass(frozen=True)
class PruneRun(TableDisplay):
    """A whole run: the method, the network, one record and one state per step (0: unpruned)."""

    params: PruneParams
    network: dict
    activation: str
    records: tuple[StepRecord, ...]
    states: tuple[PruneState, ...] = field(repr=False)
    dps: int | None = None
    C: float = 0.0

    @property
    def steps(self) -> tuple[StepRecord, ...]:
        return self.records

    def _display_tables(self) -> list:
        """One row per step: sizes, the PQ index and the exact loss with its error bound."""
        return [(f"pruning run: {self.params.label}, {self.activation}",
                 PRUNE_TABLE_HEADER, [prune_table_row(r) for r in self.records])]

    def to_dict(self) -> dict:
        return {"method": self.params.method, "label": self.params.label,
                "parameters": self.params.to_dict(), "network": self.network,
                "activation": self.activation, "dps": self.dps, "E_f2": self.C,
                "steps": [r.to_dict() for r in self.records]}


def _record(k: int, state: PruneState, a, W, ev: LossEvaluator, P: PruneParams,
            dps: int | None) -> StepRecord:
    t0 = time.perf_counter()
    eff = state.mask & state.alive[:, None]
    b = np.where(state.alive, a, 0.0)
    V = np.where(state.mask, W, 0.0)
    loss = ev.loss(b, V)
    _, idx, _, r = row_sparsity(W.ravel()[None, :], eff.ravel()[None, :], P.p, P.q, P.eta)
    n_rows, idx_rows, _, _ = row_sparsity(W, eff, P.p, P.q, P.eta)
    has = n_rows > 0
    lmp = dmp = rto = None
    if dps is not None:
        m = ev.loss_mp(b, V, dps)
        lmp, dmp, rto = m.value, m.verified_digits, m.relative_to
    retained = int(eff.sum())
    return StepRecord(k, retained, int(W.size), retained / W.size, int(state.alive.sum()),
                      float(idx[0]), float(np.mean(idx_rows[has])) if has.any() else 0.0,
                      int(r[0]), loss.value, loss.error, loss.relative, lmp, dmp, rto,
                      time.perf_counter() - t0)


def run_pruning(activation: Any, a: Any, W: Any, params: PruneParams, *, dps: int | None = None,
                checkpoint: Any = None, network: dict | None = None,
                progress: Any = None) -> PruneRun:
    """Apply ``params`` for ``params.steps`` steps; exact loss (and, with ``dps``, mpmath) each step.

    ``checkpoint``: a :class:`~compverify.numeric.checkpoint.Checkpoint`; each finished step is
    stored under ``"LABEL step K"`` (its state bit-packed, its record exactly) and a rerun resumes
    after the last one.  ``progress(label, k)`` is called after each step if given.
    """
    a, W = check_network(a, W)
    if dps is not None:
        dps = check_dps(dps)
    pruner = Pruner(activation, a, W, params)
    ev = LossEvaluator(activation, a, W)
    states = [pruner.initial_state()]
    records = []
    for k in range(params.steps + 1):
        name = step_name(params, k)
        saved = checkpoint.get(name) if checkpoint is not None else None
        if saved is not None:
            st = decode_state(saved["state"])
            rec = StepRecord(**saved["record"])
        else:
            st = states[-1] if k == 0 else pruner.step(states[-1], k)
            rec = step_record(k, st, ev, params, dps)
            if checkpoint is not None:
                checkpoint.put(name, {"state": encode_state(st), "record": rec.to_dict()})
        if k == 0:
            states[0] = st
        else:
            states.append(st)
        records.append(rec)
        if progress is not None:
            progress(params.label, k)
    if checkpoint is not None:
        checkpoint.flush()
    return _prune_run(activation, W, params, network, records, states, dps, ev.C)


def _prune_run(activation: Any, W: np.ndarray, params: PruneParams, network: dict | None,
               records: list, states: list, dps: int | None, C: float) -> PruneRun:
    act = getattr(activation, "spec", activation)
    net = network or {"N": int(W.shape[0]), "d": int(W.shape[1])}
    return PruneRun(params, dict(net, activation=str(act)), str(act), tuple(records),
                    tuple(states), dps, C)


def step_name(params: PruneParams, k: int) -> str:
    """The checkpoint entry of step ``k`` of a run: ``"LABEL step K"``."""
    return f"{params.label} step {k}"


def step_record(k: int, state: PruneState, evaluator: LossEvaluator, params: PruneParams,
                dps: int | None) -> StepRecord:
    """The record of step ``k`` (its sizes, PQ index and exact loss) from its state alone: a
    pure function of its arguments (but for the ``seconds`` it took), one cluster task."""
    return _record(k, state, evaluator.a, evaluator.W, evaluator, params, dps)


def prune_states(pruner: Pruner, checkpoint: Any = None) -> tuple[list[PruneState], dict]:
    """The states of steps ``0 .. T`` of ``pruner``'s run, and the records the checkpoint holds
    (``k -> StepRecord``).

    A chain: step ``k`` prunes what step ``k - 1`` left (SAP's counts come from the PQ index of
    the entries still retained; magnitude and random prune a fraction of them; the neuron
    methods remove from the neurons still alive), so it runs here, one step after the other.  A
    step costs a sort or a PQ index, ``O(N d log d)`` (the greedy neuron method also needs the
    kernel matrix once, ``O(N^2 d)``); a state held by the checkpoint is taken from it."""
    P = pruner.params
    states: list[PruneState] = []
    saved_records: dict[int, StepRecord] = {}
    for k in range(P.steps + 1):
        saved = checkpoint.get(step_name(P, k)) if checkpoint is not None else None
        if saved is not None:
            states.append(decode_state(saved["state"]))
            saved_records[k] = StepRecord(**saved["record"])
        else:
            states.append(pruner.initial_state() if k == 0 else pruner.step(states[-1], k))
    return states, saved_records


def run_pruning_on(client: Any, activation: Any, a: Any, W: Any, params: list[PruneParams], *,
                   dps: int | None = None, checkpoint: Any = None, network: dict | None = None,
                   progress: Any = None) -> list[PruneRun]:
    """:func:`run_pruning` for every method of ``params``, the steps' records computed on a Dask
    cluster (``client``: a :class:`distributed.Client`).

    Each method's chain of states runs here (:func:`prune_states`); then every step's record not
    in the checkpoint (its exact loss: the ``O(N^2 d)`` kernel sums, and the mpmath loss with
    ``dps``) is one task (:func:`step_record` through
    :func:`compverify.cluster.run_unordered`), all methods' steps at once.  Only this process
    writes ``checkpoint``, the same ``"LABEL step K"`` entries as :func:`run_pruning`, each as its
    task finishes, so either kind of run resumes the other's file; the runs equal
    :func:`run_pruning`'s but for the ``seconds`` each step took.
    ``progress(done, total, label, k, seconds)`` is called as each step finishes.
    """
    from compverify.cluster import run_unordered

    a, W = check_network(a, W)
    if dps is not None:
        dps = check_dps(dps)
    ev = LossEvaluator(activation, a, W)
    chains = []
    for P in params:
        states, records = prune_states(Pruner(activation, a, W, P), checkpoint)
        chains.append((P, states, records))
    total = sum(P.steps + 1 for P in params)
    done = sum(len(records) for _, _, records in chains)
    todo = [(i, k) for i, (P, _, records) in enumerate(chains) for k in range(P.steps + 1)
            if k not in records]
    for (i, k), rec, sec, exc in run_unordered(
            client, step_record, todo,
            lambda ik: (ik[1], chains[ik[0]][1][ik[1]], ev, chains[ik[0]][0], dps), name="prune"):
        P, states, records = chains[i]
        if exc is not None:
            if type(exc).__name__ == "KilledWorker":
                raise ComputationFailed(f"prune: step {k} of {P.label} killed the Dask workers "
                                      f"that ran it ({str(exc).splitlines()[0][:160]}); the "
                                      "finished steps are kept in the checkpoint") from None
            raise exc
        records[k] = rec
        if checkpoint is not None:
            checkpoint.put(step_name(P, k), {"state": encode_state(states[k]),
                                             "record": rec.to_dict()})
            checkpoint.flush()
        done += 1
        if progress is not None:
            progress(done, total, P.label, k, sec.get("wall", 0.0))
    return [_prune_run(activation, W, P, network, [records[k] for k in range(P.steps + 1)],
                       states, dps, ev.C) for P, states, records in chains]


def losses_at_counts(activation: Any, a: Any, W: Any, counts: list[int], method: str,
                     scope: str, *, seed: int = 0,
                     evaluator: LossEvaluator | None = None) -> list[ExactLoss]:
    """Exact losses of one-shot ``magnitude`` (or ``random``) masks keeping exactly each of
    ``counts`` entries (:func:`mask_at_count`): the baseline at a method's retained counts."""
    a, W = check_network(a, W)
    ev = evaluator or LossEvaluator(activation, a, W)
    return [baseline_loss(ev, int(count), k, method, scope, seed) for k, count in
            enumerate(counts)]


def baseline_loss(evaluator: LossEvaluator, count: int, k: int, method: str, scope: str,
                  seed: int = 0) -> ExactLoss:
    """The exact loss of the one-shot ``magnitude`` (or ``random``, drawn from
    ``default_rng([seed, k])``) mask keeping ``count`` entries: the ``k``-th value of
    :func:`losses_at_counts`, a pure function of its arguments (one cluster task)."""
    if method not in ("magnitude", "random"):
        raise CompverifyError(f"baseline method must be magnitude or random, got {method!r}")
    rng = np.random.default_rng([seed, k]) if method == "random" else None
    W = evaluator.W
    mask = mask_at_count(W, int(count), scope, rng=rng)
    return evaluator.loss(evaluator.a, np.where(mask, W, 0.0))
