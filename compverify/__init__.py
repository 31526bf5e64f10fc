"""compverify: symbolic-numeric verification of claims about compressing two-layer networks.

Layers (data flows one way): :mod:`compverify.symbolic` derives Gaussian kernels and their
partials with SymPy; :mod:`compverify.numeric` evaluates losses, mean-field objectives and solves
them to high precision; :mod:`compverify.proofs_check` turns solutions into frame verdicts.
The command line (:mod:`compverify.cli`) and :mod:`compverify.report` only orchestrate.

The front door, :mod:`compverify.api`, is reachable from here (``import compverify as cv``;
``cv.derive``, ``cv.target``, ``cv.Problem``, ``cv.solve``, ``cv.frame_report``,
``cv.conjecture``, ...). Its names are imported on first use, so importing the package (as the
command line does) does not load SymPy, mpmath and SciPy.
"""

from typing import Any

from compverify._version import __version__
from compverify.errors import CompverifyError

#: Names of the front door, loaded from :mod:`compverify.api` on first use.
_API = ("Activation", "FrameReport", "Kernel", "LossResult", "Problem", "SolveResult", "SweepParams",
        "SweepResult",
        "activation", "check_problem", "conjecture", "derive", "error_rate", "export_network",
        "frame_report",
        "population_loss", "population_loss_mp", "solve", "solve_checkpoint", "target")

__all__ = ["CompverifyError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from compverify import api

        return getattr(api, name)
    raise AttributeError(f"module 'compverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
