"""Progress of a report run: a tqdm bar on a terminal, plain one-line stage messages otherwise.

Both go to stderr, so stdout carries only the final excerpt.
"""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """Counts finished tasks out of ``total``; :meth:`stage` announces the next one.

    ``mode`` is ``"auto"`` (a bar when ``stream`` is a terminal), ``"bar"``, ``"lines"`` or
    ``"off"``.
    """

    def __init__(self, total: int, *, mode: str = "auto", stream: IO[str] | None = None):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "lines"
        self.mode = mode
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, file=self.stream, unit="task", dynamic_ncols=True,
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}]")

    def stage(self, message: str) -> None:
        """Announce the task that starts now."""
        if self._bar is not None:
            self._bar.set_description_str(message[:60])
        elif self.mode == "lines":
            elapsed = time.perf_counter() - self.start
            print(f"compverify report: [{self.done + 1}/{self.total}] {message} "
                  f"({elapsed:.0f} s)", file=self.stream, flush=True)

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` tasks finished."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
