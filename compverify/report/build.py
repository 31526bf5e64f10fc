"""Build a report: run the configured pieces, collect their results, render, write atomically.

:func:`build_report` is the front door. It plans one task per piece (a kernel derivation, a solve
case, the sweep, the rate experiment, ...), runs them in order with progress on stderr, keeps each
result as the JSON-ready dict the library returned, lays the results out with the section
builders of :mod:`compverify.report.sections`, renders HTML, Markdown and LaTeX, and writes
everything (results included) into a temporary sibling of the output directory that is renamed
into place only when complete (:mod:`compverify.report.output`).

Output directory layout::

    report.html  report.md  report.tex  results.json  config.toml
    figures/*.png
    results/*.json (one file per piece, as the library's own commands would write them)
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from compverify._version import __version__
from compverify.io import atomic_write_bytes, atomic_write_text, to_jsonable
from compverify.report import pieces, plots, section_pruning, sections
from compverify.report.config import ReportConfig, expand_cases
from compverify.report.document import Document, Figure, Section, Text
from compverify.report.output import check_target, staged_directory, write_marker
from compverify.report.progress import Progress

#: Packages whose versions the report records.
VERSIONED = ("compverify", "sympy", "mpmath", "numpy", "scipy", "cvxpy", "matplotlib",
             "python-flint")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the results depend on."""
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = __version__ if name == "compverify" else "not installed"
    return out


