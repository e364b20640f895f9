"""StaticVectors: fastText subword composition, word2vec text files, rotations."""

from __future__ import annotations

import random

import numpy as np
import pytest

from retok.errors import RetokError
from retok.transfer.static import StaticVectors, train_fasttext
from retok.transfer.static import fasttext_bin
from retok.transfer.static.vectors import ngram_hashes

MINN, MAXN = 3, 4
WORDS = [f"w{i}" for i in range(150)] + ["haus", "maus", "hausen", "katze", "Häuser"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny fastText model (dim 16, n-grams 3..4), trained in well under a second."""
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(300)]
    out = tmp_path_factory.mktemp("fasttext") / "model.bin"
    return train_fasttext(lines, dim=16, epochs=2, min_count=1, minn=MINN, maxn=MAXN, bucket=5000, threads=1, cache=False, out=out, progress=False)


@pytest.fixture(scope="module")
def vectors(model_path):
    return StaticVectors.load(model_path)


@pytest.fixture(scope="module")
def fasttext_model(model_path):
    """The same file read by the fastText library itself: the reference for every composition."""
    import fasttext

    return fasttext.load_model(str(model_path))


def fasttext_average(model, ids):
    return np.mean([model.get_input_vector(i) for i in ids], axis=0)


def test_load_bin_reads_the_vocabulary_without_the_end_of_line_word(vectors):
    assert vectors.has_subwords and vectors.dim == 16
    assert sorted(vectors.words) == sorted(WORDS)
    assert "haus" in vectors and "</s>" not in vectors
    assert vectors.word_matrix().shape == (len(WORDS), 16) and vectors.word_matrix().dtype == np.float32


def test_every_vocabulary_vector_equals_fasttexts_get_word_vector(vectors, fasttext_model):
    want = np.stack([fasttext_model.get_word_vector(w) for w in vectors.words])
    np.testing.assert_allclose(vectors.word_matrix(), want, atol=1e-6)


def test_the_input_matrix_is_memory_mapped_not_read(vectors, fasttext_model):
    assert isinstance(vectors._model.input, np.memmap)
    np.testing.assert_array_equal(vectors._model.input, fasttext_model.get_input_matrix())


def test_rows_read_window_by_window_are_the_input_rows(vectors, fasttext_model, monkeypatch):
    matrix = fasttext_model.get_input_matrix()
    ids = np.sort(np.random.default_rng(0).integers(0, len(matrix), 500))  # repeats included
    monkeypatch.setattr(fasttext_bin, "WINDOW_BYTES", 7 * 4 * vectors.dim)  # 7 rows a window: offsets off the page grid
    parts = list(vectors._model.read_rows(ids))
    assert len(parts) > 1 and [(a, b) for a, b, _ in parts] == sorted((a, b) for a, b, _ in parts)
    assert parts[0][0] == 0 and parts[-1][1] == len(ids) and all(p[1] == q[0] for p, q in zip(parts, parts[1:]))
    np.testing.assert_array_equal(np.concatenate([rows for _, _, rows in parts]), matrix[ids])


def test_full_word_composition_matches_fasttext(vectors, fasttext_model):
    model = fasttext_model
    for word in ["hauskatze", "Häuserchen", "xq", "zzzzzzzz"]:  # out of vocabulary, one non-ASCII
        assert word not in vectors
        np.testing.assert_allclose(vectors.word_vector(word), model.get_word_vector(word), atol=1e-6)
    for word in ["haus", "Häuser"]:
        np.testing.assert_allclose(vectors.word_vector(word), model.get_word_vector(word), atol=1e-6)


def test_nothing_to_compose_gives_none(vectors, fasttext_model):
    assert not fasttext_model.get_word_vector("").any()  # fastText: "<>" has no 3-gram, so zeros
    assert vectors.word_vector("") is None


def test_word_start_token_averages_its_begin_marked_ngrams_and_word_row(vectors, fasttext_model):
    model = fasttext_model
    start_ngrams = ["<ha", "<hau", "hau", "haus", "aus"]  # n-grams of "<haus", lengths 3..4, no "haus>"
    expected = fasttext_average(model, [model.get_word_id("haus")] + [model.get_subword_id(g) for g in start_ngrams])
    got, found = vectors.token_vectors(["haus"], [True])
    assert found.tolist() == [True]
    np.testing.assert_allclose(got[0], expected, atol=1e-6)


def test_continuation_token_averages_its_unmarked_ngrams_only(vectors, fasttext_model):
    model = fasttext_model
    expected = fasttext_average(model, [model.get_subword_id(g) for g in ["hau", "haus", "aus"]])
    got, found = vectors.token_vectors(["haus"], [False])
    assert found.tolist() == [True]
    np.testing.assert_allclose(got[0], expected, atol=1e-6)


def test_word_start_and_continuation_tokens_differ(vectors):
    got, found = vectors.token_vectors(["haus", "haus", "ab", "ab"], [True, False, True, False])
    assert found.tolist() == [True, True, True, False]  # "<ab" has a 3-gram, "ab" has none
    assert not np.allclose(got[0], got[1])
    assert not got[3].any()


def test_without_subwords_only_word_start_vocabulary_tokens_have_vectors():
    vectors = StaticVectors.from_matrix(["haus", "maus"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert not vectors.has_subwords
    got, found = vectors.token_vectors(["haus", "haus", "hausen"], [True, False, True])
    assert found.tolist() == [True, False, False]
    np.testing.assert_array_equal(got, [[0, 1, 2], [0, 0, 0], [0, 0, 0]])
    assert vectors.word_vector("hausen") is None


def test_token_vectors_need_one_flag_per_text(vectors):
    with pytest.raises(RetokError, match="2 texts but 1 word_start"):
        vectors.token_vectors(["a", "b"], [True])


def fasttext_hash(text):
    """fastText's Dictionary::hash, byte by byte: FNV-1a with each byte XORed in as uint32(int8(byte))."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ ((byte - 256 if byte >= 0x80 else byte) & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


def reference_ngram_hashes(marked, minn, maxn, bow, eow):
    """One list per string: the hashes of its n-grams by start, then length, as fastText's computeSubwords walks them."""
    out = []
    for text, b, e in zip(marked, bow, eow):
        size, hashes = len(text), []
        for i in range(size):
            for n in range(max(minn, 1), min(maxn, size - i) + 1):
                if not (n == 1 and ((b and i == 0) or (e and i == size - 1))):
                    hashes.append(fasttext_hash(text[i : i + n]))
        out.append(hashes)
    return out


def random_text(rng):
    """Empty, short or long; ASCII, Latin-1, Greek, CJK (3 UTF-8 bytes), emoji (4 bytes), markers and NUL."""
    alphabet = "ab<>z0 \x00äöüßéÿΩλ中文字\U0001F600\U00010348\u00a0"
    length = rng.choice([0, 1, 2, 3, rng.randint(4, 12), rng.randint(100, 300)])
    return "".join(rng.choice(alphabet) for _ in range(length))


def test_fasttext_hash_reference_is_fasttexts_own_subword_id(vectors, fasttext_model):
    model = fasttext_model
    bucket, n_words = model.f.getArgs().bucket, model.get_input_matrix().shape[0] - model.f.getArgs().bucket
    assert fasttext_hash("") == 2166136261 and fasttext_hash("a") == 0xE40C292C  # FNV-1a's published values
    rng = random.Random(1)
    for text in ["<hä", "ÿ", "中文", "\U0001F600", "ab>", "\x00"] + [random_text(rng) for _ in range(200)]:
        assert model.get_subword_id(text) == n_words + fasttext_hash(text) % bucket, text


@pytest.mark.parametrize("minn, maxn", [(3, 6), (1, 4), (2, 2), (5, 3), (0, 1)])
def test_vectorized_ngram_hashes_equal_the_reference_loop(minn, maxn):
    rng = random.Random(minn * 10 + maxn)
    marked = [random_text(rng) for _ in range(400)]
    bow = np.array([rng.random() < 0.5 for _ in marked])
    eow = np.array([rng.random() < 0.5 for _ in marked])
    hashes, counts = ngram_hashes(marked, minn=minn, maxn=maxn, bow=bow, eow=eow)
    want = reference_ngram_hashes(marked, minn, maxn, bow, eow)
    assert hashes.dtype == np.uint32 and counts.tolist() == [len(w) for w in want]
    assert hashes.tolist() == [h for w in want for h in w]


def test_ngram_hashes_of_no_strings_and_of_empty_strings_are_empty():
    for marked in [[], ["", ""]]:
        hashes, counts = ngram_hashes(marked, minn=3, maxn=6, bow=np.ones(len(marked), bool), eow=np.zeros(len(marked), bool))
        assert hashes.shape == (0,) and counts.tolist() == [0] * len(marked)


def test_many_tokens_at_once_equal_fasttexts_average_token_by_token(vectors, fasttext_model):
    model = fasttext_model
    texts = ["haus", "haus", "", "Häuser", "ab", "katzenhäuser", "中文字符", "w1", "w1"]
    starts = [True, False, True, True, True, False, True, True, False]
    got, found = vectors.token_vectors(texts, starts)
    for text, start, row, ok in zip(texts, starts, got, found):
        marked = "<" + text if start else text
        ids = [model.get_subword_id(marked[i : i + n]) for i in range(len(marked)) for n in range(MINN, min(MAXN, len(marked) - i) + 1)]
        ids = ([model.get_word_id(text)] if start and text in vectors else []) + ids
        assert ok == bool(ids), text
        np.testing.assert_allclose(row, fasttext_average(model, ids) if ids else 0, atol=1e-6, err_msg=text)


def test_vec_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    words = ["haus", "Häuser", "3d", "x"]
    matrix = rng.standard_normal((4, 7)).astype(np.float32) * np.float32(1e3)
    path = StaticVectors.from_matrix(words, matrix).save(tmp_path / "v.vec")
    loaded = StaticVectors.load(path)
    assert loaded.words == words
    np.testing.assert_array_equal(loaded.word_matrix(), matrix)  # 9 digits: float32 exactly
    with pytest.raises(RetokError, match="already exists"):
        StaticVectors.from_matrix(words, matrix).save(path)


def test_text_file_header_is_optional_and_trailing_spaces_are_fine(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("haus 1 2 \nmaus 3 4 \n", encoding="utf-8")  # fastText's .vec lines end with a space
    loaded = StaticVectors.load(path)
    assert loaded.words == ["haus", "maus"]
    np.testing.assert_array_equal(loaded.word_matrix(), [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("2 2\nhaus 1 2\nmaus 3\n", r"v\.vec:3: expected a word and 2 numbers"),
        ("haus 1 2\nhaus 3 4\n", r"v\.vec:2: word 'haus' already appeared on line 1"),
        ("haus 1 x\n", r"v\.vec:1: the values of 'haus' are not all numbers"),
        ("3 2\nhaus 1 2\n", "header says 3 vectors but the file has 1"),
    ],
)
def test_bad_text_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "v.vec"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RetokError, match=message):
        StaticVectors.load(path)


def test_unknown_file_type_is_a_clear_error(tmp_path):
    path = tmp_path / "v.npy"
    path.write_bytes(b"")
    with pytest.raises(RetokError, match=r"\.bin.*\.vec or \.txt"):
        StaticVectors.load(path)


def test_rotation_is_applied_to_every_vector(vectors):
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((16, 16)))[0].astype(np.float32)
    turned = vectors.rotated(rotation)
    np.testing.assert_allclose(turned.word_matrix(), vectors.word_matrix() @ rotation, atol=1e-5)
    for word in ["haus", "hauskatze"]:  # in the vocabulary, composed from subwords
        np.testing.assert_allclose(turned.word_vector(word), vectors.word_vector(word) @ rotation, atol=1e-5)
    texts, starts = ["haus", "haus", "ab"], [True, False, False]
    plain, plain_found = vectors.token_vectors(texts, starts)
    got, found = turned.token_vectors(texts, starts)
    np.testing.assert_array_equal(found, plain_found)
    np.testing.assert_allclose(got, plain @ rotation, atol=1e-5)
    twice = turned.rotated(rotation.T)  # rotations compose: R then R^T is the identity
    np.testing.assert_allclose(twice.word_matrix(), vectors.word_matrix(), atol=1e-5)
    assert vectors.rotation is None  # the original is untouched


