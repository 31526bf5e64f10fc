"""The output directory, built whole or not at all.

A report is written into a temporary sibling directory (``.NAME.tmp-XXXX`` next to ``NAME``),
each file through :mod:`compverify.io` (atomic writes). Only when every file is complete is the
directory renamed into place; with ``force`` an existing directory is first renamed aside and
removed after the new one is in place. An exception (or Ctrl-C) on the way removes the temporary
directory and leaves whatever was at ``NAME`` before untouched.

A report directory carries a marker file (:data:`MARKER`) listing the files the tool wrote; an
existing directory is replaced without ``force`` only if it has that marker and holds nothing
else but what ``pdflatex report.tex`` writes there (so rerunning ``compverify report`` refreshes
its own report, but never deletes a directory it did not write, or files a user added to one).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with staged_directory(root / "out", force=False) as tmp:
...     _ = (tmp / "a.txt").write_text("complete")
>>> sorted(p.name for p in root.iterdir()), (root / "out" / "a.txt").read_text()
(['out'], 'complete')
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compverify.errors import CompverifyError
from compverify.io import atomic_write_text, check_writable_directory, default_mode

#: The file naming what a report directory holds (written last into the staged directory).
MARKER = ".compverify-report.json"


def write_marker(tmp: Path) -> None:
    """Record every file under ``tmp`` (relative paths) in its :data:`MARKER`."""
    files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    atomic_write_text(tmp / MARKER, json.dumps({"format": "compverify-report", "files": files},
                                               indent=1) + "\n")


#: What ``pdflatex report.tex`` leaves next to the report: rebuilt from it, so not the user's work.
LATEX_OUTPUTS = frozenset(f"report.{ext}" for ext in (
    "pdf", "aux", "log", "out", "toc", "lof", "lot", "synctex.gz", "fls", "fdb_latexmk"))


def written_by_tool(out: Path) -> bool:
    """True if ``out`` is a report directory with its marker and no file the marker does not list
    (other than what compiling ``report.tex`` in place writes, :data:`LATEX_OUTPUTS`).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "report.html").write_text("x"); write_marker(d); written_by_tool(d)
    True
    >>> _ = (d / "notes.txt").write_text("mine"); written_by_tool(d)
    False
    """
    try:
        listed = json.loads((out / MARKER).read_text(encoding="utf-8"))
        files = set(listed["files"]) | {MARKER} | LATEX_OUTPUTS
        present = {str(p.relative_to(out)) for p in out.rglob("*") if not p.is_dir()}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return listed.get("format") == "compverify-report" and present <= files


def check_target(out: Path, force: bool) -> Path:
    """Refuse an existing ``out`` without ``force`` (and anything that is not a directory),
    unless it is a report this tool wrote and nothing else (:func:`written_by_tool`)."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise CompverifyError(f"output path {str(out)!r} exists and is not a directory")
        if not force and not written_by_tool(out):
            raise CompverifyError(
                f"output directory {str(out)!r} exists and is not a report written by compverify "
                "(or holds other files); pass --force to replace it")
    check_writable_directory(out.resolve().parent, path=str(out))
    return out


@contextmanager
def staged_directory(out: Path, force: bool) -> Iterator[Path]:
    """Yield a fresh temporary sibling of ``out``; move it to ``out`` when the block succeeds."""
    out = check_target(Path(out), force)
    parent = out.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 ignores the umask
        yield tmp
        _sync_dir(tmp)
        # Checked again: the directory may have appeared while the report was being built.
        check_target(out, force)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / out.name)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:  # put the previous report back
                os.replace(old / out.name, out)
                shutil.rmtree(old, ignore_errors=True)
            raise
        _sync_dir(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
