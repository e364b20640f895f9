"""Atomic outputs: write into a temporary folder beside the target, then rename.

An interrupted job never leaves a half-written folder that a later run would take for a good
one, and an existing output is only replaced when the caller says so (``overwrite=True``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RetokError


def check_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early (before any long work) if ``path`` exists and ``overwrite`` is False."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise RetokError(
            f"output folder {str(path)!r} already exists; pass --overwrite (overwrite=True) "
            "to replace it, or choose another output folder"
        )
    if path.exists() and not path.is_dir():
        raise RetokError(f"output path {str(path)!r} exists and is not a folder; remove it or choose another")
    return path


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder; when the block succeeds, it becomes ``path``.

    On an exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = check_output_dir(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
