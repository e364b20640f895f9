"""The learned composition: fitted in blocks, cached per source matrix, and the same as the one-shot fit."""

import torch

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
