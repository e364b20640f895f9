"""Bilingual dictionaries as (source word, target word) pairs: TSV files, dictd files and Debian's FreeDict.

* :func:`read_pairs` reads ``source<TAB>target`` lines (the format every other function writes).
* :func:`parse_dictd` reads a dictd dictionary: an ``.index`` of ``headword<TAB>offset<TAB>length``
  lines, offset and length written in dictd's base64 (digits ``A-Za-z0-9+/``, most significant
  first), pointing into a ``.dict`` file that may be dictzip-compressed (``.dict.dz``, which
  gzip reads).
* :func:`freedict` fetches a FreeDict dictionary from Debian (``dict-freedict-<pair>``, with
  ``apt-get download`` and ``dpkg -x``, no root needed) and caches its pairs under
  ``cache_dir()/freedict-<pair>-<version>/`` with the marker, build lock and atomic folder of
  :mod:`retok.cache` (the marker lists the folder's files, which is how ``retok assets`` finds and
  checks it without importing this module).

A FreeDict entry (as Debian's dictfmt writes it) is a headword line (``house /hˈaʊs/ <n>``:
headword, IPA, annotations), then translation lines (``1. Haus <neut>, Gebäude [arch.]``:
optional sense number, translations separated by ``", "`` or ``"; "``, with ``<...>``, ``[...]``,
``(...)``, ``{...}`` annotations and ``/IPA/`` of abbreviations, all dropped), then cross
references, synonyms, examples and notes, which are indented by three or more spaces or labelled
(``see:``, ``Synonyms:``, ``Note:``) and skipped. Word parts such as ``Erd…`` are skipped too.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from retok._version import __version__
from retok.atomic import atomic_dir, atomic_write_text
from retok.cache import build_lock, cache_dir, download_debs, is_complete, read_marker, say, write_marker
from retok.errors import RetokError

DICTD_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SINGLE_FILE = "pairs.tsv"  # single-word pairs
ALL_FILE = "pairs-all.tsv"  # every pair, multi-word ones included
FREEDICT_FILES = (SINGLE_FILE, ALL_FILE)
_FORMAT = 1
_DIGIT = {c: i for i, c in enumerate(DICTD_BASE64)}
_PAIR = re.compile(r"^[a-z]{3}-[a-z]{3}$")
_ANNOTATION = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|(?:^|(?<=\s))/[^/]*/")
_LABEL = re.compile(r"^\s*(see|synonyms?|antonyms?|notes?|examples?|usage)\s*:", re.IGNORECASE)
_SENSE = re.compile(r"^\d+\.\s+")
_SEPARATOR = re.compile(r"\s*[,;](?:\s+|$)")  # "Haus, Gebäude"; not the comma of "4,4'-Thiodianilin"
_FRAGMENT = "…"  # "Erd…": a word part, not a translation
_NESTED = 3  # lines indented this far or more are examples, synonyms or notes, not translations


# ----------------------------------------------------------------------------- TSV


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(source, target)`` from a ``source<TAB>target`` file; blank lines are skipped, fields are stripped."""
    path = Path(path)
    if not path.is_file():
        raise RetokError(f"dictionary file {str(path)!r} does not exist; pass a source<TAB>target TSV file or 'freedict:eng-deu'")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RetokError(f"dictionary file {str(path)!r} is not valid UTF-8 ({e.reason}); convert it to UTF-8") from None
    pairs = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        source, _, target = line.partition("\t")
        source, target = source.strip(), target.strip()
        if source and target and line.count("\t") == 1:
            pairs.append((source, target))
        elif line.strip():
            raise RetokError(
                f"{path}:{line_no}: expected 'source<TAB>target' (two non-empty fields separated by one tab), "
                f"got {line.rstrip(chr(13))!r}; fix or delete that line"
            )
    if not pairs:
        raise RetokError(f"dictionary file {str(path)!r} holds no pairs; write one 'source<TAB>target' line per pair")
    return pairs


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """Write ``source<TAB>target`` lines atomically (tabs and newlines inside a word become spaces)."""
    lines = (" ".join(s.split()) + "\t" + " ".join(t.split()) + "\n" for s, t in pairs)
    return atomic_write_text(path, "".join(lines))


