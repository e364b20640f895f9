"""NeighbourIndex: exact kinds agree with brute force, approximate kinds reach their recall, errors are clear."""

import numpy as np
import pytest
import torch

from retok.errors import RetokError
from retok.index import NeighbourIndex, brute_force_topk, topk_rows


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def clustered():
    """20k x 32 points around 200 overlapping centres (structure for approximate search to find), 500 queries."""
    centres = randn(200, 32, seed=1)
    points = centres[torch.randint(0, 200, (20_500,), generator=torch.Generator().manual_seed(2))] + randn(20_500, 32, seed=3)
    return points[:20_000], points[20_000:]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("kind", ["exact", "torch"])
def test_exact_search_equals_torch_brute_force(metric, kind):
    vectors, queries = randn(1037, 24), randn(60, 24, seed=1)  # 1037: not a multiple of the group size
    vectors[5] = 0  # zero rows: cosine must keep them at score 0, not NaN
    if metric == "cosine":
        vectors[700] = 0  # (for l2 and ip two zero rows would tie, and tied ids may come in either order)
    queries[0] = 0
    index = NeighbourIndex(vectors, metric=metric, kind=kind)
    scores, ids = index.search(queries[1:], 8)
    want_scores, want_ids = brute_force_topk(vectors, queries[1:], 8, metric=metric)
    assert scores.dtype == torch.float32 and ids.dtype == torch.int64 and ids.shape == (59, 8)
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(scores, want_scores, rtol=1e-5, atol=1e-4)
    zero_scores, _ = index.search(queries[:1], 8)
    assert not zero_scores.isnan().any()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_brute_force_equals_a_full_sort(metric):
    vectors, queries = randn(300, 8), randn(20, 8, seed=1)
    if metric == "l2":
        want = torch.cdist(queries.double(), vectors.double()) ** 2
        want_ids = want.argsort(dim=1)[:, :5]
    else:
        if metric == "cosine":
            vectors, queries = torch.nn.functional.normalize(vectors, dim=1), torch.nn.functional.normalize(queries, dim=1)
        want = queries.double() @ vectors.double().T
        want_ids = want.argsort(dim=1, descending=True)[:, :5]
    scores, ids = brute_force_topk(vectors * (3 if metric == "cosine" else 1), queries, 5, metric=metric)
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(scores.double(), want.gather(1, want_ids), rtol=1e-5, atol=1e-5)


def test_group_max_topk_equals_plain_topk_including_ties():
    scores = randn(7, 64 * 50)
    scores[0, 100:200] = 9.0  # many ties in the top groups
    values, ids = topk_rows(scores, 10)
    torch.testing.assert_close(values, scores.topk(10, dim=1).values)
    assert torch.equal(scores.gather(1, ids), values)


@pytest.mark.parametrize("kind", ["exact", "torch", "hnsw", "ivf"])
def test_known_answer_in_2d(kind):
    # East, north, west, south at different lengths; the query (1, 2) points north-north-east.
    vectors = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -3.0]], dtype=np.float32)
    scores, ids = NeighbourIndex(vectors, kind=kind).search(np.array([[1.0, 2.0]]), 3)
    assert ids.tolist() == [[1, 0, 2]]  # cosines 2/sqrt5 (north), 1/sqrt5 (east), -1/sqrt5 (west)
    torch.testing.assert_close(scores, torch.tensor([[2, 1, -1]]) / 5**0.5)
    l2 = NeighbourIndex(vectors, metric="l2", kind=kind)
    scores, ids = l2.search(np.array([[1.0, 2.0]]), 2)
    assert ids.tolist() == [[1, 0]]  # |(1,2)-(0,1)|^2 = 2, |(1,2)-(2,0)|^2 = 5
    torch.testing.assert_close(scores, torch.tensor([[2.0, 5.0]]))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_at_10_is_at_least_0_9(kind, clustered):
    vectors, queries = clustered
    _, exact = NeighbourIndex(vectors, kind="exact").search(queries, 10)
    index = NeighbourIndex(vectors, kind=kind, seed=0)
    assert recall_at_10(index, queries, exact) >= 0.9
    if kind == "ivf":  # nprobe is live: one cell per query must lose neighbours
        index.nprobe = 1
        assert recall_at_10(index, queries, exact) < 0.8


