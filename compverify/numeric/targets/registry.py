"""The route registry and the dispatcher: the first route that accepts a spec builds its target.

:data:`ROUTES` is the list of routes in the order the dispatcher tries them (the built-in ones of
:mod:`compverify.numeric.targets.routes` first).  :func:`register_route` adds one (at the end, or
before a named route), :func:`unregister_route` removes it; :func:`route_for` names the route a
spec takes and :func:`build` builds the target.  A family no route serves is an error that lists
the families there are.

>>> from compverify.numeric.targets.spec import TargetSpec
>>> route_for(TargetSpec.from_options("iid:uniform", d=20, mean=None, scale=None,
...                                   activation="tanh")).name
'iid-spectral'
"""

from __future__ import annotations

from typing import Any

from compverify.errors import CompverifyError
from compverify.numeric.targets.route import Route
from compverify.numeric.targets.routes import BUILTIN
from compverify.numeric.targets.spec import FILE_LABELS, TargetSpec

__all__ = ["ROUTES", "register_route", "unregister_route", "route_for", "build", "families"]

#: The routes in the order the dispatcher tries them.
ROUTES: list[Route] = list(BUILTIN)


def register_route(route: Route, *, before: str | None = None) -> Route:
    """Add ``route`` to the registry: last, or just before the route named ``before``.

    A new family needs nothing else: :meth:`TargetSpec.from_options` passes any family name
    through, the dispatcher finds the route, ``compverify targets`` lists it.
    """
    if not isinstance(route, Route):
        raise CompverifyError(f"register_route takes a Route, got {type(route).__name__}")
    if any(r.name == route.name for r in ROUTES):
        raise CompverifyError(f"a route named {route.name!r} is already registered")
    if before is None:
        ROUTES.append(route)
    else:
        ROUTES.insert(_index(before), route)
    return route


def unregister_route(name: str) -> Route:
    """Remove the route named ``name`` from the registry and return it."""
    return ROUTES.pop(_index(name))


def _index(name: str) -> int:
    for i, r in enumerate(ROUTES):
        if r.name == name:
            return i
    raise CompverifyError(f"no route named {name!r}; routes: {', '.join(r.name for r in ROUTES)}")


def families() -> list[str]:
    """The families the routes serve, in the order of their first route (files excluded)."""
    out: list[str] = []
    for r in ROUTES:
        out.extend(f for f in r.families if f not in FILE_LABELS and f not in out)
    return out


def route_for(spec: TargetSpec) -> Route:
    """The first route (in :data:`ROUTES` order) that serves the spec's family and accepts it."""
    served = False
    for r in ROUTES:
        if r.serves(spec.family):
            served = True
            if r.accepts(spec):
                return r
    if not served:
        raise CompverifyError(f"unknown target {spec.label!r}; expected "
                              f"{', '.join(families())} or a path to an .npz or .safetensors file")
    raise CompverifyError(f"no route serves the target {spec.label!r} with the activation "
                          f"{spec.activation.spec!r}")


def build(spec: TargetSpec) -> Any:
    """The target of ``spec``, built by the route :func:`route_for` picks."""
    return route_for(spec).build(spec)
