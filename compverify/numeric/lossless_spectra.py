"""The spectral-equivalence experiment: CK matrices of the original and ternary networks vs ``Phi~``.

For each ``n`` (``p = n / ratio``) a two-class Gaussian mixture ``x_i = (mu_a + C_a^(1/2) z_i)/sqrt p``
is drawn (``mu_a = -+ mean e_1``, ``C_1 = I``, ``C_2 = (1 + cov_shift/sqrt p) I``, equal classes;
with ``tau0`` given, rescaled so that ``mean |x_i|^2 = tau0^2``, the scale the ternary network was
matched at) and

* ``Phi_exact``: the original network's CK with the expectation over every weight matrix taken
  exactly in the infinite-width limit, i.e. the toolkit's kernel ``E_w[sigma(<w,x_i>) sigma(<w,x_j>)]``
  (:attr:`compverify.symbolic.Activation.kernel`, no sampling) applied layer after layer to the
  Gram matrix of the previous layer, centred by ``d0`` at the layer's scale as the published model
  does (``x_{l} = (sigma(W_l x_{l-1}) - d0_l)/sqrt(m_l)``);
* ``Phi_orig``: a sampled network, Gaussian weights, widths ``width * n``;
* ``Phi_tern``: the compressed network, sampled: weights ``0`` (probability ``eps``) or
  ``+-1/sqrt(1 - eps)``, the matched binary activations (:mod:`compverify.numeric.lossless_matching`;
  the last layer's least-squares point when it has no root);
* ``Phi~``: :func:`compverify.numeric.lossless_recursion.equivalent_ck` with the original's
  coefficients (both identity terms).

Reported per ``n``: ``|Phi_exact - Phi~|/|Phi~|`` (operator norms), the same for the sampled
original and ternary matrices (``sampled_vs_tilde_*``, ``ternary_vs_tilde_*``),
``|Phi_orig - Phi_tern|/|Phi_orig|``, the top eigenvector's alignment with the classes
``|<u, y>|^2`` (``y`` the centred, normalised labels); and, over ``n``, the least-squares exponent
of ``error ~ C n^slope`` with a 95% confidence interval (Student t).

The sizes are independent: :func:`spectra_case` computes one from its arguments alone (its data
and sampled weights draw from ``default_rng([seed, n])``), so :func:`run_spectra` runs them
in-process, smallest first, or with ``dask=`` on a Dask cluster in any order, with the same
numbers; in both, only the calling process writes the checkpoint, one entry per finished size.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from scipy import stats

from compverify.cluster import one_blas_thread
from compverify.errors import ComputationFailed, CompverifyError
from compverify.numeric.lossless_moments import gaussian_moments
from compverify.numeric.lossless_ntk import equivalent_ntk, exact_ck_ntk, sampled_ntk, spectral_distances
from compverify.numeric.lossless_recursion import LayerMoments, ck_ntk_recursion, equivalent_ck
from compverify.symbolic.activations import get_activation

__all__ = ["gmm_data", "exact_ck", "sampled_ck", "run_spectra", "spectra_case", "fit_exponent",
           "MIN_N", "MIN_P"]

MIN_N = 16
MIN_P = 8


def gmm_data(n: int, p: int, rng: np.random.Generator, mean: float = 3.0, cov_shift: float = 4.0):
    """``(X (p x n), labels, means (k x p), covs, noise (p x n))`` of the two-class mixture."""
    labels = np.repeat([0, 1], [n // 2, n - n // 2])
    means = np.zeros((2, p))
    means[0, 0], means[1, 0] = -mean, mean
    scales = np.array([1.0, 1.0 + cov_shift / math.sqrt(p)])
    covs = [np.eye(p) * s for s in scales]
    noise = rng.standard_normal((p, n)) * np.sqrt(scales[labels])[None, :] / math.sqrt(p)
    X = means[labels].T / math.sqrt(p) + noise
    return X, labels, means, covs, noise


def exact_ck(spec: str, X: np.ndarray, layers: int, taus_sq: list[float], d0s: list[float]) -> np.ndarray:
    """The infinite-width CK: the kernel applied ``layers`` times, centred by ``d0`` of each layer
    (:func:`compverify.numeric.lossless_ntk.exact_ck_ntk`; ``taus_sq`` is not needed, kept for
    callers)."""
    return exact_ck_ntk(spec, X, layers, d0s, ntk=False)["ck"]


def sampled_ck(sigmas: list, X: np.ndarray, widths: list[int], d0s: list[float],
               rng: np.random.Generator, eps: float | None = None) -> np.ndarray:
    """``X_L' X_L`` of one sampled network: Gaussian weights, or ternary with sparsity ``eps``."""
    H = X
    for sigma, m, d0 in zip(sigmas, widths, d0s, strict=True):
        if eps is None:
            W = rng.standard_normal((m, H.shape[0]))
        else:
            u = rng.random((m, H.shape[0]))
            W = np.where(u < eps, 0.0, np.where(u < (1 + eps) / 2, 1.0, -1.0)) / math.sqrt(1 - eps)
        H = (sigma(W @ H) - d0) / math.sqrt(m)
    return H.T @ H


