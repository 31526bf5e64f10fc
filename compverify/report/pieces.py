"""The calls into the library: one function per piece of the report, each returning a JSON-ready
dict (real numbers as decimal strings, formulas as ``{"latex", "mathml"}`` printed by SymPy).

This is the only module of :mod:`compverify.report` that imports the computing layers; it calls
them and converts their results with their own ``to_dict`` (or, for symbolic objects, with SymPy's
printers). It computes nothing itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sympy

from compverify.errors import CompverifyError
from compverify.report.document import formula

_NU, _NV, _RHO = sympy.symbols("nu nv rho")
_NU_U, _NU_V = sympy.symbols("nu_u nu_v")
_K = sympy.Function("k")
#: Width in ems of one line of a broken display formula: the LaTeX text width (about 44 em at
#: 11 pt) less a margin for the error of the width estimate.
_LINE_EM = 34.0


_TEX_ACCENT = re.compile(r"\\(bar|hat|tilde|dot)\s*\{?([A-Za-z]+)\}?")


def _display(expr: Any) -> Any:
    """Relabel symbols for display: the kernel arguments nu -> nu_u = |u|, nv -> nu_v = |v|, and
    the mean-field invariants vv -> |v|^2, muv -> <mu, v>, mm -> |mu|^2 (which would otherwise
    print as products of letters)."""
    from compverify.report.sections import Inner, Norm

    if not isinstance(expr, sympy.Basic):
        return expr
    v, mu = sympy.Symbol("v"), sympy.Symbol("mu")
    reps: dict = {}
    for s in expr.free_symbols:
        name = getattr(s, "name", "")
        if name == "nu":
            reps[s] = _NU_U
        elif name == "nv":
            reps[s] = _NU_V
        elif _TEX_ACCENT.fullmatch(name):  # a LaTeX name (r"\bar f"): SymPy's modifier form
            m = _TEX_ACCENT.fullmatch(name)
            reps[s] = sympy.Symbol(m.group(2) + m.group(1))
        elif name == "vn":
            reps[s] = Norm(v)
        elif name == "vv":
            reps[s] = Norm(v) ** 2
        elif name == "muv":
            reps[s] = Inner(mu, v)
        elif name == "mm":
            reps[s] = Norm(mu) ** 2
    return expr.xreplace(reps)


# ----------------------------------------------------------------------------------------------
# Symbolic pieces
# ----------------------------------------------------------------------------------------------


def kernel_piece(spec: str) -> dict:
    """The ``derive`` JSON of one activation plus SymPy-printed display forms."""
    from compverify.symbolic import get_activation

    act = get_activation(spec)
    kern = act.kernel
    expr = getattr(kern, "expr", None)
    partials = getattr(kern, "partials", None) or {}
    steps = list(getattr(kern, "steps", None) or [])
    out: dict[str, Any] = {
        "activation": act.spec,
        "name": act.name,
        "route": kern.route,
        "is_closed_form": bool(getattr(kern, "is_closed_form", expr is not None)),
        "kernel": None if expr is None else str(expr),
        "kernel_latex": None if expr is None else sympy.latex(expr),
        "partials": {k: str(v) for k, v in partials.items()},
        "steps": [{"description": st.description, "latex": st.latex} for st in steps],
    }
    z = sympy.Symbol("z")
    disp: dict[str, Any] = {
        "activation": formula(act.expr, lhs=sympy.Function("sigma")(z)),
        "steps": [],
        "partials": {},
    }
    for st in steps:
        sexpr = getattr(st, "expr", None)
        if isinstance(sexpr, sympy.Basic):
            disp["steps"].append(formula(_display(sexpr)))
        else:
            disp["steps"].append(formula(None, latex=st.latex))
    if expr is not None:
        disp["kernel"] = formula(_display(expr), lhs=_K(_NU_U, _NU_V, _RHO))
        for var, sym in (("nu", _NU_U), ("nv", _NU_V), ("rho", _RHO)):
            if var in partials:
                lhs = sympy.Derivative(_K(_NU_U, _NU_V, _RHO), sym)
                disp["partials"][var] = formula(_display(partials[var]), lhs=lhs)
    out["display"] = disp
    return out


def gradient_piece(activations: list[str]) -> dict:
    """The loss gradient formulas (generic in the kernel) and, per activation, dL/db_j with the
    activation's closed-form kernel substituted."""
    from compverify.numeric import loss

    forms = loss.gradient_formulas()
    out: dict[str, Any] = {
        "notation": ("Targets a_i, w_i and compressed neurons b_j, v_j; |w|_i, |v|_j are norms, "
                     "rho^wv_ij and rho^vv_jl the cosines between w_i and v_j and between v_j "
                     "and v_l; k and its partials k_nu, k_nu', k_rho are the kernel of the "
                     "kernel section in its three arguments."),
        "formulas": [],
        "instances": [],
    }
    for name, f in forms.items():
        lhs = _gradient_lhs(name)
        expr = f.expr
        if isinstance(expr, sympy.Equality):
            lhs, expr = expr.lhs, expr.rhs
        out["formulas"].append({
            "name": f.name, "description": f.description, "latex": f.latex,
            "formula": formula(_gradient_display(expr), lhs=_gradient_display(lhs),
                               max_width=_LINE_EM, distribute=True),
        })
    for spec in activations:
        from compverify.symbolic import get_activation

        act = get_activation(spec)
        if getattr(act.kernel, "expr", None) is None:
            continue
        expr = loss.instantiate_formula(forms["dL/db_j"], act.kernel)
        lhs = _gradient_lhs("dL/db_j")
        out["instances"].append({
            "activation": act.spec, "name": "dL/db_j",
            "description": f"The derivative in b_j with the kernel of {act.spec} substituted.",
            "formula": formula(_gradient_display(expr), lhs=_gradient_display(lhs),
                               max_width=_LINE_EM, distribute=True),
        })
    return out


