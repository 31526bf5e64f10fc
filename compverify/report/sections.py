"""Section builders: one small function per section, from that piece's result dict to a Section.

Each builder reads the JSON-ready result of one library call (the
``derive`` JSON, the solve JSON with its ``frame`` block, the conjecture sweep, the rate
experiment) and lays it out; it computes nothing. Numbers are :class:`Num` items carrying the
decimal string of the result and its path (``key``) in ``results.json``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import sympy

from compverify.report.document import (
    CodeBlock,
    Figure,
    Items,
    Math,
    MathBlock,
    Num,
    Para,
    Section,
    Table,
    Text,
    is_placeholder_latex,
)

# Display names of the kernel's arguments: nu = |u|, nv = |v| print as nu_u, nu_v.
_NU, _NV, _RHO = sympy.symbols("nu nv rho")
_DISPLAY = {_NU: sympy.Symbol("nu_u"), _NV: sympy.Symbol("nu_v")}
_KERNEL_LOCALS = {"nu": _NU, "nv": _NV, "rho": _RHO}


class Inner(sympy.Function):
    """The inner product <a, b> (display only)."""

    nargs = 2

    def _latex(self, printer: Any, exp: Any = None) -> str:
        a, b = (printer._print(x) for x in self.args)
        out = rf"\left\langle {a}, {b}\right\rangle"
        return out if exp is None else f"{out}^{{{exp}}}"

    def _mathml_presentation(self, printer: Any) -> Any:
        return _fenced(printer, "\u27e8", "\u27e9", list(self.args))


class Norm(sympy.Function):
    """The Euclidean norm |a| of a vector (display only): ``Norm(v)**2`` prints as |v|^2."""

    nargs = 1

    def _latex(self, printer: Any, exp: Any = None) -> str:
        out = rf"\left\lVert {printer._print(self.args[0])}\right\rVert"
        return out if exp is None else f"{out}^{{{exp}}}"

    def _mathml_presentation(self, printer: Any) -> Any:
        return _fenced(printer, "\u2016", "\u2016", list(self.args))


class Expect(sympy.Function):
    """An expectation E_x[...] with the variable as subscript (display only)."""

    nargs = 2

    def _latex(self, printer: Any) -> str:
        body, var = self.args
        sub = f"_{{{printer._print(var)}}}" if var != sympy.Symbol("_") else ""
        return rf"\mathbb{{E}}{sub}\left[{printer._print(body)}\right]"

    def _mathml_presentation(self, printer: Any) -> Any:
        body, var = self.args
        dom = printer.dom
        row = dom.createElement("mrow")
        e = dom.createElement("mi")
        e.setAttribute("mathvariant", "double-struck")
        e.appendChild(dom.createTextNode("E"))
        if var != sympy.Symbol("_"):
            sub = dom.createElement("msub")
            sub.appendChild(e)
            sub.appendChild(printer._print(var))
            e = sub
        row.appendChild(e)
        row.appendChild(_fenced(printer, "[", "]", [body]))
        return row


def _fenced(printer: Any, left: str, right: str, args: list) -> Any:
    dom = printer.dom
    row = dom.createElement("mrow")
    for k, part in enumerate([left] + args + [right]):
        if k in (0, len(args) + 1):
            node = dom.createElement("mo")
            node.appendChild(dom.createTextNode(part))
        else:
            if k > 1:
                comma = dom.createElement("mo")
                comma.appendChild(dom.createTextNode(","))
                row.appendChild(comma)
            node = printer._print(part)
        row.appendChild(node)
    return row


def num(value: Any, key: str, digits: int | None = 12) -> Num | str:
    """A :class:`Num` for a result value (``None`` shows as a dash)."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return Num(str(value), key, digits)


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if isinstance(d, dict) and k in d:
            return d[k]
    return default


def display_expr(expr: Any) -> Any:
    """An expression in nu, nv, rho with nu, nv relabelled for display (nu_u = |u|, nu_v = |v|)."""
    if isinstance(expr, str):
        expr = sympy.sympify(expr, locals=_KERNEL_LOCALS)
    return expr.xreplace(_DISPLAY) if isinstance(expr, sympy.Basic) else expr


