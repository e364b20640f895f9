"""train_fasttext: caching by corpus and settings, reproducibility, clear errors for bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from retok.errors import RetokError
from retok.transfer.static import StaticVectors, train
from retok.transfer.static.train import MIN_TRAIN_WORDS, train_fasttext

TINY = {"dim": 8, "epochs": 1, "min_count": 1, "minn": 3, "maxn": 4, "bucket": 2000, "threads": 1, "progress": False}


def corpus(n_lines: int = 200, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = [f"wort{i}" for i in range(100)]
    return [" ".join(rng.choice(words) for _ in range(10)) for _ in range(n_lines)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_train_fasttext_is_cached(cache, monkeypatch):
    path = train_fasttext(corpus(), **TINY)
    assert path.parent.parent == cache / "fasttext" and path.name == "model.bin"
    marker = json.loads((path.parent / "retok_asset.json").read_text())
    assert marker["words"] == 2000 and marker["vocabulary"] == 100 and marker["settings"]["dim"] == 8

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(train, "_train", no_training)
    assert train_fasttext(corpus(), **TINY) == path  # same text, same settings: a hit
    assert train_fasttext(iter(corpus()), **TINY) == path  # any iterable of the same lines
    with pytest.raises(AssertionError, match="must not train"):
        train_fasttext(corpus(), **{**TINY, "epochs": 2})  # another setting: another model
    with pytest.raises(AssertionError, match="must not train"):
        train_fasttext(corpus(seed=1), **TINY)  # another text: another model


def test_a_file_corpus_and_its_lines_share_the_cache(cache, tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(corpus()) + "\n", encoding="utf-8")
    assert train_fasttext(text, **TINY) == train_fasttext(corpus(), **TINY)


def test_one_thread_and_a_seed_reproduce_the_model(tmp_path):
    paths = {name: tmp_path / f"{name}.bin" for name in ("a", "b", "c")}
    train_fasttext(corpus(), **TINY, seed=0, cache=False, out=paths["a"])
    train_fasttext(corpus(), **TINY, seed=0, cache=False, out=paths["b"])
    train_fasttext(corpus(), **TINY, seed=1, cache=False, out=paths["c"])  # fastText alone treats seeds 0 and 1 alike
    a, b, c = (StaticVectors.load(p).word_matrix() for p in paths.values())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_out_is_not_overwritten_without_the_flag(tmp_path):
    out = tmp_path / "model.bin"
    out.write_bytes(b"keep me")
    with pytest.raises(RetokError, match="already exists; pass overwrite=True"):
        train_fasttext(corpus(), **TINY, cache=False, out=out)
    assert out.read_bytes() == b"keep me"
    train_fasttext(corpus(), **TINY, cache=False, out=out, overwrite=True)
    assert StaticVectors.load(out).has_subwords


def test_out_is_a_copy_of_the_cached_model(cache, tmp_path):
    out = train_fasttext(corpus(), **TINY, out=tmp_path / "copy.bin")
    assert out.read_bytes() == train_fasttext(corpus(), **TINY).read_bytes()


def test_corpus_too_small_is_a_clear_error(cache):
    few = ["ein haus", "zwei häuser"] * 20  # 80 words
    with pytest.raises(RetokError, match=r"too small.*80 words \(4 distinct\).*lower min_count") as err:
        train_fasttext(few, **TINY)
    assert f"at least {MIN_TRAIN_WORDS:,}" in str(err.value)
    with pytest.raises(RetokError, match=r"only 0 are occurrences of the 0 words seen at least min_count=5"):
        train_fasttext(corpus(), **{**TINY, "min_count": 5_000})  # enough text, but min_count empties the vocabulary


def test_empty_corpus_is_a_clear_error(cache, tmp_path):
    with pytest.raises(RetokError, match="corpus is empty"):
        train_fasttext(["", "  ", "!!! ..."], **TINY)
    with pytest.raises(RetokError, match="not an existing file"):
        train_fasttext(str(tmp_path / "missing.txt"), **TINY)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dim": 0}, "dim must be an integer >= 1"),
        ({"model": "glove"}, "unknown fastText model 'glove'"),
        ({"minn": 5, "maxn": 3}, "minn must be between 1 and maxn=3"),
        ({"minn": 3, "maxn": 0}, "maxn=0 trains without subwords, so minn must be 0"),
        ({"words": "bpe"}, "unknown words mode 'bpe'"),
        ({"lr": 0}, "lr must be a positive number"),
        ({"threads": True}, "threads must be an integer"),
    ],
)
def test_bad_settings_are_clear_errors(cache, change, message):
    with pytest.raises(RetokError, match=message):
        train_fasttext(corpus(), **{**TINY, **change})


def test_regex_words_keep_case_and_digits_and_as_is_keeps_units(tmp_path):
    lines = ["Das Haus-Tür, 2024!", "", "Ġein Ġhaus"]
    _, regex = train._prepare(lines, tmp_path / "a.txt", words="regex")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "Das Haus Tür 2024\nĠein Ġhaus\n"
    _, as_is = train._prepare(lines, tmp_path / "b.txt", words="as-is")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "Das Haus-Tür, 2024!\nĠein Ġhaus\n"
    assert regex["Haus"] == 1 and as_is["Haus-Tür,"] == 1


def test_training_without_subwords_gives_plain_word_vectors(tmp_path):
    path = train_fasttext(corpus(), **{**TINY, "minn": 0, "maxn": 0}, cache=False, out=tmp_path / "plain.bin")
    vectors = StaticVectors.load(path)
    assert not vectors.has_subwords
    assert vectors.word_vector("unbekannt") is None
