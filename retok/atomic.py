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


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back: there is no getter)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def usual_mode(*, folder: bool) -> int:
    """The mode a plain ``open``/``mkdir`` would give: 0666 (files) or 0777 (folders) minus the umask.

    ``mkstemp`` makes files 0600 and ``mkdtemp`` folders 0700, whatever the umask; every temporary that
    becomes an output is given this mode instead, so that outputs are as readable as any other file.
    """
    return (0o777 if folder else 0o666) & ~current_umask()


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
    tmp.chmod(usual_mode(folder=True))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, path)


def publish(folder: Path, path: Path) -> Path:
    """Move the finished ``folder`` to ``path`` (replacing what is there), every file and folder in it with the usual mode.

    The usual mode matters because writers other than retok's also stage files with ``mkstemp``
    (transformers' ``model.safetensors`` comes out 0600). The replaced folder is moved aside first and
    removed only once the new one is in place.
    """
    for item in [folder, *folder.rglob("*")]:
        if not item.is_symlink():  # an executable file keeps being one: it gets a folder's mode
            item.chmod(usual_mode(folder=item.is_dir() or bool(item.stat().st_mode & 0o111)))
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(folder, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextmanager
def atomic_file(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield the path of an empty temporary file beside ``path``; when the block succeeds, it replaces ``path``.

    The file has the usual permissions (:func:`usual_mode`); on an exception it is removed and ``path``
    is left as it was. ``suffix`` is for writers that insist on a file extension (fastText's ``.bin``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, usual_mode(folder=False))
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
