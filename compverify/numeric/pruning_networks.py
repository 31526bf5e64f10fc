"""Networks to prune: a file (``.npz`` target, ``solve`` result JSON) or one the toolkit draws.

* ``PATH.npz`` -- arrays ``a`` (N,) and ``W`` (N, d), the format of every finite target
  (:func:`compverify.numeric.targets.load_npz`);
* ``PATH.safetensors`` (or ``PATH.safetensors[FIRST,SECOND]``) -- the weights ``0.weight`` (N, d)
  and ``2.weight`` (1, N) of a torch two-layer ``Sequential`` without biases
  (:func:`compverify.numeric.model_files.load_safetensors`);
* ``PATH.json`` -- a ``compverify solve`` result: the student network ``(b, V)`` becomes
  ``(a, W)``;
* ``iid:LAW`` -- ``W`` with i.i.d. entries ``w / sqrt(d)``, ``w`` of a law of
  :mod:`compverify.symbolic.lq_moments` (``gaussian``, ``bernoulli-gaussian:0.1``, ...), and
  ``a_i = 1/N`` (the mean-field scaling); drawn with ``numpy.random.default_rng(seed)``.  A row
  drawn all zero (possible for sparse laws) is redrawn, so every neuron has a weight.

>>> net = network_from_spec("iid:gaussian", N=3, d=2, seed=0)
>>> net.a.tolist(), net.W.shape, net.source
([0.3333333333333333, 0.3333333333333333, 0.3333333333333333], (3, 2), 'iid:gaussian')
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from compverify.errors import CompverifyError
from compverify.validate import check_memory, check_positive_int

__all__ = ["Network", "network_from_spec", "network_digest"]


def network_digest(a: np.ndarray, W: np.ndarray) -> str:
    """sha256 of ``(a, W)`` as float64 bytes (the digest ``FiniteNetwork.describe`` uses)."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=float).tobytes()
                          + np.ascontiguousarray(W, dtype=float).tobytes()).hexdigest()


@dataclass(frozen=True)
class Network:
    """A two-layer network's weights and where they came from."""

    a: np.ndarray
    W: np.ndarray
    source: str

    def describe(self) -> dict:
        return {"source": self.source, "sha256": network_digest(self.a, self.W),
                "N": int(self.W.shape[0]), "d": int(self.W.shape[1])}


def _load_json(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompverifyError(f"network file {path!r} is not a readable JSON file: {exc}") \
            from None
    if not isinstance(data, dict) or "b" not in data or "V" not in data:
        raise CompverifyError(f"network file {path!r} is not a solve result (needs 'b' and 'V')")
    try:
        a = np.array([float(x) for x in data["b"]])
        W = np.array([[float(x) for x in row] for row in data["V"]])
    except (TypeError, ValueError) as exc:
        raise CompverifyError(f"network file {path!r}: b and V must be numbers ({exc})") from None
    return a, W


def network_from_spec(spec: str, *, N: int | None = None, d: int | None = None,
                      seed: int = 0) -> Network:
    """The network named by ``spec`` (module docstring); ``N``, ``d`` only for ``iid:LAW``."""
    spec = str(spec).strip()
    if spec.startswith("iid:"):
        from compverify.symbolic.lq_moments import get_law

        if N is None or d is None:
            raise CompverifyError(f"--N and --d are required for the network {spec!r}")
        N, d = check_positive_int(N, "--N"), check_positive_int(d, "--d")
        check_memory(8.0 * 4 * N * d, f"the network {spec!r} with N = {N}, d = {d}")
        seed = check_positive_int(seed, "--seed", minimum=0)
        law = get_law(spec[4:])
        rng = np.random.default_rng(seed)
        W = law.sample(N * d, rng).reshape(N, d)
        for _ in range(1000):
            zero = ~np.any(W != 0, axis=1)
            if not zero.any():
                break
            W[zero] = law.sample(int(zero.sum()) * d, rng).reshape(-1, d)
        else:
            raise CompverifyError(f"law {law.spec} keeps drawing all-zero rows with d = {d}")
        return Network(np.full(N, 1.0 / N), W / np.sqrt(d), spec)
    if N is not None or d is not None:
        raise CompverifyError("--N and --d apply only to a network drawn from iid:LAW")
    if spec.endswith("]") and ".safetensors[" in spec:
        from compverify.numeric.model_files import load_safetensors
        from compverify.numeric.targets.spec import split_file_target

        _, path, layers = split_file_target(spec)
        net = load_safetensors(path, "relu", layers)  # the activation does not enter the weights
        return Network(net.a, net.W, os.path.basename(path))
    if not os.path.isfile(spec):
        raise CompverifyError(f"network file {spec!r} does not exist")
    if spec.endswith(".safetensors"):
        from compverify.numeric.model_files import load_safetensors

        net = load_safetensors(spec, "relu")
        a, W = net.a, net.W
    elif spec.endswith(".json"):
        a, W = _load_json(spec)
    else:
        from compverify.numeric.targets import load_npz

        net = load_npz(spec, "relu")  # the activation does not enter the weights
        a, W = net.a, net.W
    return Network(a, W, os.path.basename(spec))
