"""Hand-sized cases whose expected rows can be checked by hand."""

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import PreTrainedTokenizerFast

from retok.embeddings import TokenEmbeddings
from retok.initializers import init_embeddings


def byte_level(vocab: list[str], merges: list[tuple[str, str]]) -> PreTrainedTokenizerFast:
    """A byte-level BPE with an explicit vocabulary: '<|endoftext|>' at 0, then ``vocab`` in order."""
    ids = {"<|endoftext|>": 0, **{t: i + 1 for i, t in enumerate(vocab)}}
    tok = Tokenizer(models.BPE(vocab=ids, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    return fast


@pytest.fixture
def toy():
    """Source: a, b, Ġ, Ġa with rows 1..; target: ab (new), Ġa (copied), Ġab (new)."""
    source_tok = byte_level(["a", "b", "Ġ", "Ġa"], [("Ġ", "a")])
    target_tok = byte_level(["a", "b", "Ġ", "Ġa", "ab", "Ġab"], [("Ġ", "a"), ("a", "b"), ("Ġa", "b")])
    e_in = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0]])
    e_out = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [20.0, 20.0], [40.0, 0.0]])
    return source_tok, target_tok, e_in, e_out


def rows(result, tokenizer, tokens):
    ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    return result.embeddings.input[ids], (None if result.embeddings.output is None else result.embeddings.output[ids])


def test_fvt_new_token_is_the_mean_of_its_old_pieces(toy):
    source_tok, target_tok, e_in, _ = toy
    result = init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "fvt")
    got, _ = rows(result, target_tok, ["ab", "Ġab", "Ġa"])
    # ab -> a + b = mean([1,0],[0,1]); Ġab -> Ġa + b = mean([4,0],[0,1]); Ġa copied
    assert torch.allclose(got, torch.tensor([[0.5, 0.5], [2.0, 0.5], [4.0, 0.0]]))


def test_fvt_untied_head_pools_output_rows_as_configured(toy):
    source_tok, target_tok, e_in, e_out = toy
    source = TokenEmbeddings(source_tok, e_in, e_out)
    _, mean_out = rows(init_embeddings(source, target_tok, "fvt"), target_tok, ["Ġab"])
    _, first_out = rows(init_embeddings(source, target_tok, "fvt", output_pooling="first"), target_tok, ["Ġab"])
    assert torch.allclose(mean_out, torch.tensor([[20.0, 5.0]]))
    assert torch.allclose(first_out, torch.tensor([[40.0, 0.0]]))


def test_mean_new_token_is_the_mean_of_regular_source_rows(toy):
    source_tok, target_tok, e_in, _ = toy
    got, _ = rows(init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "mean"), target_tok, ["ab"])
    # regular rows are ids 1..4 (id 0 is the special token): mean = [7/4, 3/4]
    assert torch.allclose(got, torch.tensor([[1.75, 0.75]]))


def test_gaussian_new_rows_follow_source_statistics():
    from retok.testing import GERMAN, tiny_tokenizer

    source_tok, target_tok = tiny_tokenizer(vocab_size=300), tiny_tokenizer(GERMAN * 50, vocab_size=2000)
    generator = torch.Generator().manual_seed(0)
    e_in = torch.randn(len(source_tok), 4, generator=generator) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + 5.0
    result = init_embeddings(TokenEmbeddings(source_tok, e_in), target_tok, "gaussian", seed=1)
    new_rows = result.embeddings.input[result.report.new_token_ids]
    assert len(new_rows) > 200
    assert torch.allclose(new_rows.mean(0), torch.full((4,), 5.0), atol=0.6)
    assert torch.allclose(new_rows.std(0), torch.tensor([1.0, 2.0, 3.0, 4.0]), rtol=0.2)
