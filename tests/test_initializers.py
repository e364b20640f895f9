"""Invariants every registered initializer must keep; a new method joins this matrix by registering."""

import pytest
import torch

from retok.embeddings import TokenEmbeddings
from retok.initializers import INITIALIZERS, init_embeddings
from retok.vocab import VocabAlignment

METHODS = INITIALIZERS.names()
# a method may appear twice, with another auxiliary space: "tokenadapt-fasttext" runs tokenadapt
VARIANTS = [*METHODS, "tokenadapt-fasttext"]


def run(source, tokenizer, variant, method_options, **extra):
    return init_embeddings(source, tokenizer, variant.split("-")[0], **method_options.get(variant, {}), **extra)


@pytest.fixture
def source(english_model, english_tokenizer):
    return TokenEmbeddings.from_model(english_model, english_tokenizer)


@pytest.mark.parametrize("method", VARIANTS)
def test_shape_is_target_vocab_by_hidden_and_values_finite(method, method_options, source, german_tokenizer):
    result = run(source, german_tokenizer, method, method_options)
    e = result.embeddings
    assert e.input.shape == (len(german_tokenizer), source.dim)
    assert torch.isfinite(e.input).all()
    assert e.tied == source.tied
    if not source.tied:
        assert e.output.shape == e.input.shape and torch.isfinite(e.output).all()


@pytest.mark.parametrize("method", VARIANTS)
def test_matching_and_special_rows_are_copied(method, method_options, source, german_tokenizer, english_tokenizer):
    alignment = VocabAlignment.build(english_tokenizer, german_tokenizer)
    e = run(source, german_tokenizer, method, method_options, alignment=alignment).embeddings
    tgt = torch.tensor(list(alignment.matches))
    src = torch.tensor(list(alignment.matches.values()))
    assert torch.equal(e.input[tgt], source.input[src])
    if not source.tied:
        assert torch.equal(e.output[tgt], source.output[src])


@pytest.mark.parametrize("method", VARIANTS)
def test_same_seed_gives_the_same_matrix(method, method_options, source, german_tokenizer):
    a = run(source, german_tokenizer, method, method_options, seed=3).embeddings.input
    b = run(source, german_tokenizer, method, method_options, seed=3).embeddings.input
    assert torch.equal(a, b)


@pytest.mark.parametrize("method", VARIANTS)
def test_same_tokenizer_reproduces_the_source_matrix(method, method_options, source, english_tokenizer):
    e = run(source, english_tokenizer, method, method_options).embeddings
    assert torch.equal(e.input, source.input)


@pytest.mark.parametrize("method", VARIANTS)
def test_report_accounts_for_every_row(method, method_options, source, german_tokenizer):
    report = run(source, german_tokenizer, method, method_options).report
    assert sum(report.counts.values()) == len(german_tokenizer)
    assert report.method == method.split("-")[0]
