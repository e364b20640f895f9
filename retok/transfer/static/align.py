"""Orthogonal alignment of two static vector spaces through a bilingual dictionary (WECHSEL style).

:func:`align` finds the dictionary pairs whose words are in both vocabularies (trying case
variants), holds out some source words for testing, adds identical strings as extra seed pairs,
and fits the orthogonal map (:func:`procrustes`) that takes source vectors to their translations.
Conventions: row vectors, so a source vector ``x`` (d,) maps to ``x @ rotation``; every matrix is
(n, d); everything is deterministic given ``seed``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from retok.errors import RetokError
from retok.index import NeighbourIndex
from .vectors import StaticVectors


@dataclass(frozen=True)
class Alignment:
    """The fitted map and how it was fitted.

    rotation: (d, d) orthogonal, maps the source space to the target space (``x @ rotation``).
    train_pairs: dictionary pairs it was fitted on; identical_pairs: identical-string pairs added
    to those; test_pairs: held-out dictionary pairs; precision_at_1: over the held-out source
    words, the fraction whose nearest target word is one of their translations (None without
    held-out pairs).
    """

    rotation: np.ndarray
    train_pairs: int
    test_pairs: int
    identical_pairs: int
    precision_at_1: float | None

    def to_dict(self) -> dict[str, Any]:
        """The counts and the precision, JSON-ready; the rotation itself is left out (``np.save`` it)."""
        return {
            "dim": int(self.rotation.shape[0]),
            "train_pairs": self.train_pairs,
            "test_pairs": self.test_pairs,
            "identical_pairs": self.identical_pairs,
            "precision_at_1": self.precision_at_1,
        }


def procrustes(a: Any, b: Any) -> np.ndarray:
    """The orthogonal R (d, d) minimizing ``||a R - b||_F`` for a, b (n, d): ``U V^T`` from the SVD of ``a^T b``.

    Computed in float64, returned as float32.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] == 0:
        raise RetokError(f"procrustes needs two (n, d) matrices of the same shape with n >= 1; got {a.shape} and {b.shape}")
    u, _, vt = np.linalg.svd(a.T @ b)
    return (u @ vt).astype(np.float32)


def pairs_in_vocab(
    pairs: Iterable[tuple[str, str]], source: StaticVectors, target: StaticVectors, *, case_variants: bool = True
) -> list[tuple[str, str]]:
    """The dictionary pairs with both words in the vocabularies, in dictionary order, without duplicates.

    With ``case_variants`` each side is tried as is, lower-cased and title-cased
    (``str.title``), and every combination found in both vocabularies is kept.
    """
    found: dict[tuple[str, str], None] = {}
    in_source: dict[str, list[str]] = {}  # word -> its variants in the vocabulary, once per distinct word
    in_target: dict[str, list[str]] = {}
    for s, t in pairs:
        svs = in_source.get(s)
        if svs is None:
            svs = in_source[s] = _variants_in(s, source, case_variants)
        if not svs:
            continue
        tvs = in_target.get(t)
        if tvs is None:
            tvs = in_target[t] = _variants_in(t, target, case_variants)
        for sv in svs:
            for tv in tvs:
                found.setdefault((sv, tv), None)
    return list(found)


def _variants_in(word: str, vectors: StaticVectors, case_variants: bool) -> list[str]:
    """``word``, its lower-cased and its title-cased form (each once), those that ``vectors`` has."""
    out = [word] if word in vectors else []
    if case_variants:
        lower, title = word.lower(), word.title()
        if lower != word and lower in vectors:
            out.append(lower)
        if title != word and title != lower and title in vectors:
            out.append(title)
    return out


