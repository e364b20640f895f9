"""Saved files checked before they are read: a truncated or damaged file is refused in one line that names it.

A killed copy, a full disk or a partial download leaves a file whose header promises more bytes than
the file holds. Reading it fails deep inside numpy, safetensors or torch with a traceback
(``mmap length is greater than file size``); these checks read only the header and compare it with the
file's size, so they cost nothing next to the read itself.

* :func:`check_safetensors`: the 8-byte header length, the JSON header, and the end of the last tensor;
* :func:`check_npy`: the ``.npy`` magic and header, and ``shape x itemsize`` bytes after it;
* :func:`check_json`: a JSON file that parses;
* :func:`check_folder`: every ``.safetensors`` and ``.npy`` file directly in a folder.

Each raises :class:`retok.errors.RetokError` saying which file, what is wrong, and ``fix`` (how to get a
good one: rebuild, retrain, restore).
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from .errors import RetokError

SAFETENSORS_MAX_HEADER = 100 * 2**20  # safetensors itself refuses larger headers


def damaged(path: Path, reason: str, fix: str) -> RetokError:
    return RetokError(f"{path} is damaged ({reason}); {fix}")


def check_safetensors(path: str | os.PathLike, *, fix: str) -> None:
    """Refuse a ``.safetensors`` file whose header does not parse or whose tensors run past the end of the file."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise damaged(path, f"{size} bytes, shorter than the 8-byte header length", fix)
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, SAFETENSORS_MAX_HEADER):
            raise damaged(path, f"the header claims {n} bytes but the file has {size}", fix)
        try:
            header: dict[str, Any] = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise damaged(path, "its header is not valid JSON", fix) from None
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__" and isinstance(entry, dict)
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        raise damaged(path, f"truncated: {size} bytes, its header describes {expected}", fix)


def check_npy(path: str | os.PathLike, *, fix: str) -> None:
    """Refuse a ``.npy`` file whose header does not parse or that holds fewer bytes than its shape and dtype need."""
    import numpy as np

    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
        except (ValueError, OSError, SyntaxError, EOFError):
            raise damaged(path, "not a readable .npy header", fix) from None
        start = f.tell()
    if dtype.hasobject:
        return  # pickled objects: their size is not in the header
    expected = start + math.prod(shape) * dtype.itemsize
    if size < expected:
        raise damaged(path, f"truncated: {size} bytes, its header describes {expected} ({'x'.join(map(str, shape))} {dtype})", fix)


def check_json(path: str | os.PathLike, *, fix: str) -> Any:
    """The parsed JSON of ``path``; RetokError naming the file if it does not parse."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise damaged(path, f"not valid JSON: {e}", fix) from None


def check_folder(folder: str | os.PathLike, *, fix: str) -> None:
    """Run :func:`check_safetensors` / :func:`check_npy` on every such file directly in ``folder`` (nothing if it is not a folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.suffix == ".safetensors":
            check_safetensors(path, fix=fix)
        elif path.suffix == ".npy":
            check_npy(path, fix=fix)


__all__ = ["check_folder", "check_json", "check_npy", "check_safetensors", "damaged"]
