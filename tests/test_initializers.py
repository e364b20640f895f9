"""Invariants every registered initializer must keep; a new method joins this matrix by registering."""

import pytest
import torch

from retok.embeddings import TokenEmbeddings
from retok.initializers import INITIALIZERS, init_embeddings
from retok.vocab import VocabAlignment

METHODS = INITIALIZERS.names()


@pytest.fixture
def source(english_model, english_tokenizer):
    return TokenEmbeddings.from_model(english_model, english_tokenizer)


@pytest.mark.parametrize("method", METHODS)
def test_shape_is_target_vocab_by_hidden_and_values_finite(method, source, german_tokenizer):
    result = init_embeddings(source, german_tokenizer, method)
    e = result.embeddings
    assert e.input.shape == (len(german_tokenizer), source.dim)
    assert torch.isfinite(e.input).all()
    assert e.tied == source.tied
    if not source.tied:
        assert e.output.shape == e.input.shape and torch.isfinite(e.output).all()


@pytest.mark.parametrize("method", METHODS)
def test_matching_and_special_rows_are_copied(method, source, german_tokenizer, english_tokenizer):
    alignment = VocabAlignment.build(english_tokenizer, german_tokenizer)
    e = init_embeddings(source, german_tokenizer, method, alignment=alignment).embeddings
    tgt = torch.tensor(list(alignment.matches))
    src = torch.tensor(list(alignment.matches.values()))
    assert torch.equal(e.input[tgt], source.input[src])
    if not source.tied:
        assert torch.equal(e.output[tgt], source.output[src])


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_gives_the_same_matrix(method, source, german_tokenizer):
    a = init_embeddings(source, german_tokenizer, method, seed=3).embeddings.input
    b = init_embeddings(source, german_tokenizer, method, seed=3).embeddings.input
    assert torch.equal(a, b)


@pytest.mark.parametrize("method", METHODS)
def test_same_tokenizer_reproduces_the_source_matrix(method, source, english_tokenizer):
    e = init_embeddings(source, english_tokenizer, method).embeddings
    assert torch.equal(e.input, source.input)


@pytest.mark.parametrize("method", METHODS)
def test_report_accounts_for_every_row(method, source, german_tokenizer):
    report = init_embeddings(source, german_tokenizer, method).report
    assert sum(report.counts.values()) == len(german_tokenizer)
    assert report.method == method
