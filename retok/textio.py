"""Reading user text files with clear errors (missing, empty, not UTF-8)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import RetokError


def read_text(path: str | os.PathLike, *, what: str = "text file") -> str:
    """Return the UTF-8 content of ``path``; raise :class:`RetokError` if it is missing, empty or not UTF-8."""
    path = Path(path)
    if not path.exists():
        raise RetokError(f"{what} {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise RetokError(f"{what} {str(path)!r} is a folder; pass a plain UTF-8 text file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RetokError(
            f"{what} {str(path)!r} is not valid UTF-8 (bad byte at offset {e.start}); "
            "convert it first, e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`"
        ) from None
    if not text.strip():
        raise RetokError(f"{what} {str(path)!r} is empty; pass a file with text in it")
    return text