def recall_at_10(index, queries, exact):
    _, approx = index.search(queries, 10)
    return np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx.tolist(), exact.tolist())])


@pytest.mark.parametrize("kind", ["exact", "torch", "hnsw", "ivf"])
def test_batch_size_does_not_change_results(kind):
    vectors, queries = randn(2000, 16), randn(50, 16, seed=1)
    index = NeighbourIndex(vectors, kind=kind)
    small = index.search(queries, 5, batch_size=7)
    large = index.search(queries, 5, batch_size=10_000)
    # Same neighbours; scores only to float32 rounding, since BLAS sums in a different order
    # for a 7-row and a 50-row product.
    assert torch.equal(small[1], large[1])
    torch.testing.assert_close(small[0], large[0])


def test_kind_resolves_and_properties_report_the_table():
    index = NeighbourIndex(randn(10, 3))
    assert (index.kind, index.size, index.dim, len(index)) == ("exact", 10, 3, 10)


def test_without_faiss_auto_falls_back_to_torch_and_faiss_kinds_refuse(monkeypatch):
    monkeypatch.setattr("retok.index._import_faiss", lambda: None)
    with pytest.warns(UserWarning, match="faiss is not installed"):
        index = NeighbourIndex(randn(10, 3))
    assert index.kind == "torch"
    with pytest.raises(RetokError, match="kind='hnsw' needs faiss.*kind='torch'"):
        NeighbourIndex(randn(10, 3), kind="hnsw")


def test_input_is_not_modified():
    vectors = randn(50, 4) * 5
    before = vectors.clone()
    NeighbourIndex(vectors, metric="cosine", kind="torch").search(vectors, 3)
    assert torch.equal(vectors, before)


def test_dimension_mismatch_names_both_dimensions():
    with pytest.raises(RetokError, match=r"dimension 5 .* dimension 4"):
        NeighbourIndex(randn(10, 4)).search(randn(2, 5), 1)


@pytest.mark.parametrize("kind", ["exact", "torch"])
def test_k_larger_than_the_index_is_refused(kind):
    with pytest.raises(RetokError, match=r"k must be <= the number of indexed vectors \(10\)"):
        NeighbourIndex(randn(10, 4), kind=kind).search(randn(2, 4), 11)
    with pytest.raises(RetokError, match="k must be <= the number of indexed vectors"):
        brute_force_topk(randn(10, 4), randn(2, 4), 11)


def test_empty_index_is_refused():
    with pytest.raises(RetokError, match="0 vectors"):
        NeighbourIndex(torch.empty(0, 4))


def test_unknown_metric_and_kind_are_refused_with_the_valid_list():
    with pytest.raises(RetokError, match="unknown metric 'cosin'. Did you mean 'cosine'.*Valid metrics: cosine, ip, l2"):
        NeighbourIndex(randn(10, 4), metric="cosin")
    with pytest.raises(RetokError, match="unknown index kind 'hnws'. Did you mean 'hnsw'.*Valid kinds: auto, exact"):
        NeighbourIndex(randn(10, 4), kind="hnws")
    with pytest.raises(RetokError, match="unknown metric"):
        brute_force_topk(randn(10, 4), randn(2, 4), 1, metric="dot")


def test_non_finite_and_wrong_rank_inputs_are_refused():
    bad = randn(10, 4)
    bad[3, 1] = float("nan")
    with pytest.raises(RetokError, match="NaN or infinite"):
        NeighbourIndex(bad)
    with pytest.raises(RetokError, match=r"must be 2-D .*reshape\(1, -1\)"):
        NeighbourIndex(randn(10, 4)).search(randn(4), 1)


@pytest.mark.parametrize("kind", ["exact", "torch", "hnsw", "ivf"])
def test_search_options_belong_to_their_kind_and_refuse_others(kind):
    index = NeighbourIndex(randn(2000, 8), kind=kind, ef_search=40, nprobe=3)
    assert index.ef_search == (40 if kind == "hnsw" else None)
    assert index.nprobe == (3 if kind == "ivf" else None)
    for name, owner in [("ef_search", "hnsw"), ("nprobe", "ivf")]:
        if kind == owner:
            setattr(index, name, 7)
            assert getattr(index, name) == 7
            with pytest.raises(RetokError, match=f"{name} must be >= 1; got 0"):
                setattr(index, name, 0)
        else:
            with pytest.raises(RetokError, match=f"{name} applies to kind='{owner}' only; this index is kind='{kind}'"):
                setattr(index, name, 7)


