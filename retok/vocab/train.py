"""Train a new tokenizer for a target language that keeps the source tokenizer's conventions.

The new tokenizer is what a tokenizer transfer swaps in: it must look like the old one from the
outside so that the model, its chat template and its generation settings keep working. It
inherits from the source (``like``) tokenizer:

- the normalizer, pre-tokenizer, decoder and post-processor of its ``tokenizers`` backend
  (copied through JSON, so the two tokenizers share no objects);
- every added token marked special, with the same strings in the same order, so that they take
  the lowest ids ``0..n-1`` (SmolLM2's 17 specials stay at ids 0-16);
- the special-token roles (bos/eos/pad/unk/..., same strings), the extra special tokens, the
  chat template, ``model_max_length`` and the padding/truncation sides.

Only the model (the vocabulary and its merges or scores) is learned, with the ``tokenizers``
trainers: ``kind="bpe"`` (``BpeTrainer``) or ``kind="unigram"`` (``UnigramTrainer``). The one
exception is ``supertokens=True`` (byte-level BPE only): the last part of the vocabulary is
learned across word boundaries, and the pre-tokenizer then splits phrases, not words
(:mod:`retok.vocab.supertokens`).

The source's family (:func:`retok.vocab.pipeline.family_of`, the same one that
:mod:`retok.vocab` uses for canonical keys) decides how:

- byte-level (``ByteLevel`` in the pre-tokenizer or decoder, maybe inside a ``Sequence``; GPT-2,
  Llama-3, Qwen2, SmolLM2): all 256 byte symbols are in the vocabulary, so any text encodes
  without an unknown token and decodes back exactly;
- SentencePiece-style (the ``metaspace`` family: a ``Metaspace`` pre-tokenizer or decoder, a
  normalizer that writes ``▁``, or byte fallback; Llama-2, Mistral, Gemma): the ``▁`` normalizer
  steps that a Metaspace pre-tokenizer reproduces are dropped and a
  ``Metaspace(prepend_scheme="first")`` pre-tokenizer splits words instead, because training
  behind a space-replacing normalizer learns pieces that cross word boundaries
  (transformers#27900). A source whose normalizer writes ``▁`` without a dummy prefix (Gemma:
  ``Replace(" ", "▁")`` alone, no ``Prepend``, no Metaspace) keeps its whole pipeline instead;
  only the trainer sees an extra ``Metaspace(prepend_scheme="never")`` word splitter, so the new
  tokenizer encodes and decodes the way its source does (no leading ``▁`` added). Byte fallback
  is switched on and the 256 ``<0xNN>`` tokens follow the specials (the Llama-2 layout), also
  for unigram, whose trainer drops byte fallback (tokenizers#1515);
- anything else (WordPiece, plain): the pipeline is copied as it is, a ``##`` continuation
  prefix is kept (the model becomes a BPE with that prefix, still the ``wordpiece`` family), and
  characters never seen in training map to the unknown token.

Non-special added tokens of the source (e.g. Qwen2's ``<tool_call>``) are not carried over: they
belong to the source's vocabulary, not to its conventions.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from retok.atomic import atomic_dir
from retok.errors import RetokError
from retok.loading import load_tokenizer
from retok.progress import bars_on
from retok.textio import read_text
from .pipeline import (
    BYTE_TOKENS,
    ROLE_PRIORITY,
    SPACE_MARKER,
    Family,
    backend_json,
    family_of,
    fast_backend,
    find_component,
    is_space_marker_step,
    mentions,
    writes_space_marker,
)
from .supertokens import DEFAULT_MAX_WORDS, DEFAULT_SUPERTOKEN_FRACTION, learn_supertokens

__all__ = ["KINDS", "save_tokenizer", "train_tokenizer"]

KINDS: tuple[str, ...] = ("bpe", "unigram")

_BYTE_TOKEN_SET = frozenset(BYTE_TOKENS)
# Tokenizer-level settings copied from the source as they are.
_COPIED_SETTINGS = ("model_max_length", "padding_side", "truncation_side", "clean_up_tokenization_spaces")


def train_tokenizer(
    corpus: str | os.PathLike | Iterable[str],
    *,
    vocab_size: int,
    like: PreTrainedTokenizerBase | str | os.PathLike,
    kind: Literal["bpe", "unigram"] = "bpe",
    min_frequency: int = 1,
    supertokens: bool = False,
    max_words: int = DEFAULT_MAX_WORDS,
    supertoken_fraction: float = DEFAULT_SUPERTOKEN_FRACTION,
    progress: bool = True,
) -> PreTrainedTokenizerBase:
    """Train a ``kind`` tokenizer of ``vocab_size`` entries on ``corpus`` that inherits ``like``'s conventions.

    Args:
        corpus: a path to a UTF-8 text file (each non-empty line is one training text) or an
            iterable of strings (paragraphs or lines). A ``str`` is always read as a path.
        vocab_size: entries in the new vocabulary, specials and byte tokens included; an upper
            bound. BPE reaches it exactly unless the corpus runs out of pairs seen
            ``min_frequency`` times (German LibreOffice help, 3.3 MB, at 32,000: 25,248 entries
            with ``min_frequency=2``, 32,000 with the default 1). Unigram stops below it when too few
            pieces keep an expected count of 0.5 (the same corpus at 32,000: about 16,100).
        like: the source tokenizer, a fast (``tokenizers``-backed) one, or a folder or hub id
            that ``AutoTokenizer.from_pretrained`` loads.
        kind: ``"bpe"`` or ``"unigram"``.
        min_frequency: BPE only (unigram ignores it): a pair must be seen this often to be merged.
        supertokens: byte-level BPE only: learn the last ``supertoken_fraction`` of the
            vocabulary as merges across word boundaries (:mod:`retok.vocab.supertokens`); the
            pre-tokenizer then splits text into phrases instead of words.
        max_words: with ``supertokens``, the most words one entry may span (>= 2).
        supertoken_fraction: with ``supertokens``, the share of ``vocab_size`` learned after
            the word-level stage, in (0, 1).
        progress: show the ``tokenizers`` trainer's progress bars.

    Returns:
        A ``PreTrainedTokenizerFast``: the inherited specials at ids ``0..n-1`` in the source's
        order, then (SentencePiece-style sources) the 256 ``<0xNN>`` byte tokens, then the
        learned vocabulary. The same corpus and settings give the same vocabulary (token ->
        id); for BPE the whole tokenizer is byte-identical, unigram scores can differ in the
        last bits (see :func:`_canonical_unigram`).
    """
    if kind not in KINDS:
        raise RetokError(f"unknown tokenizer kind {kind!r}; allowed kinds: {', '.join(KINDS)}")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise RetokError(f"vocab_size must be an int, got {vocab_size!r}")
    if not isinstance(min_frequency, int) or isinstance(min_frequency, bool) or min_frequency < 1:
        raise RetokError(f"min_frequency must be an int >= 1, got {min_frequency!r}")
    texts = _read_corpus(corpus)  # cheap checks first: a bad corpus fails before any tokenizer loads
    source = _load_like(like)
    spec = _inherit(source)
    if kind == "unigram" and spec.continuing_subword_prefix:
        raise RetokError(
            f"the source tokenizer marks word continuations with {spec.continuing_subword_prefix!r} "
            "(WordPiece-style), which a unigram model cannot produce; use kind='bpe'"
        )
    minimum = len(spec.specials) + spec.n_alphabet
    if vocab_size <= minimum:
        what = f"{len(spec.specials)} inherited special tokens"
        if spec.n_alphabet:
            what += f" + {spec.n_alphabet} byte tokens"
        raise RetokError(
            f"vocab_size={vocab_size} is too small: the new tokenizer needs {what} = {minimum} entries "
            f"before it learns anything; pass vocab_size >= {minimum + 1} (real tokenizers use thousands)"
        )
    if supertokens:
        stage1_size = _check_supertokens(kind, spec, vocab_size, minimum, max_words, supertoken_fraction)
        backend = _train_bpe(texts, spec, vocab_size=stage1_size, min_frequency=min_frequency, progress=progress)
        backend = learn_supertokens(
            backend, texts, vocab_size=vocab_size, n_frozen=len(spec.specials), max_words=max_words,
            min_frequency=min_frequency, progress=progress,
        )
    elif kind == "bpe":
        backend = _train_bpe(texts, spec, vocab_size=vocab_size, min_frequency=min_frequency, progress=progress)
    else:
        backend = _train_unigram(texts, spec, vocab_size=vocab_size, progress=progress)
    backend = _finish_backend(backend, spec)
    return _wrap(backend, source, spec)


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, out_dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save ``tokenizer`` with ``save_pretrained`` into ``out_dir`` atomically; return the folder.

    The folder loads with ``AutoTokenizer.from_pretrained``. An existing ``out_dir`` is only
    replaced with ``overwrite=True``, and a failed save leaves it as it was.
    """
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise RetokError(f"save_tokenizer expects a transformers tokenizer, got {type(tokenizer).__name__}")
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)


