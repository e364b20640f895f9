"""The deterministic held-out split: the text every tokenizer is scored on.

Quality across tokenizers is compared as bits per byte on held-out text, so that text must be
identical for every tokenizer and on every machine. The protocol, which other tools can
re-implement in a few lines and get the same bytes:

1. **Paragraphs.** A paragraph is one non-empty line of a corpus file (split on ``"\\n"``
   only; a line that is empty or only whitespace is dropped; the text of a kept line is not
   otherwise changed, so a ``"\\r"`` or leading spaces stay part of it).
2. **Split.** A paragraph ``p`` is *held out* when
   ``hashlib.md5(p.encode("utf-8")).hexdigest()[0] in "01"`` (about 1 in 8 paragraphs); every
   other paragraph is *training* text. The decision depends on the paragraph alone, so it does
   not move when the corpus is reordered, grown or deduplicated.
3. **Held-out text.** The held-out paragraphs in file order, joined by ``"\\n"``, stopping
   *before* the paragraph that would make the joined text exceed ``max_bytes`` UTF-8 bytes
   (64 KiB by default). No paragraph is ever cut in the middle.
4. **Training text.** Every paragraph that is not held out, in file order, joined by ``"\\n"``.

Scoring (tokenize once without special tokens, 256-token windows fed as
``[BOS] + window[:-1]``, summed NLL / (ln 2 x UTF-8 bytes)) lives with the evaluation code.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write_text, check_output_file
from .errors import RetokError
from .textio import read_text

DEFAULT_MAX_BYTES = 65536
HELD_OUT_PREFIXES = "01"


def is_held_out(paragraph: str) -> bool:
    """True when ``paragraph`` belongs to the held-out split (md5 hex digest starts with 0 or 1)."""
    return hashlib.md5(paragraph.encode("utf-8")).hexdigest()[0] in HELD_OUT_PREFIXES


def paragraphs(lines: Iterable[str]) -> list[str]:
    """The non-empty lines of ``lines``, each without its trailing ``"\\n"``, in order."""
    out = []
    for line in lines:
        line = line.removesuffix("\n")
        if line.strip():
            out.append(line)
    return out


def split_paragraphs(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split the paragraphs of ``lines`` into ``(train, held_out)``, both in file order.

    Empty and whitespace-only lines are dropped; every other line goes to exactly one side.
    """
    train: list[str] = []
    held_out: list[str] = []
    for p in paragraphs(lines):
        (held_out if is_held_out(p) else train).append(p)
    return train, held_out


def held_out_text(paragraphs_or_path: str | os.PathLike | Iterable[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The held-out text: held-out paragraphs joined by ``"\\n"``, at most ``max_bytes`` UTF-8 bytes.

    ``paragraphs_or_path`` is a corpus file (a ``str`` or path is always read as a file name)
    or the corpus lines themselves. Paragraphs are added in file order and the text stops
    before the first paragraph that would push it past ``max_bytes``.
    """
    if max_bytes <= 0:
        raise RetokError(f"max_bytes must be a positive number of bytes, got {max_bytes}")
    all_paragraphs, source = _load(paragraphs_or_path)
    held = [p for p in all_paragraphs if is_held_out(p)]
    if not held:
        raise RetokError(
            f"{source} has {len(all_paragraphs)} paragraph(s) and none of them is held out "
            "(about 1 in 8 is, by md5); pass a larger text file with more lines"
        )
    kept: list[str] = []
    size = 0
    for p in held:
        added = len(p.encode("utf-8")) + (1 if kept else 0)  # the "\n" joiner before every paragraph but the first
        if size + added > max_bytes:
            break
        kept.append(p)
        size += added
    if not kept:
        raise RetokError(
            f"the first held-out paragraph of {source} is {len(held[0].encode('utf-8'))} bytes, more than "
            f"max_bytes={max_bytes}; raise max_bytes"
        )
    return "\n".join(kept)


def train_paragraphs(path: str | os.PathLike) -> list[str]:
    """Every paragraph of the corpus file ``path`` that is not held out, in file order."""
    all_paragraphs, source = _load(path)
    train = [p for p in all_paragraphs if not is_held_out(p)]
    if not train:
        raise RetokError(
            f"{source} has {len(all_paragraphs)} paragraph(s) and all of them are held out; "
            "pass a larger text file with more lines"
        )
    return train


def train_text(path: str | os.PathLike) -> str:
    """The training text of the corpus file ``path``: its non-held-out paragraphs joined by ``"\\n"``."""
    return "\n".join(train_paragraphs(path))


@dataclass(frozen=True)
class SplitFiles:
    """The two files :func:`write_split` wrote, with what they hold."""

    train: Path
    heldout: Path
    train_paragraphs: int
    train_bytes: int
    heldout_paragraphs: int
    heldout_bytes: int


def write_split(corpus: str | os.PathLike, out: str | os.PathLike, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                overwrite: bool = False) -> SplitFiles:
    """Write ``<out>/<name>.txt`` (the training paragraphs, one per line) and ``<out>/<name>-heldout.txt`` (the held-out text).

    The held-out file is exactly :func:`held_out_text` (what ``retok eval`` and every benchmark score), so
    ``retok eval --text <name>-heldout.txt`` follows the protocol. Both are checked before anything is
    written, and written atomically; existing files are replaced only with ``overwrite``.
    """
    train, heldout = Path(out) / f"{name}.txt", Path(out) / f"{name}-heldout.txt"
    for path, flag in ((train, "--out"), (heldout, "--out")):
        check_output_file(path, flag=flag)
        if path.exists() and not overwrite:
            raise RetokError(f"{path} exists; pass --overwrite to replace it, or choose another --out or --name")
    lines = train_paragraphs(corpus)
    text = held_out_text(corpus, max_bytes=max_bytes)
    atomic_write_text(train, "\n".join(lines) + "\n")
    atomic_write_text(heldout, text)  # byte for byte the text every benchmark scores (no newline added)
    return SplitFiles(train, heldout, len(lines), sum(len(p.encode("utf-8")) + 1 for p in lines), text.count("\n") + 1,
                      len(text.encode("utf-8")))


def _load(paragraphs_or_path: str | os.PathLike | Iterable[str]) -> tuple[list[str], str]:
    """The paragraphs of a file or of a list of lines, and a name for error messages."""
    if isinstance(paragraphs_or_path, (str, os.PathLike)):
        path = Path(paragraphs_or_path)
        return paragraphs(read_text(path, what="corpus file").split("\n")), f"corpus file {str(path)!r}"
    return paragraphs(paragraphs_or_path), "the given text"
