"""Canonical token keys and the alignment of two vocabularies.

Raw ``get_vocab()`` strings are not comparable across tokenizer families: byte-level BPE writes a
leading space as ``Ġ`` and bytes through the GPT-2 byte->unicode map (``Ã¤`` for ``ä``),
SentencePiece writes ``▁`` and ``<0xC3>`` byte-fallback tokens, WordPiece marks continuations
with ``##``. Every token here gets a canonical key: the UTF-8 **bytes** it stands for in text,
with a word start written as a leading space byte. Two tokens with the same key mean the same
text, whatever their family.

Special tokens have no byte key; they are matched by **role** (bos, eos, unk, pad, ...; when one
token fills several roles the most important wins: bos > eos > unk > pad > ...) and otherwise by
their exact string (chat markers such as ``<|im_start|>``).

Does not handle: tokenizers whose normalizer rewrites text (lower-casing, NFKC) beyond the space
marker; their keys are the normalized bytes, so matches are approximate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Literal

import torch
from transformers import PreTrainedTokenizerBase

from .pieces import pad_pieces
from .pipeline import ROLE_PRIORITY, SPACE_MARKER, Family, byte_token_value, detect_family


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """The GPT-2 byte -> printable unicode map used by byte-level BPE (``0x20 -> 'Ġ'``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


@lru_cache(maxsize=1)
def unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


@lru_cache(maxsize=1)
def _byte_level_decoding() -> tuple[frozenset[str], dict[int, int]]:
    """The 256 byte-level symbols, and a ``str.translate`` table turning each into the character of its byte."""
    table = unicode_to_byte()
    return frozenset(table), {ord(c): b for c, b in table.items()}


@lru_cache(maxsize=1)
def _byte_level_encoding() -> dict[int, str]:
    """A ``str.translate`` table from the character of each byte (latin-1) to its byte-level symbol."""
    return {b: c for b, c in byte_to_unicode().items()}


def token_key(token: str, family: Family) -> bytes:
    """The UTF-8 bytes a vocabulary string stands for (word start = leading space byte)."""
    if family == "byte_level":
        symbols, translation = _byte_level_decoding()
        if symbols.issuperset(token):  # C-speed: this runs for every token of every vocabulary
            return token.translate(translation).encode("latin-1")
        return token.encode("utf-8")
    if family == "metaspace":
        byte = byte_token_value(token)
        if byte is not None:
            return bytes([byte])
        return token.replace(SPACE_MARKER, " ").encode("utf-8")
    if family == "wordpiece":
        # subtle: WordPiece has no space marker; a piece without "##" starts a word.
        return token[2:].encode("utf-8") if token.startswith("##") else b" " + token.encode("utf-8")
    return token.encode("utf-8")


@dataclass(frozen=True)
class CanonicalVocab:
    """A tokenizer's vocabulary seen through canonical keys.

    ``keys[i]`` is the byte key of token id ``i`` (``None`` for special tokens and unused ids);
    ``specials`` maps special-token ids to their strings; ``roles`` maps role names to ids.
    """

    tokenizer: PreTrainedTokenizerBase
    family: Family
    strings: list[str | None]
    keys: list[bytes | None]
    specials: dict[int, str]
    roles: dict[str, int]
    key_to_id: dict[bytes, int] = field(repr=False)

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> CanonicalVocab:
        family = detect_family(tokenizer)
        vocab = tokenizer.get_vocab()
        size = max(vocab.values()) + 1 if vocab else 0
        strings: list[str | None] = [None] * size
        for tok, i in vocab.items():
            strings[i] = tok
        specials: dict[int, str] = {}
        literal: set[int] = set()
        for i, added in tokenizer.added_tokens_decoder.items():
            if added.special or added.content in tokenizer.all_special_tokens:
                specials[i] = added.content
            else:
                literal.add(i)  # added, non-special tokens are matched literally
        for tok in tokenizer.all_special_tokens:
            i = vocab.get(tok)
            if i is not None:
                specials[i] = tok
        keys: list[bytes | None] = [None] * size
        key_to_id: dict[bytes, int] = {}
        for i, tok in enumerate(strings):
            if tok is None or i in specials:
                continue
            key = tok.encode("utf-8") if i in literal else token_key(tok, family)
            keys[i] = key
            # subtle: two ids can share a key (SentencePiece "▁" and "<0x20>"); the first regular id wins.
            if key not in key_to_id or byte_token_value(strings[key_to_id[key]] or "") is not None:
                key_to_id[key] = i
        roles = {}
        for role in ROLE_PRIORITY:
            tok = getattr(tokenizer, role, None)
            if isinstance(tok, str) and tok in vocab:
                roles[role] = vocab[tok]
        return cls(tokenizer, family, strings, keys, specials, roles, key_to_id)

    def __len__(self) -> int:
        return len(self.keys)

    def regular_ids_by_string(self) -> dict[str, int]:
        """``{string: id}`` of every regular (non-special, used) token."""
        return {s: i for i, s in enumerate(self.strings) if s is not None and self.keys[i] is not None}

    def pieces(self, key: bytes) -> list[int]:
        """Decompose arbitrary bytes into this tokenizer's ids, bypassing pre-tokenization.

        Byte-level vocabularies cover every byte, so partial UTF-8 sequences and byte tokens
        decompose exactly; SentencePiece uses its ``<0xNN>`` byte-fallback tokens for bytes that are
        not valid UTF-8. Returns ``[]`` when nothing in the vocabulary covers the bytes.
        """
        model = self.tokenizer.backend_tokenizer.model
        if self.family == "byte_level":
            return [t.id for t in model.tokenize(key.decode("latin-1").translate(_byte_level_encoding()))]
        text = key.decode("utf-8", errors="surrogateescape")
        if self.family == "metaspace":
            out: list[int] = []
            run = ""
            for ch in text + "\0":
                if "\udc80" <= ch <= "\udcff" or ch == "\0":
                    if run:
                        out += [t.id for t in model.tokenize(run.replace(" ", SPACE_MARKER))]
                        run = ""
                    if ch != "\0":
                        byte_id = self.key_to_id.get(bytes([ord(ch) - 0xDC00]))
                        if byte_id is not None:
                            out.append(byte_id)
                else:
                    run += ch
            return out
        text = text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
        if self.family == "wordpiece":
            text = text.strip()
        return [t.id for t in model.tokenize(text)] if text else []

    def decompose(self, keys: Sequence[bytes]) -> torch.Tensor:
        """Each key's :meth:`pieces` in the shared "token = tuple of base ids" format: (N, L) int64, -1 padded."""
        return pad_pieces([self.pieces(key) for key in keys])


MatchKind = Literal["special-role", "special-string", "exact", "canonical"]


@dataclass(frozen=True)
class VocabAlignment:
    """Which rows of a target vocabulary can be copied from a source vocabulary.

    ``matches`` maps target id -> source id for every copied row and ``kinds`` says why;
    ``new`` lists the target ids (non-special) that an initializer must estimate and
    ``unmatched_specials`` the target special tokens with no source counterpart.
    """

    source: CanonicalVocab
    target: CanonicalVocab
    matches: dict[int, int]
    kinds: dict[int, MatchKind]
    new: list[int]
    unmatched_specials: list[int]
    unused: list[int]

    @classmethod
    def build(cls, source: PreTrainedTokenizerBase | CanonicalVocab, target: PreTrainedTokenizerBase | CanonicalVocab) -> VocabAlignment:
        src = source if isinstance(source, CanonicalVocab) else CanonicalVocab.of(source)
        tgt = target if isinstance(target, CanonicalVocab) else CanonicalVocab.of(target)
        matches: dict[int, int] = {}
        kinds: dict[int, MatchKind] = {}
        src_special_by_string = {s: i for i, s in src.specials.items()}
        unmatched_specials = []
        for i, string in sorted(tgt.specials.items()):
            roles = [r for r in ROLE_PRIORITY if tgt.roles.get(r) == i and r in src.roles]
            if roles:
                matches[i], kinds[i] = src.roles[roles[0]], "special-role"
            elif string in src_special_by_string:
                matches[i], kinds[i] = src_special_by_string[string], "special-string"
            else:
                unmatched_specials.append(i)
        new, unused = [], []
        own = src.regular_ids_by_string() if src.family == tgt.family else {}
        for i, key in enumerate(tgt.keys):
            if i in tgt.specials:
                continue
            if key is None:
                unused.append(i)
                continue
            # A token that exists with the same string keeps its own row: SentencePiece's "<0x41>" and "A" share
            # the key b"A", but each is its own row (identity would otherwise change about a hundred rows).
            j = own.get(tgt.strings[i])
            if j is None or src.keys[j] != key:
                j = src.key_to_id.get(key)
            if j is None:
                new.append(i)
            else:
                matches[i] = j
                kinds[i] = "exact" if src.strings[j] == tgt.strings[i] else "canonical"
        return cls(src, tgt, matches, kinds, new, unmatched_specials, unused)

    @cached_property
    def new_pieces(self) -> torch.Tensor:
        """The old tokenizer's pieces of every id in ``new``, by canonical bytes: (N, L) int64, -1 padded.

        Computed once per alignment (the first method that needs it pays; priors and blends
        reuse it). A row of only -1 means nothing in the old vocabulary covers the token's bytes.
        See :mod:`retok.vocab.pieces` for the format.
        """
        return self.source.decompose([self.target.keys[i] for i in self.new])

    def special_rows(self) -> dict[str, str]:
        """Which row each special token of the target gets: ``{"<|im_start|>": "<bos> (bos_token role)", ...}``.

        A special token matched by role names the role, one matched by string says so, and one
        without a counterpart gets ``"mean row"`` (see :mod:`retok.transfer.initializers.base`).
        """
        out: dict[str, str] = {}
        for i, string in sorted(self.target.specials.items()):
            src = self.matches.get(i)
            if src is None:
                out[string] = "mean row"
            elif self.kinds[i] == "special-role":
                role = next(r for r in ROLE_PRIORITY if self.target.roles.get(r) == i and self.source.roles.get(r) == src)
                out[string] = f"{self.source.strings[src]} ({role} role)"
            else:
                out[string] = f"{self.source.strings[src]} (same string)"
        return out

    def carrier(self, source_id: int) -> int | None:
        """The target id whose row is copied from ``source_id`` (a special match first), or None."""
        found = [t for t, s in self.matches.items() if s == source_id]
        found.sort(key=lambda t: not self.kinds[t].startswith("special"))
        return found[0] if found else None

    def report(self) -> dict[str, int]:
        """Counts: target size, copied rows by kind, new tokens, unmatched specials."""
        counts = Counter(self.kinds.values())
        return {
            "target_size": len(self.target),
            "source_size": len(self.source),
            "special-role": counts["special-role"],
            "special-string": counts["special-string"],
            "exact": counts["exact"],
            "canonical": counts["canonical"],
            "new": len(self.new),
            "unmatched_specials": len(self.unmatched_specials),
            "unused_ids": len(self.unused),
        }