# --------------------------------------------------------------------------------------------
# What the new tokenizer inherits


@dataclass
class _Inherited:
    """The parts of the source tokenizer that the new one keeps, read once."""

    pipeline: dict[str, Any]  # normalizer, pre_tokenizer, decoder (tokenizers JSON), adapted
    post_processor: dict[str, Any] | None  # tokenizers JSON, still with the source's ids
    specials: list[AddedToken]  # in the order they get ids 0..n-1
    roles: dict[str, str]  # role -> token string (standard and model-specific roles)
    extra_special_tokens: list[str]
    family: Family  # of the source; the new tokenizer has the same one
    continuing_subword_prefix: str | None
    end_of_word_suffix: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    #: what the trainer sees instead of ``pipeline``, when they differ (a Gemma-style source: a word splitter)
    training_pipeline: dict[str, Any] | None = None

    @property
    def byte_level(self) -> bool:
        return self.family == "byte_level"

    @property
    def sentencepiece(self) -> bool:
        """SentencePiece-style: ``▁`` word starts and ``<0xNN>`` byte fallback."""
        return self.family == "metaspace"

    @property
    def n_alphabet(self) -> int:
        """Entries the vocabulary must hold besides the specials: the 256 bytes, if any."""
        return 256 if (self.byte_level or self.sentencepiece) else 0

    @property
    def unk(self) -> str | None:
        return self.roles.get("unk_token")


