"""The held-out split: known md5 answers, byte cap, partition, determinism."""

from __future__ import annotations

import hashlib

import pytest

from retok.data import held_out_text, is_held_out, split_paragraphs, train_paragraphs, train_text
from retok.errors import RetokError

# md5 hex digests, checked by hand: gamma 05b048..., nu 0288bd..., café 07117f..., 日本語 00110a...
# (held out); alpha 2c1743..., beta 987bca..., delta 63bcab..., hello 5d4140... (training).
HELD = ["gamma", "nu", "café", "日本語"]
TRAIN = ["alpha", "beta", "delta", "hello"]
LINES = ["alpha\n", "gamma\n", "\n", "beta\n", "   \n", "nu\n", "delta\n", "café\n", "hello\n", "日本語"]


def test_known_md5_answers():
    for p in HELD + TRAIN:
        assert is_held_out(p) == (hashlib.md5(p.encode("utf-8")).hexdigest()[0] in "01")
    assert [is_held_out(p) for p in HELD] == [True] * 4
    assert [is_held_out(p) for p in TRAIN] == [False] * 4


def test_split_keeps_file_order_and_drops_blank_lines():
    train, held = split_paragraphs(LINES)
    assert held == HELD
    assert train == TRAIN


def test_split_strips_only_the_trailing_newline():
    train, held = split_paragraphs(["  alpha  \n", "gamma\r\n", "nu"])
    assert train == ["  alpha  "]
    assert held == ["gamma\r", "nu"]  # the "\r" stays part of the paragraph (md5 005a...)


def test_train_and_held_out_partition_the_paragraphs():
    lines = [f"paragraph {i}" for i in range(200)]
    train, held = split_paragraphs(lines)
    assert sorted(train + held) == sorted(lines)
    assert not set(train) & set(held)
    assert 0 < len(held) < len(train)


def test_split_is_deterministic():
    lines = [f"paragraph {i}" for i in range(100)]
    assert split_paragraphs(lines) == split_paragraphs(list(lines))
    assert split_paragraphs(lines)[1][:3] == ["paragraph 1", "paragraph 2", "paragraph 3"]


def test_held_out_text_joins_with_newlines():
    assert held_out_text(LINES) == "gamma\nnu\ncafé\n日本語"


def test_max_bytes_stops_before_exceeding():
    # "gamma" 5 + "\nnu" 3 = 8 bytes; "\ncafé" adds 6 (é is 2 bytes) -> 14; "\n日本語" adds 10 -> 24.
    assert held_out_text(LINES, max_bytes=14) == "gamma\nnu\ncafé"
    assert held_out_text(LINES, max_bytes=13) == "gamma\nnu"
    assert held_out_text(LINES, max_bytes=8) == "gamma\nnu"
    assert held_out_text(LINES, max_bytes=23) == "gamma\nnu\ncafé"
    assert held_out_text(LINES, max_bytes=24) == "gamma\nnu\ncafé\n日本語"
    for cap in range(5, 40):
        assert len(held_out_text(LINES, max_bytes=cap).encode("utf-8")) <= cap


def test_max_bytes_never_skips_a_paragraph_to_fit_a_later_one():
    lines = ["gamma", "日本語", "nu"]  # 5 bytes, +10 = 15, +3 = 18
    assert held_out_text(lines, max_bytes=10) == "gamma"  # stops; does not jump ahead to "nu"


def test_path_and_lines_give_the_same_text(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("".join(LINES), encoding="utf-8")
    assert held_out_text(f) == held_out_text(LINES)
    assert held_out_text(str(f)) == held_out_text(LINES)
    assert train_paragraphs(f) == TRAIN
    assert train_text(f) == "alpha\nbeta\ndelta\nhello"


def test_no_held_out_paragraph_is_an_error_with_the_count(tmp_path):
    f = tmp_path / "small.txt"
    f.write_text("alpha\nbeta\n\ndelta\n", encoding="utf-8")
    with pytest.raises(RetokError, match=r"has 3 paragraph\(s\) and none of them is held out"):
        held_out_text(f)
    with pytest.raises(RetokError, match="none of them is held out"):
        held_out_text(["alpha"])


def test_all_held_out_has_no_training_text(tmp_path):
    f = tmp_path / "held.txt"
    f.write_text("gamma\nnu\n", encoding="utf-8")
    with pytest.raises(RetokError, match="all of them are held out"):
        train_text(f)


def test_first_paragraph_larger_than_cap_is_an_error():
    with pytest.raises(RetokError, match="raise max_bytes"):
        held_out_text(["gamma"], max_bytes=4)
    with pytest.raises(RetokError, match="positive"):
        held_out_text(["gamma"], max_bytes=0)


def test_missing_file_is_a_retok_error(tmp_path):
    with pytest.raises(RetokError, match="does not exist"):
        held_out_text(tmp_path / "nope.txt")
