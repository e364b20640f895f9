"""The LibreOffice help corpus: Debian's help packages, and the rules that turn their HTML into paragraphs.

The Debian packages ``libreoffice-help-{en-us,de,fr,es}`` (7.4.7, MPL-2.0) are fetched with
``apt-get download`` (no root needed) and unpacked with ``dpkg -x`` (:func:`fetch_help_tree`);
:func:`extract_lohelp` writes deduplicated paragraphs per language plus en-xx paragraph pairs;
:class:`LoHelp` names the files of an extracted corpus. The cached, build-once entry point is
:func:`retok.assets.lohelp`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from retok.cache import download_debs, say
from retok.errors import RetokError
from retok.progress import bars_on

logger = logging.getLogger(__name__)

LOHELP_VERSION = "7.4.7"
# corpus language -> (Debian package, folder under usr/share/libreoffice/help)
LOHELP_LANGS: dict[str, tuple[str, str]] = {
    "en": ("libreoffice-help-en-us", "en-US"),
    "de": ("libreoffice-help-de", "de"),
    "fr": ("libreoffice-help-fr", "fr"),
    "es": ("libreoffice-help-es", "es"),
}
LOHELP_PAIR_LANGS = ("de", "fr", "es")  # each paired with English
LOHELP_HELP_DIR = Path("usr/share/libreoffice/help")
#: the files a complete corpus folder holds (besides the cache marker)
LOHELP_FILES = (
    *(f"lohelp.{lang}.txt" for lang in LOHELP_LANGS),
    *(f"lohelp.en-{lang}.tsv" for lang in LOHELP_PAIR_LANGS),
    *(f"lohelp.en-{lang}.pages.txt" for lang in LOHELP_PAIR_LANGS),
    "index.json",
)

_BLOCK_TAGS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "br", "td", "th", "pre", "table"})
_SKIP_TAGS = frozenset({"script", "style", "head", "nav"})
_BOILERPLATE = re.compile(r"^(This page is:|Title is:)")
_WHITESPACE = re.compile(r"\s+")
_MIN_WORDS_TEXT = 4  # a monolingual paragraph needs at least this many words
_MIN_WORDS_PAIR = 3  # the English side of a pair needs at least this many words


@dataclass(frozen=True)
class LoHelp:
    """The extracted LibreOffice help corpus in ``root``: paragraphs per language and en-xx pairs."""

    root: Path

    def text(self, lang: str) -> Path:
        """``lohelp.<lang>.txt``: one deduplicated paragraph (>= 4 words) per line; lang in en, de, fr, es."""
        _check_lang(lang, tuple(LOHELP_LANGS), "text")
        return self.root / f"lohelp.{lang}.txt"

    def pairs(self, lang: str) -> Path:
        """``lohelp.en-<lang>.tsv``: ``english<TAB>translation`` per line; lang in de, fr, es."""
        _check_lang(lang, LOHELP_PAIR_LANGS, "pairs")
        return self.root / f"lohelp.en-{lang}.tsv"

    def pair_pages(self, lang: str) -> Path:
        """``lohelp.en-<lang>.pages.txt``: the help page (relative path) of each line of :meth:`pairs`, line for line."""
        _check_lang(lang, LOHELP_PAIR_LANGS, "pair_pages")
        return self.root / f"lohelp.en-{lang}.pages.txt"

    def index(self) -> dict[str, Any]:
        """The contents of ``index.json``: line and byte counts of every file, package versions."""
        return json.loads((self.root / "index.json").read_text(encoding="utf-8"))


def _check_lang(lang: str, allowed: Sequence[str], what: str) -> None:
    if lang not in allowed:
        raise RetokError(f"unknown language {lang!r} for LoHelp.{what}(); choose one of {', '.join(allowed)}")


# ----------------------------------------------------------------------------- download


def fetch_help_tree(work_dir: Path, *, progress: bool) -> tuple[Path, dict[str, str]]:
    """Download and unpack the help packages into ``work_dir``; return the help folder and ``{package: version}``.

    The help folder is ``usr/share/libreoffice/help`` of the unpacked packages, the input of
    :func:`extract_lohelp`. Another version than 7.4.7 is used with a warning.
    """
    packages = [pkg for pkg, _ in LOHELP_LANGS.values()]
    say(f"downloading {', '.join(packages)} with apt-get (12 MB) ...", progress=progress)
    debs = download_debs(packages, work_dir, how_to_fix=_apt_help(packages))
    for name, version in debs.versions.items():
        if f":{LOHELP_VERSION}-" not in version and not version.startswith(f"{LOHELP_VERSION}-"):
            logger.warning("%s is version %s, not %s: corpus sizes will differ from the reference", name, version, LOHELP_VERSION)
    return debs.unpacked / LOHELP_HELP_DIR, debs.versions


def _apt_help(packages: Sequence[str]) -> str:
    """How to get the corpus by hand, or do without it."""
    return (
        f"the LibreOffice help corpus needs the Debian packages {', '.join(packages)} "
        f"(fetched with `apt-get download {' '.join(packages)}` and unpacked with `dpkg -x FILE.deb DIR`; "
        "if apt cannot find them, run `apt-get update` first, as root); "
        "on a system without apt/dpkg, pass your own text file instead (--text FILE)"
    )


# ----------------------------------------------------------------------------- extraction


class _HelpParser(HTMLParser):
    """Collects text, with a newline at the start and end of every block tag; skips script/style/head/nav."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.chunks.append(data)


