"""``wechsel``: each new token is a softmax-weighted mix of its nearest source tokens in an aligned word space.

Minixhofer et al., NAACL 2022, https://arxiv.org/abs/2112.06598. Steps:

1. source- and target-language static word vectors (fastText), the source space rotated onto the
   target one by orthogonal Procrustes on bilingual dictionary pairs (:mod:`.wordspace`);
2. a vector for every source token and every new target token, composed from fastText's
   character n-grams of the token's text, with the begin-of-word marker only on word-start
   tokens (the reference's ``decode(id).strip()`` gives ``Ġhaus`` and ``haus`` one vector);
3. for each new token, its ``neighbors`` most similar source tokens (cosine, through
   :class:`retok.index.NeighbourIndex`) mixed with weights ``softmax(cos / temperature)``.

Departures from the reference, all reported and all switchable:

* overlapping tokens are copied (the shared contract of :mod:`.base`), not re-estimated;
* a new token with no vector (byte tokens, partial UTF-8, n-gram-less short strings) gets the
  subword prior (``prior``: ``fvt`` or ``compose``, :mod:`.fallback`) instead of a random row
  (``fallback="random"`` restores the reference);
* the kNN estimate is blended with the prior: ``prior_weight`` of the prior, raised to 1 when
  the best neighbour's similarity is below ``min_similarity``. On small, technical corpora the
  alignment is weak (P@1 ~ 0.2 on LibreOffice help), and the blend keeps the method from
  falling below its subword prior; ``prior_weight=0, min_similarity=-1, fallback="random"`` is
  the reference method. The default weight was chosen on a dev slice of the *training*
  paragraphs (SmolLM2 -> German BPE 32k): with the fvt prior 0.5 was worse than FVT, 0.9 better;
  the default prior is ``compose``, the best subword estimate there.

Untied heads: the output rows mix the neighbours' output rows with the same weights (the
reference calls its function a second time on the output matrix, which gives the same result).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from retok.index import NeighbourIndex
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer
from .combine import Tables, blend_tables, mix_tables, put_rows, softmax_weights
from .subword import LazyPrior, Prior, fallback_rows
from .wordspace import WordVectorOptions, aligned_word_space, token_vectors


@dataclass(frozen=True, kw_only=True)
class WECHSELConfig(WordVectorOptions, InitConfig):
    neighbors: int = field(default=10, metadata={"help": "source tokens mixed per new token", "min": 1})
    temperature: float = field(default=0.1, metadata={"help": "softmax temperature over cosine similarities", "above": 0.0})
    prior_weight: float = field(default=0.9, metadata={"help": "weight of the subword prior in the blend (0 = the paper's method)", "min": 0.0, "max": 1.0})
    min_similarity: float = field(default=0.3, metadata={"help": "below this best-neighbour cosine a token takes the subword prior alone", "min": -1.0, "max": 1.0})
    prior: Prior = field(default="compose", metadata={"help": "subword estimate to blend with and fall back to: fvt or compose"})
    fallback: Literal["prior", "random"] = field(default="prior", metadata={"help": "rows for tokens without a vector: the prior or seeded N(mean, std)"})


def knn_mix(
    source_vectors: torch.Tensor, query_vectors: torch.Tensor, tables: Tables, *, k: int, temperature: float, table_rows: torch.Tensor | None = None
) -> tuple[Tables, torch.Tensor]:
    """Mix the rows of both tables over each query's k nearest source vectors (cosine).

    source_vectors (S, D), query_vectors (Q, D), tables ((V, d), (V, d) | None) -> mixed ((Q, d), (Q, d) | None),
    best (Q,) the top cosine per query. Source vector s is table row ``table_rows[s]`` (S,), or row s
    when ``table_rows`` is None; so the tables are read in place, never gathered into a copy.
    """
    k = min(k, source_vectors.shape[0])
    scores, ids = NeighbourIndex(source_vectors, metric="cosine", kind="exact").search(query_vectors, k)
    weights = softmax_weights(scores, ids, temperature)
    if table_rows is not None:
        ids = torch.where(ids >= 0, table_rows[ids.clamp(min=0)], ids)
    return mix_tables(tables, ids, weights), scores[:, 0]


@register_initializer("wechsel", config=WECHSELConfig, pretty_name="WECHSEL", paper="https://arxiv.org/abs/2112.06598")
def wechsel(source: TokenEmbeddings, alignment: VocabAlignment, config: WECHSELConfig) -> NewRows:
    """Copy matches; new rows = softmax(cos/τ) mix of the top-k source tokens in aligned fastText space, blended with the subword prior."""
    space = aligned_word_space(config, seed=config.seed)
    source_ids = [i for i, key in enumerate(alignment.source.keys) if key is not None and i < source.input.shape[0]]
    src_vecs, src_found = token_vectors(space.source, alignment.source, source_ids)
    new_vecs, new_found = token_vectors(space.target, alignment.target, alignment.new)
    prior = LazyPrior(source, alignment, config.prior)
    rows_in, rows_out = fallback_rows(source, alignment, prior, config.fallback, seed=config.seed)
    provenance = [f"fallback-{config.fallback}"] * len(alignment.new)
    details = {**space.report, "source_tokens_with_vector": int(src_found.sum()), "new_tokens_with_vector": int(new_found.sum())}
    if src_found.any() and new_found.any():
        kept = torch.tensor(source_ids)[torch.from_numpy(src_found)]
        mixed, best = knn_mix(torch.from_numpy(src_vecs[src_found]), torch.from_numpy(new_vecs[new_found]), (source.input, source.output),
                              k=config.neighbors, temperature=config.temperature, table_rows=kept)
        rows = torch.from_numpy(new_found).nonzero().squeeze(1)
        w = torch.where(best >= config.min_similarity, config.prior_weight, 1.0)
        if (w > 0).any():  # the prior is computed only when some row uses it
            prior_out = None if prior.rows.output is None else prior.rows.output[rows]
            mixed = blend_tables(mixed, (prior.rows.input[rows], prior_out), w)
        put_rows((rows_in, rows_out), rows, mixed)
        for r, weak in zip(rows.tolist(), (best < config.min_similarity).tolist()):
            provenance[r] = "prior-weak-neighbours" if weak else "wechsel"
        details["median_best_similarity"] = float(best.median())
    return NewRows(rows_in, rows_out, provenance, {**details, **prior.details})
