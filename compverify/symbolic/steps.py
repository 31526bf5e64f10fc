"""The record of a derivation: the shared symbols and one step of a derivation.

Every kernel derivation in :mod:`compverify.symbolic` is kept as a list of
:class:`DerivationStep` so that reports can print it step by step. The kernel
``k(nu, nv, rho) = E[sigma(<u,x>) sigma(<v,x>)]``, ``x ~ N(0, I_d)``, is written in the
symbols :data:`NU` (``|u|``), :data:`NV` (``|v|``) and :data:`RHO` (``<u,v>/(|u||v|)``);
activations are written in :data:`Z`.

>>> import sympy
>>> step = DerivationStep.from_expr("ReLU kernel at rho = 0", NU * NV / (2 * sympy.pi))
>>> step.latex
'\\\\frac{\\\\nu_{u} \\\\nu_{v}}{2 \\\\pi}'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

#: The activation's variable.
Z = sympy.Symbol("z", real=True)
#: ``|u|``, ``|v|`` (non-negative) and the cosine ``rho`` in ``[-1, 1]``.
NU = sympy.Symbol("nu", nonnegative=True)
NV = sympy.Symbol("nv", nonnegative=True)
RHO = sympy.Symbol("rho", real=True)

#: LaTeX names used when printing kernels, so reports read ``\nu_u, \nu_v, \rho``.
LATEX_NAMES = {NU: r"\nu_{u}", NV: r"\nu_{v}", RHO: r"\rho", Z: "z"}


def to_latex(expr: sympy.Basic) -> str:
    """LaTeX of ``expr`` with the kernel symbols printed as in the reports."""
    return sympy.latex(expr, symbol_names=LATEX_NAMES)


@dataclass(frozen=True)
class DerivationStep:
    """One step of a derivation: what was done, and the expression it produced.

    ``description`` is a short sentence; ``latex`` the intermediate expression (or equation) in
    LaTeX; ``expr`` the same as a SymPy object when there is one (``None`` for purely textual
    steps such as "whiten the pair").
    """

    description: str
    latex: str
    expr: sympy.Basic | None = field(default=None, compare=False)

    @classmethod
    def from_expr(cls, description: str, expr: sympy.Basic) -> DerivationStep:
        """Build a step from a SymPy expression (its LaTeX is printed here)."""
        return cls(description=description, latex=to_latex(expr), expr=expr)

    def to_dict(self) -> dict[str, str]:
        """``{"description", "latex"}`` (the JSON form used by ``compverify derive``)."""
        return {"description": self.description, "latex": self.latex}