# ----------------------------------------------------------------------------- inner product on graphs and cells, growing, saving


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_inner_product_on_approximate_kinds_is_exact_when_the_search_is_exhaustive(kind, clustered):
    vectors, queries = clustered
    vectors = vectors[:3000] * torch.rand(3000, 1, generator=torch.Generator().manual_seed(4)) * 3  # norms differ: cosine would rank otherwise
    want_scores, want_ids = brute_force_topk(vectors, queries, 5, metric="ip")
    index = NeighbourIndex(vectors, metric="ip", kind=kind, nlist=8, ef_search=3000)
    if kind == "ivf":
        index.nprobe = 8
    scores, ids = index.search(queries, 5)
    assert (ids[:, 0] == want_ids[:, 0]).float().mean() >= 0.99
    torch.testing.assert_close(scores[:, 0], want_scores[:, 0], rtol=1e-4, atol=1e-3)
    assert index.max_norm == pytest.approx(float(vectors.norm(dim=1).max()), rel=1e-6)


def test_a_trained_index_grown_in_chunks_equals_one_built_at_once(clustered, tmp_path):
    vectors, queries = clustered
    whole = NeighbourIndex(vectors, metric="ip", kind="ivf", nlist=32, nprobe=4, seed=3)
    grown = NeighbourIndex.trained(vectors[:: 1], metric="ip", kind="ivf", nlist=32, nprobe=4, seed=3, max_norm=whole.max_norm)
    for start in range(0, len(vectors), 7000):
        grown.add(vectors[start : start + 7000])
    assert len(grown) == len(vectors)
    assert torch.equal(grown.search(queries, 5)[1], whole.search(queries, 5)[1])
    grown.save(tmp_path / "idx")
    loaded = NeighbourIndex.load(tmp_path / "idx")
    assert loaded.size == len(vectors) and loaded.max_norm == grown.max_norm and loaded.nprobe == 4
    assert torch.equal(loaded.search(queries, 5)[1], grown.search(queries, 5)[1])


def test_rows_above_the_norm_bound_are_refused():
    index = NeighbourIndex.trained(randn(500, 8), metric="ip", kind="ivf", nlist=4, max_norm=10.0)
    with pytest.raises(RetokError, match="above the index's max_norm"):
        index.add(randn(3, 8) * 100)


def test_sq8_codes_keep_the_top_neighbours(clustered):
    vectors, queries = clustered
    flat = NeighbourIndex(vectors, metric="l2", kind="ivf", nlist=32, nprobe=32)
    sq8 = NeighbourIndex(vectors, metric="l2", kind="ivf", nlist=32, nprobe=32, ivf_codes="sq8")
    assert (flat.search(queries, 1)[1] == sq8.search(queries, 1)[1]).float().mean() >= 0.9


def test_damaged_saved_index_is_refused(clustered, tmp_path):
    vectors, _ = clustered
    NeighbourIndex(vectors[:2000], kind="exact").save(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(RetokError, match="damaged or half-written"):
        NeighbourIndex.load(tmp_path / "idx")
    with pytest.raises(RetokError, match="holds no saved index"):
        NeighbourIndex.load(tmp_path / "nothing")


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_an_index_of_selected_rows_built_in_blocks_equals_one_of_the_gathered_rows(metric, monkeypatch):
    import retok.index as index_module

    g = torch.Generator().manual_seed(0)
    table, queries = torch.randn(50, 6, generator=g), torch.randn(9, 6, generator=g)
    rows = torch.tensor([3, 7, 7, 0, 49, 12, 30, 31, 5, 18, 44])
    monkeypatch.setattr(index_module, "ROWS_BLOCK", 4)  # three blocks, the last one short
    blocks = NeighbourIndex.of_rows(table, rows, metric=metric)
    whole = NeighbourIndex(table[rows], metric=metric, kind="exact")
    assert len(blocks) == len(rows)
    got, want = blocks.search(queries, 5), whole.search(queries, 5)
    torch.testing.assert_close(got[0], want[0])
    assert torch.equal(got[1], want[1])
    with pytest.raises(RetokError, match="exact indexes only"):
        NeighbourIndex.of_rows(table, rows, kind="hnsw")