def _gradient_lhs(name: str) -> Any:
    lsym = sympy.Function("L")(sympy.Symbol("b"), sympy.Symbol("V"))
    if name == "dL/db_j":
        return sympy.Derivative(lsym, sympy.Symbol("b_j"))
    if name == "dL/dv_j":
        return sympy.Derivative(lsym, sympy.Indexed(sympy.IndexedBase("v"), sympy.Symbol("j"),
                                                    sympy.Symbol("c")))
    return sympy.Symbol(name)


def _gradient_display(expr: Any) -> Any:
    """Display names for the symbols of :func:`compverify.numeric.loss.gradient_formulas`."""
    if not isinstance(expr, sympy.Basic):
        return expr
    bases = {"norm_w": sympy.IndexedBase("|w|"), "norm_v": sympy.IndexedBase("|v|"),
             "rho_wv": sympy.IndexedBase("rho^wv"), "rho_vv": sympy.IndexedBase("rho^vv")}

    def fix_indexed(e: Any) -> Any:
        name = str(e.base.label)
        return bases[name][e.indices] if name in bases else e

    expr = expr.replace(lambda e: isinstance(e, sympy.Indexed), fix_indexed)
    funcs = {"k_nv": sympy.Function("k_nuprime"), "k_nu": sympy.Function("k_nu"),
             "k_rho": sympy.Function("k_rho"), "k": sympy.Function("k")}
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Function) and type(e).__name__ in funcs
        and not type(e).__module__.startswith("sympy"),
        lambda e: funcs[type(e).__name__](*e.args))
    return expr.xreplace({s: sympy.Symbol("nuprime") for s in expr.free_symbols
                          if getattr(s, "name", "") == "nv"})


# ----------------------------------------------------------------------------------------------
# Numeric pieces
# ----------------------------------------------------------------------------------------------


def load_result(path: Path, kind: str) -> dict:
    """A result JSON named by the configuration (``kind``: solve, conjecture or rate)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompverifyError(f"{kind} result file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompverifyError(f"{kind} result file {str(path)!r} is not valid JSON: {exc}") \
            from None
    required = {"solve": ("problem", "relative_loss", "directions"),
                "conjecture": ("cases",), "rate": ("fit", "points")}[kind]
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise CompverifyError(f"{str(path)!r} is not a {kind} result (missing "
                              + ", ".join(repr(m) for m in missing) + ")")
    return data


def _sweep_params(entry: dict, d: Any, M: Any, seed: int) -> Any:
    """The conjecture module's parameters for a ``[[solve]]`` or ``[conjecture]`` table."""
    from compverify.proofs_check.conjecture import SweepParams

    mean = entry.get("target_mean")
    if isinstance(mean, list):
        mean = ",".join(repr(float(x)) for x in mean)
    elif mean is not None:
        mean = repr(float(mean))
    scale = entry.get("target_scale")
    return SweepParams(
        activation=entry["activation"], d=d if isinstance(d, str) else str(d),
        M=M if isinstance(M, str) else str(M), target=entry["target"], target_mean=mean,
        target_scale=None if scale is None else repr(float(scale)),
        restarts=entry["restarts"], dps=entry["dps"], seed=seed)


