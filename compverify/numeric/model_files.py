"""Two-layer networks in ``.safetensors`` files: the weights of a PyTorch model, in and out.

A ``torch.nn.Sequential(Linear(d, N, bias=False), act, Linear(N, 1, bias=False))`` computes

    f(x) = W2 act(W1 x) = sum_i W2[0, i] act(<W1[i], x>),

which is compverify's network ``sum_i a_i sigma(<w_i, x>)`` with ``a = W2[0]`` and ``w_i = W1[i]``
exactly: the first layer's weight ``W1`` (N, d) is the matrix ``W`` of the rows ``w_i``, the
second layer's weight ``W2`` (1, N) is the row of output weights ``a``.  ``model.state_dict()``
names them ``0.weight`` and ``2.weight`` (the activation, module 1, has no parameters); a model
built otherwise names them itself (``fc1.weight``, ``fc2.weight``), given as ``layers``.

Reading (:func:`load_safetensors`) uses only the ``safetensors`` package's NumPy side (no torch,
no pickle).  The file's JSON header is read and checked first, before any tensor is loaded: every
tensor must be one of the two weights or their biases (``NAME.bias`` for ``NAME.weight``), the
weights must have the shapes (N, d) and (1, N), the dtypes must be floating point (F16, F32,
F64; BF16 has no NumPy type and is refused with the conversion to use), and the arrays must fit
:func:`compverify.validate.check_memory`.  Then the tensors are loaded and must be finite; a bias
is accepted only when it is exactly zero (compverify's network has none).  Every refusal is one
line naming the file and the key.  The weights are converted to float64 (exact from F16 and F32).

Writing (:func:`save_safetensors`) stores ``0.weight`` = ``V`` (M, d) and ``2.weight`` = ``b``
as a (1, M) row, in float64, with string metadata in the file's ``__metadata__`` header, through
:func:`compverify.io.atomic_write_bytes`.  A float64 round trip keeps every bit.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
>>> save_safetensors(path, [0.5, -1.0], [[1.0, 0.0], [0.0, 2.0]], {"activation": "relu"})
>>> net = load_safetensors(path, "relu")
>>> net.a.tolist(), net.W.tolist()
([0.5, -1.0], [[1.0, 0.0], [0.0, 2.0]])
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from compverify.errors import CompverifyError
from compverify.io import atomic_write_bytes
from compverify.numeric.finite_network import FiniteNetwork
from compverify.validate import check_memory

__all__ = ["DEFAULT_LAYERS", "SAFETENSORS_SUFFIX", "load_safetensors", "read_header",
           "save_safetensors", "parse_layers", "safetensors_bytes"]

#: The names ``torch.nn.Sequential(Linear, act, Linear).state_dict()`` gives the two weights.
DEFAULT_LAYERS = ("0.weight", "2.weight")
SAFETENSORS_SUFFIX = ".safetensors"
#: The floating-point dtypes read (bytes per entry); all convert to float64 exactly.
FLOAT_DTYPES = {"F16": 2, "F32": 4, "F64": 8}
#: The safetensors format's own limit on the JSON header (100 MB).
MAX_HEADER_BYTES = 100_000_000


def parse_layers(text: Any) -> tuple[str, str]:
    """``first,second``: the tensor names of the two weights (``None``: :data:`DEFAULT_LAYERS`).

    >>> parse_layers("fc1.weight, fc2.weight")
    ('fc1.weight', 'fc2.weight')
    """
    if text is None:
        return DEFAULT_LAYERS
    parts = list(text) if isinstance(text, list | tuple) else str(text).split(",")
    names = tuple(str(p).strip() for p in parts)
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise CompverifyError(f"--layers must be two different tensor names FIRST,SECOND (the "
                              f"weights of the first and second Linear layer), got {text!r}")
    for n in names:
        if any(c in n for c in "[],") or any(ord(c) < 32 for c in n):
            raise CompverifyError(f"--layers: tensor name {n!r} contains '[', ']', ',' or a "
                                  "control character")
    return names[0], names[1]


def _bias_name(weight: str) -> str | None:
    return weight[: -len("weight")] + "bias" if weight.endswith("weight") else None


def read_header(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, str]]:
    """The tensors ``{name: {"dtype", "shape", "data_offsets"}}`` and the metadata of a
    ``.safetensors`` file, from its header alone (8-byte little-endian length, then JSON)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise CompverifyError(f"target file {p!r} does not exist")
    bad = f"target file {p!r} is not a readable .safetensors file"
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CompverifyError(f"{bad}: shorter than its 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > min(MAX_HEADER_BYTES, size - 8):
                raise CompverifyError(f"{bad}: header length {n} exceeds the file "
                                      f"({size} bytes) or the 100 MB limit")
            raw = fh.read(n)
    except OSError as exc:
        raise CompverifyError(f"{bad}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CompverifyError(f"{bad}: header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CompverifyError(f"{bad}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise CompverifyError(f"{bad}: __metadata__ is not an object")
    for name, info in header.items():
        ok = (isinstance(info, dict) and isinstance(info.get("dtype"), str)
              and isinstance(info.get("shape"), list)
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                      for s in info["shape"]))
        if not ok:
            raise CompverifyError(f"{bad}: tensor {name!r} has no valid dtype and shape")
    return header, {str(k): str(v) for k, v in meta.items()}


def _check_layout(p: str, header: dict, first: str, second: str) -> tuple[int, int, list[str]]:
    """``(N, d, names to load)`` after checking keys, dtypes and shapes; one line per refusal."""
    missing = [k for k in (first, second) if k not in header]
    if missing:
        raise CompverifyError(
            f"target file {p!r} lacks tensor {missing[0]!r} (has {', '.join(sorted(header)) or 'none'}"
            f"; a two-layer model's weights are named {first},{second}: give others with --layers)")
    biases = [b for b in (_bias_name(first), _bias_name(second)) if b is not None and b in header]
    extra = sorted(set(header) - {first, second, *biases})
    if extra:
        raise CompverifyError(
            f"target file {p!r} has tensor {extra[0]!r} besides the weights {first}, {second} "
            f"(and their biases): not a two-layer network (extra: {', '.join(extra)})")
    for name in (first, second, *biases):
        dtype = header[name]["dtype"]
        if dtype not in FLOAT_DTYPES:
            hint = (" (NumPy has no bfloat16: save the model with .float() first)"
                    if dtype == "BF16" else "")
            raise CompverifyError(f"target file {p!r}: tensor {name!r} has dtype {dtype}; the "
                                  f"weights must be floating point (F16, F32, F64){hint}")
    s1, s2 = header[first]["shape"], header[second]["shape"]
    if len(s1) != 2 or min(s1) < 1:
        raise CompverifyError(f"target file {p!r}: tensor {first!r} has shape {tuple(s1)}; the "
                              "first layer's weight must be (N, d) with N, d >= 1")
    N, d = s1
    if tuple(s2) != (1, N):
        raise CompverifyError(f"target file {p!r}: tensor {second!r} has shape {tuple(s2)}; the "
                              f"second layer's weight must be (1, {N}) (one output, N = {N} "
                              f"hidden units as in {first})")
    expected = {_bias_name(first): (N,), _bias_name(second): (1,)}
    for name in biases:
        if tuple(header[name]["shape"]) != expected[name]:
            raise CompverifyError(f"target file {p!r}: tensor {name!r} has shape "
                                  f"{tuple(header[name]['shape'])}, expected {expected[name]}")
    return int(N), int(d), [first, second, *biases]


def load_safetensors(path: str | os.PathLike, activation: Any,
                     layers: Any = None) -> FiniteNetwork:
    """A :class:`FiniteNetwork` from the two weights of a ``.safetensors`` file.

    ``a = W2[0]`` and ``W = W1`` (``layers`` names ``W1, W2``; default ``0.weight, 2.weight``),
    converted to float64; see the module docstring for what is refused.
    """
    p = os.fspath(path)
    first, second = parse_layers(layers)
    header, _ = read_header(p)
    N, d, names = _check_layout(p, header, first, second)
    # the loaded tensors, their float64 copies and the network's arrays
    check_memory(8.0 * 3 * (N * d + 2 * N + 1),
                 f"target file {p!r} (a network of N = {N} units in d = {d})")
    from safetensors import SafetensorError, safe_open

    arrays: dict[str, np.ndarray] = {}
    try:
        with safe_open(p, framework="numpy") as fh:
            for name in names:
                arrays[name] = fh.get_tensor(name)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CompverifyError(f"target file {p!r} is not a readable .safetensors file: "
                              f"{exc}") from None
    for name in names:
        if not np.all(np.isfinite(arrays[name])):
            bad = int(np.size(arrays[name]) - np.count_nonzero(np.isfinite(arrays[name])))
            raise CompverifyError(f"target file {p!r}: tensor {name!r} has {bad} non-finite "
                                  "entries (inf or nan)")
    for name in names[2:]:
        if np.any(arrays[name] != 0):
            raise CompverifyError(
                f"target file {p!r}: tensor {name!r} is nonzero (max |entry| = "
                f"{float(np.max(np.abs(arrays[name]))):.6g}); compverify's network "
                "sum_i a_i sigma(<w_i, x>) has no biases (build the model with bias=False)")
    W = np.array(arrays[first], dtype=np.float64)
    a = np.array(arrays[second][0], dtype=np.float64)
    return FiniteNetwork(activation, a, W, name=os.path.basename(p))


def safetensors_bytes(b: Any, V: Any, metadata: Mapping[str, Any] | None = None,
                      layers: Any = None) -> bytes:
    """The file of the network ``sum_j b_j sigma(<v_j, x>)``: ``V`` (M, d) as the first layer's
    weight, ``b`` as the (1, M) second layer's weight, float64, metadata as strings."""
    first, second = parse_layers(layers)
    V = np.ascontiguousarray(np.asarray(V, dtype=np.float64))
    b = np.ascontiguousarray(np.asarray(b, dtype=np.float64).reshape(1, -1))
    if V.ndim != 2 or b.shape[1] != V.shape[0]:
        raise CompverifyError(f"V must be (M, d) and b (M,); got {V.shape} and {b.shape[1:]}")
    from safetensors.numpy import save

    meta = {str(k): str(v) for k, v in (metadata or {}).items() if v is not None}
    return save({first: V, second: b}, metadata=meta)


def save_safetensors(path: str | os.PathLike, b: Any, V: Any,
                     metadata: Mapping[str, Any] | None = None, layers: Any = None) -> None:
    """Write :func:`safetensors_bytes` to ``path`` atomically."""
    atomic_write_bytes(path, safetensors_bytes(b, V, metadata, layers))