def math_of(expr: Any = None, latex: str | None = None) -> Math:
    """Math from a SymPy expression (preferred) or, failing that, from LaTeX alone."""
    if expr is not None:
        try:
            return Math.of(display_expr(expr))
        except (sympy.SympifyError, TypeError, SyntaxError):
            if latex is None:
                raise
    return Math(latex or "", None)


# ----------------------------------------------------------------------------------------------
# The setting
# ----------------------------------------------------------------------------------------------


def setting_section(setting: dict) -> Section:
    """The problem (SPEC A1-A4) and what this run covers (``setting`` from the build)."""
    i, j, jp = sympy.symbols("i j j'", integer=True)
    n_, m_, d_ = sympy.symbols("N M d")  # no assumptions: SymPy leaves the formulas as written
    x, u, v, w, wp = sympy.symbols("x u v w w'")
    sigma = sympy.Function("sigma")
    f_n, g, kk, h = (sympy.Function(s) for s in ("f_N", "g", "K", "h"))
    a_i, w_i, b_j, v_j = sympy.symbols("a_i w_i b_j v_j")
    b_jp, v_jp = sympy.symbols("b_j' v_j'")
    theta, cbar, abar, abar_p = sympy.symbols("theta Cbar abar abarprime")
    nu_u, nu_v = sympy.symbols("nu_u nu_v")
    under = sympy.Symbol("_")

    f_def = Math.eq(f_n(x), sympy.Sum(a_i * sigma(Inner(w_i, x)), (i, 1, n_)))
    g_def = Math.eq(g(x), sympy.Sum(b_j * sigma(Inner(v_j, x)), (j, 1, m_)))
    loss = Math.eq(sympy.Function("L_N")(theta), Expect((f_n(x) - g(x)) ** 2, x))
    kernel = Math.join([Math.of(kk(u, v)), Math.of(Expect(sigma(Inner(u, x)) * sigma(Inner(v, x)),
                                                          x)),
                        Math.of(sympy.Function("k")(nu_u, nu_v, _RHO))])
    rho_def = Math.eq(_RHO, Inner(u, v) / (nu_u * nu_v))
    nus = Math.join([Math.of(nu_u), Math.of(sympy.Abs(u))])
    nvs = Math.join([Math.of(nu_v), Math.of(sympy.Abs(v))])
    mf = Math.eq(sympy.Function("Lbar")(theta),
                 cbar - 2 * sympy.Sum(b_j * h(v_j), (j, 1, m_))
                 + sympy.Sum(b_j * b_jp * kk(v_j, v_jp), (j, 1, m_), (jp, 1, m_)))
    h_def = Math.eq(h(v), Expect(abar * kk(w, v), under))
    c_def = Math.eq(cbar, Expect(abar * abar_p * kk(w, wp), under))
    uu = sympy.MatrixSymbol("U", m_, d_)
    hu = sympy.MatrixSymbol("h(U)", m_, 1)
    ku = sympy.MatrixSymbol("K(U)", m_, m_)
    reduced = Math.eq(sympy.Function("Lbar^*")(uu),
                      sympy.MatrixSymbol("Cbar", 1, 1) - hu.T * ku.I * hu)
    welch = Math.eq(sympy.Symbol("alpha"), sympy.sqrt((m_ - d_) / (d_ * (m_ - 1))))
    del w_i

    blocks: list = [
        Para(["Input ", Math.join([Math.of(x), Math.of(sympy.Function("N")(0, sympy.Symbol(
            "I_d")))], "~"), ". A target network with N neurons and a compressed one with M < N "
              "neurons, both with the activation ", Math.of(sigma(sympy.Symbol("z"))), ":"]),
        MathBlock([f_def, g_def]),
        Para(["The population loss is an exact expectation over the input (never an average over "
              "sampled inputs), with ", Math.of(sympy.Symbol("theta")), " = (b, V):"]),
        MathBlock([loss]),
        Para(["It is a finite sum of values of the Gaussian kernel of the activation, a function "
              "of the two norms and the cosine of the angle, with ", nus, ", ", nvs, ":"]),
        MathBlock([kernel, rho_def]),
        Para(["In the mean-field scaling ", Math.eq(a_i, abar / n_), ", as N grows the loss "
              "tends to the simplified objective, which depends on the target only through "
              "expectations over its weights:"]),
        MathBlock([mf, h_def, c_def]),
        Para(["For a positively homogeneous activation (ReLU) only the products ",
              Math.eq(sympy.Symbol("c_j"), b_j * sympy.Abs(v_j)), " and the unit directions ",
              Math.eq(sympy.Symbol("u_j"), v_j / sympy.Abs(v_j)), " matter; solving for the "
              "coefficients leaves an objective over the directions alone:"]),
        MathBlock([reduced]),
        Para(["The conjecture under test: for ReLU, the minimising directions form an equiangular "
              "tight frame (ETF), whose off-diagonal Gram entries all have the Welch bound as "
              "absolute value:"]),
        MathBlock([welch]),
    ]
    items = []
    for name, label in (("activations", "activations"), ("targets", "targets"),
                        ("cases", "solved cases (d, M)")):
        vals = setting.get(name)
        if vals:
            items.append([f"{label}: "] + _comma([Text(str(v), "code") for v in vals]))
    if items:
        blocks += [Para(["This run covers:"]), Items(items)]
    return Section("setting", "The setting", blocks)


