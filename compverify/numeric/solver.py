r"""High-precision minimisation of the compression objective (SPEC A5): :func:`solve`.

Three stages, each recorded in the returned :class:`SolveResult`:

1. **Search in float64.**  ``restarts`` seeded local minimisations (per-restart seeds spawned from
   ``seed`` by :class:`numpy.random.SeedSequence`, so the answer does not depend on ``jobs``).  The
   default method (``"varpro"``) minimises the reduced objective ``L*(V) = C - h' K^+ h`` (the output
   weights solved exactly, :meth:`~compverify.numeric.objective.Problem.reduced`) with L-BFGS and
   its analytic gradient; ``"lbfgs"`` works on the full ``theta = (b, V)``, ``"trust"`` on the full
   ``theta`` with SciPy's ``trust-exact`` and the analytic Hessian.  Every local result then takes
   a few Newton steps on the quotient by the symmetries (below) in float64.
2. **Basins.**  Local minima are grouped by value (relative tolerance ``1e-8`` of ``max(C, |L|)``)
   and by a rotation- and permutation-invariant signature: the sorted off-diagonal entries of the
   Gram matrix of the unit directions and the sorted coefficients ``b_j |v_j|^n`` of the neurons whose
   coefficient is not negligible (homogeneous activations; else the Gram of ``V`` and ``b``).  Each
   basin carries how many restarts reached it.
3. **Polish in high precision.**  The best basin (and any basin tied with it to ``1e-8``, at
   most ``polish`` of them) is refined by Newton's method with the analytic Hessian at
   ``dps + 10`` digits, precision doubling with the digits gained (the objective summed in
   python-flint balls, :meth:`~compverify.numeric.objective.Problem.evaluate_mp`; while the
   steps contract, the Hessian is float64's and the step is solved in float64,
   :func:`_float_step`).  The symmetries (rotations fixing the target,
   neuron rescaling for homogeneous activations) make the Hessian singular along their orbits;
   each step solves ``(H + sigma P) delta = -g`` with ``P`` the orthogonal projector onto the
   span of the orbit tangents (:meth:`~compverify.numeric.objective.Problem.symmetry_tangents`),
   i.e. Newton on the quotient (a pseudo-inverse takes over if a degenerate minimiser leaves further
   flat directions).

Evidence (:class:`Evidence`): the gradient norm at ``dps``; the spectrum of the Hessian (null
space dimension counted from the eigenvalues, compared with the dimension of the symmetry orbit);
the smallest eigenvalue of the reduced Hessian (the Hessian on the orthogonal complement of the
orbit tangents); and ``verified_digits``, the digits of the loss that agree between the polish at
``dps`` and an actual re-polish at ``dps + 20`` started from it.

>>> # see tests/test_solver.py; a run: solve(Problem("relu", isotropic(3), 4), restarts=8, dps=30)
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from scipy.optimize import minimize

from compverify._version import __version__
from compverify.display import TableDisplay
from compverify.errors import ComputationFailed, CompverifyError
from compverify.io import mp_to_str, to_jsonable
from compverify.numeric import hplinalg
from compverify.numeric.checkpoint import Checkpoint
from compverify.numeric.objective import Problem, digits_agreeing, mp_array
from compverify.validate import check_dps, check_jobs, check_memory, check_positive_int

__all__ = ["Basin", "Evidence", "LocalResult", "SolveResult", "METHODS", "solve", "polish",
           "float64_search", "solve_checkpoint"]

#: Local float64 methods (see the module docstring).
METHODS = ("varpro", "lbfgs", "trust")
#: Extra digits of the Newton polish over the requested ``dps``.
NEWTON_GUARD = 10
#: Extra digits of the verification re-polish (the issue: ``dps + 20``).
CHECK_EXTRA = 20
#: Relative tolerance (of ``max(C, |L|)``) for two local minima to share a basin by value.
BASIN_VALUE_TOL = 1e-8
#: a polish whose loss ends this much (relative to max(|loss|, |C|)) above its start has left the
#: start's basin; the start is returned instead, not converged
POLISH_RISE = 1e-6
#: Absolute tolerance on the signature (Gram entries, coefficients) for the same basin.
BASIN_SIGNATURE_TOL = 1e-4
#: Coefficients below this fraction of the largest are inactive in a signature.
INACTIVE = 1e-6
#: Row norm of V above which the summary of a non-homogeneous activation says the infimum may lie
#: at ``|v| -> infinity`` (seen for gelu and silu: the student neuron tends to a scaled relu).
RUNAWAY_NORM = 30.0
#: Unit directions with ``1 - |<u_j, u_k>|`` below this are made exactly (anti)parallel before
#: the polish (:func:`_snap_pairs`).
SNAP_TOL = 1e-9


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)
class LocalResult:
    """One float64 restart: value, point, gradient norm, basin signature, flat directions.

    ``flat_directions`` counts Hessian null directions beyond the symmetry orbit (a degenerate
    minimum, whose signature is not an invariant of the basin: such minima group by value).
    """

    index: int
    value: float
    theta: np.ndarray
    grad_norm: float
    converged: bool
    iterations: int
    signature: np.ndarray
    flat_directions: int
    message: str = ""


@dataclass(frozen=True, eq=False)
class Basin:
    """A group of local minima: best float64 value, how many restarts reached it, and its polish.

    ``polished_loss`` is the loss after the mpmath polish (``None`` if this basin was not polished).
    """

    loss: float
    count: int
    representative: int
    signature: tuple
    polished_loss: Any = None

    def to_dict(self, dps: int) -> dict:
        polished = self.polished_loss is not None
        return {"loss": mp_to_str(self.polished_loss, dps) if polished else repr(self.loss),
                "loss_float64": repr(self.loss), "count": self.count, "polished": polished,
                "representative_restart": self.representative}


@dataclass(frozen=True, eq=False)
class Evidence:
    """What supports the answer (all reals are mpf at the precision they were computed with).

    ``grad_norm``: Euclidean norm of the gradient in ``theta`` at ``dps``.  ``hessian_min_eig``: the
    smallest eigenvalue of the reduced Hessian (the Hessian restricted to the orthogonal complement
    of the symmetry orbit), computed at ``eig_dps`` digits.  ``symmetry_null_dim``: the dimension of
    the symmetry orbit at the answer (rank of its tangents); ``hessian_null_dim``: eigenvalues of
    the full Hessian with ``|lambda| <= null_threshold``; ``extra_null_dim`` = their difference
    (flat directions that no symmetry explains: a degenerate minimiser).  ``symmetry_residual``:
    ``max |H t|`` over unit orbit tangents ``t`` (0 at an exact critical point).
    ``verified_digits``: digits of the loss agreeing between ``dps`` and the re-polish at
    ``check_dps`` (whose loss is ``check_loss``), relative to ``|loss|`` or, if the loss is zero to
    half the working precision, to ``C`` (``verified_relative_to`` says which).  For a target
    evaluated by a quadrature rule (``numeric.gauss_rule``, ``numeric.sampled``) ``rule_error`` is the rule's
    estimated error of the loss and ``rule_digits`` the digits it leaves; ``verified_digits`` is
    capped by them (both ``None`` for exact targets).  ``rule_refinement`` (or ``None``): when the
    target has a finer rule (``target.finer()``) and the cap binds at a strict minimum, the loss
    is re-evaluated at the answer with the finer rule (:func:`refine_rule`); ``loss`` is then that
    value and ``rule_error`` its estimate.  ``negative_loss`` (or ``None``): the computed loss
    when it came out negative but within its error bound ``|C| 10^-verified_digits`` of 0; the
    loss is a squared L2 distance, so ``loss`` is then reported as 0 (the true value lies in
    ``[0, |C| 10^-verified_digits]``) rather than as a negative number.  A loss negative beyond
    that bound is an evaluation failure (:class:`~compverify.errors.ComputationFailed`).
    """

    grad_norm: Any
    hessian_min_eig: Any
    symmetry_null_dim: int
    hessian_null_dim: int
    extra_null_dim: int
    null_threshold: Any
    symmetry_residual: Any
    reduced_spectrum: tuple
    eig_dps: int
    verified_digits: int
    verified_relative_to: str
    check_dps: int
    check_loss: Any
    check_grad_norm: Any
    newton_iterations: int
    newton_converged: bool
    status: str
    rule_error: Any = None
    rule_digits: int | None = None
    rule_refinement: dict | None = None
    negative_loss: Any = None

    def to_dict(self, dps: int) -> dict:
        def s(x, p=dps):
            return mp_to_str(x, p)

        return {
            "grad_norm": s(self.grad_norm), "hessian_min_eig": s(self.hessian_min_eig, self.eig_dps),
            "symmetry_null_dim": self.symmetry_null_dim, "hessian_null_dim": self.hessian_null_dim,
            "extra_null_dim": self.extra_null_dim,
            "null_threshold": s(self.null_threshold, self.eig_dps),
            "symmetry_residual": s(self.symmetry_residual, self.eig_dps),
            "reduced_spectrum": [s(x, self.eig_dps) for x in self.reduced_spectrum],
            "eig_dps": self.eig_dps, "verified_digits": self.verified_digits,
            "verified_relative_to": self.verified_relative_to, "check_dps": self.check_dps,
            "check_loss": s(self.check_loss, self.check_dps),
            "check_grad_norm": s(self.check_grad_norm, self.check_dps),
            "newton_iterations": self.newton_iterations,
            "newton_converged": self.newton_converged, "status": self.status,
            "rule_error": None if self.rule_error is None else s(self.rule_error, 6),
            "rule_digits": self.rule_digits,
            "rule_refinement": self.rule_refinement,
            "negative_loss": None if self.negative_loss is None else s(self.negative_loss),
        }


@dataclass(frozen=True, eq=False)
class SolveResult(TableDisplay):
    """The answer of :func:`solve` with its evidence.

    ``loss`` (mpf at ``dps``) is ``L(theta)`` at the polished point ``(b, V)`` (object arrays of
    mpf); ``relative_loss = loss / C``; ``coefficients`` are ``b_j |v_j|^n`` for homogeneous
    activations of degree ``n`` (else ``b``), ``directions`` the unit rows of ``V``.  ``basins``
    are sorted by loss.  ``converged`` is ``True`` when the Newton polish converged and the point is
    a local minimum on the quotient (possibly degenerate); ``status`` says which.
    :meth:`to_dict` gives the JSON of ``compverify solve --out`` (every real a full-precision decimal string).
    """

    problem: dict
    loss: Any
    relative_loss: Any
    C: Any
    b: np.ndarray
    V: np.ndarray
    coefficients: np.ndarray
    directions: np.ndarray
    evidence: Evidence
    basins: tuple
    seed: int
    dps: int
    restarts: int
    jobs: int
    method: str
    converged: bool
    status: str
    failed_restarts: int
    seconds: dict = field(default_factory=dict)
    version: str = __version__

    def to_dict(self) -> dict:
        """JSON-ready data: reals as decimal strings with ``dps`` significant digits."""
        p = self.dps
        out = {
            "problem": to_jsonable(self.problem, p),
            "loss": mp_to_str(self.loss, p), "relative_loss": mp_to_str(self.relative_loss, p),
            "C": mp_to_str(self.C, p),
            "coefficients": to_jsonable(self.coefficients, p),
            "directions": to_jsonable(self.directions, p),
            "b": to_jsonable(self.b, p), "V": to_jsonable(self.V, p),
            "evidence": self.evidence.to_dict(p),
            "basins": [bs.to_dict(p) for bs in self.basins],
            "seed": self.seed, "dps": self.dps, "restarts": self.restarts, "jobs": self.jobs,
            "method": self.method, "converged": self.converged, "status": self.status,
            "failed_restarts": self.failed_restarts,
            "seconds": {k: repr(round(float(v), 3)) for k, v in self.seconds.items()},
            "version": self.version,
        }
        return out

    def summary(self) -> str:
        """A few human-readable lines."""
        ev = self.evidence
        prob = self.problem
        # a quadrature-rule target: print only the digits the rule supports
        shown = min(self.dps, 40) if ev.rule_digits is None else max(2, ev.verified_digits)
        lines = [
            f"compverify solve: {prob.get('activation')}, d = {prob.get('d')}, "
            f"M = {prob.get('M')}, {self.restarts} restarts (seed {self.seed}), {self.dps} digits",
            f"  loss          = {mp_to_str(self.loss, shown)}",
            f"  relative loss = {mp_to_str(self.relative_loss, shown)}  (L / C)",
            f"  verified digits {ev.verified_digits} (re-polish at {ev.check_dps} digits), "
            f"|grad| = {mpmath.nstr(ev.grad_norm, 3)}, status: {self.status}",
            f"  reduced Hessian min eigenvalue {mpmath.nstr(ev.hessian_min_eig, 6)}; null space "
            f"{ev.hessian_null_dim} = {ev.symmetry_null_dim} (symmetries) + {ev.extra_null_dim}",
            "  basins: " + ", ".join(
                f"{(mpmath.nstr(b.polished_loss, 12) if b.polished_loss is not None else f'{b.loss:.12g}')}"
                f" x{b.count}" for b in self.basins[:6])
            + (" ..." if len(self.basins) > 6 else ""),
        ]
        if ev.rule_error is not None:
            finer = ("" if ev.rule_refinement is None else
                     f" (loss re-evaluated with the rule of step {ev.rule_refinement['step']}; "
                     f"{ev.rule_refinement['coarse_rule_error']} before)")
            lines.append(f"  target by a quadrature rule: estimated loss error "
                         f"{mpmath.nstr(ev.rule_error, 3)}{finer}, so at most {ev.rule_digits} "
                         "digits are claimed")
        if ev.negative_loss is not None:
            lines.append(f"  the computed loss {mpmath.nstr(ev.negative_loss, 3)} is negative within "
                         f"its error bound C 10^-{ev.verified_digits}; a squared distance is >= 0, "
                         "so 0 is reported")
        if self.failed_restarts:
            lines.append(f"  {self.failed_restarts} restart(s) failed (non-finite or singular)")
        runaway = self.runaway_norm()
        if runaway is not None:
            lines.append(f"  note: max |v_j| = {runaway:.3g}; for this activation the loss may have its "
                         "infimum at |v| -> infinity (the search stopped here, not at a limit)")
        return "\n".join(lines)

    def _display_tables(self) -> list:
        """The answer (loss, relative loss, C, status) with its evidence, then the minimiser.

        Losses are shown to the verified digits only (at least 2, with the count beside them);
        the minimiser's coefficients and directions to the same digits.
        """
        ev, prob = self.evidence, self.problem
        shown = max(2, int(ev.verified_digits))
        tgt = prob.get("target")
        tgt = (f"{tgt.get('family')} ({tgt.get('method')})" if isinstance(tgt, dict) else tgt)
        rows = [("problem", f"{prob.get('activation')}, d = {prob.get('d')}, M = {prob.get('M')}, "
                            f"target {tgt}"),
                ("search", f"{self.restarts} restarts (seed {self.seed}), {self.method}, "
                           f"{self.dps} digits"),
                ("loss L", mp_to_str(self.loss, shown)),
                ("relative loss L / C", mp_to_str(self.relative_loss, shown)),
                ("C = E f^2", mp_to_str(self.C, shown)),
                ("verified digits", f"{ev.verified_digits} (re-polish at {ev.check_dps} digits)"),
                ("status", self.status),
                ("|grad|", mpmath.nstr(ev.grad_norm, 3)),
                ("reduced Hessian min eigenvalue", mpmath.nstr(ev.hessian_min_eig, 6)),
                ("Hessian null space", f"{ev.hessian_null_dim} = {ev.symmetry_null_dim} "
                                       f"(symmetries) + {ev.extra_null_dim}"),
                ("basins", ", ".join(
                    f"{mpmath.nstr(b.polished_loss, 8) if b.polished_loss is not None else f'{b.loss:.8g}'}"
                    f" x{b.count}" for b in self.basins[:6]) + (" ..." if len(self.basins) > 6 else ""))]
        if ev.rule_error is not None:
            rows.append(("quadrature-rule error of the loss", mpmath.nstr(ev.rule_error, 3)))
        if self.failed_restarts:
            rows.append(("failed restarts", self.failed_restarts))
        units = [(j + 1, mp_to_str(c, shown), "(" + ", ".join(mp_to_str(x, shown) for x in u) + ")")
                 for j, (c, u) in enumerate(zip(self.coefficients, self.directions, strict=True))]
        return [("compverify solve: the answer and its evidence", ("quantity", "value"), rows),
                (f"the minimiser, rounded to {shown} digits", ("j", "coefficient", "unit direction"),
                 units)]

    def runaway_norm(self) -> float | None:
        """``max_j |v_j|`` if it exceeds ``RUNAWAY_NORM`` for a non-homogeneous activation, else
        ``None`` (a homogeneous activation's scale is a symmetry, not a run-away)."""
        from compverify.symbolic.activations import as_activation

        norms = [float(mpmath.sqrt(mpmath.fsum(x * x for x in row))) for row in self.V]
        if not norms or max(norms) <= RUNAWAY_NORM:
            return None
        if as_activation(self.problem["activation"]).homogeneous_degree is not None:
            return None
        return max(norms)


# ------------------------------------------------------------------------------- float64 search


def _orth(T: np.ndarray, scale: float, rtol: float = 1e-9) -> np.ndarray:
    """Orthonormal basis of the column span of T (float64), singular values below ``rtol`` times
    ``max(s_max, scale)`` dropped.

    ``scale`` is ``|theta|``, the size of an orbit tangent at a generic point: at a fixed point of
    a symmetry (e.g. every ``v_j`` parallel to the target's mean, which the rotations about it
    fix) the tangents are rounding noise, and a threshold relative to the largest of them alone
    would keep that noise as a symmetry direction (measured: Newton then stalled at ``|grad| ~
    1e-18``, "not converged").
    """
    if T.shape[1] == 0:
        return T
    U, s, _ = np.linalg.svd(T, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return T[:, :0]
    return U[:, s > rtol * max(s[0], scale)]


def _newton_float(problem: Problem, theta: np.ndarray, steps: int = 8) -> tuple[np.ndarray, int]:
    """A few Newton steps on the quotient in float64 (a step that raises the loss is refused).

    Returns the point and the number of flat directions of the Hessian beyond the symmetry orbit
    (eigenvalues of ``H + sigma P`` below ``1e-8`` of the largest): > 0 flags a degenerate minimum.
    """
    ev = problem.evaluate(theta, 2)
    scale = max(abs(problem.C), 1e-300)
    extra = 0
    for it in range(steps + 1):
        g, H = ev.grad, ev.hess
        Q = _orth(problem.symmetry_tangents(theta), float(np.linalg.norm(theta)))
        sigma = max(np.max(np.abs(np.diag(H))), 1e-300)
        w, U = np.linalg.eigh(H + sigma * (Q @ Q.T))
        wmax = np.max(np.abs(w))
        extra = int(np.sum(np.abs(w) <= 1e-8 * wmax))
        if it == steps:
            break
        keep = np.abs(w) > 1e-11 * wmax
        delta = -U[:, keep] @ ((U[:, keep].T @ g) / w[keep])
        if not np.all(np.isfinite(delta)) or np.linalg.norm(delta) > 0.1 * (
                1 + np.linalg.norm(theta)):
            break
        cand = problem.normalize(theta + delta)
        try:
            new = problem.evaluate(cand, 2)
        except CompverifyError:
            break
        if new.value > ev.value + 1e-13 * scale:
            break
        theta, ev = cand, new
        if np.linalg.norm(delta) <= 1e-15 * (1 + np.linalg.norm(theta)):
            steps = it + 1  # one more pass to refresh the flat-direction count, then stop
    return theta, extra


def _signature(problem: Problem, theta: np.ndarray) -> np.ndarray:
    b, V = problem.split(theta)
    if problem.homogeneous_degree is not None:
        c = problem.coefficients(b, V)
        U = problem.directions(V)
    else:
        c, U = b, V
    act = np.abs(c) > INACTIVE * max(np.max(np.abs(c)), 1e-300)
    U, c = U[act], c[act]
    # the discrete symmetries of one neuron: (b, v) -> (-b, -v) for an odd sigma, (b, v) -> (b, -v)
    # for an even one (measured: tanh, d = 3, M = 1, mean 0.2: the two signs were two "basins")
    parity = getattr(problem.activation, "parity", 0)
    if parity == -1:
        flip = np.where(c < 0, -1.0, 1.0)
        c, U = c * flip, U * flip[:, None]
    G = np.abs(U @ U.T) if parity == 1 else U @ U.T
    iu = np.triu_indices(len(c), 1)
    return np.concatenate([[float(len(c))], np.sort(G[iu]), np.sort(c)])


def _local_search(problem: Problem, seed_seq: np.random.SeedSequence, index: int, method: str,
                  maxiter: int) -> LocalResult:
    rng = np.random.default_rng(seed_seq)
    M, d = problem.M, problem.d
    V0 = rng.standard_normal((M, d)) / math.sqrt(d)
    try:
        with np.errstate(all="ignore"):
            if method == "varpro":
                def fun(x):
                    r = problem.reduced(x, 1)
                    return r.value, r.grad

                res = minimize(fun, V0.ravel(), jac=True, method="L-BFGS-B",
                               options={"maxiter": maxiter, "gtol": 1e-12, "ftol": 1e-16,
                                        "maxcor": 30})
                V = res.x.reshape(M, d)
                theta = problem.join(problem.optimal_coefficients(V), V)
            else:
                theta0 = problem.join(problem.optimal_coefficients(V0), V0)

                def fun(x):
                    ev = problem.evaluate(x, 1)
                    return ev.value, ev.grad

                if method == "lbfgs":
                    res = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                   options={"maxiter": maxiter, "gtol": 1e-12, "ftol": 1e-16,
                                            "maxcor": 30})
                else:
                    res = minimize(fun, theta0, jac=True, hess=problem.hess, method="trust-exact",
                                   options={"maxiter": maxiter, "gtol": 1e-10})
                theta = res.x
            theta, flat = _newton_float(problem, problem.normalize(theta))
            ev = problem.evaluate(theta, 1)
        value, gnorm = float(ev.value), float(np.linalg.norm(ev.grad))
        if not (math.isfinite(value) and math.isfinite(gnorm)):
            raise CompverifyError("non-finite loss or gradient")
        return LocalResult(index, value, theta, gnorm, bool(res.success), int(res.nit),
                           _signature(problem, theta), flat, str(res.message))
    except (CompverifyError, np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
        return LocalResult(index, math.inf, np.full(problem.n_params, np.nan), math.inf, False, 0,
                           np.zeros(0), 0, f"failed: {exc}")


_WORKER: dict = {}


def _init_worker(problem: Problem, method: str, maxiter: int) -> None:
    _WORKER.update(problem=problem, method=method, maxiter=maxiter)


def _worker(task) -> LocalResult:
    index, ss = task
    with _one_blas_thread():
        return _local_search(_WORKER["problem"], ss, index, _WORKER["method"], _WORKER["maxiter"])


def _one_blas_thread():
    """Context limiting BLAS to one thread: the search makes many tiny BLAS calls, for which
    waking OpenBLAS threads costs more than the work (measured: 8x slower with 2 threads)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _run_restarts(problem, restarts, seed, method, maxiter, jobs, progress,
                  checkpoint: Checkpoint | None = None) -> list[LocalResult]:
    seqs = np.random.SeedSequence(seed).spawn(restarts)
    done: dict[int, LocalResult] = {}
    if checkpoint is not None:
        for i in range(restarts):
            data = checkpoint.get(f"restart {i}")
            if data is not None:
                done[i] = LocalResult(**data)
    tasks = [(i, ss) for i, ss in enumerate(seqs) if i not in done]
    bar = _progress_bar(restarts, progress)
    bar.update(len(done))
    results: list[LocalResult] = list(done.values())

    def finished(res: LocalResult) -> None:
        results.append(res)
        if checkpoint is not None:
            checkpoint.put(f"restart {res.index}", vars(res))
        bar.update(1)

    try:
        if jobs == 1 or len(tasks) <= 1:
            with _one_blas_thread():
                for i, ss in tasks:
                    finished(_local_search(problem, ss, i, method, maxiter))
        else:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx,
                                     initializer=_init_worker,
                                     initargs=(problem, method, maxiter)) as pool:
                for res in pool.map(_worker, tasks):
                    finished(res)
    finally:
        bar.close()
        if checkpoint is not None:
            checkpoint.flush()  # also on Ctrl-C: the restarts finished so far are kept
    return sorted(results, key=lambda r: r.index)


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, progress: bool | None):
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoBar()
    return tqdm(total=total, desc="restarts", unit="restart", file=sys.stderr, leave=False)


def _group(problem: Problem, results: list[LocalResult]) -> list[list[LocalResult]]:
    ok = sorted((r for r in results if math.isfinite(r.value)), key=lambda r: (r.value, r.index))
    basins: list[list[LocalResult]] = []
    for r in ok:
        tol = BASIN_VALUE_TOL * max(abs(problem.C), abs(r.value), 1e-300)
        for group in basins:
            rep = group[0]
            same_sig = (rep.signature.shape == r.signature.shape
                        and np.max(np.abs(rep.signature - r.signature), initial=0.0)
                        <= BASIN_SIGNATURE_TOL)
            flat = rep.flat_directions > 0 and rep.flat_directions == r.flat_directions
            if abs(rep.value - r.value) <= tol and (same_sig or flat):
                group.append(r)
                break
        else:
            basins.append([r])
    return basins


# ------------------------------------------------------------------------------- mpmath polish


def _mp_norm(x) -> Any:
    return mpmath.sqrt(mpmath.fsum(v * v for v in x))


def _mp_orth(T: np.ndarray, tol_exp: int, scale: Any = 0) -> hplinalg.ArbMatrix | None:
    """Orthonormal basis (n x r, an ``arb_mat`` at the working precision) of the column span of
    ``T``, or None if r = 0; singular values below ``max(s_max, scale) 10^-(tol_exp/2)`` dropped
    (``scale`` = ``|theta|``, see :func:`_orth`; at least ``1e-12``, what float64's SVD, which
    decides the rank, resolves).  :func:`compverify.numeric.hplinalg.orthonormal_basis`."""
    return hplinalg.orthonormal_basis(T, 10.0 ** (-tol_exp / 2), float(scale))


def _mp_step(g: np.ndarray, H: np.ndarray, T: np.ndarray, p: int,
             scale: Any = 0) -> tuple[np.ndarray, str]:
    """Newton step on the quotient at the working precision: solve (H + sigma P) d = -g.

    Float64 Cholesky refined in high precision (:func:`compverify.numeric.hplinalg.solve_refined`);
    if that fails or the step is huge, the pseudo-inverse with eigenvalues below ``10^-(p/2)`` of
    the largest dropped (:func:`compverify.numeric.hplinalg.pinv_solve`).
    """
    n = len(g)
    Q = _mp_orth(T, p // 2, scale)
    sigma = max(abs(H[i, i]) for i in range(n))
    Ha = hplinalg.to_arb(H, hplinalg.bits_for(p))
    neg_g = -g
    gnorm = _mp_norm(g)
    how = "cholesky"
    x = hplinalg.solve_refined(Ha, neg_g, Q, sigma, dps=p)
    if x is None or _mp_norm(x) * sigma > 1e6 * gnorm:
        how = "pseudo-inverse"
        x = hplinalg.pinv_solve(Ha, neg_g, Q, sigma, rcut=10.0 ** (-(p // 2)), dps=p)
    return np.asarray(x, dtype=object), how


def _float_step(problem: Problem, g: np.ndarray, H: np.ndarray,
                theta: np.ndarray) -> tuple[np.ndarray, str]:
    """The Newton step on the quotient for a float64 Hessian, solved in float64.

    With ``H`` rounded to float64 the step has a relative error of about ``kappa 2^-53``
    whatever the precision of its solve, so solving ``(H + sigma P) d = -g`` in float64 (``g``
    rounded; ``P`` from float64 orbit tangents) loses nothing against a high-precision solve of
    the same system, and Newton still converges linearly at a rate of about ``kappa 2^-53``.
    Cholesky, else the pseudo-inverse (eigenvalues below ``1e-13`` of the largest dropped).
    Returns the step as mpf (exactly the float64 numbers) and how it was solved.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    th = np.array([float(x) for x in theta])
    gf = np.array([float(x) for x in g])
    Q = _orth(problem.symmetry_tangents(th), float(np.linalg.norm(th)))
    sigma = max(float(np.max(np.abs(np.diag(H)))), 1e-300)
    A = H + sigma * (Q @ Q.T)
    A = (A + A.T) / 2
    how = "float64 cholesky"
    try:
        x = cho_solve(cho_factor(A, lower=True), -gf)
    except (LinAlgError, ValueError):
        x = None
    if x is None or not np.all(np.isfinite(x)) or (
            np.linalg.norm(x) * sigma > 1e6 * np.linalg.norm(gf)):
        how = "float64 pseudo-inverse"
        w, U = np.linalg.eigh(A)
        keep = np.abs(w) > 1e-13 * np.max(np.abs(w))
        x = -U[:, keep] @ ((U[:, keep].T @ gf) / w[keep])
    return np.array([mpmath.mpf(float(v)) for v in x], dtype=object), how


@dataclass(frozen=True, eq=False)
class Polished:
    """Result of :func:`polish`: point, loss, gradient and Hessian at ``dps``, Newton history."""

    theta: np.ndarray
    loss: Any
    grad: np.ndarray
    hess: Any
    grad_norm: Any
    iterations: int
    converged: bool
    history: tuple
    dps: int
    snapped_pairs: tuple = ()


def _snap_pairs(problem: Problem, theta: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Make nearly coinciding or antipodal unit directions exactly so (homogeneous activations).

    For ReLU the loss behaves like ``|angle|^3`` near such a pair, so Newton converges only
    linearly towards it; a float64 search leaves the pair at an angle of order ``1e-6``.  Pairs with
    ``1 - |rho| <= SNAP_TOL`` get ``v_k = sign(rho) v_j`` exactly.  Returns the new point (mpf, at
    the working precision) and the pairs ``(j, k, sign)``.
    """
    if problem.homogeneous_degree is None or problem.M < 2:
        return theta, ()
    b, V = problem.split(theta)
    U = np.array(problem.directions(V), dtype=float)
    G = U @ U.T
    pairs = []
    V = V.copy()
    done: set[int] = set()
    for j in range(problem.M):
        for k in range(j + 1, problem.M):
            if k not in done and 1 - abs(G[j, k]) <= SNAP_TOL:
                sign = 1 if G[j, k] > 0 else -1
                V[k] = V[j] * sign
                done.add(k)
                pairs.append((j, k, sign))
    if not pairs:
        return theta, ()
    return _resnap(problem, problem.join(b, V), pairs), tuple(pairs)


def _resnap(problem: Problem, theta: np.ndarray, pairs: tuple) -> np.ndarray:
    """Project back onto ``v_k = sign v_j`` (unit rows): both become the normalised mean."""
    if not pairs:
        return theta
    b, V = problem.split(theta)
    V = V.copy()
    for j, k, sign in pairs:
        m = V[j] + sign * V[k]
        m = m / _mp_norm(m) if V.dtype == object else m / np.linalg.norm(m)
        V[j], V[k] = m, sign * m
    return problem.join(b, V)


def _float_hessian_ok(problem: Problem) -> bool:
    """Whether Newton may use float64 Hessians: the float64 objective is the same function as the
    multiprecision one (not a coarser quadrature rule, whose Hessian differs at the rule's error)."""
    t = problem.target
    return not hasattr(t, "float_rule") and getattr(t, "loss_error", None) is None


def _float_hessian(problem: Problem, theta: np.ndarray) -> np.ndarray | None:
    """The Hessian at ``theta`` (rounded to float64) in float64, or None if it is not finite."""
    try:
        th = np.array([float(x) for x in theta])
        with np.errstate(all="ignore"):
            H = problem.evaluate(th, 2).hess
    except (CompverifyError, FloatingPointError, ValueError):
        return None
    return H if np.all(np.isfinite(H)) else None


#: a float64-Hessian Newton step must shrink the step at least this much, else the Hessian is
#: taken in high precision from then on
FLOAT_HESSIAN_RATE = 1e-3


def _newton_mp(problem: Problem, theta: np.ndarray, dps: int, p: int, max_iter: int,
               pairs: tuple = (), state: dict | None = None, record=None):
    """Newton's iteration of :func:`polish`.  ``state``: a checkpointed state to continue from
    (as ``record`` received it); ``record``: called with the state after every step.

    The gradient is always evaluated at the working precision.  The Hessian is evaluated in
    float64 while that is the same objective (:func:`_float_hessian_ok`) and the steps keep
    shrinking by ``FLOAT_HESSIAN_RATE`` or more: Newton with a Hessian of relative error ``eps``
    converges linearly at rate about ``kappa eps`` (``kappa`` its condition number on the
    quotient), i.e. gains some 10 digits a step for a fraction of the cost of an mpmath Hessian
    (``O(M^2 d)`` against ``O(M^2 d^2)`` multiprecision operations).  Otherwise, and from the
    first step that does not shrink enough, the Hessian is the multiprecision one.
    """
    w = dps + NEWTON_GUARD
    history: list = []
    converged = done = False
    prev = None
    it = 0
    hess64 = _float_hessian_ok(problem)
    if state is not None:
        theta, p, it, prev = state["theta"], state["p"], state["it"], state["prev"]
        history, converged, done = list(state["history"]), state["converged"], state["done"]
        hess64 = state.get("hess64", False)
    while not done and it < max_iter:
        it += 1
        H64 = _float_hessian(problem, theta) if hess64 else None
        hess64 = H64 is not None
        ev = problem.evaluate_mp(theta, 1 if hess64 else 2, p)
        if hess64:
            delta, how = _float_step(problem, ev.grad, H64, theta)
        else:
            with mpmath.workdps(p):
                T = problem.symmetry_tangents(theta)
                delta, how = _mp_step(ev.grad, ev.hess, T, p, _mp_norm(theta))
        with mpmath.workdps(w):
            theta = _resnap(problem, problem.normalize(theta + delta), pairs)
            step = _mp_norm(delta) / max(mpmath.mpf(1), _mp_norm(theta))
            gnorm = _mp_norm(ev.grad)
        history.append({"dps": p, "step": step, "grad_norm": gnorm, "solve": how,
                        "hessian": "float64" if hess64 else "multiprecision"})
        digits = float(-mpmath.log10(step)) if step > 0 else float(p)
        if p < w:
            p = min(w, max(p, int(4 * digits) + 20))
        elif step <= mpmath.mpf(10) ** (-(w - 8)):
            converged = done = True
        elif hess64 and prev is not None and step > prev * FLOAT_HESSIAN_RATE:
            hess64 = False  # too slow a linear rate: the multiprecision Hessian from now on
            prev = step
        # no longer quadratic: the precision floor (or a degenerate minimum, where Newton is
        # linear); a large step that does not shrink tenfold is still the approach to the
        # quadratic region (measured: relu_power:3, iid:uniform d = 3, a start from the QMC
        # rule's minimiser 5e-3 away, steps 4.7e-3, 9e-5, 2e-5, then quadratic)
        elif prev is not None and step > prev / 10 and step < mpmath.mpf(10) ** -8:
            converged, done = bool(step <= mpmath.mpf(10) ** (-dps)), True
        else:
            prev = step
        if record is not None:
            record({"theta": theta, "p": p, "it": it, "prev": prev, "history": history,
                    "converged": converged, "done": done or it >= max_iter, "hess64": hess64})
    return theta, it, converged, history


def polish(problem: Problem, theta0: Any, dps: int, *, start_dps: int | None = None,
           max_iter: int = 40, want_hessian: bool = True, snap: bool = True,
           checkpoint: Checkpoint | None = None, name: str = "polish") -> Polished:
    """Newton's method on the quotient by the symmetries, in mpmath, to ``dps`` digits.

    The working precision is ``dps + NEWTON_GUARD``; it starts at ``start_dps`` (default 40, or
    the full precision if smaller) and grows with the digits gained (each step about doubles
    them), so the early steps are cheap.  Converged when a step at full precision is below
    ``10^-(dps - 2)`` relative to ``|theta|``; the iteration also stops when steps stop shrinking
    quadratically (the precision floor, or a degenerate minimum where Newton is only linear).
    With ``snap``, nearly coinciding or antipodal directions are first made exact
    (:func:`_snap_pairs`); if Newton from there does not converge, the unsnapped point is
    polished too and the better of the two (converged first, then smaller gradient) is kept.
    The loss, gradient (and Hessian) are re-evaluated at the final point.
    ``checkpoint``: Newton's state after each step and the result are kept there under ``name``
    (:class:`~compverify.numeric.checkpoint.Checkpoint`), and taken from there when present.
    """
    dps = check_dps(dps)
    done = f"{name}: result"
    if checkpoint is not None and done in checkpoint:
        return _polished_from(checkpoint.get(done))
    w = dps + NEWTON_GUARD
    p0 = min(w, start_dps or 40)
    with mpmath.workdps(w):
        theta = problem.normalize(mp_array(theta0, w))

    def newton(start, prs, label):
        if checkpoint is None:
            return _newton_mp(problem, start, dps, p0, max_iter, prs)
        key = f"{name}: newton {label}"
        return _newton_mp(problem, start, dps, p0, max_iter, prs, state=checkpoint.get(key),
                          record=lambda st: checkpoint.put(key, st))

    pairs: tuple = ()
    runs = []
    if snap:
        snapped, pairs = _snap_pairs(problem, theta)
        if pairs:
            runs.append((newton(snapped, pairs, "snapped"), pairs))
    if not runs or not runs[0][0][2]:
        runs.append((newton(theta, (), "plain"), ()))
    finals = []
    for (th, it, conv, hist), prs in runs:
        ev = problem.evaluate_mp(th, 2 if want_hessian else 1, w)
        with mpmath.workdps(w):
            gnorm = _mp_norm(ev.grad)
        finals.append(Polished(th, ev.value, ev.grad, ev.hess, gnorm, it, conv, tuple(hist), dps,
                               prs))
    result = min(finals, key=lambda r: (not r.converged, r.grad_norm))
    # Newton has no line search: from a start outside its basin it may run off (measured: gelu,
    # isotropic d = 3, M = 2, to b ~ 1e-14, |v| ~ 1e-9, the loss from 0.0239 up to C = 0.0907).
    # A polish that ends well above where it started returns the start, not converged.
    start = problem.value_mp(theta, w)
    with mpmath.workdps(w):
        rise = result.loss - start
        left = rise > POLISH_RISE * max(abs(start), abs(problem.C_mp(dps)), mpmath.mpf(10) ** -dps)
    if left:
        ev0 = problem.evaluate_mp(theta, 2 if want_hessian else 1, w)  # only then: derivatives
        with mpmath.workdps(w):
            hist = ({"left_basin": True, "loss_rise": +rise},)
            result = Polished(theta, ev0.value, ev0.grad, ev0.hess, _mp_norm(ev0.grad),
                              result.iterations, False, tuple(result.history) + hist, dps, ())
    if checkpoint is not None:
        checkpoint.put(done, vars(result))
    return result


def _polished_from(data: dict) -> Polished:
    """A :class:`Polished` from its checkpointed fields (lists back to tuples)."""
    return Polished(**{**data, "history": tuple(data["history"]),
                       "snapped_pairs": tuple(tuple(x) for x in data["snapped_pairs"])})


def _evidence_spectrum(problem: Problem, pol: Polished, eig_dps: int):
    """Null-space dimensions and the reduced Hessian's spectrum at ``eig_dps`` digits.

    At a critical point the orbit tangents ``T`` span an invariant subspace of ``H`` on which
    ``H`` vanishes (``H t = 0``), so the spectrum of ``H`` is ``r = rank T`` zeros together with the
    spectrum of the reduced Hessian (``H`` on the orthogonal complement of ``T``): the latter is the
    spectrum of ``H`` without its ``r`` eigenvalues of smallest modulus.  ``symmetry_residual``
    (``max |H q|`` over an orthonormal basis ``q`` of ``T``) checks ``H T = 0``.
    """
    with mpmath.workdps(eig_dps):
        Ha = hplinalg.to_arb(pol.hess, hplinalg.bits_for(eig_dps))
        lam = sorted(hplinalg.symmetric_eig(Ha, eig_dps).values, key=abs)
        lmax = abs(lam[-1])
        thr = lmax * mpmath.mpf(10) ** (-(eig_dps // 2))
        hess_null = sum(1 for x in lam if abs(x) <= thr)
        theta = mp_array(pol.theta, eig_dps)
        T = problem.symmetry_tangents(theta)
        Q = _mp_orth(T, eig_dps // 2, _mp_norm(theta))
        r = 0 if Q is None else Q.shape[1]
        resid = mpmath.mpf(0)
        if r:
            HQ = hplinalg.to_mp(hplinalg.matmul(Ha, Q))
            resid = max(_mp_norm(HQ[:, i]) for i in range(r))
        red = tuple(sorted(lam[r:]))
        return hess_null, r, thr, resid, red


def _status(converged: bool, min_eig, thr, extra: int) -> str:
    if not converged:
        return "not converged"
    if min_eig < -thr:
        return "saddle point"
    if extra > 0 or min_eig <= thr:
        return "degenerate minimum"
    return "strict local minimum (on the quotient by the symmetries)"


# ------------------------------------------------------------------------------- front door


def _rule_cap(problem: Problem, pol: Polished, scale: Any) -> tuple[Any, int | None]:
    """The target rule's error of the loss at the answer and the digits it leaves (or None)."""
    loss_error = getattr(problem.target, "loss_error", None)
    if loss_error is None:
        return None, None
    b, V = problem.split(np.array([float(x) for x in pol.theta]))
    err = mpmath.mpf(loss_error(b, V))
    if err == 0:
        return err, None
    return err, max(0, int(mpmath.floor(-mpmath.log10(err / abs(scale))))) if scale else 0


def refine_rule(problem: Problem, theta: Any, dps: int, min_eig: Any) -> dict | None:
    """The loss at ``theta`` (a strict minimiser of the rule's loss) with the target's finer rule.

    The finer rule changes the loss by ``dL = (C_f - C) - 2 sum_j b_j (h_f - h)(v_j)`` and its
    gradient by ``dg`` (``-2 (h_f - h)(v_j)`` in ``b_j``, ``-2 b_j grad(h_f - h)(v_j)`` in ``v_j``).
    ``theta`` is stationary for the rule's loss, so it misses the finer rule's minimum by about
    ``dg^T H^-1 dg / 2 <= |dg|^2 / (2 lambda_min)`` (``lambda_min`` the smallest eigenvalue of the
    reduced Hessian): second order in the rule's error.  The returned ``error`` adds that bound to
    the finer rule's own estimate (``C`` error plus ``2 sum |b_j| e_j``).  ``None`` when the target
    has no finer rule or ``min_eig <= 0``.
    """
    target = problem.target
    if not hasattr(target, "finer") or not min_eig > 0:
        return None
    fine = target.finer()
    work = dps + NEWTON_GUARD
    with mpmath.workdps(work):
        b, V = problem.split(np.array([+x for x in theta], dtype=object))
    h_c, g_c, _ = target.h_grad_estimate_mp(V, work)
    h_f, g_f, e_f = fine.h_grad_estimate_mp(V, work)
    C_c = target.C_mp(work)
    C_f, C_e = fine.C_estimate_mp(work)
    with mpmath.workdps(work):
        dh = h_f - h_c
        dL = (C_f - C_c) - 2 * mpmath.fsum(bj * x for bj, x in zip(b, dh, strict=True))
        dg2 = mpmath.fsum(4 * x * x for x in dh) + mpmath.fsum(
            4 * b[j] ** 2 * (g_f[j, k] - g_c[j, k]) ** 2 for j in range(problem.M)
            for k in range(problem.d))
        stationarity = dg2 / (2 * mpmath.mpf(min_eig))
        fine_error = C_e + 2 * mpmath.fsum(abs(bj) * e for bj, e in zip(b, e_f, strict=True))
        return {"step": fine.step, "loss_change": +dL, "C": +C_f,
                "stationarity_bound": +stationarity, "fine_rule_error": +fine_error,
                "error": stationarity + fine_error}


def solve(problem: Problem, restarts: int = 32, seed: int = 0, dps: int = 30, jobs: int = 1, *,
          method: str = "varpro", maxiter: int = 3000, polish_max: int = 3,
          eig_dps: int | None = None, progress: bool | None = None,
          refine: bool = True, checkpoint: str | os.PathLike | Checkpoint | None = None
          ) -> SolveResult:
    """Minimise ``problem`` (a :class:`~compverify.numeric.objective.Problem`) to ``dps`` digits.

    ``restarts`` seeded float64 local searches (``method`` in :data:`METHODS`, ``maxiter``
    iterations each) over ``jobs`` processes; basins; the best basin(s) polished in mpmath
    (at most ``polish_max`` tied ones); evidence, including an actual re-polish at ``dps + 20``.
    ``eig_dps`` (default ``min(dps + 10, 60)``) is the precision of the eigenvalue computations.
    ``progress``: a tqdm bar over restarts on stderr (``None``: only when stderr is a terminal).
    ``refine``: for a rule target whose error caps the digits, re-evaluate the loss with the
    target's finer rule (:func:`refine_rule`).
    ``checkpoint``: a file (or :class:`~compverify.numeric.checkpoint.Checkpoint`) that keeps the
    finished restarts, Newton's state after each step and the finer rule's result; a rerun with
    the same problem and arguments resumes from it (a file of another solve is refused).  It is
    left in place: remove it once the result is saved.
    Same arguments, same answer, whatever ``jobs``, interrupted and resumed or not.
    """
    t0 = time.perf_counter()
    if not isinstance(problem, Problem):
        raise CompverifyError(f"problem must be a compverify Problem, got {type(problem).__name__}")
    restarts = check_positive_int(restarts, "restarts")
    seed = check_positive_int(seed, "seed", minimum=0)
    dps = check_dps(dps, minimum=15)
    jobs = check_jobs(jobs, "jobs")
    polish_max = check_positive_int(polish_max, "polish_max")
    maxiter = check_positive_int(maxiter, "maxiter")
    if method not in METHODS:
        raise CompverifyError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    eig_dps = check_dps(eig_dps if eig_dps is not None else _default_eig_dps(dps),
                        name="eig_dps", minimum=15)
    check_problem(problem, dps, restarts)

    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        checkpoint = solve_checkpoint(problem, checkpoint, restarts=restarts, seed=seed, dps=dps,
                                      method=method, maxiter=maxiter, polish_max=polish_max,
                                      eig_dps=eig_dps, refine=refine)
    try:
        return _solve(problem, restarts, seed, dps, jobs, method, maxiter, polish_max, eig_dps,
                      progress, refine, checkpoint, t0)
    finally:
        if checkpoint is not None:
            checkpoint.flush()


def check_problem(problem: Problem, dps: int | None = None, restarts: int = 1) -> None:
    """Refuse, before any work, a problem that cannot be solved meaningfully.

    Its memory (:meth:`Problem.memory_estimate`, at ``dps`` digits for the polish) must fit
    :func:`compverify.validate.check_memory`; its ``C`` must be finite (no float64 overflow); and
    its target must not be the zero function:
    with ``C = 0`` every ``b = 0`` is optimal and the relative loss ``L / C`` is ``0/0``.  ``C``
    counts as zero when it is below ``1e-12`` of the scale ``(sum_i |a_i| sqrt(K(w_i, w_i)))^2``
    that bounds it for a finite network (rounding of an exactly zero sum), or is exactly 0.
    """
    # each finished restart keeps its point and signature (about 8 P + 500 bytes)
    kept = restarts * (8.0 * problem.n_params + 500.0)
    check_memory(problem.memory_estimate(dps) + kept,
                 f"a solve with M = {problem.M}, d = {problem.d}"
                 + (f" at {dps} digits" if dps is not None else "")
                 + (f" and {restarts} restarts" if restarts > 1 else ""))
    C = float(problem.C)
    if not math.isfinite(C):
        raise CompverifyError(f"the target's C = {C} is not finite (float64 overflow): its mean "
                              "or scale is too large for this activation")
    scale = 0.0
    a, W = getattr(problem.target, "a", None), getattr(problem.target, "W", None)
    if a is not None and W is not None and C != 0:
        norms = np.linalg.norm(W, axis=1)
        diag = np.asarray(problem.kernel.value(norms, norms, np.ones_like(norms)), dtype=float)
        scale = float(np.sum(np.abs(a) * np.sqrt(np.maximum(diag, 0.0)))) ** 2
    if C == 0 or abs(C) <= 1e-12 * scale:
        raise CompverifyError(
            f"the target of {problem.spec!r} is the zero function (C = "
            f"{C:.3g}): nothing to compress, and the relative loss L / C would be 0/0")


def _all_failed(problem: Problem, results: list) -> None:
    """Raise :class:`ComputationFailed` for a search whose every restart failed.

    The input was valid (it was checked before the search); say what the restarts reached.
    """
    msgs = sorted({r.message for r in results})
    if msgs and all("not differentiable" in m for m in msgs):
        raise ComputationFailed(
            f"every one of the {len(results)} restarts of {problem.spec!r} (d = {problem.d}, "
            f"M = {problem.M}) reached a point where the loss is not differentiable ({msgs[0]}); "
            "the minimum may lie there (for step and sign, v_2 = -v_1 is such a point), and this "
            "gradient-and-Newton solver can neither reach nor certify it (M = 1 works)")
    raise ComputationFailed(f"all {len(results)} restarts of {problem.spec!r} (d = {problem.d}, "
                            f"M = {problem.M}) failed: {'; '.join(msgs[:3])}")


def _default_eig_dps(dps: int) -> int:
    return min(dps + NEWTON_GUARD, 60)


def solve_checkpoint(problem: Problem, path: str | os.PathLike, *, restarts: int = 32,
                     seed: int = 0, dps: int = 30, method: str = "varpro", maxiter: int = 3000,
                     polish_max: int = 3, eig_dps: int | None = None,
                     refine: bool = True) -> Checkpoint:
    """The checkpoint file of :func:`solve` with these arguments: its key is the problem and
    every argument that changes the answer (not ``jobs`` or ``progress``), and the version."""
    eig_dps = eig_dps if eig_dps is not None else _default_eig_dps(dps)
    return Checkpoint(path, {
        "solve": to_jsonable(problem.describe()), "restarts": restarts, "seed": seed, "dps": dps,
        "method": method, "maxiter": maxiter, "polish_max": polish_max, "eig_dps": eig_dps,
        "refine": bool(refine), "version": __version__})


def _solve(problem, restarts, seed, dps, jobs, method, maxiter, polish_max, eig_dps, progress,
           refine, ck, t0) -> SolveResult:
    results = _run_restarts(problem, restarts, seed, method, maxiter, jobs, progress, ck)
    failed = sum(1 for r in results if not math.isfinite(r.value))
    groups = _group(problem, results)
    if not groups:
        _all_failed(problem, results)
    t_search = time.perf_counter() - t0

    # polish the best basin and the basins tied with it
    best = groups[0][0].value
    tie = BASIN_VALUE_TOL * max(abs(problem.C), abs(best), 1e-300)
    float_rule = getattr(problem.target, "float_rule", None)
    if float_rule is not None and hasattr(float_rule, "loss_error"):
        # the search ran on a coarser rule than the polish (GaussianSpectralTarget,
        # PowerSpectralTarget): basins within twice its loss error of the best are not ordered
        # by it (measured: relu_power:3, iid:rademacher d = 13, the QMC rule's best basin polished
        # to a saddle, another basin 1.4e-4 lower by the QMC rule was left out)
        b0, V0 = problem.split(groups[0][0].theta)
        tie = max(tie, 2 * float(float_rule.loss_error(b0, V0)))
    to_polish = [i for i, g in enumerate(groups) if g[0].value - best <= tie][:polish_max]
    polished: dict[int, Polished] = {}
    for i in to_polish:
        polished[i] = polish(problem, groups[i][0].theta, dps, checkpoint=ck,
                             name=f"polish of restart {groups[i][0].index}")
    chosen = min(polished, key=lambda i: (polished[i].loss, i))
    pol = polished[chosen]
    t_polish = time.perf_counter() - t0 - t_search

    # verification: an actual re-polish at dps + 20, started from the answer
    check = polish(problem, pol.theta, dps + CHECK_EXTRA, start_dps=dps + CHECK_EXTRA
                   + NEWTON_GUARD, want_hessian=False, checkpoint=ck, name="verification")
    C = problem.C_mp(dps + CHECK_EXTRA + NEWTON_GUARD)
    with mpmath.workdps(dps + CHECK_EXTRA):
        small = abs(check.loss) <= abs(C) * mpmath.mpf(10) ** (-(dps // 2))
    rel_to = "C" if small else "loss"
    verified = digits_agreeing(pol.loss, check.loss, dps, scale=C if small else None)
    rule_error, rule_digits = _rule_cap(problem, pol, C if small else pol.loss)
    hess_null, sym_dim, thr, resid, red = _evidence_spectrum(problem, pol, eig_dps)
    min_eig = red[0] if red else mpmath.mpf(0)
    extra = max(0, hess_null - sym_dim)
    status = _status(pol.converged, min_eig, thr, extra)
    refinement, loss_shift, C_fine = None, 0, None
    if (rule_digits is not None and rule_digits < verified and status.startswith("strict")
            and refine):
        if ck is not None and "finer rule" in ck:
            ref = ck.get("finer rule")
        else:
            ref = refine_rule(problem, pol.theta, dps, min_eig)
            if ck is not None:
                ck.put("finer rule", ref)
        if ref is not None and ref["error"] < rule_error:
            ref["coarse_rule_error"] = rule_error
            loss_shift, C_fine, rule_error = ref["loss_change"], ref["C"], ref["error"]
            with mpmath.workdps(dps + NEWTON_GUARD):
                scale = C_fine if small else pol.loss + loss_shift
                rule_digits = max(0, int(mpmath.floor(-mpmath.log10(rule_error / abs(scale)))))
            refinement = {k: (repr(v) if isinstance(v, float) else
                              mp_to_str(v, dps if k == "loss_change" else 6))
                          for k, v in ref.items() if k != "C"}
    if rule_digits is not None:
        verified = min(verified, rule_digits)
    negative = None
    with mpmath.workdps(dps):
        computed = pol.loss + loss_shift
        if computed < 0:
            bound = abs(C if small else computed) * mpmath.mpf(10) ** -verified
            if -computed > bound:
                raise ComputationFailed(
                    f"the computed loss {mpmath.nstr(computed, 6)} is negative beyond its error "
                    f"bound {mpmath.nstr(bound, 3)} (a squared distance is >= 0): the evaluation "
                    "of this target is not accurate enough at this point")
            negative, loss_shift = computed, -pol.loss  # reported as 0, see Evidence
    evidence = Evidence(
        grad_norm=pol.grad_norm, hessian_min_eig=min_eig, symmetry_null_dim=sym_dim,
        hessian_null_dim=hess_null, extra_null_dim=extra, null_threshold=thr,
        symmetry_residual=resid, reduced_spectrum=red, eig_dps=eig_dps,
        verified_digits=verified, verified_relative_to=rel_to, check_dps=dps + CHECK_EXTRA,
        check_loss=check.loss, check_grad_norm=check.grad_norm,
        newton_iterations=pol.iterations, newton_converged=pol.converged, status=status,
        rule_error=rule_error, rule_digits=rule_digits, rule_refinement=refinement,
        negative_loss=negative)
    t_evidence = time.perf_counter() - t0 - t_search - t_polish

    with mpmath.workdps(dps):
        b, V = problem.split(np.array([+x for x in pol.theta], dtype=object))
        Cd = problem.C_mp(dps) if C_fine is None else +C_fine
        loss = pol.loss + loss_shift
        rel = loss / Cd if Cd != 0 else mpmath.mpf("nan")
        coefficients = problem.coefficients(b, V)
        directions = problem.directions(V)
    basins = tuple(
        Basin(loss=g[0].value, count=len(g), representative=g[0].index,
              signature=tuple(float(x) for x in g[0].signature),
              polished_loss=polished[i].loss if i in polished else None)
        for i, g in enumerate(groups))
    return SolveResult(
        problem=problem.describe(), loss=loss, relative_loss=rel, C=Cd, b=b, V=V,
        coefficients=coefficients, directions=directions, evidence=evidence, basins=basins,
        seed=seed, dps=dps, restarts=restarts, jobs=jobs, method=method,
        converged=status != "not converged" and status != "saddle point", status=status,
        failed_restarts=failed,
        seconds={"search": t_search, "polish": t_polish, "evidence": t_evidence,
                 "total": time.perf_counter() - t0})


def float64_search(problem: Problem, restarts: int = 8, seed: int = 0, *, method: str = "varpro",
                   maxiter: int = 3000) -> LocalResult:
    """The best float64 local minimum of ``restarts`` seeded restarts (no polish, no evidence).

    For experiments that need many cheap minima (the error rate); ``solve`` is the verified path.
    """
    restarts = check_positive_int(restarts, "restarts")
    check_problem(problem, None, restarts)
    results = _run_restarts(problem, restarts, seed, method, maxiter, 1, False)
    best = min(results, key=lambda r: r.value)
    if not math.isfinite(best.value):
        _all_failed(problem, results)
    return best