def load_dictionary(spec: str | os.PathLike) -> list[tuple[str, str]]:
    """Pairs from a TSV path, or from FreeDict with ``"freedict:<src>-<tgt>"`` (e.g. ``"freedict:eng-deu"``), single words only."""
    if isinstance(spec, str) and spec.startswith("freedict:"):
        return read_pairs(freedict(spec.removeprefix("freedict:")))
    return read_pairs(spec)


# ----------------------------------------------------------------------------- dictd


def parse_dictd(index_path: str | os.PathLike, dict_path: str | os.PathLike) -> list[tuple[str, str]]:
    """Every ``(headword, translation)`` of a dictd dictionary, in index order, without duplicates.

    ``dict_path`` is the ``.dict`` file, plain or dictzip/gzip-compressed (detected by its magic
    bytes). Entries are read once even when several index lines point at them; the ``00database*``
    metadata entries are skipped.
    """
    index_path, dict_path = Path(index_path), Path(dict_path)
    for p, what in ((index_path, "dictd index"), (dict_path, "dictd data")):
        if not p.is_file():
            raise RetokError(f"{what} file {str(p)!r} does not exist; pass the .index and the .dict(.dz) of one dictionary")
    raw = dict_path.read_bytes()
    try:
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError) as e:
        raise RetokError(f"dictd data file {str(dict_path)!r} is a damaged gzip/dictzip file ({e}); download it again") from None
    seen_entries: set[tuple[int, int]] = set()
    pairs: dict[tuple[str, str], None] = {}
    with open(index_path, encoding="utf-8", errors="replace") as f:  # only offsets are read from the index
        for line_no, line in enumerate(f, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 3:
                raise RetokError(f"{index_path}:{line_no}: expected 'headword<TAB>offset<TAB>length', got {line.rstrip()!r}; is this a dictd .index file?")
            if fields[0].startswith(("00database", "00-database")):
                continue
            offset = decode_dictd_number(fields[1], where=f"{index_path}:{line_no}")
            length = decode_dictd_number(fields[2], where=f"{index_path}:{line_no}")
            if offset + length > len(data):
                raise RetokError(
                    f"{index_path}:{line_no}: entry at bytes {offset}..{offset + length} lies past the end of "
                    f"{dict_path.name} ({len(data)} bytes); the .index and .dict files do not belong together"
                )
            if (offset, length) in seen_entries:
                continue
            seen_entries.add((offset, length))
            text = data[offset : offset + length].decode("utf-8", errors="replace")
            for pair in _entry_pairs(text):
                pairs.setdefault(pair, None)
    return list(pairs)


def decode_dictd_number(digits: str, *, where: str = "dictd index") -> int:
    """A dictd base64 number: ``"B"`` is 1, ``"BA"`` is 64, ``"BAK3S"`` is 16821714."""
    value = 0
    for c in digits:
        if c not in _DIGIT:
            raise RetokError(f"{where}: {digits!r} is not a dictd base64 number (digits A-Z a-z 0-9 + /); is this a dictd .index file?")
        value = value * 64 + _DIGIT[c]
    if not digits:
        raise RetokError(f"{where}: empty offset or length; is this a dictd .index file?")
    return value


def _entry_pairs(text: str) -> list[tuple[str, str]]:
    """The ``(headword, translation)`` pairs of one FreeDict entry (see the module docstring)."""
    lines = text.split("\n")
    headword = _clean(lines[0].split(" /", 1)[0])
    if not headword or _FRAGMENT in headword:
        return []
    pairs = []
    for line in lines[1:]:
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent >= _NESTED or _LABEL.match(line):
            continue
        body = _ANNOTATION.sub(" ", _SENSE.sub("", line.strip()))
        pairs += [(headword, t) for t in map(_clean, _SEPARATOR.split(body)) if t and _FRAGMENT not in t]
    return pairs


def _clean(text: str) -> str:
    """Annotations removed and whitespace collapsed."""
    return " ".join(_ANNOTATION.sub(" ", text).split())


def is_single_word(text: str) -> bool:
    """True for a non-empty string without whitespace."""
    return bool(text) and not any(c.isspace() for c in text)


# ----------------------------------------------------------------------------- FreeDict


def freedict(pair: str = "eng-deu", *, single_words: bool = True, progress: bool = True) -> Path:
    """The ``pairs.tsv`` of Debian's FreeDict ``<pair>`` dictionary, fetched on first use.

    ``pair`` is ``<source>-<target>`` in ISO 639-3 codes (``eng-deu``, ``deu-eng``, ``eng-fra``, ...).
    With ``single_words`` (default) the file holds the pairs where both sides are one word;
    otherwise every pair (``pairs-all.tsv``). ``eng-deu`` (19 MB download) gives about 268k
    single-word pairs, e.g. ``house -> Haus``. Needs ``apt-get`` and ``dpkg`` the first time.
    """
    if not isinstance(pair, str) or not _PAIR.match(pair):
        raise RetokError(f"FreeDict pair must look like 'eng-deu' (two ISO 639-3 codes); got {pair!r}. {_freedict_help()}")
    name = SINGLE_FILE if single_words else ALL_FILE
    folder = _cached_freedict(pair)
    if folder is None:
        with build_lock(f"freedict-{pair}", progress=progress):
            folder = _cached_freedict(pair) or _build_freedict(pair, progress=progress)
    return folder / name


def freedict_folders() -> list[Path]:
    """Every ``freedict-*`` folder in the cache, complete or not."""
    root = cache_dir()
    return sorted(p for p in root.glob("freedict-*") if p.is_dir()) if root.is_dir() else []


def freedict_is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished FreeDict build (valid marker and both pair files)."""
    return is_complete(folder, {"asset": "freedict", "format": _FORMAT}, FREEDICT_FILES)


def _cached_freedict(pair: str) -> Path | None:
    """The newest complete cached build of ``pair``, or None."""
    built = [p for p in freedict_folders() if freedict_is_complete(p) and (read_marker(p) or {}).get("pair") == pair]
    return max(built, key=lambda p: str((read_marker(p) or {}).get("version")), default=None)


def _build_freedict(pair: str, *, progress: bool) -> Path:
    package = f"dict-freedict-{pair}"
    with tempfile.TemporaryDirectory(prefix="retok-freedict-") as work:
        say(f"downloading {package} with apt-get ...", progress=progress)
        debs = download_debs([package], Path(work), how_to_fix=_freedict_help())
        version = debs.versions[package]
        dictd = debs.unpacked / "usr" / "share" / "dictd"
        index, data = dictd / f"freedict-{pair}.index", dictd / f"freedict-{pair}.dict.dz"
        if not index.is_file() or not data.is_file():
            raise RetokError(f"{package} {version} has no {index.name} and {data.name} under /usr/share/dictd; pass your own TSV dictionary instead")
        say(f"parsing {package} {version} ...", progress=progress)
        pairs = parse_dictd(index, data)
        single = [(s, t) for s, t in pairs if is_single_word(s) and is_single_word(t)]
        out = cache_dir() / f"freedict-{pair}-{version}"
        with atomic_dir(out, overwrite=True) as tmp:
            write_pairs(tmp / SINGLE_FILE, single)
            write_pairs(tmp / ALL_FILE, pairs)
            info: dict[str, Any] = {"asset": "freedict", "format": _FORMAT, "pair": pair, "package": package, "version": version}
            counts = {"pairs": len(pairs), "single_word_pairs": len(single)}
            write_marker(tmp, {**info, **counts, "files": list(FREEDICT_FILES), "retok_version": __version__})
    say(f"{package}: {len(single):,} single-word pairs ({len(pairs):,} in all) in {out}", progress=progress)
    return out


def _freedict_help() -> str:
    return (
        "Debian ships FreeDict dictionaries as dict-freedict-<src>-<tgt> packages; list them with "
        "`apt-cache search freedict` (run `apt-get update` first, as root, if it finds nothing). "
        "Without apt/dpkg or for another language pair, pass your own dictionary as a TSV file "
        "(one 'source<TAB>target' line per pair) instead"
    )


__all__ = ["DICTD_BASE64", "decode_dictd_number", "freedict", "is_single_word", "load_dictionary", "parse_dictd", "read_pairs", "write_pairs"]
