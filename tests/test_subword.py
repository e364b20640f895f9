"""The learned composition: fitted in blocks, cached per source matrix, and the same as the one-shot fit."""

import pytest
import torch

from retok.testing import GERMAN, tiny_tokenizer
from retok.vocab.train import train_tokenizer
from retok.transfer.initializers import subword
from retok.vocab.pieces import pad_pieces


def one_shot_fit(table: torch.Tensor, triples: torch.Tensor, penalty: float) -> torch.Tensor:
    x = subword.piece_features(table, triples[:, :2]).double()
    gram = x.T @ x + penalty * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, x.T @ table[triples[:, 2]].double())


def toy_merges(rows: int = 40, dim: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(rows, dim, generator=generator)
    triples = torch.stack([torch.randint(0, rows, (60,), generator=generator) for _ in range(3)], 1)
    return table, triples


def test_fit_in_blocks_equals_the_one_shot_fit(monkeypatch):
    table, triples = toy_merges()
    monkeypatch.setattr(subword, "CHUNK", 7)  # 60 merges in 9 blocks, the last one short
    assert torch.allclose(subword.fit_composition(table, triples, 0.1), one_shot_fit(table, triples, 0.1), atol=1e-4)


def test_prediction_in_blocks_equals_one_product(monkeypatch):
    table, triples = toy_merges()
    weights = subword.fit_composition(table, triples, 0.1).float()
    pieces = pad_pieces([[1, 2, 3], [4], [5, 6]] * 5)
    expected = subword.piece_features(table, pieces) @ weights
    monkeypatch.setattr(subword, "CHUNK", 4)
    assert torch.allclose(subword.apply_composition(table, weights, pieces), expected)
    mean = subword.pool_pieces(table, pieces)  # the FVT rows a caller already has
    assert torch.allclose(subword.apply_composition(table, weights, pieces, mean=mean), expected)


def test_the_fvt_blend_folded_into_the_map_is_the_blend_of_the_rows():
    table, triples = toy_merges()
    weights = subword.fit_composition(table, triples, 0.1).float()
    pieces = pad_pieces([[1, 2, 3], [4], [5, 6], [7, 1, 1, 2]])
    mean = subword.pool_pieces(table, pieces)
    blended = 0.35 * subword.apply_composition(table, weights, pieces) + 0.65 * mean
    assert torch.allclose(subword.apply_composition(table, subword.with_fvt_blend(weights, 0.65), pieces), blended, atol=1e-6)


def test_a_source_fit_is_the_fit_on_its_merges_and_cached_without_reading_them(monkeypatch, tmp_path):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path))
    tokenizer = tiny_tokenizer()
    table = torch.randn(len(tokenizer), 4, generator=torch.Generator().manual_seed(0))
    expected = subword.fit_composition(table, subword.merge_triples(tokenizer, len(table)), 10.0).float()
    first = subword.source_composition(tokenizer, table, 10.0)
    assert torch.allclose(first, expected)
    with monkeypatch.context() as patch:
        patch.setattr(subword, "merge_triples", lambda *a: pytest.fail("a cached fit read the merges"))
        assert torch.equal(subword.source_composition(tokenizer, table, 10.0), first)
    other = train_tokenizer(GERMAN, vocab_size=len(tokenizer) - 20, like=tokenizer, progress=False)  # other merges
    assert not torch.equal(subword.source_composition(other, table, 10.0), first)


def test_a_fit_is_cached_per_source_matrix_and_penalty(monkeypatch, tmp_path):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path))
    table, triples = toy_merges()
    fits = []
    real = subword.fit_composition
    monkeypatch.setattr(subword, "fit_composition", lambda *a: fits.append(1) or real(*a))
    first = subword.composition(table, triples, 0.1)
    assert torch.equal(subword.composition(table, triples, 0.1), first) and len(fits) == 1
    subword.composition(table, triples, 0.2)
    subword.composition(table + 1, triples, 0.1)
    assert len(fits) == 3 and len(list((tmp_path / "compose-fits").glob("*.pt"))) == 3


def test_a_damaged_cached_fit_is_fitted_again(monkeypatch, tmp_path):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path))
    table, triples = toy_merges()
    first = subword.composition(table, triples, 0.1)
    (cached,) = (tmp_path / "compose-fits").glob("*.pt")
    cached.write_bytes(b"not a tensor")
    assert torch.equal(subword.composition(table, triples, 0.1), first)
