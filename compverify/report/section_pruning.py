"""The Part B section of the report (lq compressibility and pruning) and the pruning plots.

:func:`pruning_section` lays out the JSON-ready result of :func:`compverify.report.pieces.
pruning_piece`: the definitions with their source, the SymPy derivation of the exact pruned loss,
the population limits of the PQ index, and for each network SAP's steps (exact loss, bounds,
whether they hold) and SAP against magnitude and random pruning at equal retained counts, with
the plot.  It computes nothing: every number is a :class:`~compverify.report.document.Num` with
its path in ``results.json``.  :func:`plot_series_bytes` draws relative exact loss against the
retained fraction (used by ``compverify prune`` too).

>>> png = plot_series_bytes([{"label": "sap", "retained_fraction": [1, 0.5],
...                           "relative_loss": [0, 1e-3]}], "demo")
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
from typing import Any

from compverify.report.document import Figure, Items, Math, MathBlock, Para, Section, Table, Text
from compverify.report.sections import num

__all__ = ["plot_series_bytes", "comparison_series", "pruning_section"]


def plot_series_bytes(series: list[dict], title: str, fmt: str = "png") -> bytes:
    """Relative exact loss (log scale; zero losses left out) against the retained fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=110)
    drawn = 0
    for s in series:
        pts = [(float(f), float(v)) for f, v in zip(s["retained_fraction"], s["relative_loss"],
                                                    strict=True) if float(v) > 0]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=s["label"])
            drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "nothing pruned: every loss is 0", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("retained fraction of first-layer weights")
    ax.set_ylabel("exact relative loss E(f - f~)^2 / E f^2")
    ax.set_title(title, fontsize=10)
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    plt.close(fig)
    return buf.getvalue()


def comparison_series(study: dict) -> list[dict]:
    """Plot series of a comparison study (its JSON): SAP and each baseline at SAP's counts."""
    sap = study["sap"]
    total = float(sap["steps"][0]["total"])
    ef2 = float(sap["E_f2"])
    out = [{"label": sap["label"],
            "retained_fraction": [s["retained_fraction"] for s in sap["steps"]],
            "relative_loss": [s["relative_loss"] for s in sap["steps"]]}]
    for label, comps in study["comparisons"].items():
        out.append({"label": f"{label} (at SAP's counts)",
                    "retained_fraction": [float(c["retained"]) / total for c in comps],
                    "relative_loss": [float(c["loss_other"]) / ef2 for c in comps]})
    return out


def _formula(d: dict) -> Math:
    return Math.from_dict(d)


def _definitions() -> list:
    return [
        Para(["Source: seed 002, arXiv:2206.05604 (a theoretical understanding of neural network "
              "compression from sparse linear approximation); statements as in SPEC Part B. For "
              "w in R^n (the unpruned entries) and 0 < p < q:"]),
        Items([
            ["PQ index ", Math(r"I_{p,q}(w) = 1 - n^{1/q - 1/p} \frac{\|w\|_p}{\|w\|_q}"),
             ", between 0 (equal magnitudes) and 1 - n^(1/q - 1/p) (one nonzero entry)."],
            ["retained-count bound ", Math(r"r = \left\lceil n (1+\eta)^{q/(p-q)} "
                                           r"(1 - I)^{qp/(q-p)} \right\rceil"),
             ": any S with ||w_{S^c}||_p^p <= eta ||w_S||_p^p has |S| >= r (Hölder on S)."],
            ["SAP: prune ", Math(r"c = \lfloor n \,\min(\max(\gamma (1 - r/n), 0), \beta)"
                                 r"\rfloor"),
             " smallest-magnitude entries per group (neuron, layer, global), iterated."],
            ["Stechkin: ", Math(r"\|w - w_s\|_2 \le \|w\|_q\, s^{1/2 - 1/q}"), ", 0 < q < 2."],
            ["accuracy bounds: ", Math(r"E(f - \tilde f)^2 \le \mathrm{Lip}^2 \Big(\sum_i |a_i| "
                                       r"\|w_i - \tilde w_i\|\Big)^2 \le \mathrm{Lip}^2 \Big("
                                       r"\sum_i |a_i| \|w_i\|_q s_i^{1/2 - 1/q}\Big)^2"), "."],
        ]),
    ]