def _comma(items: list) -> list:
    out: list = []
    for k, it in enumerate(items):
        if k:
            out.append(", ")
        out.append(it)
    return out


# ----------------------------------------------------------------------------------------------
# Kernels, gradients, mean field
# ----------------------------------------------------------------------------------------------


def _steps_blocks(steps: list[dict]) -> list:
    """Numbered steps: each ``{"description", "formula"}`` (formula ``{"latex", "mathml"}``).

    A step recorded without an expression (its LaTeX a placeholder such as ``\\text{--}``) is
    shown as its sentence alone.
    """
    blocks: list = []
    for n, st in enumerate(steps, 1):
        blocks.append(Para([Text(f"Step {n}.", "strong"), " ", str(st.get("description", ""))]))
        f = st.get("formula")
        if f and (f.get("mathml") or not is_placeholder_latex(f.get("latex"))):
            blocks.append(MathBlock([Math.from_dict(f)]))
    return blocks


def kernel_section(kernels: list[dict]) -> Section:
    """Each kernel's derivation step by step.

    One dict per activation: the ``derive`` JSON (``activation``, ``route``, ``kernel``,
    ``kernel_latex``, ``partials``, ``steps``) plus ``display``: the same formulas printed by SymPy
    as ``{"latex", "mathml"}`` (keys ``activation``, ``kernel``, ``partials``, ``steps``).
    """
    subs = []
    for k, res in enumerate(kernels):
        name = str(_get(res, "activation", "spec", default=f"activation {k + 1}"))
        disp = res.get("display") or {}
        intro: list = ["Derivation route: ", Text(str(res.get("route", "?")), "strong"), "."]
        if disp.get("activation"):
            intro += [" Activation ", Math.from_dict(disp["activation"]), "."]
        blocks: list = [Para(intro)]
        steps = res.get("steps") or []
        if steps:
            blocks.append(Para([f"The derivation, in {len(steps)} recorded steps:"]))
            shown = [{"description": st.get("description", ""),
                      "formula": (disp.get("steps") or [None] * len(steps))[n]
                      or {"latex": st.get("latex", ""), "mathml": None}}
                     for n, st in enumerate(steps)]
            blocks += _steps_blocks(shown)
        if res.get("kernel") is not None:
            blocks.append(Para(["Result: the kernel"]))
            blocks.append(MathBlock([Math.from_dict(disp.get("kernel") or res.get(
                "kernel_latex", ""))]))
        elif res.get("route") == "numeric":
            blocks.append(Para(["No closed form: the kernel is evaluated by high-precision "
                                "quadrature (route ", Text("numeric", "em"), ")."]))
        partials = disp.get("partials") or {}
        if partials:
            blocks += [Para(["Its partial derivatives (the chain rule for gradients and Hessians "
                             "goes through them):"]),
                       MathBlock([Math.from_dict(partials[v]) for v in ("nu", "nv", "rho")
                                  if v in partials])]
        subs.append(Section(f"kernel-{_slug(name)}", f"Kernel of {name}", blocks))
    return Section("kernels", "Kernel derivations", [Para([
        "Each kernel is derived by SymPy in this run, by the route recorded with it; the steps "
        "are the ones the derivation recorded, and ", Math.of(sympy.Symbol("nu_u")), ", ",
        Math.of(sympy.Symbol("nu_v")), ", ", Math.of(_RHO), " are the two norms and the cosine."
    ])], subs)


