"""Man pages as a corpus: rendered paragraphs, links skipped, duplicates kept once, clear errors."""

import gzip
import shutil

import pytest

from retok.errors import RetokError
from retok.assets.man_text import render_pages

PAGE = b""".TH DEMO 1
.SH NAME
demo \\- a tiny page for the tests of retok
.SH DESCRIPTION
This page describes a command that does nothing at all, on purpose.
.PP
Short.
"""

needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")


@needs_groff
def test_pages_render_to_paragraphs_and_links_are_skipped(tmp_path):
    (tmp_path / "man1").mkdir()
    (tmp_path / "man1" / "demo.1.gz").write_bytes(gzip.compress(PAGE))
    (tmp_path / "man1" / "copy.1.gz").write_bytes(gzip.compress(PAGE))  # the same paragraphs: kept once
    (tmp_path / "man1" / "alias.1.gz").write_bytes(gzip.compress(b".so man1/demo.1\n"))
    paragraphs = render_pages(tmp_path, progress=False)
    assert sum("This page describes a command that does nothing at all, on purpose." in p for p in paragraphs) == 1
    assert len(paragraphs) == len(set(paragraphs)) and all(len(p.split()) >= 6 for p in paragraphs)


def test_a_folder_without_pages_is_refused(tmp_path):
    with pytest.raises(RetokError, match="no man pages under"):
        render_pages(tmp_path / "nothing", progress=False)
