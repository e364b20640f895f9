"""Embedding predictors: the same rows as the initializers, the LRU cache counts and evicts, bad pieces are refused."""

import pytest
import torch

from retok.transfer.embeddings import TokenEmbeddings
from retok.errors import RetokError
from retok.transfer.initializers import init_embeddings
from retok.vocab.pieces import pad_pieces
from retok.transfer.row_predictors import RowCache, make_predictor
from retok.testing import GERMAN, tiny_tokenizer


@pytest.fixture
def source(english_tokenizer, english_model):
    return TokenEmbeddings.from_model(english_model, english_tokenizer)


@pytest.mark.parametrize("method", ["fvt", "compose"])
def test_predicted_rows_equal_the_initializer_rows_of_the_same_tokens(source, method):
    target = tiny_tokenizer(GERMAN, vocab_size=320)
    result = init_embeddings(source, target, method)
    from retok.vocab.canonical import VocabAlignment

    alignment = VocabAlignment.build(source.tokenizer, target)
    has = (alignment.new_pieces >= 0).any(1)
    rows_in, rows_out = make_predictor(method, source).predict(alignment.new_pieces[has])
    new = torch.tensor(alignment.new)[has]
    torch.testing.assert_close(rows_in, result.embeddings.input[new], rtol=1e-5, atol=1e-6)
    if source.output is None:
        assert rows_out is None
    else:
        torch.testing.assert_close(rows_out, result.embeddings.output[new], rtol=1e-5, atol=1e-6)


def test_the_cache_predicts_each_key_once_and_counts_hits(source):
    cache = RowCache(make_predictor("fvt", source), capacity=2)
    pieces = pad_pieces([[5, 6], [7, 8, 9], [5, 6]])
    rows, _ = cache.rows([b"a", b"b", b"a"], pieces)
    assert (cache.hits, cache.misses) == (1, 2) and torch.equal(rows[0], rows[2])
    cache.rows([b"a"], pad_pieces([[5, 6]]))
    assert cache.hits == 2 and cache.hit_rate == pytest.approx(0.5)
    cache.rows([b"c"], pad_pieces([[10, 11]]))  # evicts the least recently used ("b")
    assert len(cache) == 2
    cache.rows([b"b"], pad_pieces([[7, 8, 9]]))
    assert cache.misses == 4


def test_bad_pieces_and_unknown_predictors_are_refused(source):
    predictor = make_predictor("fvt", source)
    with pytest.raises(RetokError, match="at least one piece"):
        predictor.predict(torch.tensor([[-1, -1]]))
    with pytest.raises(RetokError, match=r"piece ids must lie in \[0, "):
        predictor.predict(torch.tensor([[10**6]]))
    with pytest.raises(RetokError, match="unknown embedding predictor 'fvtt'. Did you mean 'fvt'"):
        make_predictor("fvtt", source)
    with pytest.raises(RetokError, match="needs the hypernetwork folder"):
        make_predictor("hypernet", source)