def gradient_section(gradients: dict) -> Section:
    """The symbolic gradient formulas of the loss in (b, V).

    ``gradients`` has ``formulas`` (generic in the kernel ``k`` and its partials) and
    ``instances`` (a formula with one activation's kernel substituted), each a list of
    ``{"name", "description", "formula"}``, and ``notation`` (a sentence).
    """
    blocks: list = []
    if gradients.get("notation"):
        blocks.append(Para([str(gradients["notation"])]))
    for f in gradients.get("formulas") or []:
        blocks.append(Para([Text(str(f.get("name", "")), "strong"), ": ",
                            str(f.get("description", "")), "."]))
        blocks.append(MathBlock([Math.from_dict(f["formula"])]))
    subs = []
    for f in gradients.get("instances") or []:
        subs.append(Section(f"gradient-{_slug(str(f.get('activation')))}",
                            f"{f.get('name', '')} for {f.get('activation')}",
                            [Para([str(f.get("description", ""))]),
                             MathBlock([Math.from_dict(f["formula"])])]))
    return Section("gradients", "Gradient formulas", blocks, subs)


def meanfield_section(meanfield: list[dict]) -> Section:
    """The mean-field reduction with its closed forms (one dict per activation and target).

    Each dict has ``activation``, ``target``, ``steps`` (``{"description", "formula"}``) and
    ``closed_forms`` (``{"name", "formula"}``), and optionally ``note``.
    """
    subs = []
    for k, res in enumerate(meanfield):
        name = str(_get(res, "activation", default=f"activation {k + 1}"))
        target = str(_get(res, "target", default=""))
        blocks: list = _steps_blocks(res.get("steps") or [])
        forms = [Math.from_dict(f["formula"]) for f in res.get("closed_forms") or []]
        if forms:
            blocks += [Para(["Closed forms:"]), MathBlock(forms)]
        if res.get("note"):
            blocks.append(Para([str(res["note"])]))
        title = f"Mean field, {name}" + (f", target {target}" if target else "")
        subs.append(Section(f"meanfield-{_slug(name)}-{_slug(target)}", title, blocks))
    return Section("meanfield", "The mean-field reduction", [Para([
        "The simplified objective needs the target only through h(v) and C-bar, derived here "
        "for the configured target families."])], subs)


# ----------------------------------------------------------------------------------------------
# Solutions and frames
# ----------------------------------------------------------------------------------------------


def target_label(target: Any) -> str:
    """A short description of a target for a table cell (the full one goes in the text).

    >>> target_label({"family": "isotropic", "mean": ["0.0", "0.0"], "scale": "1/sqrt(d)"})
    'isotropic, mean 0, scale 1/sqrt(d)'
    >>> target_label({"family": "iid", "law": "rademacher", "mean": ["0.1"] * 13})
    'iid rademacher, mean 0.1 (all 13)'
    """
    if not isinstance(target, dict):
        return str(target) if target is not None else "\u2014"
    name = str(target.get("family") or target.get("name") or target.get("kind") or "target")
    for extra in ("law", "entries", "path", "file"):
        if target.get(extra):
            name += f" {target[extra]}"
    mean = target.get("mean")
    if isinstance(mean, list) and mean:
        vals = {str(m) for m in mean}
        try:
            zero = all(float(m) == 0.0 for m in mean)
        except (TypeError, ValueError):
            zero = False
        if zero:
            name += ", mean 0"
        elif len(vals) == 1:
            name += f", mean {mean[0]} (all {len(mean)})"
        else:
            name += f", mean ({mean[0]}, {mean[1]}, ...)" if len(mean) > 2 else \
                f", mean ({', '.join(str(m) for m in mean)})"
    elif mean is not None and not isinstance(mean, (list, dict)):
        name += f", mean {mean}"
    if target.get("scale") is not None and not isinstance(target.get("scale"), (list, dict)):
        name += f", scale {target['scale']}"
    return name


def _case_label(res: dict) -> str:
    p = res.get("problem", {})
    return f"{p.get('activation', '?')}, d = {p.get('d', '?')}, M = {p.get('M', '?')}"


