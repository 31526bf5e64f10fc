"""SymPy derivations: activations, their Gaussian kernels with partials, and the derivation steps.

>>> from compverify.symbolic import get_activation
>>> get_activation("relu").kernel.expr
nu*nv*(-rho*acos(rho) + pi*rho + sqrt(1 - rho**2))/(2*pi)
"""

from compverify.symbolic.activations import (
    REGISTRY,
    Activation,
    as_activation,
    get_activation,
    list_activations,
)
from compverify.symbolic.derivation import Derivation, derive_kernel
from compverify.symbolic.kernel import Kernel
from compverify.symbolic.parser import parse_activation
from compverify.symbolic.steps import NU, NV, RHO, DerivationStep, Z

__all__ = ["Activation", "as_activation", "Derivation", "DerivationStep", "Kernel", "NU", "NV", "REGISTRY",
           "RHO", "Z", "derive_kernel", "get_activation", "list_activations", "parse_activation"]
