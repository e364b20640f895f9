"""``mean``: copy matching tokens; every new token gets the per-dimension mean of the source embeddings.

The mean keeps the next-token distribution close to the original (Hewitt, 2021,
https://nlp.stanford.edu/~johnhew/vocab-expansion.html), which is why HF's
``resize_token_embeddings(mean_resizing=True)`` does almost the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer, source_statistics


@dataclass(frozen=True, kw_only=True)
class MeanConfig(InitConfig):
    pass


@register_initializer("mean", config=MeanConfig, pretty_name="Mean", paper="https://nlp.stanford.edu/~johnhew/vocab-expansion.html", streams=True)
def mean(source: TokenEmbeddings, alignment: VocabAlignment, config: MeanConfig) -> NewRows:
    """Copy matches; new rows = mean of the source rows (per dimension)."""
    n = len(alignment.new)
    mean_in, _, mean_out, _ = source_statistics(source, alignment)
    out = None if mean_out is None else mean_out.expand(n, -1).clone()
    return NewRows(mean_in.expand(n, -1).clone(), out, ["mean"] * n)
