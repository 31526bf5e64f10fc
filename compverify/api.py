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
from compverify.numeric.model_files import save_safetensors
from compverify.numeric.objective import Problem
from compverify.numeric.solver import SolveResult, check_problem, solve_checkpoint
from compverify.numeric.solver import solve as _solve
from compverify.numeric.targets import build_target
from compverify.numeric.targets.spec import with_layers
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
    "activation", "check_problem", "conjecture", "derive", "error_rate", "export_network",
    "frame_report", "population_loss", "population_loss_mp", "solve", "solve_checkpoint", "target",
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
           rule_points: int | None = None, layers: str | tuple[str, str] | None = None) -> Any:
    """The network to compress, bound to ``activation``: ``family`` is ``isotropic``,
    ``gaussian``, ``iid:LAW`` (gaussian, rademacher, uniform), a path to an ``.npz`` file with
    arrays ``a`` (N,) and ``W`` (N, d), or a path to a ``.safetensors`` file with the weights
    ``0.weight`` (N, d) and ``2.weight`` (1, N) of a torch ``Sequential(Linear(d, N,
    bias=False), act, Linear(N, 1, bias=False))`` (``layers``: other names for the two,
    ``"fc1.weight,fc2.weight"``). The route that evaluates its mean field is chosen by the
    target route registry (``compverify targets`` lists it).

    ``d``, when given with a file, must equal the file's."""
    act = globals()["activation"](activation)
    if layers is not None:
        family = with_layers(str(family), ",".join(layers) if isinstance(layers, tuple | list)
                             else layers)
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


def export_network(result: SolveResult, path: str | os.PathLike, *,
                   layers: str | tuple[str, str] | None = None, target: str | None = None) -> None:
    """Write the compressed network ``sum_j b_j sigma(<v_j, x>)`` of a solve result to a
    ``.safetensors`` file, atomically: ``0.weight`` = ``V`` (M, d) and ``2.weight`` = ``b`` as a
    (1, M) row (or the names ``layers``), the weights of a torch ``Sequential(Linear(d, M,
    bias=False), act, Linear(M, 1, bias=False))``, in float64 (the polished values rounded to
    the nearest double).  The header's metadata holds the activation, the loss and relative loss
    at the result's precision, the verified digits, ``d``, ``M``, the target and the compverify
    version, as strings."""
    from compverify.io import mp_to_str

    p = result.dps
    ev = result.evidence
    meta = {"format": "compverify two-layer network: f(x) = sum_j b_j sigma(<v_j, x>), "
                      "first weight V (M, d), second weight b (1, M)",
            "activation": result.problem.get("activation"),
            "loss": mp_to_str(result.loss, p), "relative_loss": mp_to_str(result.relative_loss, p),
            "C": mp_to_str(result.C, p), "verified_digits": str(ev.verified_digits),
            "verified_relative_to": ev.verified_relative_to, "dps": str(p),
            "d": str(result.problem.get("d")), "M": str(result.problem.get("M")),
            "target": target, "converged": str(result.converged), "status": result.status,
            "compverify_version": result.version}
    b = [float(x) for x in result.b]
    V = [[float(x) for x in row] for row in result.V]
    save_safetensors(path, b, V, meta, layers)


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
