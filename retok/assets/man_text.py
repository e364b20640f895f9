"""The system's man pages as a corpus: every page under ``/usr/share/man`` rendered to paragraphs with groff.

Debian and Ubuntu images ship these pages (about 22k English pages in sections 1-8 on the
reference image, plus a few hundred German, French and Spanish translations);
``groff -man -Tutf8`` renders each one, paragraphs are the blocks between blank lines with
their whitespace collapsed, and a paragraph needs at least :data:`MIN_WORDS` words. Duplicate
paragraphs (boilerplate such as "SEE ALSO" lists repeated across pages) are kept once. Pages
that are links to other pages (``.so``) are skipped. Rendering runs ``groff`` processes in
parallel threads, one per core. The cached, build-once entry point is :func:`retok.assets.manpages`.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from retok.errors import RetokError
from retok.progress import bars_on

MAN_ROOT = Path("/usr/share/man")
MIN_WORDS = 6
_BLANK = re.compile(r"\n\s*\n")


def render_page(path: Path) -> list[str]:
    """The paragraphs of one (gzipped or plain) man page; [] for a ``.so`` link or a page groff cannot render."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            return []
    if raw.startswith(b".so "):
        return []
    done = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-Kutf8"], input=raw, capture_output=True, timeout=60)
    text = done.stdout.decode("utf-8", "ignore")
    paragraphs = (" ".join(block.split()) for block in _BLANK.split(text))
    return [p for p in paragraphs if len(p.split()) >= MIN_WORDS]


def render_pages(root: Path = MAN_ROOT, *, max_pages: int | None = None, workers: int = 2, progress: bool = True) -> list[str]:
    """Unique paragraphs of the pages anywhere under ``root`` (sorted by path; links skipped), in page order."""
    if shutil.which("groff") is None:
        raise RetokError("rendering man pages needs groff (Debian: apt-get install groff-base)")
    pages = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else []
    if not pages:
        raise RetokError(f"no man pages under {str(root)!r}; install them (Debian: apt-get install man-db manpages) or pass your own text")
    pages = pages[:max_pages]
    seen: set[str] = set()
    out: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for paragraphs in tqdm(pool.map(render_page, pages), total=len(pages), desc="rendering man pages", unit="page",
                               disable=not bars_on(progress)):
            for p in paragraphs:
                if p not in seen:
                    seen.add(p)
                    out.append(p)
    return out


__all__ = ["MAN_ROOT", "MIN_WORDS", "render_page", "render_pages"]