def _opnorm(A: np.ndarray) -> float:
    ev = np.linalg.eigvalsh((A + A.T) / 2)
    return float(max(abs(ev[0]), abs(ev[-1])))


def _alignment(A: np.ndarray, labels: np.ndarray) -> float:
    y = np.where(labels == 0, -1.0, 1.0)
    y = (y - y.mean()) / np.linalg.norm(y - y.mean())
    _, U = np.linalg.eigh((A + A.T) / 2)
    return float(np.dot(U[:, -1], y)**2)


def fit_exponent(ns: list[int], errors: list[float]) -> dict[str, Any]:
    """``log err = c + slope log n`` by least squares; 95% CI of the slope (t, ``len(ns) - 2`` dof)."""
    if len(ns) < 3:
        return {"slope": None, "ci": None, "note": "need at least 3 sizes for a confidence interval"}
    r = stats.linregress(np.log(ns), np.log(errors))
    t = stats.t.ppf(0.975, len(ns) - 2)
    return {"slope": float(r.slope), "ci": [float(r.slope - t * r.stderr), float(r.slope + t * r.stderr)],
            "stderr": float(r.stderr)}


def binary_sigma(kind: str, params: tuple):
    """The float64 binary activation of a matched layer."""
    if kind == "binary":
        s1, s2, b = (float(v) for v in params)
        return lambda z: b * ((z < s1) + (z > s2))
    s1, s2, s3, b = (float(v) for v in params)
    s4 = s3 + s2 - s1
    return lambda z: b * ((z < s1) + ((z > s2) & (z < s3)) + (z > s4))


def _layer_moments(spec: str, tau0_sq: float, layers: int) -> tuple[list, list, list]:
    taus_sq, d0s, lm = [tau0_sq], [], []
    for _ in range(layers):
        mv = gaussian_moments(spec, math.sqrt(taus_sq[-1]), dps=20).values
        d0s.append(float(mv["d0"]))
        ds = None if mv["dsigma_sq"] is None else float(mv["dsigma_sq"])
        lm.append(LayerMoments(float(mv["d1"]), float(mv["d2"]), float(mv["d3"]),
                               float(mv["tau_next_sq"]), ds))
        taus_sq.append(float(mv["tau_next_sq"]))
    return taus_sq, d0s, lm


def _histogram(mats: dict[str, np.ndarray], bins: int, n: int) -> dict[str, Any]:
    eig = {k: np.linalg.eigvalsh((v + v.T) / 2) for k, v in mats.items()}
    hi = max(float(e[-1]) for e in eig.values())
    lo = min(float(e[0]) for e in eig.values())
    edges = np.linspace(lo, hi, bins + 1)
    return {"edges": edges.tolist(), "counts": {k: np.histogram(e, edges)[0].tolist()
                                                for k, e in eig.items()}, "n": n}


