"""Atomic outputs: write into a temporary folder beside the target, then rename.

An interrupted job never leaves a half-written folder that a later run would take for a good
one, and an existing output is only replaced when the caller says so (``overwrite=True``).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RetokError

logger = logging.getLogger(__name__)


def check_name(path: Path, flag: str) -> None:
    """Refuse a path that is not valid UTF-8 (it could not be printed or recorded in retok_config.json)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        raise RetokError(f"{flag} {os.fspath(path)!r} is not a valid UTF-8 name; choose a UTF-8 path") from None


def check_writable(path: Path, flag: str) -> None:
    """Fail unless a file or folder can be created at ``path``: probe the nearest existing folder above it.

    A probe folder is created and removed again, so a read-only place, ``/proc`` or a path under a
    regular file is found before any long work starts.
    """
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RetokError(f"{flag} {str(path)!r} lies under {str(parent)!r}, which is a file, not a folder; choose another path")
    try:
        Path(tempfile.mkdtemp(prefix=".retok-probe-", dir=parent)).rmdir()
    except OSError as e:
        raise RetokError(f"cannot write {flag} {str(path)!r}: {str(parent)!r} is not writable ({e.strerror}); choose another path") from None


def check_output_dir(path: str | os.PathLike, *, overwrite: bool = False, flag: str = "--out") -> Path:
    """Fail early (before any long work) unless ``path`` can become the output folder.

    Refused: a path that exists as a file (whatever ``overwrite`` says), an existing folder
    without ``overwrite``, a place that cannot be written, a name that is not UTF-8.
    """
    path = Path(path)
    check_name(path, flag)
    if path.exists() and not path.is_dir():
        raise RetokError(f"{flag} {str(path)!r} is an existing file, not a folder; remove it or choose another output folder")
    if path.exists() and not overwrite:
        raise RetokError(
            f"output folder {str(path)!r} already exists; pass --overwrite (overwrite=True) "
            "to replace it, or choose another output folder"
        )
    check_writable(path, flag)
    return path


def check_output_file(path: str | os.PathLike, *, flag: str) -> Path:
    """Fail early unless ``path`` can be written as a file (an existing file is replaced)."""
    path = Path(path)
    check_name(path, flag)
    if path.is_dir():
        raise RetokError(f"{flag} {str(path)!r} is a folder; give a file name, e.g. {str(path / 'result.json')!r}")
    check_writable(path, flag)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>`` folders beside ``path`` left by a killed process; return them.

    Folders of a process that is still running (a concurrent build) are left alone; folders from
    before the pid was part of the name are removed too (nothing writes those any more).
    """
    removed = []
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*"):
        match = re.fullmatch(rf"\.{re.escape(path.name)}\.(?:tmp|old)-(?:(\d+)(?:-.*)?|[^-]*)", leftover.name)
        if match is None or not leftover.is_dir():
            continue
        if match.group(1) is not None and _pid_alive(int(match.group(1))):
            continue
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


def _usual_permissions(folder: Path) -> None:
    """mkdtemp makes folders 0700; give the output the permissions a plain mkdir would (0777 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder; when the block succeeds, it becomes ``path``.

    On an exception the temporary folder is removed and ``path`` is left as it was. Temporary
    folders that a killed run left beside ``path`` are removed first (they carry the pid of the
    process that made them).
    """
    path = check_output_dir(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in remove_stale_temporaries(path):
        logger.warning("removed %s, left by an interrupted run", leftover)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    _usual_permissions(tmp)
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
