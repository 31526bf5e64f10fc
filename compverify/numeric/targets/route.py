"""What a target route is: :class:`Route`, one way of computing a target's ``h`` and ``C``.

A route declares what it serves (the families, the activations and any further condition, in
words for the table and as a predicate ``accepts(spec)`` for the dispatcher), its precision class
(:data:`PRECISION_CLASSES`), a one-line description of the method, and ``build(spec)``, which
returns the target.  Routes live one per module in :mod:`compverify.numeric.targets.routes`; the
registry (:mod:`compverify.numeric.targets.registry`) walks them in a declared order and the
first that accepts a spec builds it.

>>> r = Route(name="demo", families=("demo",), activations="any", condition="",
...           precision="exact", description="nothing", accepts=lambda spec: False,
...           build=lambda spec: None)
>>> r.serves("demo")
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compverify.errors import CompverifyError

__all__ = ["Route", "PRECISION_CLASSES"]

#: How good a route's numbers are: ``exact`` (closed forms or finite sums, to any precision),
#: ``series`` (a convergent series whose tail is bounded below the working precision), ``rule
#: with estimate`` (a deterministic quadrature rule with an error estimate that caps the
#: solver's verified digits), ``QMC`` (randomized quasi-Monte Carlo with a replicate-spread
#: error estimate, about 4-6 digits).
PRECISION_CLASSES = ("exact", "series", "rule with estimate", "QMC")


@dataclass(frozen=True)
class Route:
    """One route: what it serves, how precise it is, and how it builds the target.

    ``families``: the target families it may serve (``npz``, ``safetensors`` for a file).
    ``activations``, ``condition``: what else it requires, in words (the table's columns);
    ``accepts(spec)`` is the same as a predicate and is what the dispatcher asks (it may
    assume ``spec.family`` is in ``families``).  ``build(spec)`` returns the target.
    """

    name: str
    families: tuple[str, ...]
    activations: str
    condition: str
    precision: str
    description: str
    accepts: Callable[[Any], bool]
    build: Callable[[Any], Any]

    def __post_init__(self) -> None:
        if self.precision not in PRECISION_CLASSES:
            raise CompverifyError(f"route {self.name!r}: precision must be one of "
                                  f"{', '.join(PRECISION_CLASSES)}, got {self.precision!r}")
        if not self.families:
            raise CompverifyError(f"route {self.name!r} serves no family")

    def serves(self, family: str) -> bool:
        """Whether ``family`` is among the families this route may serve."""
        return family in self.families

    def takes(self, spec: Any) -> bool:
        """Whether this route builds ``spec``: it serves the family and its predicate accepts."""
        return self.serves(spec.family) and bool(self.accepts(spec))
