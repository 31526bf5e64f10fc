"""The front door: the few functions a user calls, in the manner of :mod:`scipy.optimize`.

``import compverify as cv`` gives these names (loaded on first use, so ``import compverify`` stays
cheap). The command-line commands are thin wrappers over exactly these functions.

>>> import compverify as cv
>>> k = cv.derive("relu")                 # the derived Gaussian kernel, with its steps
>>> k.route
'piecewise-homogeneous'
>>> t = cv.target("isotropic", d=2, activation="relu")
>>> p = cv.Problem("relu", t, M=3)
>>> p.d, p.M
(2, 3)

The typical session goes ``derive`` -> ``target`` -> ``Problem`` -> ``solve`` -> ``frame_report``
(or ``conjecture`` over a grid of (d, M)); the results carry their evidence (``SolveResult``:
gradient norm, Hessian spectrum, verified digits).
"""

from __future__ import annotations

import os
from typing import Any

from compverify.errors import CompverifyError
from compverify.numeric.experiments import run_rate as error_rate
from compverify.numeric.loss import LossResult, population_loss, population_loss_mp
from compverify.numeric.objective import Problem
from compverify.numeric.solver import SolveResult, check_problem, solve_checkpoint
from compverify.numeric.solver import solve as _solve
from compverify.numeric.targets import build_target
from compverify.proofs_check.conjecture import (
    FrameReport,
    SweepParams,
    SweepResult,
    run_sweep,
    solve_frame_block,
)
from compverify.symbolic import Activation, Kernel, get_activation

__all__ = [
    "Activation", "FrameReport", "Kernel", "LossResult", "Problem", "SolveResult", "SweepParams",
    "SweepResult",
    "activation", "check_problem", "conjecture", "derive", "error_rate", "frame_report",
    "population_loss", "population_loss_mp", "solve", "solve_checkpoint", "target",
]


def activation(spec: str | Activation) -> Activation:
    """The activation of a registry spec (``"relu"``, ``"leaky_relu:0.1"``,
    ``"polynomial:0,0,1"``, ...) or of a user expression in ``z`` (whitelist-parsed, never
    evaluated)."""
    return spec if isinstance(spec, Activation) else get_activation(spec)


def derive(spec: str | Activation) -> Kernel:
    """The Gaussian kernel ``k(nu, nv, rho) = E[sigma(<u,x>) sigma(<v,x>)]`` derived by SymPy, with
    its partials, its route and the derivation steps (``.steps``)."""
    return activation(spec).kernel


def target(family: str = "isotropic", *, d: int | None = None, activation: Any = "relu",
           mean: str | float | None = None, scale: str | float | None = None,
           rule_points: int | None = None) -> Any:
    """The network to compress, bound to ``activation``: ``family`` is ``isotropic``,
    ``gaussian``, ``iid:LAW`` (gaussian, rademacher, uniform) or a path to an ``.npz`` file with
    arrays ``a`` (N,) and ``W`` (N, d). The route that evaluates its mean field is chosen by the
    target route registry (``compverify targets`` lists it).

    ``d``, when given with an ``.npz`` file, must equal the file's."""
    act = globals()["activation"](activation)
    return build_target(str(family), d=d, mean=None if mean is None else str(mean),
                        scale=None if scale is None else str(scale), activation=act,
                        rule_points=rule_points)


def solve(problem: Problem, *, restarts: int = 32, seed: int = 0, dps: int = 30, jobs: int = 1,
          method: str = "varpro", checkpoint: Any = None, progress: bool | None = None,
          **options: Any) -> SolveResult:
    """Minimise the compression objective to ``dps`` digits, with evidence attached.

    Seeded float64 multi-start search (``restarts``), basins, Newton polish in mpmath on the
    quotient by the symmetries, and the evidence (gradient norm, reduced Hessian spectrum, digits
    verified by a re-polish at ``dps + 20``). With ``checkpoint`` (a path, or the
    :func:`solve_checkpoint` of these arguments) the finished work is kept in that file and a rerun
    resumes from it. ``options`` (``maxiter``, ``polish_max``, ``eig_dps``, ``refine``) go to
    :func:`compverify.numeric.solver.solve`. :func:`check_problem` refuses, before any work, a
    problem too large for memory or with a zero or overflowing target."""
    return _solve(problem, restarts=restarts, seed=seed, dps=dps, jobs=jobs, method=method,
                  checkpoint=checkpoint, progress=progress, **options)


def frame_report(problem: Problem, result: SolveResult | dict, *,
                 seed: int = 0) -> FrameReport | None:
    """The frame verdict of a solve result: coherence, Welch bound, tightness, certified distance
    bounds, the verdict (ETF, tight, equiangular, neither, degenerate) and, where the catalogue has
    an ETF for ``(d, M)``, the best value on it and the ETF gap. ``None`` for ``M = 1``, where
    there is no frame to test."""
    return solve_frame_block(problem, result, seed=seed)


def conjecture(params: SweepParams | None = None, out: str | os.PathLike | None = None, *,
               jobs: int = 1, progress: str = "auto", dask: Any = None,
               **options: Any) -> SweepResult:
    """Test the ETF conjecture over a grid of (d, M): per case the relative loss, the verdict and
    the ETF gap. ``options`` are :class:`SweepParams` fields (``activation``, ``d`` such as
    ``"2:4"``, ``M`` such as ``"d+1,d+2"``, ``target``, ``restarts``, ``dps``, ``seed``). With
    ``out`` the sweep is written there after every case and resumed from it. ``dask``
    (``"local:N"``, ``"tcp://HOST:PORT"`` or a ``distributed.Client``) runs the cases on a Dask
    cluster, with the same results (:mod:`compverify.cluster`)."""
    if params is None:
        params = SweepParams(**options)
    elif options:
        raise CompverifyError(f"give either params or options, not both: {sorted(options)}")
    return run_sweep(params, out, jobs=jobs, progress=progress, dask=dask)
