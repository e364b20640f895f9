"""The donor: a second model that already speaks the new tokenizer, as a second view of every new token.

Often the new tokenizer belongs to another model (two models sharing a vocabulary for speculative
decoding, ensembling, merging or cross-model distillation). That model's embeddings say where each
new token sits *relative to the tokens both vocabularies share*; the donor methods (``omp``,
``linear``; :mod:`retok.transfer.initializers.donor_view`) carry that relation over into the base model's
space. This module loads and checks the donor; the shared tokens come from the canonical vocabulary
layer (:class:`retok.vocab.VocabAlignment`), so ``Ġ``/``▁`` word starts and ``<0xNN>`` byte tokens of
the two families match.

Checks, each a one-line :class:`RetokError` before any work:

* the donor's saved tokenizer must be the new tokenizer (same strings at the same ids);
* a donor with fewer embedding rows than tokenizer ids (mergekit's PR #657) is accepted: the ids
  beyond its rows have no donor view, fall back to the subword prior, and the report counts them;
* a donor of another hidden size is fine: every donor method maps across sizes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from retok.errors import RetokError
from .embeddings import TokenEmbeddings, is_tied

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Donor:
    """The donor's embeddings over the new tokenizer.

    embeddings: E_in (V_d, d') and E_out (V_d, d') or None when the donor's head is tied
    name: the folder or hub id it came from (for the report)
    """

    embeddings: TokenEmbeddings
    name: str

    @property
    def rows(self) -> int:
        """How many token ids have a donor row (ids at or beyond this have none)."""
        return int(self.embeddings.input.shape[0])

    def output_rows(self) -> torch.Tensor:
        """The donor's LM-head rows (V_d, d'): its own head, or its input embeddings when the head is tied."""
        return self.embeddings.input if self.embeddings.output is None else self.embeddings.output

    @classmethod
    def of(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str | None = None) -> Donor:
        """The donor view of a loaded ``model`` whose tokenizer is ``tokenizer`` (the new tokenizer)."""
        from retok.loading import model_name

        emb = model.get_input_embeddings()
        if emb is None or not hasattr(emb, "weight"):
            raise RetokError(f"the donor {type(model).__name__} has no input embedding matrix retok can read")
        e_in = emb.weight.detach().float().clone()
        e_out = None if is_tied(model) else model.get_output_embeddings().weight.detach().float().clone()
        return cls(TokenEmbeddings(tokenizer, e_in, e_out), name or model_name(model))


def check_donor_tokenizer(own: PreTrainedTokenizerBase, new_tokenizer: PreTrainedTokenizerBase, name: str) -> None:
    """Raise unless the donor's own tokenizer ``own`` is ``new_tokenizer`` (same strings at the same ids)."""
    mine, theirs = own.get_vocab(), new_tokenizer.get_vocab()
    if mine == theirs:
        return
    by_id_mine, by_id_theirs = {i: t for t, i in mine.items()}, {i: t for t, i in theirs.items()}
    differ = [i for i in sorted(set(by_id_mine) | set(by_id_theirs)) if by_id_mine.get(i) != by_id_theirs.get(i)]
    examples = ", ".join(f"id {i}: {by_id_theirs.get(i)!r} vs donor {by_id_mine.get(i)!r}" for i in differ[:3])
    raise RetokError(
        f"the donor {name!r} does not use the new tokenizer ({len(differ)} ids differ: {examples}); a donor method "
        "needs the model whose tokenizer is the new one: pass --tokenizer <the donor folder>, or the donor of that tokenizer"
    )


def load_donor(donor: PreTrainedModel | str | os.PathLike | Donor, new_tokenizer: PreTrainedTokenizerBase) -> Donor:
    """A :class:`Donor` from a loaded model, a folder or a hub id; its saved tokenizer must be ``new_tokenizer``.

    The donor is read once for its embedding matrices and then released (only (V_d, d') rows are kept).
    """
    from retok.loading import load_model, model_name, saved_tokenizer

    if isinstance(donor, Donor):
        check_donor_tokenizer(donor.embeddings.tokenizer, new_tokenizer, donor.name)
        return Donor(TokenEmbeddings(new_tokenizer, donor.embeddings.input, donor.embeddings.output), donor.name)
    model = load_model(donor, dtype="auto")  # only its embeddings are read, as float32 copies
    name = model_name(model)
    own = saved_tokenizer(name)
    if own is not None:
        check_donor_tokenizer(own, new_tokenizer, name)
    return Donor.of(model, new_tokenizer, name)


__all__ = ["Donor", "check_donor_tokenizer", "load_donor"]