def html_paragraphs(html: str) -> list[str]:
    """The paragraphs of one help page: whitespace collapsed, empty and boilerplate lines dropped.

    Every newline in the text (from a block tag or from the HTML source itself) ends a line;
    lines starting with "This page is:" or "Title is:" are page boilerplate.
    """
    parser = _HelpParser()
    parser.feed(html)
    parser.close()
    lines = (_WHITESPACE.sub(" ", line).strip() for line in "".join(parser.chunks).split("\n"))
    return [line for line in lines if line and not _BOILERPLATE.match(line)]


def _read_html(path: Path) -> str:
    # text mode on purpose: universal newlines turn a lone "\r" into a line break, as the reference run did
    return path.read_text(encoding="utf-8", errors="ignore")


def extract_lohelp(
    help_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    langs: Sequence[str] = tuple(LOHELP_LANGS),
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``lohelp.<lang>.txt`` and ``lohelp.en-<lang>.tsv`` from an unpacked help tree; return the counts.

    ``help_dir`` is ``usr/share/libreoffice/help`` of the unpacked packages, holding one folder
    per language (``en-US``, ``de``, ...). The rules, kept fixed so that the numbers match across
    machines:

    * pages: every ``*.html`` under ``en-US`` (the whole tree), by sorted relative path; the
      same relative path in another language is its translation (missing means no page);
    * text: a language's paragraphs in page order, kept when they have >= 4 words, first
      occurrence wins;
    * pairs: for pages with the same paragraph count in English and the other language, the
      paragraphs zipped; kept when the English side has >= 3 words and differs from the other,
      first occurrence of each pair wins; tabs inside a paragraph become spaces; the page of
      each pair line goes to ``lohelp.en-<lang>.pages.txt``, line for line.
    """
    help_dir, out_dir = Path(help_dir), Path(out_dir)
    if "en" not in langs:
        raise RetokError(f"extract_lohelp needs 'en' among langs (pages are found and paired through English), got {list(langs)}")
    roots = {lang: help_dir / LOHELP_LANGS[lang][1] for lang in langs}
    for lang, root in roots.items():
        if not root.is_dir():
            raise RetokError(f"help folder {str(root)!r} for {lang!r} is missing; unpack {LOHELP_LANGS[lang][0]} into {help_dir}")
    pages = sorted(
        os.path.relpath(os.path.join(dirpath, name), roots["en"])
        for dirpath, _, names in os.walk(roots["en"])
        for name in names
        if name.endswith(".html")
    )
    if not pages:
        raise RetokError(f"no .html pages under {str(roots['en'])!r}; is it an unpacked libreoffice-help-en-us?")
    paragraphs: dict[str, dict[str, list[str]]] = {lang: {} for lang in langs}
    for page in tqdm(pages, desc="lohelp: extract pages", unit="page", disable=not bars_on(progress)):
        for lang, root in roots.items():
            path = root / page
            if path.is_file():
                paragraphs[lang][page] = html_paragraphs(_read_html(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"pages": len(pages), "files": {}}
    for lang in langs:
        lines = _monolingual(paragraphs[lang], pages)
        index["files"][f"lohelp.{lang}.txt"] = _write_lines(out_dir / f"lohelp.{lang}.txt", lines)
    for lang in (lang for lang in LOHELP_PAIR_LANGS if lang in langs):
        lines, line_pages, aligned = _pairs(paragraphs["en"], paragraphs[lang], pages)
        entry = _write_lines(out_dir / f"lohelp.en-{lang}.tsv", lines)
        index["files"][f"lohelp.en-{lang}.tsv"] = {**entry, "aligned_pages": aligned}
        index["files"][f"lohelp.en-{lang}.pages.txt"] = _write_lines(out_dir / f"lohelp.en-{lang}.pages.txt", line_pages)
    return index


def _monolingual(by_page: Mapping[str, list[str]], pages: Sequence[str]) -> list[str]:
    """Paragraphs with >= 4 words in page order, first occurrence wins."""
    seen: set[str] = set()
    out = []
    for page in pages:
        for p in by_page.get(page, []):
            if len(p.split()) >= _MIN_WORDS_TEXT and p not in seen:
                seen.add(p)
                out.append(p)
    return out


def _pairs(en: Mapping[str, list[str]], xx: Mapping[str, list[str]], pages: Sequence[str]) -> tuple[list[str], list[str], int]:
    """``en<TAB>xx`` lines from pages with equal paragraph counts, the page of each line, and how many pages aligned."""
    seen: set[tuple[str, str]] = set()
    out = []
    line_pages = []
    aligned = 0
    for page in pages:
        a, b = en.get(page, []), xx.get(page, [])
        if len(a) != len(b):
            continue
        aligned += 1
        for x, y in zip(a, b):
            if len(x.split()) >= _MIN_WORDS_PAIR and x != y and (x, y) not in seen:
                seen.add((x, y))
                out.append(x.replace("\t", " ") + "\t" + y.replace("\t", " "))
                line_pages.append(page)
    return out, line_pages, aligned


def _write_lines(path: Path, lines: Sequence[str]) -> dict[str, int]:
    """Write one line per item (UTF-8, ``\\n``); return ``{"lines": ..., "bytes": ...}``."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    return {"lines": len(lines), "bytes": path.stat().st_size}


__all__ = [
    "LOHELP_FILES",
    "LOHELP_HELP_DIR",
    "LOHELP_LANGS",
    "LOHELP_PAIR_LANGS",
    "LOHELP_VERSION",
    "LoHelp",
    "extract_lohelp",
    "fetch_help_tree",
    "html_paragraphs",
]
