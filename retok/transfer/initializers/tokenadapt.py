"""``tokenadapt``: a local subword estimate mixed with a global nearest-neighbour estimate.

Sharthak et al., 2025, https://arxiv.org/abs/2505.09738. For each new token ``s`` with pieces
``p_1..p_n`` under the old tokenizer (decomposed from its canonical bytes):

* local: ``c_i = cos(φ(s), φ(p_i))``, ``a = softmax(c)``, ``l_i = bytes(p_i) / bytes(s)``,
  ``w = softmax(((a + l) / 2) / τ)``, ``e_local = Σ w_i E[p_i]``;
* global: the ``k`` old tokens nearest to ``φ(s)`` (cosine, :class:`retok.index.NeighbourIndex`),
  similarities below ``threshold`` dropped, ``e_global = Σ softmax(σ/τ)_j E[o_j]``;
* ``e = (1 - weight) e_local + weight e_global`` (only the local estimate when no neighbour
  passes the threshold or ``s`` has no auxiliary vector).

Finally the result is blended with a subword prior (``prior_weight`` 0.5 of ``compose`` by default;
``prior_weight=0`` is the paper's method): on the LibreOffice dev slice the hybrid alone was
slightly worse than FVT with the model-embedding and fastText spaces, and better with MiniLM.

φ is an auxiliary space from :mod:`.aux_spaces` (``aux``): the source model's own embeddings
(default, needs nothing external), aligned fastText, or all-MiniLM-L6-v2. Tokens shared by both
vocabularies are copied by canonical bytes (the reference compares raw strings, so ``Ġ`` and
``▁`` vocabularies share almost nothing). Untied heads: the output rows use the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from retok.index import NeighbourIndex
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .aux_spaces import AUX_SPACES, AuxVectors
from .base import InitConfig, NewRows, register_initializer
from .combine import blend_tables, mix_tables, put_rows, softmax_weights
from .subword import Prior, fvt_rows, prior_rows
from .wordspace import WordVectorOptions


@dataclass(frozen=True, kw_only=True)
class TokenAdaptConfig(WordVectorOptions, InitConfig):
    aux: str = field(default="model", metadata={"help": "auxiliary space: model (source embeddings), fasttext (aligned word vectors), minilm (sentence encoder)"})
    top_k: int = field(default=3, metadata={"help": "old tokens in the global estimate", "min": 1})
    temperature: float = field(default=0.3, metadata={"help": "softmax temperature of both heuristics", "above": 0.0})
    weight: float = field(default=0.3, metadata={"help": "weight of the global estimate in the hybrid", "min": 0.0, "max": 1.0})
    threshold: float = field(default=0.0, metadata={"help": "neighbours less similar than this are dropped from the global estimate", "min": -1.0, "max": 1.0})
    prior: Prior = field(default="compose", metadata={"help": "subword estimate blended in at the end: fvt or compose"})
    prior_weight: float = field(default=0.5, metadata={"help": "weight of the subword prior in a final blend (0 = the paper's method)", "min": 0.0, "max": 1.0})


def local_weights(similarity: torch.Tensor, length_ratio: torch.Tensor, valid: torch.Tensor, temperature: float) -> torch.Tensor:
    """TokenAdapt's piece weights: softmax(((softmax(c) + l) / 2) / τ) over each row's valid pieces.

    similarity c (N, L), length_ratio l (N, L), valid (N, L) bool -> weights (N, L), 0 off ``valid``.
    """
    a = torch.softmax(similarity.double().masked_fill(~valid, float("-inf")), dim=1).nan_to_num(0.0)
    b = (a + length_ratio.double()) / 2
    w = torch.softmax((b / (temperature + 1e-5)).masked_fill(~valid, float("-inf")), dim=1).nan_to_num(0.0)
    return w.to(similarity.dtype)


def piece_similarity(aux: AuxVectors, pieces: torch.Tensor) -> torch.Tensor:
    """cos(φ(token n), φ(piece l of n)) -> (N, L); 0 for padding and for tokens or pieces without a vector.

    Only the valid (n, l) pairs are gathered, so memory grows with the number of pieces, not N x L x D.
    """
    valid = pieces >= 0
    rows = valid.nonzero()[:, 0]
    used, flat = torch.unique(pieces[valid], return_inverse=True)  # only the old tokens that are pieces are normalized
    unit_new = torch.nn.functional.normalize(aux.new, dim=1) * aux.new_found[:, None]
    unit_old = torch.nn.functional.normalize(aux.old[used], dim=1) * aux.old_found[used, None]
    sim = torch.zeros(pieces.shape, dtype=unit_new.dtype)
    sim[valid] = (unit_new[rows] * unit_old[flat]).sum(1)
    return sim


@register_initializer("tokenadapt", config=TokenAdaptConfig, pretty_name="TokenAdapt", paper="https://arxiv.org/abs/2505.09738")
def tokenadapt(source: TokenEmbeddings, alignment: VocabAlignment, config: TokenAdaptConfig) -> NewRows:
    """Copy matches; new rows = (1-w) x similarity/length-weighted pieces + w x softmax top-k neighbours in an auxiliary space."""
    space = AUX_SPACES.get(config.aux)
    tables = (source.input, source.output)
    pieces = alignment.new_pieces
    fvt = fvt_rows(source, alignment)
    aux = space(source, alignment, config, fvt)
    valid = pieces >= 0
    lengths = torch.tensor([len(k) if k is not None else 1 for k in alignment.source.keys] + [1] * (source.input.shape[0] - len(alignment.source.keys)))
    whole = torch.tensor([len(alignment.target.keys[i]) for i in alignment.new], dtype=torch.float32)
    ratio = lengths[pieces.clamp(min=0)].float() / whole[:, None]
    w_local = local_weights(piece_similarity(aux, pieces), ratio, valid, config.temperature)
    rows = mix_tables(tables, pieces, w_local)
    has_pieces = valid.any(1)
    provenance = ["tokenadapt-local" if h else "fallback-mean" for h in has_pieces.tolist()]
    if not has_pieces.all():
        missing = ~has_pieces
        put_rows(rows, missing, (fvt.input[missing], None if fvt.output is None else fvt.output[missing]))

    old_ids = aux.old_found.nonzero().squeeze(1)
    queries = aux.new_found.nonzero().squeeze(1)
    details = {"aux": config.aux, **aux.report, "new_tokens_with_vector": int(aux.new_found.sum())}
    if old_ids.numel() and queries.numel():
        index = NeighbourIndex.of_rows(aux.old, old_ids, metric="cosine", kind="exact")
        scores, hits = index.search(aux.new[queries], min(config.top_k, len(index)))
        weights = softmax_weights(scores, hits, config.temperature, threshold=config.threshold)
        ids = torch.where(hits >= 0, old_ids[hits.clamp(min=0)], torch.full_like(hits, -1))
        has_global = weights.sum(1) > 0
        hybrid = queries[has_global]
        w = torch.where(has_pieces[hybrid], config.weight, 1.0)  # no pieces: the global estimate alone
        local = (rows[0][hybrid], None if rows[1] is None else rows[1][hybrid])
        put_rows(rows, hybrid, blend_tables(local, mix_tables(tables, ids[has_global], weights[has_global]), w))
        for r in hybrid.tolist():
            provenance[r] = "tokenadapt-hybrid"
        details["median_best_similarity"] = float(scores[:, 0].median())
    if config.prior_weight > 0:
        subword = fvt if config.prior == "fvt" else prior_rows(source, alignment, config.prior)
        rows = blend_tables(rows, (subword.input, subword.output), config.prior_weight)
        details.update(subword.details)
    return NewRows(rows[0], rows[1], provenance, details)
