"""Bilingual dictionaries: TSV pairs, the dictd format, Debian's FreeDict (faked apt, and one real download)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from retok import assets
from retok import cache as retok_cache
from retok.errors import RetokError
from retok.transfer.static import freedict, load_dictionary, parse_dictd, read_pairs
from retok.transfer.static.dictionary import decode_dictd_number

# A FreeDict-style metadata entry, long enough that later offsets need several base64 digits.
INFO = "00-database-info\nA tiny test dictionary.\n" + "padding line\n" * 20
ENTRIES = {
    "house": "house /hˈaʊs/ <n>\nHaus <neut>, Gebäude [arch.]\n      \"build a house\"  - ein Haus bauen\n"
    "   Synonym: {home}\n\n see: {houses}\n\n",
    "dog": "dog /dˈɒɡ/\n1. Hund <masc> [zool.]; Rüde\n2. Klammer <fem>\n         Note: techn.\n",
    "new york": "New York /njˈuː jˈɔːk/ (NY /ˌɛnwˈaɪ/)\nNew York [geogr.], NY,  /ˌɛnwˈaɪ/\n",
    "terrestrial": "terrestrial /tɪɹˈɛstɹɪəl/\nErd…, irdisch <adj>\n",
}
EXPECTED = [
    ("house", "Haus"),
    ("house", "Gebäude"),
    ("dog", "Hund"),
    ("dog", "Rüde"),
    ("dog", "Klammer"),
    ("New York", "New York"),
    ("New York", "NY"),
    ("terrestrial", "irdisch"),
]


def encode(n: int) -> str:
    """dictd base64, written independently of the decoder under test."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    digits = ""
    while True:
        n, r = divmod(n, 64)
        digits = alphabet[r] + digits
        if n == 0:
            return digits


def write_dictd(folder: Path, name: str = "freedict-eng-deu", *, compress: bool = True) -> tuple[Path, Path]:
    """A dictd .index and .dict(.dz) holding INFO and ENTRIES; "ny" points at the New York entry again."""
    data, index = b"", []
    for headword, text in [("00databaseinfo", INFO), *ENTRIES.items()]:
        raw = text.encode("utf-8")
        index.append(f"{headword}\t{encode(len(data))}\t{encode(len(raw))}")
        if headword == "new york":
            index.append(f"ny\t{encode(len(data))}\t{encode(len(raw))}")
        data += raw
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / f"{name}.index"
    index_path.write_text("\n".join(index) + "\n", encoding="utf-8")
    dict_path = folder / (f"{name}.dict.dz" if compress else f"{name}.dict")
    dict_path.write_bytes(gzip.compress(data) if compress else data)
    return index_path, dict_path


def test_decode_dictd_number():
    assert [decode_dictd_number(s) for s in ("A", "B", "/", "BA", "BAK3S")] == [0, 1, 63, 64, 16_821_714]
    with pytest.raises(RetokError, match="not a dictd base64 number"):
        decode_dictd_number("B=A")


def test_parse_dictd_decodes_base64_offsets(tmp_path):
    index, data = write_dictd(tmp_path)
    assert max(len(line.split("\t")[1]) for line in index.read_text().splitlines()) >= 2  # multi-digit offsets
    assert parse_dictd(index, data) == EXPECTED


def test_parse_dictd_reads_an_uncompressed_dict(tmp_path):
    assert parse_dictd(*write_dictd(tmp_path, compress=False)) == EXPECTED


def test_parse_dictd_reports_a_bad_index_line(tmp_path):
    index, data = write_dictd(tmp_path)
    index.write_text(index.read_text() + "broken line without tabs\n", encoding="utf-8")
    with pytest.raises(RetokError, match=r"\.index:7: expected 'headword<TAB>offset<TAB>length'"):
        parse_dictd(index, data)