def test_rotation_must_be_orthogonal_and_square():
    vectors = StaticVectors.from_matrix(["a"], [[1.0, 0.0]])
    with pytest.raises(RetokError, match="not orthogonal"):
        vectors.rotated([[2.0, 0.0], [0.0, 1.0]])
    with pytest.raises(RetokError, match=r"shape \(2, 2\)"):
        vectors.rotated(np.eye(3))


def test_from_matrix_refuses_mismatched_rows_and_duplicates():
    with pytest.raises(RetokError, match="2 words but 1 matrix rows"):
        StaticVectors.from_matrix(["a", "b"], [[1.0]])
    with pytest.raises(RetokError, match="'a' appears twice"):
        StaticVectors.from_matrix(["a", "a"], [[1.0], [2.0]])


@pytest.mark.parametrize("keep", [0, 20, 200])
def test_a_cut_off_fasttext_model_is_a_clear_error(tmp_path, model_path, keep):
    path = tmp_path / "cut.bin"
    path.write_bytes(model_path.read_bytes()[:keep])
    with pytest.raises(RetokError, match="is it a .bin written by fastText"):
        StaticVectors.load(path)


def test_a_bin_that_is_not_a_fasttext_model_is_a_clear_error(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"not a model")
    with pytest.raises(RetokError, match="is it a .bin written by fastText"):
        StaticVectors.load(path)
