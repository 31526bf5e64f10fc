"""Input validation shared by every layer.

Each check raises :class:`CompverifyError` naming the bad value.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from compverify.errors import CompverifyError

#: Upper limit on the working precision; far beyond anything the solvers need, it stops typos
#: such as ``--dps 1000000`` from hanging a run.
MAX_DPS = 2000
MIN_DPS = 1


def check_dps(dps: Any, *, name: str = "dps", minimum: int = MIN_DPS,
              maximum: int = MAX_DPS) -> int:
    """Return ``dps`` as an int in ``[minimum, maximum]`` or raise naming it.

    >>> check_dps(30)
    30
    >>> check_dps(-5)
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: dps must be an integer in [1, 2000], got -5
    """
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)) or not (
        minimum <= int(dps) <= maximum
    ):
        raise CompverifyError(f"{name} must be an integer in [{minimum}, {maximum}], got {dps!r}")
    return int(dps)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise naming it.

    >>> check_positive_int(3, "M")
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise CompverifyError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_finite_array(x: Any, name: str, ndim: int | None = None,
                       shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a float64 array after checking dimension, shape and finiteness.

    ``shape`` entries that are ``None`` are free.

    >>> check_finite_array([1.0, 2.0], "a", ndim=1).shape
    (2,)
    >>> check_finite_array([1.0, float("nan")], "a")
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: a has a non-finite entry at index (1,): nan
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise CompverifyError(f"{name} must be an array of real numbers ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise CompverifyError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != t for s, t in zip(shape, arr.shape, strict=True)
        ):
            want = tuple("*" if s is None else s for s in shape)
            raise CompverifyError(f"{name} must have shape {want}, got {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise CompverifyError(f"{name} has a non-finite entry at index {idx}: {arr[idx]}")
    return arr


def check_finite_scalar(value: Any, name: str) -> float:
    """Return ``value`` as a finite float or raise naming it.

    >>> check_finite_scalar("2.5", "scale")
    2.5
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CompverifyError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise CompverifyError(f"{name} must be finite, got {value!r}")
    return v


#: Environment variable that overrides the memory limit (bytes, or with a K/M/G/T suffix).
MEMORY_LIMIT_ENV = "COMPVERIFY_MEMORY_LIMIT"


