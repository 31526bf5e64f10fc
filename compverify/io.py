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

from compverify.errors import CompverifyError


def current_umask() -> int:
    """The process's file-creation mask (read without changing it where the platform allows).

    Files compverify creates get ``0o666 & ~umask`` and directories ``0o777 & ~umask``, as files
    made by ``open()`` and ``mkdir`` do (:mod:`tempfile` alone would give 0600 and 0700).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no read-only query elsewhere: set and restore at once
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """``0o666 & ~umask`` for a file, ``0o777 & ~umask`` for a directory."""
    return (0o777 if directory else 0o666) & ~current_umask()


def _describe_os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output_file(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """Check, before any work, that a file can be written (atomically) at ``path``; return it.

    The one output-path check of every command (and of the public API's writers): ``path``
    must not be empty, name a directory (an existing one, or a name ending in ``/``) or an
    existing non-regular file (a device, a FIFO); its parent must be an existing directory
    (missing directories are not created) in which a file can actually be created and removed
    (a probe: this catches read-only mounts, ``/proc``, and permissions, root included).
    :class:`CompverifyError` names ``option`` and the path otherwise.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_output_file(os.path.join(d, "r.json")).name
    'r.json'
    >>> check_output_file(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: --out '...' is a directory; give a file name ...
    """
    try:
        text = os.fspath(path)
    except TypeError:
        raise CompverifyError(f"{option} must be a file name, got {path!r}") from None
    if not isinstance(text, str) or not text.strip():
        raise CompverifyError(f"{option} must be a file name, got {text!r}")
    if "\0" in text:
        raise CompverifyError(f"{option} {text!r} contains a NUL character")
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.is_dir():
        raise CompverifyError(f"{option} {text!r} is a directory; give a file name inside it, "
                              f"e.g. {os.path.join(text, 'result.json')!r}")
    if p.exists() and not p.is_file():
        raise CompverifyError(f"{option} {text!r} exists and is not a regular file")
    check_writable_directory(p.parent if str(p.parent) else Path("."), option=option, path=text)
    return p


def check_writable_directory(directory: str | os.PathLike, *, option: str = "--out",
                             path: str | None = None) -> Path:
    """Check that ``directory`` exists and that a file can be created in it (by a probe).

    ``path`` (the output the directory is for) is named in the message when given.
    """
    d = Path(directory)
    what = f"{option} {path!r}" if path is not None else f"{option} directory {str(d)!r}"
    for anc in [d, *d.parents]:  # the first existing ancestor says why d is missing
        if anc.exists() or anc.is_symlink():
            break
    else:  # pragma: no cover - "/" or "." always exists
        anc = d
    if anc != d:
        if anc.is_dir():
            raise CompverifyError(f"{what}: directory {str(d)!r} does not exist (it is not "
                                  "created; make it first)")
        raise CompverifyError(f"{what}: {str(anc)!r} is not a directory")
    if not d.is_dir():
        raise CompverifyError(f"{what}: {str(d)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".compverify-probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CompverifyError(f"{what}: cannot create files in {str(d)!r} "
                              f"({_describe_os_error(exc)})") from None
    return d


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, make_parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (same-directory temp file, fsync, rename).

    The file gets the mode of the file it replaces, or ``0o666 & ~umask`` if it is new.
    Missing parent directories are an error unless ``make_parents`` (for directories the caller
    itself is building).  An operating-system failure (read-only file system, full disk,
    permissions) is a :class:`CompverifyError` naming the path; nothing is left behind.
    """
    path = Path(path)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise CompverifyError(f"cannot write {str(path)!r}: it is a directory")
        try:
            mode = path.stat().st_mode & 0o7777 if path.is_file() else default_mode()
        except OSError:
            mode = default_mode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise CompverifyError(f"cannot write {str(path)!r}: {_describe_os_error(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise CompverifyError(f"cannot write {str(path)!r}: {_describe_os_error(exc)}") \
                from None
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, make_parents: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), make_parents=make_parents)


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


def atomic_write_json(path: str | os.PathLike, obj: Any, dps: int | None = None, *,
                      make_parents: bool = False) -> Path:
    """Write ``to_jsonable(obj)`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj, dps), indent=2) + "\n",
                             make_parents=make_parents)


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

