"""Atomic file output and lossless JSON for multiprecision numbers.

Every file compverify writes goes through :func:`atomic_write_text` (write to a temporary file in
the same directory, fsync, ``os.replace``), so an interrupted run never leaves a half-written file
in place of a complete one. Real numbers in JSON results are decimal strings carrying their full
precision (:func:`to_jsonable`), so nothing is lost in the round trip.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import mpmath
import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (same-directory temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def mp_to_str(x: Any, dps: int | None = None) -> str:
    """Decimal string of a real number with all its digits.

    An ``mpf`` gets ``dps`` significant digits (default: the working precision); a float gets
    its shortest round-tripping ``repr``.

    >>> with mpmath.workdps(30):
    ...     mp_to_str(mpmath.mpf(1) / 3)
    '0.333333333333333333333333333333'
    >>> mp_to_str(0.1)
    '0.1'
    """
    if isinstance(x, mpmath.mpf):
        if dps is None:
            dps = mpmath.mp.dps
        return mpmath.nstr(x, dps)
    if isinstance(x, (np.floating, float)):
        return repr(float(x))
    if isinstance(x, (np.integer, int)) and not isinstance(x, bool):
        return str(int(x))
    raise TypeError(f"not a real number: {x!r}")


def to_jsonable(obj: Any, dps: int | None = None) -> Any:
    """Recursively convert results to JSON-ready data; reals become decimal strings.

    Integers stay integers, booleans and ``None`` stay as they are, arrays become nested lists.

    >>> to_jsonable({"x": mpmath.mpf("0.5"), "n": 3, "v": np.array([0.25])})
    {'x': '0.5', 'n': 3, 'v': ['0.25']}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating, mpmath.mpf)):
        return mp_to_str(obj, dps)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, dps) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, dps) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), dps)
    if isinstance(obj, mpmath.matrix):
        return [[to_jsonable(obj[i, j], dps) for j in range(obj.cols)] for i in range(obj.rows)]
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict(), dps)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def atomic_write_json(path: str | os.PathLike, obj: Any, dps: int | None = None) -> Path:
    """Write ``to_jsonable(obj)`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj, dps), indent=2) + "\n")


def exact_encode(obj: Any) -> Any:
    """JSON-ready data that :func:`exact_decode` turns back into ``obj`` bit for bit.

    For checkpoints, not for readers: an ``mpf`` is stored as its binary value ``(sign, mantissa,
    exponent, bitcount)`` (so no digit is lost whatever the precision), a float array as its
    shape and floats (Python's JSON writes floats by their round-tripping ``repr``), an object
    array entry by entry; tuples become lists.

    >>> with mpmath.workdps(50):
    ...     x = mpmath.pi / 7
    >>> y = exact_decode(json.loads(json.dumps(exact_encode({"x": x, "v": np.array([0.1])}))))
    >>> y["x"] == x and y["v"].tolist() == [0.1]
    True
    """
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, mpmath.mpf):
        sign, man, exp, bc = obj._mpf_
        return {"$mpf": [int(sign), hex(int(man)), int(exp), int(bc)]}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return {"$obj": list(obj.shape), "data": [exact_encode(x) for x in obj.ravel()]}
        return {"$f8": list(obj.shape), "data": [float(x) for x in obj.ravel()]}
    if isinstance(obj, dict):
        return {str(k): exact_encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [exact_encode(v) for v in obj]
    raise TypeError(f"cannot encode {type(obj).__name__} exactly")


def exact_decode(data: Any) -> Any:
    """The inverse of :func:`exact_encode` (lists stay lists)."""
    if isinstance(data, list):
        return [exact_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$mpf" in data:
        sign, man, exp, bc = data["$mpf"]
        return mpmath.mp.make_mpf((int(sign), mpmath.libmp.MPZ(int(man, 16)), int(exp), int(bc)))
    if "$f8" in data:
        return np.array(data["data"], dtype=float).reshape(data["$f8"])
    if "$obj" in data:
        out = np.empty(len(data["data"]), dtype=object)
        out[:] = [exact_decode(x) for x in data["data"]]
        return out.reshape(data["$obj"])
    return {k: exact_decode(v) for k, v in data.items()}