def solve_piece(entry: dict, d: int, M: int, *, seed: int, jobs: int) -> dict:
    """One high-precision solve (the solve JSON) with its ``frame`` block."""
    from compverify.io import to_jsonable
    from compverify.numeric.solver import solve
    from compverify.proofs_check.conjecture import frame_report, make_problem

    params = _sweep_params(entry, d, M, seed)
    problem = make_problem(params, d, M)
    result = solve(problem, restarts=params.restarts, seed=seed, dps=params.dps, jobs=jobs,
                   progress=False)
    out = to_jsonable(result.to_dict(), params.dps)
    out["frame"] = to_jsonable(frame_report(problem, result, seed=seed), params.dps)
    return out


def loaded_solve_piece(path: Path, *, jobs: int = 1) -> dict:
    """A solve result file named by the configuration; its frame block is computed if missing
    (the diagnostics alone: the ETF comparison needs the problem, which a file may not rebuild)."""
    from compverify.io import to_jsonable

    data = load_result(path, "solve")
    if not data.get("frame"):
        from compverify.proofs_check.frames import frame_block

        data["frame"] = to_jsonable(frame_block(
            data["directions"], (data.get("evidence") or {}).get("verified_digits"),
            int(data.get("dps", 30))), int(data.get("dps", 30)))
    data["source_file"] = str(path)
    return data


def conjecture_piece(table: dict, *, seed: int, jobs: int) -> dict:
    """The conjecture sweep: its JSON, with ``cases`` (d, M, relative_loss,
    frame, result)."""
    from compverify.proofs_check.conjecture import run_sweep

    params = _sweep_params(table, ",".join(str(d) for d in table["d"]),
                           ",".join(str(m) for m in table["M"]), seed)
    return run_sweep(params, None, jobs=jobs, progress="off")


def meanfield_piece(spec: str, table: dict) -> dict:
    """The mean-field closed forms (``h``, ``C``) of one activation for the configured target."""
    from compverify.numeric.targets import from_options
    from compverify.symbolic import get_activation

    act = get_activation(spec)
    target = str(table.get("target", "isotropic"))
    # the closed form is symbolic in d; d = 3 only builds the target (validates the family)
    t = from_options(target, d=3, mean=table.get("target_mean"), scale=table.get("target_scale"),
                     activation=act)
    mf = getattr(t, "mf", None)
    if mf is None:
        return {"activation": act.spec, "target": target, "steps": [], "closed_forms": [],
                "note": f"target {target} has no symbolic mean field ({t.describe()['method']})"}
    steps = [{"description": st.description,
              "formula": formula(_display(st.expr)) if isinstance(st.expr, sympy.Basic)
              else formula(None, latex=st.latex)} for st in mf.steps]
    h_lhs = sympy.Function("h")(sympy.Symbol("v"))
    forms = [{"name": "h", "formula": formula(_display(mf.h), lhs=h_lhs)},
             {"name": "C", "formula": formula(_display(mf.C), lhs=sympy.Symbol("Cbar"))}]
    return {"activation": act.spec, "target": target, "kind": mf.kind, "h": str(mf.h),
            "C": str(mf.C), "steps": steps, "closed_forms": forms,
            "note": f"Evaluated as: {t.describe()['method']}."}


def rate_piece(table: dict, *, seed: int, jobs: int) -> dict:
    """The error-rate experiment on the configured grid."""
    from compverify.numeric.experiments import run_rate

    return run_rate(table.get("activation", "relu"), str(table.get("target", "isotropic")),
                    list(table.get("d", [2, 4])), list(table.get("N", [64, 256, 1024])),
                    samples=int(table.get("samples", 8)), seed=seed,
                    target_mean=table.get("target_mean"), target_scale=table.get("target_scale"),
                    restarts=4, progress=False)


def rate_plot_png(rate: dict) -> bytes:
    """The rate plot as PNG bytes (for the report's figures directory)."""
    from compverify.report.rate_plot import plot_rate_bytes

    return plot_rate_bytes(rate, "png")


# ----------------------------------------------------------------------------------------------
# Part B: pruning
# ----------------------------------------------------------------------------------------------


