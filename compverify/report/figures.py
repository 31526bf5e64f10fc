"""Figures of the optimal directions (matplotlib, Agg backend, no display needed).

* d = 2: the unit vectors ``u_j`` drawn as arrows in the plane, on the unit circle;
* d = 3: a 3-D view of the arrows on a wireframe unit sphere;
* d >= 4: the absolute Gram matrix ``|<u_j, u_k>|`` as a heat map (equiangular directions show
  one off-diagonal colour).

Each function takes the ``directions`` of a solve result (rows of decimal strings, as in the JSON)
and returns PNG bytes. The output is deterministic (no timestamps in the metadata).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def _array(directions: Any) -> np.ndarray:
    u = np.array([[float(x) for x in row] for row in directions], dtype=float)
    if u.ndim != 2 or u.shape[0] == 0:
        raise ValueError("directions must be a non-empty list of rows")
    return u


def directions_figure(directions: Any, title: str = "") -> bytes:
    """PNG of the directions: planar (d = 2), 3-D (d = 3) or the |Gram| heat map (d >= 4)."""
    u = _array(directions)
    d = u.shape[1]
    if d == 2:
        return _planar(u, title)
    if d == 3:
        return _spatial(u, title)
    return _gram(u, title)


def _colours(m: int) -> list:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if m <= 10 else "tab20")
    return [cmap(j % cmap.N) for j in range(m)]


def _planar(u: np.ndarray, title: str) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    draw_planar(ax, u)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def draw_planar(ax: Any, u: np.ndarray) -> None:
    """The unit vectors ``u`` (M, 2) as arrows on the unit circle, on the axes ``ax``."""
    t = np.linspace(0.0, 2.0 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="0.75", lw=1)
    ax.axhline(0, color="0.9", lw=0.8, zorder=0)
    ax.axvline(0, color="0.9", lw=0.8, zorder=0)
    for j, (row, c) in enumerate(zip(u, _colours(len(u)), strict=True)):
        ax.annotate("", xy=(row[0], row[1]), xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "color": c, "lw": 2})
        ax.text(1.13 * row[0], 1.13 * row[1], f"$u_{{{j + 1}}}$", ha="center", va="center",
                color=c)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])


def _spatial(u: np.ndarray, title: str) -> bytes:
    plt = _pyplot()
    fig = plt.figure(figsize=(4.6, 4.6))
    ax = fig.add_subplot(projection="3d")
    draw_spatial(ax, u)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def draw_spatial(ax: Any, u: np.ndarray) -> None:
    """The unit vectors ``u`` (M, 3) as arrows in a wireframe unit sphere, on 3-D axes ``ax``."""
    p, q = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(np.cos(p) * np.sin(q), np.sin(p) * np.sin(q), np.cos(q), color="0.85",
                      lw=0.5)
    for j, (row, c) in enumerate(zip(u, _colours(len(u)), strict=True)):
        ax.quiver(0, 0, 0, row[0], row[1], row[2], color=c, lw=2, arrow_length_ratio=0.12)
        ax.text(1.15 * row[0], 1.15 * row[1], 1.15 * row[2], f"$u_{{{j + 1}}}$", color=c)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=22, azim=35)
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.set_zticks([-1, 0, 1])


def _gram(u: np.ndarray, title: str) -> bytes:
    plt = _pyplot()
    g = np.abs(u @ u.T)
    m = len(u)
    fig, ax = plt.subplots(figsize=(4.4, 3.8))
    im = ax.imshow(g, vmin=0.0, vmax=1.0, cmap="viridis")
    ticks = list(range(m))
    ax.set_xticks(ticks, [f"{j + 1}" for j in ticks])
    ax.set_yticks(ticks, [f"{j + 1}" for j in ticks])
    ax.set_xlabel("k")
    ax.set_ylabel("j")
    fig.colorbar(im, ax=ax, label=r"$|\langle u_j, u_k\rangle|$")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)
