"""Aligned static word vectors for the embedding-space methods (``wechsel``, ``tokenadapt``'s fastText space).

:class:`WordVectorOptions` is the block of options a config inherits to name its vectors;
:func:`aligned_word_space` turns those options into two :class:`~retok.transfer.static.StaticVectors` in
one space (the source vectors rotated onto the target ones) and :func:`token_vectors` embeds
tokens of a vocabulary there, by their canonical bytes: the word-start flag comes from the
leading space of the key, never from ``decode(id).strip()``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from retok.errors import RetokError
from retok.transfer.static import StaticVectors, align, load_dictionary, train_fasttext
from retok.vocab.canonical import CanonicalVocab


_WHITESPACE = re.compile(r"\s")  # what str.isspace() calls whitespace (Unicode), searched at C speed


@dataclass(frozen=True, kw_only=True)
class WordVectorOptions:
    """Where the source- and target-language word vectors come from, and how they are aligned."""

    source_vectors: str = field(default="", metadata={"help": "source-language vectors: fastText .bin or word2vec .vec (or give --source-text)"})
    target_vectors: str = field(default="", metadata={"help": "target-language vectors: fastText .bin or word2vec .vec (or give --target-text)"})
    source_text: str = field(default="", metadata={"help": "source-language text file to train fastText on when no --source-vectors (cached)"})
    target_text: str = field(default="", metadata={"help": "target-language text file to train fastText on when no --target-vectors (cached)"})
    dictionary: str = field(default="", metadata={"help": "bilingual dictionary: a 'source<TAB>target' TSV or 'freedict:eng-deu'"})
    align: Literal["dictionary", "identical", "none"] = field(
        default="dictionary",
        metadata={"help": "how to map the source space onto the target: dictionary pairs (+ identical strings), identical strings only, or none (pre-aligned vectors)"},
    )
    vector_dim: int = field(default=100, metadata={"help": "fastText dimension when training vectors from text", "min": 1})
    vector_epochs: int = field(default=10, metadata={"help": "fastText epochs when training vectors from text", "min": 1})
    vector_min_count: int = field(default=3, metadata={"help": "fastText min_count when training vectors from text", "min": 1})
    vector_bucket: int = field(default=0, metadata={"help": "fastText n-gram hash buckets when training vectors from text (0: picked from the corpus size; fastText's own default is 2000000)", "min": 0})
    vector_threads: int = field(default=1, metadata={"help": "fastText threads when training vectors from text (1: reproducible from --seed; more is faster but not reproducible)", "min": 1})


@dataclass(frozen=True)
class AlignedWordSpace:
    """source: source-language vectors rotated into the target space; target: target-language vectors."""

    source: StaticVectors
    target: StaticVectors
    report: dict[str, Any]


def load_or_train(vectors: str, text: str, *, side: str, options: WordVectorOptions, seed: int, progress: bool) -> StaticVectors:
    """The vectors file if given, else fastText trained (and cached) on the text file with ``seed``."""
    if vectors:
        return StaticVectors.load(vectors)
    if text:
        path = train_fasttext(
            text,
            dim=options.vector_dim,
            epochs=options.vector_epochs,
            min_count=options.vector_min_count,
            seed=seed,
            threads=options.vector_threads,
            bucket=options.vector_bucket or None,
            progress=progress,
        )
        return StaticVectors.load(path)
    raise RetokError(
        f"no {side}-language word vectors: pass {side}_vectors=FILE (.bin or .vec) or {side}_text=FILE "
        f"(a {side}-language text to train fastText on; CLI --{side}-vectors / --{side}-text)"
    )


def aligned_word_space(options: WordVectorOptions, *, seed: int = 0, progress: bool = True) -> AlignedWordSpace:
    """Load (or train) both vector sets and rotate the source onto the target as ``options.align`` says.

    Every input is checked before fastText trains (minutes): both sides name vectors or a text,
    and the dictionary loads.
    """
    for side, vectors, text in (("source", options.source_vectors, options.source_text), ("target", options.target_vectors, options.target_text)):
        if not vectors and not text:
            load_or_train(vectors, text, side=side, options=options, seed=seed, progress=progress)  # raises the error that says what to pass
    pairs: list[tuple[str, str]] = []
    if options.align == "dictionary":
        if not options.dictionary:
            raise RetokError(
                "align='dictionary' needs a bilingual dictionary: pass dictionary='freedict:eng-deu' (Debian FreeDict) "
                "or a TSV of 'source<TAB>target' pairs; for a language pair without one, use align='identical' "
                "(identical strings as seed pairs) or align='none' for vectors that are already aligned"
            )
        pairs = load_dictionary(options.dictionary)
    start = time.perf_counter()
    source = load_or_train(options.source_vectors, options.source_text, side="source", options=options, seed=seed, progress=progress)
    target = load_or_train(options.target_vectors, options.target_text, side="target", options=options, seed=seed, progress=progress)
    seconds = time.perf_counter() - start  # reported: loading (or training) the vectors is a large, fixed share of the time
    if source.dim != target.dim:
        raise RetokError(
            f"the source vectors have dimension {source.dim} but the target vectors {target.dim}; "
            "use vectors of equal dimension (train both with the same vector_dim)"
        )
    report: dict[str, Any] = {"align": options.align, "source_words": len(source), "target_words": len(target), "vectors_seconds": seconds}
    if options.align == "none":
        return AlignedWordSpace(source, target, report)
    if pairs:
        fitted = align(source, target, pairs, seed=seed)
    else:
        shared = [(w, w) for w in source.words if w in target]
        if not shared:
            raise RetokError("align='identical' found no string in both vocabularies; pass a dictionary or pre-aligned vectors")
        fitted = align(source, target, shared, held_out=0, identical=False, seed=seed)
    report.update(fitted.to_dict())
    return AlignedWordSpace(source.rotated(fitted.rotation), target, report)


def token_texts(vocab: CanonicalVocab, ids: list[int]) -> tuple[list[str], list[bool], np.ndarray]:
    """The text and word-start flag of each token, from its canonical bytes.

    Returns texts, word_start, usable (N,) bool: False for specials, byte tokens that are not valid
    UTF-8 on their own, and tokens that are only whitespace or punctuation-free empty strings.
    """
    texts, starts, usable = [], [], np.zeros(len(ids), dtype=bool)
    for n, i in enumerate(ids):
        key = vocab.keys[i]
        text, start = "", False
        if key is not None:
            start = key.startswith(b" ")
            try:
                text = key.lstrip(b" ").decode("utf-8")
            except UnicodeDecodeError:
                text = ""
        usable[n] = bool(text) and _WHITESPACE.search(text) is None
        texts.append(text)
        starts.append(start)
    return texts, starts, usable


def token_vectors(vectors: StaticVectors, vocab: CanonicalVocab, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (N, d) float32 of the tokens ``ids`` of ``vocab`` in the space of ``vectors``, and found (N,) bool."""
    texts, starts, usable = token_texts(vocab, ids)
    out, found = vectors.token_vectors(texts, starts)
    found = found & usable
    out[~found] = 0.0
    return out, found