def align(
    source: StaticVectors,
    target: StaticVectors,
    pairs: Iterable[tuple[str, str]],
    *,
    held_out: int = 300,
    identical: bool = True,
    seed: int = 0,
) -> Alignment:
    """Fit the orthogonal map from ``source`` to ``target`` vectors on dictionary ``pairs`` (source word, target word).

    Steps:

    1. :func:`pairs_in_vocab` (with case variants) keeps the pairs present in both vocabularies.
    2. Their source words are grouped case-insensitively and ``held_out`` groups (at most half
       of them), drawn with ``seed``, become the test set; the rest is the training set.
    3. With ``identical``, every string in both vocabularies whose group is not held out is an
       extra training pair with itself.
    4. Both vocabularies are preprocessed: L2-normalized, mean-centred (over the whole
       vocabulary), L2-normalized again. :func:`procrustes` fits the rotation on the training
       rows.
    5. Precision@1: each held-out source word, rotated, is searched (cosine, through
       :class:`retok.index.NeighbourIndex`) among all target words; it counts as correct when
       the nearest one is among its dictionary translations.
    """
    if source.dim != target.dim:
        raise RetokError(
            f"the source vectors have dimension {source.dim} but the target vectors {target.dim}; an orthogonal map "
            "needs equal dimensions: train both with the same dim (train_fasttext(dim=...))"
        )
    if isinstance(held_out, bool) or not isinstance(held_out, numbers.Integral) or held_out < 0:
        raise RetokError(f"held_out must be an integer >= 0 (held-out source words); got {held_out!r}")
    pairs = list(pairs)
    found = pairs_in_vocab(pairs, source, target)
    if not found:
        raise RetokError(
            f"none of the {len(pairs):,} dictionary pairs has both words in the vocabularies ({len(source):,} source "
            f"words, {len(target):,} target words), even with lower- and title-case variants; check the dictionary's direction "
            "(source-language word first, then its target-language translation) and that each set of vectors was "
            "trained on text in its language"
        )
    groups: dict[str, list[tuple[str, str]]] = {}
    for s, t in found:
        groups.setdefault(s.lower(), []).append((s, t))
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    test_keys = {keys[i] for i in order[: min(held_out, len(keys) // 2)]}
    train = [p for k in keys if k not in test_keys for p in groups[k]]
    test = [p for k in keys if k in test_keys for p in groups[k]]
    extra = _identical_pairs(source, target, exclude=test_keys, known=set(train)) if identical else []

    xs, xt = _preprocess(source.word_matrix()), _preprocess(target.word_matrix())
    fit = train + extra
    rotation = procrustes(xs[_rows(source, [s for s, _ in fit])], xt[_rows(target, [t for _, t in fit])])
    return Alignment(
        rotation=rotation,
        train_pairs=len(train),
        test_pairs=len(test),
        identical_pairs=len(extra),
        precision_at_1=_precision_at_1(xs, xt, rotation, source, target, test) if test else None,
    )


def _identical_pairs(source: StaticVectors, target: StaticVectors, *, exclude: set[str], known: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(w, w)`` for every word in both vocabularies (source order), except held-out groups and known pairs."""
    return [(w, w) for w in source.words if w in target and w.lower() not in exclude and (w, w) not in known]


def _rows(vectors: StaticVectors, words: list[str]) -> np.ndarray:
    """(n,) int64 rows of ``words`` (all in the vocabulary) in ``vectors.word_matrix()``."""
    row = {w: i for i, w in enumerate(vectors.words)}
    return np.array([row[w] for w in words], dtype=np.int64)


def _preprocess(matrix: np.ndarray) -> np.ndarray:
    """(V, d) -> (V, d) float32: unit length, minus the mean row, unit length again (zero rows stay zero)."""
    m = _unit(matrix.astype(np.float64))
    return _unit(m - m.mean(axis=0)).astype(np.float32)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def _precision_at_1(
    xs: np.ndarray, xt: np.ndarray, rotation: np.ndarray, source: StaticVectors, target: StaticVectors, test: list[tuple[str, str]]
) -> float:
    """Fraction of the held-out source words whose nearest target word is one of their translations."""
    translations: dict[str, set[str]] = {}
    for s, t in test:
        translations.setdefault(s, set()).add(t)
    queries = list(translations)
    _, ids = NeighbourIndex(xt, metric="cosine", kind="exact").search(xs[_rows(source, queries)] @ rotation, k=1)
    hits = sum(target.words[int(i)] in translations[q] for q, i in zip(queries, ids[:, 0]))
    return hits / len(queries)


__all__ = ["Alignment", "align", "pairs_in_vocab", "procrustes"]
