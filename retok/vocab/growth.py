"""Grow a base vocabulary to a very large one: BPE continued on the base tokens, across words, many merges per round.

The base tokenizer's ids of a corpus (one array per paragraph) are the starting units. Each
round counts every adjacent pair of units in the corpus (words do not stop a pair: the entries
may span several words, as SuperBPE's second stage does), takes the ``round_share`` most
frequent pairs seen at least ``min_count`` times, and replaces their occurrences left to right
(a pair overlapping one already merged in this round waits for the next round). A new entry is
the concatenation of its two units; when its bytes equal an entry that exists already (another
split of the same string), the pair is rewritten to that entry instead of adding a duplicate.
Rounds repeat until the vocabulary has ``size`` entries or no pair is frequent enough.

Why batched: classic BPE adds one merge per corpus pass, a million passes here. Merging the
top few percent of pairs per pass gives the same kind of vocabulary (frequent strings, each
the concatenation of two smaller entries) in tens of passes, each a sort of the pair keys
(numpy), so a million entries take about a minute on two cores.

Pure numpy over integer arrays; nothing here knows about models or tokenizers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from retok.errors import RetokError
from retok.progress import bars_on

SEP = -1  # between paragraphs: no pair crosses it


@dataclass(frozen=True)
class GrownVocab:
    """Entries ``0 .. base_size - 1`` are the base ids; each later entry is ``left + right`` of two earlier ones.

    left, right: (N - base_size,) int64 the two units of each new entry
    lengths: (N,) int64 base pieces per entry
    counts: (N - base_size,) int64 occurrences of the pair when it was merged
    rounds: merge rounds run; exhausted: True when no pair was frequent enough before ``size``
    merges: (M, 3) int64 every pair a round merged, as ``left, right, entry`` (a pair whose bytes
        equal an older entry is merged into that one, so M >= N - base_size), round by round
    round_ends: (rounds,) int64 where each round's rows of ``merges`` end
    """

    base_size: int
    left: np.ndarray
    right: np.ndarray
    lengths: np.ndarray
    counts: np.ndarray
    rounds: int
    exhausted: bool
    merges: np.ndarray
    round_ends: np.ndarray

    def __len__(self) -> int:
        return self.base_size + len(self.left)

    def pieces(self) -> np.ndarray:
        """Base ids of every entry: (N, L) int64, -1 padded, L the longest entry; each new row is its two units side by side."""
        out = np.full((len(self), int(self.lengths.max())), SEP, dtype=np.int64)
        out[: self.base_size, 0] = np.arange(self.base_size)
        for e in range(self.base_size, len(self)):  # left and right are earlier entries, so their rows are filled already
            u, v = int(self.left[e - self.base_size]), int(self.right[e - self.base_size])
            nu, nv = int(self.lengths[u]), int(self.lengths[v])
            out[e, :nu] = out[u, :nu]
            out[e, nu : nu + nv] = out[v, :nv]
        return out


    def segment(self, corpus: np.ndarray) -> np.ndarray:
        """Base ids (:func:`corpus_array`) -> entry ids: the growth's rounds replayed, so training text is cut as it was grown."""
        return replay_merges(corpus, self.merges, self.round_ends, len(self))


def pair_shift(size: int) -> np.int64:
    """The multiplier that packs a pair of unit ids below ``size`` into one int64 key ``a * shift + b``."""
    return np.int64(1) << np.int64(max(21, math.ceil(math.log2(size + 1))))


def merge_round(seq: np.ndarray, keys: np.ndarray, entries: np.ndarray, shift: np.int64) -> np.ndarray:
    """One round: every adjacent pair of ``seq`` whose key is in ``keys`` (sorted) becomes its entry, left to right, never overlapping.

    seq (P,) int64 units, :data:`SEP` between paragraphs; keys (K,) sorted pair keys; entries (K,) their entry ids -> (P',) int64.
    """
    if len(keys) == 0 or len(seq) < 2:
        return seq
    a, b = seq[:-1], seq[1:]
    ok = (a >= 0) & (b >= 0)
    all_keys = np.where(ok, a * shift + b, -1)
    where = np.searchsorted(keys, all_keys).clip(max=len(keys) - 1)
    hit = ok & (keys[where] == all_keys)
    positions = np.flatnonzero(take_non_overlapping(hit))
    seq = seq.copy()
    seq[positions] = entries[where[positions]]
    drop = np.zeros(len(seq), dtype=bool)
    drop[positions + 1] = True
    return seq[~drop]


def replay_merges(corpus: np.ndarray, merges: np.ndarray, round_ends: np.ndarray, size: int) -> np.ndarray:
    """Apply recorded rounds (:attr:`GrownVocab.merges`) to base ids (P,) int64 -> entry ids (P',) int64; pure numpy."""
    seq = np.asarray(corpus, dtype=np.int64)
    shift = pair_shift(size)
    start = 0
    for end in np.asarray(round_ends).tolist():
        block = merges[start:end]
        start = end
        keys = block[:, 0] * shift + block[:, 1]
        order = np.argsort(keys)
        seq = merge_round(seq, keys[order], block[order, 2], shift)
    return seq


