"""Figures of the spectral-equivalence experiment: eigenvalue histograms and the error decay in n."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["histogram_png", "decay_png", "match_figure", "LABELS"]

LABELS = {"exact_vs_tilde_diagonal": "|Phi_exact - Phi~| / |Phi~| (c = tau_L^2 - alpha1 tau0^2)",
          "exact_vs_tilde_published": "same, published c (- alpha3 tau0^4)",
          "sampled_vs_tilde_diagonal": "sampled network vs Phi~",
          "sampled_vs_exact": "|sampled - exact| / |exact|",
          "original_vs_ternary": "|Phi_orig - Phi_tern| / |Phi_orig| (sampled)",
          "ternary_vs_tilde_diagonal": "sampled ternary network vs Phi~"}


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


def _binary_values(x: np.ndarray, kind: str, point: dict) -> np.ndarray:
    """The binary activation of a root at ``x``: ``b (1[x < s1] + 1[x > s2])`` for a hidden
    layer, ``b (1[x < s1] + 1[s2 < x < s3] + 1[x > s4])`` with ``s4 = s3 + s2 - s1`` for the last."""
    s1, s2, b = float(point["s1"]), float(point["s2"]), float(point["b"])
    if kind == "binary-last":
        s3 = float(point["s3"])
        s4 = float(point["s4"]) if "s4" in point else s3 + s2 - s1
        return b * ((x < s1) + ((x > s2) & (x < s3)) + (x > s4))
    return b * ((x < s1) + (x > s2))


def match_figure(data: dict) -> bytes:
    """One panel per layer of a ``lossless match`` result: the original activation ``sigma(z)`` and
    the matched binary activation over ``z`` in ``[-4 tau, 4 tau]`` (``tau`` the layer's input
    scale), with the density of ``N(0, tau^2)`` under them.  A layer without a solution shows its
    best least-squares point, dashed and labelled so."""
    from compverify.symbolic import get_activation

    plt = _plt()
    act = get_activation(data["activation"])
    layers = data["layers"]
    fig, axes = plt.subplots(1, len(layers), figsize=(3.6 * len(layers), 3.2), dpi=100,
                             squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        tau = float(layer["tau"])
        z = np.linspace(-4.0 * tau, 4.0 * tau, 801)
        original = np.asarray(act.numpy(z), dtype=float)
        ax.plot(z, original, color="black", label=f"{data['activation']}")
        binary = layer["binary"]
        roots = binary.get("roots") or []
        if roots:
            ax.plot(z, _binary_values(z, binary["kind"], {"b": binary.get("b"), **roots[0]}),
                    color="tab:blue", label="matched binary")
        elif binary.get("least_squares"):
            ax.plot(z, _binary_values(z, binary["kind"], binary["least_squares"][0]),
                    color="tab:red", linestyle="--", label="least squares (no solution)")
        density = np.exp(-0.5 * (z / tau) ** 2)
        top = max(float(np.nanmax(np.abs(original))), 1e-12)
        ax.fill_between(z, 0.0, density * top * 0.5, color="0.85", label="N(0, tau^2), scaled")
        ax.set_title(f"layer {layer['layer']}, tau = {tau:.4g}", fontsize=9)
        ax.set_xlabel("z")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
