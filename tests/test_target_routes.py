"""The target route registry: which route serves which target, the generated tables, a toy route."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from compverify.cli import main
from compverify.errors import CompverifyError
from compverify.numeric.targets import (
    ROUTES,
    Route,
    TargetSpec,
    from_options,
    register_route,
    route_for,
    unregister_route,
)
from compverify.numeric.targets import table as route_table
from compverify.symbolic import get_activation

ROOT = Path(__file__).resolve().parents[1]


def _route(target, activation, d=3, mean=None, rule_points=None):
    return route_for(TargetSpec.from_options(target, d=d, mean=mean, scale=None,
                                             activation=activation, rule_points=rule_points)).name


# The rules the README documented before the registry existed, one case per distinction.
ROUTE_CASES = [
    ("isotropic", "relu", 3, None, None, "gaussian-closed-form"),
    ("gaussian", "polynomial:0,1,1", 3, "0.2", None, "gaussian-closed-form"),
    ("gaussian", "relu", 3, "0.2", None, "gaussian-series"),
    ("iid:gaussian", "abs", 3, None, None, "gaussian-closed-form"),
    ("gaussian", "tanh", 3, "0.2", None, "gaussian-spectral"),
    ("isotropic", "tanh", 3, None, None, "gaussian-spectral"),
    ("iid:rademacher", "tanh", 12, None, None, "rademacher-exact"),
    ("iid:rademacher", "polynomial:0,1,1", 13, None, None, "iid-polynomial"),
    ("iid:uniform", "polynomial:0,1,1", 2, None, None, "iid-polynomial"),
    ("iid:uniform", "relu_power:3", 2, None, None, "iid-spectral-power"),
    ("iid:rademacher", "relu", 13, "0.1", None, "iid-spectral"),
    ("iid:uniform", "tanh", 3, None, None, "iid-spectral"),
    ("iid:uniform", "tanh", 3, None, 64, "iid-qmc"),
    ("iid:rademacher", "relu_power:3", 14, None, 64, "iid-qmc"),
    ("iid:uniform", "sqrt(1 + z**2)", 3, None, None, "iid-qmc"),  # no spectral form
]


@pytest.mark.slow
@pytest.mark.parametrize("target,activation,d,mean,points,expected", ROUTE_CASES)
def test_route_choice(target, activation, d, mean, points, expected):
    assert _route(target, activation, d, mean, points) == expected


def test_gauss_rule_options_select_the_gauss_rule():
    spec = TargetSpec(family="gaussian", activation=get_activation("tanh"), d=3, law="gaussian",
                      rule=(("nodes", (8, 4)),))
    assert route_for(spec).name == "gauss-rule"


def test_every_builtin_route_is_reached_and_the_precision_classes_are_declared():
    reached = {case[-1] for case in ROUTE_CASES} | {"finite", "gauss-rule"}
    assert reached == {r.name for r in ROUTES}
    assert {r.precision for r in ROUTES} == {"exact", "series", "rule with estimate", "QMC"}


def test_errors_name_the_bad_value(tmp_path):
    with pytest.raises(CompverifyError, match=r"unknown target 'foo'; expected isotropic, "
                       r"gaussian, iid:gaussian, iid:rademacher, iid:uniform or a path"):
        from_options("foo", d=2, mean=None, scale=None, activation="relu")
    with pytest.raises(CompverifyError, match="--rule-points applies only"):
        from_options("iid:rademacher", d=4, mean=None, scale=None, activation="relu",
                     rule_points=64)
    with pytest.raises(CompverifyError, match="takes one mean m"):
        from_options("iid:uniform", d=2, mean="0.1,0.2", scale=None, activation="relu")
    with pytest.raises(CompverifyError, match="--d is required"):
        from_options("gaussian", d=None, mean=None, scale=None, activation="relu")


def test_spec_is_frozen_and_parsed_once():
    spec = TargetSpec.from_options("gaussian", d=2, mean="0.5", scale=" 0.25 ", activation="relu")
    assert (spec.family, spec.law, spec.d, spec.mean, spec.scale) == ("gaussian", "gaussian", 2,
                                                                      (0.5, 0.5), "0.25")
    with pytest.raises(AttributeError):
        spec.d = 3  # type: ignore[misc]


@pytest.mark.parametrize("doc", ["README.md", "docs/targets.md"])
def test_embedded_tables_are_the_generated_one(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert route_table.embedded_table(text) == route_table.markdown_table()


def test_command_prints_the_registry_and_the_route_taken(capsys):
    assert main(["targets", "--target", "iid:rademacher", "--activation", "tanh", "--d", "20",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["route"] for r in out["routes"]] == [r.name for r in ROUTES]
    assert out["selected"]["route"] == "iid-spectral"
    assert main(["targets", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.strip() == route_table.markdown_table()
    assert main(["targets", "--target", "bogus"]) == 2


# ----------------------------------------------------------------------------- a toy route
class ConstantTarget:
    """A toy target family: ``h(v) = c`` for every ``v``, ``C = c^2`` (what a target offers)."""

    rotation_invariant = True
    method = "constant h"

    def __init__(self, activation, d, c):
        self.activation, self.d, self.c = activation, d, float(c)

    def h(self, V):
        return np.full(np.asarray(V).shape[0], self.c)

    def h_grad(self, V):
        return np.zeros(np.asarray(V).shape)

    def C(self):
        return self.c**2

    def describe(self):
        return {"family": "constant", "d": self.d, "c": self.c, "method": self.method}


TOY = Route(name="constant", families=("constant",), activations="any", condition="",
            precision="exact", description="h(v) = the mean, C = its square",
            accepts=lambda spec: True,
            build=lambda spec: ConstantTarget(spec.activation, spec.d, spec.scalar_mean))


def test_a_toy_route_needs_one_registration_and_nothing_else(capsys):
    with pytest.raises(CompverifyError, match="unknown target 'constant'"):
        from_options("constant", d=2, mean="0.5", scale=None, activation="relu")
    register_route(TOY)
    try:
        t = from_options("constant", d=2, mean="0.5", scale=None, activation="relu")
        V = np.array([[0.3, -1.0], [2.0, 0.1]])
        assert t.h(V).tolist() == [0.5, 0.5] and math.isclose(t.C(), 0.25)
        assert route_for(TargetSpec.from_options("constant", d=2, mean=None, scale=None,
                                                 activation="tanh")) is TOY
        assert main(["targets", "--target", "constant", "--format", "json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["selected"]["route"] == "constant" and out["routes"][-1]["route"] == "constant"
        with pytest.raises(CompverifyError, match="already registered"):
            register_route(TOY)
    finally:
        unregister_route("constant")
    assert "constant" not in [r.name for r in ROUTES]


def test_a_route_registered_before_another_takes_precedence():
    spec = TargetSpec.from_options("isotropic", d=2, mean=None, scale=None, activation="relu")
    first = Route(name="first", families=("isotropic",), activations="relu", condition="",
                  precision="QMC", description="toy", accepts=lambda s: True,
                  build=lambda s: "first")
    register_route(first, before="gaussian-closed-form")
    try:
        assert route_for(spec) is first and from_options(
            "isotropic", d=2, mean=None, scale=None, activation="relu") == "first"
    finally:
        unregister_route("first")
    assert route_for(spec).name == "gaussian-closed-form"