def pruning_section(res: dict, plots: dict[str, Figure] | None = None,
                    base_key: str = "pruning") -> Section:
    """The Part B section (module docstring); ``plots[network name]`` the comparison figures."""
    plots = plots or {}
    blocks: list = list(_definitions())
    blocks.append(Para(["The exact pruned loss under x ~ N(0, I_d), derived by SymPy on explicit "
                        "neurons and checked step by step (every step below was confirmed: ",
                        num(all(s.get("checked") for s in res.get("derivation", [])),
                            f"{base_key}/derivation", None), "):"]))
    steps = res.get("derivation") or []
    blocks.append(MathBlock([_formula(res["general_formula"])] + [
        _formula(s["formula"]) for s in steps if s["name"] in ("neuron removal", "linear sigma")],
        ["kernel sum", "neuron removal (R = last neuron, n = 2)", "linear sigma (n = 2)"]))
    pops = res.get("population") or []
    if pops:
        rows = [[Text(p["law"], "code"),
                 num(p["population_one_minus_index"],
                     f"{base_key}/population/{k}/population_one_minus_index",
                     min(15, int(p["verified_digits"]))),
                 num(p["verified_digits"], f"{base_key}/population/{k}/verified_digits", None)]
                for k, p in enumerate(pops)]
        blocks.append(Para(["Population limits of 1 - I_{p,q} for i.i.d. entries, ",
                            Math(r"(E|w|^p)^{1/p} / (E|w|^q)^{1/q}"),
                            ", with E|w|^p derived by SymPy (p = ", str(res.get("p")), ", q = ",
                            str(res.get("q")), "); digits agree between dps and dps + 10:"]))
        blocks.append(Table(["law", "1 - I (population)", "verified digits"], rows,
                            key=f"{base_key}/population"))
    subs = []
    for n_idx, net in enumerate(res.get("networks") or []):
        subs.append(_network_subsection(net, f"{base_key}/networks/{n_idx}",
                                        plots.get(net["name"])))
    items = _answer_items(res, base_key)
    if items:
        blocks.append(Para([Text("Is SAP better than magnitude pruning at equal retained "
                                 "counts?", "strong"), " Per network and SAP scope, the steps at "
                            "which SAP's exact loss is below the baseline's beyond both error "
                            "bounds, and the geometric mean of the loss ratio SAP/baseline "
                            "(below 1: SAP better):"]))
        blocks.append(Items(items))
    return Section("pruning", "Part B: lq compressibility and pruning, checked by the exact loss",
                   blocks, subs)


def _answer_items(res: dict, base_key: str) -> list:
    items = []
    for n_idx, net in enumerate(res.get("networks") or []):
        for sname, study in (net.get("studies") or {}).items():
            skey = f"{base_key}/networks/{n_idx}/studies/{sname}/summary"
            line: list = [Text(f"{net['name']}, {sname}", "code"), ": "]
            summ = study.get("summary") or {}
            if not any(s["steps"] for s in summ.values()):
                line.append("SAP pruned nothing at any step.")
                items.append(line)
                continue
            for k, (lab, s) in enumerate(summ.items()):
                line += [("; " if k else "") + f"vs {lab} better at ",
                         num(s["sap_better"], f"{skey}/{lab}/sap_better", None), "/",
                         num(s["steps"], f"{skey}/{lab}/steps", None), " (worse at ",
                         num(s["baseline_better"], f"{skey}/{lab}/baseline_better", None),
                         ", ratio ", num(s["geometric_mean_ratio"],
                                         f"{skey}/{lab}/geometric_mean_ratio", 3), ")"]
            items.append(line + ["."])
    return items


