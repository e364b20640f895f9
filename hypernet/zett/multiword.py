"""Stage-2 batches for a very large vocabulary: training text cut into multi-word entries, scored against the base vocabulary.

A ZeTT batch (:class:`hypernet.zett.data.SampledBatches`) samples tokens *inside* words, so a
hypernetwork trained on it never sees an entry that spans words, and its rows for ``" die Datei"``
are what FVT makes of them: in a softmax beside the base vocabulary they win for the wrong reasons
or never. :class:`GrownBatches` trains for the use that ``retok large-vocab`` makes of the rows:

1. the training text's paragraphs, in base tokens, are grown into a vocabulary of entries across
   words (:func:`retok.vocab.growth.grow_vocabulary`, as ``retok large-vocab build`` grows its own);
2. each step's windows (the same windows a ZeTT step would read) are cut by the growth's rounds
   (:meth:`~retok.vocab.growth.GrownVocab.segment`), so a target is ``" die Datei"`` where the text
   says so and ``" die"`` only where no entry covers more;
3. the softmax of every position holds the *whole* base vocabulary (copied rows, as at decoding
   time), every new entry of the batch, and hard negatives: the new entries that extend a target
   (``" die"`` -> ``" die Datei"``, the competitor when the text did not merge) or share its first
   unit, then uniformly sampled new entries, ``negatives`` new entries in all.

Next-token cross-entropy over that set trains an entry's output row to take the probability mass
of its whole string where the text continues that way, and its input row to stand for the string
as context (``feed="rows"``: the model reads the entries). With ``feed="pieces"`` the model reads the
base tokens themselves, and each entry is the target at the position before its first piece: only
the output side is learned, and decoding reads a chosen entry back as its pieces
(:meth:`retok.adaptive.large_vocab.decode.LargeVocab.generate`, ``feed="pieces"``). Base rows are copied, so the base vocabulary keeps its identity. Each step is a pure
function of (seed, step), like every batch the trainer resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from retok.errors import RetokError
from retok.training.trainer import Replicated
from retok.vocab.growth import GrownVocab, corpus_array, grow_vocabulary

from .data import IGNORE, MergeExamples, SampledBatches, step_rng

STREAM_MULTIWORD_NEGATIVES, STREAM_KIND = 5, 6
HARD_PER_UNIT = 4  # extensions and siblings kept per distinct target unit (the most frequent first)


def grow_from_text(tokenizer: Any, texts: Sequence[str], base_keys: Sequence[bytes | None], *, size: int, min_count: int = 2,
                   max_pieces: int = 16, progress: bool = True) -> GrownVocab:
    """A grown vocabulary (at most ``size`` entries) over the paragraphs (lines) of ``texts`` in base tokens."""
    lines = [line for text in texts for line in text.split("\n") if line.strip()]
    from retok.adaptive.large_vocab.build import tokenize_lines

    ids = tokenize_lines(tokenizer, lines, progress=progress)
    grown = grow_vocabulary(corpus_array(ids), base_keys, max(size, len(base_keys)), min_count=min_count, max_pieces=max_pieces,
                            progress=progress)
    if len(grown) == grown.base_size:
        raise RetokError("the training text grew no multi-word entries (no pair of tokens occurs twice); pass more text (--train)")
    return grown


class GrownBatches:
    """``at(step)`` -> the batch dict :meth:`hypernet.zett.training.Objective.stage2` takes (see the module docstring)."""

    def __init__(self, windows: SampledBatches, tokenizer: Any, grown: GrownVocab, *, negatives: int, seed: int,
                 merges: MergeExamples | None = None, aux_batch: int = 0, feed: str = "rows") -> None:
        if feed not in ("rows", "pieces"):
            raise RetokError(f"multiword feed must be rows or pieces; got {feed!r}")
        self.windows, self.tokenizer, self.grown, self.feed = windows, tokenizer, grown, feed
        self.negatives, self.seed, self.merges, self.aux_batch = negatives, seed, merges, aux_batch
        self.base, self.seq_len, self.batch_size = grown.base_size, windows.seq_len, windows.batch_size
        self.pieces = grown.pieces()
        new = np.arange(self.base, len(grown))
        # new entries grouped by their left unit, the most frequent first: extensions of a unit are by_left[unit]
        order = np.lexsort((-grown.counts, grown.left))
        self.left_sorted, self.entries_by_left = grown.left[order], new[order]

    def extensions(self, unit: int) -> np.ndarray:
        """The (at most :data:`HARD_PER_UNIT`) most frequent new entries whose left unit is ``unit``."""
        lo, hi = np.searchsorted(self.left_sorted, [unit, unit + 1])
        return self.entries_by_left[lo : min(hi, lo + HARD_PER_UNIT)]

    def rows(self, step: int) -> list[list[int]]:
        """The step's windows in entries, at most ``seq_len`` each (``feed="pieces"``: at most ``seq_len`` base tokens in all)."""
        ids = self.tokenizer(self.windows.windows(step), add_special_tokens=False, verbose=False)["input_ids"]
        return [self.grown.segment(np.asarray(row, dtype=np.int64))[: self.seq_len].tolist() for row in ids]

    def candidates(self, rows: list[list[int]], step: int) -> list[int]:
        """New entries of the step's softmax: the batch's own, then hard negatives, then random ones (``negatives`` in all)."""
        chosen = dict.fromkeys(e for row in rows for e in row if e >= self.base)
        for unit in dict.fromkeys(e for row in rows for e in row):
            if len(chosen) >= self.negatives:
                break
            related = [self.extensions(unit)]
            if unit >= self.base:
                related.append(self.extensions(int(self.grown.left[unit - self.base])))
            chosen.update(dict.fromkeys(int(e) for block in related for e in block))
        want = self.negatives - len(chosen)
        if want > 0 and len(self.grown) > self.base:
            rng = step_rng(self.seed, STREAM_MULTIWORD_NEGATIVES, step)
            picks = rng.integers(self.base, len(self.grown), size=2 * want)
            chosen.update(dict.fromkeys(int(e) for e in picks if e not in chosen))
        batch_new = sum(1 for _ in dict.fromkeys(e for row in rows for e in row if e >= self.base))
        return list(chosen)[: max(self.negatives, batch_new)]  # never drop one of the batch's own entries

    def at(self, step: int) -> dict[str, Any]:
        rows = self.rows(step)
        new = self.candidates(rows, step)
        index = {e: self.base + i for i, e in enumerate(new)}
        bos = self.base + len(new)
        ids = torch.full((self.batch_size, self.seq_len + 1), IGNORE, dtype=torch.long)
        ids[:, 0] = bos
        targets = None
        if self.feed == "pieces":  # the model reads base tokens; each entry is a target where its first piece begins
            targets = torch.full((self.batch_size, self.seq_len), IGNORE, dtype=torch.long)
            for r, row in enumerate(rows):
                at = 0
                for e in row:
                    piece_ids = [int(i) for i in self.pieces[e] if i >= 0]
                    if at + len(piece_ids) > self.seq_len:
                        break
                    targets[r, at] = e if e < self.base else index[e]
                    ids[r, 1 + at : 1 + at + len(piece_ids)] = torch.tensor(piece_ids, dtype=torch.long)
                    at += len(piece_ids)
        else:
            for r, row in enumerate(rows):
                ids[r, 1 : 1 + len(row)] = torch.tensor([e if e < self.base else index[e] for e in row], dtype=torch.long)
        pieces = torch.from_numpy(self.pieces[new]) if new else torch.full((0, 1), -1, dtype=torch.long)
        if len(pieces):
            pieces = pieces[:, : max(1, int((pieces >= 0).sum(1).max()))]
        batch: dict[str, Any] = {"ids": ids, "copy": Replicated(torch.arange(self.base)), "pieces": Replicated(pieces)}
        if targets is not None:
            batch["targets"] = targets
        # every process normalises by the whole batch's count (rows are cut unevenly: entries leave padding)
        batch["count"] = Replicated(((targets if targets is not None else ids[:, 1:]) != IGNORE).sum())
        if self.merges is not None and self.aux_batch:
            aux_pieces, aux_targets = self.merges.at((1 << 29) + step, size=self.aux_batch)  # neither stage 1's nor ZeTT steps' examples
            batch["aux_pieces"], batch["aux_targets"] = Replicated(aux_pieces), Replicated(aux_targets)
        return batch


class MixedBatches:
    """Stage 2 as a mix: each step is a multi-word step with probability ``share`` (seeded per step), else a ZeTT step."""

    def __init__(self, zett: SampledBatches, multiword: GrownBatches | None, *, share: float, seed: int) -> None:
        self.zett, self.multiword, self.share, self.seed = zett, multiword, share, seed

    def is_multiword(self, step: int) -> bool:
        return self.multiword is not None and (self.share >= 1 or step_rng(self.seed, STREAM_KIND, step).random() < self.share)

    def at(self, step: int) -> dict[str, Any]:
        return self.multiword.at(step) if self.is_multiword(step) else self.zett.at(step)


__all__ = ["GrownBatches", "MixedBatches", "grow_from_text"]