def solutions_section(solves: list[dict], base_key: str = "solve") -> Section:
    """The high-precision solutions with their evidence (the solve JSON)."""
    rows = []
    for k, res in enumerate(solves):
        key = f"{base_key}/{k}"
        p = res.get("problem", {})
        ev = res.get("evidence", {})
        rows.append([
            Text(str(p.get("activation", "?")), "code"), target_label(p.get("target")),
            num(p.get("d"), f"{key}/problem/d", None), num(p.get("M"), f"{key}/problem/M", None),
            num(res.get("relative_loss"), f"{key}/relative_loss", 15),
            num(ev.get("verified_digits"), f"{key}/evidence/verified_digits", None),
            num(ev.get("grad_norm"), f"{key}/evidence/grad_norm", 3),
            num(ev.get("hessian_min_eig"), f"{key}/evidence/hessian_min_eig", 6),
            num(ev.get("symmetry_null_dim"), f"{key}/evidence/symmetry_null_dim", None),
        ])
    summary = Table(["activation", "target", "d", "M", "relative loss L/C", "verified digits",
                     "gradient norm", "min Hessian eigenvalue", "symmetry null dim"], rows,
                    caption="Relative loss is the optimal mean-field loss divided by C-bar; "
                            "the evidence is computed at the result's precision.", key=base_key)
    subs = []
    for k, res in enumerate(solves):
        key = f"{base_key}/{k}"
        ev = res.get("evidence", {})
        target = (res.get("problem") or {}).get("target")
        tdesc: list = ["Target: ", target_label(target)]
        if isinstance(target, dict) and target.get("method"):
            tdesc += ["; its mean field evaluated by ", Text(str(target["method"]), "em")]
        blocks: list = [
            Para(tdesc + ["."]),
            Para([f"Precision {res.get('dps', '?')} digits, {res.get('restarts', '?')} float64 "
                  f"restarts, seed {res.get('seed', '?')}."]),
            Items([
                ["optimal loss ", Math.of(sympy.Function("Lbar")(sympy.Symbol("theta^*"))),
                 " = ", num(res.get("loss"), f"{key}/loss", None)],
                ["relative loss ", Math.of(sympy.Symbol("Lbar") / sympy.Symbol("Cbar")), " = ",
                 num(res.get("relative_loss"), f"{key}/relative_loss", None)],
                ["gradient norm at the polished point: ",
                 num(ev.get("grad_norm"), f"{key}/evidence/grad_norm", 6)],
                ["smallest eigenvalue of the reduced Hessian: ",
                 num(ev.get("hessian_min_eig"), f"{key}/evidence/hessian_min_eig", 12),
                 "; null space dimension attributed to symmetries: ",
                 num(ev.get("symmetry_null_dim"), f"{key}/evidence/symmetry_null_dim", None)],
                ["digits of the loss that agree with a run at higher precision: ",
                 num(ev.get("verified_digits"), f"{key}/evidence/verified_digits", None)],
            ]),
        ]
        extra = [(kk, vv) for kk, vv in ev.items() if kk not in (
            "grad_norm", "hessian_min_eig", "symmetry_null_dim", "verified_digits")
            and isinstance(vv, (str, int, float, bool))]
        if extra:
            blocks.append(Items([[f"{kk.replace('_', ' ')}: ",
                                  num(vv, f"{key}/evidence/{kk}", 12)] for kk, vv in extra]))
        coeffs = res.get("coefficients") or []
        dirs = res.get("directions") or []
        if coeffs and dirs:
            rows = []
            for j, (c, u) in enumerate(zip(coeffs, dirs, strict=False)):
                rows.append([str(j + 1), num(c, f"{key}/coefficients/{j}", 15)]
                            + [num(x, f"{key}/directions/{j}/{t}", 12) for t, x in enumerate(u)])
            head = ["j", "coefficient"] + [f"u_j[{t + 1}]" for t in range(len(dirs[0]))]
            blocks.append(Table(head, rows, caption="Coefficients (b_j |v_j| for homogeneous "
                                "activations, else b_j) and unit directions v_j / |v_j|."))
        basins = res.get("basins") or []
        if basins:
            brows = [[str(n + 1), num(b.get("loss"), f"{key}/basins/{n}/loss", 15),
                      num(b.get("count"), f"{key}/basins/{n}/count", None)]
                     for n, b in enumerate(basins)]
            blocks.append(Table(["basin", "loss", "restarts reaching it"], brows,
                                caption="Local minima found by the float64 multi-start, grouped "
                                        "by value and a rotation-invariant signature."))
        subs.append(Section(f"solve-{k}", f"Solution: {_case_label(res)}", blocks))
    return Section("solutions", "High-precision solutions", [summary], subs)


