"""The items of retok's lm-eval tasks, built from held-out text only: pure functions over paragraphs and word pairs.

Every item comes from the held-out side of the project's md5 split (:func:`retok.data.is_held_out`): a held-out
paragraph, a pair whose two paragraphs are both held out, a dictionary entry whose English headword is held out.
Word *statistics* (how often a word occurs, which translation the parallel help uses) are counted over the whole
corpus: they pick candidates and answers, they are not the text a model is asked about.

Items are plain dicts, the rows lm-eval reads:

* rolling log-likelihood: ``{"text": str}``;
* multiple choice: ``{"query": str, "choices": [str, str, str, str], "gold": int}``, scored by lm-eval as
  ``query + " " + choice`` (its default target delimiter).

Which of the candidates is the answer is decided by the item's md5, so the answer is not always first.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence

from retok.data import is_held_out

#: a word: letters, optionally joined by hyphens ("Tabellen-Dokument"); no digits or underscores
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
CHOICES = 4
#: fixed examples in front of every translation query (never items themselves)
TRANSLATION_SHOTS: tuple[tuple[str, str], ...] = (("house", "Haus"), ("water", "Wasser"))
_LAST_WORD = re.compile(r"^(?P<context>.*\S)\s+(?P<word>[^\W\d_]{4,})(?P<end>[.!?]?)$")


def digest(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def word_counts(paragraphs: Iterable[str]) -> Counter[str]:
    """How often each :data:`WORD` occurs in ``paragraphs`` (case kept)."""
    counts: Counter[str] = Counter()
    for p in paragraphs:
        counts.update(WORD.findall(p))
    return counts


def _stem(word: str) -> str:
    return word.casefold()[:4]


def shape(word: str) -> str:
    """``lower``, ``Title``, ``UPPER`` or ``mIxed``: how a word is capitalised."""
    if word.islower():
        return "lower"
    if word.isupper():
        return "UPPER"
    return "Title" if word[0].isupper() and word[1:].islower() else "mIxed"


class Distractors:
    """Words like an answer in frequency, length and capitalisation, drawn from a vocabulary with counts.

    A candidate has the answer's capitalisation (:func:`shape`), a length within one character of
    it, is one of ``words`` (e.g. a dictionary's German side: no English code names from German text), shares no
    four-letter prefix with it (no inflections of the answer: "Tabelle" / "Tabellen") and is not in
    ``exclude``; of those, the ``pool`` nearest in log frequency are ordered by md5 of ``answer + candidate`` and the
    first ``k`` taken, so the same answer always gets the same candidates.
    """

    def __init__(self, counts: Mapping[str, int], *, words: Collection[str] | None = None, min_count: int = 3, min_length: int = 3,
                 pool: int = 12) -> None:
        self.counts = counts
        self.pool = pool
        self.buckets: dict[tuple[str, int], list[str]] = defaultdict(list)
        for word, n in counts.items():
            if n >= min_count and len(word) >= min_length and "-" not in word and (words is None or word in words):
                self.buckets[(shape(word), len(word))].append(word)

    def pick(self, answer: str, *, k: int = CHOICES - 1, exclude: Iterable[str] = ()) -> list[str] | None:
        """``k`` distractors for ``answer``, or None when the vocabulary has fewer that fit."""
        banned = {w.casefold() for w in exclude} | {answer.casefold()}
        stem = _stem(answer)
        target = math.log(self.counts.get(answer, 1))
        kind = shape(answer)
        found = [w for n in (len(answer) - 1, len(answer), len(answer) + 1) for w in self.buckets.get((kind, n), ())
                 if w.casefold() not in banned and _stem(w) != stem]
        # one spelling per word: "Datei" and "DATEI" are not two candidates
        unique = {w.casefold(): w for w in sorted(found, key=lambda w: -self.counts[w])}
        if len(unique) < k:
            return None
        nearest = sorted(unique.values(), key=lambda w: (abs(math.log(self.counts[w]) - target), w))[: self.pool]
        chosen: list[str] = []
        for w in sorted(nearest, key=lambda w: digest(answer + "\t" + w)):
            if all(_stem(w) != _stem(c) for c in chosen):
                chosen.append(w)
            if len(chosen) == k:
                return chosen
        return None


def choice_item(query: str, answer: str, distractors: Sequence[str], key: str) -> dict:
    """A multiple-choice row: the answer placed among the distractors at a position fixed by md5 of ``key``."""
    gold = int(digest(key), 16) % (len(distractors) + 1)
    choices = list(distractors)
    choices.insert(gold, answer)
    return {"query": query, "choices": choices, "gold": gold}


# ----------------------------------------------------------------------------- rolling log-likelihood


def rolling_docs(text: str) -> list[dict]:
    """The canonical rolling task: the held-out text (:func:`retok.data.held_out_text`) as one document."""
    return [{"text": text}]


# ----------------------------------------------------------------------------- translation


def parallel_translations(
    pairs: Iterable[tuple[str, str]], dictionary: Mapping[str, set[str]], *, min_together: int = 2, min_dice: float = 0.1,
) -> dict[str, str]:
    """English word -> the dictionary translation the parallel text uses for it most (by Dice coefficient).

    For each English word of ``dictionary`` and each of its translations, counts the aligned paragraph pairs where
    both occur; keeps the translation with the highest ``2 * together / (english pairs + german pairs)`` when they
    occur together at least ``min_together`` times and that coefficient is at least ``min_dice``.
    """
    together: Counter[tuple[str, str]] = Counter()
    english: Counter[str] = Counter()
    german: Counter[str] = Counter()
    for en, de in pairs:
        en_words, de_words = set(WORD.findall(en)), set(WORD.findall(de))
        german.update(de_words)
        for e in en_words:
            if e in dictionary:
                english[e] += 1
                for d in dictionary[e] & de_words:
                    together[(e, d)] += 1
    best: dict[str, tuple[float, str]] = {}
    for (e, d), n in together.items():
        dice = 2 * n / (english[e] + german[d])
        if n >= min_together and dice >= min_dice and (e not in best or (dice, d) > best[e]):
            best[e] = (dice, d)
    return {e: d for e, (_, d) in best.items()}


def translation_query(english: str, shots: Sequence[tuple[str, str]] = TRANSLATION_SHOTS) -> str:
    return "".join(f"English: {e}\nGerman: {d}\n" for e, d in shots) + f"English: {english}\nGerman:"


def translation_items(
    dictionary: Iterable[tuple[str, str]], pairs: Iterable[tuple[str, str]], german_counts: Mapping[str, int], *,
    max_items: int | None = None,
) -> list[dict]:
    """English word -> its German translation among 4 German words of similar frequency and length.

    Items: lowercase alphabetic English headwords of at least 3 letters whose md5 puts them in the held-out split,
    whose translation in the parallel help (:func:`parallel_translations`) is a different word. The distractors
    (:class:`Distractors` over ``german_counts``, German words of the dictionary) are none of the headword's
    dictionary translations. In md5 order,
    at most ``max_items``.
    """
    translations: dict[str, set[str]] = defaultdict(set)
    for e, d in dictionary:
        translations[e].add(d)
    shots = {e for e, _ in TRANSLATION_SHOTS}
    heads = {e: ds for e, ds in translations.items()
             if len(e) >= 3 and e.isalpha() and e.islower() and e not in shots and is_held_out(e)}
    answers = parallel_translations(pairs, heads)
    pick = Distractors(german_counts, words={d for ds in translations.values() for d in ds})
    items = []
    for english in sorted(answers, key=digest):
        answer = answers[english]
        if answer.casefold() == english.casefold():
            continue  # "Internet" -> "Internet" is copying, not translating
        distractors = pick.pick(answer, exclude=translations[english])
        if distractors is not None:
            items.append({**choice_item(translation_query(english), answer, distractors, english), "english": english})
        if max_items is not None and len(items) == max_items:
            break
    return items


# ----------------------------------------------------------------------------- parallel paragraphs


def parallel_items(pairs: Sequence[tuple[str, str]], pages: Sequence[str], *, max_chars: int = 320,
                   max_items: int | None = None) -> list[dict]:
    """An English help paragraph -> its German translation among 4 German paragraphs of the same help page.

    Items: aligned pairs (``pairs[i]`` on page ``pages[i]``) whose English and German paragraphs are both held
    out, whose English side has at least 4 words and no paragraph more than ``max_chars`` characters (long ones
    cost the most and decide little); the 3 distractors are other held-out German paragraphs of the same page (first
    by md5), none equal to the answer. Pages with fewer give no item. In md5 order.
    """
    if len(pairs) != len(pages):
        raise ValueError(f"{len(pairs)} pairs but {len(pages)} pages; they go line for line")
    german_by_page: dict[str, list[str]] = defaultdict(list)
    for (_, de), page in zip(pairs, pages):
        if is_held_out(de) and len(de) <= max_chars and de not in german_by_page[page]:
            german_by_page[page].append(de)
    items = []
    seen: set[str] = set()
    for (en, de), page in sorted(zip(pairs, pages), key=lambda x: digest(x[0][0])):
        if en in seen or not (is_held_out(en) and is_held_out(de)) or len(en.split()) < 4 or max(len(en), len(de)) > max_chars:
            continue
        others = sorted((d for d in german_by_page[page] if d != de and d != en), key=lambda d: digest(en + "\t" + d))
        if len(others) < CHOICES - 1:
            continue
        seen.add(en)
        items.append({**choice_item(f"English: {en}\nGerman:", de, others[: CHOICES - 1], en), "page": page})
        if max_items is not None and len(items) == max_items:
            break
    return items


# ----------------------------------------------------------------------------- cloze


def cloze_items(paragraphs: Iterable[str], counts: Mapping[str, int], *, words: Collection[str] | None = None, min_words: int = 8,
                max_items: int | None = None) -> list[dict]:
    """A held-out German paragraph without its last word -> that word among 4 words of similar frequency and length.

    Items: held-out paragraphs of at least ``min_words`` words that end in a word of 4+ letters (and optionally
    ``.``, ``!`` or ``?``, which every candidate then carries); the distractors come from :class:`Distractors`
    over ``counts`` (limited to ``words``, e.g. the German side of a dictionary). In md5 order.
    """
    pick = Distractors(counts, words=words, min_length=4)
    items = []
    for p in sorted({p for p in paragraphs if is_held_out(p)}, key=digest):
        match = _LAST_WORD.match(p)
        if match is None or len(p.split()) < min_words:
            continue
        word, end = match["word"], match["end"]
        distractors = pick.pick(word)
        if distractors is None:
            continue
        items.append(choice_item(match["context"], word + end, [d + end for d in distractors], p))
        if max_items is not None and len(items) == max_items:
            break
    return items
