"""ZeTT's training tokenizers: a fresh Unigram tokenizer per batch, sampled from substring statistics of recent text.

Re-implemented from the description of ZeTT's tokenizer sampler (``anchors_zett_tokenkit.md`` §1.4):

1. pretokenize the text byte-level (GPT-2 regex), so every tokenizer is over the same 256-symbol alphabet;
2. count every substring of 2..``max_len`` symbols inside a pretoken; its score is count x length
   (the SentencePiece seed heuristic); the counts of the last few batches are summed;
3. probabilities = score / total, plus Gaussian noise whose std is itself drawn per batch from a
   log-normal (``exp(N(noise_mu, noise_sigma))``), so some tokenizers are nearly the text's own and some
   heavily randomized; the top ``size - 256`` substrings by noisy probability plus the 256 byte
   symbols form the vocabulary, with log-probabilities as Unigram scores (no EM re-estimation).

Pure functions of their inputs and a ``numpy`` generator: the same seed gives the same tokenizer.
Tokens are byte-level strings; :func:`token_bytes` turns one into the canonical bytes that
:meth:`retok.vocab.CanonicalVocab.pieces` decomposes under the source tokenizer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from retok.vocab.canonical import byte_to_unicode, unicode_to_byte

ALPHABET = [byte_to_unicode()[b] for b in range(256)]
PRETOKENIZER = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def pretokens(text: str) -> list[str]:
    """Byte-level pretokens of ``text`` (GPT-2 regex; a word's leading space is its ``Ġ``)."""
    return [piece for piece, _ in PRETOKENIZER.pre_tokenize_str(text)]


def substring_counts(texts: Iterable[str], *, max_len: int = 15) -> Counter[str]:
    """How often each substring of 2..max_len symbols occurs inside a pretoken of ``texts``."""
    counts: Counter[str] = Counter()
    for text in texts:
        for word in pretokens(text):
            n = len(word)
            for i in range(n - 1):
                for j in range(i + 2, min(n, i + max_len) + 1):
                    counts[word[i:j]] += 1
    return counts


def sample_vocab(counts: Counter[str], *, size: int, rng: np.random.Generator, noise_mu: float = float(np.log(1e-5)),
                 noise_sigma: float = 4.0) -> list[tuple[str, float]]:
    """A Unigram vocabulary of at most ``size`` (piece, log-probability) pairs: the 256 byte symbols + the top noisy substrings."""
    pieces = list(counts)
    scores = np.fromiter((counts[p] * len(p) for p in pieces), dtype=np.float64, count=len(pieces))
    probs = scores / max(scores.sum(), 1.0)
    noise_std = float(np.exp(rng.normal(noise_mu, noise_sigma))) if noise_sigma > 0 else float(np.exp(noise_mu))
    noisy = probs + noise_std * rng.standard_normal(len(probs))
    keep = min(size - len(ALPHABET), int((noisy > 0).sum()))
    top = np.argsort(-noisy, kind="stable")[:keep]
    vocab = [(pieces[i], float(np.log(noisy[i]))) for i in top]
    floor = min((s for _, s in vocab), default=0.0) - 1.0  # bytes only where nothing longer fits
    return vocab + [(symbol, floor) for symbol in ALPHABET]


def unigram_tokenizer(vocab: list[tuple[str, float]]) -> Tokenizer:
    """A byte-level ``tokenizers`` Unigram tokenizer over ``vocab`` (no specials; ids are positions in ``vocab``)."""
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=None, byte_fallback=False))
    tokenizer.pre_tokenizer = PRETOKENIZER
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def token_bytes(token: str) -> bytes:
    """The canonical bytes of a byte-level token string (``"Ġdie"`` -> ``b" die"``)."""
    table = unicode_to_byte()
    return bytes(table[c] for c in token)


__all__ = ["ALPHABET", "pretokens", "sample_vocab", "substring_counts", "token_bytes", "unigram_tokenizer"]