def _student_network(solves: list[dict] | None, seed: int) -> tuple[Any, str]:
    """A student network from the run's relu solves (the largest M d), else a small float64
    search (relu, isotropic target, d = 3, M = 4)."""
    import numpy as np

    from compverify.numeric.pruning_networks import Network

    best = None
    for res in solves or []:
        prob = res.get("problem") or {}
        if prob.get("activation") != "relu" or not res.get("b") or not res.get("V"):
            continue
        size = len(res["V"]) * len(res["V"][0])
        if best is None or size > best[0]:
            best = (size, res)
    if best is not None:
        res = best[1]
        a = np.array([float(x) for x in res["b"]])
        W = np.array([[float(x) for x in row] for row in res["V"]])
        p = res["problem"]
        return Network(a, W, "solve-student"), (
            f"the student network (b, V) of this report's solve of relu, d = {p.get('d')}, "
            f"M = {p.get('M')} (rounded to float64)")
    from compverify.numeric.objective import Problem
    from compverify.numeric.solver import float64_search
    from compverify.numeric.targets import isotropic

    d, M = 3, 4
    r = float64_search(Problem("relu", isotropic(d, "relu"), M), restarts=2, seed=seed)
    return Network(r.theta[:M].copy(), r.theta[M:].reshape(M, d).copy(), "solve-student"), (
        f"a float64 student of the isotropic relu target, d = {d}, M = {M} (2 restarts)")


def pruning_piece(table: dict, *, seed: int, solves: list[dict] | None = None) -> dict:
    """Part B (lq compressibility and pruning): definitions' derivation, population limits, and SAP
    against magnitude and random pruning on networks the toolkit builds, by the exact loss."""
    import time

    from compverify.io import to_jsonable
    from compverify.numeric.pruning import make_params, run_pruning
    from compverify.numeric.pruning_networks import network_from_spec
    from compverify.proofs_check.pruning_bounds import check_run
    from compverify.proofs_check.pruning_study import compare_sap
    from compverify.report.section_pruning import answer_lines
    from compverify.symbolic.lq_moments import fraction_str, population_one_minus_index
    from compverify.symbolic.pruned_loss import derivation, general_formula

    t0 = time.perf_counter()
    p, q, dps = str(table["p"]), str(table["q"]), int(table["dps"])
    act = str(table["activation"])
    out: dict[str, Any] = {"p": p, "q": q, "activation": act}
    out["derivation"] = [{"name": s.name, "description": s.description, "checked": s.checked,
                          "formula": formula(s.expr)} for s in derivation(2)]
    out["general_formula"] = formula(general_formula())
    out["population"] = [to_jsonable(population_one_minus_index(law, p, q, dps=dps).to_dict())
                         for law in table["population_laws"]]
    nets = []
    for law in table["laws"]:
        net = network_from_spec(f"iid:{law}", N=int(table["N"]), d=int(table["d"]), seed=seed)
        nets.append((law, net, f"W_ik = w/sqrt(d), w i.i.d. {law}, a_i = 1/N, seed {seed}"))
    student, origin = _student_network(solves, seed)
    nets.append(("solve-student", student, origin))
    out["networks"] = []
    for name, net, origin in nets:
        desc = dict(net.describe(), activation=act)
        entry: dict[str, Any] = {"name": name, "origin": origin, "network": desc, "studies": {}}
        for scope in table["scopes"]:
            P = make_params("sap", scope=scope, p=p, q=q, steps=int(table["steps"]), seed=seed)
            study = compare_sap(act, net.a, net.W, P, network=desc)
            entry["studies"][f"sap-{scope}"] = to_jsonable(study.to_dict())
        if name == "solve-student":
            P = make_params("sap", scope="neuron", p=p, q=q, steps=int(table["steps"]), seed=seed)
            run = run_pruning(act, net.a, net.W, P, dps=dps, network=desc)
            checks = check_run(run, net.a, net.W)
            within = all(abs(float(r.loss_mp) - r.exact_loss) <= r.exact_loss_error
                         for r in run.records)
            entry["mp_check"] = {
                "dps": dps, "label": P.label, "steps": len(run.records),
                "min_digits": min(r.loss_mp_digits for r in run.records),
                "float_within_bound": bool(within),
                "bounds_verified": sum(c.bounds_hold is True for c in checks),
                "losses_mp": [to_jsonable(r.loss_mp, dps) for r in run.records]}
        out["networks"].append(entry)
    out["answer"] = answer_lines(out)
    out["parameters"] = {"N": table["N"], "d": table["d"], "steps": table["steps"],
                         "laws": list(table["laws"]), "scopes": list(table["scopes"]),
                         "p": fraction_str(make_params("sap", p=p, q=q).p), "q": q}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
