"""The NumPy code generator of compiled kernels against sympy.lambdify (an independent printer of
the same expressions), on broadcast shapes, with and without reused buffers."""

import numpy as np
import pytest
import sympy

from compverify.symbolic.numpy_codegen import NumpyProgram, Unsupported, Workspace, factor_polynomials
from compverify.symbolic.steps import NU, NV, RHO

# closed forms of the relu, erf and gelu kernels and made-up expressions exercising every node kind
EXPRS = [
    NU * NV * (sympy.sqrt(1 - RHO**2) + (sympy.pi - sympy.acos(RHO)) * RHO) / (2 * sympy.pi),
    2 / sympy.pi * sympy.asin(2 * NU * NV * RHO
                              / sympy.sqrt(4 * NU**2 * NV**2 + 2 * NU**2 + 2 * NV**2 + 1)),
    NU * NV * RHO / (sympy.sqrt(NU**2 + 1) * sympy.sqrt(NV**2 + 1)) ** sympy.Rational(5, 2),
    sympy.exp(-NU**2) * sympy.erf(NV * RHO) - sympy.atan(RHO) / (1 + NU**3) + NV**6 * RHO**4,
    (1 - RHO**2) ** sympy.Rational(-3, 2) * NU - 3,
    NU,
    sympy.Integer(2),
]
SHAPES = [((40, 1), (1, 7), (40, 7)), ((50,), (50,), (50,)), ((), (), ()), ((3, 1), (), (3, 4))]


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    nu, nv = (rng.uniform(0.1, 3.0, s) if s else rng.uniform(0.1, 3.0) for s in shapes[:2])
    rho = rng.uniform(-0.99, 0.99, shapes[2]) if shapes[2] else rng.uniform(-0.99, 0.99)
    return nu, nv, rho


@pytest.fixture(scope="module")
def prog():
    return NumpyProgram(EXPRS)


@pytest.mark.parametrize("shapes", SHAPES)
def test_program_matches_lambdify(prog, shapes):
    ref = sympy.lambdify((NU, NV, RHO), EXPRS, modules=["scipy", "numpy"])
    nu, nv, rho = _inputs(shapes)
    shape = np.broadcast_shapes(np.shape(nu), np.shape(nv), np.shape(rho))
    got, want = prog(nu, nv, rho), ref(nu, nv, rho)
    for g, w in zip(got, want, strict=True):
        g, w = np.broadcast_to(g, shape), np.broadcast_to(np.asarray(w, dtype=float), shape)
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


def test_workspace_reuse_gives_the_same_values_and_keeps_inputs(prog):
    ws = Workspace()
    shapes = SHAPES[0]
    first = [np.array(x, copy=True) for x in prog(*_inputs(shapes, 1))]
    nu, nv, rho = _inputs(shapes, 2)
    kept = [x.copy() for x in (nu, nv, rho)]
    fresh = [np.array(x, copy=True) for x in prog(nu, nv, rho)]
    for _ in range(2):  # the second call overwrites the first call's buffers
        prog(*_inputs(shapes, 1), workspace=ws)
        reused = prog(nu, nv, rho, workspace=ws)
        for a, b in zip(reused, fresh, strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip((nu, nv, rho), kept, strict=True):
        np.testing.assert_array_equal(a, b)
    # distinct outputs are distinct arrays (no two share a buffer)
    outs = [x for x in prog(nu, nv, rho, workspace=ws) if isinstance(x, np.ndarray)]
    assert len({id(x) for x in outs}) == len(outs)
    assert any(not np.array_equal(a, b) for a, b in zip(first, fresh, strict=True))


def test_factoring_only_when_it_saves_operations():
    e = 4 * NU**2 * NV**2 + 2 * NU**2 + 2 * NV**2 + 1
    assert factor_polynomials(e) == (2 * NU**2 + 1) * (2 * NV**2 + 1)
    irreducible = NU**2 + NV**2 + 1
    assert factor_polynomials(irreducible) == irreducible


def test_unsupported_nodes_are_refused():
    with pytest.raises(Unsupported):
        NumpyProgram([sympy.Piecewise((NU, RHO > 0), (NV, True))])
    with pytest.raises(Unsupported):
        NumpyProgram([NU ** RHO])