def _load_like(like: PreTrainedTokenizerBase | str | os.PathLike) -> PreTrainedTokenizerBase:
    if isinstance(like, (str, os.PathLike)):
        like = load_tokenizer(like)
    if not isinstance(like, PreTrainedTokenizerBase):
        raise RetokError(
            f"like must be a transformers tokenizer, a folder or a hub id, got {type(like).__name__}"
        )
    fast_backend(like, what="the source tokenizer")  # a slow tokenizer fails here, before any training
    return like


def _inherit(like: PreTrainedTokenizerBase) -> _Inherited:
    src = backend_json(like, what="the source tokenizer")
    model = src.get("model") or {}
    pipeline = {key: src.get(key) for key in ("normalizer", "pre_tokenizer", "decoder")}
    family = family_of(src)
    training_pipeline = None
    if family == "metaspace" and _marker_without_prefix(pipeline):
        pipeline, training_pipeline = _no_prefix_pipelines(pipeline)
    elif family == "metaspace":
        pipeline = _sentencepiece_pipeline(pipeline)

    roles: dict[str, str] = {}
    # A source may add model-specific roles (e.g. ``image_token``) to its SPECIAL_TOKENS_ATTRIBUTES.
    for role in getattr(like, "SPECIAL_TOKENS_ATTRIBUTES", ROLE_PRIORITY):
        value = getattr(like, role, None)
        if isinstance(value, str):
            roles[role] = value
    extras = [str(t) for t in (getattr(like, "extra_special_tokens", None) or [])]

    # Specials in id order; then any role or extra token that the backend did not list as special.
    added = sorted((t for t in src.get("added_tokens", []) if t.get("special")), key=lambda t: t["id"])
    specials = [
        AddedToken(
            t["content"],
            single_word=t.get("single_word", False),
            lstrip=t.get("lstrip", False),
            rstrip=t.get("rstrip", False),
            normalized=t.get("normalized", False),
            special=True,
        )
        for t in added
    ]
    seen = {t.content for t in specials}
    for token in [*roles.values(), *extras]:
        if token not in seen:
            specials.append(AddedToken(token, normalized=False, special=True))
            seen.add(token)

    prefix = model.get("continuing_subword_prefix") or None
    if model.get("type") not in ("BPE", "WordPiece"):
        prefix = None
    settings = {name: getattr(like, name) for name in _COPIED_SETTINGS if hasattr(like, name)}
    return _Inherited(
        pipeline=pipeline,
        post_processor=src.get("post_processor"),
        specials=specials,
        roles=roles,
        extra_special_tokens=extras,
        family=family,
        continuing_subword_prefix=prefix,
        end_of_word_suffix=(model.get("end_of_word_suffix") or None) if model.get("type") == "BPE" else None,
        settings=settings,
        training_pipeline=training_pipeline,
    )


