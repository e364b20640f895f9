"""The shared weighting functions: sparsemax, softmax over neighbours, mixing."""

import torch

from retok.transfer.initializers.combine import blend, mix_rows, softmax_weights, sparsemax, sparsemax_is_exact
from retok.transfer.initializers.focus import sparsemax_neighbours


def test_sparsemax_known_answer():
    # sorted z = [1, .5, -1]: support {1, .5}, tau = (1.5 - 1) / 2 = .25
    p = sparsemax(torch.tensor([[0.5, 1.0, -1.0]]))
    assert torch.allclose(p, torch.tensor([[0.25, 0.75, 0.0]]))


def test_sparsemax_rows_are_on_the_simplex():
    p = sparsemax(torch.randn(50, 20, generator=torch.Generator().manual_seed(0)) * 3)
    assert (p >= 0).all() and torch.allclose(p.sum(1), torch.ones(50, dtype=p.dtype), atol=1e-6)


def test_sparsemax_on_the_top_k_is_flagged_exact_only_when_it_is():
    z = torch.tensor([[1.0, 0.9, 0.85, 0.8, -2.0]])  # support is the first four
    assert not sparsemax_is_exact(z[:, :2], z[:, 1])
    assert not sparsemax_is_exact(z[:, :4], z[:, 3])  # the 4th is in the support: not provably exact
    assert sparsemax_is_exact(z[:, :5], z[:, 4])
    full = sparsemax(z)
    assert torch.allclose(sparsemax(z[:, :5]), full)


def test_sparsemax_neighbours_equal_the_dense_computation():
    g = torch.Generator().manual_seed(1)
    anchors, queries = torch.randn(300, 8, generator=g), torch.randn(40, 8, generator=g)
    ids, weights = sparsemax_neighbours(anchors, queries, k=2)  # k=2 forces the widening path
    cos = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(anchors, dim=1).T
    dense = sparsemax(cos)
    got = torch.zeros_like(dense)
    for r in range(len(queries)):
        keep = ids[r] >= 0
        got[r, ids[r][keep]] = weights[r][keep]
    assert torch.allclose(got, dense, atol=1e-5)


def test_softmax_weights_skip_missing_and_thresholded_neighbours():
    scores = torch.tensor([[0.9, 0.5, -0.2], [-0.5, -0.6, 0.0]])
    ids = torch.tensor([[3, 1, -1], [2, 0, 4]])
    w = softmax_weights(scores, ids, temperature=1.0, threshold=-0.55)
    assert w[0, 2] == 0 and torch.isclose(w[0].sum(), torch.tensor(1.0))
    assert torch.allclose(w[0, :2], torch.softmax(torch.tensor([0.9, 0.5]), 0))
    assert w[1, 1] == 0 and torch.allclose(w[1, [0, 2]], torch.softmax(torch.tensor([-0.5, 0.0]), 0))
    assert softmax_weights(scores, torch.full_like(ids, -1), 1.0).sum() == 0


def test_mix_rows_and_blend_known_answer():
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    mixed = mix_rows(table, torch.tensor([[0, 2], [1, -1]]), torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    assert torch.allclose(mixed, torch.tensor([[1.5, 1.0], [0.0, 1.0]]))
    assert torch.allclose(blend(mixed, torch.zeros(2, 2), torch.tensor([0.0, 1.0])), torch.tensor([[1.5, 1.0], [0.0, 0.0]]))


def test_row_statistics_in_blocks_equal_the_gathered_ones():
    from retok.transfer.initializers.combine import row_mean_std

    table = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 3 + 1
    rows = torch.arange(1, 47)
    mean, std = row_mean_std(table, rows, chunk=7)
    assert torch.allclose(mean, table[rows].mean(0), atol=1e-6) and torch.allclose(std, table[rows].std(0), atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(row_mean_std(table, rows), (table[rows].mean(0), table[rows].std(0))))
