"""The one "token = tuple of base ids" format, and the decomposition the alignment caches in it."""

import pytest
import torch

from retok.transfer.initializers import init_embeddings
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.pieces import last_pieces, pad_pieces, piece_counts, piece_lists
from retok.vocab.canonical import CanonicalVocab, VocabAlignment


def test_padding_round_trips_and_pads_with_minus_one():
    lists = [[5, 6, 7], [], [9]]
    pieces = pad_pieces(lists)
    assert pieces.dtype == torch.long and pieces.tolist() == [[5, 6, 7], [-1, -1, -1], [9, -1, -1]]
    assert piece_lists(pieces) == lists
    assert piece_counts(pieces).tolist() == [3, 0, 1] and last_pieces(pieces).tolist() == [7, -1, 9]


def test_no_tokens_and_only_empty_tokens_still_have_one_column():
    assert pad_pieces([]).shape == (0, 1)
    assert pad_pieces([[], []]).tolist() == [[-1], [-1]]


def test_alignment_decomposes_each_new_token_by_its_canonical_bytes(english_tokenizer, german_tokenizer):
    alignment = VocabAlignment.build(english_tokenizer, german_tokenizer)
    pieces = alignment.new_pieces
    assert pieces.shape[0] == len(alignment.new)
    for row, t in zip(piece_lists(pieces), alignment.new):
        assert row == alignment.source.pieces(alignment.target.keys[t])
        assert b"".join(alignment.source.keys[i] for i in row) == alignment.target.keys[t]
    assert alignment.new_pieces is pieces  # computed once per alignment


@pytest.mark.parametrize("method, options", [("tokenadapt", {"prior": "compose"}), ("compose", {}), ("fvt", {})])
def test_a_method_decomposes_the_new_tokens_once(monkeypatch, english_tokenizer, german_tokenizer, method, options):
    calls = []
    real = CanonicalVocab.decompose
    monkeypatch.setattr(CanonicalVocab, "decompose", lambda self, keys: calls.append(len(keys)) or real(self, keys))
    source = TokenEmbeddings(english_tokenizer, torch.randn(len(english_tokenizer), 8, generator=torch.Generator().manual_seed(0)))
    init_embeddings(source, german_tokenizer, method, **options)
    assert len(calls) == 1