def _sentencepiece_pipeline(pipeline: dict[str, Any]) -> dict[str, Any]:
    """Move word splitting from a ``▁``-writing normalizer to a Metaspace pre-tokenizer; add byte fallback decoding.

    Training behind a normalizer that replaces spaces by ``▁`` sees each line as one "word" and
    learns pieces across word boundaries (transformers#27900); a Metaspace pre-tokenizer with
    ``prepend_scheme="first"`` marks words the same way with the boundaries kept. One difference
    stays: a text that starts with a space loses it in a round trip (Metaspace adds no ``▁``
    before one that is already there, and the decoder strips one), as with SentencePiece itself.
    """
    pipeline = copy.deepcopy(pipeline)
    normalizer = pipeline["normalizer"]
    if normalizer and normalizer.get("type") == "Sequence":
        kept = [n for n in normalizer.get("normalizers", []) if not is_space_marker_step(n)]
        pipeline["normalizer"] = {"type": "Sequence", "normalizers": kept} if kept else None
    elif normalizer and is_space_marker_step(normalizer):
        pipeline["normalizer"] = None

    pre = pipeline["pre_tokenizer"]
    source_metaspace = find_component(pre, "Metaspace") or {}
    replacement = source_metaspace.get("replacement", SPACE_MARKER)
    # "first", not "always": text after a special token gets no ▁ of its own (pitfall of
    # legacy Llama tokenizers); a source that never prepends keeps doing so.
    prepend = "never" if source_metaspace.get("prepend_scheme") == "never" else "first"
    # split=True keeps pieces inside words even if the source's Metaspace did not split.
    metaspace = {"type": "Metaspace", "replacement": replacement, "prepend_scheme": prepend, "split": True}
    if not pre or pre.get("type") == "Metaspace":
        pipeline["pre_tokenizer"] = metaspace
    elif pre.get("type") == "Sequence" and mentions(pre, "Metaspace"):
        pre["pretokenizers"] = [metaspace if p.get("type") == "Metaspace" else p for p in pre["pretokenizers"]]
    else:
        pipeline["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [metaspace, pre]}

    pipeline["decoder"] = _byte_fallback_decoder(pipeline["decoder"], replacement, strip_prefix=prepend != "never")
    return pipeline


def _marker_without_prefix(pipeline: dict[str, Any]) -> bool:
    """Gemma-style: only the normalizer writes ``▁`` (no Metaspace pre-tokenizer) and it prepends no dummy ``▁``."""
    normalizer = pipeline["normalizer"]
    return (
        writes_space_marker(normalizer)
        and not _prepends_marker(normalizer)
        and not mentions(pipeline["pre_tokenizer"], "Metaspace")
    )


def _prepends_marker(normalizer: dict[str, Any] | None) -> bool:
    """Whether a normalizer holds a ``Prepend`` step (at any depth) that writes ``▁`` (legacy Llama-2's dummy prefix)."""
    if not normalizer:
        return False
    if normalizer.get("type") == "Prepend":
        return SPACE_MARKER in (normalizer.get("prepend") or "")
    return any(_prepends_marker(part) for part in normalizer.get("normalizers") or [])


def _no_prefix_pipelines(pipeline: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipelines for a source whose normalizer writes ``▁`` without a dummy prefix: (the new tokenizer's, the trainer's).

    The new tokenizer keeps the source's normalizer, pre-tokenizer and decoder (the decoder gets a
    ``ByteFallback`` step if it lacks one), so it never adds a ``▁`` its source would not: replacing the
    normalizer by ``Metaspace(prepend_scheme="first")`` made a Gemma-style tokenizer decode every text
    with an extra leading space. The trainer sees the same pipeline plus ``Metaspace(prepend_scheme="never",
    split=True)``, which splits the normalized text before each ``▁``, so no learned piece crosses a word
    start (transformers#27900). Encoding without that splitter gives the same tokens: no piece and no
    merge holds a ``▁`` anywhere but at its start, so every token boundary falls before each ``▁``.
    """
    final = copy.deepcopy(pipeline)
    final["decoder"] = _byte_fallback_decoder(final["decoder"], SPACE_MARKER, strip_prefix=False)
    training = copy.deepcopy(final)
    splitter = {"type": "Metaspace", "replacement": SPACE_MARKER, "prepend_scheme": "never", "split": True}
    pre = training["pre_tokenizer"]
    training["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [pre, splitter]} if pre else splitter
    return final, training


def _byte_fallback_decoder(decoder: dict[str, Any] | None, replacement: str, *, strip_prefix: bool) -> dict[str, Any]:
    """``decoder`` with byte-fallback decoding; for none, SentencePiece's (``strip_prefix``: drop the dummy prefix's space)."""
    if not decoder:
        steps = [
            {"type": "Replace", "pattern": {"String": replacement}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ]
        if strip_prefix:
            steps.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
        return {"type": "Sequence", "decoders": steps}
    if not mentions(decoder, "ByteFallback"):
        # Byte tokens must become bytes before the word-marker decoder sees them.
        return {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, decoder]}
    return decoder


# --------------------------------------------------------------------------------------------
# The corpus


def _read_corpus(corpus: str | os.PathLike | Iterable[str]) -> list[str]:
    """Return the training texts: the non-empty lines of a file, or the strings of an iterable, in order."""
    if isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus)
        if isinstance(corpus, str) and ("\n" in corpus or len(corpus) > 1024) and not _is_file(path):
            raise RetokError(
                "corpus is a str that is not an existing file (a str is read as a path); "
                "pass in-memory text as a list of strings, e.g. corpus=text.splitlines()"
            )
        text = read_text(path, what="corpus file")
        return [line for line in (raw.rstrip("\r") for raw in text.split("\n")) if line.strip()]
    if isinstance(corpus, (bytes, bytearray)) or not isinstance(corpus, Iterable):
        raise RetokError(
            f"corpus must be a path to a UTF-8 text file or an iterable of strings, got {type(corpus).__name__}"
        )
    texts = []
    for i, item in enumerate(corpus):
        if not isinstance(item, str):
            raise RetokError(
                f"corpus item {i} is a {type(item).__name__}, not a str; pass strings (decode bytes as UTF-8 first)"
            )
        if item.strip():
            texts.append(item)
    if not texts:
        raise RetokError("corpus is empty (no non-blank strings); pass text in the target language")
    return texts


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name too long to be a path
        return False


# --------------------------------------------------------------------------------------------
# Training


def _check_supertokens(
    kind: str, spec: _Inherited, vocab_size: int, minimum: int, max_words: int, fraction: float
) -> int:
    """Check the supertoken options against the source; return the vocabulary size of the word-level stage."""
    if kind != "bpe":
        raise RetokError(f"supertokens are BPE merges across words; kind={kind!r} is not supported, use kind='bpe'")
    if not spec.byte_level:
        family = "SentencePiece-style" if spec.sentencepiece else "not byte-level"
        raise RetokError(
            f"supertokens need a byte-level BPE source (GPT-2, Llama-3, Qwen2, SmolLM2); this source is {family}"
        )
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 2:
        raise RetokError(f"max_words must be an int >= 2 (a supertoken spans several words), got {max_words!r}")
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise RetokError(f"supertoken_fraction must be a number in (0, 1), got {fraction!r}")
    stage1_size = vocab_size - round(fraction * vocab_size)
    if stage1_size <= minimum or stage1_size >= vocab_size:
        raise RetokError(
            f"vocab_size={vocab_size} with supertoken_fraction={fraction} leaves {stage1_size} entries for the word-level "
            f"stage, which needs more than {minimum} and fewer than {vocab_size}; raise vocab_size or change the fraction"
        )
    return stage1_size


def _untrained(model: models.Model, spec: _Inherited) -> Tokenizer:
    """An empty ``model`` behind the normalizer, pre-tokenizer and decoder the trainer sees (no post-processor yet)."""
    doc = json.loads(Tokenizer(model).to_str())
    doc.update(spec.training_pipeline or spec.pipeline)
    return Tokenizer.from_str(json.dumps(doc))


def _train_bpe(texts: list[str], spec: _Inherited, *, vocab_size: int, min_frequency: int, progress: bool) -> Tokenizer:
    options: dict[str, Any] = {}
    if spec.continuing_subword_prefix:
        options["continuing_subword_prefix"] = spec.continuing_subword_prefix
    if spec.end_of_word_suffix:
        options["end_of_word_suffix"] = spec.end_of_word_suffix
    # Unknown characters: impossible with byte-level or byte fallback, the unk role otherwise.
    unk = None if spec.byte_level else spec.unk
    tok = _untrained(models.BPE(unk_token=unk, fuse_unk=spec.sentencepiece, **options), spec)
    trainer = trainers.BpeTrainer(
        # The byte tokens of a SentencePiece-style vocabulary are added after training.
        vocab_size=vocab_size - (256 if spec.sentencepiece else 0),
        min_frequency=min_frequency,
        special_tokens=[copy.copy(t) for t in spec.specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if spec.byte_level else [],
        show_progress=bars_on(progress),
        **options,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if spec.sentencepiece:
        tok = _add_byte_fallback(tok, spec)
    return tok


def _train_unigram(texts: list[str], spec: _Inherited, *, vocab_size: int, progress: bool) -> Tokenizer:
    tok = _untrained(models.Unigram(), spec)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - (256 if spec.sentencepiece else 0),
        special_tokens=[copy.copy(t) for t in spec.specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if spec.byte_level else [],
        unk_token=spec.unk,
        show_progress=bars_on(progress),
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if spec.byte_level:
        tok = _ensure_byte_symbols(tok)
    tok = _canonical_unigram(tok, n_specials=len(spec.specials))
    if spec.sentencepiece:
        tok = _add_byte_fallback(tok, spec)
    return tok


def _ensure_byte_symbols(tok: Tokenizer) -> Tokenizer:
    """Make sure every byte-level symbol is a unigram piece, so no text ever maps to unk.

    The trainer keeps its ``initial_alphabet`` (tokenizers 0.23 does); this is a guard for
    versions that prune it. Missing symbols get a score below every learned piece.
    """
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    have = {piece for piece, _ in vocab}
    missing = [s for s in pre_tokenizers.ByteLevel.alphabet() if s not in have]
    if not missing:
        return tok
    floor = min(score for _, score in vocab) - 1.0
    vocab.extend([s, floor] for s in sorted(missing))
    return Tokenizer.from_str(json.dumps(doc))


def _canonical_unigram(tok: Tokenizer, *, n_specials: int) -> Tokenizer:
    """Give a trained unigram model the same piece order (ids) on every run.

    ``UnigramTrainer`` is not deterministic: it sums over word counts in hash-map order, so
    scores differ between runs in the last bits (about 1e-11), and the characters it must keep
    but never scored get ``min_score + k * 1e-4`` in hash-set order. Here those characters all
    get ``min_score`` (they can only stand for themselves, so this changes no segmentation), and
    the pieces are ordered by score rounded to 1e-3, then by string, so ids no longer depend on
    the noise. The pieces themselves have come out identical in every run we tried.
    """
    doc = json.loads(tok.to_str())
    model = doc["model"]
    head, rest = model["vocab"][:n_specials], model["vocab"][n_specials:]
    if not rest:
        return tok
    floor = min(score for _, score in rest)
    singles = sum(len(piece) == 1 for piece, _ in rest)
    band = floor + 1e-4 * (singles + 1)
    rest = [[piece, floor if (len(piece) == 1 and score < band) else score] for piece, score in rest]
    rest.sort(key=lambda ps: (-round(ps[1], 3), ps[0]))
    model["vocab"] = head + rest
    return Tokenizer.from_str(json.dumps(doc))


def _add_byte_fallback(tok: Tokenizer, spec: _Inherited) -> Tokenizer:
    """Insert ``<0x00>..<0xFF>`` right after the specials (the Llama-2 layout) and switch byte fallback on."""
    doc = json.loads(tok.to_str())
    model = doc["model"]
    n = len(spec.specials)
    if model["type"] == "BPE":
        ordered = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        learned = [t for t, _ in ordered[n:] if t not in _BYTE_TOKEN_SET]
        tokens = [t for t, _ in ordered[:n]] + list(BYTE_TOKENS) + learned
        model["vocab"] = {t: i for i, t in enumerate(tokens)}
        model["byte_fallback"] = True
    else:
        pieces = model["vocab"]
        # Byte pieces only stand in for characters outside the vocabulary; a literal "<0x41>" in
        # text should not prefer them, so they score below every learned piece.
        floor = min(score for _, score in pieces) - 10.0
        learned = [p for p in pieces[n:] if p[0] not in _BYTE_TOKEN_SET]
        model["vocab"] = pieces[:n] + [[b, floor] for b in BYTE_TOKENS] + learned
        model["byte_fallback"] = True
        if spec.unk is not None:
            model["unk_id"] = [p for p, _ in model["vocab"]].index(spec.unk)
    # The added tokens keep their ids: they are all among the first n entries.
    return Tokenizer.from_str(json.dumps(doc))


def _finish_backend(tok: Tokenizer, spec: _Inherited) -> Tokenizer:
    """Check the specials sit at ids 0..n-1, restore the pipeline if the trainer saw another, attach the post-processor."""
    for i, special in enumerate(spec.specials):
        if tok.token_to_id(special.content) != i:
            raise RuntimeError(
                f"special token {special.content!r} got id {tok.token_to_id(special.content)}, expected {i}; "
                "this is a bug in retok's tokenizer training"
            )
    if spec.post_processor is None and spec.training_pipeline is None:
        return tok
    doc = json.loads(tok.to_str())
    if spec.training_pipeline is not None:
        doc.update(copy.deepcopy(spec.pipeline))
    if spec.post_processor is not None:
        doc["post_processor"] = _remap_post_processor(copy.deepcopy(spec.post_processor), tok)
    return Tokenizer.from_str(json.dumps(doc))


def _remap_post_processor(pp: dict[str, Any], tok: Tokenizer) -> dict[str, Any]:
    """Rewrite the token ids a post-processor stores (TemplateProcessing, Bert/Roberta) to ``tok``'s ids."""

    def new_id(token: str) -> int:
        token_id = tok.token_to_id(token)
        if token_id is None:
            raise RetokError(
                f"the source's post-processor adds {token!r}, which is not a special token of the source, so the "
                "new tokenizer lacks it; add it to the source as a special token first"
            )
        return token_id

    if pp.get("type") == "Sequence":
        pp["processors"] = [_remap_post_processor(p, tok) for p in pp.get("processors", [])]
    for entry in (pp.get("special_tokens") or {}).values():
        entry["ids"] = [new_id(t) for t in entry["tokens"]]
    for key in ("cls", "sep"):
        if isinstance(pp.get(key), list):
            pp[key] = [pp[key][0], new_id(pp[key][0])]
    return pp


# --------------------------------------------------------------------------------------------
# The transformers wrapper


def _wrap(backend: Tokenizer, like: PreTrainedTokenizerBase, spec: _Inherited) -> PreTrainedTokenizerBase:
    kwargs: dict[str, Any] = dict(spec.settings)
    model_specific = {}
    for role, token in spec.roles.items():
        if role in ROLE_PRIORITY:
            kwargs[role] = token
        else:
            model_specific[role] = token
    if model_specific:
        kwargs["model_specific_special_tokens"] = model_specific
    if spec.extra_special_tokens:
        kwargs["extra_special_tokens"] = list(spec.extra_special_tokens)
    if getattr(like, "chat_template", None) is not None:
        kwargs["chat_template"] = copy.deepcopy(like.chat_template)
    kwargs["model_input_names"] = list(like.model_input_names)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)