def corpus_array(sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Paragraphs of base ids -> one int64 array with :data:`SEP` after each paragraph."""
    parts = []
    for seq in sequences:
        parts.append(np.asarray(seq, dtype=np.int64))
        parts.append(np.array([SEP], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def take_non_overlapping(hit: np.ndarray) -> np.ndarray:
    """Positions to merge among ``hit`` (bool (P,), pair i = units i, i+1): left to right, never two touching pairs.

    In a run of consecutive hits, the 1st, 3rd, ... are taken (pair i uses unit i + 1, so pair
    i + 1 cannot also merge). -> (P,) bool.
    """
    if not hit.any():
        return hit
    idx = np.flatnonzero(hit)
    run_start = np.ones(len(idx), dtype=bool)
    run_start[1:] = idx[1:] != idx[:-1] + 1
    starts = np.maximum.accumulate(np.where(run_start, np.arange(len(idx)), 0))
    keep = np.zeros_like(hit)
    keep[idx[(np.arange(len(idx)) - starts) % 2 == 0]] = True
    return keep


def grow_vocabulary(
    corpus: np.ndarray,
    base_keys: Sequence[bytes | None],
    size: int,
    *,
    min_count: int = 2,
    max_pieces: int = 16,
    round_share: float = 0.2,
    min_round: int = 2000,
    progress: bool = True,
) -> GrownVocab:
    """Merge pairs of units in ``corpus`` (:func:`corpus_array`) until there are ``size`` entries; see the module docstring.

    base_keys: canonical bytes of each base id (None for specials: they never merge).
    round_share: new entries per round as a share of the entries added so far (at least ``min_round``).
    """
    base = len(base_keys)
    if size < base:
        raise RetokError(f"size {size} is below the base vocabulary's {base} entries; pass a size >= {base}")
    if min_count < 1 or max_pieces < 2:
        raise RetokError(f"min_count must be >= 1 and max_pieces >= 2; got {min_count} and {max_pieces}")
    shift = pair_shift(size)
    lengths = [1] * base
    keys_of: list[bytes | None] = list(base_keys)
    entry_of: dict[bytes, int] = {k: i for i, k in enumerate(base_keys) if k is not None}
    left: list[int] = []
    right: list[int] = []
    counts: list[int] = []
    merged: list[tuple[int, int, int]] = []
    round_ends: list[int] = []
    seq = np.asarray(corpus, dtype=np.int64).copy()
    mergeable = np.array([k is not None for k in base_keys], dtype=bool)  # specials never merge
    exhausted = False
    bar = tqdm(total=size - base, desc="growing the vocabulary", unit="entry", disable=not bars_on(progress))
    while base + len(left) < size:
        a, b = seq[:-1], seq[1:]
        length = np.asarray(lengths, dtype=np.int64)
        ok = (a >= 0) & (b >= 0)
        ok[ok] = mergeable[np.minimum(a[ok], base - 1)] | (a[ok] >= base)
        ok[ok] &= mergeable[np.minimum(b[ok], base - 1)] | (b[ok] >= base)
        ok[ok] &= length[a[ok]] + length[b[ok]] <= max_pieces
        pair_keys = a[ok] * shift + b[ok]
        uniq, freq = np.unique(pair_keys, return_counts=True)
        frequent = freq >= min_count
        uniq, freq = uniq[frequent], freq[frequent]
        if len(uniq) == 0:
            exhausted = True
            break
        order = np.lexsort((uniq, -freq))  # most frequent first, ties by key: deterministic
        want = min(size - base - len(left), max(min_round, int(round_share * len(left))))
        chosen, chosen_entry = [], []
        for key, count in zip(uniq[order].tolist(), freq[order].tolist()):
            if want <= 0:
                break
            u, v = divmod(key, int(shift))
            joined = keys_of[u] + keys_of[v]
            entry = entry_of.get(joined)
            if entry is None:
                entry = base + len(left)
                entry_of[joined] = entry
                keys_of.append(joined)
                lengths.append(lengths[u] + lengths[v])
                left.append(u)
                right.append(v)
                counts.append(count)
                want -= 1
                bar.update(1)
            elif entry in (u, v):
                continue
            chosen.append(key)
            chosen_entry.append(entry)
            merged.append((u, v, entry))
        if not chosen:
            exhausted = True
            break
        round_ends.append(len(merged))
        chosen_keys = np.asarray(chosen, dtype=np.int64)
        sort = np.argsort(chosen_keys)
        seq = merge_round(seq, chosen_keys[sort], np.asarray(chosen_entry, dtype=np.int64)[sort], shift)
    bar.close()
    return GrownVocab(base, np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64),
                      np.asarray(lengths, dtype=np.int64), np.asarray(counts, dtype=np.int64), len(round_ends), exhausted,
                      np.asarray(merged, dtype=np.int64).reshape(-1, 3), np.asarray(round_ends, dtype=np.int64))


__all__ = ["SEP", "GrownVocab", "corpus_array", "grow_vocabulary", "merge_round", "pair_shift", "replay_merges", "take_non_overlapping"]
