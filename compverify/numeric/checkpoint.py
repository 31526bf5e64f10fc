"""Checkpoints: the finished pieces of a long computation, kept in a file so a rerun resumes.

A :class:`Checkpoint` is a JSON file holding a ``key`` (what computation it belongs to: the
problem and every argument that changes the answer) and named entries (one per finished piece:
a float64 restart, a Newton run's state, a finer-rule evaluation).  Entries are stored exactly
(:func:`compverify.io.exact_encode`: multiprecision numbers by their binary value), so a resumed
run continues from bit-identical state and gives the answer an uninterrupted run gives.  Writes
are atomic (a crash leaves the previous complete file) and at most one per ``interval``
seconds; :meth:`Checkpoint.flush` writes what is pending (call it on the way out, including on
``KeyboardInterrupt``).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "run.checkpoint.json")
>>> ck = Checkpoint(path, {"task": "demo", "n": 3})
>>> ck.put("piece 1", {"value": 0.5})
>>> ck.flush()
>>> Checkpoint(path, {"task": "demo", "n": 3}).get("piece 1")
{'value': 0.5}
>>> Checkpoint(path, {"task": "demo", "n": 4})
Traceback (most recent call last):
...
compverify.errors.CompverifyError: checkpoint ... another computation (n: 3 there, 4 here); ...
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from compverify.errors import CompverifyError
from compverify.io import atomic_write_text, exact_decode, exact_encode

__all__ = ["Checkpoint"]

FORMAT = "compverify-checkpoint-1"


class Checkpoint:
    """Named, exactly stored pieces of one computation identified by ``key`` (module docstring).

    ``key`` is a JSON-ready dict; an existing file with another key is refused (its differing
    fields named) rather than silently mixed into this run.  ``interval``: the least number of
    seconds between two writes (``0``: every :meth:`put` writes).
    """

    def __init__(self, path: str | os.PathLike, key: dict, *, interval: float = 2.0) -> None:
        self.path = os.fspath(path)
        self.key = json.loads(json.dumps(key))  # normalised as it will be read back
        self.interval = float(interval)
        self.entries: dict[str, Any] = {}
        self.resumed = 0
        self._dirty = False
        self._last = 0.0
        if os.path.exists(self.path):
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CompverifyError(f"checkpoint {self.path!r} is not readable ({exc}); remove it "
                                  "to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CompverifyError(f"checkpoint {self.path!r} is not a compverify checkpoint "
                                  f"(format {FORMAT!r}); remove it to start afresh")
        if data.get("key") != self.key:
            diff = [f"{path}: {_short(a)} there, {_short(b)} here"
                    for path, a, b in _differences(data.get("key"), self.key)]
            raise CompverifyError(f"checkpoint {self.path!r} belongs to another computation "
                                  f"({'; '.join(diff[:3])}); remove it to start afresh, or choose "
                                  "another checkpoint path")
        self.entries = dict(data.get("entries", {}))
        self.resumed = len(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def get(self, name: str, default: Any = None) -> Any:
        """The decoded entry ``name`` (``default`` if absent)."""
        return exact_decode(self.entries[name]) if name in self.entries else default

    def names(self, prefix: str = "") -> list[str]:
        """Names of the entries that start with ``prefix``."""
        return [k for k in self.entries if k.startswith(prefix)]

    def put(self, name: str, value: Any) -> None:
        """Record ``value`` (exactly) under ``name``.  The file is written now if the last write
        is ``interval`` s old, else by a later :meth:`put` or :meth:`flush` (a hard kill loses at
        most what was recorded since the last write; Ctrl-C loses nothing, see ``flush``)."""
        self.entries[name] = exact_encode(value)
        self._dirty = True
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Write the pending entries (atomically)."""
        if not self._dirty:
            return
        text = json.dumps({"format": FORMAT, "key": self.key, "entries": self.entries})
        atomic_write_text(self.path, text + "\n")
        self._dirty = False
        self._last = time.monotonic()

    def remove(self) -> None:
        """Delete the file (the computation's result is saved elsewhere)."""
        self._dirty = False
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _differences(theirs: Any, ours: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The dotted paths at which two keys differ, with the two values there."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for k in sorted(set(theirs) | set(ours)):
            if theirs.get(k) != ours.get(k):
                out += _differences(theirs.get(k), ours.get(k), f"{path}.{k}" if path else k)
        return out
    return [(path or "key", theirs, ours)]


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."