def _decimal(value: Any) -> Decimal | None:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def gap_explanation(fr: dict, key: str) -> list:
    """What the sign of the ETF gap (``etf_relative_loss - relative_loss``) means, for one frame
    block: a negative gap within its uncertainty is zero; beyond it, the ETF is the better point."""
    gap, unc = _decimal(fr.get("etf_gap")), _decimal(fr.get("etf_gap_uncertainty"))
    if gap is None:
        return []
    if unc is not None and abs(gap) <= unc:
        sign = "negative" if gap < 0 else ("zero" if gap == 0 else "positive")
        text = [f"The gap is {sign} and within its uncertainty ",
                num(fr.get("etf_gap_uncertainty"), f"{key}/etf_gap_uncertainty", 2),
                " (the two relative losses are rounded at the working precision): it is zero, "
                "and the optimum found is the ETF's value."]
        if gap < 0:
            text.append(" A negative gap only means the ETF's value came out below the "
                        "solver's in the last digits; it is not evidence against optimality.")
        return [Para(text)]
    if gap < 0:
        return [Para(["The gap is negative beyond its uncertainty: the ETF gives a lower loss "
                      "than the point the solver returned, so that point is not the minimiser "
                      "(the search missed the ETF's basin); the conjecture is not contradicted."])]
    return [Para(["The gap is positive beyond its uncertainty: every known ETF is worse than "
                  "the optimum found, evidence against the ETF conjecture for this (d, M)."])]


def etf_absence(fr: dict) -> list:
    """Why no ETF was compared, from the catalogue's answer (``etf_existence``)."""
    entry = fr.get("etf_existence")
    if not isinstance(entry, dict):
        return []
    status, reason = entry.get("status"), entry.get("reason", "")
    d, m = fr.get("d"), fr.get("M")
    if status == "does not exist":
        return [Para([f"No ETF of M = {m} unit vectors exists in dimension d = {d} ({reason}), "
                      "so the conjecture in its ETF form has nothing to compare here."])]
    if status == "not applicable":
        return [Para([f"M = {m} <= d = {d}: no overcomplete frame, hence no ETF ({reason})."])]
    if status and status != "exists":
        return [Para([f"Whether an ETF of M = {m} vectors exists in dimension d = {d} is not "
                      f"settled by the catalogue ({reason})."])]
    return []


def frames_section(solves: list[dict], figures: list[Figure | None],
                   base_key: str = "solve") -> Section:
    """Frame verdicts per (d, M) (the ``frame`` block) with direction figures."""
    rows = []
    for k, res in enumerate(solves):
        fr = res.get("frame") or {}
        key = f"{base_key}/{k}/frame"
        p = res.get("problem", {})
        rows.append([
            Text(str(p.get("activation", "?")), "code"),
            num(p.get("d"), f"{base_key}/{k}/problem/d", None),
            num(p.get("M"), f"{base_key}/{k}/problem/M", None),
            Text(str(fr.get("verdict", "\u2014")), "strong"),
            num(fr.get("coherence"), f"{key}/coherence", 8),
            num(fr.get("welch_bound"), f"{key}/welch_bound", 8),
            num(fr.get("tightness_defect"), f"{key}/tightness_defect", 3),
            num(fr.get("equiangularity_spread"), f"{key}/equiangularity_spread", 3),
            num(fr.get("distance_lower_bound_etf"), f"{key}/distance_lower_bound_etf", 3),
            num(fr.get("etf_gap"), f"{key}/etf_gap", 3),
        ])
    table = Table(["activation", "d", "M", "verdict", "coherence", "Welch bound",
                   "tightness defect", "equiangularity spread", "distance to ETFs >=",
                   "ETF gap"], rows, caption="Diagnostics of the optimal directions; the distance "
                  "is a certified (convex) lower bound on the Frobenius distance of the Gram "
                  "matrix to any ETF; the ETF gap is the best relative loss on a known ETF minus "
                  "the relative loss found (a negative gap within its uncertainty is zero: "
                  "rounding at the working precision; see the definitions).",
                  key=f"{base_key}-frames", repeat_columns=3)
    subs = []
    for k, (res, fig) in enumerate(zip(solves, figures, strict=True)):
        fr = res.get("frame") or {}
        key = f"{base_key}/{k}/frame"
        blocks: list = [Para(["Verdict: ", Text(str(fr.get("verdict", "\u2014")), "strong"),
                              "."])]
        if fr.get("etf_relative_loss") is not None:
            blocks.append(Para(["Best relative loss with the directions constrained to a known "
                                "ETF: ", num(fr.get("etf_relative_loss"),
                                             f"{key}/etf_relative_loss", 15),
                                "; gap to the optimum found: ",
                                num(fr.get("etf_gap"), f"{key}/etf_gap", 6), "."]))
            blocks += gap_explanation(fr, key)
        else:
            blocks += etf_absence(fr)
        if fig is not None:
            blocks.append(fig)
        subs.append(Section(f"frame-{k}", f"Directions: {_case_label(res)}", blocks))
    return Section("frames", "Frame verdicts", [table], subs)


