"""Pure tensor functions that the embedding-space methods share: weights over neighbours, and mixing.

Conventions: ``table`` is a (V, d) embedding matrix; neighbour lists are ``ids`` (N, k) int64 row
numbers into ``table`` with ``-1`` for "no neighbour", and ``scores`` (N, k) float similarities,
best first; a token's pieces use the same shape (:mod:`retok.vocab.pieces`). ``Tables`` pairs the input
table with the untied output table (or None), so a method writes "mix these rows" once for both.
Every function returns new tensors and never changes its inputs, except :func:`put_rows`, which says so.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

from retok.vocab.pieces import last_pieces, piece_counts

#: (input rows, output rows or None): what a method fills for the input table and, if untied, the head
Tables = tuple[torch.Tensor, torch.Tensor | None]


def row_mean_std(table: torch.Tensor, rows: torch.Tensor, *, chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and (unbiased) std of ``table[rows]``: table (V, d), rows (R,) -> (d,), (d,).

    Up to ``chunk`` rows are gathered at once (torch's own mean/std); a larger selection (a 262k
    vocabulary, or a bfloat16 table, upcast a block of about 2**24 values at a time) is reduced in one
    pass over contiguous blocks: each block's ``var_mean`` in float32, the blocks combined in float64
    (Chan et al.'s pairwise update). The table is never gathered or copied whole, and a memory-mapped
    table is read once.
    """
    dtype = computed(table)
    if len(rows) <= chunk and (table.dtype == dtype or len(rows) * table.shape[1] <= 2**24):
        picked = table[rows].to(dtype)
        return picked.mean(0), picked.std(0)
    keep = torch.zeros(table.shape[0], dtype=torch.bool)
    keep[rows] = True
    step = chunk if table.dtype == dtype else max(1024, min(chunk, 2**24 // max(table.shape[1], 1)))
    count = 0
    mean = torch.zeros(table.shape[1], dtype=torch.float64)
    m2 = torch.zeros(table.shape[1], dtype=torch.float64)
    for start in range(0, table.shape[0], step):
        selected = keep[start : start + step]
        n = int(selected.sum())
        if n == 0:
            continue
        block = table[start : start + step]
        block = (block if n == block.shape[0] else block[selected]).to(dtype)
        var, block_mean = torch.var_mean(block, dim=0, correction=0)
        delta = block_mean.double() - mean
        total = count + n
        mean += delta * (n / total)
        m2 += var.double() * n + delta.pow(2) * (count * n / total)
        count = total
    std = (m2 / max(count - 1, 1)).sqrt()
    return mean.to(dtype), std.to(dtype)


def computed(table: torch.Tensor) -> torch.dtype:
    """The dtype arithmetic on ``table`` runs in: float32, or float64 for a float64 table (never bfloat16 / float16)."""
    return table.dtype if table.dtype in (torch.float32, torch.float64) else torch.float32


def softmax_weights(scores: torch.Tensor, ids: torch.Tensor, temperature: float, *, threshold: float | None = None) -> torch.Tensor:
    """softmax(scores / temperature) over each row's valid neighbours.

    scores (N, k), ids (N, k) -> weights (N, k) summing to 1 per row; 0 for ``ids == -1`` and, with a
    ``threshold``, for scores below it. A row with no valid neighbour gets all-zero weights.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    valid = ids >= 0
    if threshold is not None:
        valid &= scores >= threshold
    logits = (scores.double() / temperature).masked_fill(~valid, float("-inf"))
    weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # an all -inf row gives NaN -> 0
    return weights.masked_fill(~valid, 0.0).to(scores.dtype)


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo, 2016) of each row: the Euclidean projection onto the simplex.

    z (N, K) -> p (N, K), p >= 0, rows sum to 1, exactly zero below the row's threshold tau.
    ``-inf`` entries get 0.
    """
    sorted_z, _ = torch.sort(z.double(), dim=1, descending=True)
    finite = torch.isfinite(sorted_z)
    cumsum = torch.where(finite, sorted_z, torch.zeros_like(sorted_z)).cumsum(1)
    k = torch.arange(1, z.shape[1] + 1, dtype=torch.float64)
    support = finite & (1 + k * sorted_z > cumsum)
    size = support.sum(1, keepdim=True).clamp(min=1)
    tau = (cumsum.gather(1, size - 1) - 1) / size
    return (z.double() - tau).clamp(min=0).nan_to_num(0.0).to(z.dtype)


def sparsemax_is_exact(top_scores: torch.Tensor, rest_bound: torch.Tensor) -> torch.Tensor:
    """Whether sparsemax over the top-K scores equals sparsemax over all of them.

    top_scores (N, K) the K largest scores per row (descending), rest_bound (N,) an upper bound on
    every score left out (e.g. the K-th score itself). Sparsemax over the full row has the same
    support iff every left-out score is <= the threshold tau computed on the top K -> (N,) bool.
    """
    p = sparsemax(top_scores)
    support = p > 0
    size = support.sum(1).clamp(min=1)
    tau = (torch.where(support, top_scores, torch.zeros_like(top_scores)).sum(1) - 1) / size
    return rest_bound <= tau


DENSE_MIX_ENTRIES = 1 << 25  # a (N, V) weight matrix up to this size is mixed densely (BLAS), larger ones sparsely


def mix_rows(table: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_j weights[n, j] * table[ids[n, j]]: table (V, d), ids (N, k), weights (N, k) -> (N, d).

    Entries with ``ids == -1`` or weight 0 are skipped; repeated ids in a row add up. The mix is
    one matrix product W @ table with W (N, V) holding the weights: dense when W is small (a
    FOCUS mix over a few hundred anchors), a sparse CSR matrix otherwise (a token's pieces, k
    nearest neighbours), so neither an (N, k, d) gather nor a scatter-add is built.
    """
    valid = (ids >= 0) & (weights != 0)
    rows, cols = valid.nonzero(as_tuple=True)[0], ids[valid]
    if table.dtype != computed(table):  # a bfloat16 table: upcast only the rows the mix reads
        used, cols = torch.unique(cols, return_inverse=True)
        table = table[used].to(computed(table))
    values = weights[valid].to(table.dtype)
    shape = (ids.shape[0], table.shape[0])
    if shape[0] * shape[1] <= DENSE_MIX_ENTRIES:
        dense = torch.zeros(shape, dtype=table.dtype).index_put_((rows, cols), values, accumulate=True)
        return dense @ table
    with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul with a dense matrix is stable
        warnings.simplefilter("ignore", UserWarning)
        sparse = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=False)
        return sparse.coalesce().to_sparse_csr() @ table


def blend(primary: torch.Tensor, prior: torch.Tensor, prior_weight: torch.Tensor | float) -> torch.Tensor:
    """(1 - w) * primary + w * prior, row-wise: primary, prior (N, d); w a scalar or (N,) in [0, 1]."""
    w = torch.as_tensor(prior_weight, dtype=primary.dtype)
    if w.dim() == 1:
        w = w[:, None]
    return (1 - w) * primary + w * prior


def mix_tables(tables: Tables, ids: torch.Tensor, weights: torch.Tensor) -> Tables:
    """:func:`mix_rows` with the same ids and weights on the input table and, when there is one, the output table."""
    table_in, table_out = tables
    return mix_rows(table_in, ids, weights), None if table_out is None else mix_rows(table_out, ids, weights)


def blend_tables(primary: Tables, prior: Tables, prior_weight: torch.Tensor | float) -> Tables:
    """:func:`blend` on both members of a pair: (1 - w) * primary + w * prior; the output is None when primary's is."""
    out = None if primary[1] is None or prior[1] is None else blend(primary[1], prior[1], prior_weight)
    return blend(primary[0], prior[0], prior_weight), out


def put_rows(dest: Tables, index: torch.Tensor, rows: Tables) -> None:
    """In place: ``dest[k][index] = rows[k]`` for the input member and, when ``dest`` has one, the output member."""
    dest[0][index] = rows[0]
    if dest[1] is not None:
        dest[1][index] = rows[1]


def pool_pieces(table: torch.Tensor, pieces: torch.Tensor, pooling: Literal["mean", "first", "last"] = "mean") -> torch.Tensor:
    """Combine the rows of each token's pieces: table (V, d), pieces (N, L) -1 padded -> (N, d).

    ``mean`` averages the pieces (FVT), ``first`` / ``last`` take one piece; a row without pieces
    gives zeros.
    """
    if pooling == "mean":
        share = (1.0 / piece_counts(pieces).clamp(min=1).double()).to(computed(table))
        return mix_rows(table, pieces, torch.where(pieces >= 0, share[:, None], 0.0))
    if pooling not in ("first", "last"):
        raise ValueError(f"unknown pooling {pooling!r}; use 'mean', 'first' or 'last'")
    chosen = pieces[:, :1] if pooling == "first" else last_pieces(pieces)[:, None]
    return mix_rows(table, chosen, torch.ones(chosen.shape, dtype=computed(table)))
