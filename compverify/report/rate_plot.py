"""The error-rate plot: measured ``sup |h_N - h|`` against N per d (log-log), with the fitted rate.

>>> r = {"points": [{"d": 2, "N": 16, "delta": [0.2, 0.3]}, {"d": 2, "N": 64, "delta": [0.1, 0.12]}],
...      "fit": {"N_exponent": -0.5, "N_exponent_ci": [-0.6, -0.4], "d_exponent": None}}
>>> plot_rate_bytes(r, "png")[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
import os

import numpy as np

__all__ = ["plot_rate_bytes", "plot_rate"]


def _figure(result: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2), dpi=110)
    pts = result["points"]
    fit = result["fit"]
    for d in sorted({p["d"] for p in pts}):
        sel = sorted((p for p in pts if p["d"] == d), key=lambda p: p["N"])
        N = np.array([p["N"] for p in sel], dtype=float)
        for p in sel:
            ax.scatter([p["N"]] * len(p["delta"]), p["delta"], s=8, alpha=0.35)
        means = np.array([np.mean(p["delta"]) for p in sel])
        line = ax.plot(N, means, "o-", label=f"d = {d}: mean over realizations")[0]
        # the fitted rate through this d's geometric mean point
        c = np.exp(np.mean(np.log(means) - fit["N_exponent"] * np.log(N)))
        ax.plot(N, c * N ** fit["N_exponent"], "--", color=line.get_color(), alpha=0.8)
    N_all = np.array(sorted({p["N"] for p in pts}), dtype=float)
    ref = np.mean([np.mean(p["delta"]) for p in pts if p["N"] == N_all[0]])
    ax.plot(N_all, ref * (N_all / N_all[0]) ** -0.5, ":", color="gray", label="N^-1/2 reference")
    lo, hi = fit["N_exponent_ci"]
    ax.set_title(f"fitted sup|h_N - h| ~ N^{fit['N_exponent']:.3f}  (95% CI [{lo:.3f}, {hi:.3f}])",
                 fontsize=10)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (target width)")
    ax.set_ylabel("sup over unit u of |h_N(u) - h(u)|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, plt


def plot_rate_bytes(result: dict, fmt: str = "png") -> bytes:
    """The plot as PNG or SVG bytes."""
    fig, plt = _figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    plt.close(fig)
    return buf.getvalue()


def plot_rate(result: dict, stem: str | os.PathLike) -> list[str]:
    """Write ``STEM.png`` and ``STEM.svg`` atomically; return their paths."""
    from compverify.io import atomic_write_bytes

    paths = []
    for fmt in ("png", "svg"):
        p = f"{os.fspath(stem)}.{fmt}"
        atomic_write_bytes(p, plot_rate_bytes(result, fmt))
        paths.append(p)
    return paths
