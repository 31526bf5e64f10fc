"""The report's Part C section: "lossless" ternary compression by the NTK.

:func:`piece` computes (in the report run) the moments' derivations, the layer-by-layer matching
with verdicts and certificates, and a small spectral-equivalence experiment with its figure;
:func:`section` lays them out.  Configured by the ``[lossless]`` table of the report TOML.
"""

from __future__ import annotations

import sympy

from compverify.report.document import Figure, Items, Math, MathBlock, Para, Section, Table
from compverify.report.sections import num

__all__ = ["piece", "section", "FIGURE"]

FIGURE = "figures/lossless-decay.png"


def _steps(spec: str) -> list[dict]:
    from compverify.symbolic.gaussian_moments import binary_moments, moments

    out = []
    m = moments(spec)
    for label, mm in ((spec, m), ("binary", binary_moments("binary"))):
        if mm is None:
            out.append({"activation": label, "route": "quadrature (two precisions)", "steps": []})
            continue
        out.append({"activation": label, "route": mm.route,
                    "steps": [{"description": s.description, "latex": s.latex}
                              for s in mm.steps if s.latex][:8]})
    return out


def piece(cfg: dict, *, seed: int = 0, figures: dict | None = None) -> dict:
    """Matching (with certificates) and the spectral experiment; a JSON-ready dict."""
    from compverify.numeric.lossless_matching import binary_moment_values, match_network
    from compverify.numeric.lossless_moments import check_tau
    from compverify.numeric.lossless_spectra import run_spectra
    from compverify.proofs_check.lossless_certificates import match_json
    from compverify.report.lossless_plot import decay_png

    spec, L, dps = cfg["activation"], int(cfg["layers"]), int(cfg["dps"])
    tau0 = check_tau(cfg["tau0"], "tau0")
    # the compressed network's own propagated scales (as the published code): the hidden
    # equations do not match tau', so only then is the compressed network consistent
    matches = match_network(spec, L, tau0, dps=dps, starts=int(cfg["starts"]), seed=seed,
                            tau_mode="propagated")
    layers = match_json(matches, dps, certify=True)
    ternary = []
    for lm in matches:
        sol = lm.solutions[0] if lm.solutions else None
        pt = sol.roots[0] if sol and sol.roots else (sol.least_squares if sol else None)
        if pt is None:
            ternary = None
            break
        params = tuple(pt.x) if lm.kind == "binary" else (*pt.x, lm.b)
        ternary.append((lm.kind, params, binary_moment_values(lm.kind, params, lm.tau, 20)["d0"]))
    spectra = run_spectra(spec, L, list(cfg["n"]), 2.0, ternary=ternary, seed=seed,
                          tau0=float(tau0))
    spectra.pop("histogram", None)
    if figures is not None:
        figures[FIGURE] = decay_png(spectra)
    return {"activation": spec, "layers": layers, "tau0": cfg["tau0"], "dps": dps,
            "derivations": _steps(spec), "spectra": spectra}


def section(res: dict, figures: dict) -> Section:
    """Derivations, the matching table (digits, verdicts, certificates), the spectral figure."""
    base = "lossless"
    blocks: list = [Para([
        "For Gaussian-mixture data the CK/NTK matrices of a wide network depend on each layer's "
        "activation through the Gaussian moments at the layer's input scale tau: ",
        Math.eq(sympy.Symbol("d_0"), sympy.Symbol("E") * sympy.Function("sigma")(
            sympy.Symbol("tau") * sympy.Symbol("xi"))),
        ", d1 = E sigma', d2 = E sigma'', d3 = E[((sigma - d0)^2)''], tau'^2 = Var sigma. "
        "They are derived in closed form (Stein forms, SymPy) or by quadrature at two precisions; "
        "a binary activation b(1[x < s1] + 1[x > s2]) is matched to them at the stated digits."])]
    for der in res["derivations"]:
        forms = [Math(s["latex"], None) for s in der["steps"]]
        blocks.append(Para([f"{der['activation']}: route {der['route']}."]))
        if forms:
            blocks.append(MathBlock(forms))
    rows = []
    for k, L in enumerate(res["layers"]):
        b = L["binary"]
        key = f"{base}/layers/{k}"
        if b["solvable"]:
            r = b["roots"][0]
            sol = ", ".join(f"{u} = {r[u][:14]}" for u in b["unknowns"])
            verdict = f"solvable ({len(b['roots'])} root(s) up to symmetry)"
            evidence = f"residual {r['residual']}, {r['verified_digits']} digits verified"
        else:
            ls = b.get("least_squares") or []
            sol = "least squares: " + (f"max |F| = {ls[0]['residual']}" if ls else "none")
            verdict = "no solution"
            lb = b.get("residual_lower_bound")
            kinds = ", ".join(sorted({c.get("kind", "?") for c in b.get("certificate") or []}))
            evidence = (f"certified max |F| >= {lb} ({kinds})" if lb else
                        f"not certified ({kinds})")
        rows.append([num(L["layer"], f"{key}/layer", None), num(L["tau"], f"{key}/tau", 12),
                     num(L["moments"]["d1"], f"{key}/moments/d1", 12),
                     num(L["moments"]["d2"], f"{key}/moments/d2", 12),
                     num(L["moments"]["d3"], f"{key}/moments/d3", 12), b["kind"], verdict, sol,
                     evidence])
    blocks.append(Table(["layer", "tau", "d1", "d2", "d3", "binary", "verdict", "solution",
                         "evidence"], rows,
                        caption=f"{res['activation']}, tau0 = {res['tau0']}, {res['dps']} digits; "
                                "tau is the compressed network's own (propagated) input scale"))
    sp = res["spectra"]
    items = []
    for name, fit in sp["fits"].items():
        if fit.get("slope") is not None:
            key = f"{base}/spectra/fits/{name}"
            items.append([f"{name}: exponent of n ", num(fit["slope"], f"{key}/slope", 3),
                          ", 95% interval [", num(fit["ci"][0], f"{key}/ci/0", 3), ", ",
                          num(fit["ci"][1], f"{key}/ci/1", 3), "]"])
    blocks.append(Para(["Spectral equivalence (n/p = 2, two-class mixture; Phi_exact is the "
                        "infinite-width CK from the derived kernel, the ternary network is sampled "
                        "with sparsity 1/2):"]))
    if items:
        blocks.append(Items(items))
    data = figures.get(FIGURE)
    if data:
        blocks.append(Figure(FIGURE, data, "image/png", [
            "Relative operator-norm errors against n, with the fitted exponents."],
            alt="lossless spectral decay"))
    last = sp["points"][-1]
    blocks.append(Para([
        "Published identity term tau_L^2 - alpha1 tau0^2 - alpha3 tau0^4: at n = ",
        num(last["n"], f"{base}/spectra/points/-1/n", None), " its error is ",
        num(last["exact_vs_tilde_published"], f"{base}/spectra/points/-1/pub", 3),
        " against ", num(last["exact_vs_tilde_diagonal"], f"{base}/spectra/points/-1/diag", 3),
        " without the alpha3 tau0^4 term (the diagonal of Phi is tau_L^2 + O(p^-1/2))."]))
    return Section("lossless", 'Part C: "lossless" ternary compression by the NTK', blocks)