def default_command() -> str:
    """The command line of this process, quoted so it can be pasted into a shell."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("compverify", "__main__.py", "cli.py")):
        argv[0] = "compverify"
    return " ".join(shlex.quote(a) for a in argv)


@dataclass
class Task:
    """One unit of work: a label for the progress display and a function that stores a result."""

    label: str
    run: Callable[[], None]


@dataclass
class BuildResult:
    """What a build wrote and the excerpt it prints."""

    out: Path
    files: list[str]
    excerpt: str
    wall_time_s: float
    results: dict = field(repr=False, default_factory=dict)


def plan(cfg: ReportConfig, results: dict, figures: dict[str, bytes]) -> list[Task]:
    """The tasks of a run, in order; each stores its result in ``results`` (or ``figures``)."""
    seed = cfg.report["seed"]
    jobs = cfg.report["jobs"]
    tasks: list[Task] = []
    from compverify.numeric.targets import table as route_table

    results["routes"] = route_table.rows()
    if cfg.kernels:
        results["kernels"] = []
        for spec in cfg.kernels["activations"]:
            tasks.append(Task(f"deriving the kernel of {spec}",
                              lambda s=spec: results["kernels"].append(pieces.kernel_piece(s))))
    if cfg.gradients:
        acts = cfg.gradients["activations"]
        tasks.append(Task("gradient formulas",
                          lambda: results.__setitem__("gradients", pieces.gradient_piece(acts))))
    if cfg.meanfield:
        results["meanfield"] = []
        mf = cfg.meanfield
        for spec in mf["activations"]:
            tasks.append(Task(f"mean-field closed forms for {spec}",
                              lambda s=spec: results["meanfield"].append(
                                  pieces.meanfield_piece(s, mf))))
    if cfg.solve:
        results["solve"] = []
        for entry in cfg.solve:
            if entry.get("from"):
                for path in entry["from"]:
                    p = cfg.resolve(path)
                    tasks.append(Task(f"loading solve result {p.name}",
                                      lambda p=p: results["solve"].append(
                                          pieces.loaded_solve_piece(p, jobs=jobs))))
                continue
            for d, m in expand_cases(entry):
                tasks.append(Task(f"solving {entry['activation']} d={d} M={m}",
                                  lambda e=entry, d=d, m=m: results["solve"].append(
                                      pieces.solve_piece(e, d, m, seed=seed, jobs=jobs))))
    if cfg.conjecture:
        cj = cfg.conjecture
        if cj.get("from"):
            tasks.append(Task("loading the conjecture sweep",
                              lambda: results.__setitem__("conjecture", pieces.load_result(
                                  cfg.resolve(cj["from"]), "conjecture"))))
        else:
            tasks.append(Task(f"conjecture sweep ({len(expand_cases(cj))} cases)",
                              lambda: results.__setitem__("conjecture", pieces.conjecture_piece(
                                  cj, seed=seed, jobs=jobs))))
    if cfg.solve or cfg.conjecture:
        from compverify.report import section_proofs

        tasks.append(Task("proofs (ball arithmetic) for the solved cases",
                          lambda: results.__setitem__("proofs",
                                                      section_proofs.proofs_piece(results))))
    if cfg.rate:
        rt = cfg.rate
        if rt.get("from"):
            tasks.append(Task("loading the rate experiment",
                              lambda: results.__setitem__("rate", pieces.load_result(
                                  cfg.resolve(rt["from"]), "rate"))))
        else:
            tasks.append(Task("error-rate experiment",
                              lambda: results.__setitem__("rate", pieces.rate_piece(
                                  rt, seed=seed, jobs=jobs))))
        tasks.append(Task("rate plot", lambda: figures.__setitem__(
            "figures/rate.png", pieces.rate_plot_png(results["rate"]))))
    if cfg.pruning:
        pr = cfg.pruning
        tasks.append(Task("Part B: pruning against the exact loss",
                          lambda: results.__setitem__("pruning", pieces.pruning_piece(
                              pr, seed=seed, solves=results.get("solve")))))
        tasks.append(Task("pruning plots", lambda: figures.update(
            {f"figures/pruning-{k}.png": v
             for k, v in section_pruning.piece_figures(results["pruning"]).items()})))
    if cfg.lossless:
        from compverify.report import section_lossless

        tasks.append(Task("lossless compression: matching and spectra",
                          lambda: results.__setitem__("lossless", section_lossless.piece(
                              cfg.lossless, seed=seed, figures=figures))))
    if cfg.atlas:
        tasks.extend(_atlas_tasks(cfg, results, figures, seed, jobs))
    return tasks


def _atlas_tasks(cfg: ReportConfig, results: dict, figures: dict[str, bytes], seed: int,
                 jobs: int) -> list[Task]:
    from compverify.report import section_atlas

    at = cfg.atlas
    if at.get("from"):
        run = Task("loading the atlas", lambda: results.__setitem__("atlas", pieces.load_result(
            cfg.resolve(at["from"]), "conjecture")))
    else:
        run = Task(f"ETF atlas (cases with at most {at['max_params']} parameters)",
                   lambda: results.__setitem__("atlas", section_atlas.atlas_piece(
                       at, seed=seed, jobs=jobs)))
    return [run, Task("atlas heat map", lambda: figures.__setitem__(
        "figures/atlas.png", plots.sweep_figure(results["atlas"])))]


def _case_id(res: dict, k: int) -> str:
    p = res.get("problem", {})
    act = str(p.get("activation", "case")).replace(":", "_").replace(",", "_")
    return f"{k + 1:02d}-{act}-d{p.get('d', '')}-M{p.get('M', '')}"


def _setting(cfg: ReportConfig, results: dict) -> dict:
    acts: list[str] = []
    for spec in ((cfg.kernels or {}).get("activations", [])
                 + [e["activation"] for e in cfg.solve if not e.get("from")]
                 + [(cfg.conjecture or {}).get("activation")]
                 + [(cfg.rate or {}).get("activation")]):
        if spec and spec not in acts:
            acts.append(spec)
    targets = []
    for t in ([e.get("target") for e in cfg.solve if not e.get("from")]
              + [(cfg.meanfield or {}).get("target"), (cfg.conjecture or {}).get("target"),
                 (cfg.rate or {}).get("target")]):
        if t and t not in targets:
            targets.append(t)
    cases = [f"({r.get('problem', {}).get('d')}, {r.get('problem', {}).get('M')})"
             for r in results.get("solve", [])]
    return {"activations": acts, "targets": targets, "cases": cases}


def make_document(cfg: ReportConfig, results: dict, figures: dict[str, bytes],
                  files: list[str]) -> Document:
    """Lay the results out as a document (sections in the order of the issue)."""
    from compverify.report import section_summary

    secs: list[Section] = [section_summary.summary_section(results)]
    if results.get("solve") or results.get("conjecture"):
        secs.append(section_summary.definitions_section())
    secs.append(sections.setting_section(_setting(cfg, results)))
    if results.get("routes"):
        from compverify.report.section_routes import routes_section

        secs.append(routes_section(results["routes"]))
    if results.get("kernels"):
        secs.append(sections.kernel_section(results["kernels"]))
    if results.get("gradients"):
        secs.append(sections.gradient_section(results["gradients"]))
    if results.get("meanfield"):
        secs.append(sections.meanfield_section(results["meanfield"]))
    solves = results.get("solve") or []
    if solves:
        secs.append(sections.solutions_section(solves))
        figs: list[Figure | None] = []
        for k, res in enumerate(solves):
            name = f"figures/directions-{_case_id(res, k)}.png"
            if name in figures:
                p = res.get("problem", {})
                figs.append(Figure(name, figures[name], "image/png", [
                    "Optimal directions, ", Text(str(p.get("activation")), "code"),
                    f", d = {p.get('d')}, M = {p.get('M')}."],
                    alt=f"directions d={p.get('d')} M={p.get('M')}"))
            else:
                figs.append(None)
        secs.append(sections.frames_section(solves, figs))
    if results.get("conjecture"):
        secs.append(sections.conjecture_section(results["conjecture"]))
    if results.get("proofs"):
        from compverify.report.section_proofs import proofs_section

        secs.append(proofs_section(results["proofs"]))
    if results.get("rate"):
        data = figures.get("figures/rate.png")
        plot = Figure("figures/rate.png", data, "image/png", [
            "Measured sup |h_N - h| against N, with the fitted rate."],
            alt="error rate plot") if data else None
        secs.append(sections.rate_section(results["rate"], plot))
    if results.get("atlas"):
        from compverify.report.section_atlas import atlas_section

        data = figures.get("figures/atlas.png")
        heat = Figure("figures/atlas.png", data, "image/png", [
            "The atlas over (M, d): relative loss of the optimum, and the ETF gap."],
            alt="atlas heat map") if data else None
        secs.append(atlas_section(results["atlas"], heat))
    if results.get("pruning"):
        plots = {net["name"]: section_pruning.figure_for(
            net["name"], figures.get(f"figures/pruning-{net['name']}.png"))
            for net in results["pruning"].get("networks") or []}
        secs.append(section_pruning.pruning_section(results["pruning"], plots))
    if results.get("lossless"):
        from compverify.report import section_lossless

        secs.append(section_lossless.section(results["lossless"], figures))
    # the paper checked, and the papers of the other parts when their results are present
    cited = ["amani"] + [k for k in ("pruning", "lossless") if results.get(k)]
    secs.append(section_summary.references_section(cited))
    secs.append(sections.reproducibility_section(results["run"], cfg.text, files))
    run = results["run"]
    subtitle = [f"compverify {run['versions'].get('compverify')}, seed {run['seed']}."]
    return Document(cfg.report["title"], secs, subtitle)


def excerpt(results: dict, out: Path, files: list[str]) -> str:
    """A few lines to print at the end: relative losses, verdicts, fitted exponents."""
    from compverify.report.document import round_decimal as rd

    lines = []
    for res in results.get("solve") or []:
        p = res.get("problem", {})
        fr = res.get("frame") or {}
        ev = res.get("evidence") or {}
        line = (f"  {p.get('activation')} d={p.get('d')} M={p.get('M')}: relative loss "
                f"{rd(res.get('relative_loss'), 12)} ({ev.get('verified_digits', '?')} digits "
                f"verified), verdict: {fr.get('verdict', '-')}")
        if fr.get("etf_gap_zero_within_uncertainty"):
            line += f", ETF gap 0 within {rd(fr['etf_gap_uncertainty'], 2)}"
        elif fr.get("etf_gap") is not None:
            line += f", ETF gap {rd(fr['etf_gap'], 3)}"
        lines.append(line)
    sweep = results.get("conjecture")
    if sweep:
        for case in sweep.get("cases") or []:
            p = case.get("problem", {})
            fr = case.get("frame") or {}
            lines.append(f"  sweep d={case.get('d', p.get('d'))} M={case.get('M', p.get('M'))}: "
                         f"relative loss {rd(case.get('relative_loss'), 12)}, verdict: "
                         f"{case.get('verdict', fr.get('verdict', '-'))}")
    rate = results.get("rate")
    if rate:
        fit = rate.get("fit") or {}
        ci = fit.get("N_exponent_ci") or [None, None]
        line = (f"  error rate: sup|h_N - h| ~ N^{rd(fit.get('N_exponent'), 3)} "
                f"[{rd(ci[0], 3)}, {rd(ci[1], 3)}]")
        if fit.get("d_exponent") is not None:
            dci = fit.get("d_exponent_ci") or [None, None]
            line += f" d^{rd(fit['d_exponent'], 3)} [{rd(dci[0], 3)}, {rd(dci[1], 3)}]"
        lines.append(line + " (candidates N^-0.5, (d/N)^0.5)")
    for line in (results.get("pruning") or {}).get("answer") or []:
        lines.append(f"  pruning {line}")
    wall = results["run"]["wall_time_s"]
    head = f"compverify report: wrote {out}/ in {float(wall):.0f} s: " + ", ".join(
        f for f in files if "/" not in f)
    return "\n".join([head] + lines)


def build_report(cfg: ReportConfig, out: str | os.PathLike, *, force: bool = False,
                 command: str | None = None, progress: str = "auto") -> BuildResult:
    """Run the configuration and write the report into ``out`` (atomically; see module doc)."""
    t0 = time.perf_counter()
    out = check_target(Path(out), force)  # fail before any work
    results: dict[str, Any] = {
        "format": "compverify-report",
        "version": __version__,
        "run": {
            "command": command if command is not None else default_command(),
            "cwd": os.getcwd(),
            "seed": cfg.report["seed"],
            "config_source": cfg.source,
            "versions": versions(),
        },
        "config": cfg.as_dict(),
    }
    figures: dict[str, bytes] = {}
    tasks = plan(cfg, results, figures)
    formats = cfg.report["formats"]
    prog = Progress(len(tasks) + 2, mode=progress)
    try:
        with staged_directory(out, force) as tmp:
            for task in tasks:
                prog.stage(task.label)
                task.run()
                prog.advance()
            prog.stage("frame figures")
            from compverify.report.figures import directions_figure

            for k, res in enumerate(results.get("solve") or []):
                dirs = res.get("directions")
                if dirs:
                    p = res.get("problem", {})
                    figures[f"figures/directions-{_case_id(res, k)}.png"] = directions_figure(
                        dirs, f"{p.get('activation')}, d = {p.get('d')}, M = {p.get('M')}")
            prog.advance()
            prog.stage("writing the report")
            files = _write_results(tmp, results)
            for name, data in sorted(figures.items()):
                atomic_write_bytes(tmp / name, data, make_parents=True)
                files.append(name)
            atomic_write_text(tmp / "config.toml", cfg.text)
            files.append("config.toml")
            names = {"html": "report.html", "markdown": "report.md", "latex": "report.tex"}
            main_files = [names[f] for f in formats] + ["results.json"]
            results["run"]["wall_time_s"] = round(time.perf_counter() - t0, 1)
            # The document is laid out from exactly the JSON that is written.
            results = to_jsonable(results)
            doc = make_document(cfg, results, figures, ["results.json"] + sorted(files))
            if "html" in formats:
                from compverify.report.render_html import render_html

                atomic_write_text(tmp / "report.html", render_html(doc))
            if "markdown" in formats:
                from compverify.report.render_markdown import render_markdown

                atomic_write_text(tmp / "report.md", render_markdown(doc))
            if "latex" in formats:
                from compverify.report.render_latex import render_latex

                atomic_write_text(tmp / "report.tex", render_latex(doc))
            atomic_write_text(tmp / "results.json", json.dumps(results, indent=2) + "\n")
            write_marker(tmp)
            prog.advance()
    finally:
        prog.close()
    all_files = main_files + sorted(files)
    return BuildResult(out, all_files, excerpt(results, out, main_files),
                       float(results["run"]["wall_time_s"]), results)


def _write_results(tmp: Path, results: dict) -> list[str]:
    """One JSON file per piece under ``results/`` (as the library's commands would write them)."""
    files = []

    def put(name: str, obj: Any) -> None:
        atomic_write_text(tmp / name, json.dumps(to_jsonable(obj), indent=2) + "\n",
                          make_parents=True)
        files.append(name)

    if results.get("kernels"):
        put("results/kernels.json", [
            {k: v for k, v in r.items() if k != "display"} for r in results["kernels"]])
    if results.get("gradients"):
        put("results/gradients.json", results["gradients"])
    if results.get("meanfield"):
        put("results/meanfield.json", results["meanfield"])
    for k, res in enumerate(results.get("solve") or []):
        put(f"results/solve-{_case_id(res, k)}.json", res)
    if results.get("conjecture"):
        put("results/conjecture.json", results["conjecture"])
    if results.get("proofs"):
        put("results/proofs.json", results["proofs"])
    if results.get("rate"):
        put("results/rate.json", results["rate"])
    if results.get("pruning"):
        put("results/pruning.json", results["pruning"])
    if results.get("lossless"):
        put("results/lossless.json", results["lossless"])
    if results.get("atlas"):
        put("results/atlas.json", results["atlas"])
    return files
