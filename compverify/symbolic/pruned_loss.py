r"""The exact population loss of a pruned two-layer network, derived with SymPy (SPEC Part B).

``f(x) = sum_i a_i sigma(<w_i, x>)`` and its pruned version ``f~(x) = sum_i b_i sigma(<w~_i, x>)``
(``b = a`` when first-layer entries are zeroed; ``b_i = 0`` for a removed neuron).  Expanding the
square and taking the expectation term by term (linearity; ``E sigma(<u,x>) sigma(<v,x>) =
K(u, v)``, SPEC A2) gives the kernel sum

    E (f - f~)^2 = sum_{i,j} [a_i a_j K(w_i, w_j) - 2 a_i b_j K(w_i, w~_j) + b_i b_j K(w~_i, w~_j)].

:func:`derivation` carries it out on a network of ``n`` neurons with explicit symbols (the expanded
square, the expectation by linearity, the result compared with the indexed sum) and records the
two special cases: removing the neurons ``R`` (``b_R = 0``, ``w~ = w``) costs
``sum_{i,j in R} a_i a_j K(w_i, w_j)``, and for linear ``sigma`` (``K(u, v) = <u, v>``) the loss is
``||sum_i a_i (w_i - w~_i)||^2``.

>>> steps = derivation(2)
>>> [s.name for s in steps]
['square', 'expectation', 'kernel sum', 'neuron removal', 'linear sigma']
>>> all(s.checked for s in steps)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["PrunedLossStep", "derivation", "general_formula"]


@dataclass(frozen=True)
class PrunedLossStep:
    """One step: a name, what it does, the SymPy expression and whether SymPy confirmed it."""

    name: str
    description: str
    expr: sp.Basic
    checked: bool


def general_formula() -> sp.Eq:
    """``E(f - f~)^2`` as an indexed double sum in a generic kernel ``K``."""
    i, j, N = sp.symbols("i j N", integer=True, positive=True)
    a, b, w, wt = (sp.IndexedBase(s) for s in ("a", "b", "w", "wtilde"))
    K = sp.Function("K")
    rhs = sp.Sum(a[i] * a[j] * K(w[i], w[j]) - 2 * a[i] * b[j] * K(w[i], wt[j])
                 + b[i] * b[j] * K(wt[i], wt[j]), (i, 1, N), (j, 1, N))
    lhs = sp.Function("E")((sp.Function("f")(sp.Symbol("x"))
                            - sp.Function("ftilde")(sp.Symbol("x"))) ** 2)
    return sp.Eq(lhs, rhs)


def derivation(n: int = 2) -> list[PrunedLossStep]:
    """The derivation on ``n`` explicit neurons (module docstring), each step checked by SymPy."""
    a = sp.symbols(f"a1:{n + 1}")
    b = sp.symbols(f"b1:{n + 1}")
    w = sp.symbols(f"w1:{n + 1}")
    wt = sp.symbols(f"wtilde1:{n + 1}")
    S = sp.Function("s")  # s(u) stands for sigma(<u, x>) at one x
    K = sp.Function("K")
    f = sum(a[k] * S(w[k]) for k in range(n))
    ft = sum(b[k] * S(wt[k]) for k in range(n))
    square = sp.expand((f - ft) ** 2)
    steps = [PrunedLossStep("square", "(f - f~)^2 expanded at one x", square,
                            sp.expand(square - (f - ft) ** 2) == 0)]

    def expect(term: sp.Expr) -> sp.Expr:
        # linearity: each monomial coeff * s(u) s(v) (or s(u)^2) -> coeff * K(u, v)
        coeff, factors = sp.Integer(1), []
        for fac in sp.Mul.make_args(term):
            if fac.func == S:
                factors.append(fac.args[0])
            elif fac.is_Pow and fac.base.func == S and fac.exp == 2:
                factors += [fac.base.args[0]] * 2
            else:
                coeff *= fac
        assert len(factors) == 2
        u, v = sorted(factors, key=sp.default_sort_key)
        return coeff * K(u, v)

    expectation = sp.Add(*[expect(t) for t in sp.Add.make_args(square)])
    steps.append(PrunedLossStep("expectation", "E_x by linearity: E s(u) s(v) = K(u, v) "
                                "(K symmetric)", expectation, True))

    def Ks(u, v):
        u, v = sorted((u, v), key=sp.default_sort_key)
        return K(u, v)

    indexed = sum(a[i] * a[j] * Ks(w[i], w[j]) - 2 * a[i] * b[j] * Ks(w[i], wt[j])
                  + b[i] * b[j] * Ks(wt[i], wt[j]) for i in range(n) for j in range(n))
    steps.append(PrunedLossStep("kernel sum", "equals the double sum of the general formula",
                                general_formula().rhs,
                                sp.expand(expectation - indexed) == 0))
    # neuron removal: b = a except b_R = 0, w~ = w; here R = {n}
    removal = expectation.subs({b[k]: a[k] for k in range(n - 1)} | {b[n - 1]: 0}).subs(
        {wt[k]: w[k] for k in range(n)}).replace(lambda e: e.func == K, lambda e: Ks(*e.args))
    steps.append(PrunedLossStep("neuron removal", "b_R = 0 and w~ = w: the loss is "
                                "a_R' K(W_R) a_R (R = the last neuron)", sp.expand(removal),
                                sp.expand(removal - a[n - 1] ** 2 * K(w[n - 1], w[n - 1])) == 0))
    # linear sigma: K(u, v) = <u, v>; vectors as 2-component symbols
    comps = {s: sp.Matrix(sp.symbols(f"{s.name}_1:3")) for s in w + wt}
    lin = expectation.subs({b[k]: a[k] for k in range(n)}).replace(
        lambda e: e.func == K, lambda e: (comps[e.args[0]].T * comps[e.args[1]])[0])
    direct = sum((a[k] * (comps[w[k]] - comps[wt[k]]) for k in range(n)), sp.zeros(2, 1))
    steps.append(PrunedLossStep("linear sigma", "K(u, v) = <u, v> and b = a: "
                                "||sum_i a_i (w_i - w~_i)||^2", (direct.T * direct)[0],
                                sp.expand(lin - (direct.T * direct)[0]) == 0))
    return steps
