"""The figure next to each JSON result: what a reader of the numbers would draw.

Each function takes the JSON-ready dict a command writes (reals as decimal strings, as in the
file) and returns PNG bytes (matplotlib, Agg backend, deterministic: no timestamp in the
metadata); :func:`write_figure` puts them next to the JSON file, same stem, ``.png``, atomically.

* :func:`solve_figure` (``solve --out``): the float64 loss the restarts reached, sorted, relative
  to ``C`` on a log scale, with the polished loss marked; the Gram matrix ``<u_j, u_k>`` of the
  directions as a heat map; for ``d <= 3`` the directions on the line, circle or sphere.
* :func:`sweep_figure` (``conjecture --out``): the relative loss ``L / C`` (log colour scale) and
  the ETF gap over the grid (d, M) as heat maps, each cell annotated with its value (grids up to
  :data:`MAX_ANNOTATED` a side).
* :func:`sparsity_figure` (``sparsity --out``): for a network, the histogram of the per-neuron PQ
  index with the whole layer's marked; for a law, the finite-n ``1 - I`` (one sample per n,
  with its standard error) against ``n`` with the population limit.

>>> data = {"problem": {"activation": "relu", "d": 2, "M": 3}, "C": "1.0",
...         "relative_loss": "0.01", "directions": [["1", "0"], ["0", "1"], ["-1", "0"]],
...         "basins": [{"loss_float64": "0.01", "count": 3}], "failed_restarts": 0}
>>> solve_figure(data)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from compverify.io import atomic_write_bytes
from compverify.report.figures import _colours, _png, _pyplot, draw_planar, draw_spatial

__all__ = ["figure_path", "write_figure", "solve_figure", "sweep_figure", "sparsity_figure",
           "gram_matrix"]

#: Relative losses below this are drawn at it on the log scale (a loss of exactly 0 has no log).
LOG_FLOOR = 1e-300
#: ETF gaps below this in absolute value share the lowest colour (the gap of an optimum that is
#: an ETF is 0 up to the working precision, about 10^-dps).
GAP_FLOOR = 1e-30
#: Heat maps with at most this many rows and columns have each cell's value written in it.
MAX_ANNOTATED = 14


def figure_path(json_path: str | os.PathLike) -> Path:
    """The figure's path: ``json_path`` with the suffix ``.png`` (``r.json`` -> ``r.png``; a name
    already ending in ``.png`` gets a second one rather than being overwritten)."""
    p = Path(json_path)
    fig = p.with_suffix(".png") if p.suffix else Path(f"{p}.png")
    return Path(f"{p}.png") if fig == p else fig


def write_figure(json_path: str | os.PathLike, png: bytes) -> Path:
    """Write ``png`` at :func:`figure_path` of ``json_path`` atomically; return the path."""
    return atomic_write_bytes(figure_path(json_path), png)


def _real(x: Any) -> float:
    return float("nan") if x is None else float(x)


def gram_matrix(directions: Any) -> np.ndarray:
    """``G[j, k] = <u_j, u_k>`` of the rows ``u_j`` (decimal strings or numbers), as float64."""
    u = np.array([[float(x) for x in row] for row in directions], dtype=float)
    if u.ndim != 2 or u.shape[0] == 0:
        raise ValueError("directions must be a non-empty list of rows")
    return u @ u.T


def _restart_losses(data: dict) -> np.ndarray:
    """The relative float64 loss each restart reached, sorted: each basin's best value, as many
    times as restarts fell in the basin (restarts within a basin agree to its grouping tolerance)."""
    C = _real(data.get("C"))
    vals: list[float] = []
    for basin in data.get("basins") or []:
        v = _real(basin.get("loss_float64", basin.get("loss")))
        vals.extend([v / C if C else v] * int(basin.get("count", 1)))
    return np.sort(np.array(vals, dtype=float))


def solve_figure(data: dict) -> bytes:
    """PNG of a ``solve`` result (module docstring): restarts, Gram matrix, directions (d <= 3)."""
    plt = _pyplot()
    prob = data.get("problem") or {}
    u = np.array([[float(x) for x in row] for row in data["directions"]], dtype=float)
    M, d = u.shape
    spatial = d == 3
    panels = 3 if d <= 3 else 2
    fig = plt.figure(figsize=(4.3 * panels, 4.0))
    ax = fig.add_subplot(1, panels, 1)
    rel = _restart_losses(data)
    polished = _real(data.get("relative_loss"))
    if rel.size:
        ax.plot(np.arange(1, rel.size + 1), np.maximum(rel, LOG_FLOOR), "o-", ms=4, lw=1,
                label="float64 search (each restart's basin)")
    if math.isfinite(polished):
        ax.axhline(max(polished, LOG_FLOOR), color="C3", ls="--", lw=1.2,
                   label=f"polished: {polished:.6g}")
    shown = [v for v in (*rel.tolist(), polished) if math.isfinite(v)]
    if shown:  # a decade either side: equal values would leave a log axis without ticks
        lo, hi = max(min(shown), LOG_FLOOR), max(max(shown), LOG_FLOOR)
        ax.set_ylim(lo / 10 ** 0.5, hi * 10 ** 0.5)
    ax.set_yscale("log")  # after the limits: equal values would make a singular log range
    ax.set_xlabel("restart, sorted by loss")
    ax.set_ylabel("relative loss L / C")
    failed = int(data.get("failed_restarts") or 0)
    total = data.get("restarts", rel.size + failed)
    ax.set_title(f"{prob.get('activation', '')}, d = {d}, M = {M}: {total} restarts"
                 + (f" ({failed} failed, not drawn)" if failed else ""), fontsize=10)
    ax.legend(fontsize=8)
    _gram_panel(fig, fig.add_subplot(1, panels, 2), u)
    if d <= 3:
        ax3 = fig.add_subplot(1, panels, 3, projection="3d" if spatial else None)
        _directions_panel(ax3, u)
    fig.tight_layout()
    return _png(fig)


def _gram_panel(fig: Any, ax: Any, u: np.ndarray) -> None:
    g = u @ u.T
    m = len(u)
    im = ax.imshow(g, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
    step = max(1, m // 12)
    ticks = list(range(0, m, step))
    ax.set_xticks(ticks, [f"{j + 1}" for j in ticks])
    ax.set_yticks(ticks, [f"{j + 1}" for j in ticks])
    ax.set_xlabel("k")
    ax.set_ylabel("j")
    ax.set_title("Gram matrix of the directions", fontsize=10)
    fig.colorbar(im, ax=ax, label=r"$\langle u_j, u_k\rangle$", shrink=0.85)


def _directions_panel(ax: Any, u: np.ndarray) -> None:
    d = u.shape[1]
    if d == 2:
        draw_planar(ax, u)
    elif d == 3:
        draw_spatial(ax, u)
    else:  # d = 1: the directions are +1 and -1 on the line
        ax.axhline(0, color="0.75", lw=1)
        for j, (row, c) in enumerate(zip(u, _colours(len(u)), strict=True)):
            ax.annotate("", xy=(row[0], 0.0), xytext=(0, 0),
                        arrowprops={"arrowstyle": "-|>", "color": c, "lw": 2})
            ax.text(row[0] * 1.12, 0.06 * (j + 1), f"$u_{{{j + 1}}}$", color=c, ha="center")
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
    ax.set_title("directions u_j = v_j / |v_j|", fontsize=10)


def _grid_axes(grid: list) -> tuple[list[int], list[int]]:
    return sorted({int(d) for d, _ in grid}), sorted({int(m) for _, m in grid})


def sweep_figure(sweep: dict) -> bytes:
    """PNG of a ``conjecture`` sweep: relative loss and ETF gap over (d, M) (module docstring)."""
    plt = _pyplot()
    cases = {(int(c["d"]), int(c["M"])): c for c in sweep.get("cases") or []}
    grid = [tuple(g) for g in sweep.get("grid") or []] or list(cases)
    if not grid:
        raise ValueError("the sweep has no grid and no cases")
    ds, Ms = _grid_axes(grid)
    rel = np.full((len(ds), len(Ms)), np.nan)
    gap = np.full((len(ds), len(Ms)), np.nan)
    for (d, M), c in cases.items():
        i, j = ds.index(d), Ms.index(M)
        rel[i, j] = _real(c.get("relative_loss"))
        gap[i, j] = _real((c.get("frame") or {}).get("etf_gap"))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_colour = np.where(rel > 0, np.log10(rel), np.nan)
        gap_colour = np.log10(np.maximum(np.abs(gap), GAP_FLOOR))
    failed = {(int(c["d"]), int(c["M"])) for c in sweep.get("failed") or []}
    fig, axes = plt.subplots(1, 2, figsize=(min(24.0, 4.0 + 2.0 * len(Ms)),
                                            min(16.0, 2.4 + 0.6 * len(ds))))
    title = f"{sweep.get('activation', '')}, target {sweep.get('target', '')}"
    _heat(fig, axes[0], rel_colour, rel, ds, Ms, grid, cases, failed,
          "log10 relative loss L / C", "viridis", "{:.3g}")
    _heat(fig, axes[1], gap_colour, gap, ds, Ms, grid, cases, failed,
          f"log10 |ETF gap| (floor {GAP_FLOOR:g})", "magma", "{:.2g}")
    axes[0].set_title(f"relative loss, {title}", fontsize=9)
    axes[1].set_title("ETF gap: best ETF value vs optimum (grey: no ETF built)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _heat(fig: Any, ax: Any, colour: np.ndarray, values: np.ndarray, ds: list, Ms: list,
          grid: list, cases: dict, failed: set, label: str, cmap: str, fmt: str) -> None:
    import matplotlib.colors

    cm = _pyplot().get_cmap(cmap).with_extremes(bad="0.93")
    finite = colour[np.isfinite(colour)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    norm = matplotlib.colors.Normalize(lo - 0.5, hi + 0.5) if hi == lo else \
        matplotlib.colors.Normalize(lo, hi)
    im = ax.imshow(np.ma.masked_invalid(colour), cmap=cm, norm=norm, aspect="auto",
                   origin="lower")
    annotate = len(Ms) <= MAX_ANNOTATED and len(ds) <= MAX_ANNOTATED  # else text would overlap
    for i, d in enumerate(ds if annotate else ()):
        for j, M in enumerate(Ms):
            if (d, M) in failed:
                text = "failed"
            elif (d, M) not in {tuple(g) for g in grid}:
                text = ""
            elif (d, M) not in cases:
                text = "not run"
            elif math.isfinite(values[i, j]):
                text = fmt.format(values[i, j])
            else:
                text = "-"
            if text:  # dark text on light cells, light text on dark ones
                rgb = cm(norm(colour[i, j]))[:3] if math.isfinite(colour[i, j]) else (1, 1, 1)
                light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 0.5
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="black" if light else "white")
    xs, ys = range(0, len(Ms), 1 + len(Ms) // 25), range(0, len(ds), 1 + len(ds) // 25)
    ax.set_xticks(list(xs), [str(Ms[j]) for j in xs])
    ax.set_yticks(list(ys), [str(ds[i]) for i in ys])
    ax.set_xlabel("M (neurons of the compressed network)")
    ax.set_ylabel("d")
    if finite.size:
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)


def sparsity_figure(data: dict) -> bytes:
    """PNG of a ``sparsity`` result (module docstring): per-neuron PQ indices, or the finite-n
    convergence of a law's ``1 - I`` to its population limit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    pq = f"p = {data.get('p')}, q = {data.get('q')}"
    if "neurons" in data:
        idx = np.array([_real(r["pq_index"]) for r in data["neurons"]], dtype=float)
        ax.hist(idx[np.isfinite(idx)], bins=max(5, min(40, int(np.sqrt(idx.size)) + 1)),
                color="C0", alpha=0.8, label=f"{idx.size} neurons")
        layer = _real((data.get("global") or {}).get("pq_index"))
        if math.isfinite(layer):
            ax.axvline(layer, color="C3", ls="--", label=f"whole layer: {layer:.4g}")
        ax.set_xlabel("PQ index I of a neuron's weights (0: dense, towards 1: sparse)")
        ax.set_ylabel("neurons")
        net = data.get("network") or {}
        ax.set_title(f"{net.get('source', '')}: N = {net.get('N')}, d = {net.get('d')}, {pq}",
                     fontsize=10)
    else:
        pts = data.get("finite_n") or []
        n = np.array([float(r["n"]) for r in pts])
        y = np.array([_real(r["one_minus_index"]) for r in pts])
        err = np.array([_real(r.get("standard_error")) for r in pts])
        ax.errorbar(n, y, yerr=np.where(np.isfinite(err), err, 0.0), fmt="o-", capsize=3,
                    label="one sample of n i.i.d. draws (delta-method standard error)")
        limit = _real(data.get("population_one_minus_index"))
        if math.isfinite(limit):
            ax.axhline(limit, color="C3", ls="--", label=f"population limit {limit:.6g}")
        ax.set_xscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel("1 - I")
        ax.set_title(f"law {data.get('law')}, {pq}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