# ----------------------------------------------------------------------------------------------
# The conjecture sweep and the error rate
# ----------------------------------------------------------------------------------------------


def _etf_known(fr: dict) -> str:
    built = fr.get("etf")
    if isinstance(built, dict) and built:
        return f"yes ({built.get('construction', 'catalogue')})"
    entry = fr.get("etf_existence")
    if isinstance(entry, dict):
        entry = entry.get("status", "")
    if entry == "does not exist":
        return "none exists"
    if entry in (None, "", "no", False):
        return "no"
    return f"not built ({entry})"


def conjecture_section(sweep: dict, base_key: str = "conjecture") -> Section:
    """The conjecture sweep: d, M, relative loss, verdict, ETF known?, ETF gap."""
    rows = []
    cases = sweep.get("cases") or []
    index = {(int(c["d"]), int(c["M"])): k for k, c in enumerate(cases)
             if "d" in c and "M" in c}
    failed = {(int(c["d"]), int(c["M"])): c for c in sweep.get("failed") or []}
    grid = [tuple(int(x) for x in c) for c in sweep.get("grid") or []] or list(index)
    for d, m in grid:
        if (d, m) in index:
            k = index[(d, m)]
            case, key = cases[k], f"{base_key}/cases/{k}"
            fr = case.get("frame") or {}
            rows.append([num(case.get("d"), f"{key}/d", None), num(case.get("M"), f"{key}/M", None),
                         num(case.get("relative_loss"), f"{key}/relative_loss", 15),
                         Text(str(fr.get("verdict", "\u2014")), "strong"), _etf_known(fr),
                         num(fr.get("etf_gap"), f"{key}/frame/etf_gap", 4)])
        else:
            what = "failed: " + str(failed[(d, m)].get("error", "")) if (d, m) in failed \
                else "not run"
            rows.append([str(d), str(m), "\u2014", what, "\u2014", "\u2014"])
    meta = [f"{name} {sweep[name]}" for name in ("activation", "target", "restarts", "dps", "seed")
            if sweep.get(name) is not None]
    blocks: list = [Para([
        "For each (d, M): the best minimiser found (solved as above), the verdict on its "
        "directions and, where the catalogue builds an ETF for (d, M), the gap between the best "
        "relative loss on that ETF and the relative loss found (positive: the ETF is worse)."])]
    if meta:
        blocks.append(Para(["Sweep settings: " + ", ".join(meta) + "."]))
    blocks.append(Table(["d", "M", "relative loss", "verdict", "ETF known?", "ETF gap"], rows,
                        key=base_key, repeat_columns=2))
    reasons = []
    for case in cases:
        fr = case.get("frame") or {}
        entry = fr.get("etf_existence")
        if isinstance(entry, dict) and not (isinstance(fr.get("etf"), dict) and fr["etf"]):
            reasons.append([f"(d, M) = ({case.get('d')}, {case.get('M')}): ETF "
                            f"{entry.get('status', '?')}: {entry.get('reason', '')}."])
    if reasons:
        blocks += [Para(["Where no ETF is compared, the catalogue of ETFs "
                         "(compverify.proofs_check.catalogue) says why:"]), Items(reasons)]
    for s in sweep.get("skipped") or []:
        blocks.append(Para([f"Skipped: d = {s.get('d')}, M from {s.get('from')!r}: "
                            f"{s.get('note')}."]))
    return Section("conjecture", "The conjecture sweep", blocks)