def _ck_point(spec, act, X, labels, covs, noise, tau0_sq, coef, d0s, layers, widths, rng, ternary,
              eps, point):
    tilde = {ident: equivalent_ck(coef, X, labels, None, covs, noise, tau0_sq, ident)
             for ident in ("published", "diagonal")}
    ex = exact_ck_ntk(spec, X, layers, d0s, ntk=False)
    exact = ex["ck"]
    point["exact_error"] = ex["error"]
    orig = sampled_ck([act.numpy] * layers, X, widths, d0s, rng)
    for ident, T in tilde.items():
        nt = _opnorm(T)
        point[f"exact_vs_tilde_{ident}"] = _opnorm(exact - T) / nt
        point[f"sampled_vs_tilde_{ident}"] = _opnorm(orig - T) / nt
    point["alignment"] = {"exact": _alignment(exact, labels),
                          "tilde": _alignment(tilde["diagonal"], labels),
                          "sampled": _alignment(orig, labels)}
    mats = {"exact": exact, "tilde": tilde["diagonal"], "sampled": orig}
    if ternary is not None:
        sig = [binary_sigma(kind, params) for kind, params, _ in ternary]
        tern = sampled_ck(sig, X, widths, [float(d) for _, _, d in ternary], rng, eps=eps)
        point["original_vs_ternary"] = _opnorm(orig - tern) / _opnorm(orig)
        point["exact_vs_ternary"] = _opnorm(exact - tern) / _opnorm(exact)
        for ident, T in tilde.items():
            point[f"ternary_vs_tilde_{ident}"] = _opnorm(tern - T) / _opnorm(T)
        point["alignment"]["ternary"] = _alignment(tern, labels)
        mats["ternary"] = tern
    return mats


def _ntk_point(spec, act, X, labels, covs, noise, tau0_sq, coef, d0s, layers, widths, rng, ternary,
               eps, point):
    tilde = {ident: equivalent_ntk(coef, X, labels, covs, noise, tau0_sq, ident)
             for ident in ("published", "diagonal")}
    ex = exact_ck_ntk(spec, X, layers, d0s, ntk=True)
    exact = ex["ntk"]
    point["exact_error"] = ex["error"]
    dsig = act.derivative_evaluators(1)[0]
    _, orig = sampled_ntk([act.numpy] * layers, [dsig] * layers, X, widths, d0s, rng)
    for ident, T in tilde.items():
        d = spectral_distances(exact, T)
        point[f"exact_vs_tilde_{ident}"] = d["op"]
        point[f"exact_vs_tilde_{ident}_spectral"] = d
    d = spectral_distances(orig, exact)
    point["sampled_vs_exact"] = d["op"]
    point["sampled_vs_exact_spectral"] = d
    d = spectral_distances(orig, tilde["diagonal"])
    point["sampled_vs_tilde_diagonal"] = d["op"]
    point["alignment"] = {"exact": _alignment(exact, labels),
                          "tilde": _alignment(tilde["diagonal"], labels),
                          "sampled": _alignment(orig, labels)}
    mats = {"exact": exact, "tilde": tilde["diagonal"], "sampled": orig}
    if ternary is not None:
        # the binary activations' derivative is 0 almost everywhere (autograd's): only the output
        # weights contribute, Theta_ternary = Phi_L of the ternary network
        sig = [binary_sigma(kind, params) for kind, params, _ in ternary]
        _, tern = sampled_ntk(sig, [None] * layers, X, widths, [float(d) for _, _, d in ternary],
                              rng, eps=eps)
        d = spectral_distances(tern, orig)
        point["original_vs_ternary"] = d["op"]
        point["original_vs_ternary_spectral"] = d
        point["exact_vs_ternary"] = spectral_distances(tern, exact)["op"]
        for ident, T in tilde.items():
            point[f"ternary_vs_tilde_{ident}"] = spectral_distances(tern, T)["op"]
        point["alignment"]["ternary"] = _alignment(tern, labels)
        mats["ternary"] = tern
    return mats


def spectra_case(spec: str, layers: int, n: int, ratio: float, *, ternary: list | None,
                 width: float = 2.0, eps: float = 0.5, seed: int = 0, mean: float = 3.0,
                 cov_shift: float = 4.0, bins: int = 40, tau0: float | None = None,
                 kernel: str = "ck", histogram: bool = False) -> tuple[dict, dict | None]:
    """One size ``n`` of the experiment: ``(point, histogram)`` (the histogram of its matrices'
    eigenvalues when ``histogram``, else ``None``).

    A pure function of its arguments: the data and the sampled networks draw from
    ``default_rng([seed, n])`` alone, so a size computed in another process (a Dask worker) or
    again after a crash gives the same point; its linear algebra runs on one BLAS thread
    (:func:`compverify.cluster.one_blas_thread`), so the point's bits do not depend on the
    process's thread count either."""
    with one_blas_thread():
        return _spectra_case(spec, layers, n, ratio, ternary, width, eps, seed, mean, cov_shift,
                             bins, tau0, kernel, histogram)


