"""Figures of the spectral-equivalence experiment: eigenvalue histograms and the error decay in n."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["histogram_png", "decay_png", "LABELS"]

LABELS = {"exact_vs_tilde_diagonal": "|Phi_exact - Phi~| / |Phi~| (c = tau_L^2 - alpha1 tau0^2)",
          "exact_vs_tilde_published": "same, published c (- alpha3 tau0^4)",
          "sampled_vs_tilde_diagonal": "sampled network vs Phi~",
          "sampled_vs_exact": "|sampled - exact| / |exact|",
          "original_vs_ternary": "|Phi_orig - Phi_tern| / |Phi_orig| (sampled)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def histogram_png(result: dict) -> bytes:
    """Eigenvalue histograms (largest n) of the exact-mean CK, ``Phi~`` and the sampled networks."""
    plt = _plt()
    h = result["histogram"]
    edges = np.array(h["edges"])
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=100)
    for name, counts in h["counts"].items():
        ax.stairs(counts, edges, label=name)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("count")
    kind = result.get("kernel", "ck").upper()
    ax.set_title(f"{kind} spectra, {result['activation']}, L = {result['layers']}, n = {h['n']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def decay_png(result: dict) -> bytes:
    """Relative operator-norm errors against n (log-log) with the fitted exponents."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=100)
    ns = np.array([p["n"] for p in result["points"]], dtype=float)
    for key, label in LABELS.items():
        if all(key in p for p in result["points"]):
            fit = result["fits"].get(key, {})
            slope = fit.get("slope")
            lab = label if slope is None else f"{label}: slope {slope:.2f}"
            if result.get("kernel") == "ntk":
                lab = lab.replace("Phi", "Theta")
            ax.loglog(ns, [p[key] for p in result["points"]], "o-", label=lab)
    ax.set_xlabel("n")
    ax.set_ylabel("relative error (operator norm)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
