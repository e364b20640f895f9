"""Tokenizers and vocabularies: canonical token keys, the alignment of two vocabularies, tokenizer training.

* :mod:`.canonical`: canonical byte keys for every token (byte-level ``Ġ``, SentencePiece ``▁`` and
  ``<0xNN>``, WordPiece ``##``), special tokens by role, :class:`VocabAlignment` between two tokenizers;
* :mod:`.pieces`: the one "token = tuple of base ids" format (a padded ``(N, L)`` tensor);
* :mod:`.pipeline`: what kind of pipeline a tokenizer is, read from its ``tokenizers`` JSON;
* :mod:`.train`: BPE / Unigram tokenizers that keep a source tokenizer's specials and chat template;
* :mod:`.supertokens`: multi-word (supertoken) BPE;
* :mod:`.growth`: a base vocabulary grown to a million entries (used by ``retok.adaptive.large_vocab``).

``retok.vocab`` was one module before 0.2; its names (``CanonicalVocab``, ``VocabAlignment``,
``token_key``, ``byte_to_unicode``, ``unicode_to_byte``) are still importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes

_EXPORTS = {name: ".canonical" for name in ("CanonicalVocab", "VocabAlignment", "byte_to_unicode", "token_key", "unicode_to_byte")}

if TYPE_CHECKING:
    from .canonical import CanonicalVocab, VocabAlignment, byte_to_unicode, token_key, unicode_to_byte

__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS)

__all__ = sorted(_EXPORTS)