def _spectra_case(spec, layers, n, ratio, ternary, width, eps, seed, mean, cov_shift, bins, tau0,
                  kernel, histogram):
    act = get_activation(spec)
    p = int(round(n / ratio))
    rng = np.random.default_rng([seed, n])
    X, labels, means, covs, noise = gmm_data(n, p, rng, mean, cov_shift)
    if tau0 is not None:  # rescale the mixture so that mean |x_i|^2 = tau0^2 exactly
        c = float(tau0) / math.sqrt(float(np.mean(np.sum(X**2, axis=0))))
        X, noise, means, covs = c * X, c * noise, c * means, [c * c * C for C in covs]
    tau0_sq = float(np.mean(np.sum(X**2, axis=0)))
    taus_sq, d0s, lm = _layer_moments(spec, tau0_sq, layers)
    coef = ck_ntk_recursion(tau0_sq, lm)
    widths = [int(width * n)] * layers
    point: dict[str, Any] = {"n": n, "p": p, "tau0_sq": tau0_sq, "widths": widths}
    step = _ck_point if kernel == "ck" else _ntk_point
    mats = step(spec, act, X, labels, covs, noise, tau0_sq, coef, d0s, layers, widths, rng,
                ternary, eps, point)
    return point, (_histogram(mats, bins, n) if histogram else None)


def _spectra_task(spec: str, layers: int, n: int, ratio: float, histogram: bool,
                  options: dict) -> tuple[dict, dict | None]:
    """:func:`spectra_case` as one cluster task."""
    return spectra_case(spec, layers, n, ratio, histogram=histogram, **options)


def _coefficients(spec: str, layers: int, tau0_sq: float) -> dict[str, Any]:
    """``Phi~``'s coefficients at the input scale ``tau0_sq`` (a point's), JSON-ready."""
    coef = ck_ntk_recursion(tau0_sq, _layer_moments(spec, tau0_sq, layers)[2])
    return {"alpha": [float(a) for a in coef.alpha], "beta": [float(b) for b in coef.beta],
            "kappa_sq": None if coef.kappa_sq is None else float(coef.kappa_sq)}


def _case_failed(n: int, exc: BaseException) -> BaseException:
    """The error to raise for a size that failed on the cluster: the case's own exception, or
    a one-line error when it killed its workers (Dask's ``KilledWorker``)."""
    if type(exc).__name__ == "KilledWorker":
        return ComputationFailed(f"lossless spectra: the size n = {n} killed the Dask workers that "
                               f"ran it ({str(exc).splitlines()[0][:160]}); the finished sizes "
                               "are kept in the checkpoint")
    return exc