def _network_subsection(net: dict, key: str, plot: Figure | None) -> Section:
    blocks: list = [Para([f"Network {net['name']}: N = {net['network']['N']}, d = "
                          f"{net['network']['d']}, activation {net['network']['activation']}, "
                          f"sha256 {net['network']['sha256'][:16]}...; {net.get('origin', '')}"])]
    for sname, study in (net.get("studies") or {}).items():
        sap = study["sap"]
        skey = f"{key}/studies/{sname}"
        rows = []
        for k, s in enumerate(sap["steps"]):
            chk = s["checks"]
            rows.append([num(s["step"], f"{skey}/sap/steps/{k}/step", None),
                         num(s["retained"], f"{skey}/sap/steps/{k}/retained", None),
                         num(s["pq_index"], f"{skey}/sap/steps/{k}/pq_index", 4),
                         num(s["exact_loss"], f"{skey}/sap/steps/{k}/exact_loss", 6),
                         num(s["relative_loss"], f"{skey}/sap/steps/{k}/relative_loss", 6),
                         num(s["exact_loss_error"], f"{skey}/sap/steps/{k}/exact_loss_error", 2),
                         num(s["lipschitz_bound"], f"{skey}/sap/steps/{k}/lipschitz_bound", 4),
                         num(s["lq_bound"], f"{skey}/sap/steps/{k}/lq_bound", 4),
                         chk["retained_claim"]["status"],
                         num(s["bounds_hold"], f"{skey}/sap/steps/{k}/bounds_hold", None)])
        blocks.append(Para([Text(f"{sap['label']}", "code"), " (p = ", sap["parameters"]["p"],
                            ", q = ", sap["parameters"]["q"], ", gamma = ",
                            sap["parameters"]["gamma"], ", beta = ", sap["parameters"]["beta"],
                            "): the exact loss E(f - f~)^2 (float64, with its error bound), "
                            "the relative loss E(f - f~)^2 / E f^2, the Lipschitz and lq bounds "
                            "on the exact loss (same units), the retained-count claim for the "
                            "retained sets, and whether every applicable check is verified:"]))
        blocks.append(Table(["step", "retained", "PQ index", "exact loss", "relative loss",
                             "loss error", "Lipschitz bound", "lq bound", "count claim",
                             "bounds hold"],
                            rows, key=f"{skey}/sap/steps"))
        labels = list(study["comparisons"])
        if labels and not study["comparisons"][labels[0]]:
            blocks.append(Para(["SAP pruned nothing at any of its steps (in each group "
                                "floor(n min(gamma (1 - r/n), beta)) = 0), so there is nothing to "
                                "compare at equal counts."]))
        crow = []
        first = study["comparisons"][labels[0]] if labels else []
        for k, c in enumerate(first):
            row = [num(c["step"], f"{skey}/comparisons/{labels[0]}/{k}/step", None),
                   num(c["retained"], f"{skey}/comparisons/{labels[0]}/{k}/retained", None),
                   num(c["loss_sap"], f"{skey}/comparisons/{labels[0]}/{k}/loss_sap", 6)]
            for lab in labels:
                cc = study["comparisons"][lab][k]
                row += [num(cc["loss_other"], f"{skey}/comparisons/{lab}/{k}/loss_other", 6),
                        cc["winner"]]
            crow.append(row)
        if crow:
            head = ["step", "retained", "loss SAP"]
            for lab in labels:
                head += [f"loss {lab}", "winner"]
            blocks.append(Para(["At SAP's retained counts, one-shot baselines keeping exactly as "
                                "many entries; winner decided beyond both float64 error bounds "
                                "(tie: within them):"]))
            blocks.append(Table(head, crow, key=f"{skey}/comparisons"))
            items = []
            for lab, s in study["summary"].items():
                items.append([f"vs {lab}: SAP better at ",
                              num(s["sap_better"], f"{skey}/summary/{lab}/sap_better", None),
                              ", tie at ", num(s["tie"], f"{skey}/summary/{lab}/tie", None),
                              ", baseline better at ",
                              num(s["baseline_better"], f"{skey}/summary/{lab}/baseline_better",
                                  None), " of ", num(s["steps"], f"{skey}/summary/{lab}/steps",
                                                     None),
                              " steps; geometric mean of loss(SAP)/loss(baseline) ",
                              num(s["geometric_mean_ratio"],
                                  f"{skey}/summary/{lab}/geometric_mean_ratio", 4)])
            blocks.append(Items(items))
    mp = net.get("mp_check")
    if mp:
        blocks.append(Para(["mpmath check at ", str(mp["dps"]), " digits (", mp["label"],
                            "): every step's exact loss recomputed in mpmath, digits verified "
                            "against dps + 10: at least ",
                            num(mp["min_digits"], f"{key}/mp_check/min_digits", None),
                            "; the float64 loss lies within its error bound of it at every step: ",
                            num(mp["float_within_bound"], f"{key}/mp_check/float_within_bound",
                                None), "; bounds verified in mpmath at ",
                            num(mp["bounds_verified"], f"{key}/mp_check/bounds_verified", None),
                            " of ", num(mp["steps"], f"{key}/mp_check/steps", None), " steps."]))
    if plot is not None:
        blocks.append(plot)
    return Section(f"pruning-{net['name']}", f"Network {net['name']}", blocks)