def format_bytes(n: float) -> str:
    """A byte count for people: ``format_bytes(3 * 2**30)`` is ``'3.0 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    return int(float(t[:-1] if factor > 1 else t) * factor)


def memory_limit() -> tuple[int, str]:
    """``(bytes, where it comes from)``: the memory one run may plan to use.

    ``$COMPVERIFY_MEMORY_LIMIT`` if set (e.g. ``8G``), else the memory available now
    (``MemAvailable`` of ``/proc/meminfo``, or physical memory where that is missing).
    """
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        try:
            return _parse_bytes(env), f"${MEMORY_LIMIT_ENV}"
        except (ValueError, IndexError):
            raise CompverifyError(f"${MEMORY_LIMIT_ENV} must be a byte count such as 8G, "
                                  f"got {env!r}") from None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available memory"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "physical memory"
    except (OSError, ValueError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**63, "no known limit"


def check_memory(nbytes: float, what: str) -> float:
    """Refuse a run whose estimated memory ``nbytes`` exceeds :func:`memory_limit`.

    Call it before allocating, with an estimate of the largest simultaneous arrays; the message
    names ``what`` (the inputs that set the size), the estimate and the limit.

    >>> check_memory(1e3, "a tiny run")
    1000.0
    >>> check_memory(1e30, "solve --d 10**14")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: solve --d 10**14 needs about ... of memory, more than ...
    """
    limit, source = memory_limit()
    if not nbytes <= limit:
        raise CompverifyError(f"{what} needs about {format_bytes(nbytes)} of memory, more than "
                              f"the {format_bytes(limit)} limit ({source}; set "
                              f"${MEMORY_LIMIT_ENV} to change it)")
    return float(nbytes)


def check_npz_arrays(path: str, names: tuple[str, ...]) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Read the headers of the arrays ``names`` of an ``.npz`` file without loading the data.

    Returns ``{name: (shape, dtype)}``.  Refuses (naming the file and the array) a missing array,
    a header that cannot be read, a dtype that is not real (complex, object, strings: a complex
    array is not silently cast to its real part), and arrays whose total size exceeds
    :func:`memory_limit` (a header may claim 10^11 rows).
    """
    import zipfile

    out: dict[str, tuple[tuple[int, ...], Any]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            missing = [n for n in names if n not in members]
            if missing:
                raise CompverifyError(f"target file {path!r} lacks array(s) {', '.join(missing)} "
                                      f"(has {', '.join(sorted(members)) or 'none'})")
            for name in names:
                with zf.open(members[name]) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                out[name] = (tuple(int(s) for s in shape), dtype)
    except CompverifyError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CompverifyError(f"target file {path!r} is not a readable .npz: {exc}") from None
    total = 0.0
    for name, (shape, dtype) in out.items():
        if dtype.kind not in "fiub":
            what = "complex" if dtype.kind == "c" else f"of dtype {dtype}"
            raise CompverifyError(f"target file {path!r}: array {name} is {what}; a and W must "
                                  "be real numbers")
        total += 8.0 * float(np.prod([float(s) for s in shape]))
    check_memory(2 * total, f"target file {path!r} (arrays of shapes "
                 f"{', '.join(str(s) for s, _ in out.values())})")
    return out


#: Largest magnitude of a target's mean entries and scale (and smallest scale): the float64
#: search evaluates C ~ (|m| + s)^(2n) for homogeneous degree n <= 8, which must stay inside
#: the float range (1e15^16 = 1e240).
MAX_TARGET_MAGNITUDE = 1e15


def check_target_numbers(text: Any, option: str, *, positive: bool = False) -> list[float]:
    """The comma-separated reals of ``--target-mean`` / ``--target-scale``, each finite, at most
    :data:`MAX_TARGET_MAGNITUDE` in absolute value and (``positive``) at least its inverse.

    >>> check_target_numbers("0.5, -1", "--target-mean")
    [0.5, -1.0]
    >>> check_target_numbers("1e300", "--target-mean")
    Traceback (most recent call last):
    ...
    compverify.errors.CompverifyError: --target-mean entry '1e300' is outside [-1e+15, 1e+15] ...
    """
    out = []
    parts = [str(x) for x in text] if isinstance(text, list | tuple) else str(text).split(",")
    for part in parts:
        try:
            x = float(part.strip())
        except ValueError:
            raise CompverifyError(f"{option} must be a number or comma-separated numbers, got "
                                  f"{text!r}") from None
        if not math.isfinite(x):
            raise CompverifyError(f"{option} must be finite, got {part.strip()!r}")
        if positive and x <= 0:
            raise CompverifyError(f"{option} must be positive, got {part.strip()!r}")
        lo = 1 / MAX_TARGET_MAGNITUDE if positive else -MAX_TARGET_MAGNITUDE
        if not lo <= x <= MAX_TARGET_MAGNITUDE:
            raise CompverifyError(
                f"{option} entry {part.strip()!r} is outside [{lo:g}, {MAX_TARGET_MAGNITUDE:g}] "
                "(C grows like (|m| + s)^(2n) and must stay inside the float64 range)")
        out.append(x)
    return out


def max_jobs() -> int:
    """The most worker processes a run may start: 4 per usable CPU, at least 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cpus = os.cpu_count() or 1
    return max(8, 4 * cpus)


def check_jobs(jobs: Any, name: str = "jobs") -> int:
    """``jobs`` as an int in ``[1, max_jobs()]`` (``--jobs 100000`` would start 100000 processes).

    >>> check_jobs(2)
    2
    """
    jobs = check_positive_int(jobs, name)
    if jobs > max_jobs():
        raise CompverifyError(f"{name} = {jobs} is more worker processes than this machine can "
                              f"use (at most {max_jobs()}: 4 per usable CPU, at least 8)")
    return jobs


def memory_estimate(M: int, d: int, dps: int | None = None) -> float:
    """Bytes of the largest arrays a solve with ``M`` neurons in ``R^d`` holds at once (estimate).

    With ``P = M (d + 1)`` parameters: the float64 Hessian and its eigendecomposition
    (``3 P^2``), the self term's ``(M, d, M, d)`` block (twice) and the target's ``(M, d, d)``
    second derivatives, 8 bytes each; with ``dps``, also the multiprecision polish's Hessian, its
    factorisation and the self term's block as ``mpf`` objects (about 100 bytes each plus the
    mantissa).  Checked before any work: a refusal beats a MemoryError after minutes.

    >>> round(memory_estimate(3, 1000) / 2**30, 2)   # 8 (3 P^2 + 2 (Md)^2 + 4 M d^2 + 8 M^2)
    0.43
    """
    P = float(M) * (d + 1)
    Md = float(M) * d
    total = 8.0 * (3.0 * P * P + 2.0 * Md * Md + 4.0 * Md * d + 8.0 * float(M) ** 2)
    if dps is not None:
        total += (100.0 + 0.42 * int(dps)) * (3.0 * P * P + Md * Md + Md * d)
    return total
