"""Byte-span alignment of two tokenizations of the same text: the chunks both tokenizers agree on.

Cross-tokenizer distillation (ALM, :mod:`retok.training.distill.losses`) compares teacher and student on pieces of text
that *both* tokenizations spell with whole tokens. Each token is placed on the text's UTF-8 bytes
through its canonical key (:class:`~retok.vocab.CanonicalVocab`: ``Ġ``, ``▁``, ``<0xNN>`` byte
fallback and ``##`` all become plain bytes), so any two HF tokenizers are comparable.

- A **cut** is a byte position where a token starts or ends on *both* sides.
- ``"unconstrained"`` chunks run between consecutive cuts: the minimal co-terminating chunks.
- ``"space"`` chunks keep only the cuts in front of whitespace (and the two ends), so a chunk is a
  word with its leading space: the places where tokenizers split alike, which keeps the chunk
  likelihoods of the two sides comparable (the "tokenization bias" of a cut inside a word).

Special tokens take no bytes of plain text (a document separator sits between paragraphs); in a
rendered chat template they take their literal string. Either way they belong to no chunk. A chunk
is kept only if both sides tile it exactly; for chat (:func:`align_conversation`) only the message
contents are aligned, so two different templates and their special tokens can meet.

The invariant (tested as a property): the kept chunks tile the aligned bytes exactly, in both
tokenizations, and every token of a chunk lies inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from transformers import PreTrainedTokenizerBase

from retok.errors import RetokError
from retok.vocab.canonical import CanonicalVocab

ChunkKind = Literal["unconstrained", "space"]
CHUNK_KINDS: tuple[str, ...] = ("unconstrained", "space")
WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")


@dataclass(frozen=True)
class TokenSpans:
    """Where each token of ``ids`` sits on the text's bytes: ``[starts[i], ends[i])``; zero width = in no chunk."""

    ids: list[int]
    starts: np.ndarray  # (T,) int64
    ends: np.ndarray  # (T,) int64

    @property
    def widths(self) -> np.ndarray:
        return self.ends - self.starts

    def shifted(self, offset: int) -> TokenSpans:
        return TokenSpans(self.ids, self.starts + offset, self.ends + offset)