def test_parse_dictd_refuses_offsets_past_the_end(tmp_path):
    index, _ = write_dictd(tmp_path)
    small = tmp_path / "other.dict"
    small.write_bytes(b"tiny")
    with pytest.raises(RetokError, match="do not belong together"):
        parse_dictd(index, small)


def test_read_pairs_reports_the_bad_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("house\tHaus\n\ndog\tHund\ncat Katze\n", encoding="utf-8")
    with pytest.raises(RetokError, match=r"d\.tsv:4: expected 'source<TAB>target'.*'cat Katze'"):
        read_pairs(path)
    path.write_text("house\tHaus\n\n dog \tHund\n", encoding="utf-8")
    assert read_pairs(path) == [("house", "Haus"), ("dog", "Hund")]
    for bad in ("cat\t\tKatze", "cat\tKatze\tchat", "cat\t ", "\tKatze"):  # three fields, or an empty one
        path.write_text(f"house\tHaus\r\n{bad}\r\n", encoding="utf-8")
        with pytest.raises(RetokError, match=r"d\.tsv:2: expected 'source<TAB>target'"):
            read_pairs(path)


def test_load_dictionary_names_the_freedict_form_for_a_missing_file(tmp_path):
    with pytest.raises(RetokError, match="does not exist.*'freedict:eng-deu'"):
        load_dictionary(tmp_path / "missing.tsv")


class FakeApt:
    """Stands in for apt-get download and dpkg -x; builds the dictd files of write_dictd."""

    def __init__(self, missing: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.missing = missing

    def __call__(self, cmd, *, cwd=None) -> None:
        self.calls.append(list(cmd))
        if cmd[:2] == ["apt-get", "download"]:
            if self.missing:
                raise subprocess.CalledProcessError(100, cmd, stderr=f"E: Unable to locate package {cmd[2]}")
            (Path(cwd) / f"{cmd[2]}_2022.04.21-1_all.deb").write_bytes(b"deb")
        elif cmd[:2] == ["dpkg", "-x"]:
            write_dictd(Path(cmd[3]) / "usr" / "share" / "dictd")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_freedict_builds_once_and_is_cached(cache, monkeypatch):
    apt = FakeApt()
    monkeypatch.setattr(retok_cache, "run_command", apt)
    path = freedict("eng-deu", progress=False)
    assert path == cache / "freedict-eng-deu-2022.04.21-1" / "pairs.tsv"
    single = [p for p in EXPECTED if " " not in p[0] + p[1]]
    assert read_pairs(path) == single
    assert read_pairs(freedict("eng-deu", single_words=False, progress=False)) == EXPECTED
    assert load_dictionary("freedict:eng-deu") == single
    assert len(apt.calls) == 2  # one download, one unpack; the later calls were cache hits
    row = next(r for r in assets.status() if r.name == "freedict-eng-deu-2022.04.21-1")
    assert row.present and "ready" in row.note


def test_a_pair_debian_does_not_ship_is_a_clear_error(cache, monkeypatch):
    monkeypatch.setattr(retok_cache, "run_command", FakeApt(missing=True))
    with pytest.raises(RetokError, match=r"Unable to locate package dict-freedict-eng-xyz.*apt-cache search freedict.*TSV") as err:
        freedict("eng-xyz", progress=False)
    assert "source<TAB>target" in str(err.value)
    assert not list(cache.glob("freedict-*"))  # nothing half-built is left behind


def test_a_malformed_pair_name_is_a_clear_error():
    with pytest.raises(RetokError, match=r"must look like 'eng-deu'.*apt-cache search freedict"):
        freedict("english-german")


@pytest.mark.slow
def test_real_freedict_eng_deu():
    """The real Debian package (19 MB, ~30 s the first time), in the real cache."""
    pairs = read_pairs(freedict("eng-deu"))
    assert 250_000 < len(pairs) < 320_000
    translations = {t for s, t in pairs if s == "house"}
    assert "Haus" in translations
    assert ("dog", "Hund") in set(pairs) and ("computer", "Rechner") in set(pairs)