def rate_section(rate: dict, plot: Figure | None, base_key: str = "rate") -> Section:
    """The error-rate experiment: fitted exponents with confidence intervals and the plot."""
    fit = rate.get("fit") or {}
    fk = f"{base_key}/fit"
    n_ci = fit.get("N_exponent_ci") or [None, None]
    d_ci = fit.get("d_exponent_ci")
    n_sym, d_sym = sympy.symbols("N d", positive=True)
    items = [["exponent of N: ", num(fit.get("N_exponent"), f"{fk}/N_exponent", 4),
              ", confidence interval [", num(n_ci[0], f"{fk}/N_exponent_ci/0", 4), ", ",
              num(n_ci[1], f"{fk}/N_exponent_ci/1", 4), "]"]]
    if fit.get("d_exponent") is not None:
        items.append(["exponent of d: ", num(fit.get("d_exponent"), f"{fk}/d_exponent", 4),
                      ", confidence interval [",
                      num((d_ci or [None])[0], f"{fk}/d_exponent_ci/0", 4), ", ",
                      num((d_ci or [None, None])[1], f"{fk}/d_exponent_ci/1", 4), "]"])
    else:
        items.append(["exponent of d: not fitted (one dimension only)"])
    blocks: list = [
        Para(["The quantity that moves the minimiser, ",
              Math.eq(sympy.Symbol("Delta_N"), sympy.Function("sup")(sympy.Abs(
                  sympy.Function("h_N")(sympy.Symbol("u")) - sympy.Function("h")(
                      sympy.Symbol("u"))))),
              " over unit vectors u, measured for each (d, N) over independent target "
              "realizations, and fitted in log-log by least squares:"]),
        Items(items),
        Para(["Candidate rates: ", Math.of(n_sym ** sympy.Rational(-1, 2)), " and ",
              Math.of(sympy.sqrt(d_sym / n_sym)), "."]),
    ]
    quantity = rate.get("quantity") or fit.get("quantity")
    if quantity:
        blocks.append(Para([f"Fitted quantity: {quantity}."]))
    pts = rate.get("points") or []
    if pts:
        rows = []
        for k, pt in enumerate(pts):
            vals = pt.get("delta") or pt.get("values") or []
            summary = pt.get("mean_delta", pt.get("mean"))
            rows.append([num(pt.get("d"), f"{base_key}/points/{k}/d", None),
                         num(pt.get("N"), f"{base_key}/points/{k}/N", None),
                         str(len(vals)) if isinstance(vals, list) else "\u2014",
                         num(summary, f"{base_key}/points/{k}/"
                             + ("mean_delta" if "mean_delta" in pt else "mean"), 6)])
        blocks.append(Table(["d", "N", "realizations", "mean sup |h_N - h|"], rows,
                            key=f"{base_key}/points"))
    if plot is not None:
        blocks.append(plot)
    return Section("rate", "The error rate of the simplification", blocks)


# ----------------------------------------------------------------------------------------------
# Reproducibility
# ----------------------------------------------------------------------------------------------


def reproducibility_section(run: dict, config_text: str, files: list[str]) -> Section:
    """Versions, seed, the exact command and the configuration, so the report can be re-run."""
    versions = run.get("versions", {})
    rows = [[Text(k, "code"), str(v)] for k, v in versions.items()]
    blocks: list = [
        Para(["Command (run from ", Text(str(run.get("cwd", ".")), "code"), "):"]),
        CodeBlock(str(run.get("command", "")), "sh"),
        Para([f"Seed {run.get('seed')}; configuration {run.get('config_source')}; wall time ",
              num(run.get("wall_time_s"), "run/wall_time_s", 3), " s."]),
        Table(["package", "version"], rows),
        Para(["The configuration used:"]),
        CodeBlock(config_text, "toml"),
    ]
    if files:
        blocks += [Para(["Results this report was built from (in this directory):"]),
                   Items([[Text(f, "code")] for f in files])]
    return Section("reproducibility", "Reproducing this report", blocks)


def _slug(s: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in s.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "x"