def token_spans(vocab: CanonicalVocab, ids: Sequence[int], text: str | bytes, *, what: str = "tokenizer") -> TokenSpans:
    """Place every token of ``ids`` on the bytes of ``text`` (which they must spell exactly).

    A special token takes its literal string when the text has it there (a rendered chat template),
    else no bytes. A word-start space that the tokenizer adds itself (SentencePiece's dummy prefix,
    ``add_prefix_space``) at the start of the text or after a special token is not part of the text.

    Raises:
        RetokError: the tokens do not spell ``text`` (a normalizer that rewrites text, unknown tokens).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    starts = np.zeros(len(ids), dtype=np.int64)
    ends = np.zeros(len(ids), dtype=np.int64)
    pos, after_special = 0, True
    for k, i in enumerate(ids):
        key = vocab.keys[i] if 0 <= i < len(vocab.keys) else None
        if key is None:
            string = vocab.specials.get(i)
            if string is None:
                raise RetokError(f"the {what} has no token with id {i}; the ids do not come from this tokenizer")
            literal = string.encode("utf-8")
            width = len(literal) if literal and data.startswith(literal, pos) else 0
            starts[k], ends[k] = pos, pos + width
            pos, after_special = pos + width, True
            continue
        if not data.startswith(key, pos):
            if after_special and key[:1] == b" " and data.startswith(key[1:], pos):
                key = key[1:]  # the tokenizer's own word-start space
            else:
                found = data[pos : pos + len(key)]
                raise RetokError(
                    f"the {what} does not spell the text back: at byte {pos} its token {key!r} stands where the text has {found!r} "
                    f"(a normalizer that rewrites text, or unknown tokens); distillation needs both tokenizers to round-trip the text exactly"
                )
        starts[k], ends[k] = pos, pos + len(key)
        pos, after_special = pos + len(key), False
    if pos != len(data):
        raise RetokError(f"the {what}'s tokens spell {pos} of the text's {len(data)} bytes; distillation needs them to round-trip the text exactly")
    return TokenSpans(list(ids), starts, ends)


def chunk_cuts(a: TokenSpans, b: TokenSpans, data: bytes, kind: ChunkKind = "space", *, forced: Sequence[int] = ()) -> np.ndarray:
    """The sorted byte positions ``(K+1,)`` that cut the text into chunks: token edges on both sides.

    ``kind="space"`` keeps the cuts in front of whitespace, the first and last one, and those in
    ``forced`` (e.g. the edges between chat messages).
    """
    if kind not in CHUNK_KINDS:
        raise RetokError(f"unknown chunk kind {kind!r}; choose one of {', '.join(CHUNK_KINDS)}")
    cuts = np.intersect1d(edges(a), edges(b))
    if kind == "space" and len(cuts) > 2:
        inner = cuts[1:-1]
        keep = np.fromiter((data[p] in WHITESPACE for p in inner), dtype=bool, count=len(inner)) | np.isin(inner, np.asarray(forced, dtype=np.int64))
        cuts = np.concatenate([cuts[:1], inner[keep], cuts[-1:]])
    return cuts


def edges(spans: TokenSpans) -> np.ndarray:
    """The byte positions where a token with bytes starts or ends."""
    real = spans.widths > 0
    return np.union1d(spans.starts[real], spans.ends[real])


def chunk_ids(spans: TokenSpans, cuts: np.ndarray) -> np.ndarray:
    """Each token's chunk: ``(T,)`` int64, the index ``k`` of ``[cuts[k], cuts[k+1])`` holding it, -1 for none.

    A token takes a chunk only if it lies inside one (zero-width tokens, tokens outside the cuts: -1).
    """
    out = np.full(len(spans.ids), -1, dtype=np.int64)
    if len(cuts) < 2:
        return out
    k = np.searchsorted(cuts, spans.starts, side="right") - 1
    inside = (spans.widths > 0) & (k >= 0) & (k < len(cuts) - 1)
    k_safe = np.clip(k, 0, len(cuts) - 2)
    inside &= spans.ends <= cuts[k_safe + 1]
    out[inside] = k[inside]
    return out


@dataclass(frozen=True)
class AlignedPair:
    """Two tokenizations of the same bytes, with the chunks they share.

    ``teacher_chunks`` / ``student_chunks`` give each token's chunk (-1: none); chunk ``k`` spans bytes
    ``[cuts[k], cuts[k+1])``; only ``kept`` chunks are tiled exactly by both sides.
    """

    data: bytes
    teacher: TokenSpans
    student: TokenSpans
    cuts: np.ndarray
    teacher_chunks: np.ndarray
    student_chunks: np.ndarray
    kept: np.ndarray  # (K,) bool

    @property
    def n_chunks(self) -> int:
        return max(0, len(self.cuts) - 1)

    def chunk_text(self, k: int) -> bytes:
        return self.data[self.cuts[k] : self.cuts[k + 1]]


def align_spans(teacher: TokenSpans, student: TokenSpans, data: bytes, kind: ChunkKind = "space", *, forced: Sequence[int] = ()) -> AlignedPair:
    """The shared chunks of two placed tokenizations of ``data``; tokens of chunks not tiled by both sides get -1.

    ``forced``: positions that stay cuts for ``kind="space"`` too, where both sides have a token edge.
    """
    cuts = chunk_cuts(teacher, student, data, kind, forced=forced)
    n = max(0, len(cuts) - 1)
    t_chunks, s_chunks = chunk_ids(teacher, cuts), chunk_ids(student, cuts)
    lengths = np.diff(cuts) if n else np.zeros(0, dtype=np.int64)
    kept = (covered(teacher, t_chunks, n) == lengths) & (covered(student, s_chunks, n) == lengths) & (lengths > 0)
    return AlignedPair(data, teacher, student, cuts, only_kept(t_chunks, kept), only_kept(s_chunks, kept), kept)


def only_kept(chunks: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """``chunks`` with -1 for every token whose chunk is not kept."""
    ok = chunks >= 0
    ok[ok] = kept[chunks[ok]]
    return np.where(ok, chunks, -1)


def covered(spans: TokenSpans, chunks: np.ndarray, n: int) -> np.ndarray:
    """Bytes of each of ``n`` chunks covered by its tokens: ``(n,)`` int64."""
    inside = chunks >= 0
    return np.bincount(chunks[inside], weights=spans.widths[inside], minlength=n).astype(np.int64)[:n]


def align_texts(
    text: str,
    teacher: PreTrainedTokenizerBase | CanonicalVocab,
    student: PreTrainedTokenizerBase | CanonicalVocab,
    kind: ChunkKind = "space",
) -> AlignedPair:
    """Tokenize ``text`` with both tokenizers (no special tokens) and align the two tokenizations."""
    t_vocab, s_vocab = vocab_of(teacher), vocab_of(student)
    data = text.encode("utf-8")
    t = token_spans(t_vocab, t_vocab.tokenizer(text, add_special_tokens=False)["input_ids"], data, what="teacher's tokenizer")
    s = token_spans(s_vocab, s_vocab.tokenizer(text, add_special_tokens=False)["input_ids"], data, what="student's tokenizer")
    return align_spans(t, s, data, kind)


def align_conversation(
    messages: Sequence[Mapping[str, str]],
    teacher: PreTrainedTokenizerBase | CanonicalVocab,
    student: PreTrainedTokenizerBase | CanonicalVocab,
    kind: ChunkKind = "space",
) -> AlignedPair:
    """Apply each side's chat template to the same ``messages`` and align the message contents.

    Each side keeps its own template, special tokens included (they are context, in no chunk). The
    spans of the returned pair are in *content* coordinates: the message contents, concatenated.
    Tokens of template text (and the few that straddle a template/content edge) are in no chunk.
    """
    t_vocab, s_vocab = vocab_of(teacher), vocab_of(student)
    contents = [m["content"].encode("utf-8") for m in messages]
    t = rendered_content_spans(t_vocab, messages, contents, what="teacher's tokenizer")
    s = rendered_content_spans(s_vocab, messages, contents, what="student's tokenizer")
    edges_between = np.cumsum([len(c) for c in contents])[:-1]
    return align_spans(t, s, b"".join(contents), kind, forced=edges_between)


def rendered_content_spans(vocab: CanonicalVocab, messages: Sequence[Mapping[str, str]], contents: list[bytes], *, what: str) -> TokenSpans:
    """Token spans of a rendered chat template, moved into content coordinates (template tokens: zero width)."""
    tok = vocab.tokenizer
    if not getattr(tok, "chat_template", None):
        raise RetokError(f"the {what} has no chat template; give it one (tokenizer.chat_template) or align plain text")
    rendered = tok.apply_chat_template(list(messages), tokenize=False).encode("utf-8")
    ids = tok(rendered.decode("utf-8"), add_special_tokens=False)["input_ids"]
    spans = token_spans(vocab, ids, rendered, what=what)
    starts = np.zeros_like(spans.starts)
    ends = np.zeros_like(spans.ends)
    cursor, offset = 0, 0
    for content in contents:
        at = rendered.find(content, cursor)
        if at < 0:
            raise RetokError(f"the {what}'s chat template does not keep a message's content verbatim; cannot align its conversation")
        inside = (spans.starts >= at) & (spans.ends <= at + len(content)) & (spans.widths > 0)
        starts[inside] = spans.starts[inside] - at + offset
        ends[inside] = spans.ends[inside] - at + offset
        cursor, offset = at + len(content), offset + len(content)
    # template tokens sit, zero-wide, where the content before them ends (spans stay in text order)
    placed = ends > starts
    position = np.maximum.accumulate(np.where(placed, ends, 0)) if len(ends) else ends
    before = np.concatenate([[0], position[:-1]]) if len(ends) else ends
    starts = np.where(placed, starts, before)
    ends = np.where(placed, ends, before)
    return TokenSpans(spans.ids, starts, ends)


def vocab_of(tokenizer: PreTrainedTokenizerBase | CanonicalVocab) -> CanonicalVocab:
    return tokenizer if isinstance(tokenizer, CanonicalVocab) else CanonicalVocab.of(tokenizer)


__all__ = ["AlignedPair", "CHUNK_KINDS", "ChunkKind", "TokenSpans", "align_conversation", "align_spans", "align_texts", "chunk_cuts",
           "chunk_ids", "token_spans"]