def run_spectra(spec: str, layers: int, ns: list[int], ratio: float, *, ternary: list | None,
                width: float = 2.0, eps: float = 0.5, seed: int = 0, mean: float = 3.0,
                cov_shift: float = 4.0, bins: int = 40, progress: Any = None,
                cache: Any = None, tau0: float | None = None, kernel: str = "ck",
                dask: Any = None, case_seconds: dict | None = None) -> dict[str, Any]:
    """The experiment over ``ns`` (see the module docstring) for the CK (``kernel="ck"``) or the
    NTK (``"ntk"``).  ``ternary`` is a list of ``(kind, params, d0)`` per layer (``None``: no
    compressed network).

    The sizes are independent cases (:func:`spectra_case`); the histogram is the largest size's,
    and so are the reported coefficients (computed from its ``tau0_sq``).  ``cache`` (a
    :class:`~compverify.numeric.checkpoint.Checkpoint`): each finished size is stored under
    ``"n N"`` and the largest size's histogram under ``"histogram"``, written at once; the sizes
    found there are not computed again (the largest only with its histogram).
    ``progress(k, total, n, seconds)`` is called as each size finishes (``k`` of ``total`` done).

    ``dask``: ``None`` computes the sizes here, smallest first; ``"local:N"``,
    ``"tcp://HOST:PORT"`` or a :class:`distributed.Client` computes them on a Dask cluster
    (:func:`compverify.cluster.run_unordered`), one size a task, while only this process writes
    ``cache``; the result is the same, bit for bit.  ``case_seconds``, if given, receives each
    computed size's ``{"wall", "cpu"}`` seconds (of this process or of its worker).
    """
    if kernel not in ("ck", "ntk"):
        raise CompverifyError(f"kernel must be 'ck' or 'ntk', got {kernel!r}")
    if ratio <= 0 or not math.isfinite(ratio):
        raise CompverifyError(f"ratio must be a positive number, got {ratio}")
    if layers < 1:
        raise CompverifyError(f"layers must be at least 1, got {layers}")
    if not 0 <= eps < 1:
        raise CompverifyError(f"eps must be in [0, 1), got {eps}")
    for n in ns:
        if n < MIN_N or round(n / ratio) < MIN_P:
            raise CompverifyError(f"n = {n} with ratio {ratio} gives p = {round(n / ratio)}: need "
                                  f"n >= {MIN_N} and p >= {MIN_P}")
    act = get_activation(spec)
    sizes = sorted(set(ns))
    largest = sizes[-1]
    done: dict[int, dict] = {}
    hist = None
    if cache is not None:
        for n in sizes:
            if cache.get(f"n {n}") is not None:
                done[n] = cache.get(f"n {n}")
        saved = cache.get("histogram")
        if saved is not None and saved.get("n") == largest:
            hist = saved
        elif largest in done:  # its histogram is missing: compute the size again
            del done[largest]
    todo = [n for n in sizes if n not in done]
    options = dict(ternary=ternary, width=width, eps=eps, seed=seed, mean=mean,
                   cov_shift=cov_shift, bins=bins, tau0=tau0, kernel=kernel)

    def finished(n: int, point: dict, h: dict | None, seconds: dict) -> None:
        nonlocal hist
        done[n] = point
        if case_seconds is not None:
            case_seconds[n] = seconds
        if h is not None:
            hist = h
        if cache is not None:
            if h is not None:
                cache.put("histogram", h)
            cache.put(f"n {n}", point)
            cache.flush()
        if progress is not None:
            progress(len(done), len(sizes), n, seconds.get("wall", 0.0))

    if dask is not None and todo:
        from compverify.cluster import connect, run_unordered

        with connect(dask) as client:
            for n, out, sec, exc in run_unordered(
                    client, _spectra_task, todo,
                    lambda n: (spec, layers, n, ratio, n == largest, options), name="spectra"):
                if exc is not None:
                    raise _case_failed(n, exc)
                finished(n, *out, sec)
    for n in todo if dask is None else ():
        t0, c0 = time.perf_counter(), time.process_time()
        point, h = spectra_case(spec, layers, n, ratio, histogram=n == largest, **options)
        finished(n, point, h, {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0})
    points = [done[n] for n in sorted(ns)]
    fits = {}
    names = ("exact_vs_tilde_diagonal", "exact_vs_tilde_published", "sampled_vs_tilde_diagonal",
             "sampled_vs_exact", "original_vs_ternary", "ternary_vs_tilde_diagonal")
    for name in names:
        if all(name in pt for pt in points):
            fits[name] = fit_exponent([pt["n"] for pt in points], [pt[name] for pt in points])
    if kernel == "ntk":
        for name in ("exact_vs_tilde_diagonal", "sampled_vs_exact"):
            for what in ("fro", "wasserstein", "kolmogorov"):
                vals = [pt[f"{name}_spectral"][what] for pt in points]
                if all(v > 0 for v in vals):
                    fits[f"{name}_{what}"] = fit_exponent([pt["n"] for pt in points], vals)
    return {"activation": act.spec, "kernel": kernel, "layers": layers, "ratio": ratio, "tau0": tau0,
            "width_factor": width, "eps": eps, "seed": seed, "mean": mean, "cov_shift": cov_shift,
            "coefficients": _coefficients(spec, layers, done[largest]["tau0_sq"]),
            "points": points, "fits": fits, "histogram": hist}
