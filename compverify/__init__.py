"""compverify: symbolic-numeric verification of claims about compressing two-layer networks.

Layers (data flows one way): :mod:`compverify.symbolic` derives Gaussian kernels and their
partials with SymPy; :mod:`compverify.numeric` evaluates losses, mean-field objectives and solves
them to high precision; :mod:`compverify.proofs_check` turns solutions into frame verdicts.
The command line (:mod:`compverify.cli`) and :mod:`compverify.report` only orchestrate.
"""

__version__ = "0.1.0"

from compverify.errors import CompverifyError  # noqa: E402

__all__ = ["CompverifyError", "__version__"]