def answer_lines(res: dict) -> list[str]:
    """Plain sentences answering the comparison question from the numbers of ``res``."""
    out = []
    for net in res.get("networks") or []:
        for sname, study in (net.get("studies") or {}).items():
            parts = []
            for lab, s in study["summary"].items():
                g = s["geometric_mean_ratio"]
                gs = "n/a" if g is None else f"{float(g):.3g}"
                parts.append(f"{lab}: SAP better {s['sap_better']}/{s['steps']}, tie "
                             f"{s['tie']}, worse {s['baseline_better']} (loss ratio {gs})")
            out.append(f"{net['name']}, {sname}: " + "; ".join(parts) + ".")
    return out


def figure_for(name: str, data: bytes | None) -> Figure | None:
    """The comparison plot of network ``name`` as a report figure."""
    if not data:
        return None
    return Figure(f"figures/pruning-{name}.png", data, "image/png",
                  [f"Exact relative loss against the retained fraction, network {name}: SAP and "
                   "the baselines at SAP's retained counts."], alt=f"pruning {name}")


def piece_figures(res: dict) -> dict[str, bytes]:
    """PNG bytes of each network's comparison plot (the first study's)."""
    out = {}
    for net in res.get("networks") or []:
        studies = net.get("studies") or {}
        series: list[Any] = []
        for sname, study in studies.items():
            for s in comparison_series(study):
                if s["label"].startswith(("sap", "SAP")) or sname == next(iter(studies)):
                    if s not in series:
                        series.append(s)
        if series:
            out[net["name"]] = plot_series_bytes(
                series, f"{net['name']}: N = {net['network']['N']}, d = {net['network']['d']}")
    return out


def summary_items(res: dict, base: str = "pruning") -> list[list]:
    """Findings for the report's summary: whether the bounds held at every step, and, per network,
    whether SAP per neuron beat magnitude pruning at equal retained counts (uniform per neuron,
    global), each number a :class:`~compverify.report.document.Num` into ``results.json``."""
    from compverify.report.document import Num

    items: list[list] = []
    checked = verified = violated = 0
    for net in res.get("networks") or []:
        for study in (net.get("studies") or {}).values():
            for s in study["sap"]["steps"]:
                checked += 1
                verified += s.get("bounds_hold") is True
                violated += s.get("bounds_hold") is False
    if checked:
        word = ("Held" if verified == checked else "Did not hold" if violated else
                "Undecided")
        items.append([Text(word, "strong"),
                      f": the Lipschitz and lq (Stechkin) accuracy bounds and the retained-count "
                      f"claim of the pruning paper, checked against the exact population loss at "
                      f"{checked} SAP steps: all verified beyond the working precision's error at "
                      f"{verified}, one violated at {violated}."])
    for n_idx, net in enumerate(res.get("networks") or []):
        study = (net.get("studies") or {}).get("sap-neuron")
        if not study:
            continue
        key = f"{base}/networks/{n_idx}/studies/sap-neuron/summary"
        summ = study.get("summary") or {}
        uni, glob = summ.get("magnitude-neuron"), summ.get("magnitude-global")
        if not uni or not glob or not uni["steps"]:
            items.append([f"Network {net['name']}: SAP per neuron pruned nothing, no comparison."])
            continue
        held = uni["sap_better"] == uni["steps"]
        items.append([
            Text("Held" if held else "Did not hold", "strong"),
            f" on network {net['name']}: SAP per neuron beat uniform per-neuron magnitude pruning "
            "at equal retained counts at ",
            Num(str(uni["sap_better"]), f"{key}/magnitude-neuron/sap_better", None), " of ",
            Num(str(uni["steps"]), f"{key}/magnitude-neuron/steps", None),
            " steps; global magnitude pruning at ",
            Num(str(glob["sap_better"]), f"{key}/magnitude-global/sap_better", None), " of ",
            Num(str(glob["steps"]), f"{key}/magnitude-global/steps", None),
            " (loss ratio SAP/global ",
            Num(str(glob["geometric_mean_ratio"]), f"{key}/magnitude-global/geometric_mean_ratio",
                3) if glob["geometric_mean_ratio"] is not None else "n/a", ")."])
    return items
