"""``fvt``: Fast Vocabulary Transfer. A new token is the mean of its pieces under the old tokenizer.

Gee et al., 2022, https://aclanthology.org/2022.emnlp-industry.41. The decomposition works on the
token's canonical bytes (see :mod:`retok.vocab`), so word-start markers, partial UTF-8 tokens and
byte tokens decompose exactly, whatever the two tokenizer families are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from ..embeddings import TokenEmbeddings
from ..vocab import VocabAlignment
from .base import InitConfig, NewRows, register_initializer, source_statistics


@dataclass(frozen=True, kw_only=True)
class FVTConfig(InitConfig):
    output_pooling: Literal["mean", "first", "last"] = field(
        default="mean",
        metadata={"help": "how an untied LM head combines the pieces' output rows ('first' predicts the first piece)"},
    )


def piece_weights(decompositions: list[list[int]], pooling: Literal["mean", "first", "last"] = "mean") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flatten decompositions into (row, piece id, weight) triples for an index_add.

    Returns rows (P,), pieces (P,), weights (P,) where each row's weights sum to 1.
    """
    rows, pieces, weights = [], [], []
    for r, ids in enumerate(decompositions):
        if not ids:
            continue
        chosen = ids if pooling == "mean" else [ids[0] if pooling == "first" else ids[-1]]
        rows += [r] * len(chosen)
        pieces += chosen
        weights += [1.0 / len(chosen)] * len(chosen)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(pieces, dtype=torch.long), torch.tensor(weights)


def pool_pieces(table: torch.Tensor, decompositions: list[list[int]], pooling: Literal["mean", "first", "last"] = "mean") -> torch.Tensor:
    """Combine rows of ``table`` (V_s, d) per decomposition -> (N, d); empty decompositions give zeros."""
    rows, pieces, weights = piece_weights(decompositions, pooling)
    out = torch.zeros(len(decompositions), table.shape[1], dtype=table.dtype)
    if rows.numel():
        out.index_add_(0, rows, table[pieces] * weights[:, None].to(table.dtype))
    return out


def decompose(alignment: VocabAlignment) -> list[list[int]]:
    """The old tokenizer's pieces of every id in ``alignment.new`` (by canonical bytes; [] when nothing covers them)."""
    return [alignment.source.pieces(alignment.target.keys[i]) for i in alignment.new]


def fvt_rows(
    source: TokenEmbeddings,
    alignment: VocabAlignment,
    output_pooling: Literal["mean", "first", "last"] = "mean",
    *,
    decompositions: list[list[int]] | None = None,
) -> NewRows:
    """The FVT estimate for every id in ``alignment.new`` (input rows (N, d), output rows or None).

    The other methods use it as their subword prior: the estimate they fall back to, or blend
    with, where their own evidence is weak. Tokens whose bytes nothing covers get the mean.
    Pass ``decompositions`` (from :func:`decompose`) when the caller already has them.
    """
    decompositions = decompose(alignment) if decompositions is None else decompositions
    rows_in = pool_pieces(source.input, decompositions)
    rows_out = None if source.output is None else pool_pieces(source.output, decompositions, output_pooling)
    empty = [i for i, d in enumerate(decompositions) if not d]
    provenance = ["fvt"] * len(decompositions)
    if empty:  # nothing in the old vocabulary covers these bytes (e.g. a byte-less SentencePiece source)
        mean_in, _, mean_out, _ = source_statistics(source, alignment)
        rows_in[empty] = mean_in
        if rows_out is not None:
            rows_out[empty] = mean_out
        for i in empty:
            provenance[i] = "fallback-mean"
    return NewRows(rows_in, rows_out, provenance)


@register_initializer("fvt", config=FVTConfig, pretty_name="FVT", paper="https://aclanthology.org/2022.emnlp-industry.41")
def fvt(source: TokenEmbeddings, alignment: VocabAlignment, config: FVTConfig) -> NewRows:
    """Copy matches; new rows = mean of the source rows of the token's pieces under the old tokenizer."""
    return fvt_rows(source, alignment, config.output_pooling)
