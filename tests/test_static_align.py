"""Procrustes alignment of static vectors through a dictionary."""

from __future__ import annotations

import numpy as np
import pytest

from retok.errors import RetokError
from retok.transfer.static import StaticVectors, align, pairs_in_vocab, procrustes


def random_rotation(d: int, seed: int = 0) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


def rotated_copy(n: int = 400, d: int = 16, seed: int = 0) -> tuple[StaticVectors, StaticVectors, np.ndarray]:
    """English words ``en<i>`` and German ``de<i>`` whose vectors are the English ones rotated."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    q = random_rotation(d, seed).astype(np.float32)
    en = StaticVectors.from_matrix([f"en{i}" for i in range(n)], x)
    de = StaticVectors.from_matrix([f"de{i}" for i in range(n)], x @ q)
    return en, de, q


def test_procrustes_recovers_a_known_rotation():
    a = np.random.default_rng(1).standard_normal((50, 8))
    q = random_rotation(8, seed=2)
    r = procrustes(a, a @ q)
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, q, atol=1e-5)
    np.testing.assert_allclose(r.T @ r, np.eye(8), atol=1e-5)


def test_procrustes_refuses_mismatched_shapes():
    with pytest.raises(RetokError, match="same shape"):
        procrustes(np.zeros((3, 2)), np.zeros((3, 4)))


def test_align_precision_is_one_for_a_rotated_copy():
    en, de, q = rotated_copy()
    pairs = [(f"en{i}", f"de{i}") for i in range(400)]
    result = align(en, de, pairs, held_out=100, identical=False)
    assert (result.train_pairs, result.test_pairs, result.identical_pairs) == (300, 100, 0)
    assert result.precision_at_1 == 1.0
    np.testing.assert_allclose(result.rotation, q, atol=1e-4)  # centring commutes with a rotation


def test_align_precision_is_low_for_unrelated_spaces():
    en, _, _ = rotated_copy(seed=0)
    _, de, _ = rotated_copy(seed=1)
    result = align(en, de, [(f"en{i}", f"de{i}") for i in range(400)], held_out=100, identical=False)
    assert result.precision_at_1 < 0.1


def test_rotation_is_fitted_on_unit_length_mean_centred_vectors():
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((60, 8)) * rng.uniform(0.5, 3, (60, 1)) + 2.0  # uneven lengths, off-centre
    xt = rng.standard_normal((60, 8)) - 1.0
    en = StaticVectors.from_matrix([f"en{i}" for i in range(60)], xs)
    de = StaticVectors.from_matrix([f"de{i}" for i in range(60)], xt)

    def unit(m):
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def prepare(m):
        m = unit(m)
        return unit(m - m.mean(axis=0))

    pairs = [(f"en{i}", f"de{(7 * i) % 60}") for i in range(0, 60, 2)]  # half of the words, shuffled
    rows_s, rows_t = [int(s[2:]) for s, _ in pairs], [int(t[2:]) for _, t in pairs]
    expected = procrustes(prepare(xs)[rows_s], prepare(xt)[rows_t])  # means over the whole vocabularies
    result = align(en, de, pairs, held_out=0, identical=False)
    np.testing.assert_allclose(result.rotation, expected, atol=1e-5)


def test_held_out_split_is_by_source_word_and_seeded():
    en, de, _ = rotated_copy()
    pairs = [(f"en{i}", f"de{j}") for i in range(400) for j in (i, (i + 1) % 400)]  # two translations each
    first = align(en, de, pairs, held_out=30, identical=False, seed=3)
    again = align(en, de, pairs, held_out=30, identical=False, seed=3)
    other = align(en, de, pairs, held_out=30, identical=False, seed=4)
    assert first.test_pairs == 60  # both translations of each held-out word are held out
    np.testing.assert_array_equal(first.rotation, again.rotation)
    assert not np.array_equal(first.rotation, other.rotation)
    assert first.precision_at_1 == again.precision_at_1


def test_held_out_is_at_most_half_of_the_source_words():
    en, de, _ = rotated_copy(n=40)
    result = align(en, de, [(f"en{i}", f"de{i}") for i in range(40)], held_out=300, identical=False)
    assert (result.train_pairs, result.test_pairs) == (20, 20)
    none_held = align(en, de, [(f"en{i}", f"de{i}") for i in range(40)], held_out=0, identical=False)
    assert none_held.test_pairs == 0 and none_held.precision_at_1 is None


def test_identical_strings_are_extra_training_pairs_but_not_for_held_out_words():
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    en = StaticVectors.from_matrix(["Berlin", "Paris", "one", "two", "three", "four"], x)
    de = StaticVectors.from_matrix(["Berlin", "Paris", "eins", "zwei", "drei", "vier"], x)
    pairs = [("one", "eins"), ("two", "zwei"), ("three", "drei"), ("four", "vier"), ("Berlin", "Berlin")]
    result = align(en, de, pairs, held_out=0)
    assert (result.train_pairs, result.identical_pairs) == (5, 1)  # Paris; Berlin is a dictionary pair already
    assert align(en, de, pairs, held_out=0, identical=False).identical_pairs == 0
    for seed in range(10):  # Paris and Berlin are held out for some seeds; an identical pair must not bring them back
        held = align(en, de, pairs + [("Paris", "Paris")], held_out=2, seed=seed)
        assert held.identical_pairs == 0


def test_pairs_in_vocab_tries_case_variants():
    en = StaticVectors.from_matrix(["House", "berlin", "dog"], np.eye(3, dtype=np.float32))
    de = StaticVectors.from_matrix(["haus", "Berlin", "Hund", "hund"], np.eye(4, 3, dtype=np.float32))
    pairs = [("house", "Haus"), ("Berlin", "berlin"), ("dog", "Hund"), ("cat", "Katze")]
    assert pairs_in_vocab(pairs, en, de) == [("House", "haus"), ("berlin", "Berlin"), ("dog", "Hund"), ("dog", "hund")]
    assert pairs_in_vocab(pairs, en, de, case_variants=False) == [("dog", "Hund")]


def test_pairs_in_vocab_is_every_variant_combination_in_dictionary_order():
    rng = np.random.default_rng(0)
    spellings = ["haus", "Haus", "HAUS", "hAUS", "straße", "Straße", "ǆungla", "ǅungla", "dog", "Dog"]
    en = StaticVectors.from_matrix(spellings[::2], np.eye(5, dtype=np.float32))
    de = StaticVectors.from_matrix(spellings[1::2], np.eye(5, dtype=np.float32))
    pairs = [(spellings[i], spellings[j]) for i, j in rng.integers(0, len(spellings), (200, 2))]

    def variants(word):  # as is, lower, title: each once
        return list(dict.fromkeys((word, word.lower(), word.title())))

    expected = {}
    for s, t in pairs:
        for sv in (v for v in variants(s) if v in en):
            for tv in (v for v in variants(t) if v in de):
                expected.setdefault((sv, tv), None)
    assert pairs_in_vocab(pairs, en, de) == list(expected)


def test_no_shared_pairs_is_a_clear_error():
    en, de, _ = rotated_copy(n=30)
    with pytest.raises(RetokError, match=r"none of the 2 dictionary pairs.*30 source words, 30 target words.*direction"):
        align(en, de, [("house", "Haus"), ("de1", "en1")])


def test_dimension_mismatch_is_a_clear_error():
    en = StaticVectors.from_matrix(["a"], np.ones((1, 4)))
    de = StaticVectors.from_matrix(["a"], np.ones((1, 6)))
    with pytest.raises(RetokError, match=r"dimension 4 but the target vectors 6.*same dim"):
        align(en, de, [("a", "a")])


def test_alignment_to_dict_is_json_ready():
    en, de, _ = rotated_copy(n=40)
    d = align(en, de, [(f"en{i}", f"de{i}") for i in range(40)], held_out=10, identical=False).to_dict()
    assert d == {"dim": 16, "train_pairs": 30, "test_pairs": 10, "identical_pairs": 0, "precision_at_1": 1.0}
